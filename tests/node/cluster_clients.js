#!/usr/bin/env node
// A long-lived driver of many socket.io-client 4.x sockets, for the cluster
// tests (tests/test_cluster.py): the test writes one JSON command per line on
// stdin, the driver writes one JSON line per reply and per thing that happens
// on stdout.  One node process serves a whole test, however many clients it
// opens on however many servers (spawning a node per client costs ~0.25 s).
//
//   node cluster_clients.js
//
// Commands ({"id": N, "op": ..., ...}; each gets exactly one reply
// {"id": N, "ok": true, ...} or {"id": N, "ok": false, "error": "..."}):
//
//   connect     {name, url, nsp="/", transports=["websocket"], auth?, timeout=5000,
//                localAddress?}
//               localAddress: the source address of every connection (e.g.
//               127.0.0.2), so that a proxy hashing on the client address
//               (nginx ip_hash) sees different clients from one machine.
//               opens a socket (forceNew, no reconnection); replies once the
//               namespace is joined: {sid, transport}, or ok false on
//               connect_error / timeout.
//   emit        {name, event, args=[], ack=false, timeout=5000}
//               with ack: replies {ack: [...args]} when the server answers;
//               without: replies at once.
//   disconnect  {name}     socket.disconnect(); replies at once.
//   transport   {name}     {transport: "polling" | "websocket"}
//   exit        {}         closes every socket, replies, exits 0.
//
// Unsolicited lines (no "id"):
//   {"type": "event", "name", "event", "args"}     an event reached a socket
//   {"type": "disconnect", "name", "reason"}       a socket was disconnected
//
// A server event that asks for an acknowledgement is answered with one
// argument {"name": <socket name>, "event", "args"}.
//
// Binary values travel as {"$bin": "<base64>"} both ways.
"use strict";

const { toJson, fromJson } = require("./binjson");

const http = require("http");
const readline = require("readline");
const { io } = require("sioc4");

const sockets = new Map();

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function socketNamed(name) {
  const socket = sockets.get(name);
  if (!socket) throw new Error(`no socket named ${JSON.stringify(name)}`);
  return socket;
}

function connect(cmd) {
  return new Promise((resolve, reject) => {
    if (sockets.has(cmd.name)) throw new Error(`socket ${cmd.name} exists already`);
    const url = cmd.url.replace(/\/+$/, "") + (cmd.nsp && cmd.nsp !== "/" ? cmd.nsp : "");
    const socket = io(url, {
      forceNew: true,
      reconnection: false,
      transports: cmd.transports || ["websocket"],
      auth: cmd.auth || {},
      timeout: cmd.timeout || 5000,
      ...(cmd.localAddress ? {
        agent: new http.Agent({ localAddress: cmd.localAddress }), // polling (xmlhttprequest-ssl)
        localAddress: cmd.localAddress, // websocket (ws)
      } : {}),
    });
    sockets.set(cmd.name, socket);
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`connect timed out (${cmd.timeout || 5000} ms)`));
    }, cmd.timeout || 5000);
    socket.onAny((event, ...args) => {
      const last = args[args.length - 1];
      if (typeof last === "function") {
        const ack = args.pop();
        ack({ name: cmd.name, event, args: toJson(args) });
      }
      out({ type: "event", name: cmd.name, event, args: toJson(args) });
    });
    socket.on("disconnect", (reason) => out({ type: "disconnect", name: cmd.name, reason }));
    socket.on("connect", () => {
      clearTimeout(timer);
      resolve({ sid: socket.id, transport: socket.io.engine.transport.name });
    });
    socket.on("connect_error", (err) => {
      clearTimeout(timer);
      socket.close();
      sockets.delete(cmd.name);
      reject(new Error(`connect_error: ${err.message}`));
    });
  });
}

function emit(cmd) {
  const socket = socketNamed(cmd.name);
  const args = fromJson(cmd.args || []);
  if (!cmd.ack) {
    socket.emit(cmd.event, ...args);
    return Promise.resolve({});
  }
  return socket.timeout(cmd.timeout || 5000).emitWithAck(cmd.event, ...args)
    .then((ack) => ({ ack: toJson([ack]) }));
}

const OPS = {
  connect,
  emit,
  disconnect(cmd) {
    socketNamed(cmd.name).disconnect();
    return Promise.resolve({});
  },
  transport(cmd) {
    const socket = socketNamed(cmd.name);
    return Promise.resolve({ transport: socket.io.engine ? socket.io.engine.transport.name : null });
  },
  exit() {
    for (const socket of sockets.values()) socket.close();
    setTimeout(() => process.exit(0), 20);
    return Promise.resolve({});
  },
};

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (!line.trim()) return;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    out({ type: "error", error: `bad JSON: ${e.message}` });
    return;
  }
  const op = OPS[cmd.op];
  Promise.resolve()
    .then(() => {
      if (!op) throw new Error(`unknown op ${cmd.op}`);
      return op(cmd);
    })
    .then((result) => out({ id: cmd.id, ok: true, ...result }),
          (err) => out({ id: cmd.id, ok: false, error: String(err && err.message || err) }));
});
// stdin closed (the test ended or died): leave.
rl.on("close", () => {
  for (const socket of sockets.values()) socket.close();
  setTimeout(() => process.exit(0), 20);
});
