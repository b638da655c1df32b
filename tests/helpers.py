"""Helpers for tests: a small DeepPCB-layout folder made of synthetic parts."""

from __future__ import annotations

from pathlib import Path

import cv2

from inspection.vision.synth import KINDS, make_part, make_reference


def make_deeppcb_folder(root: Path, n: int = 3, shape: tuple[int, int] = (256, 256)) -> Path:
    """``n`` golden/tested pairs laid out like DeepPCB (dark material on a bright board, JPEG),
    with ground truth boxes (10 px margin, as DeepPCB draws them) of type 1."""
    root.mkdir(parents=True, exist_ok=True)
    ids = []
    for k in range(n):
        pid = f"9900{k:04d}"
        ids.append(pid)
        golden = 255 - make_reference(shape, seed=20 + k)
        part = make_part(shape, seed=20 + k, part_seed=k, defects=KINDS, defect_size=10, noise=2.0)
        cv2.imwrite(str(root / f"{pid}_temp.jpg"), golden, [cv2.IMWRITE_JPEG_QUALITY, 95])
        cv2.imwrite(str(root / f"{pid}_test.jpg"), 255 - part.image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        lines = []
        for d in part.defects:
            x1, y1, x2, y2 = d.box
            lines.append(f"{round(x1) - 10} {round(y1) - 10} {round(x2) + 10} {round(y2) + 10} 1")
        (root / f"{pid}.txt").write_text("\n".join(lines) + "\n")
    (root / "index.txt").write_text("\n".join(ids) + "\n")
    return root
