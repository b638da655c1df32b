"""Box merging in change detection: the vectorised version groups exactly as the plain union-find."""

from __future__ import annotations

import numpy as np

from inspection.vision.change import _merge_boxes


def _reference(boxes: list[list[int]], gap: int) -> list[list[int]]:
    n = len(boxes)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            a, b = boxes[i], boxes[j]
            if a[0] - gap <= b[2] and b[0] - gap <= a[2] and a[1] - gap <= b[3] and b[1] - gap <= a[3]:
                parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


def test_merge_matches_the_reference_on_random_boxes():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(0, 150))
        xy = rng.integers(0, 120, (n, 2))
        wh = rng.integers(0, 10, (n, 2))
        boxes = [[int(x), int(y), int(x + w), int(y + h)] for (x, y), (w, h) in zip(xy, wh, strict=True)]
        gap = int(rng.integers(0, 6))
        assert _merge_boxes(boxes, gap) == _reference(boxes, gap)


def test_a_chain_of_boxes_is_one_group():
    boxes = [[i * 5, 0, i * 5 + 3, 3] for i in range(50)][::-1]
    assert _merge_boxes(boxes, 2) == [list(range(50))]
    assert _merge_boxes(boxes, 1) == [[i] for i in range(50)]
