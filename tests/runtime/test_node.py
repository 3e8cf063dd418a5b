"""Nodes in one process linked over real loopback TCP: sharing, joining, relaying, recovery."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from pathlib import Path

import pytest

import editor.protocol as protocol
from editor.core.document import SharedDocument
from editor.runtime.events import AddressUnreachable, PeerConnected, PeerStatus, RemoteDocument, SyncStatus
from editor.runtime.node import Node, NodeConfig, UnknownDocumentError, describe_link_error

TIMEOUT = 10.0


def config(name: str, **overrides) -> NodeConfig:
    return NodeConfig(name=name, listen_host="127.0.0.1", listen_port=0, **overrides)


@contextlib.asynccontextmanager
async def running(*configs: NodeConfig):
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(Node(c)) for c in configs]


async def join_from(joiner: Node, host: Node, title: str):
    if host.peer_id not in joiner.links:
        await joiner.dial("127.0.0.1", host.port)
    await joiner.wait_until(lambda: host.peer_id in joiner.peer_documents, TIMEOUT)
    entry = joiner.join(host.peer_id, joiner.find_remote_document(host.peer_id, title))
    await joiner.wait_until(lambda: entry.sync_status == SyncStatus.SYNCED, TIMEOUT)
    return entry


async def test_join_edit_and_converge_both_ways() -> None:
    async with running(config("alice"), config("bob")) as (alice, bob):
        document = SharedDocument("doc-1")
        alice.add_document(document, "notes.txt", shared=True)
        document.insert(0, "hello 😀\n")
        joined = await join_from(bob, alice, "notes.txt")
        assert joined.document.text == "hello 😀\n"
        document.insert(0, "A:")
        joined.document.insert(len(joined.document), "中B\n")
        await bob.wait_until(lambda: document.text == joined.document.text, TIMEOUT)
        assert document.text == "A:hello 😀\n中B\n"


async def test_symmetric_link_either_side_can_join() -> None:
    """The acceptor joins a document the dialer shares over the same single connection."""
    async with running(config("alice"), config("bob")) as (alice, bob):
        on_bob = SharedDocument("bob-doc")
        bob.add_document(on_bob, "bob.txt", shared=True)
        on_bob.insert(0, "from bob")
        await bob.dial("127.0.0.1", alice.port)  # bob dials; alice will join bob's document
        joined = await join_from(alice, bob, "bob.txt")
        assert joined.document.text == "from bob"
        assert len(alice.links) == len(bob.links) == 1


async def test_relay_along_a_chain_includes_deletions() -> None:
    async with running(config("a"), config("b"), config("c")) as (a, b, c):
        document = SharedDocument("chain")
        a.add_document(document, "chain.txt", shared=True)
        document.insert(0, "abcdef")
        at_b = await join_from(b, a, "chain.txt")
        at_c = await join_from(c, b, "chain.txt")  # c knows only b
        document.delete(1, 2)  # delete-only update: must still cross b
        await c.wait_until(lambda: at_c.document.text == "adef", TIMEOUT)
        at_c.document.insert(0, "🎉")
        await a.wait_until(lambda: document.text == "🎉adef", TIMEOUT)
        assert at_b.document.text == "🎉adef"


async def test_a_burst_of_edits_goes_out_in_few_messages_and_a_lone_keystroke_at_once() -> None:
    """The send pacer over real TCP: edits made one per loop turn coalesce into about one
    message per window, and the peer still ends with every edit, deletions included."""
    async with running(config("alice"), config("bob")) as (alice, bob):
        document = SharedDocument("burst")
        entry = alice.add_document(document, "burst.txt", shared=True)
        joined = await join_from(bob, alice, "burst.txt")
        sync = next(iter(entry.channels.values()))
        sent: list[bytes] = []
        channel_send = sync.channel.send
        sync.channel.send = lambda data: (sent.append(data), channel_send(data))[1]

        # A lone keystroke after a quiet spell is flushed in the same loop turn as usual.
        await asyncio.sleep(2 * entry.pacer.window)
        document.insert(0, "x")
        await asyncio.sleep(0)
        assert len(sent) == 1

        edits = 2000
        for number in range(edits):
            if number % 5 == 4:
                document.delete(len(document) // 2, 1)
            else:
                document.insert(len(document) // 3, "ab中😀"[number % 4])
            await asyncio.sleep(0)  # one edit per loop turn, as keystrokes arrive
        await bob.wait_until(lambda: joined.document.text == document.text, TIMEOUT)
        assert len(sent) < 1 + edits // 4, f"{len(sent)} messages for {edits} edits"


async def test_simultaneous_dials_leave_exactly_one_connection() -> None:
    async with running(config("alice"), config("bob")) as (alice, bob):
        await asyncio.gather(alice.dial("127.0.0.1", bob.port), bob.dial("127.0.0.1", alice.port),
                             return_exceptions=True)

        def settled() -> bool:
            a_link, b_link = alice.links.get(bob.peer_id), bob.links.get(alice.peer_id)
            return (a_link is not None and b_link is not None
                    and not a_link.closed.is_set() and not b_link.closed.is_set()
                    and a_link.dialed != b_link.dialed)

        await alice.wait_until(settled, TIMEOUT)
        # The survivor is the connection dialed by the lower peer id, on both sides.
        lower_is_alice = alice.peer_id < bob.peer_id
        assert alice.links[bob.peer_id].dialed == lower_is_alice


async def test_offline_edits_on_both_sides_merge_on_reconnect() -> None:
    async with running(config("alice"), config("bob")) as (alice, bob):
        document = SharedDocument("offline")
        alice.add_document(document, "o.txt", shared=True)
        document.insert(0, "base\n")
        joined = await join_from(bob, alice, "o.txt")
        await bob.links[alice.peer_id].close("test cuts the link")
        await alice.wait_until(lambda: not alice.links and not bob.links, TIMEOUT)
        assert joined.sync_status == SyncStatus.OFFLINE
        document.insert(len(document), "alice offline\n")
        joined.document.insert(0, "bob offline\n")
        await bob.dial("127.0.0.1", alice.port)
        await bob.wait_until(lambda: document.text == joined.document.text, TIMEOUT)
        assert document.text == "bob offline\nbase\nalice offline\n"


async def test_both_nodes_opening_one_document_at_once_keep_one_channel_quietly(caplog) -> None:
    # What every reconnect of two peers holding one document does: both open its channel.
    caplog.set_level(logging.INFO, logger="editor")
    async with running(config("alice"), config("bob")) as (alice, bob):
        await bob.dial("127.0.0.1", alice.port)
        await bob.wait_until(lambda: alice.peer_id in bob.peer_documents
                             and bob.peer_id in alice.peer_documents, TIMEOUT)
        ours, theirs = SharedDocument("both"), SharedDocument("both")
        ours.insert(0, "from alice\n")
        theirs.insert(0, "from bob\n")
        alice.add_document(ours, "both.txt", shared=True)
        bob.add_document(theirs, "both.txt", shared=True)
        remote = RemoteDocument("both", "both.txt", 0)
        # In one turn: each request leaves before either side has read the other's.
        alice.join(bob.peer_id, remote)
        bob.join(alice.peer_id, remote)
        await alice.wait_until(lambda: ours.text == theirs.text and "alice" in ours.text
                               and "bob" in ours.text, TIMEOUT)
        link = alice.links[bob.peer_id]
        assert link.channel("both") is not None and bob.links[alice.peer_id].channel("both") is not None
        # The channel that lost closes without a line: a reconnect is told by its connection lines.
        assert not [r.getMessage() for r in caplog.records if "channel to" in r.getMessage()]


async def test_presence_shows_remote_cursor_at_its_character() -> None:
    async with running(config("alice"), config("bob")) as (alice, bob):
        document = SharedDocument("p")
        alice.add_document(document, "p.txt", shared=True)
        document.insert(0, "héllo wörld")
        joined = await join_from(bob, alice, "p.txt")
        alice.set_local_cursor("p", 6, 11)  # selects "wörld"
        await bob.wait_until(lambda: bool(bob.participants("p")), TIMEOUT)
        (state,) = bob.participants("p").values()
        assert state.name == "alice"
        document.insert(0, "😀 ")  # the text moves; the remote selection moves with it
        await bob.wait_until(lambda: joined.document.text == document.text, TIMEOUT)
        assert joined.document.resolve_anchor(state.anchor) == 8
        assert joined.document.resolve_anchor(state.head) == 13
        # Leaving the document removes the participant at once.
        alice.close_document("p")
        await bob.wait_until(lambda: not bob.participants("p"), TIMEOUT)


async def test_events_announce_connections(tmp_path: Path) -> None:
    async with running(config("alice"), config("bob")) as (alice, bob):
        seen = []
        alice.subscribe(seen.append)
        await bob.dial("127.0.0.1", alice.port)
        await alice.wait_until(lambda: any(isinstance(e, PeerConnected) for e in seen), TIMEOUT)
        assert next(e for e in seen if isinstance(e, PeerConnected)).name == "bob"


async def test_shared_file_restart_keeps_history_without_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "story.txt"
    path.write_text("once upon a time\n", encoding="utf-8")
    state = tmp_path / ".chorus"
    async with running(config("bob")) as (bob,):
        async with running(config("alice", state_dir=state)) as (alice,):
            (entry,) = alice.share_paths([path])
            joined = await join_from(bob, alice, "story.txt")
            joined.document.insert(len(joined.document), "the end\n")
            await alice.wait_until(lambda: path.read_text(encoding="utf-8").endswith("the end\n"), TIMEOUT)
        # Alice has stopped; bob keeps the document and edits offline.
        await bob.wait_until(lambda: not bob.links, TIMEOUT)
        joined.document.insert(0, "title\n")
        async with running(config("alice again", state_dir=state)) as (alice_again,):
            (again,) = alice_again.share_paths([path])
            assert again.doc_id == entry.doc_id
            assert alice_again.peer_id == alice.peer_id  # the identity survives a restart
            assert again.document.text == "once upon a time\nthe end\n"
            await bob.dial("127.0.0.1", alice_again.port)
            await bob.wait_until(lambda: again.document.text == joined.document.text, TIMEOUT)
            assert again.document.text == "title\nonce upon a time\nthe end\n"


@pytest.mark.allowed_log("another Chorus peer is using")
async def test_two_nodes_on_one_state_folder_get_distinct_identities(tmp_path: Path) -> None:
    state = tmp_path / ".chorus"
    async with running(config("first", state_dir=state), config("second", state_dir=state)) as (first, second):
        assert first.peer_id != second.peer_id
        await second.dial("127.0.0.1", first.port)
        await first.wait_until(lambda: second.peer_id in first.links, TIMEOUT)


async def test_outside_edit_of_a_shared_file_reaches_peers(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_bytes(b"one\r\ntwo\r\n")  # CRLF on disk, "\n" in the document
    async with running(config("alice", state_dir=tmp_path / ".chorus"), config("bob")) as (alice, bob):
        alice.share_paths([path])
        joined = await join_from(bob, alice, "list.txt")
        assert joined.document.text == "one\ntwo\n"
        path.write_bytes(b"one\r\ntwo\r\nthree\r\n")
        await bob.wait_until(lambda: joined.document.text == "one\ntwo\nthree\n", TIMEOUT)
        joined.document.insert(0, "zero\n")
        await alice.wait_until(lambda: path.read_bytes() == b"zero\r\none\r\ntwo\r\nthree\r\n", TIMEOUT)


async def test_unknown_document_is_refused_with_its_name() -> None:
    from editor.runtime.events import RemoteDocument

    async with running(config("alice"), config("bob")) as (alice, bob):
        await bob.dial("127.0.0.1", alice.port)
        entry = bob.join(alice.peer_id, RemoteDocument("nope", "nope.txt", 0))
        await bob.wait_until(lambda: not entry.channels, TIMEOUT)
        assert entry.sync_status == SyncStatus.OFFLINE
        assert alice.peer_id in bob.links  # the link itself survives


@pytest.mark.parametrize("count", [3])
async def test_many_documents_share_one_connection(count: int) -> None:
    async with running(config("alice"), config("bob")) as (alice, bob):
        documents = []
        for index in range(count):
            document = SharedDocument(f"doc-{index}")
            alice.add_document(document, f"{index}.txt", shared=True)
            document.insert(0, f"text {index}")
            documents.append(document)
        joined = [await join_from(bob, alice, f"{i}.txt") for i in range(count)]
        assert [j.document.text for j in joined] == [d.text for d in documents]
        assert len(bob.links) == 1


class _RecordingEndpoint:
    """A bare channel endpoint for a hand-made peer: records what happens to the channel."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.closed_with: str | None = None

    def message_received(self, data: bytes) -> None:
        self.received.append(bytes(data))

    def credit_granted(self) -> None:
        pass

    def channel_closed(self, reason: str) -> None:
        self.closed_with = reason


class _SilentHandler:
    """The LinkHandler of a hand-made peer that shares nothing."""

    def list_documents(self, link):
        return []

    def accept_channel(self, link, doc_id, channel):
        import editor.protocol as protocol

        raise protocol.UnknownDocument(doc_id)

    def presence_received(self, link, doc_id, data) -> None:
        pass

    def documents_changed(self, link) -> None:
        pass

    def link_closed(self, link, reason) -> None:
        pass


def _truncated_real_update() -> bytes:
    from editor.core.messages import SyncStep2, encode

    source = SharedDocument("elsewhere")
    source.insert(0, "some real text from another replica")
    update = source.encode_state()
    return encode(SyncStep2(update[: len(update) // 2]))


@pytest.mark.allowed_log("closing channel with", "malformed presence")
@pytest.mark.parametrize("kind", ["truncated update message", "not y-protocols", "corrupt step 2"])
async def test_a_corrupt_channel_message_closes_that_channel_only(kind: str) -> None:
    import editor.protocol as protocol

    bad_first_message = {
        "truncated update message": b"\x00\x02\x05\x01\x02",
        "not y-protocols": b"\x07garbage",
        "corrupt step 2": _truncated_real_update(),
    }[kind]
    async with running(config("alice")) as (alice,):
        document = SharedDocument("victim")
        alice.add_document(document, "victim.txt", shared=True)
        document.insert(0, "precious text 😀")
        link = await protocol.dial("127.0.0.1", alice.port, protocol.Hello("mallory-1", "mallory"),
                                   _SilentHandler())
        try:
            endpoint = _RecordingEndpoint()
            link.open_channel("victim", bad_first_message, endpoint)
            await alice.wait_until(lambda: endpoint.closed_with is not None, TIMEOUT)
            link.send_presence("victim", b"\x01\xff\xff")  # malformed presence: dropped, logged
            await link.ping(timeout=TIMEOUT)  # the connection itself still serves
            assert document.text == "precious text 😀"
            assert not alice.documents["victim"].channels
        finally:
            await link.close("test done")


@pytest.mark.parametrize("size", [200_000, 3_000_000])
async def test_joining_a_large_document_crosses_fragmented_frames(size: int) -> None:
    """Sync step 2 of a big document is larger than a frame fragment (64 KiB) both ways."""
    async with running(config("alice"), config("bob")) as (alice, bob):
        document = SharedDocument("big")
        alice.add_document(document, "big.txt", shared=True)
        line = "the quick brown fox 😀 jumps over the lazy dog 中文\n"
        document.insert(0, line * (size // len(line)))
        joined = await join_from(bob, alice, "big.txt")
        assert joined.document.text == document.text
        # And the other way: a big edit typed at the joiner travels back as one update.
        joined.document.insert(0, line * (size // len(line)))
        await alice.wait_until(lambda: len(document) == len(joined.document), TIMEOUT)
        assert document.text == joined.document.text


async def test_dialing_an_address_already_linked_reuses_the_link() -> None:
    async with running(config("alice"), config("bob")) as (alice, bob):
        first = await bob.dial("127.0.0.1", alice.port)
        again = await bob.dial("127.0.0.1", alice.port)
        assert again is first and not first.closed.is_set()
        assert len(alice.links) == 1


async def test_a_participant_whose_link_dies_disappears() -> None:
    async with running(config("alice"), config("bob")) as (alice, bob):
        document = SharedDocument("gone")
        alice.add_document(document, "gone.txt", shared=True)
        document.insert(0, "text")
        await join_from(bob, alice, "gone.txt")
        bob.set_local_cursor("gone", 1, 1)
        await alice.wait_until(lambda: bool(alice.participants("gone")), TIMEOUT)
        # No goodbye: the connection simply ends (as when the process dies).
        await bob.links[alice.peer_id].close("process died")
        await alice.wait_until(lambda: not alice.participants("gone"), 1.0)


async def test_a_one_off_visitor_is_forgotten_but_kept_and_source_peers_stay_listed() -> None:
    """A peer that dialed us once (a `chorus cat`) leaves no "offline" entry behind; a peer we
    keep dialing, or joined a document from, stays listed while it is away."""
    async with running(config("host"), config("visitor"), config("kept"), config("source")) as (
            host, visitor, kept, source):
        await visitor.dial("127.0.0.1", host.port)
        await host.wait_until(lambda: visitor.peer_id in host.peer_status, TIMEOUT)
        host.connect("127.0.0.1", kept.port)
        await host.wait_until(lambda: kept.peer_id in host.links, TIMEOUT)
        shared = SharedDocument("src")
        source.add_document(shared, "src.txt", shared=True)
        await join_from(host, source, "src.txt")

        for peer in (visitor, kept, source):
            await peer.links[host.peer_id].close("going away")
        await host.wait_until(lambda: not ({visitor.peer_id, source.peer_id} & set(host.links)), TIMEOUT)
        assert visitor.peer_id not in host.peer_status
        assert host.peer_status[source.peer_id] is PeerStatus.OFFLINE
        # The kept peer is re-dialed (it may already be back): listed throughout.
        assert kept.peer_id in host.peer_status


async def test_a_busy_port_is_a_plain_oserror_and_leaves_nothing_running() -> None:
    import errno

    async with running(config("first")) as (first,):
        with pytest.raises(OSError) as raised:
            async with Node(NodeConfig(name="second", listen_host="127.0.0.1", listen_port=first.port)):
                pass
        assert raised.value.errno == errno.EADDRINUSE


def test_find_remote_document_by_id_exact_title_then_loose_title() -> None:
    node = Node(config("alice"))  # never started: only its listing of a peer is used
    offered = (
        RemoteDocument("id-1", "Notes.txt", 1),
        RemoteDocument("id-2", "notes.md", 2),
        RemoteDocument("id-3", "todo.txt", 3),
        RemoteDocument("id-4", "todo.md", 4),
    )
    node.peer_documents["bob"] = offered
    assert node.find_remote_document("bob", "id-3").doc_id == "id-3"
    assert node.find_remote_document("bob", "Notes.txt").doc_id == "id-1"
    assert node.find_remote_document("bob", "NOTES.MD").doc_id == "id-2"
    with pytest.raises(UnknownDocumentError, match=r"several documents are titled 'todo' \('todo.txt', 'todo.md'\)"):
        node.find_remote_document("bob", "todo")
    with pytest.raises(UnknownDocumentError, match=r"no document 'x' \(it shares 'Notes.txt', 'notes.md', 'todo.txt', 'todo.md'\)"):
        node.find_remote_document("bob", "x")
    node.peer_documents["bob"] = offered * 2
    with pytest.raises(UnknownDocumentError, match=r"'todo.md', 'Notes.txt' and 3 more\)"):
        node.find_remote_document("bob", "x")
    with pytest.raises(UnknownDocumentError, match="it shares none"):
        node.find_remote_document("carol", "x")


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed"), "connection refused (nothing listens on that port)"),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "unknown host (Name or service not known)"),
        (TimeoutError(), "no answer in time"),
        (OSError(errno.EHOSTUNREACH, "No route to host"), "no route to that host (is it on this network?)"),
        (OSError(errno.ECONNRESET, "Connection reset by peer"), "connection reset by peer"),
        (OSError("something else"), "something else"),
    ],
)
def test_link_errors_are_described_in_words(error, words) -> None:
    assert describe_link_error(error) == words


@pytest.fixture
def refusing_port():
    """A loopback socket bound and not listening, so its port refuses connections until
    closed, and that port."""
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", 0))
    try:
        yield blocker, blocker.getsockname()[1]
    finally:
        blocker.close()


async def test_an_address_that_never_answered_is_listed_until_it_answers(refusing_port) -> None:
    blocker, port = refusing_port
    address = f"127.0.0.1:{port}"
    async with running(config("alice")) as (alice,):
        events = []
        alice.subscribe(events.append)
        alice.connect("127.0.0.1", port)
        await alice.wait_until(lambda: address in alice.unreachable, TIMEOUT)
        assert alice.unreachable[address] == "connection refused (nothing listens on that port)"
        assert AddressUnreachable(address, alice.unreachable[address]) in events
        blocker.close()  # now bob takes the port: a later re-dial reaches him
        bob_config = NodeConfig(name="bob", listen_host="127.0.0.1", listen_port=port)
        async with running(bob_config) as (bob,):
            await alice.wait_until(lambda: bob.peer_id in alice.links, TIMEOUT)
            assert address not in alice.unreachable
            assert events.count(AddressUnreachable(address, None)) == 1


async def test_stop_connecting_ends_the_redials_of_an_address(refusing_port) -> None:
    _, port = refusing_port
    address = f"127.0.0.1:{port}"
    async with running(config("alice")) as (alice,):
        alice.connect("127.0.0.1", port)
        alice.connect("127.0.0.1", port)  # the same address twice: one re-dial loop
        await alice.wait_until(lambda: address in alice.unreachable, TIMEOUT)
        assert alice.stop_connecting(address)
        assert address not in alice.unreachable and not alice.stop_connecting(address)


async def test_a_listing_notice_skips_a_link_whose_teardown_is_running() -> None:
    """A closing link stays in `links` while its teardown runs; the fire-and-forget "documents
    changed" notice sent meanwhile must skip it (it raised LinkClosed into the caller, seen as
    a failed Share in the app right after a peer quit)."""
    async with running(config("alice"), config("bob")) as (alice, bob):
        document = SharedDocument("doc-late")
        alice.add_document(document, "late.txt", shared=True)
        await join_from(bob, alice, "late.txt")
        await alice.wait_until(lambda: alice.documents["doc-late"].channels, TIMEOUT)
        link = alice.links[bob.peer_id]
        closing = asyncio.ensure_future(link.close("going away"))
        while link.state is protocol.LinkState.OPEN:  # until the teardown has begun
            await asyncio.sleep(0)
        assert alice.links.get(bob.peer_id) is link
        alice.set_shared("doc-late", False)
        alice.set_shared("doc-late", True)  # listing notices to every listed link
        await closing
        assert bob.peer_id not in alice.links


async def test_a_restored_document_merges_into_the_held_one_and_reaches_its_peers() -> None:
    async with running(config("alice"), config("bob")) as (alice, bob):
        document = SharedDocument("doc-r")
        alice.add_document(document, "r.txt", shared=True)
        document.insert(0, "base\n")
        joined = await join_from(bob, alice, "r.txt")
        earlier_run = SharedDocument("doc-r")  # bob's copy as his previous run left it
        earlier_run.apply_update(document.encode_state(), "sync")
        earlier_run.insert(5, "typed before a crash 中\n")
        entry = bob.hold_restored(earlier_run, "r.txt", alice.peer_id)
        assert entry.document is joined.document  # merged into what bob holds
        assert joined.document.text == "base\ntyped before a crash 中\n"
        await alice.wait_until(lambda: document.text == joined.document.text, TIMEOUT)
