"""Deterministic replay and what-if on stored parts.

Every stored part whose image was kept (lossless PNG, the pixels exactly as the pipeline saw them)
is inspected again, by default with the recipe version that judged it (kept by content hash in
:class:`~inspection.recipe.versions.RecipeVersions`), optionally with a candidate: a whole recipe
(a bundle being commissioned) and/or threshold values applied on top. The report counts the
parts whose verdict stays the same and lists those that change, with what operators said about them
(a reject reviewed OK, a reject confirmed NG).

Reading goes through its own read-only SQLite connection (WAL lets it read while the station's
writer writes), so the same code runs offline (``inspection replay``) and beside a running station
(the HMI's what-if). It never writes to the store.

Each part is judged with the detector its recipe names (:func:`~inspection.station.recipes.make_detector`:
a good-set recipe with its own good-set model). A part that cannot be judged as it was (its recipe
version is not kept, incomplete or changed; its detector cannot be built; its image is missing or
unreadable) is never judged with something else: the report lists it under ``refused``, with why.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from inspection.errors import InspectionError, RecipeError, StoreError
from inspection.imageio import read_image
from inspection.pipeline import inspect
from inspection.recipe.definition import PreparedRecipe, Recipe, prepare
from inspection.recipe.versions import RecipeVersions
from inspection.result import InspectionResult, ResultCode
from inspection.station.recipes import ANOMALY_THRESHOLD, make_detector, with_thresholds
from inspection.store.schema import connect
from inspection.vision.detector import Detector

logger = logging.getLogger(__name__)

VERSIONS_DIR = "recipe-versions"
INCOMPLETE = "frame is incomplete"  # the pipeline's message for a frame the camera reported incomplete


def versions_dir(data_dir: str | Path) -> Path:
    """Where a station with data folder ``data_dir`` keeps its recipe versions."""
    return Path(data_dir) / "station" / VERSIONS_DIR


@dataclass(frozen=True)
class StoredPart:
    result_id: str
    decided_ns: int
    verdict: str
    code: int
    model_hash: str
    recipe_id: str
    image: Path | None
    review_status: str
    message: str = ""


@dataclass(frozen=True)
class Candidate:
    """What to judge stored parts with instead of the recipe that judged them: a whole recipe,
    threshold values (applied on top of the recipe that judged each part, or of ``recipe``), both,
    or neither (a plain replay)."""

    recipe: Recipe | None = None
    thresholds: Mapping[str, float] = field(default_factory=dict)

    @property
    def is_replay(self) -> bool:
        return self.recipe is None and not self.thresholds

    def describe(self) -> dict[str, Any]:
        return {"recipe": None if self.recipe is None else
                f"{self.recipe.name}@{self.recipe.content_hash()[:12]}",
                "thresholds": dict(self.thresholds)}


@dataclass(frozen=True)
class Change:
    result_id: str
    decided_ns: int
    old_verdict: str
    new_verdict: str
    old_code: int
    new_code: int
    review_status: str
    model_hash: str
    new_model_hash: str
    image: str
    message: str


@dataclass(frozen=True)
class Refusal:
    """A stored part replay did not judge, and why (``reason``: an error key such as
    ``recipe_version_unknown``, ``recipe_version_incomplete``, ``recipe_version_mismatch``,
    ``detector_error``, ``not_goodset``, ``image_missing``, ``image_unreadable``, ``incomplete_frame``)."""

    result_id: str
    decided_ns: int
    model_hash: str
    reason: str
    message: str


#: refusal reasons that concern the recipe (version or detector), not the stored image
IMAGE_REASONS = ("image_missing", "image_unreadable", "incomplete_frame")


@dataclass
class ReplayReport:
    candidate: dict[str, Any]
    parts: int = 0  # re-inspected
    same_verdict: int = 0
    same_code: int = 0
    rejected_before: int = 0
    rejected_now: int = 0
    rejected_now_reviewed_ok: int = 0  # rejected by the candidate, though an operator said OK
    passed_now_confirmed_ng: int = 0  # passed by the candidate, though an operator confirmed NG
    not_replayable: int = 0  # stored without an image (passes outside the sample, refused triggers)
    unknown_recipe: int = 0  # judged by a recipe version that is not kept whole, or cannot be built
    seconds: float = 0.0
    changed: list[Change] = field(default_factory=list)
    results: list[tuple[str, str, str]] = field(default_factory=list)  # (id, old, new) of every part
    refused: list[Refusal] = field(default_factory=list)  # stored parts with an image, not judged

    def refuse(self, part: StoredPart, reason: str, message: str) -> None:
        logger.warning("part %s not replayed (%s): %s", part.result_id, reason, message)
        self.refused.append(Refusal(part.result_id, part.decided_ns, part.model_hash, reason, message))
        if reason in IMAGE_REASONS:
            self.not_replayable += 1
        else:
            self.unknown_recipe += 1

    @property
    def refused_reasons(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.refused:
            out[r.reason] = out.get(r.reason, 0) + 1
        return out

    @property
    def newly_rejected(self) -> int:
        return sum(1 for c in self.changed if c.new_verdict == "reject" and c.old_verdict == "pass")

    @property
    def newly_passed(self) -> int:
        return sum(1 for c in self.changed if c.new_verdict == "pass" and c.old_verdict == "reject")

    @property
    def changed_reviewed_ok(self) -> int:
        return sum(1 for c in self.changed if c.review_status == "overridden")

    @property
    def changed_confirmed_ng(self) -> int:
        return sum(1 for c in self.changed if c.review_status == "confirmed")

    def sentence(self) -> str:
        if self.parts == 0:
            if self.refused:
                return (f"no stored part could be judged: {len(self.refused)} refused ("
                        + ", ".join(f"{k}: {v}" for k, v in sorted(self.refused_reasons.items())) + ")")
            return "no stored part with an image to judge"
        text = (f"this would have rejected {self.rejected_now} of the last {self.parts} stored parts "
                f"(now {self.rejected_before}); {self.rejected_now_reviewed_ok} of them "
                f"{'was' if self.rejected_now_reviewed_ok == 1 else 'were'} reviewed OK")
        if self.passed_now_confirmed_ng:
            text += f"; it would have passed {self.passed_now_confirmed_ng} part(s) an operator confirmed NG"
        if self.refused:
            text += (f"; {len(self.refused)} part(s) could not be judged ("
                     + ", ".join(f"{k}: {v}" for k, v in sorted(self.refused_reasons.items())) + ")")
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"candidate": self.candidate, "parts": self.parts, "same_verdict": self.same_verdict,
                "same_code": self.same_code, "changed_count": len(self.changed),
                "rejected_before": self.rejected_before, "rejected_now": self.rejected_now,
                "newly_rejected": self.newly_rejected, "newly_passed": self.newly_passed,
                "rejected_now_reviewed_ok": self.rejected_now_reviewed_ok,
                "passed_now_confirmed_ng": self.passed_now_confirmed_ng,
                "changed_reviewed_ok": self.changed_reviewed_ok,
                "changed_confirmed_ng": self.changed_confirmed_ng,
                "not_replayable": self.not_replayable, "unknown_recipe": self.unknown_recipe,
                "seconds": round(self.seconds, 3), "sentence": self.sentence(),
                "changed": [asdict(c) for c in self.changed],
                "refused_count": len(self.refused), "refused_reasons": self.refused_reasons,
                "refused": [asdict(r) for r in self.refused]}


def stored_parts(store_root: str | Path, *, since_ns: int | None = None, until_ns: int | None = None,
                 last: int | None = None, recipe_number: int | None = None) -> tuple[list[StoredPart], int]:
    """The stored parts in a time range, oldest first (the newest ``last`` of them when given),
    and how many more in that range have no stored image."""
    root = Path(store_root)
    db_path = root / "results.db"
    if not db_path.is_file():
        raise StoreError(f"no result store at {root} (expected {db_path})", key="store_missing")
    clauses, params = ["1"], []
    if since_ns is not None:
        clauses.append("decided_ns >= ?")
        params.append(since_ns)
    if until_ns is not None:
        clauses.append("decided_ns < ?")
        params.append(until_ns)
    if recipe_number is not None:
        clauses.append("recipe_number = ?")
        params.append(recipe_number)
    where = " AND ".join(clauses)
    conn = connect(db_path, readonly=True)
    try:
        limit = "" if last is None else f" LIMIT {int(last)}"
        rows = conn.execute(f"SELECT result_id, decided_ns, verdict, code, model_hash, recipe_id, image_state, "
                            f"image_path, review_status, message FROM results WHERE {where} AND image_state = 'saved' "
                            f"ORDER BY seq DESC{limit}", params).fetchall()
        oldest = rows[-1]["decided_ns"] if (rows and last is not None) else None
        more = ([*params, oldest] if oldest is not None else params)
        extra = " AND decided_ns >= ?" if oldest is not None else ""
        missing = int(conn.execute(f"SELECT COUNT(*) FROM results WHERE {where}{extra} AND "
                                   f"image_state != 'saved'", more).fetchone()[0])
    finally:
        conn.close()
    parts = [StoredPart(r["result_id"], int(r["decided_ns"]), r["verdict"], int(r["code"]), r["model_hash"],
                        r["recipe_id"], root / "images" / r["image_path"] if r["image_path"] else None,
                        r["review_status"], r["message"]) for r in reversed(rows)]
    return parts, missing


class Judge:
    """Prepares each recipe version once and inspects images with it."""

    def __init__(self, versions: RecipeVersions, candidate: Candidate | None = None) -> None:
        self.versions = versions
        self.candidate = candidate or Candidate()
        self._prepared: dict[str, tuple[PreparedRecipe, Detector]] = {}

    def recipe_for(self, model_hash: str) -> Recipe:
        """The recipe to judge a part with; RecipeError (with its key) when there is none to judge
        it with as asked."""
        c = self.candidate
        if c.recipe is not None:
            recipe = c.recipe
        else:
            recipe = self.versions.load(model_hash)
        if c.thresholds:
            if ANOMALY_THRESHOLD in c.thresholds and recipe.goodset is None:
                raise RecipeError(f"{ANOMALY_THRESHOLD} is the threshold of a good-set model; recipe "
                                  f"{recipe.name!r} (detector {recipe.detector!r}) has none", key="not_goodset")
            recipe = with_thresholds(recipe, c.thresholds)
        return recipe

    def prepared(self, recipe: Recipe) -> tuple[PreparedRecipe, Detector]:
        """The prepared recipe and the detector it names (its good-set model for a good-set recipe),
        built once per recipe version; InspectionError when either cannot be built."""
        key = recipe.content_hash()
        if key not in self._prepared:
            self._prepared[key] = (prepare(recipe), make_detector(recipe))
        return self._prepared[key]

    def judge(self, model_hash: str, image: Any) -> InspectionResult:
        prepared, detector = self.prepared(self.recipe_for(model_hash))
        return inspect(prepared, image, detector=detector)


def run_replay(store_root: str | Path, versions: RecipeVersions, candidate: Candidate | None = None, *,
               since_ns: int | None = None, until_ns: int | None = None, last: int | None = None,
               recipe_number: int | None = None,
               progress: Callable[[Iterable[StoredPart], int], Iterable[StoredPart]] | None = None,
               ) -> ReplayReport:
    """Re-inspect the stored parts (see the module doc); ``progress(items, total)`` wraps the loop
    (a progress bar on the command line)."""
    t0 = time.perf_counter()
    candidate = candidate or Candidate()
    parts, missing = stored_parts(store_root, since_ns=since_ns, until_ns=until_ns, last=last,
                                  recipe_number=recipe_number)
    report = ReplayReport(candidate.describe(), not_replayable=missing)
    judge = Judge(versions, candidate)
    items: Iterable[StoredPart] = progress(parts, len(parts)) if progress else parts
    for part in items:
        if part.image is None or not part.image.is_file():
            report.refuse(part, "image_missing", f"stored image {part.image} is missing")
            continue
        if part.code == int(ResultCode.NG_ACQUISITION) and part.message.startswith(INCOMPLETE):
            # an incomplete frame's pixels do not carry that it was incomplete
            report.refuse(part, "incomplete_frame", "the camera reported the frame incomplete")
            continue
        try:
            recipe = judge.recipe_for(part.model_hash)
            prepared, detector = judge.prepared(recipe)
        except InspectionError as exc:
            report.refuse(part, exc.key, str(exc))
            continue
        try:
            image = read_image(part.image, grey=False)  # as stored: inspect converts like the station
        except InspectionError as exc:
            report.refuse(part, "image_unreadable", f"stored image unreadable: {exc}")
            continue
        result = inspect(prepared, image, detector=detector)
        new = result.verdict.value
        report.parts += 1
        report.rejected_before += part.verdict == "reject"
        report.rejected_now += new == "reject"
        report.rejected_now_reviewed_ok += new == "reject" and part.review_status == "overridden"
        report.passed_now_confirmed_ng += new == "pass" and part.review_status == "confirmed"
        report.same_code += int(result.code) == part.code
        report.results.append((part.result_id, part.verdict, new))
        if new == part.verdict:
            report.same_verdict += 1
        else:
            report.changed.append(Change(part.result_id, part.decided_ns, part.verdict, new, part.code,
                                         int(result.code), part.review_status, part.model_hash,
                                         prepared.recipe_id, str(part.image), result.message))
    report.seconds = time.perf_counter() - t0
    return report
