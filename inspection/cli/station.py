"""``inspection run --config FILE``: run a station (camera, PLC bridge, recipes, store, HMI).

This module is the composition root of a running station: it builds the station from its
configuration and starts the HMI next to it. Plugins, the HMI and calibration are imported inside
functions only.
"""

from __future__ import annotations

import argparse
import functools
import logging
import shlex
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inspection.recipe.catalog import RecipeCatalog
from inspection.station.config import StationConfig

logger = logging.getLogger(__name__)


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "run", help="run the station from a configuration file",
        description="Runs the station: camera, PLC bridge, recipes (bundles written by "
        "'inspection teach'), result store and HMI, all from one TOML file (see docs/station.md). "
        "The file is watched: camera and recipe changes apply between cycles.")
    p.add_argument("--config", type=Path, required=True, metavar="FILE")
    p.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0: run)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from calibration.catalog import BundleCatalog
    from inspection.station.config import load_config

    config = load_config(args.config)
    catalog = BundleCatalog(config.recipes.folder)
    return serve(config, catalog, config_path=args.config, duration=args.duration)


def serve(config: StationConfig, catalog: RecipeCatalog, *, camera: Any = None, simulation: bool = False,
          config_path: Path | None = None, duration: float = 0.0,
          started: Callable[[Any, Any], None] | None = None, stopping: Callable[[], None] | None = None,
          stop: threading.Event | None = None) -> int:
    """Run a station and its HMI until SIGINT/SIGTERM, ``stop`` or ``duration`` seconds.
    ``started(station, hmi_server)`` is called once both are up, ``stopping()`` before they stop."""
    from hmi.app import create_app
    from hmi.auth.users import UserStore
    from hmi.server import HmiServer
    from hmi.settings import HmiSettings
    from inspection.runtime import configure
    from inspection.station.config import ConfigWatcher
    from inspection.station.runtime import Station

    configure(config.station.threads)
    t0 = time.monotonic()
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    station = Station(config, catalog, camera=camera, simulation=simulation)
    users = None
    server = None
    watcher = None
    try:
        station.start()
        if config.hmi.enabled:
            users = UserStore(config.station.data_dir / "users.db")
            app = create_app(station, station.store, users, settings=HmiSettings(title=config.hmi.title,
                                                                    cookie_secure=config.hmi.cookie_secure,
                                                                    allowed_hosts=tuple(config.hmi.allowed_hosts)),
                             announce=functools.partial(_announce, data_dir=config.station.data_dir))
            server = HmiServer(app, host=config.hmi.host, port=config.hmi.port).start()
        if config_path is not None:
            watcher = ConfigWatcher(config_path, station.reload).start()
        _banner(station, server, time.monotonic() - t0)
        if started is not None:
            started(station, server)
        stop.wait(duration if duration > 0 else None)
    finally:
        if stopping is not None:
            stopping()
        if watcher is not None:
            watcher.stop()
        if server is not None:
            server.stop()
        integrations = getattr(station, "integrations", None)
        station.stop()
        for line in _outbox_summary(integrations):
            print(line, flush=True)
        if users is not None:
            users.close()
    return 0


def _announce(token: str, *, data_dir: Path) -> None:
    print(f"\nNo HMI user exists yet. Open the HMI and create the first admin with the one-time setup "
          f"token:\n    {token}\n(or: python -m hmi users add NAME --role admin "
          f"--data {shlex.quote(str(data_dir))})\n", flush=True)


def _redact(url: str) -> str:
    """A database URL without its password."""
    import re

    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def _outbox_summary(integrations: Any) -> list[str]:
    if integrations is None:
        return []
    return [f"outbox {s['name']}: sent {s['sent']}, errors {s['errors']}, cursor {s['cursor']}"
            for s in integrations.last_stats]


def _banner(station: Any, server: Any, seconds: float) -> None:
    cfg = station.config
    modbus = station.modbus_port
    lines = [f"station {cfg.station.id} up in {seconds:.1f} s"]
    if server is not None:
        lines.append(f"  HMI:        {server.url}   (API docs {server.url}/docs)")
    if modbus is not None:
        lines.append(f"  Modbus TCP: {cfg.plc.host}:{modbus}  unit {cfg.plc.unit_id or 'any'}  "
                     f"(register map: docs/plc.md)")
    lines.append(f"  camera:     {cfg.camera.driver} ({cfg.camera.selection})")
    if cfg.mqtt.host:
        topic = f"{cfg.mqtt.topic_prefix}/{cfg.station.id}/result"
        lines.append(f"  MQTT:       {cfg.mqtt.host}:{cfg.mqtt.port}  topic {topic}  QoS {cfg.mqtt.qos}")
    if cfg.plant.db_url:
        lines.append(f"  plant DB:   {_redact(cfg.plant.db_url)}  (station id {cfg.station.id})")
    server = getattr(station, "integrations", None) and station.integrations.servers.get("opcua")
    if server is not None:
        lines.append(f"  OPC UA:     {server.endpoint}  (Machine Vision, OPC 40100-1)")
    lines.append(f"  data:       {cfg.station.data_dir}")
    print("\n".join(lines), flush=True)
