"""``inspection camera``: list devices, grab frames to PNG, try settings, benchmark the driver.

    inspection camera list [--json] [--emulated N]
    inspection camera grab --driver pylon [--serial S | --emulated] [--image-file PATH] [--count N]
                           --out PATH_OR_DIR
    inspection camera check --driver pylon --serial S --exposure-us 800     (try before saving)
    inspection camera bench [--count N] [--check-ids 10000] [--json PATH]

The pylon camera emulator needs PYLON_CAMEMU set before pylon first enumerates devices; these
commands set it (to --emulated, default 1) when the environment does not.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import cv2

from inspection.camera.check import check_camera_settings
from inspection.camera.contract import CameraDevice, create_camera, list_devices
from inspection.camera.settings import CameraSettings, parse_camera_settings
from inspection.errors import ConfigError, ImageError, InspectionError


def ensure_emulated(count: int) -> None:
    """Ask pylon for ``count`` emulated cameras unless PYLON_CAMEMU already asks for as many."""
    from plugins.cameras.pylon import ensure_emulator

    ensure_emulator(count)


def _roi(text: str) -> dict[str, int]:
    parts = text.replace("x", ",").split(",")
    if len(parts) != 4 or not all(p.strip().isdigit() for p in parts):
        raise argparse.ArgumentTypeError("ROI must be X,Y,WIDTH,HEIGHT (pixels)")
    x, y, w, h = (int(p) for p in parts)
    return {"x": x, "y": y, "width": w, "height": h}


def add_camera_arguments(p: argparse.ArgumentParser) -> None:
    """Camera selection and settings options shared by grab and check."""
    p.add_argument("--driver", default="pylon", help="camera driver (see `inspection camera list`)")
    p.add_argument("--serial", help="device serial number")
    p.add_argument("--user-id", help="device user id (DeviceUserID)")
    p.add_argument("--index", type=int, help="device index in enumeration order")
    p.add_argument("--emulated", action="store_true", help="use a pylon camera-emulator device")
    p.add_argument("--image-file", type=Path, help="image file or folder served by the emulator / replay")
    p.add_argument("--pixel-format", default="Mono8")
    p.add_argument("--roi", type=_roi, help="X,Y,WIDTH,HEIGHT")
    p.add_argument("--exposure-us", type=float)
    p.add_argument("--gain-db", type=float)
    p.add_argument("--trigger", choices=("software", "hardware"), default="software")
    p.add_argument("--line", default="Line1", help="input line for --trigger hardware")
    p.add_argument("--timeout", type=float, default=5.0, help="grab timeout, seconds")


def settings_from_args(args: argparse.Namespace) -> CameraSettings:
    data: dict[str, Any] = {"driver": args.driver, "pixel_format": args.pixel_format,
                            "grab_timeout_s": args.timeout, "emulated": bool(args.emulated),
                            "trigger": {"source": args.trigger, "line": args.line}}
    for key in ("serial", "user_id", "index", "image_file", "roi", "exposure_us", "gain_db"):
        value = getattr(args, key)
        if value is not None:
            data[key] = value
    if args.emulated:
        ensure_emulated(1)
    return parse_camera_settings(data)


def _cmd_list(args: argparse.Namespace) -> int:
    if args.emulated is not None:
        ensure_emulated(args.emulated)
    elif "PYLON_CAMEMU" not in os.environ:
        ensure_emulated(1)
    found = list_devices([args.driver] if args.driver else None)
    if args.json:
        print(json.dumps({name: (str(v) if isinstance(v, InspectionError) else [d.to_dict() for d in v])
                          for name, v in found.items()}, indent=2))
        return 0
    rows: list[CameraDevice] = []
    notes: list[str] = []
    for name, value in found.items():
        if isinstance(value, InspectionError):
            notes.append(f"{name}: unavailable: {value}")
        elif not value:
            notes.append(f"{name}: no devices found" + (" (it serves image files: --image-file)"
                                                         if name == "replay" else ""))
        rows.extend(value if isinstance(value, list) else [])
    if rows:
        print(f"{'DRIVER':<8} {'SERIAL':<24} {'MODEL':<22} {'USER ID':<14} {'INTERFACE':<14} ADDRESS")
        for d in rows:
            model = d.model + (" (emulated)" if d.emulated else "")
            print(f"{d.driver:<8} {d.serial:<24} {model:<22} {d.user_id:<14} {d.interface:<14} {d.address}")
    for note in notes:
        print(note)
    return 0


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "camera"


def _cmd_grab(args: argparse.Namespace) -> int:
    if args.count < 1:
        raise ConfigError("must be >= 1", field="--count")
    out: Path = args.out
    single = args.count == 1 and out.suffix.lower() == ".png"
    if out.suffix and out.suffix.lower() != ".png":
        raise ConfigError("frames are written as PNG (lossless): give a .png file or a folder", field="--out")
    settings = settings_from_args(args)
    camera = create_camera(settings)
    with camera:
        camera.arm()
        if settings.trigger.source == "hardware":
            print(f"waiting for {args.count} hardware trigger(s) on {settings.trigger.line} "
                  f"({settings.grab_timeout_s} s each)", file=sys.stderr)
        if not single:
            out.mkdir(parents=True, exist_ok=True)
        for _ in range(args.count):
            if settings.trigger.source == "software":
                camera.trigger()
            frame = camera.grab()
            path = out if single else out / f"{_safe(frame.camera_id)}_{frame.frame_id:06d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(path), frame.pixels):
                raise ImageError("cannot be written", path=str(path))
            h, w = frame.shape
            print(f"frame {frame.frame_id}: {w}x{h} {frame.pixel_format} -> {path}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    result = check_camera_settings(settings_from_args(args), timeout_s=args.timeout)
    print(json.dumps(result.to_dict(), indent=2))
    return 0 if result.ok else 1


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("camera", help="list cameras, grab frames, benchmark")
    csub = p.add_subparsers(dest="camera_command", metavar="ACTION")

    def usage(args: argparse.Namespace) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=usage)

    pl = csub.add_parser("list", help="devices of every camera driver (emulated ones included)")
    pl.add_argument("--driver", help="only this driver")
    pl.add_argument("--emulated", type=int, metavar="N",
                    help="number of pylon emulated cameras (default: $PYLON_CAMEMU, else 1)")
    pl.add_argument("--json", action="store_true", help="print JSON")
    pl.set_defaults(func=_cmd_list)

    pg = csub.add_parser("grab", help="grab frames by software trigger and write them as PNG")
    add_camera_arguments(pg)
    pg.add_argument("--count", type=int, default=1, help="number of frames")
    pg.add_argument("--out", type=Path, required=True, help="a .png file (one frame) or a folder")
    pg.set_defaults(func=_cmd_grab)

    pc = csub.add_parser("check",
                         help="try settings on the device (one frame); prints JSON, exit 1 on failure")
    add_camera_arguments(pc)
    pc.set_defaults(func=_cmd_check)

    from inspection.cli.camera_bench import add_bench_parser

    add_bench_parser(csub)
