"""The LSP base protocol's framing, read with bounds: headers, ``Content-Length``, bodies.

pygls's reader trusts the server: a ``Content-Length`` of 100 GB makes it wait (and allocate)
for ever, a header line without an end is read into memory for ever, a malformed header is
skipped silently. `FrameParser` is a pure, incremental parser that refuses all of these with a
`FramingError` naming what was wrong, and holds at most one header line or one message body.

    parser = FrameParser()
    for body in parser.frames(chunk):   # complete bodies, in order; the rest stays buffered
        handle(decode_message(body))    # a JSON-RPC message object, or FramingError

A stream that broke the framing once cannot be trusted to resynchronise: the error is final.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

MAX_MESSAGE_BYTES = 256 * 1024 * 1024
"""Largest body accepted. Servers legitimately send multi-MB messages (pyright's semantic
tokens or a workspace's diagnostics run to tens of MB); a quarter of a GB is far above any we
measured and still a bound on what one bad header can make us allocate."""

MAX_HEADER_LINE = 8 * 1024
"""Longest header line (without its CRLF). Real headers are under 100 bytes."""

MAX_HEADER_BYTES = 64 * 1024
"""All header lines of one message together, CRLFs included."""

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""An HTTP-style header name (RFC 9110 token), which the base protocol's headers are."""


class FramingError(Exception):
    """The server broke the base protocol's framing; ``reason`` says how, in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _mib(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n % (1024 * 1024) == 0 else f"{n} bytes"


def _show(data: bytes | bytearray, limit: int = 60) -> str:
    text = repr(bytes(data[:limit]))
    return text + (f" ... ({len(data)} bytes)" if len(data) > limit else "")


class FrameParser:
    """Incremental parser of ``Content-Length``-framed messages.

    `feed` takes any chunking of the stream and returns the bodies it completed. Buffered
    bytes never exceed `bound` (one header line, or one body up to ``max_message``).
    """

    def __init__(
        self,
        *,
        max_message: int = MAX_MESSAGE_BYTES,
        max_header_line: int = MAX_HEADER_LINE,
        max_header: int = MAX_HEADER_BYTES,
    ) -> None:
        self.max_message = max_message
        self.max_header_line = max_header_line
        self.max_header = max_header
        self._line = bytearray()  # the header line read so far (its CR included)
        self._header_bytes = 0  # header bytes of the current message, CRLFs included
        self._content_length: int | None = None  # from this message's headers
        self._body: bytearray | None = None  # not None while a body is being read
        self._length = 0  # the length of the body being read
        self._error: FramingError | None = None

    @property
    def bound(self) -> int:
        """The most bytes this parser ever buffers."""
        return max(self.max_header_line + 1, self.max_message)

    @property
    def buffered(self) -> int:
        """Bytes held for a message not yet complete."""
        return len(self._line) + (len(self._body) if self._body is not None else 0)

    def feed(self, data: bytes) -> list[bytes]:
        """The bodies that ``data`` completes, in order. Raises `FramingError` (then again on
        every later call) when the stream breaks the framing."""
        return list(self.frames(data))

    def frames(self, data: bytes) -> Iterator[bytes]:
        """`feed`, lazily: each body is yielded before the rest of ``data`` is parsed, so a
        consumer that checks each body meets the stream's first fault first. Consume it to
        the end (or stop reading the stream): what is left of ``data`` is not kept."""
        if self._error is not None:
            raise self._error
        try:
            yield from self._frames(data)
        except FramingError as exc:
            self._error = exc
            self._line.clear()
            self._body = None
            raise

    def _frames(self, data: bytes) -> Iterator[bytes]:
        view = memoryview(data)
        pos, end = 0, len(data)
        while pos < end:
            if self._body is None:
                pos = self._read_header(data, pos)
                if self._body is not None and self._length == 0:
                    yield self._finish()
                continue
            take = min(self._length - len(self._body), end - pos)
            self._body += view[pos:pos + take]
            pos += take
            if len(self._body) == self._length:
                yield self._finish()

    def _finish(self) -> bytes:
        body = bytes(self._body or b"")
        self._body = None
        return body

    def _read_header(self, data: bytes, pos: int) -> int:
        """Consume header bytes from ``pos``: up to the end of one line, or all of ``data``
        if no line ends in it. Returns the new position."""
        # Look for the LF no further than the longest allowed line (and its CR) or the header
        # budget could reach: megabytes without one are refused after the bound, unread. The
        # checks run in the same order whatever the chunking, so every chunking of a stream
        # fails with the same reason.
        window = min(self.max_header_line + 2 - len(self._line),
                     self.max_header + 1 - self._header_bytes)
        stop = min(len(data), pos + window)
        lf = data.find(b"\n", pos, stop)
        end = stop if lf < 0 else lf
        self._line += data[pos:end]
        self._header_bytes += end - pos + (lf >= 0)
        cr = self._line.find(b"\r", 0, len(self._line) - 1)  # a CR with a byte after it
        if cr >= 0:  # shown up to that byte: the same whatever the chunking
            raise FramingError(f"a bare CR in a header line: {_show(self._line[:cr + 2])}")
        if lf >= 0 and not self._line.endswith(b"\r"):
            raise FramingError(f"a header line ended by a bare LF, not CRLF: {_show(self._line)}")
        if len(self._line) > self.max_header_line + 1:
            raise FramingError(f"a header line longer than {self.max_header_line} bytes (no "
                               f"CRLF): {_show(self._line)}")
        if self._header_bytes > self.max_header:
            raise FramingError(f"message headers longer than {self.max_header} bytes")
        if lf < 0:
            return stop
        line, self._line = bytes(self._line[:-1]), bytearray()
        self._header_line(line)
        return lf + 1

    def _header_line(self, line: bytes) -> None:
        if not line:  # the blank line: the body follows
            if self._content_length is None:
                raise FramingError("a message without a Content-Length header")
            self._length, self._body = self._content_length, bytearray()
            self._content_length, self._header_bytes = None, 0
            return
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            raise FramingError(f"a header line that is not 'Name: value': {_show(line)}")
        # Header names are case-insensitive; Content-Type (and anything else) is ignored.
        if name.lower() != b"content-length":
            return
        if self._content_length is not None:
            raise FramingError("a message with two Content-Length headers")
        value = value.strip(b" \t")
        if not value.isdigit():  # ASCII digits only: no sign, no spaces, no hex
            raise FramingError(f"an invalid Content-Length {_show(value)}")
        digits = value.lstrip(b"0") or b"0"
        # Compare by length first: int() refuses strings of thousands of digits.
        if len(digits) > len(str(self.max_message)) or int(digits) > self.max_message:
            shown = digits.decode() if len(digits) <= 30 else f"of {len(digits)} digits"
            raise FramingError(
                f"Content-Length {shown} over the {_mib(self.max_message)} limit")
        self._content_length = int(digits)


def decode_message(body: bytes) -> dict[str, Any]:
    """A body as the JSON-RPC 2.0 message object it must be; `FramingError` otherwise."""
    try:
        message = json.loads(body)
    except RecursionError:
        raise FramingError(f"a message body nested too deeply to read ({len(body)} bytes)") from None
    except ValueError as exc:  # JSONDecodeError, or bytes in no UTF encoding
        raise FramingError(f"a message body that is not JSON ({exc}): {_show(body)}") from None
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        raise FramingError(f"a message that is not a JSON-RPC 2.0 object: {_show(body)}")
    if "method" not in message and "id" not in message:
        raise FramingError(f"a JSON-RPC message with neither method nor id: {_show(body)}")
    return message
