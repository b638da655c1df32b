"""Issue 12: what the threshold does on a ``bench mtd-kfold`` run's scores, over the reported folds
(all but the validation fold): good and defective tiles rejected at each fold's threshold, per
defect type, at the other rule's threshold, and the upper bound of any threshold (each fold's
scores divided by its threshold, pooled, the threshold then set on the test good tiles themselves:
not deployable) at 1% / 2% / 5% of good tiles rejected.

usage: .venv/bin/python experiments/kfold_report.py RUN_DIR [VAL_FOLD]
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np


def main() -> None:
    run = Path(sys.argv[1])
    val = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    rows = [r for r in csv.DictReader((run / "scores.csv").open()) if int(r["fold"]) != val]
    folder = np.array([r["path"].split("/")[0] for r in rows])
    s = np.array([float(r["score"]) for r in rows])
    thr = np.array([float(r["threshold"]) for r in rows])
    alt = np.array([float(r["threshold_other_rule"]) for r in rows])
    good = folder == "MT_Free"
    for name, t in (("threshold", thr), ("other rule", alt)):
        per = defaultdict(list)
        for f, v in zip(folder[~good], (s > t)[~good], strict=True):
            per[f.removeprefix("MT_")].append(v)
        print(f"{name:10s}: good {int((s > t)[good].sum())}/{int(good.sum())} "
              f"({100 * (s > t)[good].mean():.2f}%), defective {int((s > t)[~good].sum())}/{int((~good).sum())} "
              f"({100 * (s > t)[~good].mean():.1f}%); "
              + ", ".join(f"{k} {100 * np.mean(v):.0f}%" for k, v in sorted(per.items())))
    ratio = s / thr
    g = np.sort(ratio[good])
    for frr in (0.01, 0.02, 0.05):
        t = g[int(np.ceil(g.size * (1 - frr))) - 1]
        print(f"upper bound at {100 * frr:.0f}% of good: {100 * (ratio[~good] > t).mean():.1f}% of defective")


if __name__ == "__main__":
    main()
