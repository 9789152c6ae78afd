#!/usr/bin/env node
// Socket.IO interop client driving the official socket.io-client (4.x, 3.x, 2.x)
// against tests/apps/interop_app.py (see its docstring for the server side).
//
//   node sio_client.js --client sioc4|sioc3|sioc2 --url http://127.0.0.1:PORT
//        [--transports polling,websocket] [--scenario NAME[,NAME...]|all]
//        [--timeout MS] [--scenario-timeout MS]
//
// --client      sioc4 = socket.io-client 4.x, sioc3 = 3.x (both protocol v5 on
//               Engine.IO 4), sioc2 = 2.x (protocol v4 on Engine.IO 3); npm
//               aliases installed in tests/node/node_modules.
// --transports  comma separated.  "polling,websocket" (the default) opens with
//               long-polling and upgrades to WebSocket; scenarios that care
//               wait for the upgrade.
// --scenario    one or more of the scenarios below (comma separated), or
//               "all" (every one but vanish, in the order listed).  Each runs with its
//               own sockets (forceNew: true, no reconnection), which it closes
//               before the next starts; a failing scenario does not stop the
//               others.
//
//   server_ack_all    two sockets answer "ping_all"; one emits
//                     "server_ack_all" (the server's sio.timeout(2).emit_with_ack
//                     to everyone) and gets both answers back, as an event and
//                     as the ack.  Runs first in "all": it needs to be alone on
//                     the server.
//   connect           connect with auth {token, n} and query {q}; the server's
//                     "auth" event echoes them (2.x has no auth: everything
//                     travels in the query, and the server sees auth {}).
//   echo              "echo" acks carry back text, numbers, null, booleans,
//                     nested objects, unicode, binary (top level, nested,
//                     several), no arguments.  Upgrade mode: again after the
//                     upgrade, over WebSocket.
//   burst             60 "echo" calls in flight at once (binary, nested
//                     binary, a 300 kB buffer, a 200 kB unicode string); every
//                     ack matches its call.  Upgrade mode: the upgrade
//                     happens halfway.
//   ask               the server's emit_with_ack: "question" (with binary) is
//                     answered with an ack holding text + binary; the server
//                     emits it back in "answer".
//   namespace         "/" and the class-based "/chat" multiplexed on one
//                     connection (welcome event with auth, echo with binary),
//                     plus a second "/chat" client: "say" reaches the other
//                     lobby member only and is acked "delivered".  2.x: the
//                     auth travels as the namespace query (40/chat?user=ann,),
//                     which Node's server hands over as handshake.auth.
//   refuse            "/refuse" (middleware) -> connect_error "not allowed"
//                     with data {code: 42}; 2.x: the "error" event with the
//                     payload, which Node makes `err.data || err.message`
//                     ({code: 42}) for 2.x clients.  Once on a
//                     connection of its own, once multiplexed next to "/",
//                     which keeps working.
//   private           "/private" without and with a wrong token is refused
//                     ("bad token", {code: 401}); with token "s3cret" (auth;
//                     2.x: query) it connects and gets "private_ok".
//   rooms             three sockets A, B, C; A and B join "r1"; to_room from
//                     inside and outside the room, broadcast, all,
//                     to_room_except, rooms, leave.  After every step the
//                     sender emits an "all" sync marker, so "did not receive"
//                     is exact, not a sleep.
//   server_disconnect the server calls socket.disconnect(): the client sees
//                     "io server disconnect", the server "server namespace
//                     disconnect" (asked with last_disconnect from a second
//                     socket).
//   client_disconnect the client disconnects "/chat" (multiplexed with "/",
//                     which keeps working) and then "/": the server sees
//                     "client namespace disconnect" for both.
//   transport_close   the client closes its Engine.IO connection under the
//                     socket (socket.io.engine.close()): the server sees
//                     "transport close".
//   vanish            connect (and upgrade, if expected), then exit without
//                     closing: no DISCONNECT, no Engine.IO close, the TCP
//                     connections just drop.  The server has to notice on its
//                     own (its log says how).  Only as the last scenario.
//
// Prints exactly one JSON line on stdout:
//   {"ok":..., "client":..., "transports":[...], "scenarios":{NAME:{"ok":...,
//    "error"?:..., ...details}}, "elapsed_ms":...}
// and exits 0 when every scenario passed, 1 otherwise (2 on bad arguments).
// An overall --timeout (default 60000 ms) reports the unfinished scenarios as
// failed.  --scenario-timeout (default 6000 ms) bounds each scenario and
// each wait inside one.
"use strict";

const path = require("path");

const USAGE = "usage: sio_client.js --client sioc4|sioc3|sioc2 --url URL " +
  "[--transports polling,websocket] [--scenario NAME[,NAME...]|all] " +
  "[--timeout MS] [--scenario-timeout MS]";

const CLIENTS = ["sioc4", "sioc3", "sioc2"];
const SECRET = "s3cret";

// ---------------------------------------------------------------------------
// Arguments

function parseArgs(argv) {
  const opts = {
    client: "sioc4",
    url: null,
    transports: ["polling", "websocket"],
    scenarios: ["all"],
    timeout: 60000,
    scenarioTimeout: 6000,
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
      case "--url": opts.url = value.replace(/\/+$/, ""); break;
      case "--transports":
        opts.transports = value.split(",").map((t) => t.trim()).filter(Boolean);
        break;
      case "--scenario":
        opts.scenarios = value.split(",").map((s) => s.trim()).filter(Boolean);
        break;
      case "--timeout": opts.timeout = Number(value); break;
      case "--scenario-timeout": opts.scenarioTimeout = Number(value); break;
      default: throw new Error(`unknown argument: ${arg}`);
    }
  }
  if (!CLIENTS.includes(opts.client)) {
    throw new Error(`--client must be one of ${CLIENTS.join(", ")}, not ${opts.client}`);
  }
  if (!opts.url) throw new Error("--url is required");
  for (const t of opts.transports) {
    if (t !== "polling" && t !== "websocket") throw new Error(`unknown transport: ${t}`);
  }
  if (opts.transports.length === 0) throw new Error("--transports is empty");
  if (opts.scenarios.length === 1 && opts.scenarios[0] === "all") {
    opts.scenarios = Object.keys(SCENARIOS).filter((s) => s !== "vanish");
  }
  for (const s of opts.scenarios) {
    if (!SCENARIOS[s]) throw new Error(`unknown scenario: ${s}`);
  }
  const vanish = opts.scenarios.indexOf("vanish");
  if (vanish !== -1 && vanish !== opts.scenarios.length - 1) {
    throw new Error("vanish can only be the last scenario");
  }
  return opts;
}

// ---------------------------------------------------------------------------
// Values: binary normalised for comparison

// Every binary value (Buffer, ArrayBuffer, typed array) becomes {$bin: [bytes]};
// the kinds seen are counted in `kinds`.
function norm(value, kinds, depth = 0) {
  if (depth > 32) return "<too deep>";
  if (Buffer.isBuffer(value)) {
    if (kinds) kinds.Buffer = (kinds.Buffer || 0) + 1;
    return { $bin: [...value] };
  }
  if (value instanceof ArrayBuffer) {
    if (kinds) kinds.ArrayBuffer = (kinds.ArrayBuffer || 0) + 1;
    return { $bin: [...new Uint8Array(value)] };
  }
  if (ArrayBuffer.isView(value)) {
    if (kinds) kinds[value.constructor.name] = (kinds[value.constructor.name] || 0) + 1;
    return { $bin: [...new Uint8Array(value.buffer, value.byteOffset, value.byteLength)] };
  }
  if (Array.isArray(value)) return value.map((v) => norm(v, kinds, depth + 1));
  if (value && typeof value === "object") {
    const out = {};
    for (const key of Object.keys(value)) out[key] = norm(value[key], kinds, depth + 1);
    return out;
  }
  return value;
}

// JSON with sorted keys, `undefined` as null: a canonical form for comparisons.
function canon(value) {
  if (value === undefined) return "null";
  if (Array.isArray(value)) return "[" + value.map(canon).join(",") + "]";
  if (value && typeof value === "object") {
    return "{" + Object.keys(value).sort()
      .map((k) => JSON.stringify(k) + ":" + canon(value[k])).join(",") + "}";
  }
  return JSON.stringify(value);
}

function same(a, b) {
  return canon(a) === canon(b);
}

function expectSame(what, actual, expected) {
  if (!same(actual, expected)) {
    throw new Error(`${what}: expected ${canon(expected)}, got ${canon(actual)}`);
  }
}

function expect(what, condition, detail) {
  if (!condition) throw new Error(detail === undefined ? what : `${what}: ${canon(detail)}`);
}

// ---------------------------------------------------------------------------
// The client library, across three major versions

class Client {
  constructor(opts) {
    this.opts = opts;
    this.name = opts.client;
    this.v2 = opts.client === "sioc2";
    const lib = require(path.join(__dirname, "node_modules", opts.client));
    this.io = typeof lib === "function" ? lib : lib.io;
    this.sockets = [];
    this.scenarioTimeout = opts.scenarioTimeout;
    this.upgradeExpected = opts.transports[0] === "polling" && opts.transports.includes("websocket");
  }

  // Options for io() / manager.socket(): auth where the version has it; in
  // 2.x everything goes into the query (auth values as strings).
  socketOptions(auth, query) {
    const options = {};
    if (this.v2) {
      const merged = Object.assign({}, query || {});
      for (const [k, v] of Object.entries(auth || {})) merged[k] = String(v);
      if (Object.keys(merged).length) options.query = merged;
    } else {
      if (auth) options.auth = auth;
      if (query) options.query = query;
    }
    return options;
  }

  // A socket on a new connection (forceNew) to namespace `nsp`.
  open(nsp, { auth, query } = {}) {
    const options = Object.assign({
      transports: this.opts.transports,
      forceNew: true,
      reconnection: false,
      timeout: this.scenarioTimeout,
    }, this.socketOptions(auth, query));
    const socket = this.io(this.opts.url + (nsp === "/" ? "" : nsp), options);
    return this.track(socket);
  }

  // A socket for `nsp` multiplexed on the connection of `base`.
  multiplex(base, nsp, { auth, query } = {}) {
    return this.track(base.io.socket(nsp, this.socketOptions(auth, query)));
  }

  track(socket) {
    this.sockets.push(socket);
    socket.__events = [];
    socket.__disconnects = [];
    socket.on("disconnect", (reason) => socket.__disconnects.push(reason));
    return socket;
  }

  // Resolves when connected; rejects with {refused: {message, data}} when the
  // server refuses (connect_error in 3.x/4.x; "error" in 2.x).
  connected(socket, what = "connect") {
    return withTimeout(new Promise((resolve, reject) => {
      if (socket.connected) {
        resolve(socket);
        return;
      }
      const cleanup = () => {
        socket.off("connect", onConnect);
        socket.off("connect_error", onConnectError);
        socket.off("error", onError);
      };
      const onConnect = () => { cleanup(); resolve(socket); };
      const onConnectError = (err) => {
        cleanup();
        reject(refusal(err && err.message, err && err.data, "connect_error"));
      };
      const onError = (payload) => {
        // 2.x reports a CONNECT_ERROR packet as "error" with its payload.
        cleanup();
        const isObject = payload !== null && typeof payload === "object";
        const message = isObject ? payload.message : payload;
        const data = isObject ? payload.data : undefined;
        reject(refusal(message, data, "error", payload));
      };
      socket.on("connect", onConnect);
      socket.on("connect_error", onConnectError);
      socket.on("error", onError);
    }), this.scenarioTimeout, `${what}: no connect`);
  }

  // Resolves with the arguments of the next `event` on `socket`.
  next(socket, event, what) {
    return withTimeout(new Promise((resolve) => {
      socket.once(event, (...args) => resolve(args));
    }), this.scenarioTimeout, what || `no "${event}" event`);
  }

  // Emit with an ack -> the list of the ack's arguments.
  call(socket, event, ...args) {
    return withTimeout(new Promise((resolve) => {
      socket.emit(event, ...args, (...ack) => resolve(ack));
    }), this.scenarioTimeout, `no ack for "${event}"`);
  }

  transportOf(socket) {
    const engine = socket.io && socket.io.engine;
    return engine && engine.transport ? engine.transport.name : null;
  }

  // In upgrade mode, wait until `socket`'s connection runs on WebSocket.
  async upgraded(socket) {
    if (!this.upgradeExpected) return this.transportOf(socket);
    const engine = socket.io.engine;
    if (engine.transport.name !== "websocket") {
      await withTimeout(new Promise((resolve) => engine.once("upgrade", resolve)),
        this.scenarioTimeout, "no upgrade to websocket");
    }
    return this.transportOf(socket);
  }

  // Ask the server (through `via`) how the socket `sid` last disconnected;
  // retries until it knows (the disconnect travels on another connection).
  async lastDisconnect(via, sid) {
    const deadline = Date.now() + this.scenarioTimeout - 500;
    for (;;) {
      const [reason] = await this.call(via, "last_disconnect", sid);
      if (reason !== null && reason !== undefined) return reason;
      if (Date.now() > deadline) return null;
      await sleep(50);
    }
  }

  closeAll() {
    for (const socket of this.sockets) {
      try {
        if (socket.connected) socket.disconnect();
        if (socket.io) socket.io.disconnect();  // the Manager: closes the connection
      } catch (err) { /* already closed */ }
    }
    this.sockets = [];
  }
}

function refusal(message, data, via, raw) {
  const err = new Error(`refused: ${message}`);
  err.refused = { message: message === undefined ? null : message,
                  data: data === undefined ? null : data, via };
  if (via === "error") err.refused.raw = norm(raw);  // 2.x: the CONNECT_ERROR payload
  return err;
}

// 3.x/4.x: connect_error with err.message and err.data.  2.x: the "error"
// event with the CONNECT_ERROR payload, which Node's server makes
// `err.data || err.message` for 2.x clients (socket.io 4.8 namespace.js),
// not {message, data}.
function checkRefusal(client, r, message, data) {
  if (!client.v2) {
    expectSame("refused via", r.via, "connect_error");
    expectSame("refusal", { message: r.message, data: r.data }, { message, data });
    return;
  }
  expectSame("refused via (2.x)", r.via, "error");
  expectSame("2.x \"error\" payload (Node: err.data || err.message)", r.raw, data);
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// Expect `promise` (from Client.connected) to be refused.
async function refused(promise, what) {
  try {
    await promise;
  } catch (err) {
    if (err.refused) return err.refused;
    throw err;
  }
  throw new Error(`${what}: connected, but should have been refused`);
}

// ---------------------------------------------------------------------------
// Scenarios: async (client, result) -> throws on failure; details go in `result`.

const ECHO_CASES = [
  { name: "text", args: ["hello"] },
  { name: "numbers", args: [1, 2.5, -3, 0, 1e21] },
  { name: "literals", args: [true, false, null] },
  { name: "nested", args: [{ a: [1, { b: "c" }], d: { e: { f: [] } }, g: "" }] },
  { name: "unicode", args: ["h\u00e9llo \u2603 \ud83d\ude00", { "cl\u00e9": "\u4e2d\u6587" }] },
  { name: "binary", args: [Buffer.from([1, 2, 3, 255])] },
  { name: "empty binary", args: [Buffer.alloc(0)] },
  {
    name: "binary nested",
    args: ["text", {
      bin: Buffer.from([0, 1, 2]),
      list: [Buffer.from([3]), "x", { deep: Buffer.from([4, 5]) }],
    }],
  },
  { name: "no arguments", args: [] },
];

async function echoBatch(client, socket, phase, kinds) {
  const results = [];
  for (const c of ECHO_CASES) {
    const ack = await client.call(socket, "echo", ...c.args);
    const got = norm(ack, kinds);
    const want = norm(c.args);
    results.push({ phase, name: c.name, ok: same(got, want), transport: client.transportOf(socket) });
    expectSame(`echo ${c.name} (${phase})`, got, want);
  }
  return results;
}

const SCENARIOS = {
  async server_ack_all(client, result) {
    const a = client.open("/");
    const b = client.open("/");
    a.on("ping_all", (...args) => { const ack = args.pop(); ack({ from: "A", args: norm(args) }); });
    b.on("ping_all", (...args) => { const ack = args.pop(); ack({ from: "B", args: norm(args) }); });
    await Promise.all([client.connected(a), client.connected(b)]);
    await Promise.all([client.upgraded(a), client.upgraded(b)]);
    const event = client.next(a, "server_ack_all_result");
    const [ack] = await client.call(a, "server_ack_all", "hi", 7);
    const [emitted] = await event;
    result.ack = ack;
    result.event = emitted;
    expect("ack is {ok: true}", ack && ack.ok === true, ack);
    const responses = [...ack.responses].sort((x, y) => (x.from < y.from ? -1 : 1));
    expectSame("responses", responses, [{ from: "A", args: ["hi", 7] }, { from: "B", args: ["hi", 7] }]);
    expectSame("server_ack_all_result event", emitted, ack);
  },

  async connect(client, result) {
    const auth = { token: "abc", n: 1 };
    const query = { q: "1" };
    const socket = client.open("/", { auth, query });
    const authEvent = client.next(socket, "auth", "no \"auth\" event");
    await client.connected(socket);
    const [seen] = await authEvent;
    result.socket_id = socket.id;
    result.seen = seen;
    expect("socket.id is set", typeof socket.id === "string" && socket.id.length > 0, socket.id);
    expectSame("server's socket id", seen.id, socket.id);
    expectSame("namespace", seen.nsp, "/");
    expectSame("query q", seen.query.q, "1");
    expect("query EIO", seen.query.EIO === (client.v2 ? "3" : "4"), seen.query);
    if (client.v2) {
      // No auth in 2.x: the server sees {} and the values in the query.
      expectSame("auth (2.x: none)", seen.auth, {});
      expectSame("query token", seen.query.token, "abc");
      expectSame("query n", seen.query.n, "1");
    } else {
      expectSame("auth", seen.auth, auth);
    }
    const [hs] = await client.call(socket, "handshake");
    result.handshake_transport = hs.transport;
    expectSame("handshake id", hs.id, socket.id);
    result.transport = await client.upgraded(socket);
    const [hs2] = await client.call(socket, "handshake");
    expectSame("server-side transport", hs2.transport, result.transport);
  },

  async echo(client, result) {
    const socket = client.open("/");
    await client.connected(socket);
    const kinds = {};
    result.echoes = await echoBatch(client, socket, "open", kinds);
    if (client.upgradeExpected) {
      result.transport = await client.upgraded(socket);
      expectSame("transport after upgrade", result.transport, "websocket");
      result.echoes.push(...await echoBatch(client, socket, "upgraded", kinds));
    }
    result.transport = client.transportOf(socket);
    result.binary_kinds = kinds;
  },

  async burst(client, result) {
    // 60 echoes in flight at once (text, binary, a 200 kB string and a
    // 300 kB buffer among them): each ack must match its own call.
    const socket = client.open("/");
    await client.connected(socket);
    const big = Buffer.alloc(300 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    const bigText = "\u00e9\u2603x".repeat(200 * 1024 / 3);
    const calls = [];
    for (let i = 0; i < 60; i++) {
      let args;
      if (i === 10) args = [i, big];
      else if (i === 20) args = [i, bigText];
      else if (i % 3 === 0) args = [i, Buffer.from([i, 255 - i])];
      else if (i % 3 === 1) args = [i, { n: i, list: [Buffer.from([i]), "t"] }];
      else args = [i, `text ${i} \u2603`];
      calls.push(client.call(socket, "echo", ...args)
        .then((ack) => ({ i, ok: same(norm(ack), norm(args)) })));
      if (i === 30 && client.upgradeExpected) {
        // Half of them cross the upgrade.
        await client.upgraded(socket);
      }
    }
    const done = await Promise.all(calls);
    const wrong = done.filter((d) => !d.ok).map((d) => d.i);
    result.count = done.length;
    result.transport = client.transportOf(socket);
    expectSame("echoes that came back different", wrong, []);
  },

  async ask(client, result) {
    const socket = client.open("/");
    const kinds = {};
    socket.on("question", (data, ack) => {
      result.question = norm(data, kinds);
      ack("answer!", Buffer.from([9, 8, 7]), { nested: Buffer.from([6]) });
    });
    await client.connected(socket);
    await client.upgraded(socket);
    const answer = client.next(socket, "answer");
    const [ack] = await client.call(socket, "ask", "why?", 42);
    expectSame("ask ack", ack, true);
    const [got] = await answer;
    result.answer = norm(got, kinds);
    result.binary_kinds = kinds;
    expectSame("question", result.question,
      { text: "what?", bin: { $bin: [0, 1, 254, 255] }, args: ["why?", 42] });
    expectSame("answer", result.answer,
      ["answer!", { $bin: [9, 8, 7] }, { nested: { $bin: [6] } }]);
    result.transport = client.transportOf(socket);
  },

  async namespace(client, result) {
    const root = client.open("/");
    const welcome = client.next(root, "auth");
    await client.connected(root);
    await welcome;
    const auth = { user: "ann" };
    const chat = client.multiplex(root, "/chat", { auth });
    const chatWelcome = client.next(chat, "welcome");
    await client.connected(chat, "connect /chat");
    const [w] = await chatWelcome;
    result.welcome = w;
    expect("multiplexed on one connection", chat.io === root.io);
    expectSame("welcome nsp", w.nsp, "/chat");
    expectSame("welcome id", w.id, chat.id);
    if (client.v2) {
      expectSame("2.x socket id in /chat", chat.id, `/chat#${root.io.engine.id}`);
      // Node makes the query of a 2.x client's CONNECT packet
      // (40/chat?user=ann,) that socket's handshake.auth (client.js _parseNamespace).
      expectSame("welcome auth (2.x: the namespace query)", w.auth, auth);
    } else {
      expectSame("welcome auth", w.auth, auth);
      expect("/chat id differs from / id", chat.id !== root.id, [chat.id, root.id]);
    }
    const payload = ["chat", { bin: Buffer.from([7, 7]) }];
    const ack = await client.call(chat, "echo", ...payload);
    expectSame("/chat echo", norm(ack), norm(payload));
    const rootAck = await client.call(root, "echo", "root");
    expectSame("/ echo still works", rootAck, ["root"]);

    // A second lobby member on its own connection; "say" reaches only it.
    const other = client.open("/chat", { auth: { user: "bob" } });
    const otherWelcome = client.next(other, "welcome");
    await client.connected(other, "connect second /chat");
    await otherWelcome;
    const selfSaid = [];
    chat.on("said", (m) => selfSaid.push(m));
    const said = client.next(other, "said");
    const [delivered] = await client.call(chat, "say", "hi lobby");
    const [m] = await said;
    result.said = m;
    expectSame("say ack", delivered, "delivered");
    expectSame("said", m, { from: chat.id, text: "hi lobby" });
    // Sync: one more round trip on chat; a wrongly echoed "said" would be here by now.
    await client.call(chat, "echo", "sync");
    expectSame("the sender does not get its own \"said\"", selfSaid, []);
    result.transport = await client.upgraded(chat);
  },

  async refuse(client, result) {
    // On a connection of its own...
    const socket = client.open("/refuse");
    const r = await refused(client.connected(socket, "connect /refuse"), "/refuse");
    result.refusal = r;
    checkRefusal(client, r, "not allowed", { code: 42 });
    expect("not connected", !socket.connected);
    // ...and multiplexed next to "/", which keeps working.
    const root = client.open("/");
    await client.connected(root, "connect /");
    const again = client.multiplex(root, "/refuse");
    const r2 = await refused(client.connected(again, "connect /refuse next to /"), "/refuse next to /");
    checkRefusal(client, r2, "not allowed", { code: 42 });
    expectSame("echo on / after the refusal", await client.call(root, "echo", 1), [1]);
    result.transport = await client.upgraded(root);
  },

  async private(client, result) {
    const none = client.open("/private");
    const r1 = await refused(client.connected(none, "connect /private without token"), "no token");
    const wrong = client.open("/private", { auth: { token: "nope" } });
    const r2 = await refused(client.connected(wrong, "connect /private with a wrong token"), "wrong token");
    result.refusals = [r1, r2];
    for (const r of [r1, r2]) checkRefusal(client, r, "bad token", { code: 401 });
    const good = client.open("/private", { auth: { token: SECRET } });
    const ok = client.next(good, "private_ok");
    await client.connected(good, "connect /private with the token");
    const [hello] = await ok;
    expectSame("private_ok id", hello.id, good.id);
    expectSame("/private echo", await client.call(good, "echo", "in"), ["in"]);
    result.transport = await client.upgraded(good);
  },

  async rooms(client, result) {
    const names = ["A", "B", "C"];
    const socks = {};
    const inbox = {};
    for (const n of names) {
      socks[n] = client.open("/");
      inbox[n] = [];
      socks[n].on("room_msg", (data) => inbox[n].push(data));
      socks[n].on("sync", (marker) => inbox[n].push(`sync:${marker}`));
    }
    await Promise.all(names.map((n) => client.connected(socks[n], `connect ${n}`)));
    await Promise.all(names.map((n) => client.upgraded(socks[n])));
    const { A, B, C } = socks;
    expectSame("A joins r1", await client.call(A, "join", "r1"), [true]);
    expectSame("B joins r1", await client.call(B, "join", "r1"), [true]);
    const [rooms] = await client.call(A, "rooms");
    result.rooms_of_A = rooms;
    expectSame("A's rooms", rooms, [A.id, "r1"].sort());

    const steps = [];
    let counter = 0;
    // `from` emits `event` with `spec`, then an "all" sync marker; once every
    // socket has the marker, compare what each got in between.
    async function step(label, from, event, spec, expected) {
      counter += 1;
      const marker = `${counter}`;
      for (const n of names) inbox[n].length = 0;
      const synced = names.map((n) => withTimeout(new Promise((resolve) => {
        const check = () => (inbox[n].includes(`sync:${marker}`) ? resolve() : setTimeout(check, 5));
        check();
      }), client.scenarioTimeout, `${n} did not get sync ${marker} (${label})`));
      expectSame(`${label}: ack`, await client.call(socks[from], event, spec), [true]);
      await client.call(socks[from], "all", { event: "sync", data: marker });
      await Promise.all(synced);
      const got = {};
      for (const n of names) got[n] = inbox[n].filter((m) => m !== `sync:${marker}`);
      steps.push({ label, got });
      expectSame(label, got, expected);
    }

    const msg = (text) => ({ event: "room_msg", data: text });
    await step("to_room r1 from A (member)", "A", "to_room", { room: "r1", ...msg("a") },
      { A: [], B: ["a"], C: [] });
    await step("to_room r1 from C (not a member)", "C", "to_room", { room: "r1", ...msg("c") },
      { A: ["c"], B: ["c"], C: [] });
    await step("broadcast from A", "A", "broadcast", msg("b"), { A: [], B: ["b"], C: ["b"] });
    await step("all from A", "A", "all", msg("all"), { A: ["all"], B: ["all"], C: ["all"] });
    await step("sio.to(r1).except_(B) from C", "C", "to_room_except",
      { room: "r1", except: B.id, ...msg("x") }, { A: ["x"], B: [], C: [] });
    await step("to_room <B's id> from A", "A", "to_room", { room: B.id, ...msg("dm") },
      { A: [], B: ["dm"], C: [] });
    expectSame("B leaves r1", await client.call(B, "leave", "r1"), [true]);
    await step("to_room r1 from C after B left", "C", "to_room", { room: "r1", ...msg("l") },
      { A: ["l"], B: [], C: [] });
    result.steps = steps;
    result.transport = client.transportOf(A);
  },

  async server_disconnect(client, result) {
    const a = client.open("/");
    const b = client.open("/");
    await Promise.all([client.connected(a), client.connected(b)]);
    await client.upgraded(a);
    const sid = a.id;
    const gone = client.next(a, "disconnect", "no disconnect after server_disconnect");
    a.emit("server_disconnect");
    const [reason] = await gone;
    result.client_reason = reason;
    expectSame("client-side reason", reason, "io server disconnect");
    expect("a is disconnected", !a.connected);
    result.server_reason = await client.lastDisconnect(b, sid);
    expectSame("server-side reason", result.server_reason, "server namespace disconnect");
  },

  async client_disconnect(client, result) {
    const a = client.open("/");
    const b = client.open("/");
    await Promise.all([client.connected(a), client.connected(b)]);
    await client.upgraded(a);
    const chat = client.multiplex(a, "/chat");
    await client.connected(chat, "connect /chat");
    const chatId = chat.id;
    chat.disconnect();
    result.chat_server_reason = await client.lastDisconnect(b, chatId);
    expectSame("server-side reason for /chat", result.chat_server_reason, "client namespace disconnect");
    expectSame("\"/\" still works on that connection", await client.call(a, "echo", "still"), ["still"]);
    const sid = a.id;
    a.disconnect();
    result.client_reason = a.__disconnects[0];
    expectSame("client-side reason", result.client_reason, "io client disconnect");
    result.server_reason = await client.lastDisconnect(b, sid);
    expectSame("server-side reason for /", result.server_reason, "client namespace disconnect");
  },

  // Connect (and upgrade, if expected), then exit without closing anything:
  // the server has to notice on its own.  Must be the last scenario.
  async vanish(client, result) {
    const socket = client.open("/");
    await client.connected(socket);
    result.transport = await client.upgraded(socket);
    // A round trip, so that a long-poll is pending again when we go.
    await client.call(socket, "echo", 1);
    result.socket_id = socket.id;
    client.vanish = true;
  },

  async transport_close(client, result) {
    const a = client.open("/");
    const b = client.open("/");
    await Promise.all([client.connected(a), client.connected(b)]);
    result.transport = await client.upgraded(a);
    const sid = a.id;
    const gone = client.next(a, "disconnect", "no disconnect after engine.close()");
    a.io.engine.close();
    [result.client_reason] = await gone;
    result.server_reason = await client.lastDisconnect(b, sid);
    expectSame("server-side reason", result.server_reason, "transport close");
  },
};

// ---------------------------------------------------------------------------

async function runScenarios(opts, output) {
  for (const name of opts.scenarios) {
    const client = new Client(opts);
    const result = { ok: false };
    output.scenarios[name] = result;
    const started = Date.now();
    try {
      await withTimeout(SCENARIOS[name](client, result), opts.scenarioTimeout,
        `scenario ${name} did not finish`);
      result.ok = true;
    } catch (err) {
      result.error = err && err.message ? err.message : String(err);
    } finally {
      result.elapsed_ms = Date.now() - started;
      if (!client.vanish) client.closeAll();
    }
  }
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
  const output = {
    ok: false,
    client: opts.client,
    version: require(path.join(__dirname, "node_modules", opts.client, "package.json")).version,
    transports: opts.transports,
    scenarios: {},
  };
  let finished = false;

  function finish() {
    if (finished) return;
    finished = true;
    for (const name of opts.scenarios) {
      const r = output.scenarios[name];
      if (!r) {
        output.scenarios[name] = { ok: false, error: "not run (overall timeout)" };
      } else if (!r.ok && !r.error) {
        r.error = "overall timeout";
      }
    }
    output.ok = opts.scenarios.every((name) => output.scenarios[name].ok);
    output.failed = opts.scenarios.filter((name) => !output.scenarios[name].ok);
    output.elapsed_ms = Date.now() - started;
    process.stdout.write(JSON.stringify(output) + "\n", () => process.exit(output.ok ? 0 : 1));
  }

  setTimeout(finish, opts.timeout).unref();
  runScenarios(opts, output).then(finish, (err) => {
    output.error = String(err && err.stack || err);
    finish();
  });
}

main();
