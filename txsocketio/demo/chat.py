# -*- test-case-name: tests.interop.test_demo_chat -*-
"""The chat demo: rooms, nicknames, typing notices, acknowledged messages.

``twistd -n txsocketio`` serves it (with the page of ``txsocketio/demo/static``)
when no ``--app`` is given; :func:`make_server` builds it for any other host.
All state lives in memory, per server.

The protocol, in the main namespace ``/``.  Every client → server event may
ask for an acknowledgement; bad input is answered with
``{"ok": false, "error": <text>, "code": <code>}`` and never raises.

Client → server:

* connect with ``auth = {"nick": ..., "room": ...}`` (both optional): the nick
  is made unique (``ann``, ``ann-2``, …; ``guest`` when missing or invalid)
  and the client joins ``room`` (``lobby`` by default).
* ``set_nick(nick)`` → ``{"ok": true, "nick": <the unique nick given>}``
* ``join(room)`` → ``{"ok": true, "room": room}``; then ``joined`` (below).
* ``leave(room)`` → ``{"ok": true, "room": room}`` (not the last room).
* ``chat_message({"room": ..., "text": ...})`` →
  ``{"ok": true, "id": <message id>, "ts": <server time, ms>, "room": ...}``
* ``typing(room)`` / ``stop_typing(room)``: volatile notices to the others.
* ``list_rooms()`` → ``{"ok": true, "rooms": [{"name", "members"}]}``
* ``members(room)`` → ``{"ok": true, "room": ..., "members": [nick, ...]}``

Server → client:

* ``welcome {"id", "nick", "limits"}`` once connected.
* ``joined {"room", "members", "history"}`` to the joiner: the last
  :data:`HISTORY_SIZE` messages of the room.
* ``left {"room"}`` to the leaver.
* ``chat_message {"id", "room", "nick", "text", "ts"}`` to the others in the room.
* ``user_joined`` / ``user_left {"room", "nick", "ts"[, "reason"]}``,
  ``user_renamed {"room", "old", "nick", "ts"}``.
* ``typing`` / ``stop_typing {"room", "nick"}`` (volatile).
* ``rooms [{"name", "members"}]`` to everyone whenever membership changes.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any


from txsocketio import Namespace, SocketIOServer
from txsocketio.logs import Logger

__all__ = [
    "make_server", "chat_state", "ChatState", "ChatNamespace", "ChatError",
    "clean_nick", "clean_room", "clean_text",
    "DEFAULT_ROOM", "HISTORY_SIZE", "MAX_MESSAGE_LENGTH", "MAX_NICK_LENGTH", "MAX_ROOM_LENGTH",
    "MAX_ROOMS", "MAX_ROOMS_PER_USER",
]

log = Logger(namespace="txsocketio.demo.chat")

DEFAULT_ROOM = "lobby"
HISTORY_SIZE = 50
MAX_MESSAGE_LENGTH = 500
MAX_NICK_LENGTH = 24
MAX_ROOM_LENGTH = 32
#: Rooms kept in memory (empty ones keep their history until evicted).
MAX_ROOMS = 100
MAX_ROOMS_PER_USER = 10
GUEST_NICK = "guest"

_NICK = re.compile(r"\w[\w .'-]*\Z")
_ROOM = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class ChatError(Exception):
    """Bad input from a client: becomes an ``{"ok": false}`` acknowledgement."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def ack(self) -> dict[str, Any]:
        return {"ok": False, "error": self.message, "code": self.code}


# -- validation ----------------------------------------------------------------------------


def clean_nick(value: Any) -> str:
    """A valid nickname from client input (whitespace collapsed) or ChatError."""
    if not isinstance(value, str):
        raise ChatError("bad_nick", "a nickname must be a string")
    nick = _SPACES.sub(" ", value).strip()
    if not nick:
        raise ChatError("bad_nick", "a nickname cannot be empty")
    if len(nick) > MAX_NICK_LENGTH:
        raise ChatError("bad_nick", f"a nickname has at most {MAX_NICK_LENGTH} characters")
    if not _NICK.match(nick):
        raise ChatError("bad_nick", "a nickname starts with a letter or digit and may contain "
                                    "letters, digits, spaces and . _ ' -")
    return nick


def clean_room(value: Any) -> str:
    """A valid room name (lower case, a leading ``#`` dropped) or ChatError."""
    if isinstance(value, dict):
        value = value.get("room")
    if not isinstance(value, str):
        raise ChatError("bad_room", "a room name must be a string")
    room = value.strip().lstrip("#").lower()
    if not room:
        raise ChatError("bad_room", "a room name cannot be empty")
    if len(room) > MAX_ROOM_LENGTH:
        raise ChatError("bad_room", f"a room name has at most {MAX_ROOM_LENGTH} characters")
    if not _ROOM.match(room):
        raise ChatError("bad_room", "a room name has lower-case letters, digits, _ and - only")
    return room


def clean_text(value: Any) -> str:
    """A valid message text (control characters removed, trimmed) or ChatError."""
    if not isinstance(value, str):
        raise ChatError("bad_text", "a message must be a string")
    text = _CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if not text:
        raise ChatError("empty", "a message cannot be empty")
    if len(text) > MAX_MESSAGE_LENGTH:
        raise ChatError("too_long", f"a message has at most {MAX_MESSAGE_LENGTH} characters")
    return text


def _first(args: tuple[Any, ...]) -> Any:
    return args[0] if args else None


# -- state ------------------------------------------------------------------------------------


class Room:
    __slots__ = ("name", "members", "history", "last_active")

    def __init__(self, name: str, now: float) -> None:
        self.name = name
        #: socket id -> nick, in joining order
        self.members: dict[str, str] = {}
        self.history: deque[dict[str, Any]] = deque(maxlen=HISTORY_SIZE)
        self.last_active = now

    def nicks(self) -> list[str]:
        return sorted(self.members.values(), key=str.casefold)


class ChatState:
    """Everything one chat server knows: rooms, histories and nicknames."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.rooms: dict[str, Room] = {}
        #: casefolded nick -> socket id
        self._nick_owner: dict[str, str] = {}
        #: socket id -> nick
        self.nicks: dict[str, str] = {}
        self._next_id = 1
        self.room(DEFAULT_ROOM)

    def now_ms(self) -> int:
        return int(self.clock.seconds() * 1000)

    # nicknames

    def claim_nick(self, sid: str, wanted: str) -> str:
        """Give ``sid`` the nick ``wanted``, or ``wanted-2``, ``wanted-3``… if taken."""
        nick = wanted
        n = 1
        while self._nick_owner.get(nick.casefold(), sid) != sid:
            n += 1
            suffix = f"-{n}"
            nick = wanted[:MAX_NICK_LENGTH - len(suffix)].rstrip() + suffix
        self.release_nick(sid)
        self._nick_owner[nick.casefold()] = sid
        self.nicks[sid] = nick
        return nick

    def release_nick(self, sid: str) -> None:
        old = self.nicks.pop(sid, None)
        if old is not None and self._nick_owner.get(old.casefold()) == sid:
            del self._nick_owner[old.casefold()]

    # rooms

    def room(self, name: str) -> Room:
        """The room ``name``, created if need be (evicting an idle empty room
        when there are :data:`MAX_ROOMS` already)."""
        room = self.rooms.get(name)
        if room is not None:
            return room
        if len(self.rooms) >= MAX_ROOMS:
            idle = [r for r in self.rooms.values() if not r.members and r.name != DEFAULT_ROOM]
            if not idle:
                raise ChatError("too_many_rooms", "there are too many rooms; join an existing one")
            victim = min(idle, key=lambda r: r.last_active)
            del self.rooms[victim.name]
            log.info("forgot idle room {room}", room=victim.name)
        room = self.rooms[name] = Room(name, self.clock.seconds())
        return room

    def rooms_of(self, sid: str) -> list[Room]:
        return [r for r in self.rooms.values() if sid in r.members]

    def room_list(self) -> list[dict[str, Any]]:
        """The lobby, then the rooms that have members, by name."""
        listed = [r for r in self.rooms.values() if r.members or r.name == DEFAULT_ROOM]
        listed.sort(key=lambda r: (r.name != DEFAULT_ROOM, r.name))
        return [{"name": r.name, "members": len(r.members)} for r in listed]

    def add_message(self, room: Room, nick: str, text: str) -> dict[str, Any]:
        message = {"id": self._next_id, "room": room.name, "nick": nick, "text": text,
                   "ts": self.now_ms()}
        self._next_id += 1
        room.history.append(message)
        room.last_active = self.clock.seconds()
        return message


# -- the namespace ------------------------------------------------------------------------------


def _sio_room(name: str) -> str:
    # Prefixed, so that a chat room never collides with a socket id.
    return "#" + name


class ChatNamespace(Namespace):
    """One instance per connection.  :func:`make_server` subclasses it with
    the server's :class:`ChatState` as ``state``."""

    state: ChatState

    @property
    def nick(self) -> str:
        return self.data["nick"]

    # lifecycle

    def on_connect(self, auth: Any) -> None:
        auth = auth if isinstance(auth, dict) else {}
        try:
            wanted = clean_nick(auth.get("nick"))
        except ChatError:
            wanted = GUEST_NICK
        self.data["nick"] = self.state.claim_nick(self.id, wanted)
        log.info("{nick} connected ({sid}, {transport}, from {address})", nick=self.nick, sid=self.id,
                 transport=self.socket.transport, address=self.request.address)
        self.emit("welcome", {
            "id": self.id,
            "nick": self.nick,
            "limits": {"message": MAX_MESSAGE_LENGTH, "nick": MAX_NICK_LENGTH, "room": MAX_ROOM_LENGTH,
                       "history": HISTORY_SIZE, "rooms_per_user": MAX_ROOMS_PER_USER},
        })
        try:
            first = clean_room(auth["room"]) if auth.get("room") is not None else DEFAULT_ROOM
            self._join(first)
        except ChatError:
            self._join(DEFAULT_ROOM)

    def on_disconnect(self, reason: str) -> None:
        nick = self.data.get("nick")
        if nick is None:
            return
        for room in self.state.rooms_of(self.id):
            self._remove(room, reason=reason)
        self.state.release_nick(self.id)
        self._broadcast_rooms()
        log.info("{nick} disconnected ({sid}): {reason}", nick=nick, sid=self.id, reason=reason)

    # events

    def on_set_nick(self, *args: Any) -> dict[str, Any]:
        try:
            wanted = clean_nick(_first(args))
        except ChatError as e:
            return e.ack()
        old = self.nick
        nick = self.state.claim_nick(self.id, wanted)
        if nick != old:
            self.data["nick"] = nick
            ts = self.state.now_ms()
            for room in self.state.rooms_of(self.id):
                room.members[self.id] = nick
                self.to(_sio_room(room.name)).emit(
                    "user_renamed", {"room": room.name, "old": old, "nick": nick, "ts": ts})
            log.info("{old} is now {nick}", old=old, nick=nick)
        return {"ok": True, "nick": nick}

    def on_join(self, *args: Any) -> dict[str, Any]:
        try:
            name = clean_room(_first(args))
            existing = self.state.rooms.get(name)
            already = existing is not None and self.id in existing.members
            if not already and len(self.state.rooms_of(self.id)) >= MAX_ROOMS_PER_USER:
                raise ChatError("too_many_rooms", f"you can be in at most {MAX_ROOMS_PER_USER} rooms")
            self._join(name)
        except ChatError as e:
            return e.ack()
        return {"ok": True, "room": name}

    def on_leave(self, *args: Any) -> dict[str, Any]:
        try:
            room = self._member_room(_first(args))
        except ChatError as e:
            return e.ack()
        if len(self.state.rooms_of(self.id)) <= 1:
            return ChatError("last_room", "you cannot leave your last room").ack()
        self._remove(room, reason="left")
        self.emit("left", {"room": room.name})
        self._broadcast_rooms()
        log.info("{nick} left {room}", nick=self.nick, room=room.name)
        return {"ok": True, "room": room.name}

    def on_chat_message(self, *args: Any) -> dict[str, Any]:
        payload = _first(args)
        try:
            if not isinstance(payload, dict):
                raise ChatError("bad_message", 'a message is {"room": ..., "text": ...}')
            room = self._member_room(payload.get("room"))
            text = clean_text(payload.get("text"))
        except ChatError as e:
            return e.ack()
        message = self.state.add_message(room, self.nick, text)
        self.to(_sio_room(room.name)).emit("chat_message", message)
        log.debug("{nick} in {room}: message {id}", nick=self.nick, room=room.name, id=message["id"])
        return {"ok": True, "id": message["id"], "ts": message["ts"], "room": room.name}

    def on_typing(self, *args: Any) -> dict[str, Any]:
        return self._typing("typing", args)

    def on_stop_typing(self, *args: Any) -> dict[str, Any]:
        return self._typing("stop_typing", args)

    def on_list_rooms(self, *args: Any) -> dict[str, Any]:
        return {"ok": True, "rooms": self.state.room_list()}

    def on_members(self, *args: Any) -> dict[str, Any]:
        try:
            name = clean_room(_first(args))
        except ChatError as e:
            return e.ack()
        room = self.state.rooms.get(name)
        return {"ok": True, "room": name, "members": room.nicks() if room is not None else []}

    # helpers

    def _member_room(self, value: Any) -> Room:
        name = clean_room(value)
        room = self.state.rooms.get(name)
        if room is None or self.id not in room.members:
            raise ChatError("not_in_room", f"you are not in #{name}")
        return room

    def _typing(self, event: str, args: tuple[Any, ...]) -> dict[str, Any]:
        try:
            room = self._member_room(_first(args))
        except ChatError as e:
            return e.ack()
        # Volatile: a notice that cannot be written right now is worthless later.
        self.to(_sio_room(room.name)).volatile.emit(event, {"room": room.name, "nick": self.nick})
        return {"ok": True}

    def _join(self, name: str) -> None:
        room = self.state.room(name)
        if self.id not in room.members:
            room.members[self.id] = self.nick
            room.last_active = self.state.clock.seconds()
            self.join(_sio_room(name))
            self.to(_sio_room(name)).emit(
                "user_joined", {"room": name, "nick": self.nick, "ts": self.state.now_ms()})
            self._broadcast_rooms()
            log.info("{nick} joined {room}", nick=self.nick, room=name)
        self.emit("joined", {"room": name, "members": room.nicks(), "history": list(room.history)})

    def _remove(self, room: Room, reason: str) -> None:
        nick = room.members.pop(self.id, None)
        if nick is None:
            return
        room.last_active = self.state.clock.seconds()
        self.leave(_sio_room(room.name))
        self.to(_sio_room(room.name)).emit(
            "user_left", {"room": room.name, "nick": nick, "ts": self.state.now_ms(), "reason": reason})

    def _broadcast_rooms(self) -> None:
        self.socket.nsp.emit("rooms", self.state.room_list())


def make_server(reactor: Any = None, **options: Any) -> SocketIOServer:
    """A :class:`~txsocketio.SocketIOServer` running the chat in namespace ``/``.

    ``options`` go to the server (Engine.IO options in seconds, ...).
    ``reactor``: the demo's clock and I/O; without one (the demo is an entry
    point) it runs on the global reactor.
    """
    if reactor is None:
        from twisted.internet import reactor as global_reactor

        reactor = global_reactor
    sio = SocketIOServer(reactor=reactor, **options)
    state = ChatState(sio.reactor)
    sio.register("/", type("Chat", (ChatNamespace,), {"state": state}))
    return sio


def chat_state(sio: SocketIOServer) -> ChatState:
    """The :class:`ChatState` of a server built by :func:`make_server`."""
    cls = sio.of("/").namespace_class
    if cls is None or not issubclass(cls, ChatNamespace):
        raise ValueError("not a chat server built by make_server()")
    return cls.state
