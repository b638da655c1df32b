"""``inspection train ...``: reproduce the shipped models from data."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("train", help="train the shipped models from data")
    tsub = p.add_subparsers(dest="model", metavar="MODEL")
    s = tsub.add_parser("scorer", help="confidence model of the classical detector (DeepPCB layout)")
    s.add_argument("folder", type=Path, metavar="DIR")
    s.add_argument("--out", type=Path, default=Path("inspection/models/deeppcb_scorer.json"))
    s.add_argument("--split", choices=("train", "all"), default="train")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--perturbed-copies", type=int, default=1,
                   help="seeded perturbed copies of each pair added to the training set")
    s.add_argument("--threads", type=int, default=1)
    s.set_defaults(func=_scorer)


def _scorer(args: argparse.Namespace) -> int:
    from inspection.train.scorer_cmd import train_scorer

    report = train_scorer(args.folder, args.out, split=args.split, seed=args.seed,
                          perturbed_copies=args.perturbed_copies, threads=args.threads)
    for k, v in report.items():
        print(f"{k:<18} {v:.4f}" if isinstance(v, float) else f"{k:<18} {v}")
    print(f"wrote {args.out}")
    return 0
