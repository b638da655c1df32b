"""A synthetic part feed for running the HMI before the station runtime exists (``python -m hmi
serve --feed``) and for the HMI benchmark: PCB-like parts with known defects, decided results with
findings and stage times, pushed into a :class:`~inspection.station.local.LocalStation`.

This is a stand-in for the trigger -> acquire -> ... -> decide loop, not an inspection: the
findings are the defects it drew.
"""

from __future__ import annotations

import logging
import threading

import cv2
import numpy as np

from inspection.findings import DefectClass, Finding, Polarity
from inspection.record import PartInfo
from inspection.result import InspectionResult, ResultCode
from inspection.station.local import LocalStation
from inspection.station.port import PlcLink
from inspection.vision.geometry import Alignment, rigid_matrix

logger = logging.getLogger(__name__)

BOARD, COPPER = 38, 190


def golden_board(size: tuple[int, int] = (480, 640)) -> np.ndarray:
    """A grey PCB-like reference: dark board, bright horizontal and vertical traces, round pads."""
    h, w = size
    img = np.full((h, w), BOARD, np.uint8)
    for i, y in enumerate(np.linspace(h * 0.12, h * 0.88, 9).astype(int)):
        x2 = int(w * (0.55 + 0.04 * (i % 3)))
        cv2.rectangle(img, (int(w * 0.06), int(y) - 5), (x2, int(y) + 5), COPPER, -1)
    for x in np.linspace(w * 0.68, w * 0.94, 5).astype(int):
        cv2.rectangle(img, (int(x) - 5, int(h * 0.1)), (int(x) + 5, int(h * 0.9)), COPPER, -1)
        for y in np.linspace(h * 0.15, h * 0.85, 4).astype(int):
            cv2.circle(img, (int(x), int(y)), 12, COPPER, -1)
            cv2.circle(img, (int(x), int(y)), 4, BOARD, -1)
    return img


def synthetic_part(rng: np.random.Generator, reference: np.ndarray, *, defects: int,
                   ) -> tuple[np.ndarray, list[Finding], Alignment]:
    """A part image (reference + drawn defects + noise, shifted/rotated a little) with one Finding
    per defect (reference coordinates, contour included) and the true alignment."""
    h, w = reference.shape
    part = reference.copy()
    findings = []
    kinds = [DefectClass.OPEN, DefectClass.SHORT, DefectClass.SPUR, DefectClass.PINHOLE, DefectClass.COPPER]
    for _ in range(defects):
        kind = kinds[int(rng.integers(len(kinds)))]
        mask = np.zeros_like(reference)
        cx, cy = int(rng.integers(int(w * 0.1), int(w * 0.9))), int(rng.integers(int(h * 0.1), int(h * 0.9)))
        if kind is DefectClass.OPEN:
            cv2.rectangle(mask, (cx, cy - 9), (cx + int(rng.integers(5, 12)), cy + 9), 255, -1)
            value = BOARD
        elif kind is DefectClass.SHORT:
            cv2.line(mask, (cx, cy), (cx + int(rng.integers(-25, 25)), cy + 28), 255, 5)
            value = COPPER
        elif kind is DefectClass.PINHOLE:
            cv2.circle(mask, (cx, cy), int(rng.integers(3, 6)), 255, -1)
            value = BOARD
        else:
            cv2.ellipse(mask, (cx, cy), (int(rng.integers(6, 16)), int(rng.integers(4, 10))),
                        float(rng.uniform(0, 180)), 0, 360, 255, -1)
            value = COPPER
        part[mask > 0] = value
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        c = max(contours, key=cv2.contourArea).reshape(-1, 2)
        x, y, bw, bh = cv2.boundingRect(c)
        findings.append(Finding(box=(x, y, x + bw, y + bh), score=float(rng.uniform(0.62, 0.99)),
                                defect_class=kind,
                                polarity=Polarity.BRIGHT if value == COPPER else Polarity.DARK,
                                area_px=int((mask > 0).sum()), contrast=float(abs(COPPER - BOARD)),
                                contour=c.astype(np.float64)))
    if rng.random() < 0.3:  # a below-threshold finding now and then (amber in the HMI)
        x, y = int(rng.integers(20, w - 40)), int(rng.integers(20, h - 40))
        findings.append(Finding(box=(x, y, x + 14, y + 10), score=float(rng.uniform(0.2, 0.45)),
                                defect_class=DefectClass.UNKNOWN, area_px=60, contrast=18.0))
    dx, dy, ang = float(rng.uniform(-6, 6)), float(rng.uniform(-6, 6)), float(rng.uniform(-0.8, 0.8))
    m = rigid_matrix(dx, dy, ang, center=(w / 2, h / 2))
    moved = cv2.warpAffine(part, m, (w, h), borderValue=BOARD)
    noise = rng.normal(0, 3, moved.shape)
    moved = np.clip(moved.astype(np.float64) + noise, 0, 255).astype(np.uint8)
    return moved, findings, Alignment(matrix=m, score=float(rng.uniform(0.93, 0.99)), ok=True, coverage=0.99)


def synthetic_result(rng: np.random.Generator, reference: np.ndarray, *, reject_rate: float = 0.15,
                     ) -> tuple[InspectionResult, np.ndarray]:
    defects = int(rng.integers(1, 4)) if rng.random() < reject_rate else 0
    image, findings, alignment = synthetic_part(rng, reference, defects=defects)
    reported = [f for f in findings if f.reported]
    timings = {"acquire": float(rng.gamma(9, 0.9)), "align": float(rng.gamma(6, 0.6)),
               "detect": float(rng.gamma(10, 1.6)), "decide": float(rng.gamma(2, 0.15)),
               "publish": float(rng.gamma(3, 0.3))}
    timings["total"] = sum(timings.values())
    code = ResultCode.NG_DEFECT if reported else ResultCode.OK
    return InspectionResult(code=code, findings=tuple(findings), alignment=alignment,
                            message="" if code is ResultCode.OK else f"{len(reported)} defect(s)",
                            timings_ms=timings, image_shape=(int(image.shape[0]), int(image.shape[1])),
                            max_score=max((f.score for f in findings), default=0.0)), image


class DemoFeed:
    """Pushes a synthetic part into ``station`` every ``1/rate`` s while the station is armed."""

    def __init__(self, station: LocalStation, *, rate: float = 2.0, seed: int = 0,
                 size: tuple[int, int] = (480, 640), reject_rate: float = 0.15) -> None:
        if not rate > 0:
            raise ValueError("rate must be > 0 parts/s")
        self.station = station
        self.period = 1.0 / rate
        self.rng = np.random.default_rng(seed)
        self.reference = golden_board(size)
        self.reject_rate = reject_rate
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.seq = 0

    def one(self) -> None:
        result, image = synthetic_result(self.rng, self.reference, reject_rate=self.reject_rate)
        self.seq += 1
        recipe = next(r for r in self.station.recipes() if r.active)
        self.station.inject(result, image, part=PartInfo(
            trigger_seq=self.seq & 0xFFFF, part_id=self.seq, part_id_str=f"PCB{self.seq:07d}",
            recipe_number=recipe.number, model_hash=recipe.model_hash, camera_id="sim0",
            station_id=self.station.station_id))

    def start(self) -> DemoFeed:
        self.station.set_plc_link(PlcLink(True, "simulator", "in-process", 0.0, True, "demo feed"))
        self._thread = threading.Thread(target=self._run, name="demo-feed", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            if self.station.status().armed:
                try:
                    self.one()
                except Exception:  # a demo must keep running; the log says why
                    logger.exception("demo feed: part failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
