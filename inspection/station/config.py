"""The station's configuration: one validated TOML file (station, camera, PLC, recipes, storage, HMI).

Every value is checked when the file is read (pydantic at the edge): an unknown key, a NaN, a value
out of range is a :class:`ConfigError` naming the field, and the station keeps running on the
previous configuration. :class:`ConfigWatcher` re-reads the file when it changes; the station
applies the new values between cycles (see ``Station.reload``).

Example::

    [station]
    id = "line3-station1"
    data_dir = "/var/lib/inspection"

    [camera]
    driver = "pylon"
    serial = "40123456"
    exposure_us = 800

    [plc]
    port = 502
    deadline_ms = 500

    [recipes]
    folder = "/etc/inspection/recipes"   # one bundle per sub-folder (inspection teach --out ...)
    initial = 1

    [storage]
    save_pass_every = 10

    [hmi]
    port = 8080
"""

from __future__ import annotations

import logging
import os
import threading
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from inspection.camera.settings import CameraSettings
from inspection.errors import ConfigError

logger = logging.getLogger(__name__)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class StationSection(_Section):
    id: str = Field(default="station-1", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    data_dir: Path = Path("station-data")
    threads: int = Field(default=1, ge=1, le=64, description="OpenCV / ONNX Runtime threads per inspection")


class PlcSection(_Section):
    bridge: str = Field(default="modbus", pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$")
    mode: Literal["server", "client"] = "server"
    host: str = Field(default="127.0.0.1", description="listen address; the line network's interface "
                      "(or 0.0.0.0) for a PLC on another machine")
    port: int = Field(default=502, ge=0, le=65535)
    unit_id: int | None = Field(default=None, ge=0, le=247)
    address_offset: int = Field(default=0, ge=0, le=65000)
    low_word_first: bool = True
    deadline_ms: int = Field(default=1000, ge=1, le=65535)
    ack_timeout_ms: int = Field(default=2000, ge=1, le=65535)
    plc_heartbeat_timeout_ms: int = Field(default=500, ge=1, le=65535)
    buffer_depth: int = Field(default=8, ge=1, le=1000)
    recipe_zero_is_active: bool = Field(default=True, description="RECIPE_NO 0 at a trigger means the "
                                        "active recipe; false: it must equal ACTIVE_RECIPE like any number")
    # bridge = "s7" (docs/plc.md, Siemens S7): the PLC's rack, slot and the handshake's data block
    rack: int = Field(default=0, ge=0, le=7)
    slot: int = Field(default=1, ge=0, le=31)
    db: int = Field(default=100, ge=1, le=65535)


class RecipesSection(_Section):
    folder: Path = Path("recipes")
    initial: int = Field(default=1, ge=0, le=999)


class StorageSection(_Section):
    save_pass_every: int = Field(default=10, ge=0, le=1_000_000)
    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    max_age_days: float | None = Field(default=90.0, gt=0)
    min_free_mb: int = Field(default=2048, ge=0)
    max_records: int = Field(default=50_000_000, ge=0, description="records kept at most (about 1.1 KB "
                             "each); above it the oldest passes go first. 0: no limit")


class HmiSection(_Section):
    enabled: bool = True
    host: str = Field(default="127.0.0.1", description="listen address; plain HTTP: serve other machines "
                      "through a TLS reverse proxy and set cookie_secure")
    port: int = Field(default=8080, ge=0, le=65535)
    title: str = Field(default="Inspection station", max_length=80)
    allowed_hosts: list[str] = Field(default_factory=list, description="host names the HMI answers to "
                                     "besides IP addresses and localhost (DNS rebinding protection)")
    cookie_secure: bool = Field(default=False, description="the session cookie only over HTTPS (behind a "
                                "TLS reverse proxy)")


class MqttSection(_Section):
    """Every stored result as JSON to ``<topic_prefix>/<station id>/result`` (docs/integration.md).
    Empty ``host``: off."""

    host: str = ""
    port: int = Field(default=1883, ge=1, le=65535)
    topic_prefix: str = Field(default="inspection", pattern=r"^[^#+]+$")
    qos: Literal[0, 1, 2] = 1
    username: str | None = None
    password: str | None = None


class PlantSection(_Section):
    """Replication into the plant's PostgreSQL store. Empty ``db_url``: off."""

    db_url: str = ""


class OpcuaSection(_Section):
    """OPC UA server with the OPC 40100-1 Machine Vision information model. ``port`` 0: off."""

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)


class AlarmsSection(_Section):
    consecutive_ng: int = Field(default=5, ge=0, le=10_000, description="rejects in a row that raise an alarm (0: off)")
    yield_window: int = Field(default=200, ge=0, le=100_000, description="parts the yield alarm looks at (0: off)")
    yield_min_pct: float = Field(default=80.0, ge=0.0, le=100.0, description="yield alarm limit over a full window")
    drift_window: int = Field(default=200, ge=0, le=100_000, description="good parts in the drift baseline (0: off)")
    drift_limit: float = Field(default=0.15, gt=0.0, le=1.0, description="allowed rise of the good parts' median score")


class StationConfig(_Section):
    station: StationSection = StationSection()
    camera: CameraSettings = CameraSettings()
    plc: PlcSection = PlcSection()
    recipes: RecipesSection = RecipesSection()
    storage: StorageSection = StorageSection()
    hmi: HmiSection = HmiSection()
    mqtt: MqttSection = MqttSection()
    plant: PlantSection = PlantSection()
    opcua: OpcuaSection = OpcuaSection()
    alarms: AlarmsSection = AlarmsSection()

    def changed_sections(self, other: StationConfig) -> set[str]:
        """Names of the sections that differ from ``other``."""
        return {name for name in type(self).model_fields if getattr(self, name) != getattr(other, name)}


def parse_config(data: dict[str, Any], *, source: str = "configuration") -> StationConfig:
    try:
        return StationConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{source}: {where}: {first['msg']}{more}", field=where) from exc


def load_config(path: str | Path) -> StationConfig:
    """Read and validate a TOML configuration file; paths in it are relative to the file."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"{p}: no such configuration file", key="config_not_found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}", key="config_syntax") from exc
    config = parse_config(data, source=str(p))
    return _resolve(config, p.parent)


def _resolve(config: StationConfig, base: Path) -> StationConfig:
    def fix(value: Path) -> Path:
        """Relative paths are relative to the configuration file; absolute ones stay as they are."""
        return value if value.is_absolute() else base / value

    camera = config.camera
    if camera.image_file is not None:
        camera = camera.model_copy(update={"image_file": fix(camera.image_file)})
    return config.model_copy(update={
        "station": config.station.model_copy(update={"data_dir": fix(config.station.data_dir)}),
        "recipes": config.recipes.model_copy(update={"folder": fix(config.recipes.folder)}),
        "camera": camera,
    })


class ConfigWatcher:
    """Calls ``on_change(new_config)`` when the file's content changes and still validates; an
    invalid edit is logged (once per edit) and ignored, so the station keeps its last good
    configuration."""

    def __init__(self, path: str | Path, on_change: Any, *, interval_s: float = 1.0) -> None:
        self.path = Path(path)
        self.on_change = on_change
        self.interval_s = interval_s
        self._stamp = self._read_stamp()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str = ""

    def _read_stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def poll(self) -> bool:
        """Check once; True when a new, valid configuration was passed on."""
        stamp = self._read_stamp()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            config = load_config(self.path)
        except ConfigError as exc:
            self.last_error = str(exc)
            logger.error("configuration change ignored: %s", exc)
            return False
        self.last_error = ""
        self.on_change(config)
        return True

    def start(self) -> ConfigWatcher:
        self._thread = threading.Thread(target=self._run, name="config-watcher", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.poll()
            except Exception:
                logger.exception("configuration watcher")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
