"""The `chorus` command: the headless peer and its client commands (composition root)."""

from __future__ import annotations

import argparse
import sys

from editor import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chorus", description="Live co-editing on the LAN.")
    parser.add_argument("--version", action="version", version=f"chorus {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(sys.argv[1:] if argv is None else argv)
    return 0
