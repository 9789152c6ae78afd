#!/usr/bin/env node
// Reference Engine.IO echo server built on the official Node `engine.io` (v6).
//
// It behaves like examples/engineio_echo.py so the interop tests can be
// pointed at it (TXSIO_EIO_SERVER=node) to check the tests and the node
// client themselves:
//
//   node eio_reference_server.js --port 8000 [--ping-interval MS]
//        [--ping-timeout MS] [--max-payload BYTES] [--allow-eio3]
//
// Serves http://127.0.0.1:PORT/engine.io/, echoes every message back
// unchanged (text stays text, binary stays binary) and prints one line per
// event on stdout:
//   listening on http://127.0.0.1:PORT/engine.io/
//   session <sid> opened: protocol=<3|4> transport=<name>
//   session <sid> closed: <reason>
"use strict";

const http = require("http");
const engine = require("engine.io");

function parseArgs(argv) {
  const opts = {
    port: 0,
    pingInterval: 25000,
    pingTimeout: 20000,
    maxPayload: 1e6,
    allowEIO3: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    switch (arg) {
      case "--port": opts.port = Number(value()); break;
      case "--ping-interval": opts.pingInterval = Number(value()); break;
      case "--ping-timeout": opts.pingTimeout = Number(value()); break;
      case "--max-payload": opts.maxPayload = Number(value()); break;
      case "--allow-eio3": opts.allowEIO3 = true; break;
      default: throw new Error(`unknown argument: ${arg}`);
    }
  }
  return opts;
}

function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }

  const httpServer = http.createServer((req, res) => {
    res.writeHead(404, { "Content-Type": "text/plain" });
    res.end("not found\n");
  });
  const server = engine.attach(httpServer, {
    path: "/engine.io",
    pingInterval: opts.pingInterval,
    pingTimeout: opts.pingTimeout,
    maxHttpBufferSize: opts.maxPayload,
    allowEIO3: opts.allowEIO3,
  });

  server.on("connection", (socket) => {
    console.log(`session ${socket.id} opened: protocol=${socket.protocol} ` +
                `transport=${socket.transport.name}`);
    socket.on("upgrade", (transport) => {
      console.log(`session ${socket.id} upgraded: transport=${transport.name}`);
    });
    socket.on("message", (data) => socket.send(data));
    socket.on("close", (reason) => {
      console.log(`session ${socket.id} closed: ${reason}`);
    });
  });

  httpServer.listen(opts.port, "127.0.0.1", () => {
    const { port } = httpServer.address();
    console.log(`listening on http://127.0.0.1:${port}/engine.io/`);
  });

  const stop = () => {
    server.close();
    httpServer.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 500).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main();
