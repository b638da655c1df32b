"""Issue 12, round 10: image AUROC on new physical tiles against the number of taught good images
(``bench mtd-kfold --group tile --max-train N``, the product's settings otherwise): one line per
fold, the mean of the reported folds in black.

usage: .venv/bin/python experiments/learning_curve_plot.py OUT.png N1=RUN1 N2=RUN2 ... (ALL for every image)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    out = Path(sys.argv[1])
    points: dict[int, dict[int, float]] = {}
    trained: dict[int, float] = {}
    val = 0
    for arg in sys.argv[2:]:
        _, path = arg.split("=", 1)
        d = json.loads((Path(path) / "summary.json").read_text())
        val = int(d["val_fold"])
        n = int(np.mean([f["train_images"] for f in d["per_fold"]]))
        points[n] = {int(f["fold"]): float(f["image_auroc"]) for f in d["per_fold"]}
        trained[n] = n
    ns = sorted(points)
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for fold in sorted(points[ns[0]]):
        ax.plot(ns, [points[n][fold] for n in ns], marker="o", lw=1, alpha=0.6,
                label=f"fold {fold}" + (" (validation)" if fold == val else ""))
    mean = [np.mean([a for k, a in points[n].items() if k != val]) for n in ns]
    ax.plot(ns, mean, marker="s", lw=2.5, color="black", label="mean of reported folds")
    for n, m in zip(ns, mean, strict=True):
        ax.annotate(f"{m:.3f}", (n, m), textcoords="offset points", xytext=(4, -12), fontsize=8)
    ax.axhline(0.985, ls="--", color="tab:red", lw=1)
    ax.text(ns[0], 0.975, "target 0.985", color="tab:red", fontsize=8, va="top")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.set_xlabel("good images taught (654 good images show 154 physical tiles: about 4 lights each)")
    ax.set_ylabel("image AUROC on new physical tiles")
    ax.set_ylim(0.65, 1.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Good-set model taught from more tiles (folds by physical tile)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
