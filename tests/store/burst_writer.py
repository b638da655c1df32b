"""Child process of the kill -9 test: writes a burst of results into a store and prints every
committed result id ("C <result_id> <part_id>") as soon as its transaction has committed."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from inspection.findings import DefectClass, Finding
from inspection.record import PartInfo, PartRecord
from inspection.result import InspectionResult, ResultCode
from inspection.store import ResultStore, StoreConfig


def expected(part_id: int) -> dict[str, object]:
    """What the record of ``part_id`` must contain after a restart."""
    reject = part_id % 3 == 0
    return {"verdict": "reject" if reject else "pass", "code": 2 if reject else 1,
            "defect_count": 1 if reject else 0, "part_id_str": f"SN{part_id:08d}",
            "trigger_seq": part_id & 0xFFFF}


def make(part_id: int) -> tuple[PartRecord, np.ndarray]:
    exp = expected(part_id)
    img = np.full((64, 80), 30 + part_id % 50, np.uint8)
    findings: tuple[Finding, ...] = ()
    if exp["verdict"] == "reject":
        cv2.circle(img, (40, 32), 6, 220, -1)
        findings = (Finding(box=(34, 26, 47, 39), score=0.9, defect_class=DefectClass.SHORT, area_px=113),)
    code = ResultCode.NG_DEFECT if findings else ResultCode.OK
    result = InspectionResult(code=code, findings=findings, timings_ms={"detect": 1.0}, recipe_id="burst",
                              image_shape=(64, 80), max_score=0.9 if findings else 0.0)
    part = PartInfo(trigger_seq=part_id & 0xFFFF, part_id=part_id, part_id_str=str(exp["part_id_str"]))
    return PartRecord(result, part), img


def main() -> int:
    root, start = Path(sys.argv[1]), int(sys.argv[2])
    lock = threading.Lock()
    names: dict[str, int] = {}

    def on_commit(ids: object) -> None:
        with lock:
            lines = [f"C {rid} {names[rid]}" for rid in ids]  # type: ignore[attr-defined]
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()

    store = ResultStore(StoreConfig(root, batch_max=8, save_pass_every=4), on_commit=on_commit).start()
    print("READY", flush=True)
    part_id = start
    while True:  # until killed
        record, img = make(part_id)
        with lock:
            names[record.result_id] = part_id
        store.submit(record, img)
        part_id += 1
        time.sleep(0.001)


if __name__ == "__main__":
    sys.exit(main())
