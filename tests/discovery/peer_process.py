"""A discovery peer in its own process, for tests: prints one JSON object per line.

Lines out: {"event": "started", "instance", "interfaces"}, {"event": "appeared"|"changed"|"left",
"peer": {...}}, {"event": "closed"}. Lines in (stdin): "docs N" re-announces, "quit" (or EOF)
closes cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys

from editor.discovery import Discovery, DiscoveryEvent, PeerAdvert, PeerAppeared, PeerChanged, PeerLeft

EVENT_NAMES = {PeerAppeared: "appeared", PeerChanged: "changed", PeerLeft: "left"}


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def report(event: DiscoveryEvent) -> None:
    emit({"event": EVENT_NAMES[type(event)], "peer": dataclasses.asdict(event.peer)})


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--id", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--docs", type=int, default=0)
    parser.add_argument("--interface", action="append", help="repeatable; default: automatic choice")
    args = parser.parse_args()

    advert = PeerAdvert(peer_id=args.id, name=args.name, protocol=1, docs=args.docs)
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    async with Discovery(advert, args.port, interfaces=args.interface, on_event=report) as discovery:
        emit({
            "event": "started",
            "instance": discovery.instance,
            "interfaces": discovery.interface_report().describe(),
        })
        while line := (await stdin.readline()).decode().strip():
            if line == "quit":
                break
            command, _, value = line.partition(" ")
            if command == "docs":
                await discovery.update_advert(docs=int(value))
                emit({"event": "updated", "docs": int(value)})
    emit({"event": "closed"})


if __name__ == "__main__":
    asyncio.run(main())
