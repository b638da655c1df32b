"""``inspection teach``: a recipe bundle from a folder of good parts.

The work is done by the ``calibration`` package, imported when the command runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # (the command imports them when it runs)
    from calibration.camera import CameraCalibration
    from calibration.scale import ScaleCalibration
    from calibration.undistort import Undistorter

    Calibrations = tuple[CameraCalibration | None, ScaleCalibration | None, float | None, Undistorter | None]


def _roi(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected X,Y,W,H in pixels, got {text!r}") from exc
    return x, y, w, h


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "teach",
        help="teach a part type from good parts: golden reference, variation, threshold",
        description="Aligns the good parts, builds the golden reference (median) and the per-pixel variation "
        "model, sets aside parts that do not belong (with the reason), scores every part held out "
        "(cross-validation, through the station's own pipeline), sets the threshold at the target "
        "false-reject rate and writes a versioned, hashed recipe bundle.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--good", type=Path, metavar="DIR", help="folder of good-part images")
    src.add_argument("--live", metavar="DRIVER",
                     help="teach from the live camera: grab --count good parts with this camera driver "
                     "(pylon, usb, replay; see `inspection camera list`), one software trigger each")
    p.add_argument("--out", type=Path, required=True, metavar="RECIPE_DIR")
    p.add_argument("--name", default=None, help="recipe name (default: the folder name of --out)")
    p.add_argument("--number", type=int, default=0, help="PLC recipe number 0..999 (default 0)")
    p.add_argument("--target-frr", type=float, default=None,
                   help="target false-reject rate (default 0.001; 0.01 with --detector goodset)")
    p.add_argument(
        "--confidence", type=float, default=0.95, help="confidence of the FRR guarantee (default 0.95)"
    )
    p.add_argument(
        "--material",
        choices=("dark", "bright"),
        default="dark",
        help="whether the material is the dark or the bright phase (for defect classes)",
    )
    p.add_argument(
        "--roi",
        type=_roi,
        default=None,
        metavar="X,Y,W,H",
        help="inspection region, reference pixels (default: the image less a margin)",
    )
    p.add_argument(
        "--roi-margin",
        type=int,
        default=None,
        metavar="PX",
        help="margin of the default ROI (default: from the taught parts' motion)",
    )
    p.add_argument(
        "--ignore", type=Path, default=None, metavar="MASK.png", help="nonzero pixels are not inspected"
    )
    p.add_argument(
        "--min-area", type=int, default=None, metavar="PX", help="smallest defect area (default 12)"
    )
    p.add_argument(
        "--camera", type=Path, default=None, metavar="FILE.json", help="camera calibration to store"
    )
    p.add_argument(
        "--undistort", action="store_true", help="undistort every image with --camera (the station will too)"
    )
    p.add_argument(
        "--scale", type=Path, default=None, metavar="FILE.json", help="scale calibration (mm per pixel)"
    )
    p.add_argument(
        "--mm-per-px", type=float, default=None, help="scale, when not measured with calibrate scale"
    )
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    p.add_argument(
        "--detector",
        choices=("classical", "goodset"),
        default="classical",
        help="'classical': golden reference and tolerance band; 'goodset': a good-set model (patch "
        "features of good parts, memory bank, and an image-level term: a part's pooled features "
        "against its nearest taught parts', less half of how high those scored when held out; every "
        "part is also taught over-lit) the recipe carries (default classical)",
    )
    g = p.add_argument_group("good-set detector (--detector goodset)")
    g.add_argument("--no-align", action="store_true",
                   help="the parts are already in one frame (e.g. cropped tiles; other sizes are "
                   "scaled to the most common one): do not align them. The recipe's alignment motion is "
                   "'none': the station inspects each part as acquired too (same frame, and the size the "
                   "recipe was taught at)")
    g.add_argument("--short-side", type=int, default=224, help="feature scale, px (default 224)")
    g.add_argument("--bank-size", type=int, default=5000,
                   help="memory bank size with --bank-knn 0 (default 5000)")
    g.add_argument("--bank-knn", type=int, default=None, metavar="K",
                   help="local bank: compare a part's patches with those of its K nearest taught parts "
                   "(by the image-level descriptor; default 10; calibration leave-one-out, so --folds, "
                   "--bank-size and --max-patches are not used). 0: one coreset bank of all taught "
                   "patches (the default before round 8 of docs/benchmarks.md; always with --features "
                   "per-block)")
    g.add_argument("--part-pattern", default=None, metavar="REGEX",
                   help="several images of one physical part (other lights or poses): group 1 of REGEX "
                   "in a file name names the part, and calibration keeps its images together (else each "
                   "image is calibrated against the others of its own part and the threshold comes out "
                   "too low for new parts); e.g. '^(part\\d+)_'")
    g.add_argument("--tile-rows", type=int, default=None, metavar="N",
                   help="local bank: patches kept per taught part (a coreset; default 250)")
    g.add_argument("--top-k", type=int, default=50, help="image score: mean of the k worst patches")
    g.add_argument("--max-patches", type=int, default=200_000,
                   help="the coreset is chosen among this many patches (a seeded sample; default "
                   "200,000): teach time grows with it")
    g.add_argument("--features", choices=("joint", "per-block"), default="joint",
                   help="one memory bank of all the extractor's channels (joint, default) or one per "
                   "tapped block (per-block: blocks 7 and 10 of effnet-lite0, their distances added in "
                   "units of their held-out spread). Measured on MTD (docs/benchmarks.md): the same image "
                   "AUROC as joint on new runs, 1.5x the scoring time, 1.7x the teach time")
    g.add_argument("--extractor", default="effnet-lite0", help="patch feature extractor")
    g.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp32")
    lv = p.add_argument_group("live camera (--live DRIVER)")
    lv.add_argument("--count", type=int, default=20, help="good parts to grab (default 20)")
    lv.add_argument("--serial", help="device serial number")
    lv.add_argument("--emulated", action="store_true", help="a pylon camera-emulator device")
    lv.add_argument("--image-file", type=Path, help="image file or folder served by the emulator / replay")
    lv.add_argument("--exposure-us", type=float)
    lv.add_argument("--gain-db", type=float)
    lv.add_argument("--grab-timeout", type=float, default=5.0, help="seconds per frame (default 5)")
    lv.add_argument("--save-parts", type=Path, default=None, metavar="DIR",
                    help="also write the grabbed parts as PNG (to re-teach from files later)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing recipe folder")
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the summary as JSON")
    p.add_argument("--threads", type=int, default=1, help="OpenCV threads (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=_teach)


def grab_parts(args: argparse.Namespace) -> list[tuple[str, Any]]:
    """``--count`` frames of the live camera, one software trigger each: (name, grey image or the
    error that frame gave). Progress on stderr; ``--save-parts`` keeps them as PNG."""
    import sys

    import cv2

    from inspection.camera.contract import create_camera
    from inspection.camera.settings import parse_camera_settings
    from inspection.errors import ConfigError, InspectionError
    from inspection.imageio import to_grey8
    from inspection.progress import Progress

    if args.count < 1:
        raise ConfigError("must be >= 1", field="--count")
    data: dict[str, Any] = {"driver": args.live, "grab_timeout_s": args.grab_timeout,
                            "emulated": bool(args.emulated), "trigger": {"source": "software"}}
    for key in ("serial", "image_file", "exposure_us", "gain_db"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    if args.emulated:
        from inspection.cli.camera import ensure_emulated

        ensure_emulated(1)
    out: list[tuple[str, Any]] = []
    if args.save_parts is not None:
        args.save_parts.mkdir(parents=True, exist_ok=True)
    bar = Progress(args.count, "grabbing good parts", enabled=not args.quiet)
    with create_camera(parse_camera_settings(data)) as camera:
        camera.arm()
        for i in range(args.count):
            name = f"part_{i + 1:04d}"
            try:
                camera.trigger()
                frame = camera.grab()
                img = to_grey8(frame.pixels, what=name)
                name = f"part_{i + 1:04d}_frame{frame.frame_id}"
                out.append((name, img))
                if args.save_parts is not None:
                    cv2.imwrite(str(args.save_parts / f"{name}.png"), img)
            except InspectionError as exc:  # a bad frame is reported with the parts, not fatal
                out.append((name, exc))
            bar.update(note=name)
    bad = sum(isinstance(img, InspectionError) for _, img in out)
    print(f"grabbed {len(out) - bad} of {args.count} parts from {args.live}", file=sys.stderr)
    return out


def _images(args: argparse.Namespace, transform: Any = None) -> list[tuple[str, Any]]:
    from calibration.images import image_files, read_all

    if args.live:
        parts = grab_parts(args)
        return [(n, transform(i)) if transform is not None and not isinstance(i, Exception) else (n, i)
                for n, i in parts]
    return list(read_all(image_files(args.good), transform=transform))


def _calibrations(args: argparse.Namespace) -> Calibrations:
    """(camera calibration, scale calibration, mm per pixel, undistorter or None) of ``--camera``,
    ``--scale`` / ``--mm-per-px`` and ``--undistort``, for every detector alike: the bundle stores
    them, and the station undistorts its images as the recipe was taught."""
    from calibration.camera import CameraCalibration
    from calibration.scale import ScaleCalibration
    from calibration.undistort import Undistorter
    from inspection.errors import ConfigError

    if args.undistort and args.camera is None:
        raise ConfigError("--undistort needs --camera", field="undistort")
    if args.scale is not None and args.mm_per_px is not None:
        raise ConfigError("give --scale or --mm-per-px, not both", field="mm_per_px")
    camera = CameraCalibration.load(args.camera) if args.camera else None
    scale = ScaleCalibration.load(args.scale) if args.scale else None
    if scale is not None and scale.undistorted != args.undistort:
        print(
            "warning: the scale was measured on "
            + ("undistorted" if scale.undistorted else "raw")
            + " images, the recipe is taught on "
            + ("undistorted" if args.undistort else "raw")
            + " ones"
        )
    mm = scale.mm_per_px if scale else args.mm_per_px
    undistort = Undistorter(camera) if (args.undistort and camera is not None) else None
    return camera, scale, mm, undistort


def _teach(args: argparse.Namespace) -> int:
    from dataclasses import replace

    import cv2

    from calibration.bundle import write_bundle
    from calibration.teach import TeachParams, teach
    from calibration.teach_report import bundle_content, summary, thresholds_data
    from inspection.errors import ConfigError
    from inspection.imageio import read_image
    from inspection.recipe.params import DetectParams

    cv2.setNumThreads(max(1, args.threads))
    if args.out.exists() and not args.overwrite:
        raise ConfigError(f"{args.out} already exists (use --overwrite to replace it)", field="out")
    calibrations = _calibrations(args)
    if args.detector == "goodset":
        return _teach_goodset(args, calibrations)
    camera, scale, mm, undistort = calibrations
    detect = DetectParams(material=args.material)
    if args.min_area is not None:
        detect = replace(detect, min_area_px=args.min_area)
    params = TeachParams(
        name=args.name or args.out.name,
        number=args.number,
        detect=detect,
        roi=args.roi,
        roi_margin_px=args.roi_margin,
        ignore=read_image(args.ignore) if args.ignore else None,
        target_frr=0.001 if args.target_frr is None else args.target_frr,
        confidence=args.confidence,
        folds=args.folds,
        mm_per_px=mm,
    )
    images = _images(args, undistort)
    result = teach(images, params, progress=not args.quiet)
    manifest = write_bundle(
        result.recipe,
        args.out,
        bundle_content(result, camera=camera, scale=scale, undistort=args.undistort),
        overwrite=args.overwrite,
    )
    print(summary(result))
    print(f"wrote {args.out} (content hash {manifest['content_hash'][:16]}...)")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "recipe": str(args.out),
                    "content_hash": manifest["content_hash"],
                    **thresholds_data(result),
                },
                indent=1,
            )
        )
    return 0


def _teach_goodset(args: argparse.Namespace, calibrations: Calibrations) -> int:
    from dataclasses import replace

    from calibration.bundle import BundleContent, write_bundle
    from calibration.teach_goodset import GoodSetTeachParams, teach_goodset, thresholds_data
    from inspection.imageio import read_image
    from inspection.recipe.params import DetectParams
    from inspection.vision.goodset import FEATURE_LAYOUTS, feature_extractors

    camera, scale, mm, undistort = calibrations
    frr = 0.01 if args.target_frr is None else args.target_frr
    detect = DetectParams(material=args.material)
    if args.min_area is not None:
        detect = replace(detect, min_area_px=args.min_area)
    params = GoodSetTeachParams(
        name=args.name or args.out.name, number=args.number, detect=detect, roi=args.roi,
        ignore=read_image(args.ignore) if args.ignore else None, mm_per_px=mm,
        target_frr=frr, folds=args.folds, short_side=args.short_side, bank_size=args.bank_size,
        top_k=args.top_k, max_patches=args.max_patches, align_parts=not args.no_align,
        scales=FEATURE_LAYOUTS[args.features])
    if args.bank_knn is not None:  # (teach_goodset teaches per-block banks without a local bank)
        params = replace(params, bank_knn=args.bank_knn)
    if args.tile_rows is not None:
        params = replace(params, tile_rows=args.tile_rows)
    if args.part_pattern:
        params = replace(params, part_pattern=args.part_pattern)
    extract = feature_extractors.create(args.extractor, threads=args.threads, device="cpu",
                                        precision=args.precision)
    images = _images(args, undistort)
    result = teach_goodset(images, params, extract, extractor=str(getattr(extract, "name", args.extractor)),
                           progress=not args.quiet)
    data = thresholds_data(result)
    manifest = write_bundle(result.recipe, args.out,
                            BundleContent(thresholds=data, teach={"detector": "goodset", "timings_s": result.timings},
                                          camera=camera, scale=scale, undistort=args.undistort),
                            overwrite=args.overwrite)
    aside = [p for p in result.parts if p.status != "good"]
    print(f"good-set recipe {params.name!r}: {result.used} good parts taught, {len(aside)} set aside")
    for p in aside[:20]:
        print(f"  {p.name}: {p.status}: {p.reason}")
    print(f"threshold {result.model.threshold:.4f} at a {frr:.1%} target false-reject rate "
          f"({result.model.calibration_scores.size} held-out good scores); "
          f"taught in {result.timings['total']:.1f} s")
    if result.unusual:
        print("the taught parts least like the others (check they are good; one with a flaw raises the "
              "threshold: teach again without it):")
        for name, score in result.unusual:
            print(f"  {name}: held-out score {score:.4f} ({score / result.model.threshold:.2f} x threshold)")
    for warning in (result.few_parts_warning(), result.look_alike_warning()):
        if warning:
            print(f"WARNING: {warning}")
    print(f"wrote {args.out} (content hash {manifest['content_hash'][:16]}...)")
    if args.json:
        args.json.write_text(json.dumps({"recipe": str(args.out), "content_hash": manifest["content_hash"],
                                         **data}, indent=1))
    return 0
