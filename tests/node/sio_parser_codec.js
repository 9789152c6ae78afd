// Encode packets with Node's socket.io-parser, for the differential test of
// txsocketio's codec (tests/interop/test_socketio_packet_node.py).
//
//   node sio_parser_codec.js CORPUS_FILE
//
// CORPUS_FILE holds one packet per line: {"type", "nsp", "data"?, "id"?},
// with binary values as {"$bin": "<base64>"} and non-finite numbers as
// {"$num": "NaN" | "Infinity" | "-Infinity"}.  For each packet one line goes
// to stdout: the Engine.IO messages the Encoder produced, binary ones as
// {"$bin": ...}.
"use strict";

const fs = require("fs");
const { Encoder } = require("socket.io-parser");

function revive(value) {
  if (Array.isArray(value)) return value.map(revive);
  if (value && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$bin") return Buffer.from(value.$bin, "base64");
    if (keys.length === 1 && keys[0] === "$num") return Number(value.$num);
    const result = {};
    for (const key of keys) result[key] = revive(value[key]);
    return result;
  }
  return value;
}

const encoder = new Encoder();
const out = [];
for (const line of fs.readFileSync(process.argv[2], "utf8").split("\n")) {
  if (!line) continue;
  const spec = JSON.parse(line);
  const packet = { type: spec.type, nsp: spec.nsp };
  if ("data" in spec) packet.data = revive(spec.data);
  if ("id" in spec) packet.id = spec.id;
  const messages = encoder.encode(packet).map((m) =>
    typeof m === "string" ? m : { $bin: Buffer.from(m).toString("base64") });
  out.push(JSON.stringify(messages));
}
process.stdout.write(out.join("\n") + "\n");
