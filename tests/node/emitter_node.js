#!/usr/bin/env node
// Runs operations of the official @socket.io/redis-emitter (5.x), for
// tests/test_emitter.py (byte comparison with txsocketio.emitter) and
// tests/test_cluster.py (the Node emitter reaching txsocketio clients).
//
//   node emitter_node.js --redis redis://127.0.0.1:R [--key socket.io] 'JSON list of operations'
//
// Each operation: {"op": ..., "nsp"?: "/chat", "to"?: [rooms], "except"?: [rooms],
//                  "volatile"?: true, "compress"?: bool, ...}
//   {"op": "emit", "event": "ev", "args": [...]}
//   {"op": "socketsJoin", "rooms": [...]}     {"op": "socketsLeave", "rooms": [...]}
//   {"op": "disconnectSockets", "close": bool}
//   {"op": "serverSideEmit", "args": [event, ...]}
// Binary arguments are written {"$bin": "<base64>"}.  The operations run in
// order, the client quits once every PUBLISH has been answered, and the script
// prints {"ok": true, "count": N} (exit 0) or {"ok": false, "error"} (exit 1).
"use strict";

const { fromJson } = require("./binjson");

const { Emitter } = require("@socket.io/redis-emitter");
const { createClient } = require("redis");

function parseArgs(argv) {
  const opts = { redis: null, key: "socket.io", ops: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--redis" || arg === "--key") {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      opts[arg.slice(2)] = argv[++i];
    } else if (opts.ops === null) {
      opts.ops = JSON.parse(arg);
    } else {
      throw new Error(`unexpected argument: ${arg}`);
    }
  }
  if (!opts.redis || !Array.isArray(opts.ops)) throw new Error("--redis URL and a JSON list of operations are required");
  return opts;
}

function run(emitter, spec) {
  let target = spec.nsp ? emitter.of(spec.nsp) : emitter;
  for (const room of spec.to || []) target = target.to(room);
  for (const room of spec.except || []) target = target.except(room);
  if (spec.volatile) target = target.volatile;
  if (spec.compress !== undefined) target = target.compress(spec.compress);
  switch (spec.op) {
    case "emit": target.emit(spec.event, ...fromJson(spec.args || [])); break;
    case "socketsJoin": target.socketsJoin(spec.rooms); break;
    case "socketsLeave": target.socketsLeave(spec.rooms); break;
    case "disconnectSockets": target.disconnectSockets(!!spec.close); break;
    // serverSideEmit exists on the Emitter only (not on a room selection)
    case "serverSideEmit": (spec.nsp ? emitter.of(spec.nsp) : emitter).serverSideEmit(...fromJson(spec.args || [])); break;
    default: throw new Error(`unknown op ${spec.op}`);
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const client = createClient({ url: opts.redis });
  client.on("error", (e) => process.stderr.write(`redis: ${e.message}\n`));
  await client.connect();
  const emitter = new Emitter(client, { key: opts.key });
  for (const spec of opts.ops) run(emitter, spec);
  await client.quit(); // after the replies to every queued PUBLISH
  process.stdout.write(JSON.stringify({ ok: true, count: opts.ops.length }) + "\n");
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ ok: false, error: String(e && e.message || e) }) + "\n");
  process.exit(1);
});
