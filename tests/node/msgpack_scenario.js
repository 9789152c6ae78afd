#!/usr/bin/env node
// The official socket.io-client 4.x with socket.io-msgpack-parser against a
// server that uses the same parser (msgpack_node_server.js, or txsocketio
// with MsgpackParser; see tests/interop/test_socketio_msgpack_interop.py).
//
//   node msgpack_scenario.js --url http://127.0.0.1:PORT --transports websocket|polling
//        [--timeout MS]
//
// Steps, in order (each one's sockets stay open until the end):
//   connect_auth  connect "/" with auth {token: "s3cret", n: 1}: "welcome"
//                 echoes the auth and the socket id; auth {token: "bad"} gets
//                 connect_error "not allowed" with data {code: 42}
//   ack           emitWithAck "echo" with text, numbers (int, float, 2**53,
//                 -2**40), null, booleans, nested objects, unicode: the ack
//                 carries them back
//   binary        "echo" with Buffers (top level, nested, 70 kB, empty) and
//                 a Date: back as Buffers and the same Date
//   server_ack    "ask": the server's "question" (with binary) is acked by
//                 the client; "answer" brings the ack arguments back
//   namespace     "/chat" multiplexed on the same connection, with its own
//                 auth: "welcome" and "echo" there; then "/chat" disconnects
//                 (a DISCONNECT packet) and "/" keeps working
//   rooms         three clients A, B, C; B and C join "r1"; A's to_room
//                 reaches B and C, not A; B's broadcast reaches A and C, not B;
//                 an "all" marker after each step makes "did not get" exact
//
// Prints one JSON line {"ok", "transport", "steps": {NAME: {"ok", "error"?}}}
// and exits 0 when every step passed, 1 otherwise.
"use strict";

const { io } = require("sioc4");
const parser = require("socket.io-msgpack-parser");
const assert = require("assert");

function parseArgs(argv) {
  const opts = { url: null, transports: ["websocket"], timeout: 30000 };
  for (let i = 0; i < argv.length; i += 2) {
    const value = argv[i + 1];
    switch (argv[i]) {
      case "--url": opts.url = value.replace(/\/+$/, ""); break;
      case "--transports": opts.transports = value.split(","); break;
      case "--timeout": opts.timeout = Number(value); break;
      default: throw new Error(`unknown argument: ${argv[i]}`);
    }
  }
  if (!opts.url) throw new Error("--url is required");
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const sockets = [];

function connect(nsp, auth, manager) {
  const options = { parser, transports: opts.transports, forceNew: !manager, reconnection: false, auth };
  const socket = manager ? manager.socket(nsp, { auth }) : io(opts.url + nsp, options);
  sockets.push(socket);
  return socket;
}

function once(socket, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${event}" within ${ms} ms`)), ms);
    socket.once(event, (...args) => { clearTimeout(timer); resolve(args); });
  });
}

async function connected(socket) {
  const welcome = once(socket, "welcome");
  await Promise.race([once(socket, "connect"), once(socket, "connect_error").then(([err]) => { throw err; })]);
  return (await welcome)[0];
}

// emit with an ack; resolves with all of the ack's arguments
function call(socket, event, ...args) {
  return new Promise((resolve, reject) => {
    socket.timeout(5000).emit(event, ...args, (err, ...answer) => (err ? reject(err) : resolve(answer)));
  });
}

// the ack's first argument
async function call1(socket, event, ...args) {
  return (await call(socket, event, ...args))[0];
}

function record(socket, into) {
  socket.onAny((event, ...args) => into.push([event, ...args]));
}

const steps = {
  async connect_auth(ctx) {
    const socket = connect("/", { token: "s3cret", n: 1 });
    const welcome = await connected(socket);
    assert.deepStrictEqual(welcome, { auth: { token: "s3cret", n: 1 }, id: socket.id, nsp: "/" });
    ctx.main = socket;
    const refused = connect("/", { token: "bad" });
    const [err] = await once(refused, "connect_error");
    assert.strictEqual(err.message, "not allowed");
    assert.deepStrictEqual(err.data, { code: 42 });
  },

  async ack(ctx) {
    const args = ["text", 42, -7, 1.5, 2 ** 53, -(2 ** 40), 1e-7, null, true, false,
      { nested: [1, { x: "é😀" }], empty: {}, list: [] }, "", "x".repeat(40000)];
    const back = await call(ctx.main, "echo", ...args);
    assert.deepStrictEqual(back, args);
    assert.deepStrictEqual(await call(ctx.main, "echo"), []);
  },

  async binary(ctx) {
    const big = Buffer.alloc(70000, 7);
    const date = new Date(1700000000123);
    const args = [Buffer.from([0, 1, 2, 255]), { inner: Buffer.from("héllo"), list: [Buffer.alloc(0)] }, big, date];
    const back = await call(ctx.main, "echo", ...args);
    assert.ok(Buffer.isBuffer(back[0]), "a Buffer comes back as a Buffer");
    assert.deepStrictEqual(back, args);
    assert.ok(back[3] instanceof Date, "a Date comes back as a Date");
  },

  async server_ack(ctx) {
    ctx.main.once("question", (question, ack) => {
      assert.deepStrictEqual(question, { text: "what?", bin: Buffer.from([0, 1, 254, 255]) });
      ack("answer", Buffer.from([9, 8]), { n: 3 });
    });
    const answer = once(ctx.main, "answer");
    assert.strictEqual(await call1(ctx.main, "ask"), true);
    assert.deepStrictEqual((await answer)[0], ["answer", Buffer.from([9, 8]), { n: 3 }]);
  },

  async namespace(ctx) {
    const chat = connect("/chat", { user: "ann" }, ctx.main.io);
    const welcome = await connected(chat);
    assert.deepStrictEqual(welcome, { auth: { user: "ann" }, id: chat.id, nsp: "/chat" });
    assert.notStrictEqual(chat.id, ctx.main.id);
    assert.deepStrictEqual(await call(chat, "echo", "in chat", Buffer.from([1])), ["in chat", Buffer.from([1])]);
    chat.disconnect();
    assert.deepStrictEqual(await call(ctx.main, "echo", "still here"), ["still here"]);
    assert.strictEqual(ctx.main.connected, true);
  },

  async rooms() {
    const names = ["A", "B", "C"];
    const got = { A: [], B: [], C: [] };
    const clients = {};
    for (const name of names) {
      clients[name] = connect("/", { token: "s3cret", name });
      await connected(clients[name]);
      record(clients[name], got[name]);
    }
    assert.strictEqual(await call1(clients.B, "join", "r1"), true);
    assert.strictEqual(await call1(clients.C, "join", "r1"), true);

    async function sync(marker) {
      const seen = names.map((name) => once(clients[name], marker));
      assert.strictEqual(await call1(clients.A, "all", { event: marker, data: marker }), true);
      await Promise.all(seen);
    }
    const events = (name) => got[name].map((e) => e[0]);

    assert.strictEqual(await call1(clients.A, "to_room", { room: "r1", event: "room_msg", data: { b: Buffer.from([1]) } }), true);
    await sync("sync1");
    assert.deepStrictEqual(got.B[0], ["room_msg", { b: Buffer.from([1]) }]);
    assert.deepStrictEqual(got.C[0], ["room_msg", { b: Buffer.from([1]) }]);
    assert.deepStrictEqual(events("A"), ["sync1"]);

    assert.strictEqual(await call1(clients.B, "broadcast", { event: "bcast", data: "from B" }), true);
    await sync("sync2");
    assert.deepStrictEqual(events("A"), ["sync1", "bcast", "sync2"]);
    assert.deepStrictEqual(events("B"), ["room_msg", "sync1", "sync2"]);
    assert.deepStrictEqual(events("C"), ["room_msg", "sync1", "bcast", "sync2"]);
    assert.deepStrictEqual(got.A[1], ["bcast", "from B"]);
  },
};

async function main() {
  const result = { ok: true, transport: opts.transports.join(","), steps: {} };
  const overall = setTimeout(() => {
    result.ok = false;
    result.error = `timed out after ${opts.timeout} ms`;
    finish(result);
  }, opts.timeout);
  const ctx = {};
  for (const [name, step] of Object.entries(steps)) {
    try {
      await step(ctx);
      result.steps[name] = { ok: true };
    } catch (e) {
      result.ok = false;
      result.steps[name] = { ok: false, error: String((e && e.stack) || e).slice(0, 2000) };
      if (!ctx.main || !ctx.main.connected) break;  // the rest depends on it
    }
  }
  if (ctx.main && ctx.main.io.engine) result.engine_transport = ctx.main.io.engine.transport.name;
  clearTimeout(overall);
  finish(result);
}

// Disconnect everything, and let the polling transports deliver their close
// packets (a POST each, written after the engine reports "close") before
// exiting, so that the server sees clean closes rather than vanished clients.
async function finish(result) {
  const engines = new Set(sockets.map((socket) => socket.io.engine).filter(Boolean));
  for (const socket of sockets) socket.disconnect();
  const pending = [...engines].filter((engine) => engine.transport && !engine.transport.writable)
    .map((engine) => Promise.race([
      new Promise((resolve) => engine.transport.once("drain", resolve)),
      new Promise((resolve) => setTimeout(resolve, 1000)),
    ]));
  await Promise.all(pending);
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(result.ok ? 0 : 1);
}

main();
