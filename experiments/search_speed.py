"""Issue 12, round 7: the nearest-neighbour search's time for banks of the same arithmetic
(PCA dimensions x bank rows) through the product's ONNX graph (``OnnxNearest``), one thread,
the shapes interleaved, median of ROUNDS calls each.

usage: .venv/bin/python experiments/search_speed.py OUT.json [ROWS] [D:M ...]
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from plugins.detectors.patch_features import OnnxNearest

ROUNDS = 25


def main() -> None:
    out = sys.argv[1]
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 1100
    shapes = [tuple(int(v) for v in s.split(":")) for s in (sys.argv[3:] or ["64:5000", "48:6667", "32:10000"])]
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(rows, 232)).astype(np.float32)
    mean = np.zeros(232, np.float32)
    search = OnnxNearest(threads=1)
    args = {s: (rng.normal(size=(232, s[0])).astype(np.float32) / 15, rng.normal(size=(s[1], s[0])).astype(np.float32))
            for s in shapes}
    times: dict[tuple[int, int], list[float]] = {s: [] for s in shapes}
    for r in range(ROUNDS + 2):
        for s in shapes:
            t0 = time.perf_counter()
            search(feats, mean, *args[s])
            if r >= 2:  # two warm-up rounds
                times[s].append((time.perf_counter() - t0) * 1e3)
    res = {f"{d}:{m}": {"median_ms": float(np.median(t)), "p10_ms": float(np.percentile(t, 10))}
           for (d, m), t in times.items()}
    base = res[f"{shapes[0][0]}:{shapes[0][1]}"]["median_ms"]
    for k, v in res.items():
        v["ratio"] = v["median_ms"] / base
        print(f"{k:>10}  median {v['median_ms']:6.2f} ms  p10 {v['p10_ms']:6.2f} ms  x{v['ratio']:.3f}")
    with open(out, "w") as fh:
        json.dump({"rows": rows, "rounds": ROUNDS, "shapes": res}, fh, indent=2)


if __name__ == "__main__":
    main()
