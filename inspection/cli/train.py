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
    s.add_argument("--exclude-group", action="append", default=[], metavar="GROUP",
                   help="leave this board group out (a leave-one-group-out fold: every other pair is "
                   "used); repeatable")
    s.set_defaults(func=_scorer)

    c = tsub.add_parser("pcb-cnn", help="region classifier of the pcb-cnn detector (DeepPCB layout; "
                        "needs the 'train' extra)",
                        description="Trains on the training split only (clean + perturbed copies), "
                        "logs validation metrics of held-out training pairs per epoch, exports ONNX "
                        "(+ FP16 and INT8 variants) with the preprocessing as metadata.")
    c.add_argument("folder", type=Path, metavar="DIR")
    c.add_argument("--out", type=Path, default=Path("plugins/detectors/models/deeppcb_cnn.onnx"))
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--epochs", type=int, default=30)
    c.add_argument("--width", type=int, default=16, help="channels of the first convolution")
    c.add_argument("--perturbed-copies", type=int, default=2)
    c.add_argument("--threads", type=int, default=2, help="torch/OpenCV threads")
    c.add_argument("--cache", type=Path, default=None,
                   help="npz file of collected samples: read when present, written otherwise")
    c.add_argument("--no-variants", action="store_true", help="skip the FP16/INT8 variants")
    c.add_argument("--augment", choices=("none", "dihedral", "dihedral+zoom"), default="dihedral+zoom",
                   help="training-window augmentation: 'dihedral' = a random flip/90-degree rotation "
                   "per batch (layouts are orientation-free); 'dihedral+zoom' (default) also scales "
                   "each window's content by 0.85-1.18 (other trace widths); 'none' = no augmentation")
    c.add_argument("--inputs", choices=("full", "region"), default="full",
                   help="per-candidate inputs besides the pixels: 'full' = region features, material "
                   "context and rule type; 'region' = region statistics only (faster inspection)")
    c.add_argument("--exclude-group", action="append", default=[], metavar="GROUP",
                   help="leave this board group out (a leave-one-group-out fold: every pair of the "
                   "other groups is used); repeatable")
    c.set_defaults(func=_pcb_cnn)

    cc = tsub.add_parser("change-cnn", help="change-map network of the change-cnn detector (needs the "
                         "'train' extra)",
                         description="Windows of DeepPCB-layout pairs in DIR (minus --exclude-group) and "
                         "of synthetic boards of every style (scans, grey, colour photo-like), trained "
                         "on the CPU, exported to ONNX (+ FP16/INT8) with the preprocessing as metadata.")
    cc.add_argument("folder", type=Path, metavar="DIR", nargs="?", default=None,
                    help="DeepPCB-layout folder (omit: synthetic boards only)")
    cc.add_argument("--out", type=Path, default=Path("plugins/detectors/models/change_cnn.onnx"))
    cc.add_argument("--exclude-group", action="append", default=[], metavar="GROUP",
                    help="leave this board group out completely (pairs and golden layouts); repeatable")
    cc.add_argument("--seed", type=int, default=0)
    cc.add_argument("--epochs", type=int, default=6)
    cc.add_argument("--width", type=int, default=16)
    cc.add_argument("--synthetic", type=int, default=2000, help="synthetic boards (default 2000)")
    cc.add_argument("--max-windows", type=int, default=9000, help="training windows at most")
    cc.add_argument("--threads", type=int, default=2, help="torch/OpenCV threads")
    cc.add_argument("--cache", type=Path, default=None,
                    help="npz of collected windows (all groups; the fold's group is dropped after "
                    "loading): read when present, written otherwise")
    cc.add_argument("--no-variants", action="store_true", help="skip the FP16/INT8 variants")
    cc.add_argument("--quiet", action="store_true")
    cc.set_defaults(func=_change_cnn)

    f = tsub.add_parser("patch-features", help="export the good-set feature extractor (EfficientNet-"
                        "Lite0 blocks, ImageNet weights) to ONNX with FP16/INT8 variants",
                        description="Needs the 'train' extra. INT8 is calibrated on good images of "
                        "--calibration (e.g. a training split's MT_Free) when given.")
    f.add_argument("--out", type=Path, default=Path("plugins/detectors/models/effnet_lite0_patch.onnx"))
    f.add_argument("--calibration", type=Path, default=None, metavar="GOOD_DIR")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--no-variants", action="store_true")
    f.set_defaults(func=_patch_features)


def _scorer(args: argparse.Namespace) -> int:
    from inspection.train.scorer_cmd import train_scorer

    report = train_scorer(args.folder, args.out, split="all" if args.exclude_group else args.split,
                          seed=args.seed, perturbed_copies=args.perturbed_copies, threads=args.threads,
                          exclude_groups=tuple(args.exclude_group))
    for k, v in report.items():
        print(f"{k:<18} {v:.4f}" if isinstance(v, float) else f"{k:<18} {v}")
    print(f"wrote {args.out}")
    return 0


def _need_torch() -> None:
    from inspection.errors import MissingDependency

    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise MissingDependency("torch", extra="train", purpose="training") from exc


def _patch_features(args: argparse.Namespace) -> int:
    _need_torch()
    from inspection.train.features_cmd import export_patch_features

    report = export_patch_features(args.out, calibration=args.calibration, seed=args.seed,
                                   variants=not args.no_variants)
    files = report["files"]
    assert isinstance(files, dict)
    for tag, size in files.items():
        print(f"{tag}: {size / 1024:.1f} kB")
    print(f"wrote {args.out}")
    return 0


def _change_cnn(args: argparse.Namespace) -> int:
    _need_torch()
    from inspection.train.change_cmd import ChangeTrainConfig, train_change_cnn

    cfg = ChangeTrainConfig(epochs=args.epochs, width=args.width, seed=args.seed, threads=args.threads,
                            synthetic=args.synthetic, max_windows=args.max_windows)
    report = train_change_cnn(args.folder, args.out, cfg=cfg, exclude_groups=tuple(args.exclude_group),
                              cache=args.cache, variants=not args.no_variants, progress=not args.quiet)
    files = report["files"]
    assert isinstance(files, dict)
    for name, info in files.items():
        print(f"wrote {info['path']} ({info['bytes'] / 1024:.1f} kB, {name})")
    return 0


def _pcb_cnn(args: argparse.Namespace) -> int:
    _need_torch()
    from inspection.train.pcb_cmd import INPUTS, train_pcb_cnn
    from inspection.train.pcb_train import TrainConfig

    cfg = TrainConfig(epochs=args.epochs, width=args.width, seed=args.seed, threads=args.threads,
                      augment=args.augment)
    report = train_pcb_cnn(args.folder, args.out, cfg=cfg, copies=args.perturbed_copies,
                           cache=args.cache, variants=not args.no_variants, inputs=INPUTS[args.inputs],
                           exclude_groups=tuple(args.exclude_group))
    files = report["files"]
    assert isinstance(files, dict)
    for name, info in files.items():
        print(f"wrote {info['path']} ({info['bytes'] / 1024:.1f} kB, {name})")
    return 0
