"""The good-part score distribution as a PNG (drawn with OpenCV: no plotting library needed).

A histogram of the held-out good parts' scores, the fitted tail model (scaled to counts), the chosen
threshold and what it guarantees. The same numbers are kept in ``thresholds.json`` for the HMI.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from calibration.threshold import GumbelFit, ThresholdChoice

W, H = 900, 440
LEFT, RIGHT, TOP, BOTTOM = 70, 30, 64, 70
FONT = cv2.FONT_HERSHEY_SIMPLEX
BAR = (200, 140, 60)
FIT = (40, 140, 250)
THRESH = (40, 40, 220)
INK = (40, 40, 40)
GRID = (225, 225, 225)


def _nice_step(span: float, target: int) -> float:
    raw = span / max(1, target)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def _text(
    img: np.ndarray,
    text: str,
    org: tuple[int, int],
    *,
    scale: float = 0.45,
    color: tuple[int, int, int] = INK,
    anchor: str = "left",
) -> None:
    (tw, _), _ = cv2.getTextSize(text, FONT, scale, 1)
    x, y = org
    if anchor == "center":
        x -= tw // 2
    elif anchor == "right":
        x -= tw
    cv2.putText(img, text, (x, y), FONT, scale, color, 1, cv2.LINE_AA)


def score_plot(
    scores: np.ndarray,
    choice: ThresholdChoice,
    *,
    title: str = "",
    xlabel: str = "band multiplier k each held-out good part needs to pass",
) -> np.ndarray:
    """BGR image of the score distribution with the threshold."""
    s = np.asarray(scores, np.float64)
    finite = s[np.isfinite(s)]
    never = int(s.size - finite.size)
    img = np.full((H, W, 3), 255, np.uint8)
    x_max = max([choice.threshold, *(finite.tolist() or [1.0])]) * 1.15
    x_max = max(x_max, 1e-3)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    nbins = int(min(40, max(8, math.sqrt(max(1, finite.size)) * 3)))
    edges = np.linspace(0.0, x_max, nbins + 1)
    counts, _ = np.histogram(finite, bins=edges)
    fit = GumbelFit(choice.fit["mu"], choice.fit["beta"]) if choice.fit.get("beta", 0) > 0 else None
    curve_x = np.linspace(0.0, x_max, 300)
    curve = np.zeros_like(curve_x)
    if fit is not None:
        z = (curve_x - fit.mu) / fit.beta
        pdf = np.exp(-(z + np.exp(-z))) / fit.beta
        curve = pdf * finite.size * (edges[1] - edges[0])
    y_max = max(1.0, float(counts.max(initial=0)), float(curve.max(initial=0))) * 1.15

    def px(x: float) -> int:
        return round(LEFT + x / x_max * pw)

    def py(y: float) -> int:
        return round(TOP + ph - y / y_max * ph)

    step = _nice_step(y_max, 5)
    y = 0.0
    while y <= y_max:
        cv2.line(img, (LEFT, py(y)), (LEFT + pw, py(y)), GRID, 1)
        _text(img, f"{y:g}", (LEFT - 8, py(y) + 4), anchor="right")
        y += step
    xs = _nice_step(x_max, 8)
    x = 0.0
    while x <= x_max + 1e-9:
        cv2.line(img, (px(x), TOP + ph), (px(x), TOP + ph + 5), INK, 1)
        _text(img, f"{x:g}", (px(x), TOP + ph + 20), anchor="center")
        x += xs
    for c, a, b in zip(counts, edges[:-1], edges[1:], strict=True):
        if c:
            cv2.rectangle(img, (px(a) + 1, py(float(c))), (px(b) - 1, py(0)), BAR, -1)
    if fit is not None:
        pts = np.stack([[px(a) for a in curve_x], [py(v) for v in curve]], 1).astype(np.int32)
        cv2.polylines(img, [pts], False, FIT, 2, cv2.LINE_AA)
    cv2.rectangle(img, (LEFT, TOP), (LEFT + pw, TOP + ph), INK, 1)
    tx = px(choice.threshold)
    cv2.line(img, (tx, TOP), (tx, TOP + ph), THRESH, 2)
    label = f"threshold k = {choice.threshold:.3g}"
    (lw, _), _ = cv2.getTextSize(label, FONT, 0.45, 1)
    if tx + 6 + lw < W - RIGHT:
        _text(img, label, (tx + 6, TOP + 16), color=THRESH)
    else:
        _text(img, label, (tx - 6, TOP + 16), color=THRESH, anchor="right")
    if never:
        _text(img, f"{never} part(s) never pass", (LEFT + 8, TOP + 34), color=THRESH)
    _text(img, title or "good-part scores (held out)", (LEFT, 24), scale=0.6)
    _text(
        img,
        f"target FRR {choice.target_frr:.2%}   N = {choice.n}   observed {choice.exceed}/{choice.n}   "
        f"guaranteed <= {choice.frr_guaranteed:.2%} ({choice.confidence:.0%} conf.)   "
        f"predicted {choice.frr_predicted:.2%} ({choice.method})",
        (LEFT, 46),
        scale=0.42,
    )
    _text(img, xlabel, (LEFT + pw // 2, H - 22), anchor="center")
    if fit is not None:
        _text(img, "Gumbel tail fit", (LEFT + 8, TOP + 16), color=FIT)
    return img


def png_bytes(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise ValueError("cannot encode the plot")
    return buf.tobytes()
