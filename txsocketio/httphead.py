# -*- test-case-name: tests.test_httphead -*-
"""Reading one plain HTTP/1.1 request out of a read: the parser of the direct path.

A long-polling client sends small requests, each in one segment: a request
line, a dozen headers, a short body.  twisted.web spends most of a polling
message's CPU on them (a line callback per header, ``Headers`` objects, the
``Request`` and its query parsing).  :func:`read_request` reads such a request
in a few ``bytes`` operations.

It is pure (bytes in, a :class:`RequestHead` or ``None`` out) and deliberately
narrow: it takes only what it can read completely and unambiguously, and says
``None`` to everything else (an incomplete or pipelined read, another method
or version, a chunked or ``Expect`` body, an ``Upgrade`` other than a
WebSocket one, ``Connection: close``, folded, repeated or odd header lines, a
head over the limits), which then goes to twisted.web with all its rules and
error answers.  ``None`` costs nothing but the attempt: no byte has been
consumed.  A WebSocket opening handshake (a ``GET`` with ``Upgrade:
websocket`` and no body) is read like any other request: whoever takes it
hands the same bytes to the WebSocket protocol, which reads them itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

__all__ = ["RequestHead", "read_request", "parse_query"]

#: The header block (each field line with its CRLF): RFC 9110 token names,
#: values of visible ASCII, obs-text, space and tab; no folded lines.
_FIELDS = re.compile(rb"(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r\n)*\Z")
#: A request line in origin form: method, a target of visible ASCII, HTTP/1.1.
_REQUEST_LINE = re.compile(rb"(GET|POST) (/[\x21-\x7e]*) HTTP/1\.1\Z")
#: headers that ask for handling the direct path does not do
_DECLINED = (b"transfer-encoding", b"expect")


@dataclass(slots=True)
class RequestHead:
    """One complete request: its head and its whole body."""

    method: bytes
    #: the request target as sent (``/socket.io/?EIO=4&…``)
    target: bytes
    #: the target's path, and its query without the ``?``
    path: bytes
    query: bytes
    #: header values by lower-case name
    headers: dict[bytes, bytes]
    body: bytes


def read_request(data: bytes, *, prefix: bytes, max_request_line: int, max_header_size: int,
                 max_headers: int) -> RequestHead | None:
    """The request ``data`` holds exactly, if it is a plain one under ``prefix``.

    ``prefix`` is a path prefix (``b"/socket.io/"``); the limits are the
    site's (a request over one goes to twisted.web, which answers it).
    """
    if not data.startswith((b"GET /", b"POST /")):
        return None
    line_end = data.find(b"\r\n")
    end = data.find(b"\r\n\r\n", line_end)
    if end < 0 or line_end > max_request_line:
        return None
    match = _REQUEST_LINE.match(data, 0, line_end)
    if match is None:
        return None
    method, target = match.groups()
    path, _, query = target.partition(b"?")
    if not (path.startswith(prefix) or path + b"/" == prefix) or b"%" in path or b"#" in target:
        return None
    block = data[line_end + 2:end + 2]  # the field lines, each with its CRLF
    if len(block) > max_header_size or not _FIELDS.match(block):
        return None  # an odd line (bare CR or LF, folding, a control character...)
    lines = block[:-2].split(b"\r\n") if block else []
    if len(lines) > max_headers:
        return None
    headers: dict[bytes, bytes] = {}
    for line in lines:
        name, _, value = line.partition(b":")
        headers[name.lower()] = value.strip(b" \t")
    if len(headers) != len(lines):
        return None  # a repeated field: twisted.web's way of combining them is its own
    for name in _DECLINED:
        if name in headers:
            return None
    connection = headers.get(b"connection")
    if connection is not None and b"close" in connection.lower():
        return None
    length_field = headers.get(b"content-length")
    upgrade = headers.get(b"upgrade")
    if upgrade is not None and (upgrade.lower() != b"websocket" or method != b"GET" or length_field is not None):
        return None  # another protocol, or an upgrade with a body
    if length_field is None:
        length = 0
    elif length_field.isdigit() and len(length_field) <= 15:
        length = int(length_field)
    else:
        return None
    start = end + 4
    if len(data) != start + length:
        return None
    return RequestHead(method, target, path, query, headers, data[start:])


def parse_query(query: bytes) -> dict[bytes, list[bytes]]:
    """``query`` as twisted.web's ``request.args``: fields split at ``&`` and
    ``;``, fields without ``=`` skipped, blank values kept, ``+`` and ``%XX``
    decoded."""
    args: dict[bytes, list[bytes]] = {}
    if not query:
        return args
    escaped = b"%" in query or b"+" in query
    fields = query.split(b"&")
    if b";" in query:
        fields = [f for field in fields for f in field.split(b";")]
    for field in fields:
        name, sep, value = field.partition(b"=")
        if not sep:
            continue
        if escaped:
            name = unquote_to_bytes(name.replace(b"+", b" "))
            value = unquote_to_bytes(value.replace(b"+", b" "))
        values = args.get(name)
        if values is None:
            args[name] = [value]
        else:
            values.append(value)
    return args
