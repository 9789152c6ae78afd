#!/usr/bin/env node
// The reference server of the connection state recovery scenario
// (recovery_scenario.js): Node socket.io 4.8 with connectionStateRecovery,
// on the in-memory SessionAwareAdapter or, with --redis-streams, on
// @socket.io/redis-streams-adapter 0.3 (for the mixed-cluster tests).
// tests/apps/recovery_app.py is the txsocketio twin: same options, same events.
//
//   node recovery_node_server.js --port P [--window SECONDS] [--skip-middlewares true|false]
//        [--redis-streams redis://127.0.0.1:R] [--stream-name socket.io] [--name NAME]
//
// Prints "listening on http://127.0.0.1:P/socket.io/ (NAME)" once it accepts
// connections (and, with --redis-streams, its Redis client is connected).
//
// "/" (the namespace under test; a middleware counts its runs):
//   on connection (not recovered): socket.data = {tag: "t<n>", server: NAME}
//   join room                     -> true
//   whoami                        -> {id, recovered, data, rooms (sorted), server}
// "/control" (the scenario's control channel; every event is acknowledged):
//   emit {to, event, args, volatile, ack_timeout_ms}
//                                 -> io.to(...to).[volatile.][timeout(ms).]emit(event, ...args[, cb]); true
//   direct {sid, event, args, ack}
//                                 -> the last Socket object of that id (connected or not): socket.emit(event,
//                                    ...args[, cb when ack]); false when the id was never seen
//   wait_disconnect {sid, timeout_ms}
//                                 -> the disconnect reason of that socket (waits for it), or null on timeout
//   stats                         -> {middleware_runs, connections: [{id, recovered}], disconnects: {id: reason}}
"use strict";

const http = require("http");
const { Server } = require("socket.io");

function parseArgs(argv) {
  const opts = { port: 0, window: 120, skipMiddlewares: true, redisStreams: null, streamName: "socket.io",
                 name: "node" };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
    const value = argv[++i];
    switch (arg) {
      case "--port": opts.port = Number(value); break;
      case "--window": opts.window = Number(value); break;
      case "--skip-middlewares": opts.skipMiddlewares = value === "true"; break;
      case "--redis-streams": opts.redisStreams = value; break;
      case "--stream-name": opts.streamName = value; break;
      case "--name": opts.name = value; break;
      default: throw new Error(`unknown argument: ${arg}`);
    }
  }
  if (!opts.port) throw new Error("--port is required");
  return opts;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const serverOpts = {
    connectionStateRecovery: {
      maxDisconnectionDuration: opts.window * 1000,
      skipMiddlewares: opts.skipMiddlewares,
    },
  };
  if (opts.redisStreams) {
    const { createClient } = require("redis");
    const { createAdapter } = require("@socket.io/redis-streams-adapter");
    const client = createClient({ url: opts.redisStreams });
    client.on("error", (err) => console.error("redis error:", err.message));
    await client.connect();
    serverOpts.adapter = createAdapter(client, { streamName: opts.streamName });
  }
  const httpServer = http.createServer();
  const io = new Server(httpServer, serverOpts);

  let middlewareRuns = 0;
  let tags = 0;
  const lastSocket = new Map(); // id -> last Socket object
  const connections = [];
  const disconnects = new Map(); // id -> reason
  const waiters = new Map(); // id -> [resolve]

  io.use((socket, next) => {
    middlewareRuns++;
    next();
  });
  io.on("connection", (socket) => {
    if (!socket.recovered) socket.data = { tag: `t${++tags}`, server: opts.name };
    lastSocket.set(socket.id, socket);
    connections.push({ id: socket.id, recovered: socket.recovered });
    disconnects.delete(socket.id);
    socket.on("join", (room, ack) => {
      socket.join(room);
      ack(true);
    });
    socket.on("whoami", (ack) => ack({ id: socket.id, recovered: socket.recovered, data: socket.data,
                                       rooms: [...socket.rooms].sort(), server: opts.name }));
    socket.on("disconnect", (reason) => {
      disconnects.set(socket.id, reason);
      for (const resolve of waiters.get(socket.id) || []) resolve(reason);
      waiters.delete(socket.id);
    });
  });

  io.of("/control").on("connection", (control) => {
    control.on("emit", (spec, ack) => {
      let op = io.to(spec.to || []);
      if (spec.volatile) op = op.volatile;
      if (spec.ack_timeout_ms) {
        op.timeout(spec.ack_timeout_ms).emit(spec.event, ...(spec.args || []), () => {});
      } else {
        op.emit(spec.event, ...(spec.args || []));
      }
      ack(true);
    });
    control.on("direct", (spec, ack) => {
      const socket = lastSocket.get(spec.sid);
      if (!socket) return ack(false);
      if (spec.ack) socket.emit(spec.event, ...(spec.args || []), () => {});
      else socket.emit(spec.event, ...(spec.args || []));
      ack(true);
    });
    control.on("wait_disconnect", (spec, ack) => {
      if (disconnects.has(spec.sid)) return ack(disconnects.get(spec.sid));
      const timer = setTimeout(() => ack(null), spec.timeout_ms || 5000);
      const list = waiters.get(spec.sid) || [];
      list.push((reason) => { clearTimeout(timer); ack(reason); });
      waiters.set(spec.sid, list);
    });
    control.on("stats", (ack) => ack({ middleware_runs: middlewareRuns, connections,
                                       disconnects: Object.fromEntries(disconnects) }));
  });

  httpServer.listen(opts.port, "127.0.0.1", () => {
    console.log(`listening on http://127.0.0.1:${opts.port}/socket.io/ (${opts.name})`);
  });
  const stop = () => io.close(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
