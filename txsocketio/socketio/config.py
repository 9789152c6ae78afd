# -*- test-case-name: tests.test_socketio_server -*-
"""The configuration of a server: one immutable record, built once.

:class:`ServerConfig` holds the Socket.IO options and the Engine.IO ones
(validated by the Engine.IO server built from them).  ``sio.configure(...)``
replaces the record with :meth:`ServerConfig.evolve`; nothing is copied
attribute by attribute.
"""

from __future__ import annotations

import inspect
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Mapping

import attrs

from txsocketio.adapters.memory import MemoryAdapter
from txsocketio.engineio.server import EngineIOServer
from txsocketio.socketio.packet import DEFAULT_MAX_JSON_DEPTH
from txsocketio.socketio.parser import JSON_PARSER, Parser

if TYPE_CHECKING:
    from txsocketio.adapters.base import Adapter

__all__ = ["ServerConfig", "SOCKETIO_OPTIONS", "engineio_option_names"]

#: Options of the Socket.IO layer (the rest go to Engine.IO).
SOCKETIO_OPTIONS = ("connect_timeout", "max_attachments", "max_json_depth", "adapter", "parser",
                    "cleanup_empty_child_namespaces")


def engineio_option_names() -> frozenset[str]:
    """The keyword options ``EngineIOServer`` takes (its callbacks excepted)."""
    params = inspect.signature(EngineIOServer.__init__).parameters
    return frozenset(name for name, p in params.items()
                     if p.kind is p.KEYWORD_ONLY and not name.startswith("on_"))


def _connect_timeout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"connect_timeout must be a positive number of seconds, not {value!r}")
    return float(value)


def _max_attachments(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"max_attachments must be a non-negative int, not {value!r}")
    return value


def _max_json_depth(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"max_json_depth must be a positive int, not {value!r}")
    return value


def _adapter(value: Any) -> Callable[[Any], "Adapter"]:
    if value is None:
        return MemoryAdapter
    if not callable(value):
        raise TypeError("adapter must be a callable taking the namespace and returning an adapter")
    return value


def _parser(value: Any) -> Parser:
    if value is None or value == "json":
        return JSON_PARSER
    if value == "msgpack":
        from txsocketio.socketio.msgpack_parser import MsgpackParser  # msgpack is imported only when chosen

        return MsgpackParser()
    if isinstance(value, str):
        raise ValueError(f"unknown parser {value!r}: use 'json', 'msgpack' or a parser object "
                         "(see txsocketio.socketio.parser)")
    if not (callable(getattr(value, "encode", None)) and callable(getattr(value, "decoder", None))):
        raise TypeError("parser must have encode(packet) and decoder(max_attachments=...), "
                        "see txsocketio.socketio.parser")
    return value


def _flag(name: str) -> Callable[[Any], bool]:
    def convert(value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be True or False, not {value!r}")
        return value

    return convert


def _cleanup_empty_child_namespaces(value: Any) -> bool:
    # A named function: mypy's attrs plugin does not read a converter built by a call.
    return _flag("cleanup_empty_child_namespaces")(value)


def _frozen_mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@attrs.frozen
class ServerConfig:
    """Every option of a :class:`~txsocketio.SocketIOServer`.

    ``connect_timeout`` (seconds, 45), ``max_attachments`` (10),
    ``max_json_depth`` (128: the deepest nesting of a packet's payload; a
    deeper one is refused with a CONNECT_ERROR naming the limit), ``adapter``
    (a callable taking the namespace and returning an adapter; the in-memory
    one by default), ``parser`` (:mod:`txsocketio.socketio.parser`; JSON by
    default), ``cleanup_empty_child_namespaces`` (False: a child of a dynamic
    namespace is removed, its adapter closed, when its last socket leaves;
    Node's ``cleanupEmptyChildNamespaces``) and ``engine``, the Engine.IO
    options as given.
    """

    connect_timeout: float = attrs.field(default=45.0, converter=_connect_timeout)
    max_attachments: int = attrs.field(default=10, converter=_max_attachments)
    max_json_depth: int = attrs.field(default=DEFAULT_MAX_JSON_DEPTH, converter=_max_json_depth)
    adapter: Callable[[Any], "Adapter"] = attrs.field(default=None, converter=_adapter)
    parser: Parser = attrs.field(default=None, converter=_parser)
    cleanup_empty_child_namespaces: bool = attrs.field(
        default=False, converter=_cleanup_empty_child_namespaces)
    engine: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)

    @classmethod
    def of(cls, **options: Any) -> "ServerConfig":
        """The record of the constructor's keyword options."""
        return cls().evolve(**options)

    def evolve(self, **options: Any) -> "ServerConfig":
        """A new record: the named options changed, the others kept.  Unknown
        names raise ``TypeError`` (listing the known ones), bad values
        ``ValueError``; the Engine.IO values are checked by the Engine.IO
        server built from :attr:`engine`."""
        engine_names = engineio_option_names()
        unknown = sorted(set(options) - engine_names - set(SOCKETIO_OPTIONS))
        if unknown:
            raise TypeError(f"unknown option(s) {', '.join(unknown)}; "
                            f"known: {', '.join(sorted(engine_names | set(SOCKETIO_OPTIONS)))}")
        mine = {k: v for k, v in options.items() if k in SOCKETIO_OPTIONS}
        engine = {k: v for k, v in options.items() if k in engine_names}
        if engine:
            mine["engine"] = {**self.engine, **engine}
        return attrs.evolve(self, **mine)
