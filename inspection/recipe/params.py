"""Tuning values of alignment and change detection, validated when built.

Frozen dataclasses; every number is checked (finite, in range) in ``__post_init__`` so that a NaN or
a negative tolerance in a config file is a :class:`ConfigError` at load time, never a silent failure
at inspection time.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from inspection.errors import ConfigError

MOTIONS = ("translation", "euclidean", "similarity", "affine", "none")


def _check_range(obj: object, name: str, lo: float, hi: float) -> None:
    value = getattr(obj, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"must be a number, got {value!r}", field=name)
    if math.isnan(value) or not (lo <= value <= hi):
        raise ConfigError(f"must be in [{lo}, {hi}], got {value!r}", field=name)


@dataclass(frozen=True)
class AlignParams:
    """How the acquired image is registered to the golden reference.

    ``max_shift`` is a fraction of the image size; ``max_rotation_deg`` and ``max_scale`` bound the
    search and the accepted result (a transform outside them is "cannot align"). ``motion`` is the
    model fitted at the finest level: euclidean for a rigid part under a fixed camera, affine where
    the optics or a line-scan camera add scale and shear; ``none``: parts are not registered, each
    image is inspected as acquired (parts already in one frame, e.g. tiles cropped to the part,
    judged by a good-set model; a recipe refuses it with a detector that compares with a golden
    pixel by pixel). ``min_score`` is the alignment quality
    (normalised correlation of the aligned images, 0..1) below which the part is "not recognisable".
    """

    max_shift: float = 0.08
    max_rotation_deg: float = 6.0
    max_scale: float = 0.04
    motion: str = "affine"
    min_score: float = 0.5
    finest_level: int = 0
    samples: int = 2500

    def __post_init__(self) -> None:
        _check_range(self, "max_shift", 0.0, 0.5)
        _check_range(self, "max_rotation_deg", 0.0, 45.0)
        _check_range(self, "max_scale", 0.0, 0.5)
        _check_range(self, "min_score", 0.0, 1.0)
        _check_range(self, "finest_level", 0, 3)
        _check_range(self, "samples", 100, 100_000)
        if self.motion not in MOTIONS:
            raise ConfigError(f"must be one of {', '.join(MOTIONS)}, got {self.motion!r}", field="motion")


@dataclass(frozen=True)
class DetectParams:
    """How the aligned part is compared with the reference.

    ``tolerance_px``: edges of the reference may move this far (sub-pixel jitter, residual
    misregistration) without being a defect; below one pixel a gap narrower than two pixels
    stays visible (a bridge across it is found), from one pixel up the band is a min/max filter.
    ``threshold``: a deviation counts when it exceeds this
    fraction of the reference contrast (after gain/offset correction). ``min_area_px``: smaller
    regions are ignored. ``merge_gap_px``: fragments closer than this are one finding.
    ``material``: whether the material (copper, metal) is the dark or the bright phase, so that
    bright/dark deviations can be read as missing/extra material. ``classes``: "pcb" types findings
    as DeepPCB's open/short/mouse-bite/spur/copper/pin-hole, "generic" as missing/extra/crack.
    ``box_margin_px``: margin added around each finding's box when reported (annotation styles
    differ: DeepPCB's boxes leave about 10 px around the defect).
    """

    tolerance_px: float = 0.7
    threshold: float = 0.25
    min_area_px: int = 8
    merge_gap_px: int = 4
    material: str = "dark"
    max_findings: int = 200
    classes: str = "generic"
    box_margin_px: int = 0

    def __post_init__(self) -> None:
        _check_range(self, "tolerance_px", 0, 10)
        _check_range(self, "threshold", 0.01, 1.0)
        _check_range(self, "min_area_px", 1, 1_000_000)
        _check_range(self, "merge_gap_px", 0, 100)
        _check_range(self, "max_findings", 1, 100_000)
        _check_range(self, "box_margin_px", 0, 100)
        if self.classes not in ("generic", "pcb"):
            raise ConfigError(f"must be 'generic' or 'pcb', got {self.classes!r}", field="classes")
        if self.material not in ("dark", "bright"):
            raise ConfigError(f"must be 'dark' or 'bright', got {self.material!r}", field="material")


#: ``threshold`` of a generic comparison that no one has tuned yet (``inspection detect`` without
#: options, a first recipe): chosen on synthetic photo-like boards (validation seeds of
#: ``inspection bench photo-boards``), where faint thin breaks and nicks on low-contrast tracks sit
#: just above 0.2 of the reference contrast. Taught recipes set their own threshold from good parts.
GENERIC_THRESHOLD = 0.2


def detect_defaults(classes: str = "generic") -> DetectParams:
    """The comparison settings ``inspection detect`` uses without options for ``classes``
    ("generic"; the DeepPCB preset has its own, ``deeppcb_params``)."""
    if classes != "generic":
        raise ConfigError(f"no untaught defaults for classes {classes!r}", field="classes")
    return DetectParams(threshold=GENERIC_THRESHOLD)


def params_from_dict(cls: type[Any], data: dict[str, Any] | None) -> Any:
    """Build a params dataclass from a dict, refusing unknown keys with a clear message."""
    data = dict(data or {})
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown}; known: {sorted(known)}", field=cls.__name__)
    return cls(**data)


def params_to_dict(params: object) -> dict[str, Any]:
    return asdict(params)  # type: ignore[call-overload]
