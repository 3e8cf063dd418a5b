"""The `chorus` command: the headless peer, its client commands, and the app launcher."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from editor import __version__

# Distinct exit codes so scripts can tell failures apart (documented in README.md).
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_UNKNOWN_DOCUMENT = 4
EXIT_BAD_POSITION = 5
EXIT_TIMEOUT = 6

CLIENT_TIMEOUT = 10.0

log = logging.getLogger("editor.cli")


class CommandError(Exception):
    """A failure the user should read as one line, with its exit code."""

    def __init__(self, exit_code: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def parse_address(text: str, *, default_host: str = "0.0.0.0") -> tuple[str, int]:
    """HOST:PORT (IPv6 as [::1]:PORT; HOST may be omitted as in :4117) -> (host, port)."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = text, ""
    host = host.strip("[]") or default_host
    try:
        port = int(port_text) if port_text else 4117
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a HOST:PORT address: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range in {text!r}")
    return host, port


def peer_address(text: str) -> tuple[str, int]:
    return parse_address(text, default_host="127.0.0.1")


def default_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "chorus"


PEER_HELP = "the peer (`chorus serve` or the app), e.g. 127.0.0.1:4117; the port defaults to 4117"
DOC_HELP = "document id or title (case and extension may be left out when only one matches)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chorus",
        description="Chorus: edit text together on the local network, with no server.",
        epilog="With no command, `chorus [FILE | chorus://HOST:PORT/DOC ...]` opens the app. "
               "Exit codes: 0 ok, 1 error, 2 usage, 3 peer unreachable, 4 unknown document, "
               "5 bad position, 6 timeout.",
    )
    parser.add_argument("--version", action="version", version=f"chorus {__version__}")
    parser.add_argument("--self-test", action="store_true",
                        help="run two in-process peers over loopback TCP and check they converge")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging detail")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run a headless peer that shares files")
    serve.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                       help="text files, or folders whose text files are shared")
    serve.add_argument("--listen", type=parse_address, default=("0.0.0.0", 4117),
                       metavar="HOST:PORT", help="where to accept peers (default 0.0.0.0:4117)")
    serve.add_argument("--peer", type=peer_address, action="append", default=[],
                       metavar="HOST:PORT", help="a peer to dial and keep connected (repeatable)")
    serve.add_argument("--mirror", type=Path, metavar="DIR",
                       help="join every document connected peers share and keep it as a file here")
    serve.add_argument("--name", default=None, help="display name (default: the account name)")
    serve.add_argument("--state", type=Path, metavar="DIR",
                       help="where the peer keeps its identity (default: .chorus beside the files)")
    serve.add_argument("--no-discovery", action="store_true", help="do not use mDNS/DNS-SD")
    serve.add_argument("--interface", action="append", default=None, metavar="NAME",
                       help="restrict discovery to this network interface (repeatable)")

    docs = commands.add_parser("docs", help="list the documents a peer shares")
    docs.add_argument("address", type=peer_address, metavar="HOST:PORT", help=PEER_HELP)

    cat = commands.add_parser("cat", help="print a document's text")
    cat.add_argument("address", type=peer_address, metavar="HOST:PORT", help=PEER_HELP)
    cat.add_argument("doc", metavar="DOC", help=DOC_HELP)

    edit = commands.add_parser("edit", help="apply one edit to a document and wait until the peer has it")
    edit.add_argument("address", type=peer_address, metavar="HOST:PORT", help=PEER_HELP)
    edit.add_argument("doc", metavar="DOC", help=DOC_HELP)
    action = edit.add_mutually_exclusive_group(required=True)
    action.add_argument("--insert", nargs=2, metavar=("POS", "TEXT"),
                        help="insert TEXT before character POS (counted from 0, in code points)")
    action.add_argument("--delete", nargs=2, metavar=("POS", "LEN"),
                        help="delete LEN characters from character POS")
    action.add_argument("--append", metavar="TEXT", help="add TEXT at the end")

    peers = commands.add_parser("peers", help="list the peers seen on the network")
    peers.add_argument("--timeout", type=float, default=3.0, metavar="S")
    peers.add_argument("--interface", action="append", default=None, metavar="NAME")
    return parser


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if _is_for_the_app(args_list, _command_names(parser)):
        return _launch_app(args_list)
    args = parser.parse_args(args_list)
    # The self-test and the one-shot client commands report their own outcome; the connection
    # log, useful from a long-running `serve`, would only clutter their output.
    _configure_logging(args.verbose, quiet=args.self_test or args.command not in ("serve", None))
    if args.self_test:
        from editor.selftest import run_self_test

        return run_self_test()
    runner: dict[str, Callable[[argparse.Namespace], Awaitable[int]]] = {
        "serve": _serve, "docs": _docs, "cat": _cat, "edit": _edit, "peers": _peers,
    }
    try:
        return asyncio.run(runner[args.command](args))
    except CommandError as error:
        print(f"chorus: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130


CLI_ONLY_OPTIONS = {"--version", "--self-test", "-h", "--help"}


def _is_for_the_app(arguments: list[str], commands: set[str]) -> bool:
    """Files, links and the app's own options (`--new-instance`, `--state DIR`) open the app;
    a command or a CLI-only option goes to the command line parser."""
    first = next((a for a in arguments if a not in ("-v", "--verbose")), None)
    return first is None or not (first in commands or first in CLI_ONLY_OPTIONS)


def _command_names(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._subparsers._group_actions:  # argparse offers no public accessor
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def _configure_logging(verbose: bool, *, quiet: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    if not verbose:
        from editor.protocol import silence_rsocket_logs

        silence_rsocket_logs()


def _launch_app(arguments: list[str]) -> int:
    from editor.app import main as app_main

    return app_main(arguments)


# ---------------------------------------------------------------------------- serve


def _state_dir(args: argparse.Namespace) -> Path:
    if args.state is not None:
        return args.state
    if args.mirror is not None:
        return args.mirror / ".chorus"
    for path in args.paths:
        return (path if path.is_dir() else path.parent) / ".chorus"
    return Path.home() / ".local" / "state" / "chorus"


async def _serve(args: argparse.Namespace) -> int:
    from editor.runtime.node import Node, NodeConfig

    for path in args.paths:
        if not path.exists():
            raise CommandError(EXIT_ERROR, f"no such file or folder: {path}")
    if args.mirror is not None:
        args.mirror.mkdir(parents=True, exist_ok=True)
    host, port = args.listen
    config = NodeConfig(
        name=args.name or default_name(),
        state_dir=_state_dir(args),
        listen_host=host,
        listen_port=port,
        mirror_dir=args.mirror,
        discovery=not args.no_discovery,
        interfaces=tuple(args.interface) if args.interface else None,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with Node(config) as node:
            node.share_paths(args.paths)
            if args.mirror is not None:
                node.share_paths([args.mirror])  # documents mirrored before a restart
            log.info("listening on %s:%d as %s (peer %s), sharing %d document(s)",
                     host, node.port, config.name, node.peer_id, len(node.documents))
            for peer_host, peer_port in args.peer:
                node.connect(peer_host, peer_port)
            await stop.wait()
            log.info("shutting down")
    except OSError as error:
        raise CommandError(EXIT_ERROR, f"cannot listen on {host}:{port}: {error}") from None
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return EXIT_OK


# ---------------------------------------------------------------------------- client commands


@contextlib.asynccontextmanager
async def _client_node(address: tuple[str, int]):
    """A short-lived, listen-less node linked to the peer at `address`."""
    from editor.runtime.node import LINK_ERRORS, Node, NodeConfig, describe_link_error

    host, port = address
    async with Node(NodeConfig(name=f"{default_name()} (chorus cli)", listen_host=None)) as node:
        try:
            link = await node.dial(host, port, timeout=CLIENT_TIMEOUT)
        except LINK_ERRORS as error:
            reason = describe_link_error(error)
            raise CommandError(EXIT_UNREACHABLE, f"cannot reach {host}:{port}: {reason}") from None
        try:
            await node.wait_until(lambda: link.peer.peer_id in node.peer_documents or link.closed.is_set(),
                                  CLIENT_TIMEOUT)
        except TimeoutError:
            raise CommandError(EXIT_TIMEOUT, f"{host}:{port} did not list its documents") from None
        if link.closed.is_set():
            raise CommandError(EXIT_UNREACHABLE, f"{host}:{port} closed the connection: {link.close_reason}")
        yield node, link


async def _docs(args: argparse.Namespace) -> int:
    async with _client_node(args.address) as (node, link):
        documents = node.peer_documents[link.peer.peer_id]
        print(f"{'ID':<18} {'LENGTH':>8}  TITLE")
        for document in documents:
            print(f"{document.doc_id:<18} {document.length:>8}  {document.title}")
    return EXIT_OK


async def _joined(node, link, doc: str):
    from editor.runtime.events import SyncStatus
    from editor.runtime.node import UnknownDocumentError

    try:
        remote = node.find_remote_document(link.peer.peer_id, doc)
    except UnknownDocumentError as error:
        raise CommandError(EXIT_UNKNOWN_DOCUMENT, str(error)) from None
    entry = node.join(link.peer.peer_id, remote)
    try:
        await node.wait_until(lambda: entry.sync_status == SyncStatus.SYNCED or link.closed.is_set(),
                              CLIENT_TIMEOUT)
    except TimeoutError:
        raise CommandError(EXIT_TIMEOUT, f"document {doc!r} did not sync in time") from None
    if link.closed.is_set():
        raise CommandError(EXIT_UNREACHABLE, f"the peer closed the connection: {link.close_reason}")
    return entry


async def _cat(args: argparse.Namespace) -> int:
    async with _client_node(args.address) as (node, link):
        entry = await _joined(node, link, args.doc)
        sys.stdout.write(entry.document.text)
        sys.stdout.flush()
    return EXIT_OK


async def _edit(args: argparse.Namespace) -> int:
    from editor.runtime.node import LINK_ERRORS, describe_link_error

    async with _client_node(args.address) as (node, link):
        entry = await _joined(node, link, args.doc)
        document = entry.document
        length = len(document)
        if args.insert is not None:
            position, count, text = _whole_number(args.insert[0], "POS"), 0, args.insert[1]
        elif args.delete is not None:
            position, count, text = _whole_number(args.delete[0], "POS"), _whole_number(args.delete[1], "LEN"), ""
        else:
            position, count, text = length, 0, args.append
        if position + count > length:
            raise CommandError(EXIT_BAD_POSITION, f"bad position: {position}" + (f"+{count}" if count else "")
                               + f" is past the end of {args.doc!r} ({length} characters)")
        try:
            document.replace(position, count, text)
        except ValueError as error:
            raise CommandError(EXIT_ERROR, f"cannot apply the edit: {error}") from None  # e.g. undecodable TEXT

        def sent() -> bool:
            # Handed to the socket on a channel in sync. No channel at all (one the peer closed,
            # not replaced yet) has sent nothing: its replacement's handshake carries the edit.
            channels = list(entry.channels.values())
            return bool(channels) and all(sync.synced and sync.idle for sync in channels)

        try:
            async with asyncio.timeout(CLIENT_TIMEOUT):
                while True:
                    await node.wait_until(lambda: sent() or link.closed.is_set(), CLIENT_TIMEOUT)
                    carriers = list(entry.channels.values())
                    # The ping returns only once the peer's single receive loop has processed
                    # everything sent before it: applied it, or closed the channel (refused it).
                    await link.ping(timeout=CLIENT_TIMEOUT)
                    if all(entry.channels.get(sync.link) is sync for sync in carriers):
                        break
        except TimeoutError:
            raise CommandError(EXIT_TIMEOUT, "the peer did not confirm the edit in time") from None
        except LINK_ERRORS as error:  # the link closed before the confirmation
            raise CommandError(EXIT_UNREACHABLE, f"the peer closed the connection before confirming "
                                                 f"the edit: {describe_link_error(error)}") from None
    return EXIT_OK


def _whole_number(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise CommandError(EXIT_BAD_POSITION, f"bad position: {what} must be a whole number, got {text!r}")
    return value


async def _peers(args: argparse.Namespace) -> int:
    from editor.discovery import browse_once

    result = await browse_once(timeout=args.timeout,
                               interfaces=tuple(args.interface) if args.interface else None)
    if not result.peers:
        print(f"no peers seen in {args.timeout:g} s. Interfaces tried:")
        print("  " + result.interfaces_tried.describe().replace("\n", "\n  "))
        print("If peers are running, multicast may be blocked on this network (or the "
              "interface is wrong: --interface NAME); connect by address instead with "
              "`chorus serve --peer HOST:PORT`.")
        return EXIT_OK
    print(f"{'NAME':<24} {'PORT':>5} {'DOCS':>4}  ADDRESSES")
    for peer in result.peers:
        print(f"{peer.name:<24} {peer.port:>5} {peer.docs:>4}  {', '.join(peer.addresses)}")
    return EXIT_OK
