"""/metrics in the Prometheus text format, through prometheus-client.

Two registries make up the page: the station's own (:mod:`inspection.station.metrics`: stage-time
histograms, parts by result code, defects by class, camera and PLC error counters, observed as parts
are published) and the HMI's, whose collector reads the station's status, the store writer and the
live-stream counters at scrape time.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hmi.context import HmiContext

CONTENT_TYPE = CONTENT_TYPE_LATEST


def _gauge(name: str, doc: str, value: float, labels: dict[str, str] | None = None) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc, labels=list(labels or {}))
    g.add_metric(list((labels or {}).values()), float(value))
    return g


def _counter(name: str, doc: str, samples: list[tuple[dict[str, str], float]]) -> CounterMetricFamily:
    c = CounterMetricFamily(name, doc, labels=list(samples[0][0]) if samples else [])
    for labels, value in samples:
        c.add_metric(list(labels.values()), float(value))
    return c


class _Snapshot(Collector):
    """Values the station and the HMI already keep, read when Prometheus scrapes."""

    def __init__(self, ctx: HmiContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        ctx = self.ctx
        status = ctx.station.status()
        c = ctx.station.counters()
        w = ctx.store.stats()
        yield _gauge("inspection_yield_ratio", "OK parts / all parts since the counters were cleared.",
                     (c.ok / c.total) if c.total else 0.0)
        yield _gauge("inspection_station_state", "Station state code (PLC contract: 6 Ready, 3 Error, ...).",
                     int(status.state), {"state": status.state.name})
        yield _gauge("inspection_station_armed", "1 when the station accepts triggers.", status.armed)
        yield _gauge("inspection_plc_connected", "1 when the PLC link is up.", status.plc.connected,
                     {"protocol": status.plc.protocol})
        yield _counter("inspection_store_committed", "Records committed to the result database.",
                       [({}, w.committed)])
        yield _gauge("inspection_store_queue_depth", "Records waiting for the store writer.", w.queued)
        yield _gauge("inspection_store_pending_image_bytes", "Image bytes waiting for the store writer.",
                     w.pending_image_bytes)
        yield _counter("inspection_store_records_dropped", "Records dropped (writer queue full).",
                       [({}, w.records_dropped)])
        yield _counter("inspection_store_images", "Part images by what happened to them.",
                       [({"outcome": "saved"}, w.images_saved), ({"outcome": "dropped"}, w.images_dropped),
                        ({"outcome": "failed"}, w.images_failed),
                        ({"outcome": "skipped_disk"}, w.images_skipped_disk)])
        yield _counter("inspection_store_write_errors", "Failed commit attempts (retried).",
                       [({}, w.write_errors)])
        yield _gauge("inspection_store_writer_up", "1 while the store writer thread runs.", w.alive)
        yield _gauge("inspection_store_low_disk", "1 when free disk is below the retention minimum.",
                     w.low_disk)
        yield _gauge("inspection_store_db_bytes", "Size of the result database files.", ctx.store.db_bytes())
        yield _gauge("hmi_sse_clients", "Browsers following the live stream.", ctx.sse_clients)
        yield _counter("hmi_sse_events_sent", "Events sent to browsers.", [({}, ctx.sse_sent)])
        yield _counter("hmi_sse_events_dropped", "Events dropped for slow browsers (their queue was full).",
                       [({}, ctx.sse_dropped)])
        yield _counter("hmi_image_cache", "Encoded image cache lookups.",
                       [({"result": "hit"}, ctx.images.hits), ({"result": "miss"}, ctx.images.misses)])


def render(ctx: HmiContext) -> bytes:
    """The whole page: the station's registry, then the snapshot (a registry per scrape: no state)."""
    snapshot = CollectorRegistry()
    snapshot.register(_Snapshot(ctx))
    return generate_latest(ctx.station.metrics_registry()) + generate_latest(snapshot)
