"""Image folders: the files of a folder in a stable order, each read or with the error reading it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from inspection.errors import ConfigError, ImageError, InspectionError
from inspection.imageio import read_image

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm")


def image_files(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name; ConfigError when there is none."""
    p = Path(folder)
    if not p.is_dir():
        raise ConfigError(f"{p} is not a folder", field="images")
    files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in EXTENSIONS)
    if not files:
        raise ConfigError(f"no image files ({', '.join(EXTENSIONS)}) in {p}", field="images")
    return files


def read_all(
    files: list[Path], *, transform: Callable[[np.ndarray], np.ndarray] | None = None
) -> Iterator[tuple[str, np.ndarray | InspectionError]]:
    """(name, grey image) per file, or (name, the error) for a file that cannot be read or
    transformed (e.g. undistorted: wrong size)."""
    for f in files:
        try:
            img = read_image(f)
            yield f.name, transform(img) if transform is not None else img
        except ImageError as exc:
            yield f.name, exc
