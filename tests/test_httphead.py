"""Tests for :mod:`txsocketio.httphead`, the request parser of the direct path.

The direct path answers what :func:`read_request` reads and leaves the rest to
twisted.web, so three things are tested here: it never raises; what it reads
is what twisted.web reads from the same bytes (checked against a real
``HTTPChannel`` and against ``twisted.web.http.parse_qs``); and it says
``None`` to each thing outside its narrow set.  Each ``None`` test pairs the
declined request with one that differs only by the named defect and does
parse, so the test fails if that one rule is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from hypothesis import example, given, settings
from hypothesis import strategies as st
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.http import parse_qs
from twisted.web.resource import Resource
from twisted.web.server import Site

from txsocketio.httphead import RequestHead, parse_query, read_request

PREFIX = b"/socket.io/"
#: the site's defaults (txsocketio.http.HTTPLimits)
LIMITS: dict[str, int] = {"max_request_line": 8192, "max_header_size": 16384, "max_headers": 500}
#: limits under plain twisted.web's own (16 KiB of head lines, 500 headers), for the differential
SMALL_LIMITS: dict[str, int] = {"max_request_line": 2048, "max_header_size": 4096, "max_headers": 100}

#: RFC 9110 tchar
TCHAR = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#: names the generated requests leave out (each changes how the request is read)
SPECIAL_NAMES = frozenset({b"content-length", b"transfer-encoding", b"upgrade", b"expect", b"connection"})
#: path characters that need no escaping and are neither ``?``, ``#`` nor ``%``
PATH_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/"
#: query characters: the path's, plus ``?`` and ``%``
QUERY_CHARS = PATH_CHARS + "?%"


def read(data: bytes, **limits: int) -> RequestHead | None:
    """``read_request(data)`` under ``/socket.io/`` with the site's default limits (or ``limits``)."""
    return read_request(data, prefix=PREFIX, **{**LIMITS, **limits})


def build(method: bytes = b"GET", target: bytes = b"/socket.io/?EIO=4&transport=polling",
          headers: Sequence[bytes] = (b"Host: localhost:3000",), body: bytes = b"",
          version: bytes = b"HTTP/1.1") -> bytes:
    """A request: the request line, each header line with CRLF, a blank line, the body."""
    lines = b"".join(line + b"\r\n" for line in headers)
    return method + b" " + target + b" " + version + b"\r\n" + lines + b"\r\n" + body


#: a POST as engine.io-client sends it from Node (Node's http module's header shape)
NODE_POST = (b"POST /socket.io/?EIO=4&transport=polling&t=PQx1a2b&sid=Zx9_AbCdEfGhIjKlAAAB HTTP/1.1\r\n"
             b"Accept: */*\r\n"
             b"Content-Type: text/plain;charset=UTF-8\r\n"
             b"User-Agent: node-XMLHttpRequest\r\n"
             b"Host: localhost:3000\r\n"
             b"Content-Length: 23\r\n"
             b"Connection: keep-alive\r\n"
             b"\r\n"
             b'42["message","hello!!"]')

#: a long-polling GET as a Chromium page sends it
BROWSER_GET = (b"GET /socket.io/?EIO=4&transport=polling&t=PQx1a2c&sid=Zx9_AbCdEfGhIjKlAAAB HTTP/1.1\r\n"
               b"Host: localhost:3000\r\n"
               b"Connection: keep-alive\r\n"
               b'sec-ch-ua-platform: "Linux"\r\n'
               b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
               b" Chrome/131.0.0.0 Safari/537.36\r\n"
               b'sec-ch-ua: "Chromium";v="131", "Not_A Brand";v="24"\r\n'
               b"sec-ch-ua-mobile: ?0\r\n"
               b"Accept: */*\r\n"
               b"Sec-Fetch-Site: same-origin\r\n"
               b"Sec-Fetch-Mode: cors\r\n"
               b"Sec-Fetch-Dest: empty\r\n"
               b"Referer: http://localhost:3000/\r\n"
               b"Accept-Encoding: gzip, deflate, br, zstd\r\n"
               b"Accept-Language: en-US,en;q=0.9\r\n"
               b"Cookie: io=Zx9_AbCdEfGhIjKlAAAB; theme=dark\r\n"
               b"\r\n")


class ReadRequestTests(SynchronousTestCase):
    """The requests :func:`read_request` reads, field by field."""

    def test_node_post(self) -> None:
        """A POST from engine.io-client on Node is read whole: method, target, path, query, headers, body."""
        head = read(NODE_POST)
        self.assertEqual(head, RequestHead(
            method=b"POST",
            target=b"/socket.io/?EIO=4&transport=polling&t=PQx1a2b&sid=Zx9_AbCdEfGhIjKlAAAB",
            path=b"/socket.io/",
            query=b"EIO=4&transport=polling&t=PQx1a2b&sid=Zx9_AbCdEfGhIjKlAAAB",
            headers={b"accept": b"*/*", b"content-type": b"text/plain;charset=UTF-8",
                     b"user-agent": b"node-XMLHttpRequest", b"host": b"localhost:3000",
                     b"content-length": b"23", b"connection": b"keep-alive"},
            body=b'42["message","hello!!"]'))

    def test_browser_get(self) -> None:
        """A browser's polling GET with 14 headers is read with every value as sent and no body."""
        head = read(BROWSER_GET)
        assert head is not None
        self.assertEqual((head.method, head.path, head.query, head.body),
                         (b"GET", b"/socket.io/", b"EIO=4&transport=polling&t=PQx1a2c&sid=Zx9_AbCdEfGhIjKlAAAB", b""))
        self.assertEqual(head.headers, {
            b"host": b"localhost:3000",
            b"connection": b"keep-alive",
            b"sec-ch-ua-platform": b'"Linux"',
            b"user-agent": b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
                           b" Chrome/131.0.0.0 Safari/537.36",
            b"sec-ch-ua": b'"Chromium";v="131", "Not_A Brand";v="24"',
            b"sec-ch-ua-mobile": b"?0",
            b"accept": b"*/*",
            b"sec-fetch-site": b"same-origin",
            b"sec-fetch-mode": b"cors",
            b"sec-fetch-dest": b"empty",
            b"referer": b"http://localhost:3000/",
            b"accept-encoding": b"gzip, deflate, br, zstd",
            b"accept-language": b"en-US,en;q=0.9",
            b"cookie": b"io=Zx9_AbCdEfGhIjKlAAAB; theme=dark",
        })

    def test_prefix_without_trailing_slash(self) -> None:
        """``/socket.io?…`` (the prefix without its slash) is under the prefix ``/socket.io/``."""
        head = read(build(target=b"/socket.io?EIO=4&transport=polling"))
        assert head is not None
        self.assertEqual((head.target, head.path, head.query),
                         (b"/socket.io?EIO=4&transport=polling", b"/socket.io", b"EIO=4&transport=polling"))

    def test_path_below_prefix(self) -> None:
        """A path below the prefix (a namespace-like suffix) is read, its query split off at the first ``?``."""
        head = read(build(target=b"/socket.io/a/b?x=1?y"))
        assert head is not None
        self.assertEqual((head.path, head.query), (b"/socket.io/a/b", b"x=1?y"))

    def test_no_query(self) -> None:
        """A target without ``?`` has the whole target as path and an empty query."""
        head = read(build(target=b"/socket.io/"))
        assert head is not None
        self.assertEqual((head.path, head.query), (b"/socket.io/", b""))

    def test_value_whitespace_stripped(self) -> None:
        """Spaces and tabs around a value are dropped; those inside it are kept."""
        head = read(build(headers=[b"Host:   x  ", b"X-A:\t a \t b\t ", b"X-B:c"]))
        assert head is not None
        self.assertEqual(head.headers, {b"host": b"x", b"x-a": b"a \t b", b"x-b": b"c"})

    def test_names_lower_cased(self) -> None:
        """Header names are keyed in lower case whatever case they were sent in."""
        head = read(build(headers=[b"HOST: x", b"X-Custom-HEADER: Value", b"content-TYPE: text/plain"]))
        assert head is not None
        self.assertEqual(head.headers, {b"host": b"x", b"x-custom-header": b"Value", b"content-type": b"text/plain"})

    def test_no_headers(self) -> None:
        """A request with no header lines at all is read with no headers."""
        head = read(b"GET /socket.io/?EIO=4 HTTP/1.1\r\n\r\n")
        self.assertEqual(head, RequestHead(b"GET", b"/socket.io/?EIO=4", b"/socket.io/", b"EIO=4", {}, b""))

    def test_empty_value(self) -> None:
        """A header with an empty (or blank) value is read with the value ``b""``."""
        head = read(build(headers=[b"X-A:", b"X-B:  "]))
        assert head is not None
        self.assertEqual(head.headers, {b"x-a": b"", b"x-b": b""})

    def test_obs_text_value(self) -> None:
        """Bytes 0x80-0xFF in a value (obs-text, as twisted.web accepts them) are kept as sent."""
        head = read(build(headers=[b"X-Name: caf\xc3\xa9 \xff"]))
        assert head is not None
        self.assertEqual(head.headers, {b"x-name": b"caf\xc3\xa9 \xff"})

    def test_content_length_zero(self) -> None:
        """``Content-Length: 0`` with nothing after the head is an empty body."""
        head = read(build(method=b"POST", headers=[b"Content-Length: 0"]))
        assert head is not None
        self.assertEqual(head.body, b"")

    def test_content_length_leading_zeros(self) -> None:
        """A length with leading zeros counts as its number, as twisted.web's ``int()`` does."""
        head = read(build(method=b"POST", headers=[b"Content-Length: 005"], body=b"hello"))
        assert head is not None
        self.assertEqual(head.body, b"hello")

    def test_body_with_blank_lines(self) -> None:
        """A body holding CRLFCRLF is the body: the head ends at the first blank line."""
        head = read(build(method=b"POST", headers=[b"Content-Length: 8"], body=b"a\r\n\r\nb\r\n"))
        assert head is not None
        self.assertEqual((head.headers, head.body), ({b"content-length": b"8"}, b"a\r\n\r\nb\r\n"))


class ReadRequestDeclinesTests(SynchronousTestCase):
    """Each request :func:`read_request` leaves to twisted.web, one rule at a time."""

    def assertDeclined(self, good: bytes, bad: bytes, **limits: int) -> None:
        """``good`` is read and ``bad``, which differs from it only by the defect under test, is not."""
        self.assertIsInstance(read(good, **limits), RequestHead, good)
        self.assertIsNone(read(bad, **limits), bad)

    def test_http_1_0(self) -> None:
        """An HTTP/1.0 request is declined."""
        self.assertDeclined(build(), build(version=b"HTTP/1.0"))

    def test_other_versions(self) -> None:
        """Versions other than exactly ``HTTP/1.1`` are declined."""
        for version in (b"HTTP/2.0", b"HTTP/1.2", b"http/1.1", b"HTTP/1.1 "):
            self.assertDeclined(build(), build(version=version))

    def test_other_methods(self) -> None:
        """HEAD, PUT, OPTIONS, DELETE and a lower-case ``get`` are declined."""
        for method in (b"HEAD", b"PUT", b"OPTIONS", b"DELETE", b"get", b"GETS"):
            self.assertDeclined(build(), build(method=method))

    def test_request_line_spacing(self) -> None:
        """A request line with a doubled or tab separator is declined."""
        self.assertDeclined(b"GET /socket.io/ HTTP/1.1\r\n\r\n", b"GET  /socket.io/ HTTP/1.1\r\n\r\n")
        self.assertDeclined(b"GET /socket.io/ HTTP/1.1\r\n\r\n", b"GET /socket.io/  HTTP/1.1\r\n\r\n")
        self.assertDeclined(b"GET /socket.io/ HTTP/1.1\r\n\r\n", b"GET /socket.io/\tHTTP/1.1\r\n\r\n")

    def test_chunked(self) -> None:
        """``Transfer-Encoding: chunked`` is declined (even with nothing after the head)."""
        self.assertDeclined(build(method=b"POST"),
                            build(method=b"POST", headers=[b"Host: localhost:3000", b"Transfer-Encoding: chunked"]))

    def test_transfer_encoding_identity(self) -> None:
        """Any ``Transfer-Encoding`` is declined, ``identity`` too."""
        self.assertDeclined(build(method=b"POST"),
                            build(method=b"POST", headers=[b"Host: localhost:3000", b"transfer-encoding: identity"]))

    def test_expect(self) -> None:
        """``Expect: 100-continue`` is declined although the body is all there."""
        good = [b"Host: localhost:3000", b"Content-Length: 5"]
        self.assertDeclined(build(method=b"POST", headers=good, body=b"hello"),
                            build(method=b"POST", headers=[*good, b"Expect: 100-continue"], body=b"hello"))

    def test_websocket_upgrade(self) -> None:
        """A WebSocket opening handshake is read, its headers as sent (any case of ``websocket``)."""
        for value in (b"websocket", b"WebSocket"):
            headers = [b"Host: localhost:3000", b"Connection: Upgrade", b"Upgrade: " + value,
                       b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", b"Sec-WebSocket-Version: 13"]
            head = read(build(target=b"/socket.io/?EIO=4&transport=websocket", headers=headers))
            assert head is not None
            self.assertEqual(head.headers[b"upgrade"], value)
            self.assertEqual(head.headers[b"sec-websocket-key"], b"dGhlIHNhbXBsZSBub25jZQ==")

    def test_other_upgrade(self) -> None:
        """An ``Upgrade`` to anything but WebSocket is declined (``Connection: Upgrade`` alone is not)."""
        good = [b"Host: localhost:3000", b"Connection: Upgrade"]
        for value in (b"h2c", b"websocket, h2c", b""):
            self.assertDeclined(build(headers=good), build(headers=[*good, b"Upgrade: " + value]))

    def test_upgrade_with_body(self) -> None:
        """A WebSocket upgrade with a body, or by POST, is declined."""
        upgrade = [b"Host: localhost:3000", b"Upgrade: websocket"]
        self.assertDeclined(build(headers=upgrade),
                            build(headers=[*upgrade, b"Content-Length: 0"]))
        self.assertDeclined(build(method=b"POST", headers=[b"Host: localhost:3000", b"Content-Length: 2"], body=b"ok"),
                            build(method=b"POST", headers=[*upgrade, b"Content-Length: 2"], body=b"ok"))

    def test_connection_close(self) -> None:
        """``Connection: close`` is declined where ``Connection: keep-alive`` is read."""
        self.assertDeclined(build(headers=[b"Connection: keep-alive"]), build(headers=[b"Connection: close"]))

    def test_connection_keep_alive_close(self) -> None:
        """``close`` among other connection options (any case) is declined."""
        self.assertDeclined(build(headers=[b"Connection: Keep-Alive"]),
                            build(headers=[b"Connection: Keep-Alive, close"]))
        self.assertDeclined(build(headers=[b"Connection: Keep-Alive"]),
                            build(headers=[b"Connection: Keep-Alive,CLOSE"]))

    def test_repeated_header(self) -> None:
        """A header sent twice, in the same or another case, is declined."""
        good = build(headers=[b"Accept: a", b"Accept-Language: b"])
        self.assertDeclined(good, build(headers=[b"Accept: a", b"Accept: b"]))
        self.assertDeclined(good, build(headers=[b"Accept: a", b"accept: b"]))
        self.assertDeclined(good, build(headers=[b"Accept: a", b"ACCEPT: a"]))

    def test_repeated_content_length(self) -> None:
        """Two equal ``Content-Length`` headers are declined."""
        self.assertDeclined(build(method=b"POST", headers=[b"Content-Length: 5", b"X-A: 5"], body=b"hello"),
                            build(method=b"POST", headers=[b"Content-Length: 5", b"content-length: 5"], body=b"hello"))

    def test_obs_fold(self) -> None:
        """A folded header line (starting with a space or a tab) is declined."""
        good = build(headers=[b"X-A: a", b"X-B: b"])
        self.assertDeclined(good, build(headers=[b"X-A: a", b" b"]))
        self.assertDeclined(good, build(headers=[b"X-A: a", b"\tb"]))

    def test_space_before_colon(self) -> None:
        """A header name followed by a space (or tab) before its colon is declined."""
        self.assertDeclined(build(headers=[b"Host: x"]), build(headers=[b"Host : x"]))
        self.assertDeclined(build(headers=[b"Host: x"]), build(headers=[b"Host\t: x"]))

    def test_odd_header_names(self) -> None:
        """A line without a colon, an empty name or a name with a non-token byte is declined."""
        good = build(headers=[b"Host: x", b"X-A: b"])
        for line in (b"X-A b", b": b", b"X(A): b", b"X\x80A: b", b"X\x00A: b", b"X/A: b"):
            self.assertDeclined(good, build(headers=[b"Host: x", line]))

    def test_nul_in_value(self) -> None:
        """A NUL byte in a header value is declined."""
        self.assertDeclined(build(headers=[b"User-Agent: a b"]), build(headers=[b"User-Agent: a\x00b"]))

    def test_control_char_in_value(self) -> None:
        """Control characters other than tab (and DEL) in a header value are declined."""
        self.assertIsInstance(read(build(headers=[b"User-Agent: a\tb"])), RequestHead)
        for char in (b"\x01", b"\x08", b"\x0b", b"\x0c", b"\x1b", b"\x1f", b"\x7f"):
            self.assertDeclined(build(headers=[b"User-Agent: a b"]), build(headers=[b"User-Agent: a" + char + b"b"]))

    def test_bare_lf(self) -> None:
        """A header line ended by a bare LF is declined, and so is a request with LF line ends only."""
        good = build(headers=[b"Host: x", b"Accept: y"])
        self.assertDeclined(good, good.replace(b"Host: x\r\n", b"Host: x\n"))
        self.assertDeclined(good, good.replace(b"\r\n", b"\n"))

    def test_bare_lf_in_request_line(self) -> None:
        """A bare LF inside the request line is declined."""
        self.assertDeclined(build(target=b"/socket.io/?a=1"), build(target=b"/socket.io/?a=1\n"))

    def test_bare_cr(self) -> None:
        """A bare CR between header lines or inside a value is declined."""
        good = build(headers=[b"Host: x", b"Accept: y"])
        self.assertDeclined(good, good.replace(b"Host: x\r\n", b"Host: x\r"))
        self.assertDeclined(good, good.replace(b"Host: x", b"Host: x\ry"))

    def test_request_line_over_limit(self) -> None:
        """A request line one byte over ``max_request_line`` is declined; one at the limit is read."""
        line = b"GET /socket.io/?t= HTTP/1.1"
        pad = 100 - len(line)
        good = build(target=b"/socket.io/?t=" + b"a" * pad)
        bad = build(target=b"/socket.io/?t=" + b"a" * (pad + 1))
        self.assertEqual(good.index(b"\r\n"), 100)
        self.assertDeclined(good, bad, max_request_line=100)

    def test_header_block_over_limit(self) -> None:
        """A header block (field lines with their CRLFs) one byte over ``max_header_size`` is declined."""
        good = build(headers=[b"Host: x", b"X-A: " + b"a" * 80])  # 9 + 87 = 96 bytes of field lines
        bad = build(headers=[b"Host: x", b"X-A: " + b"a" * 81])
        self.assertDeclined(good, bad, max_header_size=96)

    def test_too_many_headers(self) -> None:
        """More than ``max_headers`` header lines are declined; exactly that many are read."""
        names = [b"X-%d: v" % i for i in range(4)]
        self.assertDeclined(build(headers=names[:3]), build(headers=names), max_headers=3)

    def test_other_path(self) -> None:
        """A path not under the prefix (``/other/``, ``/socket.iox``, ``/``) is declined."""
        good = build(target=b"/socket.io/?EIO=4")
        for target in (b"/other/?EIO=4", b"/socket.iox/?EIO=4", b"/socket.i?EIO=4", b"/?EIO=4", b"/"):
            self.assertDeclined(good, build(target=target))

    def test_prefix_percent_encoded(self) -> None:
        """``/socket.io%2F`` (the prefix's slash percent-encoded) is declined."""
        self.assertDeclined(build(target=b"/socket.io/?EIO=4"), build(target=b"/socket.io%2F?EIO=4"))

    def test_percent_in_path(self) -> None:
        """A percent-encoded byte in a path under the prefix is declined (the query may have them)."""
        self.assertIsInstance(read(build(target=b"/socket.io/a-b?x=%2F")), RequestHead)
        self.assertDeclined(build(target=b"/socket.io/a-b?x=%2F"), build(target=b"/socket.io/a%2Fb?x=%2F"))

    def test_fragment(self) -> None:
        """A ``#`` anywhere in the target is declined."""
        self.assertDeclined(build(target=b"/socket.io/?EIO=4"), build(target=b"/socket.io/?EIO=4#x"))
        self.assertDeclined(build(target=b"/socket.io/"), build(target=b"/socket.io/#x"))

    def test_target_not_origin_form(self) -> None:
        """An absolute-form or asterisk target is declined."""
        self.assertDeclined(build(target=b"/socket.io/"), build(target=b"http://h/socket.io/"))
        self.assertDeclined(build(target=b"/socket.io/"), build(target=b"*"))

    def test_target_with_non_ascii(self) -> None:
        """A target byte outside visible ASCII (DEL, 0x80-0xFF) is declined."""
        for byte in (b"\x7f", b"\x80", b"\xb0", b"\xff"):
            self.assertDeclined(build(target=b"/socket.io/?a=b"), build(target=b"/socket.io/?a=" + byte))

    def test_body_shorter(self) -> None:
        """A body shorter than Content-Length (the rest not read yet) is declined."""
        headers = [b"Content-Length: 5"]
        self.assertDeclined(build(method=b"POST", headers=headers, body=b"hello"),
                            build(method=b"POST", headers=headers, body=b"hell"))

    def test_body_longer(self) -> None:
        """Bytes past Content-Length (the start of another request) are declined."""
        headers = [b"Content-Length: 5"]
        self.assertDeclined(build(method=b"POST", headers=headers, body=b"hello"),
                            build(method=b"POST", headers=headers, body=b"hello!"))

    def test_bytes_after_head_without_length(self) -> None:
        """Bytes after a head without Content-Length are declined."""
        self.assertDeclined(build(), build(body=b"x"))
        self.assertDeclined(build(), build() + b"\r\n")

    def test_pipelined(self) -> None:
        """Two requests in one read are declined."""
        self.assertDeclined(BROWSER_GET, BROWSER_GET + BROWSER_GET)
        self.assertDeclined(NODE_POST, NODE_POST + NODE_POST)

    def test_non_numeric_content_length(self) -> None:
        """A Content-Length that is not plain ASCII digits is declined."""
        good = build(method=b"POST", headers=[b"Content-Length: 5"], body=b"hello")
        for value in (b"abc", b"5a", b"0x5", b"+5", b"5 5", b"5,5", b"5.0", b"", b"\xd9\xa5"):
            self.assertDeclined(good, build(method=b"POST", headers=[b"Content-Length: " + value], body=b"hello"))

    def test_negative_content_length(self) -> None:
        """A negative Content-Length is declined."""
        self.assertDeclined(build(method=b"POST", headers=[b"Content-Length: 5"], body=b"hello"),
                            build(method=b"POST", headers=[b"Content-Length: -5"], body=b"hello"))
        self.assertDeclined(build(method=b"POST", headers=[b"Content-Length: 0"]),
                            build(method=b"POST", headers=[b"Content-Length: -0"]))

    def test_content_length_too_long(self) -> None:
        """A Content-Length of more than 15 digits is declined, even with leading zeros."""
        self.assertDeclined(build(method=b"POST", headers=[b"Content-Length: " + b"5".zfill(15)], body=b"hello"),
                            build(method=b"POST", headers=[b"Content-Length: " + b"5".zfill(16)], body=b"hello"))

    def test_no_blank_line(self) -> None:
        """A head without its closing blank line (not all read yet) is declined."""
        good = build(headers=[b"Host: x"])
        self.assertDeclined(good, good[:-2])
        self.assertDeclined(good, good[:-1])

    def test_truncated(self) -> None:
        """Every proper prefix of a request is declined."""
        for end in range(len(NODE_POST)):
            self.assertIsNone(read(NODE_POST[:end]), NODE_POST[:end])
        self.assertIsInstance(read(NODE_POST), RequestHead)

    def test_leading_blank_line(self) -> None:
        """A CRLF before the request line (twisted.web skips one) is declined."""
        self.assertDeclined(build(), b"\r\n" + build())


class ParseQueryTests(SynchronousTestCase):
    """:func:`parse_query` is twisted.web's ``request.args`` of the query."""

    def assertAgrees(self, query: bytes, expected: dict[bytes, list[bytes]]) -> None:
        """``parse_query(query)`` is ``expected`` and twisted.web's ``parse_qs(query, 1)``."""
        self.assertEqual(parse_query(query), expected)
        self.assertEqual(parse_qs(query, 1), expected)

    def test_blank_and_missing_values(self) -> None:
        """Blank values are kept and fields without ``=`` are skipped."""
        self.assertAgrees(b"a=1&b=&c", {b"a": [b"1"], b"b": [b""]})

    def test_semicolon(self) -> None:
        """``;`` separates fields as ``&`` does."""
        self.assertAgrees(b"a=1;b=2&c=3", {b"a": [b"1"], b"b": [b"2"], b"c": [b"3"]})

    def test_escapes(self) -> None:
        """``+`` is a space and ``%XX`` a byte, in names and values; a bad escape stays as it is."""
        self.assertAgrees(b"a+b=c+d&%41%2b=%00%ff&x=%zz%4", {b"a b": [b"c d"], b"A+": [b"\x00\xff"], b"x": [b"%zz%4"]})

    def test_repeated_names(self) -> None:
        """A repeated name collects its values in order."""
        self.assertAgrees(b"a=1&a=2&b=3&a=", {b"a": [b"1", b"2", b""], b"b": [b"3"]})

    def test_empty(self) -> None:
        """An empty query (or only separators) has no fields."""
        self.assertAgrees(b"", {})
        self.assertAgrees(b"&;&", {})

    def test_value_with_equals(self) -> None:
        """A value is everything after the first ``=``."""
        self.assertAgrees(b"a==b=c&=x", {b"a": [b"=b=c"], b"": [b"x"]})

    def test_engineio_query(self) -> None:
        """An engine.io polling query reads as its fields."""
        self.assertAgrees(b"EIO=4&transport=polling&t=PQx1a2b&sid=Zx9_AbCd",
                          {b"EIO": [b"4"], b"transport": [b"polling"], b"t": [b"PQx1a2b"], b"sid": [b"Zx9_AbCd"]})

    @settings(max_examples=300)
    @given(st.lists(st.sampled_from([b"&", b";", b"=", b"%", b"+", b"a", b"Z", b"0", b"9", b"f", b"F", b"g",
                                     b"%2", b"%41", b"%e9", b" ", b"\x00", b"\xff", b"?"]), max_size=30)
           .map(b"".join) | st.binary(max_size=30))
    def test_agrees_with_twisted(self, query: bytes) -> None:
        """For any query, ``parse_query`` equals twisted.web's ``parse_qs(query, 1)``."""
        self.assertEqual(parse_query(query), parse_qs(query, 1))


# -- strategies ------------------------------------------------------------------------------


@dataclass
class Generated:
    """A generated request and what it is made of."""

    data: bytes
    method: bytes
    target: bytes
    path: bytes
    query: bytes
    headers: dict[bytes, bytes]
    body: bytes


def _text(alphabet: str, max_size: int) -> st.SearchStrategy[bytes]:
    """ASCII text of ``alphabet`` as bytes."""
    return st.text(alphabet=alphabet, max_size=max_size).map(str.encode)


_names = (st.text(alphabet=TCHAR, min_size=1, max_size=12).map(str.encode)
          .filter(lambda name: name.lower() not in SPECIAL_NAMES))
#: visible ASCII and inner spaces, no blank at either end
_values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30).map(
    lambda text: text.strip(" ").encode())


@st.composite
def requests(draw: st.DrawFn) -> Generated:
    """A plain request under ``/socket.io/`` that :func:`read_request` must read."""
    method = draw(st.sampled_from([b"GET", b"POST"]))
    rest = draw(_text(PATH_CHARS, 20))
    path = draw(st.sampled_from([b"/socket.io/", b"/socket.io"])) if not rest else b"/socket.io/" + rest
    query = draw(st.none() | _text(QUERY_CHARS, 40))
    target = path if query is None else path + b"?" + query
    names = draw(st.lists(_names, max_size=15, unique_by=bytes.lower))
    values = [draw(_values) for _ in names]
    body = draw(st.binary(max_size=60))
    lines = [name + draw(st.sampled_from([b":", b": ", b":\t", b":  "])) + value
             + draw(st.sampled_from([b"", b"", b" ", b"\t ", b"  "])) for name, value in zip(names, values)]
    headers = {name.lower(): value for name, value in zip(names, values)}
    if body or draw(st.booleans()):
        length_name = draw(st.sampled_from([b"Content-Length", b"content-length", b"CONTENT-LENGTH"]))
        lines.insert(draw(st.integers(0, len(lines))), length_name + b": " + b"%d" % len(body))
        headers[b"content-length"] = b"%d" % len(body)
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), b"Connection: keep-alive")
        headers[b"connection"] = b"keep-alive"
    data = build(method, target, lines, body)
    return Generated(data, method, target, path, query or b"", headers, body)


#: bytes that matter to an HTTP head, to mutate with
_mutation_bytes = st.sampled_from(b"\r\n\t :\x00\x7f\x80\xff%?#;,=/-0123456789aAzZ") | st.integers(0, 255)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A generated request with one to three bytes flipped, inserted or deleted."""
    data = bytearray(draw(requests()).data)
    for _ in range(draw(st.sampled_from([1, 1, 2, 3]))):
        kind = draw(st.sampled_from(["flip", "insert", "delete"]))
        if kind == "insert":
            data.insert(draw(st.integers(0, len(data))), draw(_mutation_bytes))
        elif data:
            at = draw(st.integers(0, len(data) - 1))
            if kind == "flip":
                data[at] = draw(_mutation_bytes)
            else:
                del data[at]
    return bytes(data)


_odd_pieces = st.sampled_from([b"X-A", b"x-a", b"Host", b"Content-Length", b"content-length", b"Connection",
                               b"close", b"keep-alive", b"chunked", b"Transfer-Encoding", b":", b": ", b" ", b"\t",
                               b"\r", b"\n", b"\r\n", b"\x00", b"\x7f", b"\x80", b"0", b"5", b"-", b",", b"a"])
#: a value made of odd bytes that are each legal in a value, or not
_odd_values = st.lists(st.sampled_from([b"a", b" ", b"\t", b"\x80", b"\xff", b",", b"0", b"5", b"close"])
                       | st.sampled_from([b"\x00", b"\x7f", b"\r", b"\n", b"\x01"]), max_size=4).map(b"".join)


@st.composite
def raw_heads(draw: st.DrawFn) -> bytes:
    """A GET or POST under ``/socket.io/`` whose header lines are made of head-shaped odd bytes."""
    field = st.builds(lambda name, sep, value: name + sep + value,
                      st.sampled_from([b"X-A", b"x-a", b"X-B", b"Host", b"Content-Length", b"Connection", b"Te"]),
                      st.sampled_from([b":", b": ", b":\t", b":  "]) | st.sampled_from([b" :", b""]), _odd_values)
    odd = st.lists(_odd_pieces, max_size=6).map(b"".join)
    lines = draw(st.lists(st.one_of(field, field, field, odd), max_size=4))
    method = draw(st.sampled_from([b"GET", b"POST"]))
    return build(method, b"/socket.io/?EIO=4", lines, draw(st.sampled_from([b"", b"", b"5", b"hello"])))


# -- twisted.web, for the differential -------------------------------------------------------


@dataclass
class Seen:
    """What twisted.web's ``Request`` held when the leaf rendered it."""

    method: bytes
    uri: bytes
    path: bytes
    args: dict[bytes, list[bytes]]
    body: bytes
    #: every header, by lower-case name
    headers: dict[bytes, list[bytes]]
    #: ``getRawHeaders(name)`` of each name asked for
    asked: dict[bytes, list[bytes] | None]


class Recorder(Resource):
    """A leaf that answers 200 and records each request it renders."""

    isLeaf = True

    def __init__(self, names: Sequence[bytes]) -> None:
        super().__init__()
        self.names = names
        self.seen: list[Seen] = []

    def render(self, request: Any) -> bytes:
        headers = {name.lower(): list(values) for name, values in request.requestHeaders.getAllRawHeaders()}
        asked = {name: request.requestHeaders.getRawHeaders(name) for name in self.names}
        self.seen.append(Seen(request.method, request.uri, request.path, request.args, request.content.read(),
                              headers, asked))
        return b"ok"


def twisted_web_reads(data: bytes, names: Sequence[bytes]) -> tuple[list[Seen], bytes]:
    """Feed ``data`` in one read to a twisted.web ``HTTPChannel``: the requests it rendered and its answer."""
    recorder = Recorder(names)
    site = Site(recorder, reactor=MemoryReactorClock())
    channel = site.buildProtocol(None)
    assert channel is not None
    transport = StringTransport()
    channel.makeConnection(transport)
    channel.dataReceived(data)
    return recorder.seen, transport.value()


class ReadRequestPropertyTests(SynchronousTestCase):
    """Properties of :func:`read_request` over generated input."""

    @settings(max_examples=300)
    @given(st.binary(max_size=200))
    @example(b"GET /")
    @example(b"POST /\r\n\r\n")
    @example(b"GET / HTTP/1.1\r\n")
    @example(b"GET /socket.io/ HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n")
    def test_arbitrary_bytes(self, data: bytes) -> None:
        """Any bytes give ``None`` or a ``RequestHead``, never an exception."""
        head = read(data)
        self.assertTrue(head is None or isinstance(head, RequestHead))

    @settings(max_examples=300)
    @given(mutated() | raw_heads())
    def test_mutated_requests(self, data: bytes) -> None:
        """A request with bytes flipped, inserted or deleted gives ``None`` or a ``RequestHead``, never an
        exception; small limits too."""
        for limits in ({}, {"max_request_line": 30, "max_header_size": 40, "max_headers": 2}):
            head = read(data, **limits)
            self.assertTrue(head is None or isinstance(head, RequestHead))

    @settings(max_examples=300)
    @given(requests())
    def test_round_trip(self, request: Generated) -> None:
        """A plain generated request is read back as the method, target, headers and body it was built from."""
        self.assertEqual(read(request.data), RequestHead(request.method, request.target, request.path,
                                                         request.query, request.headers, request.body))


class TwistedWebAgreementTests(SynchronousTestCase):
    """Whenever :func:`read_request` reads a request, twisted.web reads the same from the same bytes."""

    def assertTwistedWebAgrees(self, data: bytes) -> bool:
        """If ``data`` is read, twisted.web renders one request with the same fields and answers 200.

        Returns whether ``data`` was read.
        """
        head = read_request(data, prefix=PREFIX, **SMALL_LIMITS)
        if head is None:
            return False
        seen, answer = twisted_web_reads(data, list(head.headers))
        self.assertTrue(answer.startswith(b"HTTP/1.1 200 "), (data, answer))
        self.assertEqual(len(seen), 1, data)
        request = seen[0]
        self.assertEqual((request.method, request.uri, request.path, request.body),
                         (head.method, head.target, head.path, head.body), data)
        self.assertEqual(request.asked, {name: [value] for name, value in head.headers.items()}, data)
        self.assertEqual(request.headers, {name: [value] for name, value in head.headers.items()}, data)
        content_type = head.headers.get(b"content-type", b"").lower()
        if not (head.method == b"POST" and head.body and content_type.startswith((b"application/x-www-form",
                                                                                   b"multipart/"))):
            self.assertEqual(request.args, parse_query(head.query), data)
        return True

    def test_examples(self) -> None:
        """twisted.web reads the typical and the edge-case requests as :func:`read_request` does."""
        for data in (NODE_POST, BROWSER_GET, build(target=b"/socket.io?EIO=4"),
                     build(headers=[b"Host:   x  ", b"X-A:\t a \t b\t ", b"X-B:", b"HOST-x: y"]),
                     build(headers=[b"X-Name: caf\xc3\xa9 \xff", b"Te: trailers", b"Dnt: 1"]),
                     build(method=b"POST", headers=[b"Content-Length: 005"], body=b"hello"),
                     build(method=b"POST", headers=[b"Content-Length: 8"], body=b"a\r\n\r\nb\r\n"),
                     build(method=b"POST", headers=[b"Content-Type: application/x-www-form-urlencoded",
                                                    b"Content-Length: 3"], body=b"a=1"),
                     build(method=b"GET", headers=[b"Content-Length: 2"], body=b"hi"),
                     build(target=b"/socket.io/a/../b;c?x=1;y=%41+&z?"),
                     build(method=b"POST", headers=[b"Content-Length: 20000"], body=b"x" * 20000),
                     b"GET /socket.io/ HTTP/1.1\r\n\r\n"):
            self.assertTrue(self.assertTwistedWebAgrees(data), data)

    @settings(max_examples=200)
    @given(requests())
    def test_generated(self, request: Generated) -> None:
        """twisted.web reads each generated plain request as :func:`read_request` does."""
        self.assertTrue(self.assertTwistedWebAgrees(request.data))

    @settings(max_examples=400)
    @given(mutated() | raw_heads())
    def test_mutated(self, data: bytes) -> None:
        """twisted.web reads each mutated request that :func:`read_request` reads as it does."""
        self.assertTwistedWebAgrees(data)
