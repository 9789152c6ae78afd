# -*- test-case-name: tests.test_engineio_resource -*-
"""Cross-origin policy for the Engine.IO endpoint.

``cors_allowed_origins`` takes the same forms python-socketio users know:

* ``None`` (the default): same origin only.  A request whose ``Origin`` names
  another scheme, host or port is refused; a request without ``Origin`` (a
  non-browser client) is served.
* ``"*"``: every origin.
* a string or a list of strings: exactly those origins.
* a compiled regular expression: origins it fully matches.
* a callable ``origin -> bool``.
* ``[]``: no check at all and no CORS headers (leave it to a proxy).
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, Pattern, Union

__all__ = ["CorsPolicy", "AllowedOrigins"]

AllowedOrigins = Union[None, str, Iterable[str], Pattern[str], Callable[[str], bool]]


class CorsPolicy:
    """Decides whether an Origin may talk to us, and which headers say so."""

    def __init__(self, allowed: AllowedOrigins = None, credentials: bool = False) -> None:
        self.credentials = credentials
        self._any = False
        self._disabled = False
        self._same_origin = allowed is None
        self._origins: frozenset[str] = frozenset()
        self._regex: Pattern[str] | None = None
        self._func: Callable[[str], bool] | None = None
        if allowed is None:
            pass
        elif isinstance(allowed, str):
            if allowed == "*":
                self._any = True
            else:
                self._origins = frozenset([allowed])
        elif isinstance(allowed, re.Pattern):
            self._regex = allowed
        elif callable(allowed):
            self._func = allowed
        else:
            origins = frozenset(allowed)
            if not origins:
                self._disabled = True
            elif "*" in origins:
                self._any = True
            else:
                self._origins = origins

    def allows(self, origin: str | None, host: str | None, secure: bool) -> bool:
        """Whether a request with this Origin (None when absent) is served."""
        if origin is None or self._disabled or self._any:
            return True
        if self._same_origin:
            if not host:
                return False
            return origin == ("https://" if secure else "http://") + host
        if self._regex is not None:
            return self._regex.fullmatch(origin) is not None
        if self._func is not None:
            return bool(self._func(origin))
        return origin in self._origins

    def headers(self, origin: str | None, *, preflight_headers: bytes | None = None,
                preflight: bool = False) -> list[tuple[bytes, bytes]]:
        """Response headers for an allowed request carrying ``origin``."""
        if origin is None or self._disabled:
            return []
        if self._any and not self.credentials:
            out = [(b"Access-Control-Allow-Origin", b"*")]
        else:
            out = [(b"Access-Control-Allow-Origin", origin.encode("latin-1", "replace")),
                   (b"Vary", b"Origin")]
        if self.credentials:
            out.append((b"Access-Control-Allow-Credentials", b"true"))
        if preflight:
            out.append((b"Access-Control-Allow-Methods", b"GET, POST, OPTIONS"))
            if preflight_headers:
                out.append((b"Access-Control-Allow-Headers", preflight_headers))
            out.append((b"Access-Control-Max-Age", b"86400"))
        return out
