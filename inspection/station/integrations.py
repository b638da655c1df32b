"""The station's plant integrations, built from its configuration (docs/integration.md).

- result sinks (``[mqtt]``, ``[plant]``): one outbox :class:`~inspection.store.outbox.Forwarder`
  each, following the committed store on its own thread; the hot path never sees them;
- station servers (``[opcua]``): a plugin serving the station's state, recipes and results, fed by
  the station's event broadcaster (never by the PLC thread).

Everything here is looked up by name in a registry (plugins are imported lazily, a missing library
names its pip extra) and started after the store, stopped before it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any, Protocol

from inspection.registry import Registry
from inspection.station.config import StationConfig
from inspection.store import ResultStore
from inspection.store.outbox import Forwarder, result_sinks

logger = logging.getLogger(__name__)


class StationServer(Protocol):
    def start(self) -> Any: ...

    def stop(self) -> None: ...


# name -> factory(station, host=..., port=...): servers exposing a running station to the plant.
station_servers: Registry[StationServer] = Registry("station server", "inspection.station_servers")
station_servers.register("opcua", "plugins.plant.opcua:MachineVisionServer", extra="opcua")


def sink_options(config: StationConfig) -> dict[str, dict[str, Any]]:
    """Configured sinks: name -> factory options."""
    out: dict[str, dict[str, Any]] = {}
    m = config.mqtt
    if m.host:
        out["mqtt"] = {"host": m.host, "port": m.port, "topic_prefix": m.topic_prefix, "qos": m.qos,
                       "username": m.username, "password": m.password}
    if config.plant.db_url:
        out["postgres"] = {"url": config.plant.db_url}
    return out


class Integrations:
    def __init__(self, config: StationConfig, store: ResultStore, *, status: Callable[[], dict[str, Any]],
                 station: Any = None) -> None:
        self.config = config
        self.store = store
        self.status = status
        self.station = station
        self.forwarders: list[Forwarder] = []
        self.servers: dict[str, Any] = {}
        self.last_stats: list[dict[str, Any]] = []  # of the forwarders, as they were when stopped

    def start(self) -> Integrations:
        try:
            for name, options in sink_options(self.config).items():
                sink = result_sinks.create(name, station_id=self.config.station.id, **options)
                self.forwarders.append(Forwarder(self.store, sink, status=self.status).start())
                logger.info("results are forwarded to %s", name)
            if self.config.opcua.port and self.station is not None:
                server = station_servers.create("opcua", self.station, host=self.config.opcua.host,
                                                port=self.config.opcua.port)
                self.servers["opcua"] = server.start()
        except Exception:
            self.stop(drain_s=0)
            raise
        return self

    def stop(self, *, drain_s: float = 2.0) -> None:
        """Stop the servers, give the outboxes ``drain_s`` to deliver what is committed (what they
        do not deliver stays in the store and goes out at the next start), stop them."""
        for server in self.servers.values():
            try:
                server.stop()
            except Exception:
                logger.exception("stopping a station server")
        self.servers.clear()
        for f in self.forwarders:
            if drain_s > 0:
                f.wait_idle(drain_s)
            f.stop()
        if self.forwarders:
            self.last_stats = self.stats()
        self.forwarders.clear()

    def stats(self) -> list[dict[str, Any]]:
        return [dataclasses.asdict(f.stats()) for f in self.forwarders]
