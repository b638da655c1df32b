"""``inspection detect``: inspect one part image against a golden reference, or with a taught
recipe bundle (``--recipe``: its detector, model, thresholds and undistortion, as the station runs it).

Exit code: 0 the part passes, 1 it is rejected, 2 bad input (the message says why).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "detect", help="inspect one image against a golden reference and print the findings",
        description="Aligns PART to the golden reference, finds defects and prints them with the "
        "verdict. Exit code 0: pass, 1: reject, 2: bad input.")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--golden", type=Path, metavar="REF.png", help="golden reference image")
    what.add_argument("--recipe", type=Path, metavar="RECIPE_DIR",
                      help="a taught recipe bundle (inspection teach): inspected as the station would, with "
                      "the detector it names (a good-set recipe: its model; the overlay shows its heat map)")
    p.add_argument("--image", type=Path, required=True, metavar="PART.png", help="the part to inspect")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--overlay", type=Path, metavar="OUT.png", help="save a picture of the findings")
    p.add_argument("--material", choices=("dark", "bright"), default=None,
                   help="which phase is the material (default: dark; 'pcb' preset: dark copper)")
    p.add_argument("--classes", choices=("generic", "pcb"), default="generic",
                   help="'pcb': DeepPCB's defect types and scorer; 'generic': missing/extra/crack")
    p.add_argument("--tolerance", type=float, default=None, help="edge tolerance, px")
    p.add_argument("--threshold", type=float, default=None,
                   help="fraction of the reference contrast (default 0.2 for generic classes)")
    p.add_argument("--min-area", type=int, default=None, help="smallest defect, px")
    p.add_argument("--roi-margin", type=int, default=0,
                   help="inspect only this far inside the image border, px (a part that moved more "
                   "than the margin is not completely inspected and is rejected)")
    p.add_argument("--detector", default=None, help="detector name (default: classical)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import cv2

    from inspection.bench.deeppcb_data import deeppcb_params, shipped_scorer
    from inspection.errors import ConfigError
    from inspection.imageio import read_image
    from inspection.pipeline import inspect
    from inspection.recipe.definition import Recipe, prepare
    from inspection.recipe.params import AlignParams, DetectParams, detect_defaults
    from inspection.vision.detector import detectors
    from inspection.vision.overlay import draw_overlay, overlay_shapes

    if args.recipe is not None:
        return _run_recipe(args)
    if args.detector == "goodset":
        raise ConfigError("the goodset detector judges with a taught model: give its recipe (--recipe RECIPE_DIR, "
                          "from inspection teach --detector goodset)", field="detector")
    golden = read_image(args.golden)
    part = read_image(args.image)
    if args.classes == "pcb":
        align, detect = deeppcb_params()
        scorer = shipped_scorer()
    else:
        align, detect, scorer = AlignParams(), detect_defaults(), None
    overrides = {k: v for k, v in (("tolerance_px", args.tolerance), ("threshold", args.threshold),
                                   ("min_area_px", args.min_area), ("material", args.material))
                 if v is not None}
    if overrides:
        detect = DetectParams(**{**detect.__dict__, **overrides})
    h, w = golden.shape
    m = args.roi_margin
    if m < 0 or 2 * m >= min(h, w):
        print(f"error: --roi-margin {m} does not fit the {w}x{h} image", file=sys.stderr)
        return 2
    roi = (m, m, w - 2 * m, h - 2 * m) if m else None
    recipe = Recipe(args.golden.stem, golden, align=align, detect=detect, scorer=scorer, roi=roi)
    detector = detectors.create(args.detector) if args.detector else None
    result = inspect(prepare(recipe), part, detector=detector)
    if args.overlay:
        picture = draw_overlay(part, overlay_shapes(result), verdict=result.verdict.value)
        cv2.imwrite(str(args.overlay), picture)
    return _report(args, result)


def _report(args: argparse.Namespace, result: Any) -> int:
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        _print(result)
    return 0 if result.verdict.value == "pass" else 1


#: --golden options that a recipe bundle already holds
_RECIPE_HOLDS = ("material", "tolerance", "threshold", "min_area", "detector")


def _run_recipe(args: argparse.Namespace) -> int:
    import cv2

    from calibration.bundle import load_bundle
    from inspection.errors import ConfigError
    from inspection.imageio import read_image
    from inspection.pipeline import inspect
    from inspection.recipe.definition import prepare
    from inspection.station.recipes import make_detector
    from inspection.vision.heatmap import colourise, levels_in_image
    from inspection.vision.overlay import draw_overlay, overlay_shapes

    given = [f"--{k.replace('_', '-')}" for k in _RECIPE_HOLDS if getattr(args, k) is not None]
    if args.classes != "generic":
        given.append("--classes")
    if args.roi_margin:
        given.append("--roi-margin")
    if given:
        raise ConfigError(f"{', '.join(given)}: the recipe holds its own settings (teach it again, or tune "
                          "it on the HMI)", field="recipe")
    bundle = load_bundle(args.recipe)
    part = read_image(args.image)
    undistort = bundle.undistorter()
    if undistort is not None:  # the recipe was taught on undistorted images: the station undistorts each frame
        part = undistort(part)
    result = inspect(prepare(bundle.recipe), part, detector=make_detector(bundle.recipe))
    if args.overlay:
        picture = part
        if result.heat_map is not None:  # where the model saw the part differ from the good ones
            picture = colourise(part, levels_in_image(result.heat_map, result.alignment, part.shape[:2],
                                                      max_side=max(part.shape[:2])))
        cv2.imwrite(str(args.overlay), draw_overlay(picture, overlay_shapes(result), verdict=result.verdict.value))
    return _report(args, result)


def _print(result: Any) -> None:
    al = result.alignment
    print(f"verdict: {result.verdict.value.upper()}  ({result.code.name}: {result.message})")
    if al is not None:
        dx, dy = al.shift
        print(f"alignment: score {al.score:.3f}, shift ({dx:.2f}, {dy:.2f}) px, rotation "
              f"{al.angle_deg:.3f} deg, gain {al.gain:.3f}, offset {al.offset:.1f}, "
              f"coverage {al.coverage:.1%}")
    rep = [f for f in result.findings if f.reported]
    print(f"findings: {len(rep)} reported, {len(result.findings) - len(rep)} below the threshold")
    for f in sorted(result.findings, key=lambda f: -f.score):
        x1, y1, x2, y2 = f.box
        mark = "*" if f.reported else " "
        print(f" {mark} {f.defect_class.label:<12} score {f.score:.3f}  "
              f"box ({x1:.0f},{y1:.0f})-({x2:.0f},{y2:.0f})  area {f.area_px} px  {f.polarity.value}")
    times = ", ".join(f"{k} {v:.1f} ms" for k, v in result.timings_ms.items())
    print(f"timings: {times}")
