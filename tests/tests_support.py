"""Test helpers: small synthetic part images with real findings (importable from any test)."""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspection.findings import DefectClass, Finding, Polarity
from inspection.result import InspectionResult, ResultCode
from inspection.store import ResultQuery
from inspection.vision.geometry import Alignment, rigid_matrix

cv2.setNumThreads(1)

STAGE_TIMES = {"acquire": 4.0, "align": 3.0, "detect": 9.0, "decide": 0.5, "publish": 0.7}


def synthetic_part(seed: int, *, size: tuple[int, int] = (120, 160), defects: int = 1,
                   shift: tuple[int, int] = (0, 0)) -> tuple[np.ndarray, list[Finding]]:
    """A grey PCB-like part (dark board, bright traces) with ``defects`` dark cuts in the traces.
    Returns the image (shifted by ``shift`` px) and one Finding per defect in reference
    coordinates (box and contour of the cut)."""
    rng = np.random.default_rng(seed)
    h, w = size
    ref = np.full((h, w), 40, np.uint8)
    ys = np.linspace(h * 0.2, h * 0.8, 4).astype(int)
    for y in ys:
        cv2.rectangle(ref, (8, int(y) - 3), (w - 8, int(y) + 3), 200, -1)
    findings = []
    part = ref.copy()
    for i in range(defects):
        y = int(ys[i % len(ys)])
        x = int(rng.integers(20, w - 30))
        cw = int(rng.integers(4, 9))
        mask = np.zeros_like(ref)
        cv2.rectangle(mask, (x, y - 4), (x + cw, y + 4), 255, -1)
        part[mask > 0] = 40
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        contour = contours[0].reshape(-1, 2).astype(np.float64)
        score = float(rng.uniform(0.7, 0.99))
        findings.append(Finding(box=(x, y - 4, x + cw + 1, y + 5), score=score, defect_class=DefectClass.OPEN,
                                polarity=Polarity.DARK, area_px=int((mask > 0).sum()), contrast=160.0,
                                contour=contour))
    if shift != (0, 0):
        m = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])  # type: ignore[list-item]
        part = cv2.warpAffine(part, m, (w, h), borderValue=40)
    return part, findings


def make_result(seed: int = 0, *, defective: bool = True, size: tuple[int, int] = (120, 160),
                shift: tuple[int, int] = (0, 0), recipe_id: str = "pcb-a",
                code: ResultCode | None = None) -> tuple[InspectionResult, np.ndarray]:
    """A real InspectionResult (with findings, alignment and stage times) and its image."""
    image, findings = synthetic_part(seed, size=size, defects=1 if defective else 0, shift=shift)
    if code is None:
        code = ResultCode.NG_DEFECT if defective else ResultCode.OK
    timings = {k: v + (seed % 7) * 0.1 for k, v in STAGE_TIMES.items()}
    timings["total"] = sum(timings.values())
    result = InspectionResult(
        code=code, findings=tuple(findings),
        alignment=Alignment(matrix=rigid_matrix(float(shift[0]), float(shift[1]), 0.0), score=0.97, ok=True,
                            coverage=1.0),
        message="" if code is ResultCode.OK else code.name.lower(), timings_ms=timings, recipe_id=recipe_id,
        image_shape=size, max_score=max((f.score for f in findings), default=0.05))
    return result, image


# Screenshots and other files the tests leave for people to look at (gitignored).
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def wait_stored(station: Any, total: int, timeout: float = 10.0) -> None:
    """Until the station's store holds ``total`` results. The station stores a result after the PLC
    has seen it (the journal makes it durable first), so a store flush right after the last
    handshake can come before that part was handed to the store."""
    deadline = time.monotonic() + timeout
    while True:
        station.store.flush(timeout)
        have = len(station.store.query(ResultQuery(limit=total)))
        if have >= total:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{have} of {total} results stored after {timeout:.0f} s")
        time.sleep(0.02)


def _ephemeral_range() -> tuple[int, int]:
    try:
        lo, hi = (int(v) for v in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range. A server that is stopped and started
    again on the same port (a broker or database outage) must not have a port the kernel can hand out
    as a client's source port meanwhile: a client reconnecting to a port in that range while nothing
    listens can connect to itself (source port == destination port) and then holds the port, so the
    restarted server cannot bind it (seen once in CI: the restarted Mosquitto never listened)."""
    lo, _ = _ephemeral_range()
    rng = random.Random()
    if lo > 12000:
        for _ in range(200):
            port = rng.randrange(10000, lo - 1)
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
