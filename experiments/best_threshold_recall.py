"""Issue 12, round 11: the best any threshold could do, from a k-fold bench's ``scores.csv``: the share
of defective tiles of the reported folds (the validation fold of its summary.json left out) over the
score that rejects 1% / 2% of their good tiles (each score in units of its fold's threshold, pooled).
Not deployable (the threshold is set on the test good tiles): the shape of the curve where a line runs.

usage: python best_threshold_recall.py BENCH_OUT_DIR [...]
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np


def main() -> None:
    for out in sys.argv[1:]:
        val = str(json.loads((Path(out) / "summary.json").read_text())["validation"]["fold"])
        with (Path(out) / "scores.csv").open() as fh:
            rows = [r for r in csv.DictReader(fh) if r["fold"] != val]
        s = np.array([float(r["score"]) / float(r["threshold"]) for r in rows])
        good = np.array([r["path"].startswith("MT_Free/") for r in rows])
        g = np.sort(s[good])
        recall = [f"{100 * (s[~good] > g[int(np.ceil(len(g) * (1 - q))) - 1]).mean():.1f}%" for q in (0.01, 0.02)]
        print(f"{Path(out).name}: best threshold recall at 1% / 2% of good: {' / '.join(recall)} "
              f"({int(good.sum())} good, {int((~good).sum())} defective)")


if __name__ == "__main__":
    main()
