"""The station as its HMI sees it: a status snapshot, a subscription to events, and commands.

:class:`StationPort` is the contract between the operator HMI (``hmi/``) and whatever runs the
station: the in-process :class:`~inspection.station.local.LocalStation` today, the station runtime
(trigger -> acquire -> align -> detect -> decide -> publish) later. Commands carry the user who gave
them; the station applies them between cycles and writes the audit entry (old and new value), so
changes coming from the PLC (recipe by number) are audited the same way.

Events on the subscription (``StationEvent.kind``):

- ``part``: a part was decided; payload is ``PartRecord.to_dict()`` plus ``counters``.
- ``status``: the status snapshot changed (state, armed, PLC link, active recipe); payload is
  ``StationStatus.to_dict()``.
- ``counters``: the counters were cleared; payload is ``Counters.to_dict()``.
- ``recipes``: a recipe, its thresholds or its golden reference changed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from prometheus_client import CollectorRegistry

from inspection.events import Subscription
from inspection.plc.contract import StationState
from inspection.record import PartRecord
from inspection.station.alarms import AlarmState
from inspection.station.goldens import GoldenVersion
from inspection.vision.goodset import GoodSetModel

__all__ = ["StationState"]  # the PLC contract's state codes, re-exported for the HMI


@dataclass(frozen=True)
class PlcLink:
    """The PLC connection as the station sees it."""

    connected: bool = False
    protocol: str = "none"  # "modbus-tcp", "opcua", "simulator", "none"
    address: str = ""
    heartbeat_age_ms: float | None = None
    trigger_enabled: bool = False
    message: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"connected": self.connected, "protocol": self.protocol, "address": self.address,
                "heartbeat_age_ms": self.heartbeat_age_ms, "trigger_enabled": self.trigger_enabled,
                "message": self.message}


@dataclass(frozen=True)
class StationStatus:
    station_id: str
    state: StationState
    armed: bool
    active_recipe: str
    plc: PlcLink = field(default_factory=PlcLink)
    simulation: bool = False
    message: str = ""
    error_key: str = ""
    started_ns: int = 0
    last_part_ns: int = 0

    def to_dict(self) -> dict[str, object]:
        return {"station_id": self.station_id, "state": self.state.name, "state_code": int(self.state),
                "armed": self.armed, "active_recipe": self.active_recipe, "plc": self.plc.to_dict(),
                "simulation": self.simulation, "message": self.message, "error_key": self.error_key,
                "started_ns": self.started_ns, "last_part_ns": self.last_part_ns}


@dataclass(frozen=True)
class Counters:
    total: int = 0
    ok: int = 0
    ng: int = 0
    since_ns: int = 0

    @property
    def yield_pct(self) -> float | None:
        return None if self.total == 0 else round(100.0 * self.ok / self.total, 2)

    def to_dict(self) -> dict[str, object]:
        return {"total": self.total, "ok": self.ok, "ng": self.ng, "yield_pct": self.yield_pct,
                "since_ns": self.since_ns}


@dataclass(frozen=True)
class StageStats:
    """Rolling statistics of one stage's time (ms) over the station's timing window."""

    stage: str
    n: int
    last: float
    p50: float
    p99: float
    max: float

    def to_dict(self) -> dict[str, object]:
        return {"stage": self.stage, "n": self.n, "last": self.last, "p50": self.p50, "p99": self.p99,
                "max": self.max}


@dataclass(frozen=True)
class ThresholdSpec:
    """One tunable threshold: its range, default and what it means (the HMI builds its form
    from these, and the station validates every change against them)."""

    name: str
    label: str
    minimum: float
    maximum: float
    default: float
    unit: str = ""
    step: float = 0.01
    help: str = ""
    integer: bool = False

    def check(self, value: object) -> float:
        """``value`` as a float within range; ValueError with a clear message otherwise."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{self.name}: expected a number, got {value!r}")
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"{self.name}: must be a finite number, got {value!r}")
        if not self.minimum <= v <= self.maximum:
            unit = f" {self.unit}" if self.unit else ""
            raise ValueError(f"{self.name}: {v:g} is outside {self.minimum:g}..{self.maximum:g}{unit}")
        if self.integer and v != int(v):
            raise ValueError(f"{self.name}: must be a whole number, got {v:g}")
        return v

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "label": self.label, "minimum": self.minimum, "maximum": self.maximum,
                "default": self.default, "unit": self.unit, "step": self.step, "help": self.help,
                "integer": self.integer}


@dataclass(frozen=True)
class GoldenInfo:
    """The golden reference image of a recipe: a content version, when and by whom it was taught."""

    version: str
    taught_ns: int
    taught_by: str
    shape: tuple[int, int]

    def to_dict(self) -> dict[str, object]:
        return {"version": self.version, "taught_ns": self.taught_ns, "taught_by": self.taught_by,
                "shape": list(self.shape)}


@dataclass(frozen=True)
class RecipeInfo:
    recipe_id: str
    number: int
    name: str
    model_hash: str = ""
    golden: GoldenInfo | None = None
    thresholds: Mapping[str, float] = field(default_factory=dict)
    active: bool = False
    #: the detector the recipe names ("goodset": taught from N good parts, never from one part)
    detector: str = "classical"

    def to_dict(self) -> dict[str, object]:
        return {"recipe_id": self.recipe_id, "number": self.number, "name": self.name,
                "model_hash": self.model_hash, "active": self.active, "detector": self.detector,
                "golden": None if self.golden is None else self.golden.to_dict(),
                "thresholds": dict(self.thresholds)}


@runtime_checkable
class StationPort(Protocol):
    """What the HMI needs from a running station. Reads are cheap snapshots; commands raise
    :class:`~inspection.errors.StationError` / :class:`~inspection.errors.ConfigError` when refused."""

    def status(self) -> StationStatus: ...

    def counters(self) -> Counters: ...

    def stage_stats(self) -> dict[str, StageStats]: ...

    def metrics_registry(self) -> CollectorRegistry:
        """The station's Prometheus metrics (stage histograms, parts, defects, camera and PLC errors)."""

    def recent_parts(self, n: int) -> list[PartRecord]:
        """The last ``n`` decided parts, newest first (in memory; includes parts not yet stored)."""
        ...

    def part_image(self, result_id: str) -> np.ndarray | None:
        """The acquired image of a recent part, or None when it is no longer held in memory."""
        ...

    def subscribe(self, *, maxsize: int = 64, name: str = "") -> Subscription: ...

    def recipes(self) -> list[RecipeInfo]: ...

    def golden_image(self, recipe_id: str) -> np.ndarray | None: ...

    def threshold_specs(self) -> tuple[ThresholdSpec, ...]: ...

    # ---- commands (applied between cycles, audited with ``user``) ----
    def arm(self, *, user: str) -> StationStatus: ...

    def disarm(self, *, user: str) -> StationStatus: ...

    def select_recipe(self, recipe_id: str, *, user: str) -> RecipeInfo: ...

    def set_thresholds(self, values: Mapping[str, float], *, user: str,
                       recipe_id: str | None = None) -> RecipeInfo: ...

    def teach_golden(self, recipe_id: str, *, user: str, image: np.ndarray | None = None,
                     source: str = "", reason: str = "",
                     variation: tuple[np.ndarray, np.ndarray] | None = None,
                     goodset: GoodSetModel | None = None) -> GoldenInfo:
        """Make ``image`` (or, when None, the last part's image) the golden reference of a recipe;
        ``source`` names where it came from and ``reason`` why a refused part was taught anyway
        (both go to the audit log and the kept version). ``variation`` is the variation model
        (spread_dark, spread_bright) taught with it from good parts: kept with the version, and
        restored by a rollback to it; without it the recipe's old band is dropped. ``goodset`` is a
        good-set recipe's model taught with it from good parts: kept with the version the same way."""
        ...

    def golden_versions(self, recipe_id: str) -> list[GoldenVersion]:
        """Every golden reference the recipe had, newest first."""
        ...

    def golden_version_image(self, recipe_id: str, version: str) -> np.ndarray | None: ...

    def rollback_golden(self, recipe_id: str, version: str, *, user: str) -> GoldenInfo:
        """Make a kept earlier golden reference current again (audited)."""
        ...

    def alarms(self) -> list[AlarmState]: ...

    def plc_registers(self) -> list[tuple[int, str, int]]:
        """The station's status block as the PLC reads it: (address, name, value); [] without a PLC."""
        ...

    def plc_handshakes(self, n: int) -> list[dict[str, object]]:
        """The last ``n`` answers given to the PLC, newest first; [] without a PLC."""
        ...

    def plc_sts_seen(self, window_s: float) -> int | None:
        """Every STS bit set at some moment of the last ``window_s`` seconds; None without a PLC."""
        ...

    def acknowledge_alarm(self, name: str, *, user: str) -> AlarmState: ...

    def clear_counters(self, *, user: str) -> Counters: ...
