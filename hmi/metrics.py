"""Prometheus text exposition (format 0.0.4) of the station and HMI, written by hand (no client
library needed for a few dozen samples)."""

from __future__ import annotations

from hmi.context import HmiContext

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class _Doc:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def metric(self, name: str, kind: str, help_: str, samples: list[tuple[dict[str, str], float]]) -> None:
        self.lines.append(f"# HELP {name} {help_}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            lab = ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items())
            self.lines.append(f"{name}{{{lab}}} {value:g}" if lab else f"{name} {value:g}")


def render(ctx: HmiContext) -> str:
    st = ctx.station
    status = st.status()
    c = st.counters()
    w = ctx.store.stats()
    d = _Doc()
    d.metric("inspection_parts_total", "counter", "Parts decided since the counters were cleared.",
             [({"verdict": "pass"}, c.ok), ({"verdict": "reject"}, c.ng)])
    d.metric("inspection_yield_ratio", "gauge", "OK parts / all parts since the counters were cleared.",
             [({}, (c.ok / c.total) if c.total else 0.0)])
    d.metric("inspection_station_state", "gauge", "Station state code (PLC contract: 6 Ready, 3 Error, ...).",
             [({"state": status.state.name}, int(status.state))])
    d.metric("inspection_station_armed", "gauge", "1 when the station accepts triggers.",
             [({}, status.armed)])
    d.metric("inspection_plc_connected", "gauge", "1 when the PLC link is up.",
             [({"protocol": status.plc.protocol}, status.plc.connected)])
    stages = st.stage_stats()
    samples: list[tuple[dict[str, str], float]] = []
    for name, s in stages.items():
        samples += [({"stage": name, "quantile": "0.5"}, s.p50), ({"stage": name, "quantile": "0.99"}, s.p99)]
    d.metric("inspection_stage_ms", "gauge", "Stage time quantiles over the station's timing window (ms).",
             samples)
    d.metric("inspection_stage_window_size", "gauge", "Parts in the timing window.",
             [({"stage": n}, s.n) for n, s in stages.items()])
    d.metric("inspection_store_committed_total", "counter", "Records committed to the result database.",
             [({}, w.committed)])
    d.metric("inspection_store_queue_depth", "gauge", "Records waiting for the store writer.",
             [({}, w.queued)])
    d.metric("inspection_store_pending_image_bytes", "gauge", "Image bytes waiting for the store writer.",
             [({}, w.pending_image_bytes)])
    d.metric("inspection_store_records_dropped_total", "counter", "Records dropped (writer queue full).",
             [({}, w.records_dropped)])
    d.metric("inspection_store_images_total", "counter", "Part images by what happened to them.",
             [({"outcome": "saved"}, w.images_saved), ({"outcome": "dropped"}, w.images_dropped),
              ({"outcome": "failed"}, w.images_failed), ({"outcome": "skipped_disk"}, w.images_skipped_disk)])
    d.metric("inspection_store_write_errors_total", "counter", "Failed commit attempts (retried).",
             [({}, w.write_errors)])
    d.metric("inspection_store_writer_up", "gauge", "1 while the store writer thread runs.", [({}, w.alive)])
    d.metric("inspection_store_low_disk", "gauge", "1 when free disk is below the retention minimum.",
             [({}, w.low_disk)])
    d.metric("inspection_store_db_bytes", "gauge", "Size of the result database files.",
             [({}, ctx.store.db_bytes())])
    d.metric("hmi_sse_clients", "gauge", "Browsers following the live stream.", [({}, ctx.sse_clients)])
    d.metric("hmi_sse_events_sent_total", "counter", "Events sent to browsers.", [({}, ctx.sse_sent)])
    d.metric("hmi_sse_events_dropped_total", "counter",
             "Events dropped for slow browsers (their queue was full).", [({}, ctx.sse_dropped)])
    d.metric("hmi_image_cache_total", "counter", "Encoded image cache lookups.",
             [({"result": "hit"}, ctx.images.hits), ({"result": "miss"}, ctx.images.misses)])
    return "\n".join(d.lines) + "\n"
