#!/usr/bin/env node
// Deeply nested echoes with the official socket.io-client 4.x, for
// tests/interop/test_abuse_depth.py and bench/abuse/.
//
//   node abuse_depth_client.js --url http://127.0.0.1:PORT --depth N
//        [--transports websocket|polling] [--raw] [--timeout MS]
//
// Without --raw: emits "echo" with an array nested N levels deep (around a
// 1) and waits for the ack.  Prints {"ok": true, "depth": <depth of the
// ack's argument>} or {"ok": false, ...}.
// With --raw: the packet is too deep for the client's own encoder (it
// recurses), so its text is built by hand and sent through the client's
// Engine.IO socket: 42["echo",[[[...1...]]]].  Prints what happened within
// the timeout: {"disconnect": reason} (and "connect_error" if the server
// refused with a CONNECT_ERROR), or {"ack": ...}, or {"timeout": true}.
// Exit status 0 when something was printed.
"use strict";

const { io } = require("sioc4");

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const url = arg("--url");
const depth = Number(arg("--depth", "100"));
const transports = arg("--transports", "websocket").split(",");
const raw = process.argv.includes("--raw");
const timeout = Number(arg("--timeout", "10000"));

function measure(value) {
  let d = 0;
  while (Array.isArray(value)) {
    d += 1;
    value = value[0];
  }
  return d;
}

const result = {};
function finish(extra) {
  Object.assign(result, extra);
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(0);
}

const socket = io(url, { transports, forceNew: true, reconnection: false, timeout });
const timer = setTimeout(() => finish({ timeout: true }), timeout);
let connected = false;
socket.on("connect_error", (err) => {
  result.connect_error = { message: err.message, data: err.data === undefined ? null : err.data };
  // A CONNECT_ERROR on a connected socket destroys it (no "disconnect" follows).
  if (connected) {
    clearTimeout(timer);
    finish({});
  }
});
socket.on("disconnect", (reason) => {
  clearTimeout(timer);
  finish({ disconnect: reason });
});
socket.on("connect", () => {
  connected = true;
  if (raw) {
    const text = '42["echo",' + "[".repeat(depth) + "1" + "]".repeat(depth) + "]";
    socket.io.engine.send(text);
    return;
  }
  let value = 1;
  for (let i = 0; i < depth; i++) value = [value];
  socket.timeout(timeout).emit("echo", value, (err, answer) => {
    clearTimeout(timer);
    socket.off("disconnect");
    socket.close();
    if (err) finish({ ok: false, error: String(err) });
    else finish({ ok: measure(answer) === depth, depth: measure(answer) });
  });
});
