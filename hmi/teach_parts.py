"""Teaching a recipe from N good parts on the running station, as a background job.

The parts come from the station's stored good results of the recipe (the most recent N), from an
explicit selection of result ids, or from the line (the next N good parts it inspects). A part that
was NG, not aligned or below the recipe's alignment score is refused and counted, with the reason.
Teaching is the one of ``inspection teach`` (:func:`calibration.teach.teach`): the golden reference
(median of the aligned parts), the variation model (tolerance band) and its widening from held-out
scores; the result becomes a new golden version of the recipe with its variation model, applied
between cycles and audited. A good-set recipe (detector "goodset") is taught like ``inspection teach
--detector goodset`` (:func:`calibration.teach_goodset.teach_goodset`) with the settings of its
current model (extractor, image size, bank, top-k, false-reject rate): the new good-set model is kept
with the new golden version the same way, so a rollback restores the previous model. One job at a
time.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from inspection.errors import InspectionError, StationError
from inspection.recipe.definition import Recipe
from inspection.station.port import StationPort
from inspection.store import ResultQuery, ResultStore

logger = logging.getLogger(__name__)

MIN_PARTS = 5  # what calibration.teach needs at least
#: what calibration.teach_goodset needs at least (GoodSetTeachParams.min_parts; the threshold's k-fold
#: calibration runs min(5, N) folds, so every part gives a held-out score)
MIN_GOODSET_PARTS = 5
MAX_PARTS = 200
LINE_POLL_S = 0.1
SOURCES = ("stored", "selection", "line")


def refusals(part: dict[str, Any], min_score: float | None) -> list[str]:
    """Why this part must not become (part of) a golden reference (empty: it may)."""
    out = []
    if part.get("verdict") != "pass":
        out.append(f"the part was NG ({part.get('code_name', '?')})")
    al = part.get("alignment")
    if not isinstance(al, dict) or not al.get("ok"):
        why = al.get("reason") if isinstance(al, dict) else ""
        out.append("the part was not aligned" + (f" ({why})" if why else ""))
    elif min_score is not None and float(al.get("score", 0.0)) < min_score:
        out.append(f"its alignment score {float(al['score']):.3f} is below the recipe's minimum {min_score:.2f}")
    return out


def short_reason(reasons: Sequence[str]) -> str:
    """The kind of refusal, for counting: "NG", "not aligned", "alignment score", ..."""
    r = reasons[0] if reasons else "?"
    for key, label in (("was NG", "NG"), ("not aligned", "not aligned"), ("alignment score", "low alignment score"),
                       ("image", "no image"), ("another recipe", "another recipe")):
        if key in r:
            return label
    return r


def min_parts(recipe: Recipe) -> int:
    """The fewest good parts teaching ``recipe`` needs."""
    return MIN_GOODSET_PARTS if recipe.detector == "goodset" else MIN_PARTS


def source_text(ids: Sequence[str], limit: int = 40) -> str:
    shown = ", ".join(ids[:limit]) + (f", ... (+{len(ids) - limit} more)" if len(ids) > limit else "")
    return f"{len(ids)} parts: {shown}"


@dataclass
class TeachPartsJob:
    recipe_id: str
    recipe_number: int
    recipe: Recipe
    user: str
    source: str
    needed: int
    min_score: float | None
    timeout_s: float = 900.0
    started_ns: int = field(default_factory=time.time_ns)
    phase: str = "collecting"  # collecting -> teaching -> done | failed | cancelled
    message: str = ""
    key: str = ""
    parts: list[tuple[str, np.ndarray]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # result id -> part id, as operators know the part
    refused: list[dict[str, str]] = field(default_factory=list)
    result: dict[str, Any] | None = None
    finished_ns: int = 0
    cancel_event: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def running(self) -> bool:
        return self.phase in ("collecting", "teaching")

    def refuse(self, result_id: str, reasons: Sequence[str]) -> None:
        with self._lock:
            self.refused.append({"result_id": result_id, "reason": "; ".join(reasons),
                                 "kind": short_reason(reasons)})

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            kinds: dict[str, int] = {}
            for r in self.refused:
                kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
            collected = len(self.parts)
            return {"recipe_id": self.recipe_id, "user": self.user, "source": self.source,
                    "needed": self.needed, "collected": collected, "phase": self.phase,
                    "running": self.running, "message": self.message, "key": self.key,
                    "progress": round(min(1.0, collected / max(1, self.needed)), 3),
                    "refused": len(self.refused), "refused_by_reason": kinds, "refused_parts": self.refused[-20:],
                    "result_ids": [n for n, _ in self.parts], "result": self.result,
                    "started_ns": self.started_ns, "finished_ns": self.finished_ns}

    def finish(self, phase: str, message: str, key: str = "") -> None:
        with self._lock:
            self.phase, self.message, self.key, self.finished_ns = phase, message, key, time.time_ns()
        (logger.info if phase == "done" else logger.warning)("teach from parts (%s): %s: %s",
                                                             self.recipe_id, phase, message)


def stored_parts(store: ResultStore, job: TeachPartsJob, *, image: Callable[[str], np.ndarray],
                 ids: Sequence[str] | None = None) -> None:
    """Collect into ``job``: the most recent ``job.needed`` usable stored good parts of the recipe, or
    the usable ones of ``ids``; the others are refused (counted, with the reason)."""
    if ids is not None:
        rows: list[dict[str, Any]] = []
        for rid in ids:
            got = store.get(rid)
            if got is None:
                job.refuse(rid, ["no such stored result (no image)"])
            else:
                rows.append(got.to_dict())
    else:
        found = store.query(ResultQuery(verdict="pass", has_image=True, limit=min(5000, job.needed * 20 + 50)))
        rows = [r.to_dict() for r in found]
    for row in rows:
        if ids is None and len(job.parts) >= job.needed:
            break
        rid = str(row["result_id"])
        if int(row.get("recipe_number") or 0) not in (0, job.recipe_number):
            if ids is not None:
                job.refuse(rid, [f"the part was inspected with another recipe (number {row.get('recipe_number')})"])
            continue
        why = refusals(row, job.min_score)
        if why:
            job.refuse(rid, why)
            continue
        try:
            job.parts.append((rid, image(rid)))
            job.labels[rid] = str(row.get("part_id_str") or "")
        except InspectionError as exc:
            job.refuse(rid, [f"no image: {exc}"])


def collect_from_line(station: StationPort, job: TeachPartsJob) -> None:
    """Wait for the next ``job.needed`` usable good parts the station inspects (in memory)."""
    seen: set[str] = set()
    t0 = time.monotonic()
    while len(job.parts) < job.needed:
        if job.cancel_event.wait(LINE_POLL_S):
            return
        if time.monotonic() - t0 > job.timeout_s:
            raise StationError(f"timed out after {job.timeout_s:.0f} s with {len(job.parts)} of {job.needed} "
                               "good parts from the line", key="teach_timeout")
        for rec in reversed(station.recent_parts(64)):  # oldest first
            if rec.result_id in seen or rec.decided_ns < job.started_ns:
                continue
            seen.add(rec.result_id)
            d: dict[str, Any] = rec.to_dict()
            if int(d.get("recipe_number") or 0) not in (0, job.recipe_number):
                job.refuse(rec.result_id, ["the part was inspected with another recipe"])
                continue
            why = refusals(d, job.min_score)
            if why:
                job.refuse(rec.result_id, why)
                continue
            img = station.part_image(rec.result_id)
            if img is None:
                job.refuse(rec.result_id, ["no image held for the part"])
                continue
            with job._lock:
                if len(job.parts) < job.needed:
                    job.parts.append((rec.result_id, img))
                    job.labels[rec.result_id] = str(d.get("part_id_str") or "")


def teach_from(job: TeachPartsJob, station: StationPort) -> None:
    """Teach the recipe from ``job.parts`` and install the result as a new golden version."""
    if job.recipe.detector == "goodset":
        teach_goodset_from(job, station)
        return
    from calibration.teach import TeachParams, teach

    r = job.recipe
    params = TeachParams(name=r.name, number=r.number, align=r.align, detect=r.detect,
                         margin=r.detect.threshold, roi=r.roi, ignore=r.ignore, mm_per_px=r.mm_per_px,
                         folds=min(5, len(job.parts)), min_parts=MIN_PARTS)
    images: list[tuple[str, np.ndarray | InspectionError]] = [(n, i) for n, i in job.parts]
    taught = teach(images, params)
    used = [p.name for p in taught.parts if p.status == "good"]
    aside = [{"result_id": p.name, "status": p.status, "reason": p.reason} for p in taught.parts
             if p.status != "good"]
    if job.cancel_event.is_set():
        return
    rec = taught.recipe
    assert rec.spread_dark is not None and rec.spread_bright is not None
    info = station.teach_golden(job.recipe_id, user=job.user, image=rec.reference,
                                source=source_text([n for n, _ in job.parts]),
                                variation=(rec.spread_dark, rec.spread_bright))
    job.result = {"version": info.version, "parts_used": len(used), "set_aside": aside,
                  "band_k": round(float(taught.threshold.threshold), 4), "shape": list(info.shape)}


def teach_goodset_from(job: TeachPartsJob, station: StationPort) -> None:
    """Teach a good-set recipe's model from ``job.parts`` with the settings of its current model and
    install it, with the new golden reference, as a new golden version."""
    from calibration.teach_goodset import GoodSetTeachParams, teach_goodset
    from inspection.vision.goodset import feature_extractors

    r = job.recipe
    old = r.goodset
    if old is None:
        raise StationError(f"recipe {job.recipe_id!r} has no good-set model to take the settings from",
                           key="teach_unsupported")
    params = GoodSetTeachParams.like(old, r, folds=min(5, len(job.parts)), min_parts=MIN_GOODSET_PARTS)
    name = old.extractor.partition("@")[0]
    extract = feature_extractors.create(name, threads=1, device="cpu")
    extractor = str(getattr(extract, "name", name))
    if extractor != old.extractor:
        logger.warning("recipe %s: its model was taught with %s, the station has %s: teaching with it",
                       job.recipe_id, old.extractor, extractor)
    images: list[tuple[str, np.ndarray | InspectionError]] = [(n, i) for n, i in job.parts]
    taught = teach_goodset(images, params, extract, extractor=extractor)

    def label(result_id: str) -> str:
        """A taught part as the operators know it: its part id (the result id when it has none)."""
        return job.labels.get(result_id) or result_id

    model = dataclasses.replace(taught.model, map_sigma=old.map_sigma)
    used = [p.name for p in taught.parts if p.status == "good"]
    aside = [{"result_id": p.name, "status": p.status, "reason": p.reason} for p in taught.parts
             if p.status != "good"]
    if job.cancel_event.is_set():
        return
    info = station.teach_golden(job.recipe_id, user=job.user, image=taught.recipe.reference,
                                source=source_text([n for n, _ in job.parts]), goodset=model)
    job.result = {"version": info.version, "parts_used": len(used), "set_aside": aside, "detector": "goodset",
                  "threshold": round(float(model.threshold), 6), "model_digest": model.digest(),
                  "previous_model_digest": old.digest(), "extractor": extractor,
                  "calibration_scores": int(model.calibration_scores.size), "shape": list(info.shape),
                  # the taught parts least like the others: one with a flaw raises the threshold
                  "most_unusual_parts": [{"result_id": n, "part_id_str": label(n), "score": round(v, 6),
                                          "above_threshold": v > model.threshold} for n, v in taught.unusual],
                  # several images of one part (the same part presented again): threshold too low
                  "look_alike_parts": [{"result_id": a, "part_id_str": label(a), "like": b, "ratio": round(r, 4)}
                                       for a, b, r in taught.look_alikes],
                  "look_alike_warning": taught.look_alike_warning(line=True, label=label),
                  # a threshold read from too few held-out scores: about 1 new good part in n + 1 rejected
                  "few_parts_warning": taught.few_parts_warning()}


class TeachJobs:
    """The one teach-from-parts job of the HMI (the last one stays readable when it has ended)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.job: TeachPartsJob | None = None
        self._thread: threading.Thread | None = None

    def current(self) -> TeachPartsJob | None:
        return self.job

    def start(self, job: TeachPartsJob, station: StationPort, *, collect_line: bool) -> TeachPartsJob:
        with self._lock:
            if self.job is not None and self.job.running:
                raise StationError(f"a teach job for {self.job.recipe_id} is running ({self.job.phase}): "
                                   "wait for it or cancel it", key="teach_busy")
            self.job = job
            self._thread = threading.Thread(target=self._run, args=(job, station, collect_line),
                                            name="hmi-teach-parts", daemon=True)
            self._thread.start()
        return job

    def _run(self, job: TeachPartsJob, station: StationPort, collect_line: bool) -> None:
        try:
            if collect_line:
                collect_from_line(station, job)
            if job.cancel_event.is_set():
                job.finish("cancelled", f"cancelled with {len(job.parts)} of {job.needed} parts collected")
                return
            with job._lock:
                job.phase = "teaching"
            teach_from(job, station)
            if job.cancel_event.is_set():
                job.finish("cancelled", "cancelled while teaching: the golden reference is unchanged")
                return
            assert job.result is not None
            what = "good-set model" if job.result.get("detector") == "goodset" else "variation model"
            job.finish("done", f"new golden {job.result['version']} with its {what}, taught from "
                               f"{job.result['parts_used']} of {len(job.parts)} parts")
        except InspectionError as exc:
            job.finish("failed", str(exc), exc.key)
        except Exception as exc:  # a bug: logged in full, the job says so
            logger.exception("teach from parts failed")
            job.finish("failed", f"internal error: {exc}", "internal")

    def cancel(self) -> TeachPartsJob:
        job = self.job
        if job is None or not job.running:
            raise StationError("no teach job is running", key="no_teach_job")
        job.cancel_event.set()
        return job

    def wait(self, timeout: float | None = None) -> None:
        t = self._thread
        if t is not None:
            t.join(timeout)


def read_stored_image(store: ResultStore) -> Callable[[str], np.ndarray]:
    def read(result_id: str) -> np.ndarray:
        path = store.image_file(result_id)  # StoreError no_image / unknown_result
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise StationError(f"the stored image of {result_id} is unreadable", key="no_image")
        return img
    return read
