#!/usr/bin/env node
// Engine.IO interop client driving the official engine.io-client.
//
//   node eio_client.js --client eioc6|eioc3 --url http://127.0.0.1:PORT
//        [--path /engine.io] [--transports polling,websocket]
//        [--upgrade true|false] [--scenario echo|heartbeat|vanish]
//        [--duration MS] [--timeout MS]
//
// --client     eioc6 = engine.io-client 6.x (protocol 4),
//              eioc3 = engine.io-client 3.x (protocol 3); both are npm
//              aliases installed in tests/node/node_modules.
// --transports comma separated; the default "polling,websocket" opens with
//              long-polling and then upgrades to WebSocket (unless
//              --upgrade false).
// --scenario   echo      send "hello", "héllo ☃ 😀" and the bytes
//                        [1,2,3,255]; expect each echoed back unchanged and
//                        with the same type.  When an upgrade is expected,
//                        wait for it and send the three messages once more
//                        over the upgraded transport.
//              heartbeat stay connected --duration ms (default 1500) and
//                        count the heartbeats, then check with one more echo
//                        that the session still works.
//              vanish    connect (and upgrade, if expected), print
//                        {"event":"open","sid":...} and exit at once without
//                        closing, so the server has to notice on its own.
//
// Prints exactly one JSON line on stdout and exits 0 on success, 1 on
// failure (2 on bad arguments).  An overall --timeout (default 10000 ms)
// prints {"ok":false,"error":"timeout",...}.
"use strict";

const path = require("path");

const USAGE = "usage: eio_client.js --client eioc6|eioc3 --url URL [--path P] " +
  "[--transports polling,websocket] [--upgrade true|false] [--force-base64 true|false] " +
  "[--scenario echo|heartbeat|vanish] [--duration MS] [--timeout MS]";

const ECHO_MESSAGES = [
  { type: "text", data: "hello" },
  { type: "text", data: "h\u00e9llo \u2603 \ud83d\ude00" },
  { type: "binary", data: [1, 2, 3, 255] },
];

function parseArgs(argv) {
  const opts = {
    client: "eioc6",
    url: null,
    path: "/engine.io",
    transports: ["polling", "websocket"],
    upgrade: true,
    forceBase64: false,
    scenario: "echo",
    duration: 1500,
    timeout: 10000,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--help" || arg === "-h") {
      process.stdout.write(USAGE + "\n");
      process.exit(0);
    }
    if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
    const value = argv[++i];
    switch (arg) {
      case "--client": opts.client = value; break;
      case "--url": opts.url = value; break;
      case "--path": opts.path = value; break;
      case "--transports":
        opts.transports = value.split(",").map((t) => t.trim()).filter(Boolean);
        break;
      case "--upgrade":
        if (value !== "true" && value !== "false") {
          throw new Error("--upgrade must be true or false");
        }
        opts.upgrade = value === "true";
        break;
      case "--force-base64": opts.forceBase64 = value === "true"; break;
      case "--scenario": opts.scenario = value; break;
      case "--duration": opts.duration = Number(value); break;
      case "--timeout": opts.timeout = Number(value); break;
      default: throw new Error(`unknown argument: ${arg}`);
    }
  }
  if (!["eioc6", "eioc3"].includes(opts.client)) {
    throw new Error(`--client must be eioc6 or eioc3, not ${opts.client}`);
  }
  if (!opts.url) throw new Error("--url is required");
  if (!["echo", "heartbeat", "vanish"].includes(opts.scenario)) {
    throw new Error(`unknown scenario: ${opts.scenario}`);
  }
  for (const t of opts.transports) {
    if (t !== "polling" && t !== "websocket") throw new Error(`unknown transport: ${t}`);
  }
  if (opts.transports.length === 0) throw new Error("--transports is empty");
  return opts;
}

// The two major versions are created differently: v3 exports a factory
// function, v6 exports a Socket class.
function connect(opts) {
  const clientOpts = {
    path: opts.path,
    transports: opts.transports,
    upgrade: opts.upgrade,
    forceBase64: opts.forceBase64,
  };
  const modulePath = path.join(__dirname, "node_modules", opts.client);
  if (opts.client === "eioc3") {
    const eio = require(modulePath);
    return eio(opts.url, clientOpts);
  }
  const { Socket } = require(modulePath);
  return new Socket(opts.url, clientOpts);
}

// Describe a received message.  In Node, text arrives as a string and binary
// as a Buffer in both versions and over both transports (checked against the
// reference server); ArrayBuffer and typed arrays are handled just in case.
function describe(data) {
  if (typeof data === "string") return { type: "text", kind: "string", data };
  if (Buffer.isBuffer(data)) return { type: "binary", kind: "Buffer", data: [...data] };
  if (data instanceof ArrayBuffer) {
    return { type: "binary", kind: "ArrayBuffer", data: [...new Uint8Array(data)] };
  }
  if (ArrayBuffer.isView(data)) {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return { type: "binary", kind: data.constructor.name, data: [...bytes] };
  }
  return { type: typeof data, kind: String(data && data.constructor && data.constructor.name),
           data: String(data) };
}

function toWire(message) {
  return message.type === "binary" ? Buffer.from(message.data) : message.data;
}

function sameMessage(expected, received) {
  return expected.type === received.type &&
    JSON.stringify(expected.data) === JSON.stringify(received.data);
}

function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err.message}\n${USAGE}\n`);
    process.exit(2);
  }

  const started = Date.now();
  const upgradeExpected = opts.upgrade && opts.transports[0] === "polling" &&
    opts.transports.includes("websocket");
  const result = {
    ok: false,
    client: opts.client,
    scenario: opts.scenario,
    transports: opts.transports,
    upgrade_expected: upgradeExpected,
    sid: null,
    transport: null,
    upgraded: false,
  };
  let finished = false;
  let socket = null;

  function finish(ok, error) {
    if (finished) return;
    finished = true;
    result.ok = ok;
    if (error) result.error = error;
    if (socket) {
      result.transport = socket.transport ? socket.transport.name : result.transport;
      result.ready_state = socket.readyState;
    }
    result.elapsed_ms = Date.now() - started;
    const line = JSON.stringify(result) + "\n";
    // Close politely (the vanish scenario exits without finish()).
    if (socket) {
      try { socket.close(); } catch (err) { /* already closed */ }
    }
    process.stdout.write(line, () => process.exit(ok ? 0 : 1));
  }

  setTimeout(() => finish(false, "timeout"), opts.timeout).unref();

  try {
    socket = connect(opts);
  } catch (err) {
    finish(false, `connect failed: ${err.message}`);
    return;
  }

  // Messages we expect back, in order; received ones are checked against it.
  const pending = [];
  const echoes = [];
  let onAllEchoed = null;

  function sendBatch(phase) {
    for (const message of ECHO_MESSAGES) {
      pending.push({ phase, sent: message });
      socket.send(toWire(message));
    }
  }

  function whenEchoed(callback) {
    if (pending.length === 0) callback();
    else onAllEchoed = callback;
  }

  socket.on("message", (data) => {
    const received = describe(data);
    const expected = pending.shift();
    if (!expected) {
      finish(false, `unexpected message: ${JSON.stringify(received)}`);
      return;
    }
    const entry = {
      phase: expected.phase,
      sent: expected.sent,
      received,
      match: sameMessage(expected.sent, received),
      transport: socket.transport.name,
    };
    echoes.push(entry);
    if (!entry.match) {
      finish(false, `echo mismatch: ${JSON.stringify(entry)}`);
      return;
    }
    if (pending.length === 0 && onAllEchoed) {
      const callback = onAllEchoed;
      onAllEchoed = null;
      callback();
    }
  });

  // Heartbeat bookkeeping.  The versions differ:
  //  * v6 (protocol 4): the SERVER sends "ping"; the socket emits "ping" when
  //    one arrives (and answers "pong" itself).
  //  * v3 (protocol 3): the CLIENT sends "ping" every pingInterval; the
  //    socket emits "ping" once it has sent one and "pong" when the server's
  //    answer arrives.
  // "packet" (incoming packets) exists in both, so count ping/pong packets
  // there too.  `heartbeats` is the number of completed round trips.
  const counts = { ping_events: 0, pong_events: 0, ping_packets_in: 0, pong_packets_in: 0 };
  socket.on("ping", () => { counts.ping_events += 1; });
  socket.on("pong", () => { counts.pong_events += 1; });
  socket.on("packet", (packet) => {
    if (packet.type === "ping") counts.ping_packets_in += 1;
    if (packet.type === "pong") counts.pong_packets_in += 1;
  });

  let upgraded = false;
  let onUpgraded = null;
  socket.on("upgrade", () => {
    upgraded = true;
    result.upgraded = true;
    if (onUpgraded) {
      const callback = onUpgraded;
      onUpgraded = null;
      callback();
    }
  });
  socket.on("upgradeError", (err) => {
    result.upgrade_error = String(err && err.message || err);
  });

  // "ready" = open, and upgraded too when an upgrade is expected.
  function whenReady(callback) {
    if (!upgradeExpected || upgraded) callback();
    else onUpgraded = callback;
  }

  socket.on("error", (err) => {
    finish(false, `error: ${err && err.message ? err.message : String(err)}`);
  });
  socket.on("close", (reason, description) => {
    let detail = "";
    if (description) {
      detail = description.message || description.description || description.context || "";
      if (typeof detail !== "string") detail = JSON.stringify(detail);
    }
    finish(false, `closed: ${reason}${detail ? ` (${detail})` : ""}`);
  });

  socket.on("open", () => {
    result.sid = socket.id;
    result.open_transport = socket.transport.name;

    if (opts.scenario === "echo") {
      result.echoes = echoes;
      sendBatch("open");
      whenEchoed(() => whenReady(() => {
        if (!upgradeExpected) {
          finish(true);
          return;
        }
        sendBatch("upgraded");
        whenEchoed(() => {
          const ok = socket.transport.name === "websocket";
          finish(ok, ok ? undefined : `not upgraded: transport is ${socket.transport.name}`);
        });
      }));
    } else if (opts.scenario === "heartbeat") {
      result.echoes = echoes;
      setTimeout(() => {
        result.heartbeats = opts.client === "eioc3" ? counts.pong_events : counts.ping_events;
        Object.assign(result, counts);
        result.still_open = socket.readyState === "open";
        if (!result.still_open) {
          finish(false, `socket is ${socket.readyState}`);
          return;
        }
        // One more round trip proves the session still works.
        pending.push({ phase: "after-heartbeat", sent: ECHO_MESSAGES[0] });
        socket.send(toWire(ECHO_MESSAGES[0]));
        whenEchoed(() => {
          const ok = result.heartbeats > 0;
          finish(ok, ok ? undefined : "no heartbeat seen");
        });
      }, opts.duration);
    } else if (opts.scenario === "vanish") {
      whenReady(() => {
        const line = JSON.stringify({
          event: "open",
          ok: true,
          client: opts.client,
          sid: socket.id,
          transport: socket.transport.name,
        }) + "\n";
        finished = true;
        // Exit without closing the socket: no close packet, the TCP
        // connections just drop.
        process.stdout.write(line, () => process.exit(0));
      });
    }
  });
}

main();
