"""Registration of an acquired image to the golden reference.

Coarse to fine:
1. coarse search at about 80 px across: phase correlation (gain/offset invariant) under a small
   sweep of rotation hypotheses, which covers shifts up to ``max_shift`` and rotations up to
   ``max_rotation_deg``;
2. inverse-compositional Gauss-Newton on a pyramid, on reference edge samples chosen once per
   reference (the reference is fixed per recipe, so its gradients and Jacobians are precomputed),
   with the gain and offset of the light solved at each step and Huber weights so that defects do
   not pull the fit; similarity at the coarse levels, ``params.motion`` at the finest.

The result is an :class:`~inspection.vision.geometry.Alignment`: ``ok`` False with a reason when the part
is not there, not recognisable, or outside the allowed range; never an exception for a bad part.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np

from inspection.imageio import percentiles8, to_grey8
from inspection.recipe.params import AlignParams
from inspection.vision.geometry import Alignment, compose, invert, rigid_matrix

logger = logging.getLogger(__name__)

_COARSE_TARGET = 96  # the coarse search level is the first one at most this many pixels across
_SMOOTH_SIGMA = 1.0  # Gaussian smoothing of every pyramid level (level pixels)
_HUBER_K = 1.5
_SIG_BINS = 720
_K3 = np.ones((3, 3), np.uint8)
_DAMPING = 1e-3
_SCORE_LEVEL = 2  # alignment quality is judged here: coarse enough to ignore sub-pixel edge drift


def _pyramid(grey: np.ndarray, levels: int) -> list[np.ndarray]:
    """Level 0 is full resolution; each next level halves the size (area averaging)."""
    out = [grey]
    for _ in range(levels - 1):
        prev = out[-1]
        out.append(cv2.resize(prev, ((prev.shape[1] + 1) // 2, (prev.shape[0] + 1) // 2),
                              interpolation=cv2.INTER_AREA))
    return out


def _smooth(img: np.ndarray) -> np.ndarray:
    """Gaussian smoothing of a pyramid level (kept in the image's dtype: uint8 is the fast path;
    the half-grey-level rounding is far below what registration resolves)."""
    return cv2.GaussianBlur(img, (5, 5), _SMOOTH_SIGMA)


def _level_scale(level: int) -> np.ndarray:
    """2x3 matrix mapping full-resolution pixel coordinates to those of ``level``."""
    f = 2.0**level
    return np.array([[1 / f, 0, 0.5 / f - 0.5], [0, 1 / f, 0.5 / f - 0.5]])


def _to_level(matrix: np.ndarray, level: int) -> np.ndarray:
    s = _level_scale(level)
    return compose(compose(s, matrix), invert(s))


def _from_level(matrix: np.ndarray, level: int) -> np.ndarray:
    s = _level_scale(level)
    return compose(compose(invert(s), matrix), s)


def _jacobian(u: np.ndarray, v: np.ndarray, motion: str) -> tuple[np.ndarray, np.ndarray]:
    """d(x', y')/dp at p=0 for centred coordinates (u, v): two (N, k) arrays."""
    one, zero = np.ones_like(u), np.zeros_like(u)
    if motion == "translation":
        return np.stack([one, zero], 1), np.stack([zero, one], 1)
    if motion == "euclidean":
        return np.stack([-v, one, zero], 1), np.stack([u, zero, one], 1)
    if motion == "similarity":
        return np.stack([u, -v, one, zero], 1), np.stack([v, u, zero, one], 1)
    return np.stack([u, zero, v, zero, one, zero], 1), np.stack([zero, u, zero, v, zero, one], 1)


def _column_scale(motion: str, radius: float) -> np.ndarray:
    """Per-parameter scale that turns each parameter into pixels of motion at ``radius``."""
    if motion == "translation":
        return np.ones(2)
    if motion == "euclidean":
        return np.array([radius, 1.0, 1.0])
    if motion == "similarity":
        return np.array([radius, radius, 1.0, 1.0])
    return np.array([radius, radius, radius, radius, 1.0, 1.0])


def _delta_matrix(dp: np.ndarray, motion: str) -> np.ndarray:
    """The centred-coordinate warp of a parameter increment."""
    if motion == "translation":
        return np.array([[1, 0, dp[0]], [0, 1, dp[1]]], dtype=np.float64)
    if motion == "euclidean":
        c, s = math.cos(dp[0]), math.sin(dp[0])
        return np.array([[c, -s, dp[1]], [s, c, dp[2]]])
    if motion == "similarity":
        return np.array([[1 + dp[0], -dp[1], dp[2]], [dp[1], 1 + dp[0], dp[3]]])
    return np.array([[1 + dp[0], dp[2], dp[4]], [dp[1], 1 + dp[3], dp[5]]])


@dataclass(frozen=True)
class _Level:
    index: int
    size: tuple[int, int]  # (w, h)
    points: np.ndarray  # (N, 2) sample coordinates, level pixels
    values: np.ndarray  # (N,) smoothed reference at the samples
    sd: dict[str, np.ndarray]  # motion -> (N, k) steepest-descent images


@dataclass(frozen=True)
class AlignModel:
    """Everything about one reference that alignment needs, computed once per reference."""

    shape: tuple[int, int]
    levels: tuple[_Level, ...]  # fine to coarse; levels[i].index == i
    coarse_index: int
    coarse_image: np.ndarray  # float32 reference at the coarse level
    coarse_window: np.ndarray
    contrast: float
    signature: np.ndarray  # angular signature (see _angular_signature) of the level above coarse
    stats: tuple[float, float]  # mean and standard deviation of the coarse level
    light_grid: tuple[np.ndarray, np.ndarray]  # grid points (N, 1, 2) float32 and reference values

    @property
    def n_levels(self) -> int:
        return len(self.levels)


def _select_samples(mag: np.ndarray, n: int) -> np.ndarray:
    """(N, 2) coordinates of strong-gradient pixels (``mag`` uint8), spread over the image."""
    h, w = mag.shape
    border = 2
    inner = mag[border:h - border, border:w - border]
    if inner.size == 0:
        return np.zeros((0, 2), dtype=np.float64)
    # threshold from the histogram: keep about 3n of the strongest-gradient pixels
    hist = np.bincount(inner[::2, ::2].ravel(), minlength=256)[:256] * 4.0
    above = np.cumsum(hist[::-1])[::-1]  # pixels >= level
    ok = np.nonzero(above >= 3 * n)[0]
    thresh = max(1, int(ok[-1]) if ok.size else 1)
    _, binary = cv2.threshold(inner, thresh - 1, 255, cv2.THRESH_BINARY)
    pts = cv2.findNonZero(binary)
    if pts is None:
        return np.zeros((0, 2), dtype=np.float64)
    pts = pts.reshape(-1, 2)
    if len(pts) > n:  # deterministic, spatially uniform thinning
        pts = pts[np.linspace(0, len(pts) - 1, n).astype(np.int64)]
    return pts.astype(np.float64) + border


def build_align_model(reference: np.ndarray, params: AlignParams | None = None) -> AlignModel:
    """Precompute the pyramid, edge samples and Jacobians of a reference image."""
    params = params or AlignParams()
    grey = to_grey8(reference, what="reference")
    h, w = grey.shape
    n_levels = 1
    while max(h, w) / 2 ** (n_levels - 1) > _COARSE_TARGET and min(h, w) / 2**n_levels >= 16:
        n_levels += 1
    pyr = _pyramid(grey, n_levels)
    levels = []
    empty = np.zeros((0, 2), dtype=np.float64)
    for i, img in enumerate(pyr):
        if i < min(params.finest_level, n_levels - 1):  # never fitted: no samples needed
            levels.append(_Level(i, (img.shape[1], img.shape[0]), empty, np.zeros(0), {}))
            continue
        sm = _smooth(img)
        # samples where the (smoothed) reference changes most; gradients only at those points
        mag = cv2.morphologyEx(sm, cv2.MORPH_GRADIENT, _K3)
        n = max(200, params.samples // (2 ** (2 * i)) * 2) if i else params.samples
        pts = _select_samples(mag, n)
        xi, yi = pts[:, 0].astype(np.int64), pts[:, 1].astype(np.int64)
        gxs = (sm[yi, xi + 1].astype(np.float64) - sm[yi, xi - 1]) / 2.0
        gys = (sm[yi + 1, xi].astype(np.float64) - sm[yi - 1, xi]) / 2.0
        cx, cy = (img.shape[1] - 1) / 2.0, (img.shape[0] - 1) / 2.0
        u, v = pts[:, 0] - cx, pts[:, 1] - cy
        motions = {params.motion, "similarity"}
        if i >= n_levels - 2:
            motions |= {"euclidean", "translation"}
        sd = {}
        for motion in motions:
            jx, jy = _jacobian(u, v, motion)
            sd[motion] = gxs[:, None] * jx + gys[:, None] * jy
        levels.append(_Level(i, (img.shape[1], img.shape[0]), pts, sm[yi, xi].astype(np.float64), sd))
    coarse = n_levels - 1
    cimg = _smooth(pyr[coarse]).astype(np.float32)
    window = cv2.createHanningWindow((cimg.shape[1], cimg.shape[0]), cv2.CV_32F)
    lo, hi = percentiles8(grey, (2, 98), step=4)
    sig = _angular_signature(_smooth(pyr[max(0, coarse - 1)]).astype(np.float32))
    mean, std = cv2.meanStdDev(pyr[coarse])
    step = max(1, int(math.sqrt(h * w / 5000.0)))
    gy, gx = np.mgrid[step // 2:h:step, step // 2:w:step]
    grid = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32).reshape(-1, 1, 2)
    return AlignModel((h, w), tuple(levels), coarse, cimg, window, float(hi - lo), sig,
                      (float(mean[0, 0]), float(std[0, 0])),
                      (grid, grey[gy.ravel(), gx.ravel()].astype(np.float64)))


def _gauss_newton(
    level: _Level, image: np.ndarray, matrix: np.ndarray, motion: str, iterations: int,
    photometric: tuple[float, float],
) -> tuple[np.ndarray, float, float, float]:
    """Refine ``matrix`` (level coordinates, reference -> image) on one level.

    ``photometric`` is a (gain, offset) prior from global statistics, used while the fit is too
    poor to regress them from the samples. A step that lowers the correlation is undone and the
    iteration stops, so the result is never worse than the start. Returns (matrix, score, gain,
    offset); score is the correlation of the samples at the returned matrix.
    """
    h, w = image.shape
    pts = level.points
    pts32 = pts.astype(np.float32).reshape(-1, 1, 2)
    ref_vals = level.values
    sd = level.sd[motion]
    cx, cy = (level.size[0] - 1) / 2.0, (level.size[1] - 1) / 2.0
    colscale = _column_scale(motion, max(cx, cy, 1.0))
    to_c = np.array([[1, 0, -cx], [0, 1, -cy]], dtype=np.float64)
    from_c = np.array([[1, 0, cx], [0, 1, cy]], dtype=np.float64)
    best = (matrix, -1.0, photometric[0], photometric[1])
    if len(pts) < 20:  # a blank level: nothing to fit
        return matrix, 0.0, photometric[0], photometric[1]
    for _ in range(iterations + 1):
        q = cv2.transform(pts32, matrix)
        qx, qy = q[:, 0, 0], q[:, 0, 1]
        inside = (qx >= 0) & (qx <= w - 1) & (qy >= 0) & (qy <= h - 1)
        n_in = int(np.count_nonzero(inside))
        if n_in < max(20, 0.2 * len(pts)):
            break
        vals = cv2.remap(image, q, None, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
        vals = vals.ravel().astype(np.float64)
        if n_in == len(pts):
            r, t = ref_vals, vals
        else:
            r, t = ref_vals[inside], vals[inside]
        rm, tm = r.sum() / n_in, t.sum() / n_in
        rv = float(np.dot(r, r)) / n_in - rm * rm
        tv = float(np.dot(t, t)) / n_in - tm * tm
        cov = float(np.dot(r, t)) / n_in - rm * tm
        score = float(cov / math.sqrt(rv * tv)) if rv > 1e-9 and tv > 1e-9 else 0.0
        # a fit that pushes most of the reference out of view explains little, however well the
        # rest correlates
        score *= min(1.0, n_in / (0.8 * len(pts)))
        if score < best[1] - 1e-4:
            break  # the last step made it worse: keep the best
        if score > 0.5 and rv > 1e-9:
            # moment matching, not regression: cov/var would shrink the gain by the correlation
            gain = math.sqrt(max(tv, 1e-12) / rv)
            offset = tm - gain * rm
        else:
            gain, offset = photometric
        best = (matrix, score, gain, offset)
        err = (vals - offset) * (1.0 / gain) - ref_vals
        if n_in != len(pts):
            err[~inside] = 0.0
        abserr = np.abs(err)
        mad = float(abserr.sum()) / n_in * 1.25 + 1e-6  # mean absolute deviation -> sigma
        weight = np.minimum(1.0, _HUBER_K * mad / (abserr + 1e-12))
        if n_in != len(pts):
            weight[~inside] = 0.0
        sdw = sd * weight[:, None]
        hess = sdw.T @ sd
        # Tikhonov damping in parameters normalised to pixels at the image border: directions the
        # image does not constrain (motion along parallel stripes, a nearly blank part) stay put
        # instead of wandering; well-constrained ones are biased by ~0.1%.
        norm = colscale[:, None] * colscale[None, :]
        damp = _DAMPING * np.trace(hess / norm) / len(colscale)
        try:
            dp = np.linalg.solve(hess + damp * np.diag(colscale**2), sdw.T @ err)
        except np.linalg.LinAlgError:
            break
        delta = compose(compose(from_c, _delta_matrix(dp, motion)), to_c)
        matrix = compose(matrix, invert(delta))
        if np.abs(dp[-2:]).max() < 0.005 and (len(dp) == 2 or np.abs(dp[:-2]).max() < 5e-5):
            # converged: evaluate once more only if it moved noticeably
            break
    m, score, gain, offset = best
    return m, max(score, 0.0), float(gain), float(offset)


def _phase_correlate(ref: np.ndarray, img: np.ndarray,
                     window: np.ndarray | None) -> tuple[tuple[float, float], float]:
    """cv2.phaseCorrelate on copies: OpenCV 5.0 multiplies its inputs by the window in place."""
    if window is None:
        (dx, dy), resp = cv2.phaseCorrelate(ref, img)
    else:
        (dx, dy), resp = cv2.phaseCorrelate(ref.copy(), img.copy(), window)
    return (float(dx), float(dy)), float(resp)


def _angular_signature(img: np.ndarray) -> np.ndarray:
    """Orientation signature of an image, invariant to translation: the log Fourier magnitude
    summed along rays, one value per 0.5 degree over 180 degrees (zero mean)."""
    h, w = img.shape
    win = cv2.createHanningWindow((w, h), cv2.CV_32F)
    x = (img - float(img.mean())) * win
    spec = cv2.dft(x, flags=cv2.DFT_COMPLEX_OUTPUT)
    mag = cv2.magnitude(spec[:, :, 0], spec[:, :, 1])
    mag = np.fft.fftshift(np.log1p(mag))
    radius = min(h, w) / 2.0
    polar = cv2.warpPolar(mag, (int(radius), _SIG_BINS), (w / 2.0, h / 2.0), radius,
                          cv2.WARP_POLAR_LINEAR)
    band = polar[:, int(radius * 0.1):int(radius * 0.9)].sum(1)
    sig = band[:_SIG_BINS // 2] + band[_SIG_BINS // 2:]
    return (sig - sig.mean()).astype(np.float64)


def _angle_hypotheses(model: AlignModel, sig: np.ndarray, max_deg: float) -> list[float]:
    """Candidate rotations (degrees, rigid_matrix convention): the best matches of the test's
    angular signature against the reference's, and no rotation."""
    if max_deg < 0.75:
        return [0.0]
    n = len(sig)
    step = 180.0 / n
    kmax = math.ceil(max_deg / step) + 1
    ks = np.arange(-kmax, kmax + 1)
    idx = (np.arange(n)[None, :] + ks[:, None]) % n
    cc = sig[idx] @ model.signature
    order = np.argsort(-cc)
    out: list[float] = []
    for j in order:
        if not (0 < j < len(cc) - 1 and cc[j] >= cc[j - 1] and cc[j] >= cc[j + 1]):
            continue  # not an interior local maximum
        angle = -float(ks[j]) * step
        if all(abs(angle - a) > 1.0 for a in out):
            out.append(angle)
        if len(out) == 2:
            break
    if all(abs(a) > 1.0 for a in out):
        out.append(0.0)
    return out


def _coarse_search(model: AlignModel, pyr: list[np.ndarray], params: AlignParams,
                   photometric: tuple[float, float]) -> np.ndarray:
    """Best start (matrix in coarse-level coordinates). No rotation is tried first (the common
    case and the cheapest); only when it does not fit are the rotations suggested by the
    orientation signature tried. Each hypothesis gets translation candidates from phase
    correlation and a short Gauss-Newton fit; the best correlation wins."""
    coarse = model.coarse_index
    cimg = _smooth(pyr[coarse]).astype(np.float32)
    h, w = cimg.shape
    center = ((w - 1) / 2.0, (h - 1) / 2.0)
    motion = "euclidean" if params.motion != "translation" else "translation"
    best_m, best_s = np.eye(2, 3), -1.0
    angles = [0.0]
    signature_tried = params.max_rotation_deg < 0.75
    while angles:
        angle = angles.pop(0)
        rot = rigid_matrix(0.0, 0.0, angle, center=center)
        img = cimg if angle == 0.0 else cv2.warpAffine(
            cimg, rot, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE)
        # translation candidates: windowed phase correlation (robust), unwindowed (features near
        # the border, which the window hides), and none (a nearly blank part)
        for window in (model.coarse_window, None, "zero"):
            if isinstance(window, str):
                dx = dy = 0.0
            else:
                (dx, dy), _ = _phase_correlate(model.coarse_image, img, window)
            start = compose(rot, np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float64))
            m, score, _, _ = _gauss_newton(model.levels[coarse], cimg, start, motion, 10, photometric)
            if score > best_s:
                best_m, best_s = m, score
            if best_s > 0.9:
                return best_m
        if not angles and not signature_tried:
            signature_tried = True
            sig = _angular_signature(_smooth(pyr[max(0, coarse - 1)]).astype(np.float32))
            angles = [a for a in _angle_hypotheses(model, sig, params.max_rotation_deg) if abs(a) > 0.5]
    return best_m


def _coverage(matrix: np.ndarray, image_shape: tuple[int, int], roi: tuple[int, int, int, int]) -> float:
    """Fraction of ``roi`` (reference x, y, w, h) that the acquired image covers after alignment.
    The ROI is taken one pixel in from its border: a sub-pixel shift of the part does not leave a
    pixel uninspected (interpolation covers it)."""
    x, y, w, h = roi
    if w > 4 and h > 4:
        x, y, w, h = x + 1, y + 1, w - 2, h - 2
    ih, iw = image_shape
    corners = np.array([[0, 0], [iw, 0], [iw, ih], [0, ih]], dtype=np.float64) - 0.5
    inv = invert(matrix)
    quad = (corners @ inv[:, :2].T + inv[:, 2]).astype(np.float32)
    rect = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float32) - 0.5
    area, _ = cv2.intersectConvexConvex(quad, rect)
    return float(min(1.0, area / float(w * h))) if w * h > 0 else 0.0


def align(model: AlignModel, image: np.ndarray, params: AlignParams | None = None, *,
          roi: tuple[int, int, int, int] | None = None) -> Alignment:
    """Register ``image`` to the reference of ``model``; see the module docstring."""
    params = params or AlignParams()
    grey = to_grey8(image, what="image")
    h, w = model.shape
    if grey.shape != model.shape:
        return Alignment.failed(f"image is {grey.shape[1]}x{grey.shape[0]} px but the reference is "
                                f"{w}x{h} px")
    if params.motion == "none":  # the recipe takes parts as acquired (already in one frame)
        ident = np.eye(2, 3)
        return Alignment(matrix=ident, score=1.0, ok=True, reason="not aligned (recipe: motion none)",
                         coverage=_coverage(ident, grey.shape, roi or (0, 0, w, h)))
    coarse = model.coarse_index
    pyr = _pyramid(grey, model.n_levels)
    ref_mean, ref_std = model.stats
    img_mean, img_std = (float(v[0, 0]) for v in cv2.meanStdDev(pyr[coarse]))
    if len(model.levels[coarse].points) < 20:
        # a reference without structure looks the same at every position: the nominal position is
        # as right as any (the comparison cannot depend on it)
        logger.debug("reference has no structure: nominal position used")
        ident = np.eye(2, 3)
        return Alignment(matrix=ident, score=1.0, ok=True, gain=1.0, offset=img_mean - ref_mean,
                         coverage=_coverage(ident, grey.shape, roi or (0, 0, w, h)))
    if img_std < max(1.5, 0.15 * ref_std):
        return Alignment.failed(f"no contrast in the image (grey-level spread {img_std:.1f}, the "
                                f"reference has {ref_std:.1f}): part missing, light off or lens covered")
    gain0 = max(img_std / ref_std, 1e-3) if ref_std > 1e-6 else 1.0
    photometric = (gain0, img_mean - gain0 * ref_mean)
    result = _refine(model, pyr, params, photometric, grey, roi, params.motion)
    if not result.ok and params.motion == "affine" and "scale" in result.reason:
        # few features constrain an affine fit poorly: a similarity fit may be right
        retry = _refine(model, pyr, params, photometric, grey, roi, "similarity")
        if retry.ok:
            return retry
    return result


def _refine(model: AlignModel, pyr: list[np.ndarray], params: AlignParams,
            photometric: tuple[float, float], grey: np.ndarray,
            roi: tuple[int, int, int, int] | None, fine_motion: str) -> Alignment:
    h, w = model.shape
    coarse = model.coarse_index
    m = _coarse_search(model, pyr, params, photometric)
    score, gain, offset = 0.0, photometric[0], photometric[1]
    finest = min(params.finest_level, model.n_levels - 1)
    for index in range(coarse - 1, finest - 1, -1):
        level = model.levels[index]
        motion = fine_motion if index <= max(finest, 1) else (
            "similarity" if fine_motion in ("similarity", "affine") else fine_motion)
        m = _to_level(_from_level(m, index + 1), index)
        m, score, gain, offset = _gauss_newton(level, _smooth(pyr[index]), m, motion,
                                               8 if index > finest else 4, photometric)
        photometric = (gain, offset)
    matrix = _from_level(m, finest)
    sl = min(_SCORE_LEVEL, model.n_levels - 1)
    if sl != finest:
        _, score, _, _ = _gauss_newton(model.levels[sl], _smooth(pyr[sl]), _to_level(matrix, sl),
                                       fine_motion if sl <= 1 else "similarity", 0, photometric)
    gain, offset = _light(model, grey, matrix, (gain, offset))
    result = Alignment(matrix=matrix, score=score, ok=True, gain=float(gain), offset=float(offset),
                       coverage=_coverage(matrix, grey.shape, roi or (0, 0, w, h)))
    reason = _out_of_range(result, (w, h), params)
    if reason:
        return Alignment(matrix=matrix, score=score, ok=False, reason=reason, gain=result.gain,
                         offset=result.offset, coverage=result.coverage)
    return result


#: Percentiles matched between reference and part for the light: the tails (rare bright or dark
#: phases: the gold pads and print of a photographed board) as well as the body.
_LIGHT_LEVELS = np.array([0.2, 0.5, 1, 2, 3.5, 5, 7.5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70,
                          75, 80, 85, 90, 92.5, 95, 96.5, 98, 99, 99.5, 99.8]) / 100.0


def _matched_quantiles(v: np.ndarray) -> np.ndarray:
    """The values of ``v`` at :data:`_LIGHT_LEVELS` (nearest rank)."""
    idx = (_LIGHT_LEVELS * (len(v) - 1)).astype(np.intp)
    return np.sort(v)[idx].astype(np.float64)


def _line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares line y = a x + b (closed form; ``x`` must not be constant)."""
    xm, ym = float(x.mean()), float(y.mean())
    dx = x - xm
    a = float(dx @ (y - ym)) / float(dx @ dx)
    return a, ym - a * xm


def _light(model: AlignModel, grey: np.ndarray, matrix: np.ndarray,
           fallback: tuple[float, float]) -> tuple[float, float]:
    """Gain and offset of the light: a straight line through the matched percentiles (0.2nd to
    99.8th) of the reference and of the part on a regular grid of reference points, refitted once
    without the points far off it (over 3x the median residual and 2 levels: clipped highlights).
    Matched percentiles do not depend on where a defect or a resampled edge falls, nor do they
    shrink the gain as a regression of the part's values on the (noisy) reference's would; the
    tails give the gain the whole grey range as its lever (the gold pads and print of a
    photographed board are a few percent of it; its solder mask spans a few grey levels, where
    noise and texture hide the gain)."""
    pts, ref_vals = model.light_grid
    q = cv2.transform(pts, matrix)
    h, w = grey.shape
    qx, qy = q[:, 0, 0], q[:, 0, 1]
    inside = (qx >= 0) & (qx <= w - 1) & (qy >= 0) & (qy <= h - 1)
    if np.count_nonzero(inside) < 0.3 * len(inside):
        return fallback
    vals = cv2.remap(grey, q, None, cv2.INTER_LINEAR).ravel()
    x = _matched_quantiles(ref_vals[inside])
    y = _matched_quantiles(vals[inside].astype(np.float64))
    if np.ptp(x) < 4 or np.ptp(y) < 2:
        return fallback
    gain, offset = _line(x, y)
    resid = np.abs(y - (gain * x + offset))
    keep = resid <= max(3.0 * float(np.median(resid)), 5.0)
    if np.count_nonzero(~keep) and np.ptp(x[keep]) >= 4:
        gain, offset = _line(x[keep], y[keep])
    if not 0.2 < gain < 5.0:
        return fallback
    return gain, offset


def _out_of_range(al: Alignment, size: tuple[int, int], params: AlignParams) -> str:
    if al.score < params.min_score:
        return (f"part not recognisable: alignment score {al.score:.2f} below "
                f"{params.min_score:.2f}")
    w, h = size
    dx, dy = al.shift_about(((w - 1) / 2.0, (h - 1) / 2.0))
    limit = params.max_shift * max(w, h)
    if abs(dx) > limit * 1.05 or abs(dy) > limit * 1.05:
        return f"shift ({dx:.1f}, {dy:.1f}) px is beyond the allowed {limit:.1f} px"
    if abs(al.angle_deg) > params.max_rotation_deg + 0.5:
        return f"rotation {al.angle_deg:.2f} deg is beyond the allowed {params.max_rotation_deg} deg"
    sv = np.linalg.svd(al.matrix[:, :2], compute_uv=False)
    if sv.max() > 1 + params.max_scale or sv.min() < 1 - params.max_scale:
        return f"scale {sv.min():.3f}..{sv.max():.3f} is beyond the allowed +-{params.max_scale:.3f}"
    return ""
