"""Synthetic circuit boards and planted defects, for training change detectors and for benches.

:func:`random_board` draws a copper layout (tracks at 0/45/90 degrees, pads, vias, fills);
:func:`plant_defect` changes the copper the way DeepPCB's six defect types do (open, short,
mouse-bite, spur, spurious copper, pin-hole) and returns the changed pixels; :func:`render` turns a
copper mask into an image of a chosen style: a binarised scan, a grey camera image (any contrast,
texture, blur, JPEG), or a colour photograph-like board (green solder mask over copper: light-green
tracks on dark green, low contrast, gold pads, white silkscreen).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

OPEN, SHORT, MOUSEBITE, SPUR, COPPER, PINHOLE = 1, 2, 3, 4, 5, 6
KINDS = (OPEN, SHORT, MOUSEBITE, SPUR, COPPER, PINHOLE)
STYLES = ("scan", "grey", "photo")


def random_board(rng: np.random.Generator, shape: tuple[int, int], *, scale: float = 1.0) -> np.ndarray:
    """A random copper layout (bool, True = copper). ``scale`` multiplies track widths and pitches
    (1.0: DeepPCB-like, tracks 3-12 px)."""
    h, w = shape
    img = np.zeros((h, w), np.uint8)
    area = h * w / (scale * scale)
    n_tracks = max(2, int(area / 9000 * rng.uniform(0.6, 1.4)))
    for _ in range(n_tracks):
        width = max(1, round(rng.uniform(2.5, 10.0) * scale))
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        pts = [(x, y)]
        for _ in range(int(rng.integers(1, 5))):
            ang = math.radians(45 * int(rng.integers(0, 8)))
            ln = rng.uniform(20, 160) * scale
            x, y = x + ln * math.cos(ang), y + ln * math.sin(ang)
            pts.append((x, y))
        arr = np.round(np.array(pts)).astype(np.int32)
        cv2.polylines(img, [arr], False, 1, width, cv2.LINE_8)
        for px, py in (arr[0], arr[-1]):
            if rng.random() < 0.7:
                r = max(2, round(width * rng.uniform(0.8, 1.6)))
                if rng.random() < 0.5:
                    cv2.circle(img, (int(px), int(py)), r, 1, -1)
                else:
                    cv2.rectangle(img, (int(px) - r, int(py) - r), (int(px) + r, int(py) + r), 1, -1)
    for _ in range(int(rng.integers(0, 3))):  # copper fills
        if rng.random() < 0.5:
            x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
            cv2.rectangle(img, (x0, y0), (x0 + int(rng.integers(20, int(120 * scale) + 21)),
                                          y0 + int(rng.integers(20, int(120 * scale) + 21))), 1, -1)
    copper = img > 0
    n_holes = int(area / 20000 * rng.uniform(0.5, 1.5))
    dist = cv2.distanceTransform(copper.astype(np.uint8), cv2.DIST_L2, 3)
    ys, xs = np.nonzero(dist >= 3 * scale)
    for _ in range(min(n_holes, len(xs))):  # drilled holes (part of the design)
        i = int(rng.integers(len(xs)))
        r = max(1, round(min(dist[ys[i], xs[i]] - 1.5, rng.uniform(1.5, 4) * scale)))
        cv2.circle(img, (int(xs[i]), int(ys[i])), r, 0, -1)
    return img > 0


@dataclass(frozen=True)
class Planted:
    kind: int  # 1..6, DeepPCB type numbers
    mask: np.ndarray  # bool, pixels that changed
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 of the changed pixels (exclusive)


def _pick(rng: np.random.Generator, cond: np.ndarray, margin: int) -> tuple[int, int] | None:
    h, w = cond.shape
    sub = cond[margin:h - margin, margin:w - margin]
    ys, xs = np.nonzero(sub)
    if len(xs) == 0:
        return None
    i = int(rng.integers(len(xs)))
    return int(xs[i]) + margin, int(ys[i]) + margin


def plant_defect(rng: np.random.Generator, copper: np.ndarray, kind: int, *, scale: float = 1.0,
                 avoid: np.ndarray | None = None, margin: int = 12) -> tuple[np.ndarray, Planted] | None:
    """``copper`` with one defect of ``kind`` planted (a new array), or None where the layout offers
    no place for it. ``avoid``: pixels the defect must stay clear of (earlier defects)."""
    cu = copper.astype(np.uint8)
    d_in = cv2.distanceTransform(cu, cv2.DIST_L2, 3)
    d_out = cv2.distanceTransform(1 - cu, cv2.DIST_L2, 3)
    free = np.ones(copper.shape, bool) if avoid is None else ~avoid
    out = cu.copy()
    s = scale
    if kind == PINHOLE:
        r = max(1, round(rng.uniform(1.0, 3.5) * s))
        p = _pick(rng, (d_in >= r + 2.5) & free, margin)
        if p is None:
            return None
        cv2.circle(out, p, r, 0, -1)
    elif kind == MOUSEBITE:
        p = _pick(rng, (d_in > 0) & (d_in <= 1.5) & (d_in + d_out > 0) & free, margin)
        if p is None:
            return None
        for _ in range(int(rng.integers(1, 4))):
            r = max(1, round(rng.uniform(1.5, 4.0) * s))
            q = (p[0] + int(rng.integers(-3, 4)), p[1] + int(rng.integers(-3, 4)))
            cv2.circle(out, q, r, 0, -1)
    elif kind == OPEN:
        p = _pick(rng, (d_in >= 1.5) & (d_in <= 6.0 * s) & free, margin)
        if p is None:
            return None
        r = d_in[p[1], p[0]]
        if rng.random() < 0.5:  # a clean cut across the track
            cv2.circle(out, p, math.ceil(r + rng.uniform(0.5, 2.0) * s), 0, -1)
        else:  # a thin break (a hairline crack), possibly slanted
            ang = rng.uniform(0, math.pi)
            ln = r + 3
            a = (round(p[0] - ln * math.cos(ang)), round(p[1] - ln * math.sin(ang)))
            b = (round(p[0] + ln * math.cos(ang)), round(p[1] + ln * math.sin(ang)))
            cv2.line(out, a, b, 0, max(1, round(rng.uniform(1, 3) * s)))
    elif kind == SPUR:
        p = _pick(rng, (d_out > 0) & (d_out <= 1.5) & free, margin)
        if p is None:
            return None
        r = max(1, round(rng.uniform(1.5, 4.0) * s))
        ln = rng.uniform(3, 9) * s
        ang = rng.uniform(0, 2 * math.pi)
        q = (round(p[0] + ln * math.cos(ang)), round(p[1] + ln * math.sin(ang)))
        cv2.line(out, p, q, 1, r)
    elif kind == COPPER:
        r = max(1, round(rng.uniform(1.5, 6.0) * s))
        p = _pick(rng, (d_out >= r + 4) & free, margin)
        if p is None:
            return None
        if rng.random() < 0.5:
            cv2.circle(out, p, r, 1, -1)
        else:
            axes = (r, max(1, round(r * rng.uniform(0.3, 1.0))))
            cv2.ellipse(out, p, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    elif kind == SHORT:
        n, labels = cv2.connectedComponents(cu, connectivity=8)
        if n < 3:
            return None
        p = _pick(rng, (d_out >= 1.5) & (d_out <= 10 * s) & free, margin)
        if p is None:
            return None
        # from the nearest copper through p, on until copper again: a bridge if that is another piece
        best = None
        for _ in range(25):
            p = _pick(rng, (d_out >= 1.5) & (d_out <= 9 * s) & free, margin)
            if p is None:
                return None
            # nearest copper pixel: search the disc of radius d_out around p
            r = math.ceil(d_out[p[1], p[0]]) + 1
            y0, x0 = max(0, p[1] - r), max(0, p[0] - r)
            win = cu[y0:p[1] + r + 1, x0:p[0] + r + 1]
            wy, wx = np.nonzero(win)
            if len(wx) == 0:
                continue
            j = int(np.argmin((wx + x0 - p[0]) ** 2 + (wy + y0 - p[1]) ** 2))
            q1 = (int(wx[j] + x0), int(wy[j] + y0))
            dx, dy = p[0] - q1[0], p[1] - q1[1]
            ln = math.hypot(dx, dy)
            if ln == 0:
                continue
            c, sn = dx / ln, dy / ln
            for t in range(1, int(26 * s)):
                x, y = round(p[0] + t * c), round(p[1] + t * sn)
                if not (0 <= x < cu.shape[1] and 0 <= y < cu.shape[0]):
                    break
                if cu[y, x]:
                    if labels[y, x] != labels[q1[1], q1[0]]:
                        best = [(q1, 0), ((x, y), 1)]
                    break
            if best is not None:
                break
        if best is None:
            return None
        cv2.line(out, best[0][0], best[1][0], 1, max(1, round(rng.uniform(1.5, 4) * s)))
    else:
        raise ValueError(f"unknown defect kind {kind}")
    changed = (out > 0) != copper
    if not changed.any():
        return None
    ys, xs = np.nonzero(changed)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return out > 0, Planted(kind, changed, box)


@dataclass(frozen=True)
class Style:
    kind: str  # "scan", "grey", "photo"
    copper: tuple[float, float, float]  # BGR (grey styles: all equal)
    substrate: tuple[float, float, float]
    blur: float  # Gaussian sigma, px
    texture: float  # amplitude of low-frequency texture, grey levels
    noise: float  # sensor noise sigma
    jpeg: int  # JPEG quality (0: none)
    pads: tuple[float, float, float] | None = None  # exposed pads colour (photo style)
    silk: bool = False


def random_style(rng: np.random.Generator, kind: str | None = None) -> Style:
    kind = kind or str(rng.choice(STYLES, p=[0.3, 0.35, 0.35]))
    if kind == "scan":
        return Style("scan", (0.0,) * 3, (255.0,) * 3, float(rng.uniform(0, 0.8)), 0.0,
                     float(rng.uniform(0, 4)), int(rng.choice([0, 0, 90, 75])))
    if kind == "grey":
        a, b = rng.uniform(10, 240, 2)
        while abs(a - b) < 25:
            a, b = rng.uniform(10, 240, 2)
        return Style("grey", (a,) * 3, (b,) * 3, float(rng.uniform(0.3, 1.6)),
                     float(rng.uniform(0, 12)), float(rng.uniform(1, 6)), int(rng.choice([0, 50, 70, 90])))
    g = rng.uniform(70, 140)
    sub = (rng.uniform(20, 60), g, rng.uniform(20, 60))
    lift = rng.uniform(18, 60)  # copper under the mask is only a little lighter: low contrast
    cop = (sub[0] + lift * rng.uniform(0.3, 0.8), min(255.0, g + lift), sub[2] + lift * rng.uniform(0.3, 0.8))
    pads = (rng.uniform(40, 90), rng.uniform(150, 200), rng.uniform(180, 230))
    return Style("photo", cop, sub, float(rng.uniform(0.6, 1.8)), float(rng.uniform(3, 14)),
                 float(rng.uniform(2, 6)), int(rng.choice([55, 70, 85, 95])), pads,
                 bool(rng.random() < 0.5))


def design_extras(rng: np.random.Generator, copper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masks of exposed pads (copper regions shown gold in photos) and silkscreen strokes; part of
    the design, the same on the golden and the part."""
    h, w = copper.shape
    _n, _labels, _stats, _ = cv2.connectedComponentsWithStats(copper.astype(np.uint8), connectivity=8)
    pads = np.zeros((h, w), bool)
    dist = cv2.distanceTransform(copper.astype(np.uint8), cv2.DIST_L2, 3)
    ys, xs = np.nonzero(dist >= 4)
    for _ in range(min(len(xs), int(h * w / 40000) + 1)):
        i = int(rng.integers(len(xs)))
        r = int(min(dist[ys[i], xs[i]], 40.0)) + 1
        cv2.circle(pads.view(np.uint8), (int(xs[i]), int(ys[i])), r, 1, -1)
    pads &= copper
    silk = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(0, 4))):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        cv2.putText(silk, "R" + str(int(rng.integers(1, 99))), (x0, y0), cv2.FONT_HERSHEY_SIMPLEX,
                    float(rng.uniform(0.4, 1.0)), 1, 1)
    return pads, (silk > 0) & ~copper


def render(copper: np.ndarray, style: Style, rng: np.random.Generator, *,
           extras: tuple[np.ndarray, np.ndarray] | None = None, colour: bool | None = None,
           gain: float = 1.0, offset: float = 0.0, texture_seed: int = 0) -> np.ndarray:
    """Image of a copper layout in ``style`` (uint8; BGR for the photo style unless ``colour`` is
    False). ``texture_seed``: the board's texture (the same for golden and part of one board);
    ``rng`` draws the per-image noise and JPEG artefacts; gain/offset: the light of this image."""
    h, w = copper.shape
    img = np.empty((h, w, 3), np.float32)
    img[:] = style.substrate
    img[copper] = style.copper
    if extras is not None and style.kind == "photo":
        pads, silk = extras
        if style.pads is not None:
            img[pads & copper] = style.pads
        if style.silk:
            img[silk] = (225.0, 230.0, 230.0)
    if style.texture > 0:
        trng = np.random.default_rng(texture_seed)
        small = trng.normal(0, 1, (max(2, h // 24), max(2, w // 24), 1)).astype(np.float32)
        tex = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        fine = trng.normal(0, 0.35, (h, w)).astype(np.float32)
        img += (tex[..., None] if tex.ndim == 2 else tex) * style.texture + (fine * style.texture)[..., None]
    if style.blur > 0:
        img = cv2.GaussianBlur(img, (0, 0), style.blur).astype(np.float32)
    img = (img * gain + offset).astype(np.float32)
    if style.noise > 0:
        img += rng.normal(0, style.noise, img.shape).astype(np.float32)
    out = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    want_colour = style.kind == "photo" if colour is None else colour
    if not want_colour:
        out = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)
    if style.jpeg:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, style.jpeg])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return out


def residue(image: np.ndarray, rng: np.random.Generator, *, shift: float = 0.4, rotation_deg: float = 0.1,
            scale: float = 0.003) -> np.ndarray:
    """The image moved by what a registration leaves (sub-pixel shift, a little rotation and scale)."""
    h, w = image.shape[:2]
    a = math.radians(rng.uniform(-rotation_deg, rotation_deg))
    s = 1.0 + rng.uniform(-scale, scale)
    c, sn = s * math.cos(a), s * math.sin(a)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    m = np.array([[c, -sn, cx - c * cx + sn * cy + rng.uniform(-shift, shift)],
                  [sn, c, cy - sn * cx - c * cy + rng.uniform(-shift, shift)]], np.float64)
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
