"""Rows of the result store: a part record as columns, a stored row as a frozen value, and queries."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from inspection.record import PartRecord
from inspection.result import ResultCode


class ReviewStatus(StrEnum):
    NONE = "none"
    CONFIRMED = "confirmed"  # the operator agrees: the part is bad
    OVERRIDDEN = "overridden"  # the operator says the reject was false: the part is good


class ImageState(StrEnum):
    NONE = "none"  # not selected for saving (a pass outside the sample)
    SAVED = "saved"
    DROPPED = "dropped"  # the writer's image budget was full when the part came
    FAILED = "failed"  # writing the file failed (see the log)
    SKIPPED_DISK = "skipped_disk"  # the disk was below half of min_free_bytes
    DELETED = "deleted"  # removed by retention


INSERT_SQL = """
INSERT INTO results (result_id, trigger_seq, part_id, part_id_str, recipe_id, recipe_number,
    model_hash, camera_id, station_id, verdict, code, message, defect_count, max_score, worst_class,
    findings_json, overlay_json, alignment_json, timings_json, cycle_ms, image_h, image_w,
    trigger_ns, decided_ns, stored_ns, image_state, image_path, overlay_path, image_bytes, heat_json)
VALUES (:result_id, :trigger_seq, :part_id, :part_id_str, :recipe_id, :recipe_number,
    :model_hash, :camera_id, :station_id, :verdict, :code, :message, :defect_count, :max_score,
    :worst_class, :findings_json, :overlay_json, :alignment_json, :timings_json, :cycle_ms, :image_h,
    :image_w, :trigger_ns, :decided_ns, :stored_ns, :image_state, :image_path, :overlay_path,
    :image_bytes, :heat_json)
"""


def record_row(record: PartRecord, *, stored_ns: int, image_state: ImageState, image_path: str | None,
               overlay_path: str | None, image_bytes: int, heat: bool = False) -> dict[str, Any]:
    """The column values of ``record`` for :data:`INSERT_SQL`; ``heat``: its heat map file was
    written beside the image (its kind and threshold are kept then)."""
    d = record.to_dict()
    h, w = record.result.image_shape
    return {
        "result_id": record.result_id,
        "trigger_seq": record.part.trigger_seq,
        "part_id": record.part.part_id,
        "part_id_str": record.part.part_id_str,
        "recipe_id": record.result.recipe_id,
        "recipe_number": record.part.recipe_number,
        "model_hash": record.part.model_hash,
        "camera_id": record.part.camera_id,
        "station_id": record.part.station_id,
        "verdict": record.verdict,
        "code": int(record.result.code),
        "message": record.result.message,
        "defect_count": d["defect_count"],
        "max_score": float(record.result.max_score),
        "worst_class": d["worst_class"],
        "findings_json": json.dumps(d["findings"], separators=(",", ":")),
        "overlay_json": json.dumps(d["overlay"], separators=(",", ":")),
        "alignment_json": None if d["alignment"] is None else json.dumps(d["alignment"]),
        "timings_json": json.dumps(d["timings_ms"]),
        "cycle_ms": record.cycle_ms,
        "image_h": int(h),
        "image_w": int(w),
        "trigger_ns": record.part.trigger_ns,
        "decided_ns": record.decided_ns,
        "stored_ns": stored_ns,
        "image_state": image_state.value,
        "image_path": image_path,
        "overlay_path": overlay_path,
        "image_bytes": image_bytes,
        "heat_json": json.dumps(record.result.heat_map.meta())
        if heat and record.result.heat_map is not None else None,
    }


@dataclass(frozen=True)
class Review:
    status: ReviewStatus
    reason: str
    user: str
    ts_ns: int

    def to_dict(self) -> dict[str, object]:
        return {"status": self.status.value, "reason": self.reason, "user": self.user, "ts_ns": self.ts_ns}


def _heat_meta(row: sqlite3.Row) -> dict[str, Any] | None:
    # ``in row`` would search the values: a row of a database not yet given the column has no key
    if "heat_json" not in row.keys() or not row["heat_json"]:  # noqa: SIM118
        return None
    meta: dict[str, Any] = json.loads(row["heat_json"])
    return meta


@dataclass(frozen=True)
class StoredResult:
    """One committed result as read back from the store."""

    seq: int
    result_id: str
    trigger_seq: int
    part_id: int
    part_id_str: str
    recipe_id: str
    recipe_number: int
    model_hash: str
    camera_id: str
    station_id: str
    verdict: str
    code: int
    message: str
    defect_count: int
    max_score: float
    worst_class: int | None
    findings: list[dict[str, Any]]
    overlay: list[dict[str, Any]]
    alignment: dict[str, Any] | None
    timings_ms: dict[str, float]
    cycle_ms: float
    image_shape: tuple[int, int]
    trigger_ns: int
    decided_ns: int
    stored_ns: int
    image_state: ImageState
    image_path: str | None
    overlay_path: str | None
    image_bytes: int
    review: Review | None
    heat_map: dict[str, Any] | None = None  # kind/threshold of the stored heat map (see HeatMap.meta)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> StoredResult:
        review = None
        if row["review_status"] != ReviewStatus.NONE.value:
            review = Review(ReviewStatus(row["review_status"]), row["review_reason"] or "",
                            row["review_user"] or "", int(row["review_ns"] or 0))
        return cls(
            seq=row["seq"], result_id=row["result_id"], trigger_seq=row["trigger_seq"],
            part_id=row["part_id"], part_id_str=row["part_id_str"], recipe_id=row["recipe_id"],
            recipe_number=row["recipe_number"], model_hash=row["model_hash"],
            camera_id=row["camera_id"], station_id=row["station_id"], verdict=row["verdict"],
            code=row["code"], message=row["message"], defect_count=row["defect_count"],
            max_score=row["max_score"], worst_class=row["worst_class"],
            findings=json.loads(row["findings_json"]), overlay=json.loads(row["overlay_json"]),
            alignment=None if row["alignment_json"] is None else json.loads(row["alignment_json"]),
            timings_ms=json.loads(row["timings_json"]), cycle_ms=row["cycle_ms"],
            image_shape=(row["image_h"], row["image_w"]), trigger_ns=row["trigger_ns"],
            decided_ns=row["decided_ns"], stored_ns=row["stored_ns"],
            image_state=ImageState(row["image_state"]), image_path=row["image_path"],
            overlay_path=row["overlay_path"], image_bytes=row["image_bytes"], review=review,
            heat_map=_heat_meta(row),
        )

    @property
    def code_name(self) -> str:
        try:
            return ResultCode(self.code).name
        except ValueError:
            return f"CODE_{self.code}"

    def to_dict(self) -> dict[str, object]:
        return {
            "seq": self.seq, "result_id": self.result_id, "trigger_seq": self.trigger_seq,
            "part_id": self.part_id, "part_id_str": self.part_id_str, "recipe_id": self.recipe_id,
            "recipe_number": self.recipe_number, "model_hash": self.model_hash,
            "camera_id": self.camera_id, "station_id": self.station_id, "verdict": self.verdict,
            "code": self.code, "code_name": self.code_name, "message": self.message,
            "defect_count": self.defect_count, "max_score": self.max_score,
            "worst_class": self.worst_class, "findings": self.findings, "overlay": self.overlay,
            "alignment": self.alignment, "timings_ms": self.timings_ms, "cycle_ms": self.cycle_ms,
            "image_shape": list(self.image_shape), "trigger_ns": self.trigger_ns,
            "decided_ns": self.decided_ns, "stored_ns": self.stored_ns,
            "image_state": self.image_state.value, "has_image": self.image_path is not None,
            "has_overlay": self.overlay_path is not None,
            "review": None if self.review is None else self.review.to_dict(),
            # only while the image (and with it the heat map file) is kept
            "heat_map": self.heat_map if self.image_path is not None else None,
        }


@dataclass(frozen=True)
class ResultQuery:
    """Filters for :meth:`ResultStore.query`; every field is optional. ``before_seq`` pages
    backwards (newest first): pass the smallest ``seq`` of the previous page."""

    verdict: str | None = None
    code: int | None = None
    recipe_id: str | None = None
    review: str | None = None  # a ReviewStatus value, or "pending" (a reject not reviewed yet)
    part: str | None = None  # the numeric part id or the start of the serial; "*piece": anywhere in it
    trigger_seq: int | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    has_image: bool | None = None
    before_seq: int | None = None
    after_seq: int | None = None  # pages forwards (oldest first): the largest seq of the previous page
    seq_min: int | None = None  # set by the store from a time window (see ResultStore.query)
    seq_max: int | None = None
    oldest_first: bool = False
    limit: int = 50

    def where(self) -> tuple[str, dict[str, Any]]:
        """The SQL WHERE clause (without ``WHERE``; "1" when empty) and its parameters."""
        clauses: list[str] = []
        params: dict[str, Any] = {}
        if self.verdict is not None:
            clauses.append("verdict = :verdict")
            params["verdict"] = self.verdict
        if self.code is not None:
            clauses.append("code = :code")
            params["code"] = self.code
        if self.recipe_id is not None:
            clauses.append("recipe_id = :recipe_id")
            params["recipe_id"] = self.recipe_id
        if self.review == "pending":
            clauses.append("review_status = 'none' AND verdict = 'reject'")
        elif self.review is not None:
            clauses.append("review_status = :review")
            params["review"] = self.review
        if self.part:
            if self.part.startswith("*"):  # a piece anywhere in the serial: no index can help (scans)
                clauses.append("part_id_str LIKE :part_like ESCAPE '\\'")
                esc = self.part[1:].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                params["part_like"] = f"%{esc}%"
            else:  # the numeric part id, or the start of the serial: both through an index
                prefix = "(part_id_str >= :part_lo AND part_id_str < :part_hi)"
                params["part_lo"], params["part_hi"] = self.part, self.part + "\U0010ffff"
                if self.part.isdigit():
                    clauses.append(f"(part_id = :part_num OR {prefix})")
                    params["part_num"] = int(self.part) if len(self.part) < 12 else -1
                else:
                    clauses.append(prefix)
        if self.trigger_seq is not None:
            clauses.append("trigger_seq = :trigger_seq")
            params["trigger_seq"] = self.trigger_seq
        if self.since_ns is not None:
            clauses.append("decided_ns >= :since_ns")
            params["since_ns"] = self.since_ns
        if self.until_ns is not None:
            clauses.append("decided_ns < :until_ns")
            params["until_ns"] = self.until_ns
        if self.has_image is not None:
            clauses.append("image_path IS NOT NULL" if self.has_image else "image_path IS NULL")
        if self.before_seq is not None:
            clauses.append("seq < :before_seq")
            params["before_seq"] = self.before_seq
        if self.after_seq is not None:
            clauses.append("seq > :after_seq")
            params["after_seq"] = self.after_seq
        if self.seq_min is not None:
            clauses.append("seq >= :seq_min")
            params["seq_min"] = self.seq_min
        if self.seq_max is not None:
            clauses.append("seq <= :seq_max")
            params["seq_max"] = self.seq_max
        return (" AND ".join(clauses) or "1"), params
