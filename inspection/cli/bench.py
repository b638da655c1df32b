"""``inspection bench``: quality and speed benchmarks on public datasets."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: Preference order of the bench's default detector: the most accurate one that meets the speed
#: target (10 ms per 640x640 pair on one thread) first. Measured on DeepPCB's validation split
#: (1 thread, shared 2-core machine): pcb-cnn-fast class-aware F 0.988 at ~10 ms, pcb-cnn F 0.989
#: at ~10.7 ms, classical F 0.964 at ~10.1 ms. A detector whose dependencies are missing is skipped.
DEFAULT_DETECTORS = ("pcb-cnn-fast", "pcb-cnn", "classical")
MTD_SHORT_SIDE = 224
MTD_BANK = 5000


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
    d.add_argument("--split", choices=("logo", "all", "train", "val"), default="logo",
                   help="'logo' (default): leave-one-group-out, every board group (design) evaluated "
                   "by models fitted without it (--fold-models), per-group and pooled figures; "
                   "'val': every 5th pair of each group (near-duplicates of training pairs); "
                   "'train': the others; 'all': every pair, one model")
    d.add_argument("--group", action="append", default=None, metavar="GROUP",
                   help="only this board group (repeatable; default: all)")
    d.add_argument("--fold-models", type=Path, default=None, metavar="FOLDS",
                   help="with --split logo: FOLDS/wo<GROUP>/ holds the models fitted without GROUP "
                   "(<detector>.onnx [_fp16/_int8], deeppcb_scorer.json for the classical confidence); "
                   "see 'inspection train ... --exclude-group'. Groups without them are marked "
                   "'held out: NO'")
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
    d.add_argument("--detector", default=None,
                   help=f"detector name (default: the most accurate one that meets the speed target "
                   f"and whose dependencies are installed: {', '.join(DEFAULT_DETECTORS)})")
    d.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="ONNX Runtime device of learned detectors (auto: the CPU for the PCB and change "
                   "CNNs, measured faster there; CUDA for the good-set extractor when available)")
    d.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp32",
                   help="model variant of learned detectors (default fp32)")
    d.add_argument("--model", type=Path, default=None,
                   help="model file of a learned detector (default: the shipped one)")
    d.add_argument("--typing", choices=("cnn", "topology"), default=None,
                   help="pcb-cnn detectors: 'topology' checks the network's type against the "
                   "connectivity rule where it hesitates between open/mouse-bite or short/spur; "
                   "'cnn': the network's type only (default: the detector's own, topology for "
                   "pcb-cnn-fast, cnn for pcb-cnn)")
    d.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                   help="pcb-cnn detectors: average the type probabilities over the 8 flips/turns of "
                   "each window (default: off)")
    d.add_argument("--quiet", action="store_true", help="no progress output")
    d.set_defaults(func=_deeppcb)
    _add_calibration_benches(bsub)
    sp_ = bsub.add_parser("speed", help="ms per part of a detector vs a naive absdiff baseline (640x640 "
                          "pairs from DIR, and 2448x2048 parts)",
                          description="Interleaved in one run; prints a table, writes OUT/summary.json.")
    sp_.add_argument("folder", type=Path, metavar="DIR")
    sp_.add_argument("--out", type=Path, required=True, metavar="OUT")
    sp_.add_argument("--pairs", type=int, default=200)
    sp_.add_argument("--large-parts", type=int, default=10)
    sp_.add_argument("--threads", type=int, default=1)
    sp_.add_argument("--detector", default="classical")
    sp_.add_argument("--model", type=Path, default=None)
    sp_.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp32")
    sp_.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                     help="ONNX Runtime device of a learned detector (default cpu: the targets are one core)")
    sp_.add_argument("--quiet", action="store_true")
    sp_.set_defaults(func=_speed)
    ph = bsub.add_parser("photo-boards", help="synthetic colour photographs of bare boards through "
                         "'inspection detect' defaults + ROI margin",
                         description="Per seeded board design: a golden, a defective part (thin breaks, "
                         "nicks, ...) and a good part, both moved and relit; prints a table, writes "
                         "OUT/summary.json.")
    ph.add_argument("--out", type=Path, required=True, metavar="OUT")
    ph.add_argument("--boards", type=int, default=100)
    ph.add_argument("--width", type=int, default=1200)
    ph.add_argument("--height", type=int, default=1000)
    ph.add_argument("--scale", type=float, default=2.0, help="track width / pitch scale (default 2)")
    ph.add_argument("--roi-margin", type=int, default=40)
    ph.add_argument("--seed", type=int, default=0)
    ph.add_argument("--threads", type=int, default=1)
    ph.add_argument("--detector", default=None, help="detector name (default: classical, as "
                    "'inspection detect')")
    ph.add_argument("--model", type=Path, default=None, help="model file of a learned detector")
    ph.add_argument("--quiet", action="store_true")
    ph.set_defaults(func=_photo_boards)
    from inspection.cli.bench_plant import add_bench as add_plant_bench
    from inspection.cli.bench_station import add_bench

    add_bench(bsub)
    add_plant_bench(bsub)

    m = bsub.add_parser("mtd", help="good-set mode: teach from good images, score a test tree",
                        description="Teaches a good-set model (patch features + coreset memory bank, "
                        "threshold from held-out good images) from GOOD_DIR, scores every *.jpg under "
                        "TEST_DIR; writes OUT/scores.csv (path,score), OUT/summary.json, "
                        "OUT/goodset_model.npz. Split a dataset first with 'inspection bench mtd-split'.")
    m.add_argument("--train", type=Path, required=True, metavar="GOOD_DIR", help="good images only")
    m.add_argument("--test", type=Path, required=True, metavar="TEST_DIR",
                   help="sub-folders of images (the good one named by --good-folder); *.png masks optional")
    m.add_argument("--out", type=Path, required=True, metavar="OUT")
    m.add_argument("--good-folder", default="MT_Free", help="name of the good sub-folder of TEST_DIR")
    m.add_argument("--short-side", type=int, default=MTD_SHORT_SIDE,
                   help=f"images are scaled to this shorter side, px (default {MTD_SHORT_SIDE})")
    m.add_argument("--bank-size", type=int, default=MTD_BANK, help=f"memory bank size (default {MTD_BANK})")
    m.add_argument("--dims", type=int, default=64, help="PCA dimensions of the patch features (default 64)")
    m.add_argument("--top-k", type=int, default=50,
                   help="image score = mean of the k most anomalous patches (default 50)")
    m.add_argument("--calibration-share", type=float, default=0.1,
                   help="with --folds 0: share of GOOD_DIR held out of the bank to set the threshold "
                   "(default 0.1)")
    m.add_argument("--folds", type=int, default=5,
                   help="k-fold calibration (default 5): every good image is scored by a bank taught "
                   "from the other folds, the final bank from all (k+1 coresets); 0: hold out "
                   "--calibration-share of GOOD_DIR instead")
    m.add_argument("--frr", type=float, default=0.01, help="target false-reject rate of the threshold")
    _goodset_model_args(m)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--threads", type=int, default=1, help="ONNX Runtime/OpenCV threads (default 1)")
    m.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    m.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp32")
    m.add_argument("--extractor", default="effnet-lite0", help="patch feature extractor")
    m.add_argument("--quiet", action="store_true", help="no progress output")
    m.set_defaults(func=_mtd)

    kf = bsub.add_parser("mtd-kfold", help="good-set mode, k-fold by source image (validation fold apart)",
                         description="Groups the tiles of DIR by source image (file-name pattern), deals "
                         "the groups into folds; per fold teaches from the good tiles of the other folds "
                         "and scores the fold. Settings are chosen on --val-fold; the headline numbers "
                         "are over the other folds. Writes OUT/scores.csv and OUT/summary.json.")
    kf.add_argument("data", type=Path, metavar="DIR", help="folders of *.jpg (+ *.png masks)")
    kf.add_argument("--out", type=Path, required=True, metavar="OUT")
    kf.add_argument("--good-folder", default="MT_Free")
    kf.add_argument("--folds", type=int, default=6, help="folds (default 6: one per MTD acquisition)")
    kf.add_argument("--group", choices=("run", "tile", "image"), default="run",
                    help="what a fold keeps together: run (the file names' --pattern, MTD's acquisition "
                    "run exp<k>; default), tile (one physical tile: MTD images every tile in several "
                    "runs under other light, with nearly the same _num_<n>; see mtd_kfold.tile_groups) "
                    "or image (every image alone, as a random split of the files: other lights of a "
                    "scored tile may be taught; not held-out by tile)")
    kf.add_argument("--no-group-calibration", action="store_true",
                    help="with --group tile: calibrate every taught image alone (default: the taught "
                    "tiles' calibration keeps each physical tile's images together, as the folds do)")
    kf.add_argument("--val-source", default=None,
                    help="the validation fold is the one holding this source (default exp1 with --group "
                    "run; '' to name a fold with --val-fold, as --group tile and image always do)")
    kf.add_argument("--val-fold", type=int, default=0, help="the validation fold when --val-source ''")
    kf.add_argument("--only", default="", help="comma-separated folds to run (default: all)")
    kf.add_argument("--pattern", default=None,
                    help="regular expression whose group 1 is a tile's source (default: MTD's exp<k>)")
    kf.add_argument("--max-train", type=int, default=0,
                    help="teach from at most N good tiles per fold (seeded sample; default all)")
    kf.add_argument("--short-side", type=int, default=MTD_SHORT_SIDE)
    kf.add_argument("--bank-size", type=int, default=MTD_BANK)
    kf.add_argument("--dims", type=int, default=64)
    kf.add_argument("--top-k", type=int, default=50)
    kf.add_argument("--calibration-folds", type=int, default=5,
                    help="k-fold calibration of each fold's threshold (default 5; 0: hold out "
                    "--calibration-share of the good tiles instead)")
    kf.add_argument("--calibration-share", type=float, default=0.2,
                    help="with --calibration-folds 0: share of the good tiles scored to set the "
                    "threshold (default 0.2)")
    kf.add_argument("--max-patches", type=int, default=1_000_000,
                    help="coreset chosen among at most this many patches (default 1,000,000)")
    kf.add_argument("--frr", type=float, default=0.01)
    _goodset_model_args(kf)
    kf.add_argument("--seed", type=int, default=0)
    kf.add_argument("--threads", type=int, default=1)
    kf.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    kf.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp32")
    kf.add_argument("--extractor", default="effnet-lite0", help="patch feature extractor")
    kf.add_argument("--heatmaps", type=int, default=0, metavar="N",
                    help="write heat-map overlays of N defective tiles per fold to OUT/heatmaps")
    kf.add_argument("--quiet", action="store_true")
    kf.set_defaults(func=_mtd_kfold)

    sp = bsub.add_parser("mtd-split", help="seeded train/test split of an MTD-layout folder (symlinks)",
                         description="Split by source image: OUT/train/<good folder> gets the good "
                         "images of a seeded share of the sources; OUT/test/<folder> gets every image "
                         "of the other sources (masks alongside); defective images of training "
                         "sources are left out. Teach on OUT/train, score OUT/test.")
    sp.add_argument("source", type=Path, metavar="DIR")
    sp.add_argument("--out", type=Path, required=True, metavar="OUT")
    sp.add_argument("--good-folder", default="MT_Free")
    sp.add_argument("--train-share", type=float, default=0.6)
    sp.add_argument("--seed", type=int, default=0)
    sp.set_defaults(func=_mtd_split)



def _goodset_model_args(p: argparse.ArgumentParser) -> None:
    """The good-set model's options the MTD benches share (see inspection.vision.goodset)."""
    from inspection.vision import goodset as gs  # its defaults: those of inspection teach

    p.add_argument("--threshold-rule", choices=("empirical", "robust"), default="empirical",
                   help="how held-out good scores give the threshold: empirical (their quantile, "
                   "default) or robust (a normal fit by median and upper MAD; an experiment: on MTD it "
                   "rejected 7.5%% of good tiles at a 1%% target)")
    p.add_argument("--features", choices=("joint", "per-block"), default="joint",
                   help="one memory bank of all feature channels (joint, default) or one per tapped "
                   "block, 7 and 10, their distances added in units of their held-out spread (per-block; "
                   "same AUROC as joint on the reported folds, 1.5x slower)")
    p.add_argument("--tile-knn", type=int, default=gs.TILE_KNN, metavar="K",
                   help=f"image-level term of the score over the K nearest taught tiles (default {gs.TILE_KNN}, "
                   "as inspection teach; 0: the patches' score alone)")
    p.add_argument("--tile-prior", type=float, default=gs.TILE_PRIOR, metavar="W",
                   help=f"share of the nearest taught tiles' own held-out scores (--tile-prior-knn of "
                   f"them) taken off a tile's (default {gs.TILE_PRIOR}, as inspection teach; needs k-fold "
                   "calibration; 0: none)")
    p.add_argument("--tile-prior-knn", type=int, default=gs.TILE_PRIOR_KNN, metavar="N",
                   help=f"the prior over the N nearest taught tiles (default {gs.TILE_PRIOR_KNN})")
    p.add_argument("--tile-weight", type=float, default=gs.TILE_WEIGHT, metavar="W",
                   help=f"the image-level term's weight against the patches' score (default {gs.TILE_WEIGHT}, "
                   "as inspection teach)")
    p.add_argument("--highlights", type=float, default=gs.HIGHLIGHTS, metavar="SHARE",
                   help=f"also teach every good tile over-lit, up to SHARE of its pixels saturated "
                   f"(default {gs.HIGHLIGHTS}, as inspection teach; 0: off)")
    p.add_argument("--bank-knn", type=int, default=gs.BANK_KNN, metavar="K",
                   help=f"local bank: compare a tile's patches with those of its K nearest taught tiles "
                   f"(default {gs.BANK_KNN}, as inspection teach; leave-one-out calibration, so the "
                   "calibration folds, bank size and patch pool are not used; 0: one coreset bank of "
                   "all taught patches, as before round 8)")
    p.add_argument("--tile-rows", type=int, default=gs.TILE_ROWS, metavar="N",
                   help=f"local bank: rows kept per taught tile (default {gs.TILE_ROWS})")

def make_detector(name: str | None, *, threads: int = 1, device: str = "auto",
                  precision: str = "fp32", model: Path | None = None, typing: str | None = None,
                  tta: bool | None = None) -> Any:
    """The named detector, or the first of :data:`DEFAULT_DETECTORS` that can be created (a missing
    optional dependency or model file falls through to the next, with a warning). ``typing`` and
    ``tta`` are passed to the detectors that take them (the pcb-cnn family) when given."""
    from inspection.errors import DetectorError, MissingDependency
    from inspection.vision.detector import detectors

    def create(n: str) -> Any:
        if n == "classical":
            return detectors.create(n)
        extra = _typing_options(typing, tta) if n.startswith("pcb-cnn") else {}
        if model is not None:
            return detectors.create(n, model, threads=threads, device=device, **extra)
        return detectors.create(n, threads=threads, device=device, precision=precision, **extra)

    if name:
        return create(name)
    for n in DEFAULT_DETECTORS:
        try:
            return create(n)
        except (MissingDependency, DetectorError) as exc:
            logger.warning("detector %r unavailable (%s); trying the next", n, exc)
    raise DetectorError("no detector available")


def _typing_options(typing: str | None, tta: bool | None) -> dict[str, Any]:
    """The typing options of the pcb-cnn detectors that were given (None = the detector's own)."""
    out: dict[str, Any] = {}
    if typing is not None:
        out["typing"] = typing
    if tta is not None:
        out["tta"] = tta
    return out


def _speed(args: argparse.Namespace) -> int:
    from inspection.bench import speed

    det = None if args.detector == "classical" else make_detector(
        args.detector, threads=args.threads, precision=args.precision, model=args.model, device=args.device)
    cfg = speed.SpeedConfig(args.folder, args.out, pairs=args.pairs, large_parts=args.large_parts,
                            threads=args.threads, progress=not args.quiet)
    print(speed.format_table(speed.run(cfg, det)))
    print(f"wrote {args.out}/summary.json")
    return 0


def _photo_boards(args: argparse.Namespace) -> int:
    from inspection.bench import photo_boards as pb

    det = make_detector(args.detector, threads=args.threads, model=args.model) if args.detector else None
    cfg = pb.PhotoBenchConfig(args.out, boards=args.boards, size=(args.height, args.width), scale=args.scale,
                              roi_margin=args.roi_margin, seed=args.seed, threads=args.threads,
                              progress=not args.quiet)
    print(pb.format_table(pb.run(cfg, det)))
    print(f"wrote {args.out}/summary.json")
    return 0


def _deeppcb(args: argparse.Namespace) -> int:
    from inspection.bench import deeppcb, perturb

    spec = None
    if args.perturb:
        spec = perturb.PerturbSpec(max_shift_px=args.max_shift, max_rotation_deg=args.max_rotation,
                                   noise_sigma=args.noise)
    if (args.typing is not None or args.tta is not None) and not str(args.detector or "").startswith("pcb-cnn"):
        print("--typing/--tta apply to the pcb-cnn detectors only; give --detector pcb-cnn-fast or pcb-cnn")
        return 2
    det = make_detector(args.detector, threads=args.threads, device=args.device, precision=args.precision,
                        model=args.model, typing=args.typing, tta=args.tta)
    cfg = deeppcb.BenchConfig(args.folder, args.out, threads=args.threads, limit=args.limit,
                              split=args.split, perturb=spec, good_parts=args.good_parts,
                              seed=args.seed, roi_margin=args.roi_margin, progress=not args.quiet,
                              groups=tuple(args.group) if args.group else None)
    folds = None
    if args.split == "logo":
        folds = fold_factory(det, args.fold_models, threads=args.threads, device=args.device,
                             precision=args.precision, typing=args.typing, tta=args.tta)
    summary = deeppcb.run(cfg, det, folds=folds)
    print(deeppcb.format_table(summary))
    print(f"wrote {args.out}/summary.json")
    return 0


def fold_factory(detector: Any, folder: Path | None, *, threads: int = 1, device: str = "auto",
                 precision: str = "fp32", typing: str | None = None, tta: bool | None = None) -> Any:
    """``group -> Fold`` for leave-one-group-out: the detector and classical confidence model found in
    ``folder/wo<group>/``; where none is there, the shared one (marked not held out)."""
    import json

    from inspection.bench.deeppcb import Fold
    from inspection.vision.detector import detectors
    from inspection.vision.scorer import Scorer

    name = getattr(detector, "name", "classical")
    suffix = {"fp32": "", "fp16": "_fp16", "int8": "_int8"}[precision]

    def make(group: str) -> Fold:
        if folder is None:
            return Fold(detector, None, False, "shared (fitted on every group)")
        sub = folder / f"wo{group}"
        if name == "classical":
            sp = sub / "deeppcb_scorer.json"
            if sp.is_file():
                return Fold(detector, Scorer.from_dict(json.loads(sp.read_text())), True, str(sp))
            logger.warning("no fold scorer %s: group %s uses the shared one", sp, group)
            return Fold(detector, None, False, "shared scorer")
        mp = sub / f"{name}{suffix}.onnx"
        if mp.is_file():
            return Fold(detectors.create(name, mp, threads=threads, device=device,
                                         **_typing_options(typing, tta)), None, True, str(mp))
        logger.warning("no fold model %s: group %s uses the shared model", mp, group)
        return Fold(detector, None, False, "shared model")

    return make


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


def _mtd(args: argparse.Namespace) -> int:
    from inspection.bench import mtd
    from inspection.vision.goodset import FEATURE_LAYOUTS, feature_extractors

    extract = feature_extractors.create(args.extractor, threads=args.threads, device=args.device,
                                        precision=args.precision)
    cfg = mtd.MtdConfig(args.train, args.test, args.out, good_folder=args.good_folder,
                        short_side=args.short_side, bank_size=args.bank_size, dims=args.dims,
                        top_k=args.top_k, calibration_share=args.calibration_share, folds=args.folds,
                        frr=args.frr, threshold_rule=args.threshold_rule,
                        scales=FEATURE_LAYOUTS[args.features], tile_knn=args.tile_knn,
                        tile_prior=args.tile_prior, tile_prior_knn=args.tile_prior_knn,
                        tile_weight=args.tile_weight,
                        highlights=args.highlights, tile_rows=args.tile_rows,
                        bank_knn=0 if args.features == "per-block" else args.bank_knn,
                        seed=args.seed, threads=args.threads, progress=not args.quiet)
    info = {"providers": list(getattr(extract, "providers", ())), "precision": args.precision}
    summary = mtd.run(cfg, extract, extractor=getattr(extract, "name", args.extractor), info=info)
    print(mtd.format_table(summary))
    print(f"providers: {summary['providers']}")
    print(f"wrote {args.out}/scores.csv and {args.out}/summary.json")
    return 0


def _mtd_kfold(args: argparse.Namespace) -> int:
    from inspection.bench import mtd_kfold
    from inspection.vision.goodset import FEATURE_LAYOUTS, feature_extractors

    extract = feature_extractors.create(args.extractor, threads=args.threads, device=args.device,
                                        precision=args.precision)
    teach_args: dict[str, object] = {
        "short_side": args.short_side, "bank_size": args.bank_size, "dims": args.dims,
        "top_k": args.top_k, "folds": args.calibration_folds, "frr": args.frr, "seed": args.seed,
        "calibration_share": args.calibration_share,
        "max_patches": args.max_patches, "threshold_rule": args.threshold_rule,
        "scales": FEATURE_LAYOUTS[args.features], "tile_knn": args.tile_knn,
        "tile_prior": args.tile_prior, "tile_prior_knn": args.tile_prior_knn, "tile_weight": args.tile_weight,
        "highlights": args.highlights, "tile_rows": args.tile_rows,
        "bank_knn": 0 if args.features == "per-block" else args.bank_knn}
    cfg = mtd_kfold.KFoldConfig(
        args.data, args.out, good_folder=args.good_folder, folds=args.folds, val_fold=args.val_fold,
        val_source=((args.val_source if args.val_source is not None else "exp1") or None) if args.group == "run"
        else None, group=args.group, group_calibration=not args.no_group_calibration,
        pattern=args.pattern or mtd_kfold.SOURCE_PATTERN,
        only=tuple(int(v) for v in args.only.split(",") if v.strip()), max_train=args.max_train,
        teach_args=teach_args, threads=args.threads, seed=args.seed, progress=not args.quiet,
        heatmaps=args.heatmaps)
    info = {"providers": list(getattr(extract, "providers", ())), "precision": args.precision}

    def show(fold: dict[str, object]) -> None:
        print(f"fold {fold['fold']}: image AUROC {fold['image_auroc']:.4f}, pixel AUROC "
              f"{fold.get('pixel_auroc')}, good rejected {fold['good_rejected']}/{fold['good']}, "
              f"defective rejected {fold['defective_rejected']}/{fold['defective']}", flush=True)

    summary = mtd_kfold.run(cfg, extract, extractor=getattr(extract, "name", args.extractor), info=info,
                            on_fold=show)
    print(mtd_kfold.format_table(summary))
    print(f"wrote {args.out}/scores.csv and {args.out}/summary.json")
    return 0


def _mtd_split(args: argparse.Namespace) -> int:
    from inspection.bench.mtd import split_folder

    counts = split_folder(args.source, args.out, good_folder=args.good_folder,
                          train_share=args.train_share, seed=args.seed)
    print(f"{counts['train']} training images in {args.out}/train, {counts['test']} test images in "
          f"{args.out}/test, {counts['unused']} defective images of training sources left out")
    return 0
