"""``inspection detect``: inspect one part image against a golden reference."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "detect", help="inspect one image against a golden reference and print the findings"
    )
    p.set_defaults(func=lambda args: 2)
