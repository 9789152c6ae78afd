#!/usr/bin/env node
// End-to-end test of the chat demo in headless Chromium (playwright-core).
//
//   node chat_e2e.js --url http://127.0.0.1:PORT --chromium /usr/bin/chromium --out DIR
//
// Two pages join the same room: "alice" forced to long-polling, "bob" forced
// to WebSocket.  Each types (the other must show the typing indicator), sends
// (the other must show the message under the sender's nick, the sender must
// see the delivered tick).  Console errors, page errors and failed requests
// are collected.  Screenshots go to DIR/chat-e2e-*.png.  Prints one JSON line
// ({"ok": true, ...} or {"ok": false, "error": ..., "step": ...}) and exits 0 or 1.
"use strict";

const path = require("path");
const fs = require("fs");
const { chromium } = require("playwright-core");

function arg(name, fallback) {
  const i = process.argv.indexOf("--" + name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const BASE = arg("url", "http://127.0.0.1:8080");
const EXECUTABLE = arg("chromium", "/usr/bin/chromium");
const OUT = path.resolve(arg("out", "test-artifacts"));
const ROOM = arg("room", "e2e-" + Date.now().toString(36));
const TIMEOUT = Number(arg("timeout", "10000"));

const problems = [];  // console errors, page errors, failed requests
const screenshots = [];
let step = "launch";
const timings = {};
let stepStarted = Date.now();

function mark(name) {
  const now = Date.now();
  timings[step] = now - stepStarted;
  step = name;
  stepStarted = now;
}
let closing = false;

function watch(page, who) {
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`${who} console error: ${msg.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`${who} page error: ${err.message}`));
  page.on("requestfailed", (req) => {
    if (!closing) problems.push(`${who} request failed: ${req.url()} ${req.failure() && req.failure().errorText}`);
  });
  page.on("response", (res) => {
    if (res.status() >= 400) problems.push(`${who} HTTP ${res.status()}: ${res.url()}`);
  });
}

async function shot(page, name) {
  const file = path.join(OUT, `chat-e2e-${name}.png`);
  await page.screenshot({ path: file, animations: "disabled", caret: "hide" });
  screenshots.push(file);
}

function expect(cond, what) {
  if (!cond) throw new Error(what);
}

function messageLocator(page, nick, text) {
  return page.locator(`#messages li.msg[data-nick="${nick}"]`, { hasText: text });
}

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  for (const name of fs.readdirSync(OUT)) {
    if (name.startsWith("chat-e2e-failed-")) fs.unlinkSync(path.join(OUT, name));
  }
  const started = Date.now();
  const browser = await chromium.launch({
    executablePath: EXECUTABLE,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
      "--disable-component-update", "--no-first-run"],
  });
  const pages = {};
  try {
    // alice: desktop, long-polling only; bob: phone-sized, WebSocket only.
    const desktop = await browser.newContext({ viewport: { width: 1180, height: 760 }, colorScheme: "light" });
    const phone = await browser.newContext({ viewport: { width: 390, height: 760 }, colorScheme: "light",
      deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    const alice = pages.alice = await desktop.newPage();
    const bob = pages.bob = await phone.newPage();
    watch(alice, "alice");
    watch(bob, "bob");
    const bundle = [];
    for (const page of [alice, bob]) {
      page.on("response", (res) => {
        if (new URL(res.url()).pathname === "/socket.io/socket.io.min.js") bundle.push(res.status());
      });
    }

    mark("load and connect");
    const url = (nick, transport) =>
      `${BASE}/?nick=${nick}&room=${encodeURIComponent(ROOM)}&transport=${transport}&test=1`;
    await Promise.all([alice.goto(url("alice", "polling")), bob.goto(url("bob", "websocket"))]);
    await alice.waitForFunction(() => document.title === "ok:polling", null, { timeout: TIMEOUT });
    await bob.waitForFunction(() => document.title === "ok:websocket", null, { timeout: TIMEOUT });
    const connectedMs = Date.now() - started;
    // The server makes nicks unique (alice-2 if an earlier alice is still connected).
    const A = (await alice.evaluate(() => window.chatTest.info())).nick;
    const B = (await bob.evaluate(() => window.chatTest.info())).nick;

    mark("both in the room");
    for (const [page, other] of [[alice, B], [bob, A]]) {
      await page.waitForFunction((nick) =>
        Array.from(document.querySelectorAll("#members .name")).some((n) => n.textContent === nick),
      other, { timeout: TIMEOUT });
    }

    // alice types, bob sees the indicator, alice sends, bob gets it, alice gets the tick.
    mark("alice typing");
    const hello = "Hello Bob! Alice here, over long-polling.";
    await alice.locator("#message-input").click();
    await alice.keyboard.type(hello, { delay: 5 });
    await bob.locator("#typing", { hasText: `${A} is typing` }).waitFor({ timeout: TIMEOUT });
    await shot(bob, "typing");

    mark("alice sends");
    await alice.keyboard.press("Enter");
    await messageLocator(bob, A, hello).waitFor({ timeout: TIMEOUT });
    await alice.locator("#messages li.msg.mine[data-status=delivered]", { hasText: hello })
      .waitFor({ timeout: TIMEOUT });
    await bob.locator("#typing .typing-text").waitFor({ state: "detached", timeout: TIMEOUT });

    mark("bob typing");
    const reply = "Hi Alice, Bob on a WebSocket. Delivered ✓";
    await bob.locator("#message-input").click();
    await bob.keyboard.type(reply, { delay: 5 });
    await alice.locator("#typing", { hasText: `${B} is typing` }).waitFor({ timeout: TIMEOUT });

    mark("bob sends");
    await bob.keyboard.press("Enter");
    await messageLocator(alice, B, reply).waitFor({ timeout: TIMEOUT });
    await bob.locator("#messages li.msg.mine[data-status=delivered]", { hasText: reply })
      .waitFor({ timeout: TIMEOUT });

    mark("state");
    const infoA = await alice.evaluate(() => window.chatTest.info());
    const infoB = await bob.evaluate(() => window.chatTest.info());
    const msgsA = await alice.evaluate(() => window.chatTest.messages());
    const msgsB = await bob.evaluate(() => window.chatTest.messages());
    expect(infoA.transport === "polling", `alice's transport is ${infoA.transport}`);
    expect(infoB.transport === "websocket", `bob's transport is ${infoB.transport}`);
    expect(infoA.room === ROOM && infoB.room === ROOM, `rooms: ${infoA.room}, ${infoB.room}`);
    const summary = (msgs) => msgs.map((m) => `${m.nick}:${m.text}:${m.status}:${m.mine}`);
    expect(JSON.stringify(summary(msgsA)) === JSON.stringify(
      [`${A}:${hello}:delivered:true`, `${B}:${reply}:delivered:false`]),
    `alice's messages: ${JSON.stringify(msgsA)}`);
    expect(JSON.stringify(summary(msgsB)) === JSON.stringify(
      [`${A}:${hello}:delivered:false`, `${B}:${reply}:delivered:true`]),
    `bob's messages: ${JSON.stringify(msgsB)}`);
    expect(msgsA[0].id === msgsB[0].id && msgsA[1].id === msgsB[1].id, "message ids differ between pages");
    expect(bundle.length === 2 && bundle.every((s) => s === 200 || s === 304),
      `/socket.io/socket.io.min.js answers: ${JSON.stringify(bundle)}`);

    mark("nickname prompt");
    // carol has no ?nick: she goes through the dialog, and gets the history.
    const carol = pages.carol = await desktop.newPage();
    watch(carol, "carol");
    await carol.goto(`${BASE}/?test=1`);
    await carol.locator("#nick-modal:not([hidden]) #nick-input").waitFor({ timeout: TIMEOUT });
    await shot(carol, "prompt");
    await carol.locator("#nick-input").fill("carol");
    await carol.locator("#room-input").fill(ROOM);
    await carol.locator("#nick-submit").click();
    await carol.waitForFunction(() => document.title.startsWith("ok:"), null, { timeout: TIMEOUT });
    const C = (await carol.evaluate(() => window.chatTest.info())).nick;
    await alice.locator("#messages li.notice", { hasText: `${C} joined` }).waitFor({ timeout: TIMEOUT });
    await messageLocator(carol, B, reply).waitFor({ timeout: TIMEOUT });
    const msgsC = await carol.evaluate(() => window.chatTest.messages());
    expect(JSON.stringify(msgsC.map((m) => m.id)) === JSON.stringify(msgsA.map((m) => m.id)),
      `carol's history: ${JSON.stringify(msgsC)}`);

    mark("rooms");
    // alice joins the lobby from the sidebar form, then goes back to the room.
    await alice.locator("#join-input").fill("Lobby");
    await alice.locator("#join-input").press("Enter");
    await alice.locator("#room-name", { hasText: /^lobby$/ }).waitFor({ timeout: TIMEOUT });
    await alice.locator("#leave-button:not([disabled])").waitFor({ timeout: TIMEOUT });
    await alice.locator(`#rooms button[data-room="${ROOM}"]`).click();
    await alice.locator("#room-name", { hasText: ROOM }).waitFor({ timeout: TIMEOUT });
    await messageLocator(alice, B, reply).waitFor({ timeout: TIMEOUT });

    mark("screenshots");
    await alice.locator("#message-input").click();
    await shot(alice, "alice");
    await shot(bob, "bob");

    mark("validation");
    const ack = await alice.evaluate(() => window.chatTest.send("x".repeat(600)));
    expect(ack && ack.ok === false && ack.code === "too_long", `too long message ack: ${JSON.stringify(ack)}`);
    await alice.locator("#messages li.msg.mine.failed").waitFor({ timeout: TIMEOUT });
    // Nothing reached bob.
    const countB = await bob.evaluate(() => window.chatTest.messages().length);
    expect(countB === 2, `bob has ${countB} messages`);

    mark("no console errors");
    if (problems.length) throw new Error(problems.join("\n"));
    console.log(JSON.stringify({
      ok: true, room: ROOM, transports: { alice: infoA.transport, bob: infoB.transport },
      connected_ms: connectedMs, total_ms: Date.now() - started, timings_ms: timings, screenshots,
    }));
    return 0;
  } catch (err) {
    for (const [who, page] of Object.entries(pages)) {
      try { await shot(page, `failed-${who}`); } catch (e) { /* the page may be gone */ }
    }
    console.log(JSON.stringify({ ok: false, step, error: String(err && err.stack || err), problems, screenshots }));
    return 1;
  } finally {
    closing = true;
    await browser.close();
  }
}

main().then((code) => process.exit(code), (err) => {
  console.log(JSON.stringify({ ok: false, step, error: String(err && err.stack || err), problems }));
  process.exit(1);
});
