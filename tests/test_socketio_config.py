"""Tests for L{txsocketio.socketio.config}: the one immutable configuration record."""

from __future__ import annotations

import operator

import attrs
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from txsocketio import SocketIOServer
from txsocketio.adapters.memory import MemoryAdapter
from txsocketio.socketio.config import ServerConfig
from txsocketio.socketio.parser import JSON_PARSER


class ServerConfigTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        """Node's defaults: 45 s connect timeout, 10 attachments, memory adapter, JSON parser."""
        config = ServerConfig()
        self.assertEqual((config.connect_timeout, config.max_attachments, config.adapter, config.parser,
                          dict(config.engine)), (45.0, 10, MemoryAdapter, JSON_PARSER, {}))

    def test_cleanup_empty_child_namespaces(self) -> None:
        """Off by default (as Node); a bool, changed with evolve()."""
        self.assertFalse(ServerConfig().cleanup_empty_child_namespaces)
        self.assertTrue(ServerConfig.of(cleanup_empty_child_namespaces=True).cleanup_empty_child_namespaces)
        self.assertRaises(ValueError, ServerConfig.of, cleanup_empty_child_namespaces=1)

    def test_frozen(self) -> None:
        """The record and its Engine.IO options cannot be changed in place."""
        config = ServerConfig.of(ping_interval=3)
        self.assertRaises(attrs.exceptions.FrozenInstanceError, setattr, config, "connect_timeout", 1)
        self.assertRaises(TypeError, operator.setitem, config.engine, "ping_interval", 4)

    def test_evolve(self) -> None:
        """evolve() returns a new record: named options change, Engine.IO ones merge, the rest stay."""
        first = ServerConfig.of(ping_interval=3, connect_timeout=5)
        second = first.evolve(ping_timeout=2, max_attachments=1)
        self.assertEqual(dict(second.engine), {"ping_interval": 3, "ping_timeout": 2})
        self.assertEqual((second.connect_timeout, second.max_attachments), (5.0, 1))
        self.assertEqual(dict(first.engine), {"ping_interval": 3})

    def test_validation(self) -> None:
        """Bad Socket.IO values raise ValueError/TypeError; unknown names TypeError listing the known."""
        self.assertRaises(ValueError, ServerConfig.of, connect_timeout=0)
        self.assertRaises(ValueError, ServerConfig.of, connect_timeout=True)
        self.assertRaises(ValueError, ServerConfig.of, max_attachments=-1)
        self.assertRaises(TypeError, ServerConfig.of, adapter=42)
        self.assertRaises(ValueError, ServerConfig.of, max_json_depth=0)
        self.assertEqual(ServerConfig().max_json_depth, 128)
        e = self.assertRaises(TypeError, ServerConfig.of, ping_intervall=1)
        self.assertIn("ping_interval", str(e))

    def test_parser_by_name(self) -> None:
        """parser="json" is the default JSON parser, "msgpack" the MessagePack one; other names are refused."""
        from txsocketio.socketio.msgpack_parser import MsgpackParser

        self.assertIs(ServerConfig.of(parser="json").parser, JSON_PARSER)
        self.assertIsInstance(ServerConfig.of(parser="msgpack").parser, MsgpackParser)
        e = self.assertRaises(ValueError, ServerConfig.of, parser="yaml")
        self.assertIn("'msgpack'", str(e))

    def test_server_holds_one_record(self) -> None:
        """configure() swaps the server's record; the Engine.IO server is rebuilt only for Engine.IO options."""
        sio = SocketIOServer(reactor=Clock(), connect_timeout=7)
        before, engine = sio.config, sio.engine
        sio.configure(max_attachments=2)
        self.assertIsNot(sio.config, before)
        self.assertIs(sio.engine, engine)
        self.assertEqual((sio.config.connect_timeout, sio.max_attachments), (7.0, 2))
        sio.configure(ping_interval=2)
        self.assertIsNot(sio.engine, engine)
        self.assertEqual(sio.engine.config.ping_interval, 2.0)

    def test_mounted(self) -> None:
        """After mounted() (what the web resource calls), configure() refuses."""
        sio = SocketIOServer(reactor=Clock())
        sio.mounted()
        self.assertRaises(RuntimeError, sio.configure, connect_timeout=1)
