"""Synthetic parts with known answers, for tests and the demo.

:func:`make_reference` draws a good part: bright material (pads, traces, a frame, holes) on a
textured dark background, anti-aliased so edges fall between pixels as in a real image.
:func:`make_part` makes an acquired image of one part: optional planted defects of known place and
size (thin cracks, missing material, extra material, bent edges), then a known shift, rotation,
gain, offset and sensor noise. Everything is seeded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from inspection.findings import DefectClass
from inspection.vision.geometry import rigid_matrix, transform_box

MATERIAL = 200.0
BACKGROUND = 55.0
_SS = 4  # supersampling factor for anti-aliased drawing

KINDS = (DefectClass.MISSING, DefectClass.EXTRA, DefectClass.CRACK, DefectClass.DEFORMATION)


@dataclass(frozen=True)
class PlantedDefect:
    kind: DefectClass
    box: tuple[float, float, float, float]  # reference coordinates, x2/y2 exclusive

    @property
    def center(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2


@dataclass(frozen=True)
class SyntheticPart:
    image: np.ndarray  # uint8 grey, as acquired
    defects: tuple[PlantedDefect, ...]
    matrix: np.ndarray  # reference -> image coordinates
    gain: float
    offset: float

    def defect_boxes_in_image(self) -> list[tuple[float, float, float, float]]:
        return [transform_box(self.matrix, d.box) for d in self.defects]


def _texture(shape: tuple[int, int], rng: np.random.Generator, amplitude: float) -> np.ndarray:
    h, w = shape
    small = rng.normal(0.0, 1.0, (max(2, h // 8), max(2, w // 8))).astype(np.float32)
    tex = np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), dtype=np.float32)
    tex = tex + 0.5 * cv2.GaussianBlur(rng.normal(0.0, 1.0, (h, w)).astype(np.float32), (0, 0), 1.0)
    return tex * (amplitude / max(1e-6, float(tex.std())))


def _layout(mask: np.ndarray, rng: np.random.Generator) -> None:
    """Draw the part's material (255) into a supersampled mask."""
    hs, ws = mask.shape
    s = _SS
    m = int(0.12 * min(hs, ws))
    cv2.rectangle(mask, (m, m), (ws - m, hs - m), 255, 6 * s)  # frame
    n_pads = int(rng.integers(4, 7))
    holes = []
    for _ in range(n_pads):
        cx, cy = int(rng.uniform(0.25, 0.75) * ws), int(rng.uniform(0.25, 0.75) * hs)
        r = int(rng.uniform(0.035, 0.06) * min(hs, ws))
        cv2.circle(mask, (cx, cy), r, 255, -1)
        holes.append((cx, cy, max(2 * s, r // 3)))
        # a trace from the pad to the frame
        side = int(rng.integers(0, 4))
        end = [(cx, m), (cx, hs - m), (m, cy), (ws - m, cy)][side]
        mid = (end[0], cy) if side < 2 else (cx, end[1])
        cv2.line(mask, (cx, cy), mid, 255, int(rng.uniform(3, 5) * s))
        cv2.line(mask, mid, end, 255, int(rng.uniform(3, 5) * s))
    for _ in range(int(rng.integers(2, 4))):  # rectangular pads
        x, y = int(rng.uniform(0.2, 0.7) * ws), int(rng.uniform(0.2, 0.7) * hs)
        cv2.rectangle(mask, (x, y), (x + int(0.08 * ws), y + int(0.05 * hs)), 255, -1)
    for cx, cy, r in holes:  # drilled last, through everything
        cv2.circle(mask, (cx, cy), r, 0, -1)


def _render(mask_ss: np.ndarray, texture: np.ndarray) -> np.ndarray:
    h, w = texture.shape
    cover = cv2.resize(mask_ss.astype(np.float32) / 255.0, (w, h), interpolation=cv2.INTER_AREA)
    img = BACKGROUND + cover * (MATERIAL - BACKGROUND) + texture
    return img.astype(np.float32)


def make_reference(shape: tuple[int, int] = (256, 256), *, seed: int = 0,
                   texture: float = 4.0) -> np.ndarray:
    """A good part, uint8 grey."""
    rng = np.random.default_rng(seed)
    h, w = shape
    mask = np.zeros((h * _SS, w * _SS), np.uint8)
    _layout(mask, rng)
    tex = _texture(shape, rng, texture)
    return np.clip(_render(mask, tex) + 0.5, 0, 255).astype(np.uint8)


def _edge_points(mask_ss: np.ndarray) -> np.ndarray:
    edges = cv2.morphologyEx(mask_ss, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    ys, xs = np.nonzero(edges[::_SS, ::_SS])
    return np.stack([xs, ys], 1)


def _far_from(points: np.ndarray, taken: list[tuple[float, float]], dist: float) -> np.ndarray:
    if not taken or len(points) == 0:
        return points
    keep = np.ones(len(points), bool)
    for tx, ty in taken:
        keep &= np.hypot(points[:, 0] - tx, points[:, 1] - ty) > dist
    return points[keep] if keep.any() else points


def _plant(mask: np.ndarray, kind: DefectClass, rng: np.random.Generator, size: float,
           shape: tuple[int, int], taken: list[tuple[float, float]]) -> tuple[float, float, float, float]:
    """Modify the supersampled material mask; returns the defect's box in image pixels."""
    h, w = shape
    s = _SS
    edges = _edge_points(mask)
    m = 0.2
    inner = edges[(edges[:, 0] > m * w) & (edges[:, 0] < (1 - m) * w) & (edges[:, 1] > m * h)
                  & (edges[:, 1] < (1 - m) * h)]
    inner = _far_from(inner, taken, 4 * size)
    px, py = inner[int(rng.integers(0, len(inner)))] if len(inner) else (w // 2, h // 2)
    px, py = float(px), float(py)
    r = size / 2.0
    # unit normal of the edge at the point, pointing from background into material
    blur = cv2.GaussianBlur(mask[:: s, :: s].astype(np.float32), (0, 0), 1.5)
    ix, iy = int(min(max(px, 1), w - 2)), int(min(max(py, 1), h - 2))
    gx = float(blur[iy, ix + 1] - blur[iy, ix - 1])
    gy = float(blur[iy + 1, ix] - blur[iy - 1, ix])
    norm = math.hypot(gx, gy) or 1.0
    nx, ny = gx / norm, gy / norm
    if kind is DefectClass.MISSING:  # a bite out of the edge
        cx, cy = px + 0.5 * r * nx, py + 0.5 * r * ny
        cv2.circle(mask, (int(cx * s), int(cy * s)), int(r * s), 0, -1)
        return (cx - r, cy - r, cx + r, cy + r)
    if kind is DefectClass.EXTRA:  # a blob of material sticking out of the edge
        cx, cy = px - 0.5 * r * nx, py - 0.5 * r * ny
        cv2.circle(mask, (int(cx * s), int(cy * s)), int(r * s), 255, -1)
        return (cx - r, cy - r, cx + r, cy + r)
    if kind is DefectClass.DEFORMATION:
        # a bent edge: a long, shallow bulge of material along the edge
        cx, cy = px - 0.4 * r * nx, py - 0.4 * r * ny
        ang = math.degrees(math.atan2(nx, -ny))  # along the tangent
        axes = (int(r * 1.6 * s), int(r * 0.75 * s))
        cv2.ellipse(mask, (int(cx * s), int(cy * s)), axes, ang, 0, 360, 255, -1)
        ext = max(axes) / s
        return (cx - ext, cy - ext, cx + ext, cy + ext)
    # crack: a thin dark polyline across material
    depth = cv2.distanceTransform((mask[::s, ::s] > 0).astype(np.uint8), cv2.DIST_L2, 3)
    ys, xs = np.nonzero(depth >= 3.0)
    sel = (xs > m * w) & (xs < (1 - m) * w) & (ys > m * h) & (ys < (1 - m) * h)
    pts = _far_from(np.stack([xs[sel], ys[sel]], 1), taken, 4 * size)
    cx, cy = pts[int(rng.integers(0, len(pts)))] if len(pts) else (w // 2, h // 2)
    ang = rng.uniform(0, math.pi)
    line: list[list[float]] = []
    for t in np.linspace(-r * 1.5, r * 1.5, 6):
        jitter = rng.normal(0, 0.6)
        line.append([(cx + t * math.cos(ang) - jitter * math.sin(ang)) * s,
                    (cy + t * math.sin(ang) + jitter * math.cos(ang)) * s])
    arr = np.array(line, dtype=np.int32)
    cv2.polylines(mask, [arr], False, 0, max(1, int(1.5 * s)))
    x1, y1 = arr.min(0) / s
    x2, y2 = arr.max(0) / s
    return (float(x1) - 1, float(y1) - 1, float(x2) + 1, float(y2) + 1)


def _visible(before: np.ndarray, after: np.ndarray, size: float, shape: tuple[int, int]) -> bool:
    """Does the change survive a one-pixel edge tolerance with a real area?"""
    h, w = shape
    b = cv2.resize(before.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) / 255.0
    a = cv2.resize(after.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) / 255.0
    changed = (np.abs(a - b) > 0.5).astype(np.uint8)
    core = cv2.erode(changed, np.ones((2, 2), np.uint8))
    return int(changed.sum()) >= 0.3 * size * size and int(core.sum()) >= 0.08 * size * size


def _plant_visible(
    mask: np.ndarray, kind: DefectClass, rng: np.random.Generator, size: float,
    shape: tuple[int, int], taken: list[tuple[float, float]],
) -> tuple[float, float, float, float]:
    """Plant a defect that really shows (retrying other places), so a test can count on it."""
    box = (0.0, 0.0, 0.0, 0.0)
    for _ in range(30):
        before = mask.copy()
        box = _plant(mask, kind, rng, size, shape, taken)
        if _visible(before, mask, size * (0.5 if kind is DefectClass.CRACK else 1.0), shape):
            return box
        mask[...] = before
    box = _plant(mask, kind, rng, size, shape, taken)
    return box


def make_part(shape: tuple[int, int] = (256, 256), *, seed: int = 0, part_seed: int = 1,
              defects: tuple[DefectClass, ...] = (), defect_size: float = 8.0,
              dx: float = 0.0, dy: float = 0.0, angle_deg: float = 0.0, gain: float = 1.0,
              offset: float = 0.0, noise: float = 2.0, texture: float = 4.0) -> SyntheticPart:
    """One acquired image of the part designed by ``seed`` (the same seed as
    :func:`make_reference`), with planted ``defects`` (seeded by ``part_seed``), moved by
    (dx, dy) px and ``angle_deg`` about the image centre, relit (``gain``, ``offset``), with
    Gaussian sensor ``noise``."""
    rng = np.random.default_rng(seed)
    h, w = shape
    mask = np.zeros((h * _SS, w * _SS), np.uint8)
    _layout(mask, rng)
    tex = _texture(shape, rng, texture)
    prng = np.random.default_rng(10_000 + part_seed)
    planted: list[PlantedDefect] = []
    for kind in defects:
        box = _plant_visible(mask, kind, prng, defect_size, shape, [d.center for d in planted])
        planted.append(PlantedDefect(kind, tuple(float(v) for v in box)))  # type: ignore[arg-type]
    img = _render(mask, tex)
    matrix = rigid_matrix(dx, dy, angle_deg, center=((w - 1) / 2.0, (h - 1) / 2.0))
    if dx or dy or angle_deg:
        img = cv2.warpAffine(img, matrix, (w, h), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT)
    img = img * gain + offset
    if noise > 0:
        img = img + prng.normal(0.0, noise, img.shape).astype(np.float32)
    out = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    return SyntheticPart(out, tuple(planted), matrix, gain, offset)
