"""``inspection camera bench``: the pylon driver on the camera emulator, measured against a raw
pypylon loop in the same run.

Two emulated cameras serve the emulator's test image at the chosen size: the driver runs on one,
the raw loop (``PylonCamera.raw_loop``) on the other, alternating trigger by trigger so both see the
same machine load. Reports trigger-to-frame latency (median, p99), sustained frames/s of back-to-back
trigger->grab cycles, and the driver overhead. ``--check-ids N`` then runs N triggered grabs on
stamped image files (a cycle of 7) checking frame ids and contents for lost or duplicated frames.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from inspection.camera.bench import (
    LatencyStats,
    check_frame_ids,
    driver_step,
    interleaved_latency,
    sustained_fps,
    write_stamped_images,
)
from inspection.camera.contract import cameras, create_camera, list_devices
from inspection.camera.settings import CameraSettings, Roi
from inspection.errors import CameraError, ConfigError, InspectionError
from inspection.progress import reporter

STAMPS = 7
TARGET_OVERHEAD_MS = 1.0


def _emulated_serials() -> list[str]:
    found = list_devices(["pylon"])["pylon"]
    if isinstance(found, InspectionError):
        raise found
    return [d.serial for d in found if d.emulated]


def _row(name: str, st: LatencyStats, fps: float) -> str:
    return (f"{name:<16} {st.median_ms:>10.3f} {st.p99_ms:>10.3f} {st.mean_ms:>10.3f} {st.max_ms:>10.3f} "
            f"{fps:>10.1f}")


def run_bench(args: argparse.Namespace) -> int:
    if min(args.count, args.fps_count) < 1 or args.warmup < 0 or args.check_ids < 0:
        raise ConfigError("counts must be positive", field="--count")
    from plugins.cameras.pylon import ensure_emulator

    ensure_emulator(2)
    serials = _emulated_serials()
    if len(serials) < 2:
        raise CameraError(f"the benchmark needs two emulated cameras, found {len(serials)}",
                          key="camera_not_found")
    base = CameraSettings(driver="pylon", emulated=True, pixel_format=args.pixel_format,
                          roi=Roi(x=0, y=0, width=args.width, height=args.height),
                          exposure_us=args.exposure_us, grab_timeout_s=5.0, reconnect=False)
    raw_factory = getattr(cameras.get("pylon"), "raw_loop", None)
    if raw_factory is None:
        raise CameraError("the pylon driver offers no raw_loop baseline", key="camera_error")
    print(f"camera bench: emulated Basler {args.width}x{args.height} {args.pixel_format}, software trigger, "
          f"exposure {args.exposure_us} us; {args.count} interleaved triggers (+{args.warmup} warm-up)",
          file=sys.stderr)
    camera = create_camera(base.model_copy(update={"serial": serials[0]}))
    with camera, raw_factory(base.model_copy(update={"serial": serials[1]})) as raw:
        camera.arm()
        drv, rw = interleaved_latency(camera, raw, count=args.count, warmup=args.warmup,
                                      progress=reporter("latency"))
        print(f"  sustained rate: {args.fps_count} back-to-back frames each, alternating chunks of 10",
              file=sys.stderr)
        fps_driver, fps_raw = sustained_fps([lambda: driver_step(camera), raw.step], count=args.fps_count)
        driver_stats = camera.stats().to_dict() if hasattr(camera, "stats") else {}
    d_st, r_st = LatencyStats.of(drv), LatencyStats.of(rw)
    paired = (np.asarray(drv) - np.asarray(rw)) * 1000.0
    overhead = {"median_diff_ms": d_st.median_ms - r_st.median_ms,
                "paired_median_ms": float(np.median(paired)), "p99_diff_ms": d_st.p99_ms - r_st.p99_ms,
                "target_ms": TARGET_OVERHEAD_MS}
    report: dict[str, Any] = {
        "setup": {"width": args.width, "height": args.height, "pixel_format": args.pixel_format,
                  "exposure_us": args.exposure_us, "trigger": "software", "count": args.count,
                  "warmup": args.warmup, "fps_count": args.fps_count, "image": "emulator test image"},
        "latency_ms": {"driver": d_st.__dict__, "raw_pypylon": r_st.__dict__},
        "fps": {"driver": fps_driver, "raw_pypylon": fps_raw},
        "overhead_ms": overhead,
        "driver_stats": driver_stats,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "pypylon": _version("pypylon"), "platform": platform.platform()},
    }
    print()
    print(f"{'loop':<16} {'median ms':>10} {'p99 ms':>10} {'mean ms':>10} {'max ms':>10} {'frames/s':>10}")
    print(_row("driver", d_st, fps_driver))
    print(_row("raw pypylon", r_st, fps_raw))
    verdict = "meets" if overhead["paired_median_ms"] < TARGET_OVERHEAD_MS else "MISSES"
    print(f"driver overhead: median {overhead['median_diff_ms']:+.3f} ms, paired median "
          f"{overhead['paired_median_ms']:+.3f} ms, p99 {overhead['p99_diff_ms']:+.3f} ms "
          f"({verdict} the < {TARGET_OVERHEAD_MS} ms target)")
    if args.check_ids:
        report["id_check"] = _id_check(args, base, serials[0])
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"written: {args.json}")
    ok = report.get("id_check", {}).get("clean", True)
    return 0 if ok else 1


def _id_check(args: argparse.Namespace, base: CameraSettings, serial: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="camera-bench-") as tmp:
        write_stamped_images(Path(tmp), count=STAMPS, width=args.width, height=args.height)
        print(f"frame-id check: {args.check_ids} triggered grabs, {STAMPS} stamped images served in a cycle",
              file=sys.stderr)
        camera = create_camera(base.model_copy(update={"serial": serial, "image_file": Path(tmp)}))
        with camera:
            camera.arm()
            res = check_frame_ids(camera, count=args.check_ids, stamps=STAMPS,
                                  progress=reporter("frame ids"))
            stats = camera.stats().to_dict() if hasattr(camera, "stats") else {}
    out = res.to_dict()
    out["driver_stats"] = stats
    print(f"frame-id check: {res.triggers} triggers, {res.frames} frames, lost {res.lost}, duplicated "
          f"{res.duplicated}, out of order {res.out_of_order}, timeouts {res.timeouts}, incomplete "
          f"{res.incomplete}, content mismatches {res.content_mismatch}, {res.elapsed_s:.1f} s "
          f"({res.frames / res.elapsed_s:.1f} frames/s) -> {'CLEAN' if res.clean else 'PROBLEMS'}")
    for line in res.first_problems:
        print(f"  {line}")
    return out


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def add_bench_parser(csub: Any) -> None:
    pb: argparse.ArgumentParser = csub.add_parser(
        "bench", help="latency, frame rate and driver overhead on the pylon emulator; --check-ids N")
    pb.add_argument("--count", type=int, default=500, help="interleaved triggers measured")
    pb.add_argument("--warmup", type=int, default=20)
    pb.add_argument("--fps-count", type=int, default=200, help="frames per sustained-rate run")
    pb.add_argument("--width", type=int, default=2448)
    pb.add_argument("--height", type=int, default=2048)
    pb.add_argument("--pixel-format", default="Mono8")
    pb.add_argument("--exposure-us", type=float, default=1000.0)
    pb.add_argument("--check-ids", type=int, default=0, metavar="N",
                    help="then N triggered grabs checking frame ids and contents (e.g. 10000)")
    pb.add_argument("--json", type=Path, default=Path("out/camera-bench.json"), help="JSON report path")
    pb.set_defaults(func=run_bench)
