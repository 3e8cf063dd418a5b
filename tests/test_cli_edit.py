"""`chorus edit` reports an edit as confirmed only when the peer has it."""

from __future__ import annotations

import asyncio

import pytest

import editor.cli as cli
from editor.core.document import SharedDocument
from editor.runtime.documents import ChannelSync
from editor.runtime.node import Node, NodeConfig


@pytest.mark.allowed_log("message_received failed: ValueError: refusing this edit")
async def test_an_edit_whose_channel_the_peer_closed_is_not_confirmed(monkeypatch) -> None:
    """The peer closes the document channel on the edit's arrival, without applying it: the
    command must not say the peer has the edit (it used to: no channel counted as all sent)."""
    monkeypatch.setattr(cli, "CLIENT_TIMEOUT", 1.0)
    async with Node(NodeConfig(name="host", listen_host="127.0.0.1", listen_port=0)) as host:
        shared = SharedDocument("doc-1")
        shared.insert(0, "text\n")
        host.add_document(shared, "notes.txt", shared=True)
        receive = ChannelSync.message_received

        def refuse_edits(sync: ChannelSync, data: bytes) -> None:
            if sync.entry.document is shared and sync.synced:
                raise ValueError("refusing this edit")  # the protocol closes the channel
            receive(sync, data)

        monkeypatch.setattr(ChannelSync, "message_received", refuse_edits)
        code = await asyncio.to_thread(
            cli.main, ["edit", f"127.0.0.1:{host.port}", "notes.txt", "--append", "unconfirmed\n"])
        assert code == cli.EXIT_TIMEOUT
        assert shared.text == "text\n"
