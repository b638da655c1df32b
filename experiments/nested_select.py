"""Issue 12, round 10: choosing among variants without tuning on what is reported (nested k-fold).

Each argument NAME=RUN_DIR is one ``bench mtd-kfold --group tile`` run (its summary.json) of one
variant. Printed: every variant's image and pixel AUROC per fold. Then the *selection procedure*
is scored as a whole: for every reported fold k, the variant with the best mean image AUROC over
the other folds (the validation fold included, fold k never) is chosen, and its AUROC on fold k
is that fold's estimate. The mean of those is an honest estimate of "choose among these variants,
then teach", which picking the best variant by its reported mean is not. One line per run goes to
experiments/results/nested.jsonl.

usage: .venv/bin/python experiments/nested_select.py product=OUT1 robust=OUT2 clahe=OUT3
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "nested.jsonl"


def load(run: Path) -> tuple[int, dict[int, dict[str, float]]]:
    d = json.loads((run / "summary.json").read_text())
    folds = {int(f["fold"]): {"image": float(f["image_auroc"]), "pixel": float(f["pixel_auroc"]),
                              "good_rejected": f["good_rejected"], "good": f["good"],
                              "defective_rejected": f["defective_rejected"], "defective": f["defective"]}
             for f in d["per_fold"]}
    return int(d["val_fold"]), folds


def main() -> int:
    runs = dict(a.split("=", 1) for a in sys.argv[1:])
    if len(runs) < 2:
        print(__doc__)
        return 2
    data = {name: load(Path(path)) for name, path in runs.items()}
    vals = {v for v, _ in data.values()}
    if len(vals) != 1:
        raise SystemExit(f"the runs have different validation folds: {vals}")
    val = vals.pop()
    folds = sorted(set.intersection(*(set(f) for _, f in data.values())))
    reported = [k for k in folds if k != val]
    print("variant | " + " | ".join(f"fold {k}" + (" (val)" if k == val else "") for k in folds)
          + " | mean reported | pixel mean reported")
    for name, (_, f) in data.items():
        print(f"{name} | " + " | ".join(f"{f[k]['image']:.4f}" for k in folds)
              + f" | {np.mean([f[k]['image'] for k in reported]):.4f}"
              + f" | {np.mean([f[k]['pixel'] for k in reported]):.3f}")
    chosen, est = {}, {}
    for k in reported:
        others = [j for j in folds if j != k]
        best = max(data, key=lambda n: np.mean([data[n][1][j]["image"] for j in others]))
        chosen[k], est[k] = best, data[best][1][k]["image"]
    print("nested: " + ", ".join(f"fold {k}: {chosen[k]} {est[k]:.4f}" for k in reported)
          + f"; mean {np.mean(list(est.values())):.4f}")
    with RESULTS.open("a") as fh:
        fh.write(json.dumps({"runs": runs, "val_fold": val,
                             "per_variant": {n: {str(k): f[k] for k in folds} for n, (_, f) in data.items()},
                             "nested_chosen": {str(k): v for k, v in chosen.items()},
                             "nested_auroc": {str(k): v for k, v in est.items()},
                             "nested_mean": float(np.mean(list(est.values())))}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
