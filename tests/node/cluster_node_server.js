#!/usr/bin/env node
// A Node socket.io 4.x server on @socket.io/redis-adapter (classic pub/sub),
// the reference peer of tests/apps/cluster_app.py: same namespaces, same
// events, so the cluster tests can put it in a cluster with txsocketio
// processes or point emitters at it.
//
//   node cluster_node_server.js --port P --redis redis://127.0.0.1:R [--key socket.io] [--name NAME]
//
// Prints "listening on http://127.0.0.1:P/socket.io/ (NAME)" once it accepts
// connections and its Redis clients are connected.
//
// Namespaces "/" and "/chat", events (every one acknowledged):
//   whoami                     -> {server: NAME, id, nsp}
//   join ...rooms              -> true
//   leave room                 -> true
//   relay {to, except, event, args, self}
//                              -> (self ? nsp : socket.broadcast).to(to).except(except).emit(event, ...args); true
//   fetch {to}                 -> [{id, rooms}] sorted by id (rooms sorted), over the cluster
//   ack_all {to, event, args, timeout}
//                              -> {ok: true, responses} or {ok: false, error, responses: []}
//   sockets_join {to, rooms} / sockets_leave {to, rooms} / disconnect_sockets {to, close} -> true
//   server_side_emit {event, args} -> true
//   server_events              -> every server-side event received, as [event, ...args]
//   server_count               -> number of servers
//   all_rooms                  -> sorted rooms of the cluster
// Server-side events listened to: "hello", "bye".
"use strict";

const http = require("http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

function parseArgs(argv) {
  const opts = { port: 0, redis: null, key: "socket.io", name: "node" };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
    const value = argv[++i];
    switch (arg) {
      case "--port": opts.port = Number(value); break;
      case "--redis": opts.redis = value; break;
      case "--key": opts.key = value; break;
      case "--name": opts.name = value; break;
      default: throw new Error(`unknown argument: ${arg}`);
    }
  }
  if (!opts.port || !opts.redis) throw new Error("--port and --redis are required");
  return opts;
}

function target(base, spec) {
  let op = base;
  for (const room of spec.to || []) op = op.to(room);
  for (const room of spec.except || []) op = op.except(room);
  return op;
}

function setUp(io, nsp, name) {
  const serverEvents = [];
  for (const event of ["hello", "bye"]) {
    nsp.on(event, (...args) => {
      if (typeof args[args.length - 1] === "function") args.pop()(`${name} got ${event}`);
      serverEvents.push([event, ...args]);
    });
  }
  nsp.on("connection", (socket) => {
    socket.on("whoami", (ack) => ack({ server: name, id: socket.id, nsp: nsp.name }));
    socket.on("join", (...args) => {
      const ack = args.pop();
      socket.join(args);
      ack(true);
    });
    socket.on("leave", (room, ack) => {
      socket.leave(room);
      ack(true);
    });
    socket.on("relay", (spec, ack) => {
      target(spec.self ? nsp : socket.broadcast, spec).emit(spec.event, ...(spec.args || []));
      ack(true);
    });
    socket.on("fetch", async (spec, ack) => {
      const found = await target(nsp, spec).fetchSockets();
      ack(found.map((s) => ({ id: s.id, rooms: [...s.rooms].sort() }))
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
    });
    socket.on("ack_all", async (spec, ack) => {
      try {
        const responses = await target(nsp.timeout(spec.timeout || 2000), spec)
          .emitWithAck(spec.event, ...(spec.args || []));
        ack({ ok: true, responses });
      } catch (err) {
        ack({ ok: false, error: String(err.message || err), responses: [] });
      }
    });
    socket.on("sockets_join", (spec, ack) => {
      target(nsp, spec).socketsJoin(spec.rooms);
      ack(true);
    });
    socket.on("sockets_leave", (spec, ack) => {
      target(nsp, spec).socketsLeave(spec.rooms);
      ack(true);
    });
    socket.on("disconnect_sockets", (spec, ack) => {
      ack(true);
      target(nsp, spec).disconnectSockets(!!spec.close);
    });
    socket.on("server_side_emit", (spec, ack) => {
      nsp.serverSideEmit(spec.event, ...(spec.args || []));
      ack(true);
    });
    socket.on("server_events", (ack) => ack(serverEvents));
    socket.on("server_count", async (ack) => ack(await nsp.adapter.serverCount()));
    socket.on("all_rooms", async (ack) => ack([...(await nsp.adapter.allRooms())].sort()));
  });
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${e.message}\n`);
    process.exit(2);
  }
  const pub = createClient({ url: opts.redis });
  const sub = pub.duplicate();
  for (const client of [pub, sub]) client.on("error", (e) => process.stderr.write(`redis: ${e.message}\n`));
  await Promise.all([pub.connect(), sub.connect()]);
  const io = new Server({ adapter: createAdapter(pub, sub, { key: opts.key }) });
  setUp(io, io.of("/"), opts.name);
  setUp(io, io.of("/chat"), opts.name);
  const httpServer = http.createServer();
  io.attach(httpServer);
  httpServer.listen(opts.port, "127.0.0.1", () => {
    process.stdout.write(`listening on http://127.0.0.1:${opts.port}/socket.io/ (${opts.name})\n`);
  });
  const stop = () => {
    io.close();
    Promise.allSettled([pub.quit(), sub.quit()]).then(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
