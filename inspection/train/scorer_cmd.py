"""``inspection train scorer``: fit the classical detector's confidence model on DeepPCB."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np

from inspection.bench.deeppcb_data import load_pairs
from inspection.bench.perturb import PerturbSpec
from inspection.progress import Progress
from inspection.train.candidates import candidates_of_pair
from inspection.train.scorer_fit import fit_logistic

logger = logging.getLogger(__name__)


def train_scorer(folder: Path, out: Path, *, split: str = "train", seed: int = 0,
                 perturbed_copies: int = 1, threads: int = 1, progress: bool = True,
                 exclude_groups: tuple[str, ...] = ()) -> dict[str, object]:
    """Collect candidates of every pair of ``split`` (clean, plus ``perturbed_copies`` seeded
    perturbed copies), fit the logistic scorer, write it to ``out``; returns a small report."""
    cv2.setNumThreads(threads)
    pairs = load_pairs(folder, split=split, exclude_groups=exclude_groups)
    feats: list[np.ndarray] = []
    labels: list[int] = []
    bar = Progress(len(pairs) * (1 + perturbed_copies), "candidates", enabled=progress)
    for k, pair in enumerate(pairs):
        for copy in range(1 + perturbed_copies):
            spec = PerturbSpec() if copy else None
            for c in candidates_of_pair(pair, perturbation=spec, seed=seed * 7919 + k * 31 + copy):
                feats.append(c.features)
                labels.append(int(c.label > 0))
            bar.update()
    x, y = np.array(feats), np.array(labels)
    scorer = fit_logistic(x, y, name=f"deeppcb-{split}-seed{seed}")
    pred = np.array([scorer.score(f) >= 0.5 for f in x])
    tp = int((pred & (y > 0)).sum())
    report: dict[str, object] = {
        "pairs": len(pairs), "candidates": len(y), "defects": int(y.sum()),
        "excluded_groups": list(exclude_groups),
        "train_precision": tp / max(1, int(pred.sum())), "train_recall": tp / max(1, int(y.sum())),
    }
    data = scorer.to_dict()
    data["training"] = report
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2))
    return report
