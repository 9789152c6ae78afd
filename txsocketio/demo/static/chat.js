/* txsocketio chat demo: the browser side.
 *
 * Uses the official client served by the server at /socket.io/socket.io.min.js.
 * URL parameters: ?transport=polling|websocket forces one transport,
 * ?nick=NAME&room=ROOM skip the nickname dialog, ?test=1 sets document.title
 * to "ok:<transport>" once connected (for the end-to-end test).
 */
(function () {
  "use strict";

  const params = new URLSearchParams(location.search);
  const TEST = params.get("test") === "1";
  const FORCED = ["polling", "websocket"].includes(params.get("transport")) ? params.get("transport") : null;
  const NICK_KEY = "txsocketio-chat-nick";
  const TYPING_REFRESH = 2500;  // ms between our "typing" notices while typing
  const TYPING_IDLE = 3000;     // ms without a key press before "stop_typing"
  const TYPING_EXPIRY = 6000;   // ms before someone else's notice expires
  const MAX_ENTRIES = 400;      // entries kept per room in the page

  const $ = (id) => document.getElementById(id);
  const el = {
    app: $("app"), status: $("status"), statusText: $("status-text"), transport: $("transport"),
    me: $("me"), meNick: $("me-nick"), meAvatar: $("me-avatar"), menu: $("menu-button"), scrim: $("scrim"),
    rooms: $("rooms"), joinForm: $("join-form"), joinInput: $("join-input"), joinError: $("join-error"),
    members: $("members"), memberCount: $("member-count"),
    roomName: $("room-name"), leave: $("leave-button"),
    messages: $("messages"), typing: $("typing"),
    composer: $("composer"), input: $("message-input"), counter: $("counter"), send: $("send-button"),
    modal: $("nick-modal"), nickForm: $("nick-form"), nickTitle: $("nick-title"), nickInput: $("nick-input"),
    roomField: $("room-field"), roomInput: $("room-input"), nickError: $("nick-error"),
    nickCancel: $("nick-cancel"), nickSubmit: $("nick-submit"),
  };

  const state = {
    socket: null,
    nick: null,
    limits: { message: 500, nick: 24, room: 32 },
    firstRoom: "lobby",
    active: null,
    rooms: new Map(),  // name -> {name, joined, everJoined, entries, unread, members, typing}
    roomList: [],      // [{name, members}] from the server
    typingRoom: null,
    typingSentAt: 0,
    typingTimer: null,
  };

  // -- helpers ------------------------------------------------------------------------

  function hue(text) {
    let h = 0;
    for (const ch of String(text)) h = (h * 31 + ch.codePointAt(0)) % 360;
    return h;
  }

  function make(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function avatar(nick) {
    const node = make("span", "avatar", Array.from(String(nick || "?"))[0]);
    node.style.setProperty("--hue", hue(nick));
    node.setAttribute("aria-hidden", "true");
    return node;
  }

  function clock(ts) {
    return new Date(ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function cleanRoom(value) {
    return String(value || "").trim().replace(/^#+/, "").toLowerCase();
  }

  function room(name) {
    let r = state.rooms.get(name);
    if (!r) {
      r = { name, joined: false, everJoined: false, entries: [], unread: 0, members: [], typing: new Map() };
      state.rooms.set(name, r);
    }
    return r;
  }

  function joinedRooms() {
    return Array.from(state.rooms.values()).filter((r) => r.joined);
  }

  function transportName() {
    const s = state.socket;
    return s && s.connected && s.io.engine && s.io.engine.transport ? s.io.engine.transport.name : "";
  }

  // -- rendering ------------------------------------------------------------------------

  function setStatus(kind, text) {
    el.status.dataset.state = kind;
    el.statusText.textContent = text;
    el.transport.textContent = kind === "online" ? transportName() : "";
    const online = kind === "online";
    el.input.disabled = !state.active;
    el.send.disabled = !online || !el.input.value.trim();
    if (TEST && online) document.title = "ok:" + transportName();
  }

  function renderMe() {
    el.me.hidden = !state.nick;
    el.meNick.textContent = state.nick || "";
    el.meAvatar.textContent = Array.from(state.nick || "?")[0];
    el.meAvatar.style.setProperty("--hue", hue(state.nick));
  }

  function renderRooms() {
    const names = new Map(state.roomList.map((r) => [r.name, r.members]));
    for (const r of joinedRooms()) if (!names.has(r.name)) names.set(r.name, r.members.length);
    const sorted = Array.from(names.keys()).sort((a, b) =>
      (a !== "lobby") - (b !== "lobby") || a.localeCompare(b));
    el.rooms.replaceChildren(...sorted.map((name) => {
      const r = state.rooms.get(name);
      const li = make("li");
      const button = make("button", "room");
      button.type = "button";
      button.dataset.room = name;
      if (r && r.joined) button.classList.add("joined");
      if (name === state.active) {
        button.classList.add("active");
        button.setAttribute("aria-current", "true");
      }
      button.append(make("span", "hash", "#"), make("span", "name", name));
      if (r && r.unread) button.append(make("span", "badge", String(r.unread)));
      else button.append(make("span", "people", String(names.get(name))));
      button.title = r && r.joined ? `Open #${name}` : `Join #${name}`;
      li.append(button);
      return li;
    }));
  }

  function renderMembers() {
    const r = state.active && state.rooms.get(state.active);
    const members = r ? r.members : [];
    el.memberCount.textContent = members.length ? `· ${members.length}` : "";
    el.members.replaceChildren(...members.map((nick) => {
      const li = make("li", "member");
      li.append(avatar(nick), make("span", "name", nick));
      if (nick === state.nick) li.append(make("span", "you", "(you)"));
      return li;
    }));
  }

  function renderTyping() {
    const r = state.active && state.rooms.get(state.active);
    const nicks = r ? Array.from(r.typing.keys()) : [];
    if (!nicks.length) {
      el.typing.replaceChildren();
      return;
    }
    const dots = make("span", "dots");
    dots.append(make("i"), make("i"), make("i"));
    let text;
    if (nicks.length === 1) text = `${nicks[0]} is typing…`;
    else if (nicks.length === 2) text = `${nicks[0]} and ${nicks[1]} are typing…`;
    else text = "Several people are typing…";
    el.typing.replaceChildren(dots, make("span", "typing-text", text));
  }

  const TICK = '<svg viewBox="0 0 16 12"><path d="M1.5 6.5 5.5 10.5 14.5 1.5"/></svg>';

  function renderEntry(entry, prev) {
    if (entry.kind === "notice") {
      return make("li", "notice" + (entry.error ? " error" : ""), entry.text);
    }
    if (entry.kind === "divider") {
      return make("li", "history-divider", entry.text);
    }
    const li = make("li", "msg");
    li.style.setProperty("--hue", hue(entry.nick));
    if (entry.mine) li.classList.add("mine");
    if (prev && prev.kind === "msg" && prev.nick === entry.nick && !entry.mine && entry.ts - prev.ts < 300000) {
      li.classList.add("cont");
    }
    li.dataset.nick = entry.nick;
    const bubble = make("div", "bubble");
    const meta = make("div", "meta");
    meta.append(make("span", "nick", entry.nick));
    const foot = make("div", "foot");
    const time = make("time", "time", clock(entry.ts));
    foot.append(time);
    if (entry.mine) {
      const tick = make("span", "tick");
      tick.innerHTML = TICK;  // a constant: no user data
      foot.append(tick);
    }
    bubble.append(meta, make("div", "text", entry.text), foot);
    li.append(avatar(entry.nick), bubble);
    entry.node = li;
    updateStatus(entry);
    return li;
  }

  function updateStatus(entry) {
    const li = entry.node;
    if (!li || !entry.mine) return;
    li.classList.remove("pending", "delivered", "failed");
    li.classList.add(entry.status);
    li.dataset.status = entry.status;
    const time = li.querySelector("time");
    time.textContent = clock(entry.ts);
    const tick = li.querySelector(".tick");
    if (entry.status === "delivered") {
      tick.title = `Delivered ${new Date(entry.ts).toLocaleTimeString()} (#${entry.id})`;
      tick.setAttribute("aria-label", "delivered");
    } else if (entry.status === "failed") {
      tick.textContent = "!";
      tick.title = entry.error || "not delivered";
      li.querySelector(".foot").append(make("span", "error", entry.error || "not delivered"));
    } else {
      tick.title = "Sending…";
      tick.setAttribute("aria-label", "sending");
    }
  }

  function renderMessages() {
    const r = state.active && state.rooms.get(state.active);
    if (!r || !r.entries.length) {
      const empty = make("li", "empty");
      empty.append(make("strong", null, r ? "No messages yet" : "Not in a room"),
        r ? "Be the first to say hello" : "Join a room to start chatting");
      el.messages.replaceChildren(empty);
      return;
    }
    el.messages.replaceChildren(...r.entries.map((e, i) => renderEntry(e, r.entries[i - 1])));
    el.messages.scrollTop = el.messages.scrollHeight;
  }

  function addEntry(name, entry) {
    const r = room(name);
    const prev = r.entries[r.entries.length - 1];
    r.entries.push(entry);
    if (r.entries.length > MAX_ENTRIES) r.entries.splice(0, r.entries.length - MAX_ENTRIES);
    if (name === state.active) {
      const list = el.messages;
      const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
      const empty = list.querySelector(".empty");
      if (empty) empty.remove();
      list.append(renderEntry(entry, prev));
      if (nearBottom || entry.mine) list.scrollTop = list.scrollHeight;
    } else if (entry.kind === "msg" && !entry.mine) {
      r.unread += 1;
      renderRooms();
    }
  }

  function notice(name, text, error) {
    addEntry(name, { kind: "notice", text, error: !!error });
  }

  function setActive(name) {
    const r = state.rooms.get(name);
    if (!r || !r.joined) return;
    if (state.active !== name) stopTyping();
    state.active = name;
    r.unread = 0;
    el.roomName.textContent = name;
    el.leave.disabled = joinedRooms().length <= 1;
    el.input.disabled = false;
    el.input.placeholder = `Message #${name}`;
    renderRooms();
    renderMessages();
    renderMembers();
    renderTyping();
    closeSidebar();
  }

  // -- typing -----------------------------------------------------------------------------

  function startTyping() {
    const s = state.socket;
    if (!s || !s.connected || !state.active) return;
    const now = Date.now();
    if (state.typingRoom !== state.active || now - state.typingSentAt > TYPING_REFRESH) {
      if (state.typingRoom && state.typingRoom !== state.active) stopTyping();
      s.volatile.emit("typing", state.active);
      state.typingRoom = state.active;
      state.typingSentAt = now;
    }
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(stopTyping, TYPING_IDLE);
  }

  function stopTyping() {
    clearTimeout(state.typingTimer);
    if (state.typingRoom && state.socket && state.socket.connected) {
      state.socket.volatile.emit("stop_typing", state.typingRoom);
    }
    state.typingRoom = null;
    state.typingSentAt = 0;
  }

  function someoneTyping(name, nick, typing) {
    const r = state.rooms.get(name);
    if (!r) return;
    clearTimeout(r.typing.get(nick));
    if (typing) {
      r.typing.set(nick, setTimeout(() => someoneTyping(name, nick, false), TYPING_EXPIRY));
    } else {
      r.typing.delete(nick);
    }
    if (name === state.active) renderTyping();
  }

  // -- sending ------------------------------------------------------------------------------

  function send(text) {
    const name = state.active;
    const entry = { kind: "msg", mine: true, nick: state.nick, text, ts: Date.now(), status: "pending" };
    addEntry(name, entry);
    return new Promise((resolve) => {
      state.socket.emit("chat_message", { room: name, text }, (ack) => {
        if (ack && ack.ok) {
          entry.status = "delivered";
          entry.id = ack.id;
          entry.ts = ack.ts;
        } else {
          entry.status = "failed";
          entry.error = (ack && ack.error) || "not delivered";
        }
        updateStatus(entry);
        resolve(ack);
      });
    });
  }

  function updateComposer() {
    const value = el.input.value;
    el.input.style.height = "auto";
    el.input.style.height = Math.min(el.input.scrollHeight, 140) + "px";
    const left = state.limits.message - value.length;
    el.counter.textContent = left < 100 ? String(left) : "";
    el.counter.classList.toggle("over", left < 0);
    el.send.disabled = !value.trim() || left < 0 || !(state.socket && state.socket.connected);
  }

  el.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = el.input.value.trim();
    if (!text || !state.active || text.length > state.limits.message) return;
    stopTyping();
    el.input.value = "";
    updateComposer();
    send(text);
  });

  el.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      el.composer.requestSubmit();
    }
  });

  el.input.addEventListener("input", () => {
    updateComposer();
    if (el.input.value.trim()) startTyping();
    else stopTyping();
  });

  // -- rooms ----------------------------------------------------------------------------------

  function join(name) {
    el.joinError.textContent = "";
    const r = state.rooms.get(cleanRoom(name));
    if (r && r.joined) {
      setActive(r.name);
      return;
    }
    state.socket.emit("join", name, (ack) => {
      if (ack && ack.ok) {
        setActive(ack.room);
        el.joinInput.value = "";
      } else {
        el.joinError.textContent = (ack && ack.error) || "could not join";
      }
    });
  }

  el.joinForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (el.joinInput.value.trim()) join(el.joinInput.value);
  });

  el.rooms.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-room]");
    if (button) join(button.dataset.room);
  });

  el.leave.addEventListener("click", () => {
    const name = state.active;
    if (!name) return;
    state.socket.emit("leave", name, (ack) => {
      if (!ack || !ack.ok) notice(name, (ack && ack.error) || "could not leave", true);
    });
  });

  function openSidebar() {
    el.app.classList.add("sidebar-open");
    el.scrim.hidden = false;
    el.menu.setAttribute("aria-expanded", "true");
  }

  function closeSidebar() {
    el.app.classList.remove("sidebar-open");
    el.scrim.hidden = true;
    el.menu.setAttribute("aria-expanded", "false");
  }

  el.menu.addEventListener("click", () =>
    el.app.classList.contains("sidebar-open") ? closeSidebar() : openSidebar());
  el.scrim.addEventListener("click", closeSidebar);

  // -- the connection -------------------------------------------------------------------------

  function connect() {
    const options = {
      // Read on every (re)connection: the nick may have changed since.
      auth: (cb) => cb({ nick: state.nick, room: state.active || state.firstRoom }),
    };
    if (FORCED) options.transports = [FORCED];
    const socket = io(options);
    state.socket = socket;
    setStatus("connecting", "connecting…");

    socket.on("connect", () => {
      setStatus("online", "connected");
      socket.io.engine.once("upgrade", () => setStatus("online", "connected"));
      const first = state.active || state.firstRoom;
      for (const r of joinedRooms()) if (r.name !== first) socket.emit("join", r.name);
      updateComposer();
    });

    socket.on("disconnect", (reason) => {
      for (const r of state.rooms.values()) {
        for (const timer of r.typing.values()) clearTimeout(timer);
        r.typing.clear();
      }
      renderTyping();
      state.typingRoom = null;
      setStatus(socket.active ? "reconnecting" : "offline", socket.active ? "reconnecting…" : "disconnected");
      if (state.active) notice(state.active, `Connection lost (${reason})`, true);
    });

    socket.on("connect_error", (err) => {
      setStatus(socket.active ? "reconnecting" : "offline",
        socket.active ? "reconnecting…" : "refused: " + err.message);
    });

    socket.io.on("reconnect_attempt", (attempt) => setStatus("reconnecting", `reconnecting (${attempt})…`));

    socket.on("welcome", (info) => {
      state.nick = info.nick;
      state.limits = Object.assign(state.limits, info.limits || {});
      el.input.maxLength = state.limits.message;
      el.nickInput.maxLength = state.limits.nick;
      renderMe();
      renderMembers();
    });

    socket.on("rooms", (list) => {
      state.roomList = list;
      renderRooms();
    });

    socket.on("joined", ({ room: name, members, history }) => {
      const r = room(name);
      r.joined = true;
      r.members = members;
      const known = new Set(r.entries.filter((e) => e.id !== undefined).map((e) => e.id));
      const missed = history.filter((m) => !known.has(m.id));
      if (!r.everJoined && missed.length) {
        addEntry(name, { kind: "divider", text: "recent messages" });
      }
      for (const m of missed) {
        addEntry(name, { kind: "msg", id: m.id, nick: m.nick, text: m.text, ts: m.ts,
          mine: m.nick === state.nick, status: "delivered" });
      }
      if (!r.everJoined) notice(name, `You joined #${name} as ${state.nick}`);
      else notice(name, "Reconnected");
      r.everJoined = true;
      if (!state.active || state.active === name) setActive(name);
      else renderRooms();
      el.leave.disabled = joinedRooms().length <= 1;
    });

    socket.on("left", ({ room: name }) => {
      state.rooms.delete(name);
      if (state.active === name) {
        state.active = null;
        const next = joinedRooms()[0];
        if (next) setActive(next.name);
        else renderMessages();
      }
      renderRooms();
    });

    socket.on("chat_message", (m) => {
      someoneTyping(m.room, m.nick, false);
      addEntry(m.room, { kind: "msg", id: m.id, nick: m.nick, text: m.text, ts: m.ts, mine: false });
    });

    socket.on("user_joined", ({ room: name, nick }) => {
      const r = state.rooms.get(name);
      if (!r) return;
      if (!r.members.includes(nick)) r.members = [...r.members, nick].sort(
        (a, b) => a.localeCompare(b, undefined, { sensitivity: "base" }));
      notice(name, `${nick} joined`);
      if (name === state.active) renderMembers();
    });

    socket.on("user_left", ({ room: name, nick, reason }) => {
      const r = state.rooms.get(name);
      if (!r) return;
      r.members = r.members.filter((n) => n !== nick);
      someoneTyping(name, nick, false);
      notice(name, reason === "left" ? `${nick} left` : `${nick} disconnected`);
      if (name === state.active) renderMembers();
    });

    socket.on("user_renamed", ({ room: name, old, nick }) => {
      const r = state.rooms.get(name);
      if (!r) return;
      r.members = r.members.map((n) => (n === old ? nick : n));
      someoneTyping(name, old, false);
      notice(name, `${old} is now known as ${nick}`);
      if (name === state.active) renderMembers();
    });

    socket.on("typing", ({ room: name, nick }) => someoneTyping(name, nick, true));
    socket.on("stop_typing", ({ room: name, nick }) => someoneTyping(name, nick, false));
  }

  // -- the nickname dialog ------------------------------------------------------------------

  let renaming = false;

  function openNickDialog(rename) {
    renaming = rename;
    el.nickTitle.textContent = rename ? "Change your nickname" : "Welcome! Pick a nickname";
    el.nickSubmit.textContent = rename ? "Save" : "Start chatting";
    el.roomField.hidden = rename;
    el.nickCancel.hidden = !rename;
    el.nickError.textContent = "";
    let stored = "";
    try { stored = localStorage.getItem(NICK_KEY) || ""; } catch (e) { /* storage disabled */ }
    el.nickInput.value = rename ? state.nick : stored;
    el.roomInput.value = params.get("room") || "";
    el.modal.hidden = false;
    el.nickInput.focus();
    el.nickInput.select();
  }

  function closeNickDialog() {
    el.modal.hidden = true;
  }

  el.nickForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const nick = el.nickInput.value.trim();
    if (!nick) {
      el.nickError.textContent = "Please choose a nickname";
      return;
    }
    try { localStorage.setItem(NICK_KEY, nick); } catch (e) { /* storage disabled */ }
    if (renaming) {
      state.socket.emit("set_nick", nick, (ack) => {
        if (ack && ack.ok) {
          state.nick = ack.nick;
          renderMe();
          renderMembers();
          closeNickDialog();
        } else {
          el.nickError.textContent = (ack && ack.error) || "could not change your nickname";
        }
      });
      return;
    }
    state.nick = nick;
    state.firstRoom = cleanRoom(el.roomInput.value) || "lobby";
    closeNickDialog();
    connect();
  });

  el.nickCancel.addEventListener("click", closeNickDialog);
  el.modal.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && renaming) closeNickDialog();
  });
  el.me.addEventListener("click", () => openNickDialog(true));

  // -- for tests and the console ------------------------------------------------------------

  window.chatTest = {
    /** Send a message to the current room -> Promise of the server's ack. */
    send,
    /** The chat messages of a room (the current one by default). */
    messages(name) {
      const r = state.rooms.get(name || state.active);
      return r ? r.entries.filter((e) => e.kind === "msg").map((e) => ({
        id: e.id, nick: e.nick, text: e.text, mine: !!e.mine, status: e.status || "delivered",
      })) : [];
    },
    /** Who we are, where, and over which transport. */
    info() {
      return { nick: state.nick, room: state.active, transport: transportName(),
        connected: !!(state.socket && state.socket.connected) };
    },
  };

  // -- start --------------------------------------------------------------------------------

  renderRooms();
  renderMessages();
  if (params.get("nick")) {
    state.nick = params.get("nick");
    state.firstRoom = cleanRoom(params.get("room")) || "lobby";
    connect();
  } else {
    openNickDialog(false);
  }
})();
