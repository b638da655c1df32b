"""Process alarms over HTTP: 5 NG in a row turn inspection_alarm_active{alarm="consecutive_ng"} to 1
in /metrics; acknowledge is audited; the yield alarm over a window; the monitor's latching rules."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from inspection.station.alarms import AlarmConfig, AlarmMonitor


def _alarm_gauges(client) -> dict[str, float]:
    text = client.get("/metrics").text
    out = {}
    for fam in text_string_to_metric_families(text):
        if fam.name == "inspection_alarm_active":
            for s in fam.samples:
                out[s.labels["alarm"]] = s.value
    return out


def test_five_ng_in_a_row_raise_the_alarm_in_metrics_and_ack_is_audited(env, client, roles):
    op = roles["operator"]
    assert _alarm_gauges(client) == {"consecutive_ng": 0.0, "yield": 0.0, "drift": 0.0}
    env.inject(4, defective=True)
    assert _alarm_gauges(client)["consecutive_ng"] == 0.0
    env.inject(1, defective=False)  # the run is broken
    env.inject(4, defective=True, start=10)
    assert _alarm_gauges(client)["consecutive_ng"] == 0.0
    env.inject(1, defective=True, start=20)  # the fifth in a row
    assert _alarm_gauges(client)["consecutive_ng"] == 1.0
    (a,) = [a for a in client.get("/api/alarms", headers=op).json() if a["name"] == "consecutive_ng"]
    assert a["active"] and a["condition"] and not a["acknowledged"] and a["value"] == 5
    assert "5 rejects in a row" in a["message"]
    env.inject(1, defective=False, start=30)  # cleared by itself: still active until acknowledged
    assert _alarm_gauges(client)["consecutive_ng"] == 1.0
    r = client.post("/api/alarms/consecutive_ng/ack", headers=op)
    assert r.status_code == 200 and r.json()["active"] is False and r.json()["ack_user"] == "operator"
    assert _alarm_gauges(client)["consecutive_ng"] == 0.0
    assert client.post("/api/alarms/nope/ack", headers=op).status_code == 404
    (entry,) = env.store.audit_log(action="acknowledge_alarm")
    assert (entry.user, entry.target) == ("operator", "alarm:consecutive_ng")
    assert '"active":true' in (entry.old_value or "") and '"active":false' in (entry.new_value or "")


def test_ack_during_a_run_restarts_the_count(env, client, roles):
    op = roles["operator"]
    env.inject(6, defective=True)
    assert client.post("/api/alarms/consecutive_ng/ack", headers=op).json()["active"] is False
    env.inject(4, defective=True, start=10)
    assert _alarm_gauges(client)["consecutive_ng"] == 0.0
    env.inject(1, defective=True, start=20)
    assert _alarm_gauges(client)["consecutive_ng"] == 1.0


def test_yield_alarm_over_a_window():
    reg = CollectorRegistry()
    seen = []
    m = AlarmMonitor(reg, AlarmConfig(consecutive_ng=0, yield_window=10, yield_min_pct=80.0),
                     on_change=seen.append)
    for i in range(9):
        m.observe(i % 3 != 0)  # 66 % but the window is not full yet
    assert not m.active()
    m.observe(True)
    (y,) = [a for a in m.snapshot() if a.name == "yield"]
    assert y.active and y.value == 70.0 and len(seen) == 1
    assert reg.get_sample_value("inspection_alarm_active", {"alarm": "yield"}) == 1.0
    _, after = m.acknowledge("yield", user="op")
    assert after.active and after.acknowledged  # acknowledged, the yield is still low
    for _ in range(10):
        m.observe(True)
    assert not m.active() and reg.get_sample_value("inspection_alarm_active", {"alarm": "yield"}) == 0.0
    assert reg.get_sample_value("inspection_alarm_active", {"alarm": "consecutive_ng"}) == 0.0  # off


def test_drift_of_good_scores_against_the_baseline():
    reg = CollectorRegistry()
    m = AlarmMonitor(reg, AlarmConfig(consecutive_ng=0, yield_window=0, drift_window=20, drift_limit=0.1))
    for i in range(20):
        m.observe(True, 0.05 + 0.001 * (i % 5))  # the baseline: median 0.052
    for _ in range(20):
        m.observe(False, 0.9)  # rejects do not count
        m.observe(True, 0.10)
    assert reg.get_sample_value("inspection_alarm_active", {"alarm": "drift"}) == 0.0
    for _ in range(20):
        m.observe(True, 0.25)  # creeping toward the reject threshold
    (d,) = [a for a in m.snapshot() if a.name == "drift"]
    assert d.active and d.value is not None and d.value > 0.1 and "after teaching" in d.message
    assert reg.get_sample_value("inspection_alarm_active", {"alarm": "drift"}) == 1.0
    m.reset_baseline()  # a new golden was taught: a new baseline; the raised alarm waits for its ack
    assert reg.get_sample_value("inspection_alarm_active", {"alarm": "drift"}) == 1.0
    m.acknowledge("drift", user="eng")
    assert reg.get_sample_value("inspection_alarm_active", {"alarm": "drift"}) == 0.0
    for _ in range(40):
        m.observe(True, 0.25)
    assert not m.active()


def test_teaching_restarts_the_drift_baseline(env, client, roles):
    eng = roles["engineer"]
    (good,) = env.inject(1, defective=False)
    env.station.hub.alarms._base_median = 0.01  # as if a baseline had been taken
    client.post("/api/recipes/pcb-a/teach", headers=eng, json={"result_id": good.result_id})
    assert env.station.hub.alarms._base_median is None and env.station.hub.alarms._base == []
