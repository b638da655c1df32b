"""The ``inspection`` command line. ``main(argv)`` returns the exit code; nothing runs at import.

Each sub-command lives in its own module of this package with ``add_parser(subparsers)``, which
registers the sub-command and sets ``func`` (called with the parsed arguments, returns an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from inspection.errors import InspectionError

# Sub-command modules, in the order they appear in --help.
COMMAND_MODULES = (
    "inspection.cli.detect",
    "inspection.cli.bench",
    "inspection.cli.train",
    "inspection.cli.camera",
    "inspection.cli.plc",
    "inspection.cli.calibrate",
    "inspection.cli.teach",
    "inspection.cli.recipe",
    "inspection.cli.station",
    "inspection.cli.demo",
    "inspection.cli.plant",
    "inspection.cli.replay",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inspection",
        description="Industrial inspection station: golden-reference change detection, cameras, "
        "PLC bridge, HMI.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    from inspection.runtime import configure

    configure(getattr(args, "threads", 1) or 1)
    try:
        return int(func(args))
    except InspectionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed: not an error of ours
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
