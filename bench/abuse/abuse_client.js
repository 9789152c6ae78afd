#!/usr/bin/env node
// Raw Engine.IO v4 / Socket.IO v5 clients over `ws` for the long abuse
// benchmarks (cycles.py, idle.py, stalled.py drive it; see README.md).  Raw
// protocol rather than socket.io-client so that the client's cost stays small
// next to the server's.  Loopback only; every mode is bounded by a count and
// by --max-seconds.  Progress and results are JSON lines on stdout.
//
//   node abuse_client.js cycles  --port P --n 100000 --concurrency 20
//       N times: open a WebSocket session, join "/", one "echo" ack, close.
//       A line {"done": k} every 1000 cycles, then {"result": {...}}.
//   node abuse_client.js idle    --port P --n 10000 --window 200
//       Open N sessions joined to "/" and keep them idle (answering pings).
//       {"connected": N} once all are open; then reads commands on stdin:
//       "count" -> {"open": k, "pings": total pings answered}; "quit".
//   node abuse_client.js stalled --port P --receivers 20 --count 500 --size 100000
//       Receivers and one stalled reader join room "r"; the stalled one stops
//       reading (its TCP receive buffer fills); a sender asks for a fanout of
//       COUNT ticks of SIZE bytes.  {"fanout_acked": ms} when the server has
//       queued it all, {"delivered": ms} when every live receiver has every
//       tick; then stdin commands: "stalled" -> {"stalled_open": bool},
//       "quit".
"use strict";

const path = require("path");
let WebSocket;
for (const where of [path.join(__dirname, "../../tests/node/node_modules/ws"),
                     path.join(process.env.HOME || "", ".cache/sio-bench/node_modules/ws")]) {
  try { WebSocket = require(where); break; } catch (e) { /* next */ }
}
if (!WebSocket) throw new Error("no `ws` module: run `npm ci` in tests/node");
const readline = require("readline");

const argv = process.argv.slice(2);
const mode = argv[0];
const opts = {};
for (let i = 1; i < argv.length; i += 2) opts[argv[i].replace(/^--/, "")] = argv[i + 1];
const num = (k, d) => (opts[k] !== undefined ? Number(opts[k]) : d);
const PORT = num("port", 9000);
const URL = `ws://127.0.0.1:${PORT}/socket.io/?EIO=4&transport=websocket`;
const MAX_SECONDS = num("max-seconds", 3600);
setTimeout(() => { out({ error: "max-seconds reached" }); process.exit(2); }, MAX_SECONDS * 1000).unref();

function out(obj) { process.stdout.write(JSON.stringify(obj) + "\n"); }

// A session joined to "/": resolves with the ws once "40{...}" arrived.
// onMessage gets every later text message (pings are answered here).
function session(onMessage, counters) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(URL, { perMessageDeflate: false });
    let joined = false;
    ws.on("message", (data) => {
      const text = data.toString();
      if (text[0] === "0") { ws.send("40"); return; }
      if (text === "2") { ws.send("3"); if (counters) counters.pings++; return; }
      if (!joined && text.startsWith("40")) { joined = true; resolve(ws); return; }
      if (onMessage) onMessage(text, ws);
    });
    ws.on("error", (e) => { if (!joined) reject(e); });
    ws.on("close", () => { if (!joined) reject(new Error("closed before joining")); });
  });
}

async function cycles() {
  const n = num("n", 100000), concurrency = num("concurrency", 20);
  let started = 0, done = 0, failures = 0;
  const t0 = Date.now();
  async function worker() {
    while (started < n) {
      started++;
      try {
        await new Promise((resolve, reject) => {
          session((text, ws) => {
            if (text === '430["x"]') { ws.close(); resolve(); }
          }).then((ws) => {
            ws.send('420["echo","x"]');
            ws.on("close", resolve);
          }, reject);
        });
      } catch (e) { failures++; }
      done++;
      if (done % 1000 === 0) out({ done, failures, seconds: (Date.now() - t0) / 1000 });
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  out({ result: { cycles: done, failures, seconds: (Date.now() - t0) / 1000 } });
  process.exit(0);
}

async function idle() {
  const n = num("n", 10000), window = num("window", 200);
  const counters = { pings: 0 };
  const sockets = [];
  let open = 0, next = 0, failures = 0;
  async function worker() {
    while (next < n) {
      next++;
      try {
        const ws = await session(null, counters);
        open++;
        ws.on("close", () => { open--; });
        sockets.push(ws);
      } catch (e) { failures++; }
    }
  }
  await Promise.all(Array.from({ length: window }, worker));
  out({ connected: open, failures });
  readline.createInterface({ input: process.stdin }).on("line", (line) => {
    if (line === "count") out({ open, pings: counters.pings });
    if (line === "quit") { for (const ws of sockets) ws.terminate(); process.exit(0); }
  });
}

async function stalled() {
  const receivers = num("receivers", 20), count = num("count", 500), size = num("size", 100000);
  const got = new Array(receivers).fill(0);
  let t0 = 0, delivered = false;
  const live = [];
  for (let r = 0; r < receivers; r++) {
    const ws = await session((text) => {
      if (text.startsWith('42["tick"')) {
        got[r]++;
        if (!delivered && got.every((g) => g >= count)) {
          delivered = true;
          out({ delivered: Date.now() - t0 });
        }
      }
    });
    ws.send('421["join","r"]');
    live.push(ws);
  }
  let stalledOpen = true;
  const slow = await session(null);
  slow.send('421["join","r"]');
  slow.on("close", () => { stalledOpen = false; });
  await new Promise((r) => setTimeout(r, 300));  // joins acked
  slow._socket.pause();  // stop reading: the server's writes pile up
  const sender = await session((text) => {
    if (text.startsWith("439[")) out({ fanout_acked: Date.now() - t0 });
  });
  t0 = Date.now();
  sender.send(`429["fanout",{"room":"r","count":${count},"size":${size}}]`);
  readline.createInterface({ input: process.stdin }).on("line", (line) => {
    if (line === "stalled") out({ stalled_open: stalledOpen && slow.readyState === WebSocket.OPEN });
    if (line === "quit") { for (const ws of [...live, slow, sender]) ws.terminate(); process.exit(0); }
  });
}

({ cycles, idle, stalled }[mode] || (() => { throw new Error("mode: cycles|idle|stalled"); }))();
