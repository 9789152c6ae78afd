"""The chat demo (``txsocketio.demo.chat``): its logic in memory, and the page
end to end in headless Chromium."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from txsocketio.demo import STATIC_DIR, chat
from txsocketio.demo.chat import (
    HISTORY_SIZE,
    MAX_MESSAGE_LENGTH,
    MAX_NICK_LENGTH,
    MAX_ROOMS_PER_USER,
    chat_state,
    make_server,
)
from txsocketio.testing import TestClient

from tests.support import (
    NODE_DIR,
    PROJECT_ROOT,
    ServerProcess,
    free_port,
    missing,
    require_node_modules,
    require_tool,
    run_process,
)

START = 1_700_000_000.0


class ChatTestCase(TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(START)
        self.sio = make_server(reactor=self.clock)

    def connect(self, nick: Any = None, room: Any = None, **auth: Any) -> TestClient:
        if nick is not None:
            auth["nick"] = nick
        if room is not None:
            auth["room"] = room
        client = TestClient(self.sio, auth=auth)
        self.assertTrue(client.is_connected())
        return client

    def events(self, client: TestClient, name: str | None = None) -> list[Any]:
        """The events ``client`` got since last asked: ``(event, args)``, or
        the first arguments of the ``name`` events."""
        received = client.pop_received()
        if name is None:
            return received
        return [args[0] if args else None for event, args in received if event == name]

    def ack(self, client: TestClient, event: str, *args: Any) -> Any:
        [reply] = self.successResultOf(client.emit_with_ack(event, *args))
        return reply

    def say(self, client: TestClient, room: str, text: Any) -> Any:
        return self.ack(client, "chat_message", {"room": room, "text": text})

    def nick(self, client: TestClient) -> str:
        return chat_state(self.sio).nicks[client.sids["/"]]


class ConnectTests(ChatTestCase):
    def test_welcome_then_lobby(self) -> None:
        ann = self.connect("ann")
        received = ann.pop_received()
        events = [event for event, _ in received]
        self.assertEqual(events[0], "welcome")
        welcome = received[0][1][0]
        self.assertEqual(welcome["nick"], "ann")
        self.assertEqual(welcome["id"], ann.sids["/"])
        self.assertEqual(welcome["limits"]["message"], MAX_MESSAGE_LENGTH)
        [joined] = [args[0] for event, args in received if event == "joined"]
        self.assertEqual(joined, {"room": "lobby", "members": ["ann"], "history": []})
        [rooms] = [args[0] for event, args in received if event == "rooms"]
        self.assertEqual(rooms, [{"name": "lobby", "members": 1}])

    def test_room_from_auth(self) -> None:
        ann = self.connect("ann", room="#Dev")
        [joined] = self.events(ann, "joined")
        self.assertEqual(joined["room"], "dev")
        self.assertEqual(self.ack(ann, "list_rooms")["rooms"],
                         [{"name": "lobby", "members": 0}, {"name": "dev", "members": 1}])

    def test_bad_room_from_auth_means_lobby(self) -> None:
        for room in ["no spaces please", "", 42, ["x"], "x" * 40]:
            client = self.connect("ann", room=room)
            [joined] = self.events(client, "joined")
            self.assertEqual(joined["room"], "lobby", room)

    def test_nicks_are_unique(self) -> None:
        first = self.connect("ann")
        second = self.connect("ANN")
        third = self.connect("Ann")
        self.assertEqual([self.nick(c) for c in (first, second, third)], ["ann", "ANN-2", "Ann-3"])
        [welcome] = self.events(second, "welcome")
        self.assertEqual(welcome["nick"], "ANN-2")

    def test_long_nick_stays_within_the_limit_when_made_unique(self) -> None:
        long = "a" * MAX_NICK_LENGTH
        self.connect(long)
        other = self.connect(long)
        self.assertEqual(self.nick(other), "a" * (MAX_NICK_LENGTH - 2) + "-2")

    def test_missing_or_bad_nick_means_guest(self) -> None:
        nicks = [self.nick(self.connect(**auth)) for auth in
                 [{}, {"nick": 42}, {"nick": ""}, {"nick": "   "}, {"nick": "<script>"},
                  {"nick": "x" * (MAX_NICK_LENGTH + 1)}]]
        self.assertEqual(nicks, ["guest", "guest-2", "guest-3", "guest-4", "guest-5", "guest-6"])

    def test_nick_whitespace_is_collapsed(self) -> None:
        self.assertEqual(self.nick(self.connect("  Ada \t  Lovelace ")), "Ada Lovelace")

    def test_others_see_the_join(self) -> None:
        ann = self.connect("ann")
        self.events(ann)
        bob = self.connect("bob")
        received = dict(self.events(ann))
        self.assertEqual(received["user_joined"], [{"room": "lobby", "nick": "bob", "ts": START * 1000}])
        self.assertEqual(received["rooms"], [[{"name": "lobby", "members": 2}]])
        [joined] = self.events(bob, "joined")
        self.assertEqual(joined["members"], ["ann", "bob"])

    def test_disconnect_tells_the_rooms_and_frees_the_nick(self) -> None:
        ann = self.connect("ann")
        bob = self.connect("bob")
        self.ack(bob, "join", "dev")
        self.ack(ann, "join", "dev")
        self.events(ann)
        bob_sid = bob.sids["/"]
        bob.close()
        left = self.events(ann, "user_left")
        self.assertEqual(sorted(x["room"] for x in left), ["dev", "lobby"])
        self.assertEqual({x["nick"] for x in left}, {"bob"})
        self.assertEqual({x["reason"] for x in left}, {"transport close"})
        self.assertEqual(self.nick(self.connect("bob")), "bob")
        self.assertNotIn(bob_sid, chat_state(self.sio).nicks)

    def test_servers_do_not_share_state(self) -> None:
        self.connect("ann")
        other = make_server(reactor=self.clock)
        self.assertEqual(chat_state(other).nicks, {})
        client = TestClient(other, auth={"nick": "ann"})
        self.assertEqual(chat_state(other).nicks[client.sids["/"]], "ann")

    def test_chat_state_of_another_server(self) -> None:
        from txsocketio import SocketIOServer

        self.assertRaises(ValueError, chat_state, SocketIOServer(reactor=self.clock))


class NickTests(ChatTestCase):
    def test_set_nick(self) -> None:
        ann = self.connect("ann")
        bob = self.connect("bob")
        self.ack(ann, "join", "dev")
        self.events(bob)
        self.assertEqual(self.ack(ann, "set_nick", "anna"), {"ok": True, "nick": "anna"})
        self.assertEqual(self.events(bob, "user_renamed"),
                         [{"room": "lobby", "old": "ann", "nick": "anna", "ts": START * 1000}])
        self.assertEqual(self.ack(bob, "members", "lobby")["members"], ["anna", "bob"])
        self.assertEqual(self.ack(bob, "members", "dev")["members"], ["anna"])
        # Messages now carry the new nick.
        self.say(ann, "lobby", "hi")
        [message] = self.events(bob, "chat_message")
        self.assertEqual(message["nick"], "anna")

    def test_set_nick_taken(self) -> None:
        ann = self.connect("ann")
        self.connect("bob")
        self.assertEqual(self.ack(ann, "set_nick", "Bob"), {"ok": True, "nick": "Bob-2"})
        # The old nick is free again.
        self.assertEqual(self.nick(self.connect("ann")), "ann")

    def test_set_same_nick(self) -> None:
        ann = self.connect("ann")
        bob = self.connect("bob")
        self.events(bob)
        self.assertEqual(self.ack(ann, "set_nick", "ann"), {"ok": True, "nick": "ann"})
        self.assertEqual(self.events(bob), [])

    def test_change_case_of_own_nick(self) -> None:
        ann = self.connect("ann")
        self.assertEqual(self.ack(ann, "set_nick", "Ann"), {"ok": True, "nick": "Ann"})

    def test_bad_nicks(self) -> None:
        ann = self.connect("ann")
        for bad in ["", "  ", None, 5, ["ann"], {"nick": "x"}, "x" * (MAX_NICK_LENGTH + 1), "-dash", "tab\x00"]:
            reply = self.ack(ann, "set_nick", bad)
            self.assertEqual((reply["ok"], reply["code"]), (False, "bad_nick"), bad)
            self.assertIsInstance(reply["error"], str)
        reply = self.ack(ann, "set_nick")  # no argument at all
        self.assertEqual(reply["code"], "bad_nick")
        self.assertEqual(self.nick(ann), "ann")


class RoomTests(ChatTestCase):
    def test_join_and_leave(self) -> None:
        ann = self.connect("ann")
        bob = self.connect("bob")
        carl = self.connect("carl")
        self.ack(bob, "join", "dev")
        for c in (ann, bob, carl):
            self.events(c)

        self.assertEqual(self.ack(ann, "join", " #Dev "), {"ok": True, "room": "dev"})
        received = dict(self.events(ann))
        self.assertEqual(received["joined"], [{"room": "dev", "members": ["ann", "bob"], "history": []}])
        self.assertEqual(self.events(bob, "user_joined"), [{"room": "dev", "nick": "ann", "ts": START * 1000}])
        # carl is not in dev: he only sees the new room list.
        self.assertEqual(self.events(carl), [("rooms", [[{"name": "lobby", "members": 3},
                                                        {"name": "dev", "members": 2}]])])

        self.assertEqual(self.ack(ann, "leave", "dev"), {"ok": True, "room": "dev"})
        self.assertEqual(self.events(ann, "left"), [{"room": "dev"}])
        self.assertEqual(self.events(bob, "user_left"),
                         [{"room": "dev", "nick": "ann", "ts": START * 1000, "reason": "left"}])
        # Gone from the room: no more messages from it.
        self.say(bob, "dev", "still there?")
        self.assertEqual(self.events(ann, "chat_message"), [])

    def test_join_twice(self) -> None:
        ann = self.connect("ann")
        bob = self.connect("bob")
        self.events(bob)
        self.assertEqual(self.ack(ann, "join", "lobby"), {"ok": True, "room": "lobby"})
        self.assertEqual(self.events(bob), [])
        self.assertEqual(self.ack(ann, "members", "lobby")["members"], ["ann", "bob"])

    def test_join_takes_a_dict_too(self) -> None:
        ann = self.connect("ann")
        self.assertEqual(self.ack(ann, "join", {"room": "dev"}), {"ok": True, "room": "dev"})

    def test_bad_room_names(self) -> None:
        ann = self.connect("ann")
        for bad in ["", "#", "two words", "x" * 33, "émoji", None, 3, ["dev"], "_under", {"room": 1}]:
            reply = self.ack(ann, "join", bad)
            self.assertEqual((reply["ok"], reply["code"]), (False, "bad_room"), bad)
        self.assertEqual(self.ack(ann, "join")["code"], "bad_room")
        self.assertEqual(self.ack(ann, "list_rooms")["rooms"], [{"name": "lobby", "members": 1}])

    def test_cannot_leave_the_last_room(self) -> None:
        ann = self.connect("ann")
        reply = self.ack(ann, "leave", "lobby")
        self.assertEqual((reply["ok"], reply["code"]), (False, "last_room"))
        self.assertEqual(self.ack(ann, "members", "lobby")["members"], ["ann"])

    def test_leave_a_room_one_is_not_in(self) -> None:
        ann = self.connect("ann")
        self.ack(ann, "join", "dev")
        for room in ["games", "nope nope", None]:
            reply = self.ack(ann, "leave", room)
            self.assertFalse(reply["ok"])
        self.assertEqual(self.ack(ann, "leave", "games")["code"], "not_in_room")

    def test_lobby_may_be_left_for_another_room(self) -> None:
        ann = self.connect("ann")
        self.ack(ann, "join", "dev")
        self.assertEqual(self.ack(ann, "leave", "lobby"), {"ok": True, "room": "lobby"})
        self.assertEqual(self.ack(ann, "list_rooms")["rooms"],
                         [{"name": "lobby", "members": 0}, {"name": "dev", "members": 1}])

    def test_rooms_per_user(self) -> None:
        ann = self.connect("ann")
        for i in range(MAX_ROOMS_PER_USER - 1):
            self.assertTrue(self.ack(ann, "join", f"room{i}")["ok"])
        reply = self.ack(ann, "join", "onemore")
        self.assertEqual((reply["ok"], reply["code"]), (False, "too_many_rooms"))
        # Joining a room one is already in is fine.
        self.assertTrue(self.ack(ann, "join", "room0")["ok"])

    def test_idle_empty_rooms_are_forgotten(self) -> None:
        self.patch(chat, "MAX_ROOMS", 3)
        ann = self.connect("ann")
        for room in ["old", "newer"]:
            self.ack(ann, "join", room)
            self.say(ann, room, f"in {room}")
            self.ack(ann, "leave", room)
            self.clock.advance(60)
        self.assertTrue(self.ack(ann, "join", "third")["ok"])
        self.assertNotIn("old", chat_state(self.sio).rooms)
        self.assertIn("newer", chat_state(self.sio).rooms)
        # Rooms with members are never evicted.
        bob = self.connect("bob")
        reply = self.ack(bob, "join", "fourth")
        self.assertTrue(reply["ok"])  # evicts "newer", empty
        reply = self.ack(bob, "join", "fifth")
        self.assertEqual((reply["ok"], reply["code"]), (False, "too_many_rooms"))

    def test_list_rooms_and_members(self) -> None:
        ann = self.connect("ann")
        bob = self.connect("bob")
        self.ack(bob, "join", "zoo")
        self.ack(bob, "join", "art")
        self.assertEqual(self.ack(ann, "list_rooms"), {"ok": True, "rooms": [
            {"name": "lobby", "members": 2}, {"name": "art", "members": 1}, {"name": "zoo", "members": 1}]})
        self.assertEqual(self.ack(ann, "members", "art"), {"ok": True, "room": "art", "members": ["bob"]})
        self.assertEqual(self.ack(ann, "members", "empty"), {"ok": True, "room": "empty", "members": []})
        self.assertEqual(self.ack(ann, "members", 7)["code"], "bad_room")


class MessageTests(ChatTestCase):
    def test_ack_and_broadcast(self) -> None:
        ann = self.connect("ann")
        bob = self.connect("bob")
        carl = self.connect("carl", room="elsewhere")
        for c in (ann, bob, carl):
            self.events(c)
        self.clock.advance(1.5)
        reply = self.say(ann, "lobby", "  hello there  ")
        self.assertEqual(reply, {"ok": True, "id": 1, "ts": int((START + 1.5) * 1000), "room": "lobby"})
        self.assertEqual(self.events(bob, "chat_message"), [
            {"id": 1, "room": "lobby", "nick": "ann", "text": "hello there", "ts": reply["ts"]}])
        self.assertEqual(self.events(ann), [])   # not echoed to the sender
        self.assertEqual(self.events(carl), [])  # not in the room
        self.assertEqual(self.say(bob, "lobby", "hi")["id"], 2)

    def test_message_ids_are_unique_across_rooms(self) -> None:
        ann = self.connect("ann")
        self.ack(ann, "join", "dev")
        ids = [self.say(ann, room, "x")["id"] for room in ["lobby", "dev", "lobby"]]
        self.assertEqual(ids, [1, 2, 3])

    def test_validation(self) -> None:
        ann = self.connect("ann")
        bob = self.connect("bob")
        self.events(bob)
        cases = [
            ("hello", "bad_message"),
            (["lobby", "hello"], "bad_message"),
            (None, "bad_message"),
            ({"room": "lobby"}, "bad_text"),
            ({"room": "lobby", "text": 12}, "bad_text"),
            ({"room": "lobby", "text": ["a"]}, "bad_text"),
            ({"room": "lobby", "text": ""}, "empty"),
            ({"room": "lobby", "text": " \n\t "}, "empty"),
            ({"room": "lobby", "text": "\x00\x07"}, "empty"),
            ({"room": "lobby", "text": "x" * (MAX_MESSAGE_LENGTH + 1)}, "too_long"),
            ({"room": "dev", "text": "hi"}, "not_in_room"),
            ({"room": "bad room", "text": "hi"}, "bad_room"),
            ({"text": "hi"}, "bad_room"),
        ]
        for payload, code in cases:
            reply = self.ack(ann, "chat_message", payload)
            self.assertEqual((reply["ok"], reply["code"]), (False, code), payload)
            self.assertIsInstance(reply["error"], str)
        self.assertEqual(self.ack(ann, "chat_message")["code"], "bad_message")
        self.assertEqual(self.events(bob), [])
        self.assertEqual(list(chat_state(self.sio).rooms["lobby"].history), [])

    def test_longest_message_and_cleanup(self) -> None:
        ann = self.connect("ann")
        bob = self.connect("bob")
        self.events(bob)
        self.assertTrue(self.say(ann, "lobby", "x" * MAX_MESSAGE_LENGTH)["ok"])
        self.assertTrue(self.say(ann, "lobby", "line 1\r\nline\x00 2\x1b\t!")["ok"])
        texts = [m["text"] for m in self.events(bob, "chat_message")]
        self.assertEqual(texts, ["x" * MAX_MESSAGE_LENGTH, "line 1\nline 2\t!"])

    def test_unknown_events_and_no_ack_requested(self) -> None:
        ann = self.connect("ann")
        bob = self.connect("bob")
        self.events(bob)
        ann.emit("chat_message", {"room": "lobby", "text": "fire and forget"})
        ann.emit("chat_message", "garbage")
        ann.emit("no_such_event", 1, 2)
        self.assertEqual([m["text"] for m in self.events(bob, "chat_message")], ["fire and forget"])


class HistoryTests(ChatTestCase):
    def test_last_messages_on_join(self) -> None:
        ann = self.connect("ann")
        total = HISTORY_SIZE + 10
        for i in range(total):
            self.say(ann, "lobby", f"message {i}")
        bob = self.connect("bob")
        [joined] = self.events(bob, "joined")
        history = joined["history"]
        self.assertEqual(len(history), HISTORY_SIZE)
        self.assertEqual([m["text"] for m in history], [f"message {i}" for i in range(10, total)])
        self.assertEqual([m["id"] for m in history], list(range(11, total + 1)))
        self.assertEqual({m["nick"] for m in history}, {"ann"})
        self.assertEqual({m["room"] for m in history}, {"lobby"})

    def test_history_is_per_room_and_survives_an_empty_room(self) -> None:
        ann = self.connect("ann")
        self.ack(ann, "join", "dev")
        self.say(ann, "dev", "in dev")
        self.say(ann, "lobby", "in lobby")
        ann.close()
        bob = self.connect("bob", room="dev")
        [joined] = self.events(bob, "joined")
        self.assertEqual([m["text"] for m in joined["history"]], ["in dev"])
        self.ack(bob, "join", "lobby")
        [joined] = self.events(bob, "joined")
        self.assertEqual([m["text"] for m in joined["history"]], ["in lobby"])

    def test_rejoin_resends_history(self) -> None:
        ann = self.connect("ann")
        self.say(ann, "lobby", "one")
        self.events(ann)
        self.ack(ann, "join", "lobby")
        [joined] = self.events(ann, "joined")
        self.assertEqual([m["text"] for m in joined["history"]], ["one"])


class TypingTests(ChatTestCase):
    def test_typing_reaches_the_others_in_the_room(self) -> None:
        ann = self.connect("ann")
        bob = self.connect("bob")
        carl = self.connect("carl", room="other")
        for c in (ann, bob, carl):
            self.events(c)
        ann.emit("typing", "lobby")
        self.assertEqual(self.events(bob), [("typing", [{"room": "lobby", "nick": "ann"}])])
        ann.emit("stop_typing", "lobby")
        self.assertEqual(self.events(bob), [("stop_typing", [{"room": "lobby", "nick": "ann"}])])
        self.assertEqual(self.events(ann), [])
        self.assertEqual(self.events(carl), [])

    def test_typing_acks(self) -> None:
        ann = self.connect("ann")
        self.assertEqual(self.ack(ann, "typing", "lobby"), {"ok": True})
        self.assertEqual(self.ack(ann, "typing", {"room": "lobby"}), {"ok": True})
        self.assertEqual(self.ack(ann, "typing", "dev")["code"], "not_in_room")
        self.assertEqual(self.ack(ann, "stop_typing", None)["code"], "bad_room")
        self.assertEqual(self.ack(ann, "typing")["code"], "bad_room")

    def test_typing_is_volatile(self) -> None:
        ann = self.connect("ann")
        bob = self.connect("bob")
        self.events(bob)
        bob.connection.writable = False  # bob's transport is busy right now
        ann.emit("typing", "lobby")
        self.say(ann, "lobby", "this one is kept")
        bob.connection.writable = True
        received = [event for event, _ in self.events(bob)]
        self.assertNotIn("typing", received)
        self.assertIn("chat_message", received)


class StaticFilesTests(TestCase):
    def test_the_page_loads_the_served_client(self) -> None:
        html = (STATIC_DIR / "index.html").read_text()
        self.assertIn('<script src="/socket.io/socket.io.min.js"></script>', html)
        self.assertIn('rel="icon"', html)
        for name in ["chat.css", "chat.js"]:
            self.assertIn(name, html)
            self.assertTrue((STATIC_DIR / name).is_file())

    def test_no_vendored_client(self) -> None:
        for path in STATIC_DIR.rglob("*"):
            self.assertNotIn("socket.io", path.name)


# ---------------------------------------------------------------------------
# The page in a real browser


def demo_server_argv(port: int) -> list[str]:
    """``twist txsocketio`` with no ``--app``: the chat demo, as users run it."""
    return [sys.executable, "-m", "twisted", "--log-format=text", "--log-level=info",
            "txsocketio", "--listen", f"tcp:{port}:interface=127.0.0.1"]


class BrowserTests(TestCase):
    timeout = 120

    async def test_two_browsers_polling_and_websocket(self) -> None:
        node = require_tool("node")
        chromium = require_tool("chromium")
        require_node_modules("playwright-core")
        if not (PROJECT_ROOT / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js").is_file():
            missing("the browser client (run `npm ci` at the repository root)")
        port = free_port()
        server = ServerProcess(demo_server_argv(port), port, name="twist txsocketio")
        self.addCleanup(server.stop)
        await server.start()

        artifacts = PROJECT_ROOT / "test-artifacts"
        result = await run_process(
            [node, "chat_e2e.js", "--url", f"http://127.0.0.1:{port}", "--chromium", chromium,
             "--out", str(artifacts)],
            cwd=NODE_DIR, timeout=100)
        details = f"{result.describe()}\n--- server ---\n{server.describe()}"
        self.assertEqual(result.exit_code, 0, details)
        report = json.loads(result.stdout_text.strip().splitlines()[-1])
        self.assertTrue(report["ok"], details)
        self.assertEqual(report["transports"], {"alice": "polling", "bob": "websocket"})
        for name in ["alice", "bob", "typing", "prompt"]:
            shot = artifacts / f"chat-e2e-{name}.png"
            self.assertIn(str(shot), report["screenshots"])
            self.assertGreater(Path(shot).stat().st_size, 1000)
        self.assertTrue(server.running, details)
        self.assertNotIn("Traceback", server.stdout_text + server.stderr_text, details)
        self.assertNotIn("Unhandled", server.stdout_text + server.stderr_text, details)
