"""``inspection recipe ...``: show and verify a recipe bundle, check it on parts it has not seen.

The work is done by the ``calibration`` package, imported when a sub-command runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("recipe", help="show, verify and check recipe bundles")
    rsub = p.add_subparsers(dest="action", metavar="ACTION")
    s = rsub.add_parser("show", help="verify a bundle (schema, hashes) and print what it holds")
    s.add_argument("recipe", type=Path, metavar="RECIPE_DIR")
    s.set_defaults(func=_show)
    c = rsub.add_parser(
        "check",
        help="inspect good (and bad) parts the recipe has not seen: FRR, detection",
        description="Runs every image through the station's pipeline with the recipe; good parts "
        "rejected are false rejects, bad parts passed are misses.",
    )
    c.add_argument("recipe", type=Path, metavar="RECIPE_DIR")
    c.add_argument("--good", type=Path, required=True, metavar="DIR")
    c.add_argument("--bad", type=Path, default=None, metavar="DIR")
    c.add_argument("--json", type=Path, default=None, metavar="FILE")
    c.add_argument("--threads", type=int, default=1)
    c.add_argument("--quiet", action="store_true")
    c.set_defaults(func=_check)


def _show(args: argparse.Namespace) -> int:
    from calibration.bundle import load_bundle

    b = load_bundle(args.recipe)
    m, r = b.manifest, b.recipe
    print(f"recipe          {r.name} (number {r.number}), schema {m['schema_version']}, "
          f"written {m['created_utc']}")
    print(f"content hash    {m['content_hash']}  (all {len(m['files'])} files verified)")
    ignore = "yes" if r.ignore is not None else "no"
    print(f"image           {r.shape[1]}x{r.shape[0]} px, ROI {r.roi_rect}, ignore mask {ignore}")
    if r.goodset is not None:  # (the golden comparison's threshold, area and material do not apply)
        print(f"detection       good-set model: a part scoring over its threshold gets one finding per area of "
              f"its anomaly map over it (at most {r.detect.max_findings})")
    else:
        print(
            f"detection       threshold {r.detect.threshold:g} x contrast, min area {r.detect.min_area_px} px, "
            f"material {r.detect.material}"
        )
    v = m.get("variation")
    if v:
        print(
            f"variation       {v.get('count')} parts; band widened max({v['abs_dark']:g}, "
            f"{v['rel_dark']:.3f} x spread) dark, max({v['abs_bright']:g}, {v['rel_bright']:.3f} x spread) "
            "bright"
        )
    g = r.goodset
    if r.detector != "classical":
        print(f"detector        {r.detector}" + ("" if g is None else
              f" (model {g.digest()[:16]}..., extractor {g.extractor}, {g.calibration_scores.size} held-out "
              f"good scores)"))
    if g is not None:  # a good-set recipe: the taught model's threshold (thresholds.json has no "choice")
        print(f"threshold       {g.threshold:.4f} for target FRR {g.frr:.2%}; held-out good parts over it "
              f"{float((g.calibration_scores > g.threshold).mean()) if g.calibration_scores.size else 0.0:.2%}")
        if g.edge_norm:
            rings = ", ".join(f"{v:.3g}" for v in g.edge_norm[:len(g.edge_norm) // 2])
            print(f"heat map        each patch against good parts at its distance from the side (good parts' "
                  f"mean by ring from the side: {rings})")
        else:
            print("heat map        the anomaly map as it is (taught before the side rings were measured: "
                  "teach again for a map that does not light up the part's side)")
        taught = b.thresholds or {}
        for key in ("few_parts_warning", "look_alike_warning"):
            if taught.get(key):
                print(f"WARNING         {taught[key]}")
    elif b.thresholds and "choice" in b.thresholds:
        c = b.thresholds["choice"]
        print(
            f"threshold       k = {c['threshold']:.3f} for target FRR {c['target_frr']:.3%}; guaranteed <= "
            f"{c['frr_guaranteed']:.2%} by {c['n']} parts, predicted {c['frr_predicted']:.3%}"
        )
    print(f"scale           {f'{r.mm_per_px:.6f} mm/px' if r.mm_per_px else 'not calibrated (pixels)'}")
    print(f"undistortion    {'on' if b.undistort else 'off'}{' (camera file included)' if b.camera else ''}")
    return 0


def _check(args: argparse.Namespace) -> int:
    import cv2

    from calibration.bundle import load_bundle
    from calibration.check import check_recipe

    cv2.setNumThreads(max(1, args.threads))
    b = load_bundle(args.recipe)
    res = check_recipe(b, args.good, args.bad, progress=not args.quiet)
    print(
        f"good parts      {res.good_total}, rejected {res.good_rejected} (FRR {res.frr:.2%}; "
        f"<= {res.frr_upper:.2%} at {res.confidence:.0%} confidence)"
    )
    for name, msg in res.false_rejects[:20]:
        print(f"  false reject  {name}: {msg}")
    if res.bad_total:
        print(
            f"bad parts       {res.bad_total}, rejected {res.bad_rejected} "
            f"(detection {res.detection_rate:.1%})"
        )
        for name in res.missed[:20]:
            print(f"  missed        {name}")
    if b.recipe.goodset is not None:
        print(f"taught for      FRR {b.recipe.goodset.frr:.3%} (good-set model)")
    elif b.thresholds and "choice" in b.thresholds:
        print(f"taught for      FRR {b.thresholds['choice']['target_frr']:.3%}")
    if args.json:
        args.json.write_text(json.dumps(res.to_dict(), indent=1))
    return 0
