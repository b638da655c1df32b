"""The synthetic part generator: seeded, known motion, planted defects change the image."""

from __future__ import annotations

import numpy as np

from inspection.vision.synth import KINDS, make_part, make_reference


def test_seeded_and_identical_without_changes() -> None:
    ref = make_reference((128, 128), seed=1)
    assert np.array_equal(ref, make_reference((128, 128), seed=1))
    assert not np.array_equal(ref, make_reference((128, 128), seed=2))
    assert np.array_equal(make_part((128, 128), seed=1, noise=0.0).image, ref)


def test_planted_defects_change_their_boxes_only() -> None:
    ref = make_reference((256, 256), seed=4).astype(int)
    part = make_part((256, 256), seed=4, part_seed=3, defects=KINDS, noise=0.0)
    assert [d.kind for d in part.defects] == list(KINDS)
    changed = np.abs(part.image.astype(int) - ref) > 40
    inside = np.zeros_like(changed)
    for d in part.defects:
        x1, y1, x2, y2 = (round(v) for v in d.box)
        assert changed[max(0, y1 - 2):y2 + 2, max(0, x1 - 2):x2 + 2].sum() >= 6
        inside[max(0, y1 - 3):y2 + 3, max(0, x1 - 3):x2 + 3] = True
    assert not (changed & ~inside).any()


def test_motion_and_light_are_known() -> None:
    part = make_part((128, 128), seed=1, dx=3.0, dy=-2.0, angle_deg=1.5, gain=1.2, offset=-10, noise=0.0)
    from inspection.vision.geometry import transform_points

    assert part.gain == 1.2 and part.offset == -10
    center = np.array([[63.5, 63.5]])
    assert np.allclose(transform_points(part.matrix, center), [[66.5, 61.5]])  # rotation about the centre
    ref = make_reference((128, 128), seed=1).astype(float)
    # relit: the mean follows gain and offset (motion keeps the background's share nearly the same)
    assert abs(part.image.mean() - (ref.mean() * 1.2 - 10)) < 3
