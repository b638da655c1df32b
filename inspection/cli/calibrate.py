"""``inspection calibrate ...``: camera intrinsics and lens distortion, millimetres per pixel.

The work is done by the ``calibration`` package, imported when a sub-command runs (the core never
imports it at module level).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "calibrate",
        help="camera intrinsics and distortion, mm per pixel",
        description="Calibrate the camera (intrinsics, lens distortion) from views of a board, and the scale "
        "(mm per pixel) on the inspection plane.",
    )
    csub = p.add_subparsers(dest="what", metavar="WHAT")
    i = csub.add_parser(
        "intrinsics",
        help="camera matrix and distortion from board views",
        description="Finds the board in every image, calibrates, rejects bad views (board not found, too "
        "few corners, reprojection error far above the others) and writes the camera file.",
    )
    i.add_argument("--images", type=Path, required=True, metavar="DIR", help="folder of board views")
    _board_args(i, required=True)
    i.add_argument("--out", type=Path, required=True, metavar="FILE.json")
    i.add_argument("--min-views", type=int, default=5, help="fewest usable views (default 5)")
    i.add_argument(
        "--outlier-factor",
        type=float,
        default=3.0,
        help="reject a view whose error exceeds this x the median (default 3)",
    )
    i.add_argument("--fix-aspect", action="store_true", help="assume square pixels (fx = fy)")
    i.add_argument("--zero-tangent", action="store_true", help="no tangential distortion (p1 = p2 = 0)")
    i.add_argument("--no-k3", action="store_true", help="no k3 term (few views or mild distortion)")
    i.add_argument("--threads", type=int, default=1, help="OpenCV threads (default 1)")
    i.add_argument("--quiet", action="store_true", help="no progress output")
    i.set_defaults(func=_intrinsics)
    s = csub.add_parser(
        "scale",
        help="mm per pixel from a target of known size or a board on the inspection plane",
        description="Measures the scale on one image of a target lying where the parts lie: a disc or "
        "hole (--target circle:D), a gauge block (--target rect:WxH), or a calibration board (--board).",
    )
    s.add_argument("--image", type=Path, required=True, metavar="FILE")
    s.add_argument("--target", default=None, metavar="SPEC", help="circle:DIAMETER or rect:WIDTHxHEIGHT, mm")
    _board_args(s, required=False)
    s.add_argument(
        "--camera",
        type=Path,
        default=None,
        metavar="FILE.json",
        help="undistort with this camera calibration first (use when the recipe is undistorted)",
    )
    s.add_argument("--out", type=Path, required=True, metavar="FILE.json")
    s.set_defaults(func=_scale)


def _board_args(p: argparse.ArgumentParser, *, required: bool) -> None:
    p.add_argument(
        "--board",
        required=required,
        default=None,
        metavar="SPEC",
        help="checkerboard:COLSxROWS (inner corners) or charuco:COLSxROWS (squares)",
    )
    p.add_argument("--square-mm", type=float, default=None, help="side of one board square, mm")
    p.add_argument(
        "--marker-mm", type=float, default=None, help="ChArUco marker side, mm (default 0.75 x square)"
    )
    p.add_argument(
        "--dictionary", default="DICT_5X5_100", help="ChArUco ArUco dictionary (default DICT_5X5_100)"
    )


def _board(args: argparse.Namespace) -> Any:
    from calibration.board import Board
    from inspection.errors import ConfigError

    if args.square_mm is None:
        raise ConfigError("--square-mm is required with --board", field="square_mm")
    return Board.parse(
        args.board, square_mm=args.square_mm, marker_mm=args.marker_mm, dictionary=args.dictionary
    )


def _intrinsics(args: argparse.Namespace) -> int:
    import cv2

    from calibration.images import image_files, read_all
    from calibration.intrinsics import CalibrationParams, calibrate, find_views

    cv2.setNumThreads(max(1, args.threads))
    board = _board(args)
    files = image_files(args.images)
    found, rejected, size = find_views(read_all(files), board, total=len(files), progress=not args.quiet)
    params = CalibrationParams(
        min_views=args.min_views,
        outlier_factor=args.outlier_factor,
        fix_aspect=args.fix_aspect,
        zero_tangent=args.zero_tangent,
        k3=not args.no_k3,
    )
    cal = calibrate(found, size, params=params, rejected=rejected, board=board)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cal.save(args.out)
    print(f"{'view':<28} {'used':<5} {'corners':>7} {'error px':>9}  reason")
    for v in cal.views:
        err = "" if v.error_px is None else f"{v.error_px:.3f}"
        print(f"{v.name:<28} {'yes' if v.used else 'NO':<5} {v.corners:>7} {err:>9}  {v.reason}")
    print(cal.summary())
    if cal.coverage is not None and cal.coverage < 0.5:
        print(
            f"warning: the board covered only {cal.coverage:.0%} of the image; add views near the corners "
            "and edges so that the distortion is known there"
        )
    print(f"wrote {args.out}")
    return 0


def _scale(args: argparse.Namespace) -> int:
    from calibration.camera import CameraCalibration
    from calibration.scale import Target, scale_from_board, scale_from_target
    from calibration.undistort import Undistorter
    from inspection.errors import ConfigError
    from inspection.imageio import read_image

    if (args.target is None) == (args.board is None):
        raise ConfigError("give either --target or --board", field="target")
    image = read_image(args.image)
    und = Undistorter(CameraCalibration.load(args.camera)) if args.camera else None
    if args.target is not None:
        result = scale_from_target(image, Target.parse(args.target), undistorter=und)
    else:
        result = scale_from_board(image, _board(args), undistorter=und)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result.save(args.out)
    print(
        f"scale           {result.mm_per_px:.6f} mm/px  ({1 / result.mm_per_px:.3f} px/mm), "
        f"method {result.method}{', undistorted' if result.undistorted else ''}"
    )
    print(f"anisotropy      {result.anisotropy:+.3%}")
    if result.method == "board":
        print(f"variation       {result.variation:.3%} across the board")
    for w in result.warnings():
        print(f"warning: {w}")
    print(f"wrote {args.out}")
    return 0
