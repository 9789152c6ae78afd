#!/usr/bin/env node
// The reference for msgpack_scenario.js: Node's socket.io 4.8 server with
// socket.io-msgpack-parser, on 127.0.0.1.  txsocketio's equivalent lives in
// tests/interop/test_socketio_msgpack_interop.py (build_server); keep them alike.
//
//   node msgpack_node_server.js --port PORT
//
// Prints {"listening": PORT} once the port is open; stops on SIGTERM.
//
// "/"      a middleware refuses auth {token: "bad"} with
//          Error("not allowed") and data {code: 42} (CONNECT_ERROR);
//          on connect emits "welcome" {auth, id, nsp}.
//          echo(...args, ack)            acks the arguments (binary, Dates...)
//          ask(ack)                      emits "question" {text, bin} with an
//                                        ack (5 s), then "answer" with the
//                                        client's ack arguments; acks true
//          join(room, ack)               acks true
//          to_room({room, event, data})  socket.to(room).emit(); acks true
//          broadcast({event, data})      socket.broadcast.emit(); acks true
//          all({event, data})            io.emit(); acks true
// "/chat"  on connect emits "welcome" {auth, id, nsp}; echo as in "/".
"use strict";

const http = require("http");
const { Server } = require("socket.io");
const parser = require("socket.io-msgpack-parser");

function parseArgs(argv) {
  const i = argv.indexOf("--port");
  if (i < 0 || i + 1 >= argv.length) throw new Error("usage: msgpack_node_server.js --port PORT");
  return { port: Number(argv[i + 1]) };
}

function main() {
  const { port } = parseArgs(process.argv.slice(2));
  const httpServer = http.createServer();
  const io = new Server(httpServer, { parser, serveClient: false });

  io.use((socket, next) => {
    if (socket.handshake.auth && socket.handshake.auth.token === "bad") {
      const err = new Error("not allowed");
      err.data = { code: 42 };
      return next(err);
    }
    next();
  });

  function common(socket, nsp) {
    socket.emit("welcome", { auth: socket.handshake.auth, id: socket.id, nsp });
    socket.on("echo", (...args) => {
      const ack = args.pop();
      ack(...args);
    });
  }

  io.on("connection", (socket) => {
    common(socket, "/");
    socket.on("ask", (ack) => {
      socket.timeout(5000).emit("question", { text: "what?", bin: Buffer.from([0, 1, 254, 255]) },
        (err, ...answer) => socket.emit("answer", err ? { error: String(err) } : answer));
      ack(true);
    });
    socket.on("join", (room, ack) => { socket.join(room); ack(true); });
    socket.on("to_room", (spec, ack) => { socket.to(spec.room).emit(spec.event, spec.data); ack(true); });
    socket.on("broadcast", (spec, ack) => { socket.broadcast.emit(spec.event, spec.data); ack(true); });
    socket.on("all", (spec, ack) => { io.emit(spec.event, spec.data); ack(true); });
  });

  io.of("/chat").on("connection", (socket) => common(socket, "/chat"));

  httpServer.listen(port, "127.0.0.1", () => {
    process.stdout.write(JSON.stringify({ listening: port }) + "\n");
  });
  process.on("SIGTERM", () => {
    io.close();
    process.exit(0);
  });
}

main();
