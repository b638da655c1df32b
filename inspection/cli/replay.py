"""``inspection replay DATA_DIR --out OUT``: re-inspect every stored part image.

Without a candidate, each part is judged again by the recipe version that judged it on the line
(kept by hash under ``DATA_DIR/station/recipe-versions``): every verdict must come out the same
(exit code 1 otherwise). With ``--recipe BUNDLE`` and/or ``--set NAME=VALUE`` it is a what-if: which
stored parts would change verdict, and what operators had said about them. A part whose recipe
version cannot be rebuilt whole (e.g. a good-set version without its model) is refused, never
judged with another detector: ``summary.json`` lists it under ``refused`` with why. Writes
``OUT/summary.json`` and, for each changed part, its stored image under ``OUT/changed/``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

THRESHOLD_NAMES = ("threshold", "tolerance_px", "min_area_px", "align_min_score", "anomaly_threshold")


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "replay", help="re-inspect stored parts: reproduce verdicts, or what-if with a candidate",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data_dir", type=Path, metavar="DATA_DIR",
                   help="the station's data folder (holds store/ and station/; the demo's is demo-station/data)")
    p.add_argument("--out", type=Path, required=True, help="folder for summary.json and changed parts")
    p.add_argument("--recipe", type=Path, default=None, metavar="BUNDLE",
                   help="candidate recipe bundle (what-if): judge every stored part with it")
    p.add_argument("--set", dest="thresholds", action="append", default=[], metavar="NAME=VALUE",
                   help=f"candidate threshold (what-if), repeatable; names: {', '.join(THRESHOLD_NAMES)} "
                        "(anomaly_threshold: a good-set recipe's model threshold)")
    p.add_argument("--since", default=None, metavar="ISO", help="only parts decided at or after this time")
    p.add_argument("--until", default=None, metavar="ISO", help="only parts decided before this time")
    p.add_argument("--last", type=int, default=None, metavar="N", help="only the newest N stored parts")
    p.add_argument("--recipe-number", type=int, default=None, metavar="N",
                   help="only parts of PLC recipe number N (default with --recipe: the bundle's number, "
                        "when it has one)")
    p.add_argument("--threads", type=int, default=1, help="OpenCV threads")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_replay)


def iso_ns(text: str | None) -> int | None:
    """ISO 8601 time (a time without zone is UTC) -> ns since the epoch."""
    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError as exc:
        raise SystemExit(f"error: not an ISO 8601 time: {text!r}") from exc
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return int(t.timestamp() * 1e9)


def parse_thresholds(items: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in THRESHOLD_NAMES:
            raise SystemExit(f"error: --set {item!r}: expected NAME=VALUE with NAME one of "
                             f"{', '.join(THRESHOLD_NAMES)}")
        try:
            out[name] = float(value)
        except ValueError as exc:
            raise SystemExit(f"error: --set {item!r}: {value!r} is not a number") from exc
    return out


def _replay(args: argparse.Namespace) -> int:
    from inspection.progress import track
    from inspection.recipe.versions import RecipeVersions
    from inspection.station.replay import Candidate, run_replay, versions_dir

    recipe = None
    if args.recipe is not None:
        from calibration.bundle import load_bundle

        recipe = load_bundle(args.recipe).recipe
    candidate = Candidate(recipe, parse_thresholds(args.thresholds))
    number = args.recipe_number
    if number is None and recipe is not None and recipe.number > 0:
        number = recipe.number
    report = run_replay(args.data_dir / "store", RecipeVersions(versions_dir(args.data_dir)), candidate,
                        since_ns=iso_ns(args.since), until_ns=iso_ns(args.until), last=args.last,
                        recipe_number=number,
                        progress=lambda items, n: track(items, n, "replay", enabled=not args.quiet))
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    if report.changed:
        (out / "changed").mkdir(exist_ok=True)
        for c in report.changed:
            shutil.copyfile(c.image, out / "changed" / f"{c.result_id}.png")
    summary = {"data_dir": str(args.data_dir.resolve()), "mode": "replay" if candidate.is_replay else "what-if",
               "recipe_number": number, **report.to_dict()}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(_table(report, candidate.is_replay))
    print(f"summary: {out / 'summary.json'}")
    if candidate.is_replay:
        return 0 if report.same_verdict == report.parts and report.unknown_recipe == 0 else 1
    return 0


def _table(report: Any, replay: bool) -> str:
    rows = [("parts re-inspected", report.parts), ("same verdict", report.same_verdict),
            ("same result code", report.same_code), ("changed verdict", len(report.changed)),
            ("  now rejected (were passed)", report.newly_rejected),
            ("  now passed (were rejected)", report.newly_passed),
            ("  changed, reviewed OK", report.changed_reviewed_ok),
            ("  changed, confirmed NG", report.changed_confirmed_ng),
            ("rejected before / now", f"{report.rejected_before} / {report.rejected_now}"),
            ("no stored image (not replayable)", report.not_replayable),
            ("recipe version not kept whole / unusable", report.unknown_recipe),
            ("refused (not judged)", ", ".join(f"{k} {v}" for k, v in sorted(report.refused_reasons.items()))
             or "0"),
            ("seconds", f"{report.seconds:.1f}")]
    width = max(len(r[0]) for r in rows)
    lines = [("Replay" if replay else "What-if") + (" (recipe versions that judged each part)" if replay else ""),
             *(f"  {name:<{width}}  {value}" for name, value in rows)]
    if report.changed:
        lines.append("")
        lines.append(f"  {'result id':<20}  {'decided (UTC)':<19}  {'old':<6}  {'new':<6}  review")
        for c in report.changed[:50]:
            when = datetime.fromtimestamp(c.decided_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")
            lines.append(f"  {c.result_id:<20}  {when:<19}  {c.old_verdict:<6}  {c.new_verdict:<6}  "
                         f"{c.review_status}")
        if len(report.changed) > 50:
            lines.append(f"  ... {len(report.changed) - 50} more in summary.json")
    if not replay:
        lines.append("")
        lines.append(report.sentence())
    return "\n".join(lines)
