#!/usr/bin/env node
// A raw Engine.IO/Socket.IO client on Node's `ws` package: no engine.io-client
// logic in between, so the tests see exactly what the server writes.
//
//   node raw_ws.js first-frame URL   listens for "message" only once "open" has
//                                    fired; prints {"first": <the first message>}
//   node raw_ws.js goodbye URL       joins "/" ("40"), prints {"ready": sid},
//                                    then on close prints {"messages": [...],
//                                    "code": <close code>, "closeFrame": bool}
//   node raw_ws.js headers URL       prints {"status": 101, "headers": {...}} (the
//                                    101's headers, names in lower case), closes
//   node raw_ws.js stall URL         joins "/", prints {"ready": sid}, then
//                                    stops reading (ws.pause()) until killed
//
// One JSON object per line on stdout; exit status 0, or 1 on error/timeout.
"use strict";

const WebSocket = require("ws");

const [mode, url] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const fail = (why) => { out({ error: why }); process.exit(1); };
const timer = setTimeout(() => fail("timeout"), mode === "stall" ? 120000 : 20000);

const ws = new WebSocket(url);
ws.on("error", (e) => fail(String(e)));

if (mode === "first-frame") {
  ws.on("open", () => {
    ws.on("message", (data) => {
      out({ first: data.toString() });
      clearTimeout(timer);
      ws.close();
    });
  });
} else if (mode === "headers") {
  let seen = null;
  ws.on("upgrade", (res) => { seen = { status: res.statusCode, headers: res.headers }; });
  ws.on("open", () => { out(seen); clearTimeout(timer); ws.close(); });
  ws.on("close", () => process.exit(0));
} else if (mode === "goodbye" || mode === "stall") {
  const messages = [];
  let ready = false;
  ws.on("message", (data, isBinary) => {
    const text = isBinary ? null : data.toString();
    if (text === "2") { ws.send("3"); return; }        // Engine.IO ping
    if (!ready) {
      if (text && text.startsWith("0{")) { ws.send("40"); return; }
      if (text && text.startsWith("40")) {
        ready = true;
        out({ ready: JSON.parse(text.slice(2)).sid });
        if (mode === "stall") ws.pause();                // stop reading: the kernel buffers fill
      }
      return;
    }
    messages.push(text);
  });
  ws.on("close", (code) => {
    clearTimeout(timer);
    // 1005: a close frame without a code; 1006: no close frame at all.
    out({ messages, code, closeFrame: code !== 1006 });
    process.exit(0);
  });
} else {
  fail(`unknown mode ${mode}`);
}
