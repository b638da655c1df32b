"""``inspection demo``: the whole station on one machine, on embedded defaults.

An emulated Basler camera (the pylon camera emulator serving generated part images, good and
defective; the file-replay camera when pypylon is not available), the Modbus TCP server, a
simulated PLC triggering parts at ``--rate`` (``--plc-sim off`` leaves triggering to an external
PLC), the SQLite result store in ``--dir`` and the HMI. ``--data DIR`` replays a DeepPCB-layout
folder instead: one recipe per pair, which the simulated PLC selects before each part.
``--detector goodset`` shows the good-set detector instead: generated surface tiles (some with a
pore, a crack or a scratch), judged by a good-set recipe taught at start from ``--teach-parts``
generated good tiles (kept in ``--dir`` and taught again only when its settings change); the HMI
shows each part's heat map.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "demo", help="run the demo station (emulated camera, Modbus server, simulated PLC, HMI)",
        description=__doc__)
    p.add_argument("--http-port", type=int, default=8080, help="HMI port (0: any free port)")
    p.add_argument("--http-host", default="127.0.0.1", help="HMI address (0.0.0.0: reachable from the LAN)")
    p.add_argument("--modbus-port", type=int, default=5020, help="Modbus TCP port (0: any free port)")
    p.add_argument("--modbus-host", default="127.0.0.1",
                   help="Modbus TCP address (0.0.0.0: an external PLC on the network may connect)")
    p.add_argument("--rate", type=float, default=2.0, help="parts per second from the simulated PLC")
    p.add_argument("--plc-sim", choices=("on", "off"), default="on",
                   help="'off': no simulated PLC, an external PLC triggers the parts")
    p.add_argument("--data", type=Path, default=None, metavar="DIR",
                   help="replay a DeepPCB-layout folder instead of generated parts")
    p.add_argument("--limit", type=int, default=60, help="with --data: the first N pairs (max 999)")
    p.add_argument("--parts", type=int, default=30, help="generated parts served in a cycle")
    p.add_argument("--detector", choices=("classical", "goodset"), default="classical",
                   help="'goodset': surface tiles judged by a good-set model taught from good tiles at start")
    p.add_argument("--teach-parts", type=int, default=100,
                   help="with --detector goodset: good tiles to teach from (default 100)")
    p.add_argument("--camera", choices=("pylon", "replay"), default="pylon",
                   help="camera driver: the pylon emulator (default) or file replay")
    p.add_argument("--dir", type=Path, default=Path("demo-station"), help="folder for the demo's data")
    p.add_argument("--deadline-ms", type=int, default=2000, help="PLC deadline per part")
    p.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0: run)")
    g = p.add_argument_group("plant integration (docs/integration.md)")
    g.add_argument("--station-id", default="demo-station", help="the station's name in the plant")
    g.add_argument("--mqtt", metavar="HOST:PORT", default=None,
                   help="publish every stored result to the broker at HOST:PORT (inspection/<station-id>/result)")
    g.add_argument("--mqtt-qos", type=int, choices=(0, 1, 2), default=1, help="MQTT QoS of the results")
    g.add_argument("--plant-db", metavar="URL", default=None,
                   help="replicate every stored result into the PostgreSQL plant store at URL")
    g.add_argument("--opcua-port", type=int, default=0, metavar="PORT",
                   help="serve the OPC UA Machine Vision model on PORT (0: off)")
    p.set_defaults(func=_demo)


def _camera_settings(args: argparse.Namespace, folder: Path, shape: tuple[int, int]) -> Any:
    from inspection.camera.settings import CameraSettings, Roi

    h, w = shape
    if args.camera == "pylon":
        if importlib.util.find_spec("pypylon") is not None:  # present (imported by the pylon plugin only)
            return CameraSettings(driver="pylon", emulated=True, name="demo-cam", image_file=folder,
                                  roi=Roi(width=w, height=h), grab_timeout_s=5.0)
        logger.warning("pypylon is not installed: the demo uses the file-replay camera")
    return CameraSettings(driver="replay", name="demo-cam", image_file=folder, grab_timeout_s=5.0)


def _demo(args: argparse.Namespace) -> int:
    from calibration.catalog import BundleCatalog
    from inspection.cli.demo_parts import DeepPcbCatalog, generate_parts
    from inspection.cli.station import serve
    from inspection.imageio import read_image
    from inspection.recipe.catalog import RecipeCatalog
    from inspection.station.config import (
        HmiSection,
        MqttSection,
        OpcuaSection,
        PlantSection,
        PlcSection,
        RecipesSection,
        StationConfig,
        StationSection,
    )

    root = args.dir.resolve()
    camera_dir = root / "camera"
    catalog: RecipeCatalog
    recipes = None
    recipe_dir = root / "recipes"
    if args.detector == "goodset":
        from inspection.cli.demo_parts import TILE_SHAPE, generate_tiles
        from inspection.errors import ConfigError

        if args.data is not None:
            raise ConfigError("--data replays DeepPCB pairs with golden references, not with --detector goodset",
                              field="data")
        generate_tiles(camera_dir, count=args.parts)
        recipe_dir = root / "recipes-goodset"  # (a classical demo in the same --dir keeps its own recipe 1)
        catalog = BundleCatalog(_goodset_bundle(recipe_dir, args.teach_parts))
        shape = TILE_SHAPE
    elif args.data is not None:
        dcat = DeepPcbCatalog.from_folder(args.data, limit=args.limit)
        dcat.write_camera_folder(camera_dir)
        catalog, recipes = dcat, len(dcat.pairs)
        shape = read_image(dcat.pairs[0].tested).shape[:2]
    else:
        reference, _ = generate_parts(camera_dir, count=args.parts)
        catalog = BundleCatalog(_write_bundle(root / "recipes", reference))
        shape = reference.shape[:2]
    config = StationConfig(
        station=StationSection(id=args.station_id, data_dir=root / "data"),
        camera=_camera_settings(args, camera_dir, (int(shape[0]), int(shape[1]))),
        plc=PlcSection(host=args.modbus_host, port=args.modbus_port, deadline_ms=args.deadline_ms,
                       plc_heartbeat_timeout_ms=2000),
        recipes=RecipesSection(folder=recipe_dir, initial=1),
        hmi=HmiSection(host=args.http_host, port=args.http_port, title="Demo inspection station"),
        mqtt=_mqtt_section(args.mqtt, args.mqtt_qos, MqttSection),
        plant=PlantSection(db_url=args.plant_db or ""),
        opcua=OpcuaSection(host=args.modbus_host, port=args.opcua_port),
    )
    line = None

    def started(station: Any, server: Any) -> None:
        nonlocal line
        if args.plc_sim == "on":
            from plugins.plc.line import SimulatedLine

            line = SimulatedLine("127.0.0.1", station.modbus_port, rate=args.rate, recipes=recipes).start()
            print(f"  simulated PLC: {args.rate:g} parts/s"
                  + (f", recipe changed before each part ({recipes} recipes)" if recipes else ""), flush=True)
        else:
            print("  no simulated PLC: trigger parts from your PLC (docs/plc.md)", flush=True)
        print("Stop with Ctrl-C.", flush=True)

    def stopping() -> None:
        if line is not None:
            line.stop()
            print(f"simulated PLC: {line.stats.to_dict()}", flush=True)
            report = getattr(args, "line_report", None)
            if report is not None:  # inspection bench plant reads the PLC's view back
                report.update(line.stats.to_dict())
                report["result_ms"] = list(line.stats.result_ms)

    return serve(config, catalog, simulation=args.plc_sim == "on", duration=args.duration, started=started,
                 stopping=stopping)


def _mqtt_section(hostport: str | None, qos: int, section: Any) -> Any:
    from inspection.errors import ConfigError

    if not hostport:
        return section()
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"--mqtt wants HOST:PORT, got {hostport!r}", field="mqtt")
    return section(host=host, port=int(port), qos=qos)


def _write_bundle(folder: Path, reference: Any) -> Path:
    """The generated part type as a recipe bundle, the same way a taught recipe is stored."""
    from calibration.bundle import load_bundle
    from calibration.bundle_writer import BundleContent, write_bundle
    from inspection.cli.demo_parts import generated_recipe
    from inspection.errors import RecipeError

    target = folder / "demo-part"
    recipe = generated_recipe(reference)
    if (target / "manifest.json").is_file():
        try:
            if load_bundle(target).recipe.content_hash() == recipe.content_hash():
                return folder
        except RecipeError:
            pass
    write_bundle(recipe, target, BundleContent(teach={"source": "inspection demo: generated golden part"}),
                 overwrite=True)
    return folder


def _goodset_bundle(folder: Path, parts: int) -> Path:
    """The good-set demo recipe (number 1) as a bundle in ``folder``, taught from ``parts`` generated
    good tiles with the station's feature extractor, or the one taught before with the same settings."""
    import json

    from calibration.bundle_writer import BundleContent, write_bundle
    from calibration.teach_goodset import GoodSetTeachParams, teach_goodset, thresholds_data
    from inspection.cli.demo_parts import good_tiles
    from inspection.errors import ConfigError
    from inspection.vision.goodset import feature_extractors

    if not 10 <= parts <= 2000:
        raise ConfigError(f"--teach-parts must be within 10..2000, got {parts}", field="teach_parts")
    target = folder / "demo-tiles"
    extract = feature_extractors.create("effnet-lite0", threads=1, device="cpu")
    extractor = str(getattr(extract, "name", "effnet-lite0"))
    source = {"source": "inspection demo: generated good tiles", "parts": parts, "seed": 7, "extractor": extractor}
    manifest = target / "manifest.json"
    if manifest.is_file():
        try:
            if json.loads(manifest.read_text()).get("teach", {}).get("generated") == source:
                return folder
        except (OSError, ValueError, AttributeError):
            pass
    print(f"teaching the good-set demo recipe from {parts} generated good tiles "
          f"(once; kept in {target})", flush=True)
    params = GoodSetTeachParams(name="Demo tiles", number=1, align_parts=False, target_frr=0.01)
    tiles: list[tuple[str, Any]] = list(good_tiles(parts))
    result = teach_goodset(tiles, params, extract, extractor=extractor, progress=True)
    write_bundle(result.recipe, target, BundleContent(thresholds=thresholds_data(result), teach={
        "detector": "goodset", "generated": source, "timings_s": result.timings}), overwrite=True)
    print(f"  taught in {result.timings['total']:.1f} s: threshold {result.model.threshold:.3f} at a 1% "
          "target false-reject rate", flush=True)
    if result.few_parts_warning():
        print(f"  WARNING: {result.few_parts_warning()}", flush=True)
    return folder
