// Binary-safe JSON for the test drivers that talk to trial over stdin/stdout:
// every binary value (Buffer, ArrayBuffer, typed array) travels as
// {"$bin": "<base64>"}, both ways.  Sets become sorted arrays (room lists).
"use strict";

function toJson(value, depth = 0) {
  if (depth > 64) return "<too deep>";
  if (Buffer.isBuffer(value)) return { $bin: value.toString("base64") };
  if (value instanceof ArrayBuffer) return { $bin: Buffer.from(value).toString("base64") };
  if (ArrayBuffer.isView(value)) {
    return { $bin: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64") };
  }
  if (value instanceof Set) return [...value].map((v) => toJson(v, depth + 1)).sort();
  if (Array.isArray(value)) return value.map((v) => toJson(v, depth + 1));
  if (value && typeof value === "object") {
    const result = {};
    for (const key of Object.keys(value)) result[key] = toJson(value[key], depth + 1);
    return result;
  }
  return value === undefined ? null : value;
}

function fromJson(value) {
  if (Array.isArray(value)) return value.map(fromJson);
  if (value && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$bin") return Buffer.from(value.$bin, "base64");
    const result = {};
    for (const key of keys) result[key] = fromJson(value[key]);
    return result;
  }
  return value;
}

module.exports = { toJson, fromJson };
