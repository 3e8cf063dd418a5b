#!/usr/bin/env node
// A Chorus participant built only from stock parts nobody on the Chorus team wrote: a Yjs
// document (`yjs`, `y-protocols`, `lib0`) speaking the documented wire protocol (docs/protocol.md)
// through a stock RSocket client (`rsocket-core`, `rsocket-tcp-client`,
// `rsocket-composite-metadata`).
//
//   node client.mjs HOST PORT DOC [--insert POS TEXT]... [--delete POS LEN]... [--append TEXT]...
//                   [--embed POS]... [--bold POS LEN]... [--expect SUBSTRING]... [--expect-plain]
//                   [--expect-participant NAME]... [--timeout S] [--name NAME] [--verbose]
//
// DOC is a document title (or id) as listed by the peer's `docs` route. Edits are applied in
// the order given, once the initial sync is done; POS and LEN count Unicode code points, as
// everywhere in Chorus (Yjs itself counts UTF-16 code units). The client publishes its presence,
// then waits until the text contains every --expect substring (edits other peers make), holds
// no embed if --expect-plain is given, and the presence of every --expect-participant has
// arrived, prints {"doc", "title", "text", "embeds", "participants"} as one line of JSON on
// stdout and exits 0. --embed and --bold use rich-text features Chorus does not use (a Chorus
// peer removes embeds from its plain text and ignores formatting).
// Exit codes follow the `chorus` command: 1 error, 2 usage, 3 unreachable, 4 unknown
// document, 5 bad position, 6 timeout; the reason is one line on stderr.

import { randomBytes } from "node:crypto";

import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";
import {
  decodeCompositeMetadata,
  decodeRoutes,
  encodeCompositeMetadata,
  encodeRoutes,
  WellKnownMimeType,
} from "rsocket-composite-metadata";
import { ErrorCodes, RSocketConnector, RSocketError } from "rsocket-core";
import { TcpClientTransport } from "rsocket-tcp-client";
import * as awarenessProtocol from "y-protocols/awareness";
import * as syncProtocol from "y-protocols/sync";
import * as Y from "yjs";

const PROTOCOL_VERSION = 1;
const EXIT = { ok: 0, error: 1, usage: 2, unreachable: 3, unknownDocument: 4, badPosition: 5, timeout: 6 };

// Message types of the y-protocols envelope (the same as y-websocket's).
const MESSAGE_SYNC = 0;
const MESSAGE_AWARENESS = 1;

// docs/protocol.md: credit window 64 topped up by 32; SETUP keepalive 3 s, lifetime 10 s;
// fragments of at most 64 KiB; ping every 3 s, silent after 4 s; requests time out after 10 s.
const CHANNEL_CREDIT = 64;
const KEEPALIVE_MS = 3_000;
const MAX_LIFETIME_MS = 10_000;
const FRAGMENT_BYTES = 64 * 1024;
const PING_INTERVAL_MS = 3_000;
const SILENCE_MS = 4_000;
const REQUEST_TIMEOUT_MS = 10_000;
// How long a graceful channel close waits for the peer's COMPLETE before cancelling.
const CLOSE_TIMEOUT_MS = 2_000;

// Transaction origin of everything that came from the network (never sent back).
const REMOTE = Symbol("remote");

class ClientError extends Error {
  constructor(exitCode, message) {
    super(message);
    this.exitCode = exitCode;
  }
}

const USAGE = "usage: node client.mjs HOST PORT DOC [--insert POS TEXT]... [--delete POS LEN]... " +
  "[--append TEXT]... [--embed POS]... [--bold POS LEN]... [--expect SUBSTRING]... [--expect-plain] [--expect-participant NAME]... [--timeout S] " +
  "[--name NAME] [--verbose]";

/** Parse argv into {host, port, doc, edits, expect, participants, timeoutMs, name, verbose}; ClientError(usage) if wrong. */
function parseArguments(argv) {
  const positional = [];
  const options = { edits: [], expect: [], expectPlain: false, participants: [], timeoutMs: 20_000, name: "yjs-node", verbose: false };
  const take = (i, count, flag) => {
    if (i + count >= argv.length) throw new ClientError(EXIT.usage, `${flag} needs ${count} argument(s)\n${USAGE}`);
    return argv.slice(i + 1, i + 1 + count);
  };
  const count = (text, flag) => {
    if (!/^\d+$/.test(text)) throw new ClientError(EXIT.usage, `${flag}: not a count of code points: ${text}`);
    return Number(text);
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    switch (flag) {
      case "--insert": {
        const [pos, text] = take(i, 2, flag);
        options.edits.push({ kind: "insert", pos: count(pos, flag), text });
        i += 2;
        break;
      }
      case "--delete": {
        const [pos, length] = take(i, 2, flag);
        options.edits.push({ kind: "delete", pos: count(pos, flag), length: count(length, flag) });
        i += 2;
        break;
      }
      case "--embed":
        // Rich-text features Chorus does not use: an embedded object, and bold formatting.
        options.edits.push({ kind: "embed", pos: count(take(i, 1, flag)[0], flag) });
        i += 1;
        break;
      case "--bold": {
        const [pos, length] = take(i, 2, flag);
        options.edits.push({ kind: "bold", pos: count(pos, flag), length: count(length, flag) });
        i += 2;
        break;
      }
      case "--expect-plain":
        options.expectPlain = true;
        break;
      case "--append":
        options.edits.push({ kind: "append", text: take(i, 1, flag)[0] });
        i += 1;
        break;
      case "--expect":
        options.expect.push(take(i, 1, flag)[0]);
        i += 1;
        break;
      case "--expect-participant":
        options.participants.push(take(i, 1, flag)[0]);
        i += 1;
        break;
      case "--timeout": {
        const seconds = Number(take(i, 1, flag)[0]);
        if (!(seconds > 0)) throw new ClientError(EXIT.usage, `--timeout: not a positive number of seconds`);
        options.timeoutMs = seconds * 1000;
        i += 1;
        break;
      }
      case "--name":
        options.name = take(i, 1, flag)[0];
        i += 1;
        break;
      case "--verbose":
        options.verbose = true;
        break;
      case "-h":
      case "--help":
        throw new ClientError(EXIT.usage, USAGE);
      default:
        if (flag.startsWith("--")) throw new ClientError(EXIT.usage, `unknown option ${flag}\n${USAGE}`);
        positional.push(flag);
    }
  }
  if (positional.length !== 3) throw new ClientError(EXIT.usage, USAGE);
  const [host, portText, doc] = positional;
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ClientError(EXIT.usage, `not a TCP port: ${portText}`);
  }
  return { host, port, doc, ...options };
}

/** The UTF-16 offset (Yjs) of code point index `index` (Chorus) in `text`; ClientError if out of range. */
function utf16Offset(text, index) {
  let offset = 0;
  let seen = 0;
  for (const character of text) {
    if (seen === index) return offset;
    offset += character.length; // 2 for a code point outside the BMP (a surrogate pair)
    seen += 1;
  }
  if (seen === index) return offset;
  throw new ClientError(EXIT.badPosition, `position ${index} is past the end of the text (${seen} code points)`);
}

/** Composite metadata holding one routing item: `route` followed by its extra tags. */
function routeMetadata(...tags) {
  return encodeCompositeMetadata([[WellKnownMimeType.MESSAGE_RSOCKET_ROUTING, encodeRoutes(...tags)]]);
}

/** The routing tags of a request's composite metadata ([] when there are none). */
function routesOf(metadata) {
  if (!metadata || metadata.length === 0) return [];
  for (const entry of decodeCompositeMetadata(metadata)) {
    if (entry.mimeType === WellKnownMimeType.MESSAGE_RSOCKET_ROUTING.string) return [...decodeRoutes(entry.content)];
  }
  return [];
}

function envelope(type, writeBody) {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, type);
  writeBody(encoder);
  return Buffer.from(encoding.toUint8Array(encoder));
}

function describe(data) {
  const bytes = Buffer.from(data ?? []);
  const head = bytes.subarray(0, 24).toString("hex");
  return `${bytes.length} B ${head}${bytes.length > 24 ? "..." : ""}`;
}

/** A request-response on `routes`; resolves with the response payload, rejects on error or timeout. */
function request(rsocket, data, routes, timeoutMs = REQUEST_TIMEOUT_MS) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cancellable.cancel();
      reject(new ClientError(EXIT.timeout, `no answer to '${routes.join(" ")}' within ${timeoutMs} ms`));
    }, timeoutMs);
    const cancellable = rsocket.requestResponse({ data, metadata: routeMetadata(...routes) }, {
      onNext(payload) {
        clearTimeout(timer);
        resolve(payload);
      },
      onComplete() {
        clearTimeout(timer);
        resolve({ data: null });
      },
      onError(error) {
        clearTimeout(timer);
        reject(new ClientError(EXIT.error, `'${routes.join(" ")}' failed: ${error.message}`));
      },
      onExtension() {},
    });
  });
}

/** The UTF-8 JSON of a payload's data; ClientError naming `what` if it is not JSON. */
function parseJson(payload, what) {
  try {
    return JSON.parse(Buffer.from(payload.data ?? []).toString("utf-8"));
  } catch (error) {
    throw new ClientError(EXIT.error, `${what}: not JSON (${describe(payload.data)}): ${error.message}`);
  }
}

/**
 * One `doc.sync` request-channel bound to a Y.Doc: y-protocols sync over RSocket payloads,
 * sending only while the responder has granted credit (the first payload rides on REQUEST_CHANNEL).
 */
class DocChannel {
  constructor(rsocket, docId, ydoc, log, onFailure) {
    this.ydoc = ydoc;
    this.log = log;
    this.onFailure = onFailure;
    this.credit = 0;
    this.outbox = [];
    this.consumedSinceGrant = 0;
    this.closed = false;
    this.closing = null; // set by close(): resolves when the peer completed its side
    this.synced = new Promise((resolve) => { this.markSynced = resolve; });
    this.progress = new Set(); // called after every message received and every credit grant

    this.onUpdate = (update, origin) => {
      if (origin !== REMOTE) this.send(envelope(MESSAGE_SYNC, (e) => syncProtocol.writeUpdate(e, update)));
    };
    ydoc.on("update", this.onUpdate);

    const opening = envelope(MESSAGE_SYNC, (e) => syncProtocol.writeSyncStep1(e, ydoc));
    this.log(`-> doc.sync ${docId} step 1 (${describe(opening)})`);
    this.requester = rsocket.requestChannel(
      { data: opening, metadata: routeMetadata("doc.sync", docId) }, CHANNEL_CREDIT, false, {
        onNext: (payload, isComplete) => this.received(payload, isComplete),
        onComplete: () => this.ended("the peer completed the channel"),
        onError: (error) => this.failed(new ClientError(EXIT.error, `doc.sync failed: ${error.message}`)),
        onExtension: () => {},
        request: (n) => this.granted(n),
        cancel: () => this.ended("the peer cancelled our side of the channel"),
      });
  }

  send(message) {
    if (this.closed) return;
    this.outbox.push(message);
    this.flush();
  }

  flush() {
    while (this.credit > 0 && this.outbox.length > 0 && !this.closed) {
      this.credit -= 1;
      const message = this.outbox.shift();
      this.log(`-> ${describe(message)} (credit left ${this.credit})`);
      this.requester.onNext({ data: message }, false);
    }
  }

  get idle() {
    return this.outbox.length === 0;
  }

  granted(n) {
    this.credit += n;
    this.log(`<- REQUEST_N ${n}`);
    this.flush();
    this.notify();
  }

  notify() {
    for (const listener of [...this.progress]) listener();
  }

  received(payload, isComplete) {
    const data = new Uint8Array(payload.data ?? []);
    this.log(`<- ${describe(data)}`);
    if (this.closed) {
      // Closing: whatever was still in flight no longer matters.
      if (isComplete) this.ended("the peer completed the channel");
      return;
    }
    try {
      this.handle(data);
    } catch (error) {
      this.failed(error instanceof ClientError ? error
        : new ClientError(EXIT.error, `bad message on doc.sync (${describe(data)}): ${error.message}`));
      return;
    }
    if (isComplete) {
      this.ended("the peer completed the channel");
      return;
    }
    // Grant more only after the message was handled: the credit is our backpressure.
    this.consumedSinceGrant += 1;
    if (this.consumedSinceGrant >= CHANNEL_CREDIT / 2) {
      this.requester.request(this.consumedSinceGrant);
      this.consumedSinceGrant = 0;
    }
    this.notify();
  }

  handle(data) {
    const decoder = decoding.createDecoder(data);
    const type = decoding.readVarUint(decoder);
    if (type !== MESSAGE_SYNC) throw new ClientError(EXIT.error, `unexpected message type ${type} on doc.sync`);
    const reply = encoding.createEncoder();
    encoding.writeVarUint(reply, MESSAGE_SYNC);
    const syncType = syncProtocol.readSyncMessage(decoder, reply, this.ydoc, REMOTE, (error) => { throw error; });
    if (decoding.hasContent(decoder)) throw new ClientError(EXIT.error, "trailing bytes after a sync message");
    if (syncType === syncProtocol.messageYjsSyncStep2) this.markSynced();
    // Only a step 1 produces a reply (our step 2) beyond the envelope byte.
    if (encoding.length(reply) > 1) this.send(Buffer.from(encoding.toUint8Array(reply)));
  }

  ended(reason) {
    if (this.closing) this.closing.resolve();
    else if (!this.closed) this.failed(new ClientError(EXIT.error, `doc.sync ended early: ${reason}`));
  }

  failed(error) {
    if (this.closed) return;
    this.release();
    // A dying connection ends its streams first: let its own, clearer reason win.
    setImmediate(() => this.onFailure(error));
  }

  release() {
    this.closed = true;
    this.ydoc.off("update", this.onUpdate);
  }

  /**
   * Close gracefully: a lone COMPLETE, which the peer answers with COMPLETE (docs/protocol.md
   * section 5). rsocket-js cannot send the CANCEL-then-COMPLETE form: its cancel() also ends
   * our side without a COMPLETE. Cancels if the peer's COMPLETE does not come in time.
   */
  async close() {
    if (this.closed) return;
    this.release();
    let timer;
    const completed = new Promise((resolve) => { this.closing = { resolve: () => resolve(true) }; });
    const timedOut = new Promise((resolve) => { timer = setTimeout(() => resolve(false), CLOSE_TIMEOUT_MS); });
    this.log("-> COMPLETE doc.sync");
    this.requester.onComplete();
    const graceful = await Promise.race([completed, timedOut]);
    clearTimeout(timer);
    if (!graceful) {
      this.log(`no COMPLETE from the peer within ${CLOSE_TIMEOUT_MS} ms: -> CANCEL doc.sync`);
      this.requester.cancel();
    } else {
      this.log("<- COMPLETE doc.sync");
    }
  }
}

/**
 * What this client answers when the Chorus peer calls it (the protocol is symmetric): `hello`,
 * `docs` (nothing shared), `ping`, `presence`; anything else is refused. `heard` is told of
 * every request, for liveness.
 */
function responder(hello, awareness, log, heard) {
  const refuse = (stream, message) => stream.onError(new RSocketError(ErrorCodes.APPLICATION_ERROR, message));
  return {
    requestResponse(payload, stream) {
      heard();
      const [route] = routesOf(payload.metadata);
      log(`<- request ${route}`);
      const answers = { hello: () => JSON.stringify(hello), docs: () => "[]", ping: () => "" };
      if (Object.hasOwn(answers, route)) {
        stream.onNext({ data: Buffer.from(answers[route](), "utf-8") }, true);
      } else {
        refuse(stream, `unknown route '${route}'`);
      }
      return { cancel() {}, onExtension() {} };
    },
    fireAndForget(payload) {
      heard();
      const [route] = routesOf(payload.metadata);
      log(`<- fire-and-forget ${route} (${describe(payload.data)})`);
      if (route !== "presence") return { cancel() {} }; // docs.changed: we join nothing more
      try {
        const decoder = decoding.createDecoder(new Uint8Array(payload.data ?? []));
        if (decoding.readVarUint(decoder) === MESSAGE_AWARENESS) {
          awarenessProtocol.applyAwarenessUpdate(awareness, decoding.readVarUint8Array(decoder), REMOTE);
        }
      } catch (error) {
        // Presence is best effort: a bad message is reported, not fatal.
        log(`ignored a malformed presence message: ${error.message}`);
      }
      return { cancel() {} };
    },
    requestChannel(payload, initialRequestN, isCompleted, stream) {
      heard();
      const [, docId] = routesOf(payload.metadata);
      refuse(stream, `unknown document '${docId}'`);
      return { cancel() {}, request() {}, onNext() {}, onComplete() {}, onError() {}, onExtension() {} };
    },
  };
}

function deadlineAfter(ms) {
  let timer;
  const expired = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new ClientError(EXIT.timeout, `timed out after ${ms / 1000} s`)), ms);
  });
  expired.catch(() => {}); // observed through `within` only
  return { expired, cancel: () => clearTimeout(timer) };
}

/**
 * Ping every 3 s; the peer is silent when a ping stays unanswered for 4 s and nothing else
 * was heard meanwhile (docs/protocol.md section 7). `onSilent(error)` is called once.
 */
function startLiveness(rsocket, lastHeard, onSilent) {
  const timer = setInterval(() => {
    request(rsocket, Buffer.alloc(0), ["ping"], SILENCE_MS).catch(() => {
      if (Date.now() - lastHeard() >= SILENCE_MS) {
        clearInterval(timer);
        onSilent(new ClientError(EXIT.error, `the peer went silent (no answer to ping within ${SILENCE_MS} ms)`));
      }
    });
  }, PING_INTERVAL_MS);
  return { stop: () => clearInterval(timer) };
}

/** How many embeds (non-string content) the text holds. */
function embedCount(ytext) {
  return ytext.toDelta().filter((op) => typeof op.insert !== "string").length;
}

function applyEdit(ytext, edit) {
  const text = ytext.toString();
  if (edit.kind === "append") {
    ytext.insert(text.length, edit.text);
  } else if (edit.kind === "insert") {
    ytext.insert(utf16Offset(text, edit.pos), edit.text);
  } else if (edit.kind === "embed") {
    ytext.insertEmbed(utf16Offset(text, edit.pos), { image: "cat.png" });
  } else if (edit.kind === "bold") {
    const start = utf16Offset(text, edit.pos);
    ytext.format(start, utf16Offset(text, edit.pos + edit.length) - start, { bold: true });
  } else {
    const start = utf16Offset(text, edit.pos);
    ytext.delete(start, utf16Offset(text, edit.pos + edit.length) - start);
  }
}

/** Connect, join `options.doc`, edit, wait for the expected text; the result object of main. */
async function run(options, log) {
  const peerId = randomBytes(8).toString("hex");
  const hello = { protocol: PROTOCOL_VERSION, peer: peerId, name: options.name };
  const ydoc = new Y.Doc();
  const ytext = ydoc.getText("text");
  const awareness = new awarenessProtocol.Awareness(ydoc);
  const deadline = deadlineAfter(options.timeoutMs);
  let lastHeardAt = Date.now();
  const heard = () => { lastHeardAt = Date.now(); };
  let rsocket;
  let liveness;
  let channel;
  let publishPresence;
  let connectionLost;
  const lost = new Promise((_, reject) => { connectionLost = reject; });
  lost.catch(() => {}); // observed through `within`; a loss after we finished is no error
  let finished = false;
  let broken = false; // the connection or the channel failed: no graceful goodbye
  const failWith = (error) => {
    broken = true;
    if (!finished) connectionLost(error);
  };
  // Every wait races the deadline and the connection/channel failing.
  const within = (promise) => Promise.race([promise, deadline.expired, lost]);
  const ask = async (route) => {
    const answer = await within(request(rsocket, Buffer.alloc(0), [route]));
    heard();
    return answer;
  };

  try {
    const connector = new RSocketConnector({
      setup: {
        metadataMimeType: WellKnownMimeType.MESSAGE_RSOCKET_COMPOSITE_METADATA.string,
        dataMimeType: "application/octet-stream",
        keepAlive: KEEPALIVE_MS,
        lifetime: MAX_LIFETIME_MS,
        payload: { data: Buffer.from(JSON.stringify(hello), "utf-8") },
      },
      fragmentation: { maxOutboundFragmentSize: FRAGMENT_BYTES },
      transport: new TcpClientTransport({ connectionOptions: { host: options.host, port: options.port } }),
      responder: responder(hello, awareness, log, heard),
    });
    try {
      rsocket = await within(connector.connect());
    } catch (error) {
      throw error instanceof ClientError ? error
        : new ClientError(EXIT.unreachable, `cannot connect to ${options.host}:${options.port}: ${error.message}`);
    }
    rsocket.onClose((error) => failWith(new ClientError(EXIT.error,
      `connection closed by the peer${error ? `: ${error.message}` : ""}`)));
    log(`connected to ${options.host}:${options.port} as ${peerId}`);

    // The handshake: `hello` first, and nothing else before its answer.
    const theirHello = parseJson(await ask("hello"), "hello");
    log(`peer hello ${JSON.stringify(theirHello)}`);
    if (theirHello.protocol !== PROTOCOL_VERSION) {
      throw new ClientError(EXIT.error, `the peer speaks protocol ${theirHello.protocol}, not ${PROTOCOL_VERSION}`);
    }
    liveness = startLiveness(rsocket, () => lastHeardAt, failWith);
    const documents = parseJson(await ask("docs"), "docs");
    log(`peer documents ${JSON.stringify(documents)}`);
    const entry = documents.find((d) => d.title === options.doc) ?? documents.find((d) => d.id === options.doc);
    if (!entry) {
      throw new ClientError(EXIT.unknownDocument,
        `no document '${options.doc}' at the peer (it shares: ${documents.map((d) => d.title).join(", ") || "nothing"})`);
    }

    channel = new DocChannel(rsocket, entry.id, ydoc, log, failWith);
    channel.progress.add(heard);
    await within(channel.synced);
    log(`synced: ${JSON.stringify(ytext.toString())}`);

    for (const edit of options.edits) ydoc.transact(() => applyEdit(ytext, edit));

    // Presence: our name and a caret after our last edit, as a Yjs relative position.
    const caret = Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(ytext, ytext.length));
    publishPresence = ({ added, updated, removed }, origin) => {
      if (origin === REMOTE) return;
      const changed = added.concat(updated, removed);
      const message = envelope(MESSAGE_AWARENESS, (e) =>
        encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(awareness, changed)));
      log(`-> presence (${describe(message)})`);
      rsocket.fireAndForget({ data: message, metadata: routeMetadata("presence", entry.id) },
        { onComplete() {}, onError(error) { log(`presence not sent: ${error.message}`); } });
    };
    awareness.on("update", publishPresence);
    awareness.setLocalState({ user: { name: options.name, color: "#8e44ad" }, cursor: { anchor: caret, head: caret } });
    // Greet newcomers as y-webrtc does: whoever joined after our announcement has not heard
    // it (peers relay presence as it passes, they do not replay it to late joiners).
    awareness.on("change", ({ added }, origin) => {
      if (origin === REMOTE && added.length > 0 && awareness.getLocalState() !== null) {
        awareness.setLocalState(awareness.getLocalState());
      }
    });

    // Names of the others whose presence we hold (a null state means that client left).
    const participants = () => [...awareness.getStates().entries()]
      .filter(([client]) => client !== ydoc.clientID)
      .map(([, state]) => state?.user?.name)
      .filter((name) => typeof name === "string");
    // Done when every expected edit and participant arrived and all we wrote has left
    // (credit permitting). The others may leave right after: remember whom we saw.
    const seen = await within(new Promise((resolve) => {
      const check = () => {
        const present = participants();
        if (channel.idle && options.expect.every((s) => ytext.toString().includes(s))
            && (!options.expectPlain || embedCount(ytext) === 0)
            && options.participants.every((name) => present.includes(name))) {
          channel.progress.delete(check);
          awareness.off("change", check);
          resolve(present);
        }
      };
      channel.progress.add(check);
      awareness.on("change", check);
      check();
    }));
    // The peer reads a connection's frames in order: once it answered a ping sent after our
    // last update, it has that update.
    await ask("ping");

    const result = { doc: entry.id, title: entry.title, text: ytext.toString(), embeds: embedCount(ytext),
      participants: seen };
    // Leaving: a null state tells the others to drop our caret at once.
    awareness.setLocalState(null);
    return result;
  } finally {
    finished = true;
    deadline.cancel();
    liveness?.stop();
    if (!broken) await channel?.close();
    if (publishPresence) awareness.off("update", publishPresence);
    awareness.destroy();
    rsocket?.close();
  }
}

async function main() {
  let options;
  try {
    options = parseArguments(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`client.mjs: ${error.message}\n`);
    return error.exitCode ?? EXIT.usage;
  }
  const started = Date.now();
  const log = options.verbose
    ? (line) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(3)}] ${line}\n`)
    : () => {};
  try {
    const result = await run(options, log);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return EXIT.ok;
  } catch (error) {
    process.stderr.write(`client.mjs: ${error.message}\n`);
    if (!(error instanceof ClientError) && options.verbose) process.stderr.write(`${error.stack}\n`);
    return error instanceof ClientError ? error.exitCode : EXIT.error;
  }
}

process.exitCode = await main();
// Everything is closed by now; should a half-closed socket linger, do not wait for it.
setTimeout(() => process.exit(), 2_000).unref();
