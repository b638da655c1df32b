"""Synthetic surface defects planted on good images, for teaching a good-set model what a defect
looks like when no defective part has been seen (DRAEM/CutPaste-like self-supervision).

:func:`plant` takes a grey good image and returns a copy with one planted defect and its mask. The
kinds follow what inspected surfaces show: small dark pores (``pore``), thin dark cracks
(``crack``), chipped edges or corners (``chip``), a patch of foreign texture with a soft irregular
outline (``patch``: another good image's texture, turned, relit), and a band along one side whose
texture or light differs (``band``). Sizes are shares of the image's shorter side, so the same
settings fit any image size. Everything is seeded by the caller's generator.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

KINDS = ("pore", "crack", "chip", "patch", "band")


def _blob(shape: tuple[int, int], rng: np.random.Generator, scale: float) -> np.ndarray:
    """A soft irregular blob mask (float 0..1): thresholded low-frequency noise around a seed point."""
    h, w = shape
    grid = rng.standard_normal((max(2, round(h / scale)) + 2, max(2, round(w / scale)) + 2))
    noise = cv2.resize(grid.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    cy, cx = rng.uniform(0.15, 0.85) * h, rng.uniform(0.15, 0.85) * w
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ry, rx = scale * rng.uniform(0.6, 1.4), scale * rng.uniform(0.6, 1.4)
    d = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
    field = 1.0 - d + 0.6 * noise
    return (field > 0).astype(np.float32)


def _soft(mask: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), max(0.5, sigma))


def _pore(img: np.ndarray, rng: np.random.Generator, short: int) -> tuple[np.ndarray, np.ndarray]:
    h, w = img.shape
    mask = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(1, 3))):
        r = max(1.5, short * rng.uniform(0.012, 0.045))
        c = (int(rng.uniform(r, w - r)), int(rng.uniform(r, h - r)))
        axes = (max(1, round(r * rng.uniform(0.6, 1.4))), max(1, round(r * rng.uniform(0.6, 1.4))))
        cv2.ellipse(mask, c, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    soft = _soft(mask, 0.25 * short * 0.02)
    dark = rng.uniform(0.25, 0.7)
    out = img.astype(np.float32) * (1 - soft * (1 - dark))
    return out, mask.astype(bool)


def _crack(img: np.ndarray, rng: np.random.Generator, short: int) -> tuple[np.ndarray, np.ndarray]:
    h, w = img.shape
    mask = np.zeros((h, w), np.uint8)
    length = short * rng.uniform(0.15, 0.7)
    n = int(rng.integers(3, 9))
    angle = rng.uniform(0, np.pi)
    p = np.array([rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h])
    pts = [p.copy()]
    for _ in range(n):
        angle += rng.normal(0, 0.35)
        p = p + length / n * np.array([np.cos(angle), np.sin(angle)])
        pts.append(p.copy())
    thick = max(1, round(short * rng.uniform(0.004, 0.012)))
    cv2.polylines(mask, [np.round(np.array(pts)).astype(np.int32)], False, 1, thick, cv2.LINE_AA)
    soft = _soft(mask, 0.5)
    dark = rng.uniform(0.3, 0.75)
    out = img.astype(np.float32) * (1 - np.clip(soft * 1.5, 0, 1) * (1 - dark))
    return out, cv2.dilate(mask, np.ones((3, 3), np.uint8)).astype(bool)


def _chip(img: np.ndarray, rng: np.random.Generator, short: int) -> tuple[np.ndarray, np.ndarray]:
    """Material missing at a side or corner: an irregular dark notch touching the border."""
    h, w = img.shape
    size = short * rng.uniform(0.06, 0.25)
    side = int(rng.integers(4))
    t = rng.uniform(0.05, 0.95)
    centre = [(t * w, 0.0), (t * w, h - 1.0), (0.0, t * h), (w - 1.0, t * h)][side]
    if rng.random() < 0.35:  # a corner
        centre = (float(rng.integers(2)) * (w - 1), float(rng.integers(2)) * (h - 1))
    k = int(rng.integers(6, 12))
    ang = np.sort(rng.uniform(0, 2 * np.pi, k))
    rad = size * rng.uniform(0.4, 1.0, k)
    poly = np.stack([centre[0] + rad * np.cos(ang), centre[1] + rad * np.sin(ang)], 1)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
    lo = float(np.percentile(img, 2))
    fill = lo * rng.uniform(0.2, 0.8) + rng.normal(0, 3, (h, w))
    soft = _soft(mask, 1.0)
    out = img.astype(np.float32) * (1 - soft) + fill * soft
    return out, mask.astype(bool)


def _texture_from(donor: np.ndarray, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Another good image's texture, turned by 90 degrees or flipped and fitted to ``shape``."""
    d = np.rot90(donor, int(rng.integers(1, 4))) if rng.random() < 0.7 else donor[::-1, ::-1]
    return cv2.resize(np.ascontiguousarray(d), (shape[1], shape[0])).astype(np.float32)


def _patch(img: np.ndarray, rng: np.random.Generator, short: int,
           donor: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    h, w = img.shape
    mask = _blob((h, w), rng, short * rng.uniform(0.1, 0.3))
    f = img.astype(np.float32)
    if donor is not None and rng.random() < 0.6:
        tex = _texture_from(donor, (h, w), rng)
        tex = (tex - tex.mean()) * rng.uniform(0.6, 1.4) + f.mean() * rng.uniform(0.75, 1.25)
    else:  # the same surface, relit and smoothed
        tex = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.5, 3.0)) * rng.uniform(0.55, 1.45)
    soft = _soft(mask, short * 0.01)
    return f * (1 - soft) + tex * soft, mask > 0.5


def _band(img: np.ndarray, rng: np.random.Generator, short: int,
          donor: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    h, w = img.shape
    mask = np.zeros((h, w), np.float32)
    depth = short * rng.uniform(0.1, 0.35)
    side = int(rng.integers(4))
    n = h if side < 2 else w
    along = w if side < 2 else h
    edge = depth + np.cumsum(rng.normal(0, depth * 0.03, along))
    idx = np.arange(n)[:, None]
    m = (idx < edge[None, :]).astype(np.float32)  # (n, along): band at index 0
    if side == 1:
        m = m[::-1]
    if side >= 2:
        m = m.T
        if side == 3:
            m = m[:, ::-1]
    mask[:] = m[:h, :w]
    f = img.astype(np.float32)
    if donor is not None and rng.random() < 0.5:
        tex = _texture_from(donor, (h, w), rng)
        tex = (tex - tex.mean()) * rng.uniform(0.8, 1.8) + f.mean() * rng.uniform(0.8, 1.3)
    else:  # the same surface, brighter or darker, streakier
        tex = (f - f.mean()) * rng.uniform(1.2, 2.0) + f.mean() * rng.uniform(0.7, 1.35)
    soft = _soft(mask, 1.0)
    return f * (1 - soft) + tex * soft, mask > 0.5


def plant(image: np.ndarray, rng: np.random.Generator, *, kinds: Sequence[str] = KINDS,
          donor: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """``image`` (grey uint8) with one planted defect of a kind drawn from ``kinds``: (image,
    mask bool, kind). ``donor``: another good image whose texture ``patch`` and ``band`` may use."""
    if image.ndim != 2:
        raise ValueError(f"expected a grey image, got shape {image.shape}")
    kind = str(kinds[int(rng.integers(len(kinds)))])
    short = min(image.shape)
    if kind == "pore":
        out, mask = _pore(image, rng, short)
    elif kind == "crack":
        out, mask = _crack(image, rng, short)
    elif kind == "chip":
        out, mask = _chip(image, rng, short)
    elif kind == "patch":
        out, mask = _patch(image, rng, short, donor)
    elif kind == "band":
        out, mask = _band(image, rng, short, donor)
    else:
        raise ValueError(f"unknown defect kind {kind!r}; one of {KINDS}")
    return np.clip(out, 0, 255).round().astype(np.uint8), mask, kind


def machined_surface(rng: np.random.Generator, shape: tuple[int, int] = (240, 320)) -> np.ndarray:
    """A grey uint8 image of a ground metal or ceramic surface: grinding streaks along one direction
    (within +-8 degrees of horizontal), fine grain and slow shading, each drawn from ``rng`` (every
    call a different good part of one kind; the demo's good-set parts, tests)."""
    h, w = shape
    pad = int(0.3 * max(h, w))
    big = (h + 2 * pad, w + 2 * pad)
    streaks = cv2.GaussianBlur(rng.standard_normal(big).astype(np.float32), (0, 0), sigmaX=12, sigmaY=0.8)
    turn = cv2.getRotationMatrix2D((big[1] / 2, big[0] / 2), float(rng.uniform(-8, 8)), 1.0)
    streaks = cv2.warpAffine(streaks, turn, (big[1], big[0]), borderMode=cv2.BORDER_REFLECT)[pad:pad + h, pad:pad + w]
    grain = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), 0.8)
    shade = cv2.resize(rng.standard_normal((3, 4)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    img = (118 + rng.uniform(-8, 8) + 6 * shade + 18 * rng.uniform(0.8, 1.2) * streaks / streaks.std()
           + 6 * grain / grain.std())
    return np.clip(img, 0, 255).round().astype(np.uint8)
