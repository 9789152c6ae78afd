# -*- test-case-name: tests.test_engineio_resource -*-
"""What the server knows about the HTTP request that opened a session."""

from __future__ import annotations

import time
from http.cookies import CookieError, SimpleCookie
from types import MappingProxyType
from typing import Any, Mapping
from urllib.parse import parse_qsl

import attrs

from txsocketio.logs import remote_address

__all__ = ["Handshake", "node_date"]


def node_date(now: float) -> str:
    """``now`` (seconds since the epoch) as Node's ``new Date().toString()`` in UTC."""
    return time.strftime("%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)",
                         time.gmtime(now))


#: the header fields WSGI names without ``HTTP_``
_CGI_NAMES = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH"})


@attrs.frozen
class Handshake:
    """The opening request of a session, as Node's ``socket.handshake`` shows it.

    ``environ`` is a WSGI-style dictionary of the same request (``HTTP_COOKIE``,
    ``REMOTE_ADDR``, ``QUERY_STRING`` …), for code written against WSGI, such as
    Django's session machinery.
    """

    headers: Mapping[str, str]
    query: Mapping[str, str]
    address: str
    url: str
    secure: bool
    issued: int
    time: str
    xdomain: bool
    environ: Mapping[str, Any]
    #: the peer as the ``remote`` log field (``txsocketio.logs.remote_address``)
    remote: str | None = None

    @property
    def cookies(self) -> dict[str, str]:
        """The request's cookies, by name."""
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(self.headers.get("cookie", ""))
        except CookieError:
            return {}
        return {k: m.value for k, m in jar.items()}

    @classmethod
    def from_request(cls, request: Any, now: float) -> "Handshake":
        """Build it from a ``twisted.web`` request; ``now`` is the reactor's
        time (wall-clock seconds on a real reactor)."""
        headers = {
            name.decode("latin-1").lower():
                values[0].decode("latin-1") if len(values) == 1 else b", ".join(values).decode("latin-1")
            for name, values in request.requestHeaders.getAllRawHeaders()
        }
        uri = request.uri.decode("latin-1")
        path, _, qs = uri.partition("?")
        query = dict(parse_qsl(qs, keep_blank_values=True))
        peer = request.getClientAddress()
        address = getattr(peer, "host", "") or ""
        secure = bool(request.isSecure())
        host = headers.get("host", "")
        origin = headers.get("origin")
        xdomain = origin is not None and origin != ("https://" if secure else "http://") + host
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method.decode("latin-1"),
            "SCRIPT_NAME": "",
            "PATH_INFO": path,
            "QUERY_STRING": qs,
            "SERVER_NAME": host.rsplit(":", 1)[0] if host else "",
            "SERVER_PORT": str(getattr(request.getHost(), "port", "")),
            "SERVER_PROTOCOL": request.clientproto.decode("latin-1"),
            "REMOTE_ADDR": address,
            "REMOTE_PORT": str(getattr(peer, "port", "")),
            "wsgi.url_scheme": "https" if secure else "http",
        }
        for name, value in headers.items():
            key = name.upper().replace("-", "_")
            environ[key if key in _CGI_NAMES else "HTTP_" + key] = value
        return cls(
            headers=MappingProxyType(headers),
            query=MappingProxyType(query),
            address=address,
            url=uri,
            secure=secure,
            issued=int(now * 1000),
            time=node_date(now),
            xdomain=xdomain,
            environ=MappingProxyType(environ),
            remote=remote_address(peer),
        )
