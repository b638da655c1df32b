"""``inspection recipe show`` and ``recipe check`` on a good-set bundle: shown with its model and
threshold, and checked with the detector the recipe names (the station's), not the classical one."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from goodset_support import EXTRACTOR, texture_tile, use_block_features, with_defect

from calibration.bundle import load_bundle
from inspection.cli import main
from inspection.pipeline import inspect
from inspection.recipe.definition import prepare
from inspection.result import ResultCode


def _write(folder: Path, tiles: list[np.ndarray]) -> list[np.ndarray]:
    folder.mkdir()
    for i, t in enumerate(tiles):
        cv2.imwrite(str(folder / f"t{i:02d}.png"), t)
    return tiles


def test_recipe_show_and_check_judge_a_goodset_recipe_with_its_model(tmp_path: Path, capsys,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    use_block_features(monkeypatch)
    rng = np.random.default_rng(8)
    _write(tmp_path / "good", [texture_tile(rng) for _ in range(14)])
    more = _write(tmp_path / "more", [texture_tile(rng) for _ in range(6)])
    bad = _write(tmp_path / "bad", [with_defect(texture_tile(rng)) for _ in range(4)])
    recipe = tmp_path / "tiles"
    assert main(["teach", "--good", str(tmp_path / "good"), "--out", str(recipe), "--detector", "goodset",
                 "--extractor", EXTRACTOR, "--no-align", "--short-side", "96", "--bank-size", "200",
                 "--top-k", "3", "--folds", "2", "--bank-knn", "0", "--target-frr", "0.1", "--quiet"]) == 0
    capsys.readouterr()

    assert main(["recipe", "show", str(recipe)]) == 0
    out = capsys.readouterr().out
    model = load_bundle(recipe).recipe.goodset
    assert model is not None
    assert f"detector        goodset (model {model.digest()[:16]}..., extractor {EXTRACTOR}@1, 14 held-out" in out
    assert f"threshold       {model.threshold:.4f} for target FRR 10.00%" in out

    assert main(["recipe", "check", str(recipe), "--good", str(tmp_path / "more"), "--bad", str(tmp_path / "bad"),
                 "--quiet", "--json", str(tmp_path / "check.json")]) == 0
    check = json.loads((tmp_path / "check.json").read_text())
    assert "taught for      FRR 10.000% (good-set model)" in capsys.readouterr().out
    # every smooth spot rejected, the fresh good tiles passed: the good-set model's verdicts
    assert (check["bad_total"], check["bad_rejected"]) == (4, 4)
    assert check["good_total"] == 6 and check["good_rejected"] <= 1
    # the classical detector (what the check used before) judges these tiles otherwise
    prepared = prepare(load_bundle(recipe).recipe)
    classical = [inspect(prepared, t).code != ResultCode.OK for t in more + bad]
    assert classical != [False] * 6 + [True] * 4
