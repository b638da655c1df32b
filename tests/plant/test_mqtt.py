"""MQTT results against a real Mosquitto broker: every stored result reaches a subscriber across a 5 s
broker outage (the broker is stopped and started again on the same port, keeping its persistent
sessions).

The station never publishes a result twice. At QoS 1 (the default) the broker may still redeliver,
flagged DUP, the one message that was in flight to the subscriber when it went down: that is MQTT's
at-least-once, and consumers drop it by result_id. At QoS 2 the subscriber gets every result exactly
once."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from plant_servers import Mosquitto
from plant_support import Feeder, Subscriber

from inspection.store import ResultQuery, ResultStore
from inspection.store.outbox import Forwarder, result_sinks


@pytest.mark.timeout(60)
@pytest.mark.parametrize("qos", [1, 2])
def test_every_result_arrives_across_a_broker_outage(
        mosquitto: Mosquitto, make_store: Callable[[str], ResultStore], qos: int) -> None:
    store = make_store("A")
    sub = Subscriber(mosquitto.port, "inspection/line1-A/result", qos=qos)
    sink = result_sinks.create("mqtt", station_id="line1-A", host="127.0.0.1", port=mosquitto.port,
                               ack_timeout_s=2.0, connect_timeout_s=1.0, qos=qos)
    fwd = Forwarder(store, sink, max_delay_s=0.5, status=lambda: {"station_id": "line1-A", "state": "Ready"},
                    heartbeat_s=1.0).start()
    feeder = Feeder({"line1-A": store}, rate=20).start()
    try:
        time.sleep(1.5)
        mosquitto.stop()
        outage = time.monotonic()
        time.sleep(5.0)
        mosquitto.start()
        time.sleep(1.5)
        feeder.stop()
        assert fwd.wait_idle(15), fwd.stats()
        stored = feeder.ids["line1-A"]
        deadline = time.monotonic() + 15
        while len(sub.ids()) < len(stored) and time.monotonic() < deadline:
            time.sleep(0.1)
        got = sub.ids()
        assert len(stored) >= 150
        assert set(got) == set(stored), f"missing {len(set(stored) - set(got))} of {len(stored)}"
        fresh = [m["result_id"] for m in sub.messages if not m["_dup"]]
        assert len(fresh) == len(set(fresh)), "the station published a result twice"
        redelivered = len(got) - len(set(got))
        if qos == 2:
            assert redelivered == 0, "a result arrived twice at QoS 2"
        else:
            assert redelivered <= 1  # at most the message in flight to the subscriber at the outage
        stats = fwd.stats()
        assert stats.errors >= 1 and stats.sent == len(stored), stats
        assert sink.connects >= 2  # reconnected after the outage
        assert outage > 0
        first = sub.messages[0]
        assert {"result_id", "station_id", "trigger_seq", "part_id", "verdict", "result_code", "findings",
                "recipe", "timestamps"} <= set(first)
        assert first["station_id"] == "line1-A" and first["recipe"]["number"] == 1
        rejects = [m for m in sub.messages if m["verdict"] == "reject"]
        assert rejects and rejects[0]["findings"] and rejects[0]["result_code"] != 1
        assert any(s.get("online") is True for s in sub.status)
    finally:
        feeder.stop()
        fwd.stop()
        sub.close()


@pytest.mark.timeout(30)
def test_a_restarted_station_resends_only_what_was_not_acknowledged(
        mosquitto: Mosquitto, make_store: Callable[[str], ResultStore]) -> None:
    """Results committed while no forwarder runs (the station was restarted, the broker was down) go
    out when it starts again; those already acknowledged do not."""
    store = make_store("B")
    sub = Subscriber(mosquitto.port, "inspection/B/result")
    make = lambda: result_sinks.create("mqtt", station_id="B", host="127.0.0.1", port=mosquitto.port)  # noqa: E731
    feeder = Feeder({"B": store}, rate=200).start()
    time.sleep(0.2)
    feeder.stop()
    first = Forwarder(store, make()).start()
    assert first.wait_idle(10)
    first.stop()
    feeder = Feeder({"B": store}, rate=200).start()
    time.sleep(0.2)
    feeder.stop()
    second = Forwarder(store, make()).start()
    try:
        assert second.wait_idle(10)
        deadline = time.monotonic() + 10
        total = store.count(ResultQuery())
        while len(sub.ids()) < total and time.monotonic() < deadline:
            time.sleep(0.05)
        got = sub.ids()
        assert len(got) == total == len(set(got))
    finally:
        second.stop()
        sub.close()
