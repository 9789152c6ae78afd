#!/usr/bin/env node
// Connection state recovery as the official socket.io-client 4.8 sees it,
// against recovery_node_server.js (Node's server) or tests/apps/recovery_app.py
// (txsocketio): same control channel, same expectations.
//
//   node recovery_scenario.js --url http://127.0.0.1:P [--window SECONDS]
//        [--transports websocket|polling|polling,websocket] [--timeout MS]
//        [--reconnect-url http://127.0.0.1:Q] [--expect-replayed EVENT,...]
//
// --window must be the server's window (the expiry phase waits it out).
// --reconnect-url: a second server of the same cluster (a shared-store
//   adapter such as @socket.io/redis-streams-adapter); the client comes back
//   there (the Manager's uri is switched before the kill), so the session and
//   the missed packets must cross servers.  Control commands that concern the
//   old server's sockets go to the first server, "stats" to the one the
//   client is on.
// --expect-replayed: events of the gap that the server under test is known
//   to replay although Node's in-memory adapter does not (exact list, in
//   order); @socket.io/redis-streams-adapter 0.3.1 replays "volatile-gap"
//   and "ack-gap" (it stores them in the stream and its restoreSession does
//   not filter them).  Default: none.
//
// Phase "recover":
//   1. a control client connects to "/control"; the client under test to "/",
//      joins "room1", and receives "e0" (sent to room1) with an offset;
//   2. its transport is killed (socket.io.engine.close(), as Node's own client
//      tests do: the server sees "transport close", not a clean disconnect);
//      automatic reconnection stays on, with a delay long enough for step 3;
//   3. once the server saw the disconnect, the control client has it emit:
//      "missed" 1 to room1; "missed" 2 directly (socket.emit on the old server
//      Socket object); "volatile-gap" (volatile, to room1); "ack-gap" (direct,
//      with an ack); "ackbc-gap" (to room1 with an ack, broadcast); "missed" 3 to
//      everyone; "missed" 4 to room1;
//   4. the client reconnects by itself: same id, socket.recovered true, the
//      missed packets 1..4 received once each, in order, each with an offset;
//      no volatile/ack packet; "whoami" shows the same data and room1; the
//      middleware did not run again; an "after" emit to room1 still arrives.
// Phase "expire": the transport is killed again and the client comes back
// after the window: a new id, recovered false, nothing replayed.
//
// Prints one JSON line {ok, failures, phases: {...}, events} and exits 0 if
// every expectation held, 1 otherwise.
"use strict";

const { io } = require("sioc4");

function parseArgs(argv) {
  const opts = { url: null, window: 3, transports: ["websocket"], timeout: 30000, reconnectUrl: null,
                 expectReplayed: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[++i];
    switch (arg) {
      case "--url": opts.url = value; break;
      case "--window": opts.window = Number(value); break;
      case "--transports": opts.transports = value.split(","); break;
      case "--timeout": opts.timeout = Number(value); break;
      case "--reconnect-url": opts.reconnectUrl = value; break;
      case "--expect-replayed": opts.expectReplayed = value ? value.split(",") : []; break;
      default: throw new Error(`unknown argument: ${arg}`);
    }
  }
  if (!opts.url) throw new Error("--url is required");
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const failures = [];
const result = { ok: false, failures, phases: {}, events: [] };

function check(cond, what) {
  if (!cond) failures.push(what);
  return cond;
}

function finish() {
  result.ok = failures.length === 0;
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
}

setTimeout(() => {
  failures.push(`scenario timed out after ${opts.timeout} ms`);
  finish();
}, opts.timeout).unref();

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function once(emitter, event) {
  return new Promise((resolve) => emitter.once(event, (...args) => resolve(args)));
}

function call(socket, event, ...args) {
  return socket.timeout(5000).emitWithAck(event, ...args);
}

async function waitUntil(pred, what, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

// Like waitUntil, but a timeout is recorded as a failure and the scenario goes on.
async function expectWithin(pred, what, ms = 5000) {
  try {
    await waitUntil(pred, what, ms);
    return true;
  } catch (err) {
    failures.push(err.message);
    return false;
  }
}

async function main() {
  const control = io(opts.url + "/control", { forceNew: true, transports: ["websocket"] });
  await once(control, "connect");
  // The control channel of the server the client comes back to.
  let control2 = control;
  if (opts.reconnectUrl) {
    control2 = io(opts.reconnectUrl + "/control", { forceNew: true, transports: ["websocket"] });
    await once(control2, "connect");
  }

  const client = io(opts.url, {
    forceNew: true,
    transports: opts.transports,
    reconnectionDelay: 1000,
    reconnectionDelayMax: 1000,
    randomizationFactor: 0,
  });
  // Every event and lifecycle step, in the order the application sees them.
  const log = result.events;
  client.onAny((event, ...args) => log.push({ event, args }));
  client.on("connect", () => log.push({ connect: client.id, recovered: client.recovered }));
  client.on("disconnect", (reason) => log.push({ disconnect: reason }));

  // -- phase "recover" ----------------------------------------------------------------
  await once(client, "connect");
  const first = { id: client.id, recovered: client.recovered };
  check(first.recovered === false, "a first connection is not recovered");
  check(await call(client, "join", "room1"), "join room1");
  const before = await call(client, "whoami");
  await call(control, "emit", { to: ["room1"], event: "e0", args: ["zero"] });
  await waitUntil(() => log.some((e) => e.event === "e0"), "e0");
  const e0 = log.find((e) => e.event === "e0");
  check(e0.args.length === 2 && e0.args[0] === "zero" && typeof e0.args[1] === "string",
        `e0 carries an offset as last argument: ${JSON.stringify(e0.args)}`);
  const runsBefore = (await call(control2, "stats")).middleware_runs;

  const mark = log.length;
  if (opts.reconnectUrl) client.io.uri = opts.reconnectUrl; // come back to the other server
  client.io.engine.close(); // kill the transport, not a clean disconnect
  const reason = await call(control, "wait_disconnect", { sid: first.id, timeout_ms: 3000 });
  check(reason === "transport close" || reason === "transport error",
        `the server saw a transport loss: ${reason}`);
  const gapStarted = Date.now();
  await call(control, "emit", { to: ["room1"], event: "missed", args: [1] });
  await call(control, "direct", { sid: first.id, event: "missed", args: [2] });
  await call(control, "emit", { to: ["room1"], event: "volatile-gap", args: [], volatile: true });
  await call(control, "direct", { sid: first.id, event: "ack-gap", args: [], ack: true });
  await call(control, "emit", { to: ["room1"], event: "ackbc-gap", args: [], ack_timeout_ms: 200 });
  await call(control, "emit", { to: [], event: "missed", args: [3] });
  await call(control, "emit", { to: ["room1"], event: "missed", args: [4] });
  const gapMs = Date.now() - gapStarted;
  check(!log.slice(mark).some((e) => e.connect), `the gap (${gapMs} ms) ended before the reconnection`);

  await waitUntil(() => log.slice(mark).some((e) => e.connect), "the reconnection", 10000);
  await sleep(100); // anything replayed late would show up here
  const after = await call(client, "whoami");
  await call(control, "emit", { to: ["room1"], event: "after", args: [] });
  await expectWithin(() => log.some((e) => e.event === "after"), "\"after\" (sent to room1 after the recovery)");
  const runsAfter = (await call(control2, "stats")).middleware_runs;

  const since = log.slice(mark);
  const connectAt = since.findIndex((e) => e.connect);
  const missed = since.filter((e) => e.event === "missed");
  const recover = {
    id_before: first.id,
    id_after: client.id,
    recovered: client.recovered,
    missed: missed.map((e) => e.args),
    missed_before_connect: missed.length > 0 && since.indexOf(missed[missed.length - 1]) < connectAt,
    unexpected: since.filter((e) => e.event && !["missed", "after"].includes(e.event)).map((e) => e.event),
    whoami_before: before,
    whoami_after: after,
    middleware_runs: [runsBefore, runsAfter],
    gap_ms: gapMs,
  };
  result.phases.recover = recover;
  check(recover.id_after === first.id, "the same id after recovery");
  check(recover.recovered === true, "socket.recovered is true");
  check(JSON.stringify(missed.map((e) => e.args[0])) === "[1,2,3,4]",
        `missed packets 1..4 once each, in order: ${JSON.stringify(recover.missed)}`);
  check(missed.every((e) => e.args.length === 2 && typeof e.args[1] === "string"),
        "each missed packet carries its offset");
  check(new Set(missed.map((e) => e.args[1])).size === missed.length, "the offsets are distinct");
  check(recover.missed_before_connect, "the missed packets come before the connect event (Node sends them first)");
  check(JSON.stringify(recover.unexpected) === JSON.stringify(opts.expectReplayed),
        `no volatile or ack packet replayed (expected extra: ${opts.expectReplayed}): ${recover.unexpected}`);
  check(JSON.stringify(after.data) === JSON.stringify(before.data), "socket.data restored");
  check(after.rooms.includes("room1") && after.rooms.includes(first.id), "rooms restored");
  check(after.recovered === true, "the server sees socket.recovered");
  check(runsAfter === runsBefore, "middlewares skipped on recovery");
  check(log.filter((e) => e.event === "after").length === 1, "a later emit to room1 arrives once");

  // -- phase "expire" -----------------------------------------------------------------
  const mark2 = log.length;
  client.io.reconnectionDelay(opts.window * 1000 + 1000);
  client.io.reconnectionDelayMax(opts.window * 1000 + 1000);
  client.io.engine.close();
  await call(control2, "wait_disconnect", { sid: first.id, timeout_ms: 3000 });
  await call(control, "emit", { to: ["room1"], event: "late", args: [] });
  await waitUntil(() => log.slice(mark2).some((e) => e.connect), "the late reconnection",
                  opts.window * 1000 + 10000);
  await sleep(100);
  const fresh = await call(client, "whoami");
  const expire = {
    id_after: client.id,
    recovered: client.recovered,
    replayed: log.slice(mark2).filter((e) => e.event).map((e) => e.event),
    whoami: fresh,
  };
  result.phases.expire = expire;
  check(expire.id_after !== first.id, "a new id after the window");
  check(expire.recovered === false, "socket.recovered is false after the window");
  check(expire.replayed.length === 0, `nothing replayed after the window: ${expire.replayed}`);
  check(!fresh.rooms.includes("room1"), "rooms not restored after the window");

  client.close();
  control.close();
  control2.close();
  finish();
}

main().catch((err) => {
  failures.push(`error: ${err && err.stack || err}`);
  finish();
});
