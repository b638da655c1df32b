"""Camera settings: the validated model a station configuration (or an operator) gives a camera.

Pydantic at the edge: a station file or an HMI form is parsed with :func:`parse_camera_settings`,
which turns every validation failure into a :class:`~inspection.errors.ConfigError` naming the
field. The models are frozen; change a setting with ``settings.model_copy(update={...})``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from inspection.errors import ConfigError

# Unpacked formats only (Mono12p and friends are not decoded here). Colour arrives as BGR pixels;
# Bayer formats are demosaiced to BGR by the driver.
PixelFormatName = Literal[
    "Mono8", "Mono10", "Mono12", "Mono16", "RGB8", "BGR8", "BayerRG8", "BayerGR8", "BayerGB8", "BayerBG8",
]

MONO_FORMATS = frozenset({"Mono8", "Mono10", "Mono12", "Mono16"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Roi(_Model):
    """Region of interest on the sensor, pixels: offset (x, y) and size (width, height)."""

    x: int = Field(default=0, ge=0, description="left offset, px")
    y: int = Field(default=0, ge=0, description="top offset, px")
    width: int = Field(gt=0, le=65535, description="width, px")
    height: int = Field(gt=0, le=65535, description="height, px")

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width), the shape a frame of this ROI has."""
        return self.height, self.width


class TriggerSettings(_Model):
    """What starts an exposure: a software trigger (the station's ``trigger()`` call) or a hardware
    line (a sensor or the PLC wired to the camera's opto input)."""

    source: Literal["software", "hardware"] = "software"
    line: str = Field(default="Line1", pattern=r"^Line[1-9][0-9]?$",
                      description="input line for hardware triggers")
    edge: Literal["rising", "falling"] = "rising"
    debounce_us: float = Field(default=0.0, ge=0.0, le=1_000_000.0, description="line debouncer, µs (0: off)")
    delay_us: float = Field(default=0.0, ge=0.0, le=10_000_000.0, description="trigger delay, µs")


FeatureValue = str | int | float | bool


class CameraSettings(_Model):
    """Everything needed to open and set up one camera.

    Selection: at most one of ``serial``, ``user_id`` and ``index``; none picks the first device
    (``emulated`` restricts the choice to pylon camera-emulator devices). ``image_file`` is a file or
    a folder of images served by the pylon emulator or the replay driver. ``features`` are extra
    device features (GenICam names for pylon) written after the standard settings, in order.
    """

    driver: str = Field(default="pylon", pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$")
    name: str = Field(default="", max_length=64, description="station name of this camera (frames, logs)")
    serial: str | None = Field(default=None, min_length=1, max_length=64)
    user_id: str | None = Field(default=None, min_length=1, max_length=64)
    index: int | None = Field(default=None, ge=0, le=255)
    emulated: bool = False
    pixel_format: PixelFormatName = "Mono8"
    roi: Roi | None = None
    exposure_us: float | None = Field(default=None, gt=0.0, le=10_000_000.0)
    gain_db: float | None = Field(default=None, ge=0.0, le=48.0)
    frame_rate_hz: float | None = Field(default=None, gt=0.0, le=10_000.0)
    trigger: TriggerSettings = TriggerSettings()
    grab_timeout_s: float = Field(default=2.0, gt=0.0, le=3600.0)
    image_file: Path | None = None
    replay_loop: bool = True
    replay_delay_s: float = Field(default=0.0, ge=0.0, le=60.0)
    buffer_count: int = Field(default=8, ge=2, le=256)
    reconnect: bool = True
    reconnect_min_s: float = Field(default=0.5, gt=0.0, le=60.0)
    reconnect_max_s: float = Field(default=10.0, gt=0.0, le=600.0)
    features: dict[str, FeatureValue] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> CameraSettings:
        chosen = [k for k in ("serial", "user_id", "index") if getattr(self, k) is not None]
        if len(chosen) > 1:
            raise ValueError(f"select the camera by one of serial, user_id, index; got {', '.join(chosen)}")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        for key in self.features:
            if not key.isidentifier():
                raise ValueError(f"feature name {key!r} is not a valid GenICam name")
        return self

    @property
    def is_mono(self) -> bool:
        return self.pixel_format in MONO_FORMATS

    @property
    def selection(self) -> str:
        """How the device is chosen, for messages: "serial 123", "user id 'cam-A'", "index 0"."""
        if self.serial is not None:
            return f"serial {self.serial}"
        if self.user_id is not None:
            return f"user id {self.user_id!r}"
        if self.index is not None:
            return f"index {self.index}"
        return "first emulated device" if self.emulated else "first device"


def parse_camera_settings(data: Mapping[str, Any] | CameraSettings) -> CameraSettings:
    """Validate ``data`` into :class:`CameraSettings`; a failure is a ConfigError naming the field."""
    if isinstance(data, CameraSettings):
        return data
    try:
        return CameraSettings.model_validate(dict(data))
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        raise ConfigError(err["msg"], field=field, key="bad_camera_setting") from exc
