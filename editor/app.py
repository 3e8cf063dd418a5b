"""The desktop app's composition root: `chorus [FILE | chorus://HOST:PORT/DOC ...]`.

It reads the command line and hands a `LaunchRequest` to `editor.qt.application`, which owns
Qt, the event loop and the node.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from editor.qt.links import is_link, parse_link

__all__ = ["build_parser", "main"]

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """The app's command line."""
    parser = argparse.ArgumentParser(
        prog="chorus",
        description="Open files, or join shared documents by link, in the Chorus window.",
    )
    parser.add_argument("targets", nargs="*", metavar="FILE | chorus://HOST:PORT/DOC")
    parser.add_argument("--new-instance", action="store_true",
                        help="open a separate window instead of using the running app")
    parser.add_argument("--state", type=Path, metavar="DIR",
                        help="where this peer keeps its identity (default: the user's data folder)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging detail")
    return parser


def main(arguments: list[str] | None = None) -> int:
    """Run the app; the process exit code."""
    args = build_parser().parse_args(sys.argv[1:] if arguments is None else arguments)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S",
                        stream=sys.stderr)
    if not args.verbose:
        from editor.protocol import silence_rsocket_logs

        silence_rsocket_logs()
    links: list[str] = []
    paths: list[Path] = []
    for target in args.targets:
        if is_link(target):
            try:
                parse_link(target)
            except ValueError as error:
                print(f"chorus: {error}", file=sys.stderr)
                return EXIT_USAGE
            links.append(target)
        else:
            # Absolute, because a running app may be handed them from another folder.
            paths.append(Path(target).absolute())

    from editor.qt.application import LaunchRequest, run

    return run(LaunchRequest(paths=tuple(paths), links=tuple(links), state_dir=args.state,
                             single_instance=not args.new_instance))
