"""``inspection detect`` on files: verdict, JSON, overlay picture, exit codes, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from inspection.cli import main
from inspection.vision.synth import KINDS, make_part, make_reference


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {"golden": tmp_path / "golden.png", "good": tmp_path / "good.png", "bad": tmp_path / "bad.png"}
    cv2.imwrite(str(paths["golden"]), make_reference((256, 256), seed=5))
    cv2.imwrite(str(paths["good"]), make_part((256, 256), seed=5, dx=1.5, dy=-2.0, noise=2.0).image)
    cv2.imwrite(str(paths["bad"]), make_part((256, 256), seed=5, part_seed=2, defects=KINDS, noise=2.0).image)
    return paths


def test_good_part_exit_zero(files: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    args = ["detect", "--golden", str(files["golden"]), "--image", str(files["good"]), "--material", "bright"]
    assert main(args) == 1  # moved by 2 px with the whole image as ROI: not completely inspected
    assert "not completely inspected" in capsys.readouterr().out
    assert main([*args, "--roi-margin", "16"]) == 0
    assert "verdict: PASS" in capsys.readouterr().out


def test_defective_part_json_and_overlay(files: dict[str, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture) -> None:
    overlay = tmp_path / "overlay.png"
    rc = main(["detect", "--golden", str(files["golden"]), "--image", str(files["bad"]), "--material",
               "bright", "--json", "--overlay", str(overlay)])
    data = json.loads(capsys.readouterr().out)
    assert rc == 1 and data["verdict"] == "reject" and data["defect_count"] >= len(KINDS)
    assert all({"box", "score", "class_name", "polarity"} <= set(f) for f in data["findings"])
    picture = cv2.imread(str(overlay))
    assert picture is not None and picture.shape == (256, 256, 3)


def test_bad_input_exit_two(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(files["good"].read_bytes()[:100])
    assert main(["detect", "--golden", str(files["golden"]), "--image", str(broken)]) == 2
    assert "truncated" in capsys.readouterr().err
    assert main(["detect", "--golden", str(tmp_path / "nope.png"), "--image", str(files["good"])]) == 2


def test_detect_with_a_golden_recipe_bundle_judges_as_planted(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """``--recipe BUNDLE`` with a golden-reference recipe (the demo's generated part type): the part is
    aligned and judged with the recipe's own ROI and settings, as the station does."""
    from inspection.cli.demo import _write_bundle
    from inspection.cli.demo_parts import generate_parts

    reference, planted = generate_parts(tmp_path / "parts", count=6)
    folder = _write_bundle(tmp_path / "recipes", reference)
    for k, bad in enumerate(planted):
        part = tmp_path / "parts" / f"part-{k:04d}.png"
        rc = main(["detect", "--recipe", str(folder / "demo-part"), "--image", str(part)])
        assert rc == (1 if bad else 0), (k, capsys.readouterr().out)
    assert any(planted) and not all(planted)
