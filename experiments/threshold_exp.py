"""Issue 12, round 7: threshold rules judged on good tiles the model did not see, without the
reported folds' defective tiles.

Inputs: summary.json files of ``inspection bench mtd-kfold`` runs (which record every fold's held-out
calibration scores) and their scores.csv. For every rule (held-out good scores -> threshold at a 1%
false-reject target):
- unseen runs: the share of a fold's own good tiles over the threshold its model set (the bench
  run on the validation fold's training runs only, one run held out at a time: "inner");
- unseen tiles of the taught runs: the calibration scores split at random into halves (200 draws),
  the threshold from one half, the share of the other half over it;
- defective tiles rejected: from a run on the validation fold (exp1) itself.

usage: .venv/bin/python experiments/threshold_exp.py INNER_DIR VAL_DIR [OUT.json]
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path
from statistics import NormalDist

import numpy as np

from inspection.vision.goodset import threshold_at_frr, threshold_robust

FRR = 0.01
Z = NormalDist().inv_cdf


def two_quantile_normal(s: np.ndarray, frr: float) -> float:
    """Normal fit through the median and the 90th percentile (the top tenth may hold flawed parts)."""
    q50, q90 = np.percentile(s, [50, 90])
    return float(q50 + Z(1 - frr) * (q90 - q50) / Z(0.9))


def exponential_tail(s: np.ndarray, frr: float) -> float:
    """Exponential tail over the 90th percentile, its scale from the median excess (robust to the
    few highest): q90 + beta * ln(0.1 / frr), beta = median(excess) / ln 2."""
    q90 = float(np.percentile(s, 90))
    excess = s[s > q90] - q90
    beta = float(np.median(excess)) / math.log(2.0) if excess.size else 0.0
    return q90 + beta * math.log(0.1 / frr)


RULES = {"empirical": threshold_at_frr, "robust normal (median, upper MAD)": threshold_robust,
         "normal through q50, q90": two_quantile_normal, "exponential tail over q90": exponential_tail}


def load(run_dir: Path) -> tuple[dict, dict[int, list[tuple[str, float]]]]:
    summary = json.loads((run_dir / "summary.json").read_text())
    scores: dict[int, list[tuple[str, float]]] = {}
    with (run_dir / "scores.csv").open() as fh:
        for r in csv.DictReader(fh):
            scores.setdefault(int(r["fold"]), []).append((r["path"].split("/")[0], float(r["score"])))
    return summary, scores


def main() -> None:
    inner, inner_scores = load(Path(sys.argv[1]))
    val, val_scores = load(Path(sys.argv[2]))
    rng = np.random.default_rng(0)
    out = {}
    for name, rule in RULES.items():
        good_over, good_n, ratio = 0, 0, []
        per_run = []
        for f in inner["per_fold"]:
            cal = np.array(f["calibration_scores"])
            thr = rule(cal, FRR)
            s = np.array([v for _, v in inner_scores[f["fold"]]])
            good_over += int((s > thr).sum())
            good_n += s.size
            per_run.append(f"{'+'.join(f['sources'])} {int((s > thr).sum())}/{s.size}")
            for _ in range(200):  # by tile: halves of the calibration scores
                perm = rng.permutation(cal.size)
                a, b = cal[perm[: cal.size // 2]], cal[perm[cal.size // 2:]]
                ratio.append(float((b > rule(a, FRR)).mean()))
        vf = val["per_fold"][0]
        vthr = rule(np.array(vf["calibration_scores"]), FRR)
        vs = val_scores[vf["fold"]]
        d = [v for folder, v in vs if folder != "MT_Free"]
        g = [v for folder, v in vs if folder == "MT_Free"]
        # the same rule on all 545 calibration scores of the validation fold's model, by tile
        cal_all = np.array(vf["calibration_scores"])
        by_tile = [float((cal_all[p[cal_all.size // 2:]] > rule(cal_all[p[: cal_all.size // 2]], FRR)).mean())
                   for p in (rng.permutation(cal_all.size) for _ in range(200))]
        out[name] = {"inner_unseen_run_frr": good_over / good_n, "inner_per_run": per_run,
                     "inner_by_tile_frr": float(np.mean(ratio)),
                     "val_by_tile_frr": float(np.mean(by_tile)),
                     "val_threshold": vthr, "val_good_rejected": f"{sum(v > vthr for v in g)}/{len(g)}",
                     "val_defective_rejected": f"{sum(v > vthr for v in d)}/{len(d)}"}
        r = out[name]
        print(f"{name:36s} unseen runs {100 * r['inner_unseen_run_frr']:5.2f}% ({'; '.join(per_run)})  "
              f"unseen tiles {100 * r['inner_by_tile_frr']:5.2f}% / {100 * r['val_by_tile_frr']:5.2f}%  "
              f"exp1: good {r['val_good_rejected']}, defective {r['val_defective_rejected']}")
    if len(sys.argv) > 3:
        Path(sys.argv[3]).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
