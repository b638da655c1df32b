"""The plant-facing view of one stored result: the JSON every integration (MQTT, the plant
database, OPC UA) sends, built from the committed row, never from the hot path."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from inspection.store.rows import StoredResult

MESSAGE_VERSION = 1


def iso_utc(ns: int) -> str:
    """``ns`` (Unix epoch, nanoseconds) as an ISO 8601 UTC timestamp with microseconds."""
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def result_message(r: StoredResult) -> dict[str, Any]:
    """result_id, station_id, trigger_seq, part_id, verdict, result_code, findings, recipe, timestamps."""
    return {
        "v": MESSAGE_VERSION,
        "result_id": r.result_id,
        "station_id": r.station_id,
        "trigger_seq": r.trigger_seq,
        "part_id": r.part_id,
        "part_id_str": r.part_id_str,
        "verdict": r.verdict,
        "result_code": r.code,
        "result_code_name": r.code_name,
        "message": r.message,
        "defect_count": r.defect_count,
        "max_score": r.max_score,
        "findings": r.findings,
        "recipe": {"id": r.recipe_id, "number": r.recipe_number, "model_hash": r.model_hash},
        "camera_id": r.camera_id,
        "cycle_ms": r.cycle_ms,
        "timestamps": {"trigger": iso_utc(r.trigger_ns), "decided": iso_utc(r.decided_ns),
                       "stored": iso_utc(r.stored_ns)},
        "timestamps_ns": {"trigger": r.trigger_ns, "decided": r.decided_ns, "stored": r.stored_ns},
    }
