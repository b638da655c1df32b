"""Camera benchmarks: trigger-to-frame latency, sustained frame rate, driver overhead over a raw SDK
loop, and a long triggered run that checks every frame id (and the served image) for losses and
duplicates. Used by ``inspection camera bench``; numbers go to a table and a JSON file, never into
timed unit tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from inspection.camera.contract import Camera
from inspection.errors import CameraError, GrabTimeout
from inspection.frame import IncompleteFrame

Progress = Callable[[int, int], None]


class RawLoop(Protocol):
    def step(self) -> float: ...


@dataclass(frozen=True)
class LatencyStats:
    """Latencies in milliseconds over ``n`` samples."""

    n: int
    median_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> LatencyStats:
        if not seconds:
            raise ValueError("no samples")
        ms = np.asarray(seconds, dtype=np.float64) * 1000.0
        return cls(n=int(ms.size), median_ms=float(np.median(ms)), p99_ms=float(np.percentile(ms, 99)),
                   mean_ms=float(ms.mean()), min_ms=float(ms.min()), max_ms=float(ms.max()))


def driver_step(camera: Camera, timeout_s: float = 5.0) -> float:
    """One software trigger -> Frame through the camera contract; seconds."""
    t0 = time.perf_counter()
    camera.trigger()
    camera.grab(timeout_s)
    return time.perf_counter() - t0


def interleaved_latency(camera: Camera, raw: RawLoop, *, count: int, warmup: int = 20,
                        progress: Progress | None = None) -> tuple[list[float], list[float]]:
    """Driver and raw-loop latencies measured alternately (driver first on even iterations, raw
    first on odd ones), so both see the same machine load; warm-up iterations are dropped."""
    driver: list[float] = []
    rawl: list[float] = []
    total = warmup + count
    for i in range(total):
        if i % 2 == 0:
            d = driver_step(camera)
            r = raw.step()
        else:
            r = raw.step()
            d = driver_step(camera)
        if i >= warmup:
            driver.append(d)
            rawl.append(r)
        if progress is not None:
            progress(i + 1, total)
    return driver, rawl


def sustained_fps(steps: Sequence[Callable[[], float]], *, count: int, chunk: int = 10) -> list[float]:
    """Frames per second of ``count`` back-to-back trigger->frame cycles for each of ``steps``,
    run in alternating chunks of ``chunk`` cycles so that all see the same machine load."""
    elapsed = [0.0] * len(steps)
    done = 0
    while done < count:
        n = min(chunk, count - done)
        for k, step in enumerate(steps):
            t0 = time.perf_counter()
            for _ in range(n):
                step()
            elapsed[k] += time.perf_counter() - t0
        done += n
    return [count / e for e in elapsed]


@dataclass
class IdCheck:
    """Result of :func:`check_frame_ids`: every number except ``frames`` should be zero."""

    triggers: int = 0
    frames: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    timeouts: int = 0
    incomplete: int = 0
    errors: int = 0
    content_mismatch: int = 0
    elapsed_s: float = 0.0
    first_problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.frames == self.triggers and not (
            self.lost or self.duplicated or self.out_of_order or self.timeouts or self.incomplete
            or self.errors or self.content_mismatch)

    def note(self, text: str) -> None:
        if len(self.first_problems) < 20:
            self.first_problems.append(text)

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["clean"] = self.clean
        return out


def check_frame_ids(camera: Camera, *, count: int, stamps: int | None = None, timeout_s: float = 5.0,
                    progress: Progress | None = None) -> IdCheck:
    """``count`` software-triggered grabs on an armed camera; checks that frame ids go up by
    exactly one each time and, with ``stamps`` (images served in a cycle of that many, pixel (0, 0)
    holding the image number), that each frame shows the image its id says it must."""
    res = IdCheck()
    last_id: int | None = None
    first: tuple[int, int] | None = None  # (frame id, stamp) of the first frame
    t0 = time.perf_counter()
    for i in range(count):
        res.triggers += 1
        try:
            camera.trigger()
            frame = camera.grab(timeout_s)
        except GrabTimeout as exc:
            res.timeouts += 1
            res.note(f"trigger {i + 1}: {exc}")
            continue
        except IncompleteFrame as exc:
            res.incomplete += 1
            res.note(f"trigger {i + 1}: {exc}")
            continue
        except CameraError as exc:
            res.errors += 1
            res.note(f"trigger {i + 1}: {exc}")
            continue
        res.frames += 1
        fid = frame.frame_id
        if last_id is not None and fid != last_id + 1:
            if fid == last_id:
                res.duplicated += 1
            elif fid < last_id:
                res.out_of_order += 1
            else:
                res.lost += fid - last_id - 1
            res.note(f"trigger {i + 1}: frame id {fid} after {last_id}")
        last_id = fid
        if stamps:
            stamp = int(frame.pixels.flat[0])
            if first is None:
                first = (fid, stamp)
            expected = (first[1] + fid - first[0]) % stamps
            if stamp != expected:
                res.content_mismatch += 1
                res.note(f"trigger {i + 1}: frame id {fid} shows image {stamp}, expected {expected}")
        if progress is not None:
            progress(i + 1, count)
    res.elapsed_s = time.perf_counter() - t0
    return res


def write_stamped_images(folder: Path, *, count: int, width: int, height: int) -> list[Path]:
    """``count`` Mono8 PNGs (a smooth pattern; pixel (0, 0) = image number) for content checks."""
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:height, 0:width]
    paths = []
    for k in range(count):
        img = ((xx + 3 * yy + 37 * k) % 256).astype(np.uint8)
        img[0, 0] = k
        path = folder / f"stamp_{k:03d}.png"
        if not cv2.imwrite(str(path), img):
            raise OSError(f"cannot write {path}")
        paths.append(path)
    return paths
