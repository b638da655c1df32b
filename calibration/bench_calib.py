"""``inspection bench calibration``: calibration accuracy against cameras with known answers.

For each known camera and board: render views (several poses, blur, noise), add a view without a
board and one whose corners were mis-detected (2 px noise), run the calibration as the command does
and compare with the truth: focal lengths (%), principal point (% of the image size), RMS
reprojection error, the undistortion maps (largest point error over the image), which views were
rejected. Then the scale: a disc of known size, and a board lying on the inspection plane.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from calibration.board import Board, BoardView
from calibration.camera import CameraCalibration
from calibration.intrinsics import calibrate, find_views
from calibration.render import BoardRenderer, Camera, look_at_poses, undistort_normalised
from calibration.scale import Target, scale_from_board, scale_from_target
from calibration.undistort import Undistorter
from inspection.progress import Progress

CAMERAS = {
    "640x480 f800 barrel": Camera.simple((640, 480), f=800.0, dist=(-0.18, 0.06, 0.0008, -0.0005, 0.0)),
    "1280x960 f1400 strong barrel": Camera.simple(
        (1280, 960), f=1400.0, centre=(655.0, 470.0), dist=(-0.30, 0.12, 0.0, 0.0, -0.02)
    ),
    "1024x768 f2400 tele pincushion": Camera.simple(
        (1024, 768), f=2400.0, aspect=1.002, dist=(0.05, 0.0, -0.0004, 0.0003, 0.0)
    ),
}
BOARDS = {"checkerboard:9x6": dict(square_mm=10.0), "charuco:9x7": dict(square_mm=10.0)}


@dataclass(frozen=True)
class CalibBenchConfig:
    out: Path
    views: int = 15
    seed: int = 0
    threads: int = 1
    progress: bool = True


def _undistort_error(cal: CameraCalibration, camera: Camera, covered: np.ndarray | None = None) -> float:
    """How far the estimated undistortion bends the image differently from the true one: the largest
    residual (px) between the points it produces and the true undistorted points, after the best
    affine fit between the two (a global shift, scale or shear is the pose and the mm-per-pixel
    calibration's business, not the lens model's). Over a grid on the image, or its ``covered`` part."""
    w, h = camera.size
    ys, xs = np.mgrid[0 : h : max(1, h // 24), 0 : w : max(1, w // 32)]
    if covered is not None:
        inside = covered[ys, xs] > 0
        xs, ys = xs[inside], ys[inside]
    pix = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
    truth = (
        undistort_normalised(camera, pix) * [camera.matrix[0, 0], camera.matrix[1, 1]] + camera.matrix[:2, 2]
    )
    est = Undistorter(cal).points(pix)
    design = np.column_stack([est, np.ones(len(est))])
    coef, *_ = np.linalg.lstsq(design, truth, rcond=None)
    return float(np.linalg.norm(design @ coef - truth, axis=1).max())


def _one(camera_name: str, camera: Camera, spec: str, cfg: CalibBenchConfig) -> dict[str, Any]:
    board = Board.parse(spec, **BOARDS[spec])  # type: ignore[arg-type]
    t0 = time.perf_counter()
    renderer = BoardRenderer(camera, board, supersample=2)
    poses = look_at_poses(
        board, cfg.views, camera=camera, seed=cfg.seed, spread=0.8 if board.kind == "checkerboard" else 1.3
    )
    images = [(f"view{i:02d}", renderer.render(rv, tv, seed=i)) for i, (rv, tv) in enumerate(poses)]
    w, h = camera.size
    images.append(("no_board", np.full((h, w), 128, np.uint8)))
    found, rejected, size = find_views(images, board)
    if found:  # one view with mis-detected corners
        _, v = found[-1]
        noisy = v.image_points + np.random.default_rng(1).normal(0, 2.0, v.image_points.shape).astype(
            np.float32
        )
        found.append(("misdetected", BoardView(noisy, v.object_points)))
    cal = calibrate(found, size, rejected=rejected, board=board)
    k = camera.matrix
    covered = np.zeros((h, w), np.uint8)
    used = {v.name for v in cal.used_views}
    for name, v in found:
        if name in used:
            cv2.fillConvexPoly(covered, cv2.convexHull(v.image_points.astype(np.int32)), 255)
    return {
        "camera": camera_name,
        "board": spec,
        "views": len(images) + 1,
        "used": len(cal.used_views),
        "rejected": {v.name: v.reason for v in cal.rejected_views},
        "fx_err_pct": (cal.fx / k[0, 0] - 1) * 100,
        "fy_err_pct": (cal.fy / k[1, 1] - 1) * 100,
        "cx_err_pct_of_width": (cal.cx - k[0, 2]) / w * 100,
        "cy_err_pct_of_height": (cal.cy - k[1, 2]) / h * 100,
        "rms_px": cal.rms_px,
        "undistort_max_err_px": _undistort_error(cal, camera),
        "undistort_max_err_covered_px": _undistort_error(cal, camera, covered),
        "coverage": cal.coverage,
        "seconds": time.perf_counter() - t0,
    }


def _scale_rows(cfg: CalibBenchConfig) -> list[dict[str, Any]]:
    rows = []
    # a disc, 12.5 mm across, imaged 157.3 px across
    ss, (h, w) = 8, (300, 400)
    big = np.full((h * ss, w * ss), 215, np.uint8)
    d_px = 157.3
    cv2.circle(big, (round(201.3 * ss), round(148.6 * ss)), round(d_px / 2 * ss), 35, -1)
    img = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    img = cv2.GaussianBlur(img, (0, 0), 0.8) + np.random.default_rng(cfg.seed).normal(0, 2.0, img.shape)
    disc = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    r = scale_from_target(disc, Target.parse("circle:12.5"))
    truth = 12.5 / d_px
    rows.append(
        {
            "method": "disc 12.5 mm",
            "truth_mm_per_px": truth,
            "measured": r.mm_per_px,
            "err_pct": (r.mm_per_px / truth - 1) * 100,
        }
    )
    # a board lying on the plane 600 mm in front of the distorting camera, undistorted with its calibration
    cam = CAMERAS["640x480 f800 barrel"]
    board = Board.parse("checkerboard:9x6", square_mm=10.0)
    centre = np.array([4 * 10.0, 2.5 * 10.0, 0.0])
    for z, tilt in ((600.0, 0.0), (300.0, 0.0), (300.0, 3.0)):
        rot, _ = cv2.Rodrigues(np.array([math.radians(tilt), 0.0, 0.0]))
        tvec = np.array([0.0, 0.0, z]) - rot @ centre
        rvec, _ = cv2.Rodrigues(rot)
        view = BoardRenderer(cam, board, supersample=2).render(rvec.ravel(), tvec, seed=3)
        und = Undistorter(CameraCalibration(cam.matrix, cam.dist, cam.size, 0.0))
        r = scale_from_board(view, board, undistorter=und)
        truth = z / cam.matrix[0, 0]
        rows.append(
            {
                "method": f"board, {10.0 / truth:.0f} px/square, tilt {tilt:g} deg",
                "truth_mm_per_px": truth,
                "measured": r.mm_per_px,
                "err_pct": (r.mm_per_px / truth - 1) * 100,
                "variation_pct": r.variation * 100,
            }
        )
    return rows


def run(cfg: CalibBenchConfig) -> dict[str, Any]:
    cv2.setNumThreads(max(1, cfg.threads))
    jobs = [(c, s) for c in CAMERAS for s in BOARDS]
    bar = Progress(len(jobs), "calibrating known cameras", enabled=cfg.progress)
    rows = []
    for cam_name, spec in jobs:
        rows.append(_one(cam_name, CAMERAS[cam_name], spec, cfg))
        bar.update(note=f"{cam_name} {spec}")
    summary = {
        "config": {"views": cfg.views, "seed": cfg.seed},
        "intrinsics": rows,
        "scale": _scale_rows(cfg),
    }
    cfg.out.mkdir(parents=True, exist_ok=True)
    (cfg.out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def format_table(s: dict[str, Any]) -> str:
    head = (
        f"{'camera':<31} {'board':<17} {'used':>7} {'fx %':>7} {'fy %':>7} {'cx %w':>7} {'cy %h':>7} "
        f"{'RMS px':>7} {'undist px':>9} {'(seen)':>7} {'cover':>6} {'s':>5}"
    )
    lines = [head, "-" * len(head)]
    for r in s["intrinsics"]:
        lines.append(
            f"{r['camera']:<31} {r['board']:<17} {r['used']:>3}/{r['views']:<3} {r['fx_err_pct']:>+7.3f} "
            f"{r['fy_err_pct']:>+7.3f} {r['cx_err_pct_of_width']:>+7.3f} {r['cy_err_pct_of_height']:>+7.3f} "
            f"{r['rms_px']:>7.3f} {r['undistort_max_err_px']:>9.3f} "
            f"{r['undistort_max_err_covered_px']:>7.3f} "
            f"{r['coverage']:>6.0%} {r['seconds']:>5.1f}"
        )
        for name, why in r["rejected"].items():
            lines.append(f"    rejected {name}: {why[:90]}")
    lines += ["", f"{'scale':<34} {'truth mm/px':>12} {'measured':>12} {'error %':>9}"]
    for r in s["scale"]:
        lines.append(
            f"{r['method']:<34} {r['truth_mm_per_px']:>12.6f} {r['measured']:>12.6f} {r['err_pct']:>+9.3f}"
        )
    return "\n".join(lines)
