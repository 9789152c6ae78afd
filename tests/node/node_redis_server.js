#!/usr/bin/env node
// A Node socket.io 4.8 server on @socket.io/redis-adapter 8.x (classic
// createAdapter, node-redis v4 clients), driven over stdin, for the mixed
// cluster tests (tests/test_redis_mixed.py): one Node server and txsocketio
// servers on the same Redis and key form one cluster.
//
//   node node_redis_server.js --port P --redis-port R [--key socket.io] [--timeout MS]
//
// Prints {"type":"listening","port":P} once it accepts connections and both
// Redis clients are connected (the adapter's SUBSCRIBEs may still be in
// flight: wait for PUBSUB NUMSUB).
//
// The app mirrors the Python side's handlers:
//   connection: socket.data = {name: auth.name, server: "node"}
//   "join" (room, ack)   socket.join(room); ack("joined")
//   "shout" (text)       socket.broadcast.emit("shouted", text)
//   io.on("ask", (x, cb) => cb("node:" + x))         server-side event with an answer
//   io.on("reload", (...args) => ...)                 server-side event, printed as
//                                                     {"type":"server-side","event","args"}
//
// Commands (one JSON line each, {"id": N, "op": ..., ...}); replies
// {"id": N, "ok": true, ...} or {"id": N, "ok": false, "error", "responses"?}:
//   emit {event, args, to?, except?}              io.to(to).except(except).emit(...)
//   emitWithAck {event, args, timeout}            -> {responses}
//   fetchSockets {to?}                            -> {sockets: [{id, rooms, data, auth, local}]}
//   remoteEmit {sid, event, args}                 fetchSockets(), then that socket's emit
//   serverSideEmit {event, args, ack?}            -> {responses} with ack (within --timeout)
//   socketsJoin {rooms, to?} / socketsLeave {rooms, to?} / disconnectSockets {to?, close?}
//   allRooms -> {rooms}      serverCount -> {count}      exit
// Binary values travel as {"$bin": "<base64>"} both ways.
"use strict";

const { toJson, fromJson } = require("./binjson");

const http = require("http");
const readline = require("readline");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

function parseArgs(argv) {
  const opts = { port: 0, redisPort: 0, key: "socket.io", timeout: 2000, adapter: "pubsub" };
  for (let i = 0; i < argv.length; i += 2) {
    const [arg, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${arg} needs a value`);
    if (arg === "--port") opts.port = Number(value);
    else if (arg === "--redis-port") opts.redisPort = Number(value);
    else if (arg === "--key") opts.key = value;
    else if (arg === "--timeout") opts.timeout = Number(value);
    else if (arg === "--adapter") opts.adapter = value;
    else throw new Error(`unknown argument ${arg}`);
  }
  if (!opts.port || !opts.redisPort) throw new Error("--port and --redis-port are required");
  return opts;
}

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function select(io, cmd) {
  let op = io.of("/");
  if (cmd.to && cmd.to.length) op = op.to(cmd.to);
  if (cmd.except && cmd.except.length) op = op.except(cmd.except);
  return op;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const pubClient = createClient({ url: `redis://127.0.0.1:${opts.redisPort}` });
  const subClient = pubClient.duplicate();
  pubClient.on("error", (err) => out({ type: "redis-error", error: String(err) }));
  subClient.on("error", (err) => out({ type: "redis-error", error: String(err) }));
  await Promise.all([pubClient.connect(), subClient.connect()]);

  const httpServer = http.createServer();
  // --adapter streams: @socket.io/redis-streams-adapter 0.3, the key as stream name and channel prefix.
  const adapter = opts.adapter === "streams"
    ? require("@socket.io/redis-streams-adapter").createAdapter(pubClient,
      { streamName: opts.key, channelPrefix: opts.key })
    : createAdapter(pubClient, subClient, { key: opts.key, requestsTimeout: opts.timeout });
  const io = new Server(httpServer, { adapter });

  io.on("connection", (socket) => {
    socket.data = { name: (socket.handshake.auth || {}).name, server: "node" };
    socket.on("join", (room, ack) => {
      socket.join(room);
      if (typeof ack === "function") ack("joined");
    });
    socket.on("shout", (text) => socket.broadcast.emit("shouted", text));
  });
  io.on("ask", (x, cb) => cb("node:" + x));
  io.on("reload", (...args) => out({ type: "server-side", event: "reload", args: toJson(args) }));

  const OPS = {
    async emit(cmd) {
      select(io, cmd).emit(cmd.event, ...fromJson(cmd.args || []));
      return {};
    },
    async emitWithAck(cmd) {
      const responses = await select(io, cmd).timeout(cmd.timeout || 2000)
        .emitWithAck(cmd.event, ...fromJson(cmd.args || []));
      return { responses: toJson(responses) };
    },
    async fetchSockets(cmd) {
      const sockets = await select(io, cmd).fetchSockets();
      return {
        sockets: sockets.map((s) => ({
          id: s.id, rooms: toJson(s.rooms), data: toJson(s.data), auth: toJson(s.handshake.auth),
          local: !!s.server,
        })),
      };
    },
    async remoteEmit(cmd) {
      const sockets = await io.fetchSockets();
      const socket = sockets.find((s) => s.id === cmd.sid);
      if (!socket) throw new Error(`no socket ${cmd.sid}`);
      socket.emit(cmd.event, ...fromJson(cmd.args || []));
      return { local: !!socket.server };
    },
    async serverSideEmit(cmd) {
      const args = fromJson(cmd.args || []);
      if (!cmd.ack) {
        io.serverSideEmit(cmd.event, ...args);
        return {};
      }
      const responses = await io.serverSideEmitWithAck(cmd.event, ...args);
      return { responses: toJson(responses) };
    },
    async socketsJoin(cmd) {
      select(io, cmd).socketsJoin(cmd.rooms);
      return {};
    },
    async socketsLeave(cmd) {
      select(io, cmd).socketsLeave(cmd.rooms);
      return {};
    },
    async disconnectSockets(cmd) {
      select(io, cmd).disconnectSockets(!!cmd.close);
      return {};
    },
    async allRooms() {
      return { rooms: [...(await io.of("/").adapter.allRooms())].sort() };
    },
    async serverCount() {
      return { count: await io.of("/").adapter.serverCount() };
    },
    async exit() {
      setTimeout(async () => {
        io.close();
        await Promise.allSettled([pubClient.quit(), subClient.quit()]);
        process.exit(0);
      }, 10);
      return {};
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
            (err) => out({ id: cmd.id, ok: false, error: String(err && err.message || err),
                           responses: toJson(err && err.responses) }));
  });
  rl.on("close", () => process.exit(0));

  httpServer.listen(opts.port, "127.0.0.1", () => out({ type: "listening", port: opts.port }));
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack || err) + "\n");
  process.exit(1);
});
