# -*- test-case-name: tests.test_redisaddress -*-
"""Where Redis is, parsed from a URL, and how channel names travel.  Pure: no
Twisted, no I/O.

URLs: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://...`` (TLS),
``unix:///path/to/redis.sock?db=N&password=...``,
``redis+sentinel://[[user]:password@]host[:port][,host2[:port]...]/MASTER_NAME[/db]``
(Redis Sentinel: the Sentinels, port 26379 by default, name the master called
``MASTER_NAME``; ``user`` and ``password`` are those of the Redis servers,
``sentinel_username`` and ``sentinel_password`` in the query those of the
Sentinels).  ``password``, ``username`` and ``db`` are accepted in the query of
every form.  ``rediss+sentinel://`` is refused: txredisapi 1.6 has no TLS
through Sentinel.

Error messages and ``str()`` never show a password (:func:`hide_password`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

import attrs

__all__ = ["SENTINEL_PORT", "RedisAddress", "hide_password", "host_port", "to_bytes", "to_str"]

#: The port of a Sentinel listed without one.
SENTINEL_PORT = 26379


def _query_value(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _db(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        db = int(value)
    except ValueError:
        raise ValueError(f"the Redis database is a number, not {value!r}") from None
    if db < 0:
        raise ValueError(f"the Redis database is a number >= 0, not {db}")
    return db


def _port(text: str, url: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise ValueError(f"bad port {text!r} in Redis URL {hide_password(url)!r}")
    return port


def _sentinel_hosts(hostlist: str, url: str) -> tuple[tuple[str, int], ...]:
    """``h1:26379,[::1]:26380,h3`` -> ((host, port), ...)."""
    hosts = []
    for item in hostlist.split(","):
        item = item.strip()
        if item.startswith("["):
            host, sep, rest = item[1:].partition("]")
            if not sep or (rest and not rest.startswith(":")):
                raise ValueError(f"bad Sentinel address {item!r} in {hide_password(url)!r}")
            port = _port(rest[1:], url) if rest else SENTINEL_PORT
        else:
            host, sep, port_text = item.rpartition(":")
            if not sep:
                host, port = item, SENTINEL_PORT
            else:
                port = _port(port_text, url)
        if not host:
            raise ValueError(f"a redis+sentinel:// URL lists Sentinels as host:port,host2:port, "
                             f"not {hide_password(url)!r}")
        hosts.append((unquote(host), port))
    return tuple(hosts)


@attrs.frozen
class RedisAddress:
    """Where Redis is, parsed from a URL (see the module docstring).

    A Sentinel address has ``sentinels`` (``(host, port)`` pairs) and
    ``master_name`` instead of ``host``/``port``/``path``.
    """

    host: str | None = "localhost"
    port: int = 6379
    path: str | None = None
    db: int | None = None
    username: str | None = attrs.field(default=None, repr=False)
    password: str | None = attrs.field(default=None, repr=False)
    tls: bool = False
    sentinels: tuple[tuple[str, int], ...] = ()
    master_name: str | None = None
    sentinel_username: str | None = attrs.field(default=None, repr=False)
    sentinel_password: str | None = attrs.field(default=None, repr=False)

    @property
    def is_sentinel(self) -> bool:
        """The master is found through Sentinel."""
        return bool(self.sentinels)

    @classmethod
    def parse(cls, url: str) -> "RedisAddress":
        """Raises ``ValueError`` saying what is wrong with ``url``."""
        if not isinstance(url, str):
            raise TypeError("a Redis URL is a str")
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        query = parse_qs(parts.query, keep_blank_values=True)
        username = _query_value(query, "username")
        password = _query_value(query, "password")
        if scheme == "rediss+sentinel":
            raise ValueError("rediss+sentinel:// is not supported: txredisapi 1.6 reaches the master that Sentinel "
                             "names without TLS; use redis+sentinel:// on a trusted network, or rediss:// to a "
                             "fixed server")
        if scheme == "redis+sentinel":
            return cls._parse_sentinel(url, query, username, password)
        if parts.username:
            username = unquote(parts.username)
        if parts.password is not None:
            password = unquote(parts.password)
        if scheme in ("redis", "rediss"):
            try:
                port = parts.port or 6379
            except ValueError:
                raise ValueError(f"bad port in Redis URL {hide_password(url)!r}") from None
            db = _db(parts.path.strip("/") or _query_value(query, "db"))
            return cls(host=parts.hostname or "localhost", port=port, db=db,
                       username=username or None, password=password, tls=scheme == "rediss")
        if scheme in ("unix", "redis+unix"):
            if not parts.path:
                raise ValueError(f"a unix Redis URL names a socket path: unix:///path/to/redis.sock, "
                                 f"not {hide_password(url)!r}")
            return cls(host=None, port=0, path=parts.path, db=_db(_query_value(query, "db")),
                       username=username or None, password=password)
        raise ValueError(f"a Redis URL starts with redis://, rediss://, unix:// or redis+sentinel://, "
                         f"not {hide_password(url)!r}")

    @classmethod
    def _parse_sentinel(cls, url: str, query: dict[str, list[str]], username: str | None,
                        password: str | None) -> "RedisAddress":
        """The ``redis+sentinel://`` form: credentials in the userinfo win over the query's."""
        parts = urlsplit(url)
        userinfo, at, hostlist = parts.netloc.rpartition("@")
        if at:
            user, colon, secret = userinfo.partition(":")
            username = unquote(user) or username
            if colon:
                password = unquote(secret)
        segments = [unquote(segment) for segment in parts.path.split("/")[1:]]
        if not hostlist or not segments or not segments[0] or len(segments) > 2:
            raise ValueError(f"a Sentinel URL is redis+sentinel://host:26379[,host2:26379...]/MASTER_NAME[/db], "
                             f"not {hide_password(url)!r}")
        db = _db(segments[1] if len(segments) == 2 and segments[1] else _query_value(query, "db"))
        return cls(host=None, port=0, db=db, username=username or None, password=password,
                   sentinels=_sentinel_hosts(hostlist, url), master_name=segments[0],
                   sentinel_username=_query_value(query, "sentinel_username") or None,
                   sentinel_password=_query_value(query, "sentinel_password"))

    def __str__(self) -> str:
        """The URL without the password."""
        auth = ""
        if self.username or self.password is not None:
            auth = f"{self.username or ''}:***@"
        db = f"/{self.db}" if self.db is not None else ""
        if self.path is not None:
            return f"unix://{self.path}" + (f"?db={self.db}" if self.db is not None else "")
        if self.sentinels:
            hosts = ",".join(host_port(host, port) for host, port in self.sentinels)
            return f"redis+sentinel://{auth}{hosts}/{self.master_name}{db}"
        return f"{'rediss' if self.tls else 'redis'}://{auth}{host_port(self.host, self.port)}{db}"


def host_port(host: str | None, port: int) -> str:
    """``host:port``, an IPv6 host in brackets (``[::1]:6379``)."""
    return f"[{host}]:{port}" if host and ":" in host else f"{host}:{port}"


def hide_password(url: str) -> str:
    """``url`` with its passwords (userinfo, ``password`` and
    ``sentinel_password`` in the query) replaced by ``***``, for messages."""
    parts = urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    query = parse_qs(parts.query, keep_blank_values=True)
    secret_keys = [k for k in ("password", "sentinel_password") if k in query]
    if not (at and ":" in userinfo) and not secret_keys:
        return url
    if at and ":" in userinfo:
        userinfo = userinfo.partition(":")[0] + ":***"
    netloc = f"{userinfo}@{hosts}" if at else hosts
    query_text = parts.query
    if secret_keys:
        pairs = [(k, "***" if k in secret_keys else v) for k, vs in query.items() for v in vs]
        query_text = "&".join(f"{k}={v}" for k, v in pairs)
    return urlunsplit((parts.scheme, netloc, parts.path, query_text, parts.fragment))


def to_bytes(name: str | bytes) -> bytes:
    """A channel or pattern as Redis sees it (``str`` as UTF-8, undecodable
    bytes kept with ``surrogateescape``)."""
    if isinstance(name, bytes):
        return name
    if isinstance(name, str):
        return name.encode("utf-8", "surrogateescape")
    raise TypeError(f"a channel or pattern is a str or bytes, not {type(name).__name__}")


def to_str(name: Any) -> str:
    """A name (or status text) from Redis as ``str``; the inverse of :func:`to_bytes`."""
    if isinstance(name, bytes):
        return name.decode("utf-8", "surrogateescape")
    return str(name)
