"""Production-like good (and defective) parts for teaching tests and benchmarks.

:func:`inspection.vision.synth.make_part` gives a part with a known pose, global light and sensor noise.
Real good parts vary more; this adds, per part and seeded: a light gradient across the field (a lamp
a little off axis: a few percent), a small focus change (Gaussian blur), and stronger sensor noise.
What a station sees from one fixture, part after part.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inspection.findings import DefectClass
from inspection.vision.synth import SyntheticPart, make_part


@dataclass(frozen=True)
class Variation:
    max_shift_px: float = 8.0
    max_rotation_deg: float = 2.0
    gain: tuple[float, float] = (0.85, 1.15)
    max_offset: float = 15.0
    max_gradient: float = 0.05  # relative light change from the image centre to its edge
    max_blur: float = 0.6  # Gaussian sigma, px
    noise: float = 3.0


def production_part(
    shape: tuple[int, int],
    *,
    design: int,
    index: int,
    variation: Variation | None = None,
    defects: tuple[DefectClass, ...] = (),
    defect_size: float = 8.0,
) -> SyntheticPart:
    """Part number ``index`` of the design ``design`` (the ``seed`` of
    :func:`inspection.vision.synth.make_reference`)."""
    v = variation or Variation()
    rng = np.random.default_rng([design, index, 7])
    part = make_part(
        shape,
        seed=design,
        part_seed=index,
        defects=defects,
        defect_size=defect_size,
        dx=float(rng.uniform(-v.max_shift_px, v.max_shift_px)),
        dy=float(rng.uniform(-v.max_shift_px, v.max_shift_px)),
        angle_deg=float(rng.uniform(-v.max_rotation_deg, v.max_rotation_deg)),
        gain=float(rng.uniform(*v.gain)),
        offset=float(rng.uniform(-v.max_offset, v.max_offset)),
        noise=0.0,
    )
    img = part.image.astype(np.float32)
    h, w = shape
    blur = float(rng.uniform(0.0, v.max_blur))
    if blur > 0.05:
        img = np.asarray(cv2.GaussianBlur(img, (0, 0), blur), np.float32)
    theta = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = ((xs - w / 2) * np.cos(theta) + (ys - h / 2) * np.sin(theta)) / (max(h, w) / 2)
    img *= 1.0 + float(rng.uniform(-v.max_gradient, v.max_gradient)) * ramp
    img += rng.normal(0.0, v.noise, img.shape).astype(np.float32)
    out = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    return SyntheticPart(out, part.defects, part.matrix, part.gain, part.offset)
