"""The station's Prometheus metrics (prometheus-client), observed where parts are published.

Stage and cycle times are histograms (fixed buckets, so a plant's Prometheus can aggregate them
across stations with ``histogram_quantile``); parts are counted by verdict and result code, reported
defects by class, acquisition failures (camera errors) and PLC faults (link lost, error state) as
counters. One registry per station (not the process-wide default), so several stations or tests in
one process never mix their numbers. Observing costs a few microseconds and never blocks.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from inspection.record import PartRecord
from inspection.result import ResultCode

# milliseconds of a stage or a whole cycle, expressed in seconds as Prometheus expects
STAGE_BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class StationMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.stage_seconds = Histogram(
            "inspection_stage_seconds", "Time of each pipeline stage and of the whole cycle per part.",
            ["stage"], buckets=STAGE_BUCKETS_S, registry=self.registry)
        self.parts = Counter("inspection_parts", "Decided parts by verdict and result code.",
                             ["verdict", "result_code"], registry=self.registry)
        self.defects = Counter("inspection_defects", "Reported defects (findings that reject) by class.",
                               ["defect_class"], registry=self.registry)
        self.camera_errors = Counter("inspection_camera_errors",
                                     "Parts whose image could not be acquired (grab timeout, incomplete "
                                     "frame, camera error, unreadable image).", registry=self.registry)
        self.plc_errors = Counter("inspection_plc_errors", "PLC faults: the link was lost, or the station "
                                  "entered its error state.", ["kind"], registry=self.registry)

    def observe_part(self, record: PartRecord) -> None:
        result = record.result
        for stage, ms in result.timings_ms.items():
            if stage != "total":
                self.stage_seconds.labels(stage=stage).observe(float(ms) / 1000.0)
        self.stage_seconds.labels(stage="cycle").observe(float(record.cycle_ms) / 1000.0)
        self.parts.labels(verdict=record.verdict, result_code=result.code.name).inc()
        for finding in result.reported:
            self.defects.labels(defect_class=finding.defect_class.label).inc()
        if result.code is ResultCode.NG_ACQUISITION:
            self.camera_errors.inc()

    def plc_link_lost(self) -> None:
        self.plc_errors.labels(kind="link_lost").inc()

    def error_state(self) -> None:
        self.plc_errors.labels(kind="error_state").inc()
