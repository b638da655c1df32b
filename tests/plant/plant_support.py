"""Helpers of the plant tests: synthetic part records and a feeder that submits them at a rate."""

from __future__ import annotations

import json
import threading
import time

import paho.mqtt.client as mqtt
from tests_support import make_result

from inspection.record import PartInfo, PartRecord
from inspection.store import ResultStore


def make_record(i: int, station_id: str) -> PartRecord:
    result, _ = make_result(i, defective=i % 4 == 0)
    return PartRecord(result, PartInfo(trigger_seq=i & 0xFFFF, part_id=i, part_id_str=f"SN{i:06d}",
                                       recipe_number=1, station_id=station_id))


class Feeder:
    """Submits parts to stores at ``rate`` per second per store on its own thread."""

    def __init__(self, stores: dict[str, ResultStore], rate: float) -> None:
        self.stores = stores
        self.rate = rate
        self.ids: dict[str, list[str]] = {k: [] for k in stores}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="plant-feeder", daemon=True)

    def start(self) -> Feeder:
        self._thread.start()
        return self

    def _run(self) -> None:
        i = 0
        t0 = time.monotonic()
        while not self._stop.is_set():
            i += 1
            for sid, store in self.stores.items():
                rec = make_record(i, sid)
                assert store.submit(rec)
                self.ids[sid].append(rec.result_id)
            self._stop.wait(max(0.0, t0 + i / self.rate - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for store in self.stores.values():
            assert store.flush(10)


class Subscriber:
    """A persistent-session QoS 1 subscriber (the broker queues for it while it is away)."""

    def __init__(self, port: int, topic: str, qos: int = 1) -> None:
        self.messages: list[dict] = []
        self.status: list[dict] = []
        self._lock = threading.Lock()
        self.subscribed = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="plant-test-sub", clean_session=False)
        c.reconnect_delay_set(1, 1)
        c.on_connect = lambda c, u, f, rc, p: c.subscribe([(topic, qos), ("inspection/+/status", 1)])
        c.on_subscribe = lambda *a: self.subscribed.set()
        c.on_message = self._message
        c.connect("127.0.0.1", port, keepalive=5)
        c.loop_start()
        self.client = c
        assert self.subscribed.wait(5)

    def _message(self, c: object, u: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            body = json.loads(msg.payload)
            body["_dup"] = bool(msg.dup)
            (self.status if msg.topic.endswith("/status") else self.messages).append(body)

    def ids(self) -> list[str]:
        with self._lock:
            return [m["result_id"] for m in self.messages]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
