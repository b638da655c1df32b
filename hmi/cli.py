"""``python -m hmi``: serve the HMI, manage its users, benchmark its live view.

    python -m hmi serve --data DIR [--port 8080] [--feed --rate 2]
    python -m hmi users add NAME --role admin --data DIR     (asks for the password)
    python -m hmi users list --data DIR
    python -m hmi bench [--parts 100] [--json FILE]

``serve`` runs the HMI on an in-process station (:class:`LocalStation`) with its result store in
``DIR/store`` and users in ``DIR/users.db``; ``--feed`` pushes synthetic parts into it (until the
station runtime exists, this is how to see the HMI working).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from hmi.auth.roles import Role
from hmi.auth.users import AuthError, UserStore
from inspection.errors import InspectionError

logger = logging.getLogger(__name__)


def _serve(args: argparse.Namespace) -> int:
    import cv2

    from hmi.app import create_app
    from hmi.feed import DemoFeed
    from hmi.server import HmiServer
    from hmi.settings import HmiSettings
    from inspection.station.local import LocalStation, RecipeDef
    from inspection.store import ResultStore, StoreConfig

    cv2.setNumThreads(2)
    data = Path(args.data)
    store = ResultStore(StoreConfig(data / "store", save_pass_every=args.save_pass_every)).start()
    users = UserStore(data / "users.db")
    station = LocalStation(store, data_dir=data / "station", armed=True, recipes=[
        RecipeDef("pcb-a", 1, "PCB type A", model_hash="demo-a"),
        RecipeDef("pcb-b", 2, "PCB type B", model_hash="demo-b")])
    feed = DemoFeed(station, rate=args.rate) if args.feed else None
    if feed is not None and station.golden_image("pcb-a") is None:
        station.teach_golden("pcb-a", user="system", image=feed.reference)
    app = create_app(station, store, users, settings=HmiSettings(title=args.title))
    server = HmiServer(app, host=args.host, port=args.port, log_level="info" if args.verbose else "warning")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        server.start()
        if feed is not None:
            feed.start()
        print(f"HMI: {server.url}  (API docs: {server.url}/docs)", flush=True)
        stop.wait()
    finally:
        if feed is not None:
            feed.stop()
        server.stop()
        store.close()
        users.close()
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise AuthError("the passwords differ", key="weak_password")
    return first


def _users(args: argparse.Namespace) -> int:
    from inspection.store import ResultStore, StoreConfig

    users = UserStore(Path(args.data) / "users.db")
    try:
        if args.action == "list":
            for u in users.list():
                print(f"{u.username:24} {u.role.value:9} {'active' if u.active else 'inactive'}")
            return 0
        user = users.create(args.name, Role(args.role), _read_password(args))
        with ResultStore(StoreConfig(Path(args.data) / "store")) as store:
            store.audit(user=f"cli:{getpass.getuser()}", action="create_user", target=f"user:{user.username}",
                        new={"role": user.role.value, "active": True}, detail="python -m hmi users add")
        print(f"created {user.role.value} {user.username!r}")
        return 0
    finally:
        users.close()


def _bench(args: argparse.Namespace) -> int:
    from hmi.bench import run_bench

    return run_bench(parts=args.parts, stalled=args.stalled, json_path=args.json, rate=args.rate,
                     publishes=args.publishes)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hmi", description="Operator HMI of the inspection station")
    p.add_argument("-v", "--verbose", action="count", default=0)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    s = sub.add_parser("serve", help="serve the HMI on an in-process station")
    s.add_argument("--data", default="station-data", help="folder for the store, users and settings")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--feed", action="store_true", help="push synthetic parts (demo)")
    s.add_argument("--rate", type=float, default=2.0, help="synthetic parts per second")
    s.add_argument("--save-pass-every", type=int, default=10, help="store every N-th pass image (0: none)")
    s.add_argument("--title", default="Inspection station")
    s.set_defaults(func=_serve)
    u = sub.add_parser("users", help="manage HMI users")
    u.add_argument("action", choices=["add", "list"])
    u.add_argument("name", nargs="?", default="")
    u.add_argument("--role", choices=[r.value for r in Role], default=Role.OPERATOR.value)
    u.add_argument("--data", default="station-data")
    u.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    u.set_defaults(func=_users)
    b = sub.add_parser("bench", help="live-view latency and stalled-client benchmark (needs Chromium)")
    b.add_argument("--parts", type=int, default=100)
    b.add_argument("--rate", type=float, default=20.0, help="line rate, parts per second")
    b.add_argument("--stalled", type=int, default=4, help="stalled SSE clients during the publish test")
    b.add_argument("--publishes", type=int, default=3000, help="publishes per configuration")
    b.add_argument("--json", default="test-artifacts/hmi-bench.json")
    b.set_defaults(func=_bench)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    if args.command == "users" and args.action == "add" and not args.name:
        parser.error("users add needs a NAME")
    try:
        return int(args.func(args))
    except InspectionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
