#!/usr/bin/env node
// The differential driver for txsocketio.socketio.msgpack_parser: Node's
// socket.io-msgpack-parser 3.x (its Encoder/Decoder, notepack.io 2.x) on
// packets and bytes that tests/interop/test_socketio_msgpack_node.py sends.
//
//   node msgpack_codec.js request.json > response.json
//
// Request (one JSON document in the file):
//   {"encode": [{"packet": P, "ours": HEX}, ...],   Python's corpus
//    "decode": [HEX, ...],                          bytes to decode only
//    "generate": {"seed": N, "count": N}}           Node's own corpus
// Response (one JSON document on stdout):
//   {"encode": [{"node": HEX, "ours": DECODED}, ...],
//    "decode": [DECODED, ...],
//    "generate": [{"hex": HEX, "decoded": TAGGED}, ...]}
//
// P describes a txsocketio Packet: {"type", "nsp", "data"?, "id"?} with
// values in the tagged form below.  It becomes the JavaScript object Node's
// socket.io 4.8 server builds for that packet (the mapping the Python side
// defines), key order included:
//   EVENT          {type, data, id?, nsp}   socket.js emit() + packet()
//   ACK            {id, type, data, nsp}    socket.js ack()
//   CONNECT        {type, data?, nsp}       socket.js _onconnect()
//   CONNECT_ERROR  {type, data, nsp}        socket.js _error()
//   DISCONNECT     {type, nsp}              socket.js disconnect()
// and Node's Encoder writes it.  DECODED is what Node's Decoder makes of
// bytes: {"packet": TAGGED} or {"error": message}.
//
// Tagged values (JSON cannot carry every JavaScript value):
//   {"$map": [[key, value], ...]}  an object, keys in order; a key that is a
//                                  number, boolean or null is named by
//                                  JavaScript (String(key)) when the object
//                                  is built
//   {"$bin": base64}               a Buffer (MessagePack bin)
//   {"$ab": base64}                an ArrayBuffer (notepack 2's ext type 0)
//   {"$date": ms}                  a Date
//   {"$num": "NaN"|"Infinity"|"-Infinity"|"-0"}
//   {"$undef": true}               undefined
//   [...], strings, numbers, booleans, null as themselves.
"use strict";

const { Encoder, Decoder } = require("socket.io-msgpack-parser");

const TYPES = { CONNECT: 0, DISCONNECT: 1, EVENT: 2, ACK: 3, CONNECT_ERROR: 4 };

function fromTagged(value) {
  if (Array.isArray(value)) return value.map(fromTagged);
  if (value === null || typeof value !== "object") return value;
  if ("$map" in value) {
    const obj = {};
    for (const [key, item] of value.$map) obj[String(fromTagged(key))] = fromTagged(item);
    return obj;
  }
  if ("$bin" in value) return Buffer.from(value.$bin, "base64");
  if ("$ab" in value) {
    const buf = Buffer.from(value.$ab, "base64");
    return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length);
  }
  if ("$date" in value) return new Date(value.$date);
  if ("$num" in value) return value.$num === "-0" ? -0 : Number(value.$num);
  if ("$undef" in value) return undefined;
  throw new Error("unknown tag " + JSON.stringify(value));
}

function toTagged(value) {
  if (value === undefined) return { $undef: true };
  if (typeof value === "number") {
    if (Object.is(value, -0)) return { $num: "-0" };
    if (!Number.isFinite(value)) return { $num: String(value) };
    return value;
  }
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(toTagged);
  if (Buffer.isBuffer(value)) return { $bin: value.toString("base64") };
  if (value instanceof ArrayBuffer) return { $ab: Buffer.from(value).toString("base64") };
  if (value instanceof Date) return { $date: value.getTime() };
  return { $map: Object.keys(value).map((key) => [key, toTagged(value[key])]) };
}

// The object socket.io 4.8's server builds for a packet (see the header).
function nodePacket(p) {
  const data = "data" in p ? fromTagged(p.data) : undefined;
  switch (p.type) {
    case TYPES.ACK:
      return { id: p.id, type: p.type, data: data, nsp: p.nsp };
    case TYPES.EVENT: {
      const packet = { type: p.type, data: data };
      if ("id" in p) packet.id = p.id;
      packet.nsp = p.nsp;
      return packet;
    }
    case TYPES.DISCONNECT:
      return { type: p.type, nsp: p.nsp };
    default: {
      const packet = { type: p.type };
      if ("data" in p) packet.data = data;
      if ("id" in p) packet.id = p.id;
      packet.nsp = p.nsp;
      return packet;
    }
  }
}

function nodeDecode(hex) {
  const decoder = new Decoder();
  let decoded = null;
  decoder.on("decoded", (packet) => { decoded = packet; });
  try {
    decoder.add(Buffer.from(hex, "hex"));
  } catch (e) {
    return { error: String(e && e.message) };
  }
  return decoded === null ? { error: "nothing decoded" } : { packet: toTagged(decoded) };
}

// A seeded PRNG (mulberry32): the Node corpus is the same on every run.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Node's own corpus: what clients built with the parser send, including what
// Python never writes (undefined, ArrayBuffers, typed arrays, Dates, the
// client's "options" key).
function generate(seed, count) {
  const rnd = prng(seed);
  const int = (n) => Math.floor(rnd() * n);
  const pick = (xs) => xs[int(xs.length)];
  const numbers = [0, 1, -1, 31, -32, -33, 127, 128, 255, 256, -128, -129, 65535, 65536, -32768, -32769,
    2 ** 31 - 1, -(2 ** 31), 2 ** 32 - 1, 2 ** 32, -(2 ** 31) - 1, 2 ** 53 - 1, -(2 ** 53) + 1, 2 ** 60,
    0.5, -1.25, 1e-7, 1e21, 5e-324, Number.MAX_VALUE, NaN, Infinity, -Infinity, -0];
  const strings = ["", "a", "é", "€", "😀", "x".repeat(31), "y".repeat(32), "z".repeat(33), "ü".repeat(200),
    "w".repeat(256), "\u0000", "naïve 😀 text"];
  function bytes(n) {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = int(256);
    return out;
  }
  function scalar() {
    switch (int(11)) {
      case 0: return null;
      case 1: return rnd() < 0.5;
      case 2: return pick(numbers);
      case 3: return int(2 ** 31) * (rnd() < 0.5 ? -1 : 1);
      case 4: return (rnd() - 0.5) * 10 ** (int(40) - 20);
      case 5: return pick(strings);
      case 6: return bytes(pick([0, 1, 2, 3, 255, 256, 300]));
      case 7: {  // an ArrayBuffer of its own (notepack 2: ext type 0)
        const b = bytes(pick([0, 1, 2, 4, 8, 16, 17, 300]));
        return b.buffer.slice(b.byteOffset, b.byteOffset + b.length);
      }
      case 8: return new Uint8Array(bytes(pick([0, 3, 8])));  // encoded as its ArrayBuffer
      case 9: return new Date(pick([0, 1, -1, 1700000000123, -62135596800000, 253402300799999]));
      default: return undefined;
    }
  }
  function value(depth) {
    if (depth > 3 || rnd() < 0.5) return scalar();
    if (rnd() < 0.5) {
      const n = pick([0, 1, 3, 15, 16]);
      const arr = [];
      for (let i = 0; i < n; i++) arr.push(value(depth + 1));
      return arr;
    }
    const n = pick([0, 1, 2, 15, 16]);
    const obj = {};
    for (let i = 0; i < n; i++) obj[pick(["a", "b", "k" + i, String(i), "10", "01", "-1", "é", ""])] = value(depth + 1);
    return obj;
  }
  const out = [];
  for (let i = 0; i < count; i++) {
    const nsp = pick(["/", "/", "/chat", "/a/b", "/é"]);
    let packet;
    switch (int(6)) {
      case 0: packet = { type: 0, data: rnd() < 0.3 ? undefined : { token: value(1), n: value(1) }, nsp }; break;
      case 1: packet = { type: 1, nsp }; break;
      case 2: packet = { type: 3, data: [value(1), value(1)], nsp, id: int(1000) }; break;
      case 3: packet = { type: 4, data: rnd() < 0.5 ? "refused" : { message: "no", data: value(1) }, nsp }; break;
      default: {  // the client's emit(): options, then the id
        packet = { type: 2, data: ["ev" + int(3), value(0), value(0)] };
        packet.options = { compress: rnd() < 0.5 };
        if (rnd() < 0.5) packet.id = int(2 ** 31);
        packet.nsp = nsp;
      }
    }
    const hex = new Encoder().encode(packet)[0].toString("hex");
    const decoded = nodeDecode(hex);
    out.push({ hex, decoded });
  }
  return out;
}

function main() {
  const request = JSON.parse(require("fs").readFileSync(process.argv[2], "utf8"));
  const response = {};
  response.encode = (request.encode || []).map(({ packet, ours }) => ({
    node: new Encoder().encode(nodePacket(packet))[0].toString("hex"),
    ours: nodeDecode(ours),
  }));
  response.decode = (request.decode || []).map(nodeDecode);
  if (request.generate) response.generate = generate(request.generate.seed, request.generate.count);
  process.stdout.write(JSON.stringify(response));
}

main();
