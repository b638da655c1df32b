"""MQTT result sink (paho-mqtt; the only module that imports it).

Every committed result is published as JSON (``inspection.store.export.result_message``) to
``<prefix>/<station_id>/result`` at QoS 1, fed by the store's outbox (``inspection.store.outbox``):
a batch counts as delivered only up to the last message the broker acknowledged (PUBACK), so a
broker outage loses nothing and a reconnect resends exactly what was not acknowledged.

Each connection is a fresh client with a clean session: paho's own in-memory resend queue is
dropped with it, so the outbox is the only thing that resends (no second copy from paho). The
station's status goes to ``<prefix>/<station_id>/status`` (retained; the broker publishes
``{"online": false}`` there as the last will when the station vanishes).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

from inspection.errors import MissingDependency, SinkError
from inspection.store.export import result_message
from inspection.store.rows import StoredResult

logger = logging.getLogger(__name__)


def _paho() -> Any:
    try:
        import paho.mqtt.client as mqtt
    except ModuleNotFoundError as exc:
        raise MissingDependency("paho-mqtt", extra="mqtt", purpose="publishing results over MQTT") from exc
    return mqtt


def parse_hostport(text: str, *, default_port: int = 1883) -> tuple[str, int]:
    """``HOST[:PORT]`` -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, default_port
    return host, int(port)


class MqttSink:
    name = "mqtt"

    def __init__(self, *, station_id: str, host: str = "127.0.0.1", port: int = 1883,
                 topic_prefix: str = "inspection", qos: int = 1, keepalive_s: int = 15,
                 ack_timeout_s: float = 5.0, connect_timeout_s: float = 3.0, username: str | None = None,
                 password: str | None = None) -> None:
        if qos not in (0, 1, 2):
            raise ValueError("qos must be 0, 1 or 2")
        self.mqtt = _paho()
        self.station_id = station_id
        self.host, self.port = host, port
        self.topic = f"{topic_prefix}/{station_id}/result"
        self.status_topic = f"{topic_prefix}/{station_id}/status"
        self.qos = qos
        self.keepalive_s = keepalive_s
        self.ack_timeout_s = ack_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.username, self.password = username, password
        self._client: Any = None
        self._connected = threading.Event()
        self._lost = threading.Event()
        self.connects = 0

    # ---- connection -----------------------------------------------------------------------------
    def _connect(self) -> Any:
        if self._client is not None and self._connected.is_set() and not self._lost.is_set():
            return self._client
        self._drop()
        mqtt = self.mqtt
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"inspection-{self.station_id}",
                             clean_session=True)
        client.connect_timeout = self.connect_timeout_s
        if self.username:
            client.username_pw_set(self.username, self.password)
        client.will_set(self.status_topic, json.dumps({"station_id": self.station_id, "online": False}),
                        qos=1, retain=True)
        self._connected.clear()
        self._lost.clear()

        def on_connect(c: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
            if not reason.is_failure:
                self._connected.set()
            else:
                self._lost.set()

        def on_disconnect(c: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
            self._lost.set()

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        try:
            client.connect(self.host, self.port, keepalive=self.keepalive_s)
        except (OSError, ValueError) as exc:
            raise SinkError(f"MQTT broker {self.host}:{self.port} unreachable: {exc}",
                            key="sink_unreachable") from exc
        client.loop_start()
        self._client = client
        deadline = time.monotonic() + self.connect_timeout_s
        while not self._connected.is_set() and not self._lost.is_set() and time.monotonic() < deadline:
            self._connected.wait(0.05)
        if not self._connected.is_set() or self._lost.is_set():
            self._drop()
            raise SinkError(f"MQTT broker {self.host}:{self.port} refused or did not answer the connection",
                            key="sink_unreachable")
        self.connects += 1
        logger.info("MQTT connected to %s:%d", self.host, self.port)
        return client

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        with suppress(Exception):  # already gone
            client.disconnect()
        client.loop_stop()

    # ---- Sink -----------------------------------------------------------------------------------
    def send(self, results: Sequence[StoredResult]) -> None:
        client = self._connect()
        infos = []
        for r in results:
            msg = result_message(r)
            msg["station_id"] = r.station_id or self.station_id
            infos.append(client.publish(self.topic, json.dumps(msg, separators=(",", ":")), qos=self.qos))
        deadline = time.monotonic() + self.ack_timeout_s
        for i, info in enumerate(infos):
            try:
                while not info.is_published():
                    if self._lost.is_set() or time.monotonic() > deadline:
                        raise SinkError(f"MQTT broker {self.host}:{self.port}: {len(infos) - i} of "
                                        f"{len(infos)} results not acknowledged", delivered=i,
                                        key="sink_unreachable")
                    info.wait_for_publish(0.05)
            except (RuntimeError, ValueError) as exc:
                self._drop()
                raise SinkError(f"MQTT publish failed: {exc}", delivered=i, key="sink_unreachable") from exc
            except SinkError:
                self._drop()
                raise

    def heartbeat(self, status: dict[str, Any]) -> None:
        client = self._connect()
        client.publish(self.status_topic, json.dumps({**status, "online": True}), qos=1, retain=True)

    def close(self) -> None:
        client = self._client
        if client is not None and self._connected.is_set() and not self._lost.is_set():
            info = client.publish(self.status_topic, json.dumps({"station_id": self.station_id, "online": False}),
                                  qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(1.0)
        self._drop()
