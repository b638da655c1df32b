"""``inspection bench``: quality and speed benchmarks on public datasets."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("bench", help="benchmarks (DeepPCB, magnetic tiles)")
    bsub = p.add_subparsers(dest="bench", metavar="DATASET")
    d = bsub.add_parser("deeppcb", help="golden/tested pairs laid out like DeepPCB",
                        description="Runs every pair through alignment and detection; writes "
                        "OUT/<id>.txt (x1,y1,x2,y2,confidence,type) and OUT/summary.json.")
    d.add_argument("folder", type=Path, metavar="DIR")
    d.add_argument("--out", type=Path, required=True, metavar="OUT")
    d.add_argument("--threads", type=int, default=1, help="OpenCV/ONNX Runtime threads (default 1)")
    d.add_argument("--limit", type=int, default=None, help="only the first N pairs")
    d.add_argument("--split", choices=("all", "train", "val"), default="all",
                   help="'val': every 5th pair of each board group (held out from tuning); "
                   "'train': the others")
    d.add_argument("--perturb", action="store_true",
                   help="perturb the tested images (shift, rotation, gain/offset, noise) and compare "
                   "with the clean run")
    d.add_argument("--max-shift", type=float, default=8.0, help="px (with --perturb)")
    d.add_argument("--max-rotation", type=float, default=1.5, help="degrees (with --perturb)")
    d.add_argument("--noise", type=float, default=5.0, help="Gaussian noise sigma (with --perturb)")
    d.add_argument("--good-parts", action="store_true",
                   help="also check each golden, perturbed, as a good part: any reject is false")
    d.add_argument("--roi-margin", type=int, default=None,
                   help="inspect only this far inside the image border (default: 0, or the largest "
                   "perturbation displacement with --perturb); ground truth outside is ignored")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--detector", default=None, help="detector name (default: the best shipped one)")
    d.add_argument("--quiet", action="store_true", help="no progress output")
    d.set_defaults(func=_deeppcb)
    _add_calibration_benches(bsub)
    from inspection.cli.bench_station import add_bench

    add_bench(bsub)


def _deeppcb(args: argparse.Namespace) -> int:
    from inspection.bench import deeppcb, perturb
    from inspection.detector import detectors

    spec = None
    if args.perturb:
        spec = perturb.PerturbSpec(max_shift_px=args.max_shift, max_rotation_deg=args.max_rotation,
                                   noise_sigma=args.noise)
    det = detectors.create(args.detector) if args.detector else None
    cfg = deeppcb.BenchConfig(args.folder, args.out, threads=args.threads, limit=args.limit,
                              split=args.split, perturb=spec, good_parts=args.good_parts,
                              seed=args.seed, roi_margin=args.roi_margin, progress=not args.quiet)
    summary = deeppcb.run(cfg, det)
    print(deeppcb.format_table(summary))
    print(f"wrote {args.out}/summary.json")
    return 0


def _add_calibration_benches(bsub: Any) -> None:
    t = bsub.add_parser("teach", help="teaching time and false-reject rate on synthetic production parts",
                        description="Teaches from N good parts (plus planted defective ones), then inspects "
                        "M new good and D defective parts for each target FRR; prints a table, writes "
                        "OUT/summary.json.")
    t.add_argument("--out", type=Path, required=True, metavar="OUT")
    t.add_argument("--size", type=int, default=640, help="part image size, px (default 640)")
    t.add_argument("--parts", type=int, default=50, help="good parts to teach from (default 50)")
    t.add_argument("--planted", type=int, default=1,
                   help="defective parts slipped into the good set (default 1)")
    t.add_argument("--test", type=int, default=500, help="new good parts inspected (default 500)")
    t.add_argument("--defective", type=int, default=100, help="new defective parts inspected (default 100)")
    t.add_argument("--targets", default="0.001,0.01,0.05", help="target FRRs, comma separated")
    t.add_argument("--design", type=int, default=7, help="seed of the synthetic part design (default 7)")
    t.add_argument("--noise", type=float, default=3.0, help="sensor noise sigma, grey levels (default 3)")
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=_teach)
    c = bsub.add_parser("calibration", help="calibration accuracy on cameras with known answers",
                        description="Renders board views through known cameras, calibrates and compares; "
                        "prints a table, writes OUT/summary.json.")
    c.add_argument("--out", type=Path, required=True, metavar="OUT")
    c.add_argument("--views", type=int, default=15)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--threads", type=int, default=1)
    c.add_argument("--quiet", action="store_true")
    c.set_defaults(func=_calibration)


def _teach(args: argparse.Namespace) -> int:
    from calibration import bench_teach

    targets = tuple(float(v) for v in args.targets.split(","))
    from calibration.production import Variation

    cfg = bench_teach.TeachBenchConfig(args.out, size=args.size, parts=args.parts, planted=args.planted,
                                       test=args.test, defective=args.defective, targets=targets,
                                       design=args.design, threads=args.threads, progress=not args.quiet,
                                       variation=Variation(noise=args.noise))
    print(bench_teach.format_table(bench_teach.run(cfg)))
    print(f"wrote {args.out}/summary.json")
    return 0


def _calibration(args: argparse.Namespace) -> int:
    from calibration import bench_calib

    cfg = bench_calib.CalibBenchConfig(args.out, views=args.views, seed=args.seed, threads=args.threads,
                                       progress=not args.quiet)
    print(bench_calib.format_table(bench_calib.run(cfg)))
    print(f"wrote {args.out}/summary.json")
    return 0
