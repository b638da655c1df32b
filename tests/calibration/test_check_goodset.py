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
    assert "detection       good-set model" in out and "x contrast" not in out
    assert len(model.edge_norm) == 8 and "heat map        each patch against good parts at its distance" in out
    # a recipe taught before the side rings were measured: its map is shown as it is, and show says so
    from dataclasses import replace

    from calibration.bundle_writer import write_bundle

    old = tmp_path / "old"
    write_bundle(replace(load_bundle(recipe).recipe, goodset=replace(model, edge_norm=())), old)
    assert main(["recipe", "show", str(old)]) == 0
    assert "heat map        the anomaly map as it is (taught before the side rings" in capsys.readouterr().out

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


def test_detect_one_part_with_a_goodset_recipe_and_its_heat_map(tmp_path: Path, capsys,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """``inspection detect --recipe BUNDLE --image PART``: one part judged as the station judges it (the
    recipe's good-set model); the overlay shows the model's heat map over the part; the golden-reference
    options are refused with a recipe, and the goodset detector without one."""
    use_block_features(monkeypatch)
    rng = np.random.default_rng(9)
    _write(tmp_path / "good", [texture_tile(rng) for _ in range(12)])
    recipe = tmp_path / "tiles"
    assert main(["teach", "--good", str(tmp_path / "good"), "--out", str(recipe), "--detector", "goodset",
                 "--extractor", EXTRACTOR, "--no-align", "--short-side", "96", "--bank-size", "200",
                 "--top-k", "3", "--folds", "2", "--bank-knn", "0", "--target-frr", "0.1", "--quiet"]) == 0
    good, bad = texture_tile(rng), with_defect(texture_tile(rng), center=(100, 40))
    cv2.imwrite(str(tmp_path / "good.png"), good)
    cv2.imwrite(str(tmp_path / "bad.png"), bad)
    capsys.readouterr()
    assert main(["detect", "--recipe", str(recipe), "--image", str(tmp_path / "good.png")]) == 0
    assert "verdict: PASS" in capsys.readouterr().out
    overlay = tmp_path / "overlay.png"
    assert main(["detect", "--recipe", str(recipe), "--image", str(tmp_path / "bad.png"), "--json",
                 "--overlay", str(overlay)]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "reject"
    picture = cv2.imread(str(overlay))
    assert picture is not None and picture.shape == (120, 160, 3)
    # the heat map is drawn in colour, hottest around the smooth spot at (100, 40), grey elsewhere
    colour = np.abs(picture.astype(int) - picture.mean(2, keepdims=True)).sum(2)
    assert colour[30:50, 90:110].mean() > 2 * colour[90:, :60].mean()
    assert main(["detect", "--recipe", str(recipe), "--image", str(tmp_path / "bad.png"), "--material", "dark"]) == 2
    assert "--material: the recipe holds its own settings" in capsys.readouterr().err
    assert main(["detect", "--golden", str(tmp_path / "good.png"), "--image", str(tmp_path / "bad.png"),
                 "--detector", "goodset"]) == 2
    assert "--recipe RECIPE_DIR" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: one of --golden, --recipe
        main(["detect", "--image", str(tmp_path / "bad.png")])
    assert "one of the arguments --golden --recipe is required" in capsys.readouterr().err
