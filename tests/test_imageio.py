"""Reading images: corrupt, truncated, empty and missing files are typed errors with the path."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from inspection.errors import ImageError
from inspection.imageio import decode_image, percentiles8, read_image, to_grey8


@pytest.fixture
def png(tmp_path: Path) -> Path:
    img = (np.arange(64 * 48) % 251).astype(np.uint8).reshape(48, 64)
    path = tmp_path / "ok.png"
    cv2.imwrite(str(path), img)
    return path


def test_round_trip_is_bit_exact(png: Path) -> None:
    img = read_image(png)
    assert img.shape == (48, 64) and img.dtype == np.uint8
    assert int(img[1, 0]) == 64 % 251


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_truncated_file_is_refused(tmp_path: Path, ext: str) -> None:
    img = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    path = tmp_path / f"t{ext}"
    cv2.imwrite(str(path), img)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError) as err:
        read_image(path)
    assert err.value.key == "truncated_image" and str(path) in str(err.value)


def test_garbage_missing_and_empty(tmp_path: Path) -> None:
    garbage = tmp_path / "g.png"
    garbage.write_bytes(b"\x00not an image at all" * 10)
    empty = tmp_path / "e.png"
    empty.write_bytes(b"")
    for path, key in ((garbage, "corrupt_image"), (empty, "empty_image"),
                      (tmp_path / "missing.png", "image_not_found")):
        with pytest.raises(ImageError) as err:
            read_image(path)
        assert err.value.key == key
    with pytest.raises(ImageError):
        read_image(tmp_path)  # a directory


def test_decode_16bit_and_colour(tmp_path: Path) -> None:
    img16 = (np.arange(32 * 32, dtype=np.uint16) * 60).reshape(32, 32)
    ok, buf = cv2.imencode(".png", img16)
    assert ok
    out = decode_image(buf.tobytes(), grey=False)
    assert out.dtype == np.uint16 and np.array_equal(out, img16)
    assert to_grey8(out).dtype == np.uint8
    colour = np.zeros((8, 8, 3), np.uint8)
    colour[..., 2] = 255
    assert to_grey8(colour).shape == (8, 8)


def test_bad_arrays() -> None:
    for bad in (np.zeros((4, 4), np.float64), np.zeros((0, 4), np.uint8), np.zeros((2, 2, 2), np.uint8), [1, 2]):
        with pytest.raises(ImageError):
            to_grey8(bad)  # type: ignore[arg-type]


def test_percentiles8_matches_numpy() -> None:
    img = np.random.default_rng(2).integers(0, 256, (100, 100), dtype=np.uint8)
    lo, hi = percentiles8(img, (5, 95), step=1)
    assert abs(lo - np.percentile(img, 5)) <= 1 and abs(hi - np.percentile(img, 95)) <= 1
