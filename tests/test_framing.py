"""The bounded framing reader: `FrameParser` and `decode_message` on valid streams cut every
way, on each framing fault, and fuzzed; then end to end, a fake server breaking the framing
makes a report `unknown` naming the fault, at once, and leaves no process behind."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types

from lspfeedback import Verifier
from lspfeedback._lsp.client import LATEST_LIMIT, PublishedDiagnostics
from lspfeedback._lsp.framing import (
    MAX_MESSAGE_BYTES,
    FrameParser,
    FramingError,
    decode_message,
)

from .conftest import FAKE_SERVER, TIMEOUT, fake


def frame(body: bytes, *headers: bytes) -> bytes:
    return b"".join(h + b"\r\n" for h in headers) + b"Content-Length: %d\r\n\r\n" % len(body) + body


BODIES = [
    b'{"jsonrpc": "2.0", "id": 1, "result": null}',
    b"",  # Content-Length: 0 is well framed (decode_message refuses it)
    '{"jsonrpc": "2.0", "method": "x", "params": "héllo \U0001f600"}'.encode(),
    b'{"x": "Content-Length: 3\\r\\n\\r\\n"}\r\n\r\nContent-Length: 9\r\n\r\n',  # framing inside
]
STREAM = (
    frame(BODIES[0])
    + frame(BODIES[1], b"Content-Type: application/vscode-jsonrpc; charset=utf-8")
    + b"content-length: %d\r\nCONTENT-TYPE: x\r\n\r\n" % len(BODIES[2]) + BODIES[2]
    + b"Content-Length:%d \r\n\r\n" % len(BODIES[3]) + BODIES[3]  # no space, trailing space
)


def feed_all(parser: FrameParser, chunks: list[bytes]) -> list[bytes]:
    bodies: list[bytes] = []
    for chunk in chunks:
        bodies += parser.feed(chunk)
        assert parser.buffered <= parser.bound
    return bodies


# ---- valid streams, every chunking -----------------------------------------------------------


def test_one_chunk_with_several_messages() -> None:
    parser = FrameParser()
    assert parser.feed(STREAM) == BODIES
    assert parser.buffered == 0


def test_one_byte_at_a_time() -> None:
    parser = FrameParser()
    assert feed_all(parser, [STREAM[i:i + 1] for i in range(len(STREAM))]) == BODIES
    assert parser.buffered == 0


def test_split_at_every_byte_boundary() -> None:
    for cut in range(len(STREAM) + 1):
        parser = FrameParser()
        assert feed_all(parser, [STREAM[:cut], STREAM[cut:]]) == BODIES, cut


def test_a_partial_message_stays_buffered_until_it_completes() -> None:
    parser = FrameParser()
    whole = frame(b'{"jsonrpc": "2.0", "method": "m"}')
    assert parser.feed(whole[:-5]) == []
    assert 0 < parser.buffered < len(whole)
    assert parser.feed(whole[-5:]) == [whole[whole.index(b"{"):]]


def test_frames_yields_each_body_before_parsing_on() -> None:
    # The reader decodes each body as it is yielded: the first fault in the stream is the one
    # it meets, even when a later one is in the same chunk.
    parser = FrameParser()
    frames = parser.frames(frame(b"not json") + b"garbage\r\n")
    assert next(frames) == b"not json"
    with pytest.raises(FramingError, match="not 'Name: value'"):
        next(frames)


def test_a_multi_megabyte_message_is_fine() -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 7, "result": "x" * (5 * 1024 * 1024)}).encode()
    data = frame(body)
    parser = FrameParser()
    chunks = [data[i:i + 65536] for i in range(0, len(data), 65536)]
    assert feed_all(parser, chunks) == [body]


# ---- faults ----------------------------------------------------------------------------------

FAULTS = {
    "huge-length": (b"Content-Length: 99999999999\r\n\r\n{",
                    "Content-Length 99999999999 over the 256 MiB limit"),
    "thousands-of-digits": (b"Content-Length: " + b"9" * 5000 + b"\r\n",
                            "of 5000 digits over the 256 MiB limit"),
    "negative-length": (b"Content-Length: -1\r\n\r\n", "invalid Content-Length b'-1'"),
    "hex-length": (b"Content-Length: 0x10\r\n\r\n", "invalid Content-Length"),
    "empty-length": (b"Content-Length: \r\n\r\n", "invalid Content-Length"),
    "unicode-digits": ("Content-Length: ٣\r\n\r\n".encode(), "invalid Content-Length"),
    "duplicate-length": (b"Content-Length: 2\r\ncontent-length: 2\r\n\r\n{}",
                         "two Content-Length headers"),
    "missing-length": (b"Content-Type: application/json\r\n\r\n{}", "without a Content-Length"),
    "blank-line-first": (b"\r\n", "without a Content-Length"),
    "not-name-value": (b"Content-Length 5\r\n", "not 'Name: value'"),
    "space-in-name": (b"Content Length: 5\r\n", "not 'Name: value'"),
    "empty-name": (b": 5\r\n", "not 'Name: value'"),
    "bare-lf": (b"Content-Length: 2\n\n{}", "bare LF"),
    "bare-cr": (b"Content-Length: 2\rX: y\r\n", "bare CR"),
    "endless-header": (b"X-Padding: " + b"a" * (4 * 1024 * 1024), "longer than 8192 bytes"),
    "too-many-headers": (b"X-A: b\r\n" * 10_000, "headers longer than 65536 bytes"),
}


@pytest.mark.parametrize("name", FAULTS)
def test_each_fault_is_refused_with_its_reason(name: str) -> None:
    data, reason = FAULTS[name]
    parser = FrameParser()
    with pytest.raises(FramingError) as info:
        parser.feed(data)
    assert reason in info.value.reason and reason in str(info.value)
    assert parser.buffered == 0
    with pytest.raises(FramingError) as again:  # final: the stream cannot resynchronise
        parser.feed(frame(b"{}"))
    assert again.value is info.value


@pytest.mark.parametrize("name", FAULTS)
def test_each_fault_has_the_same_reason_byte_by_byte(name: str) -> None:
    data, _ = FAULTS[name]
    whole = FrameParser()
    with pytest.raises(FramingError) as expected:
        whole.feed(data)
    parser = FrameParser()
    read = 0
    with pytest.raises(FramingError) as info:
        for i in range(len(data)):
            read = i + 1
            parser.feed(data[i:i + 1])
            assert parser.buffered <= parser.bound
    assert info.value.reason == expected.value.reason
    # Refused once the bound is reached, not after reading all of a 4 MiB line.
    assert read <= 64 * 1024 + 2


def test_the_message_bound_is_the_constant_and_holds_exactly() -> None:
    assert MAX_MESSAGE_BYTES == 256 * 1024 * 1024
    parser = FrameParser(max_message=10)
    assert parser.feed(frame(b"x" * 10)) == [b"x" * 10]
    with pytest.raises(FramingError, match="Content-Length 11 over the 10 bytes limit"):
        parser.feed(frame(b"x" * 11))


def test_a_body_is_never_allocated_ahead_of_its_bytes() -> None:
    # A Content-Length under the bound costs what arrived, not what was announced.
    parser = FrameParser()
    parser.feed(b"Content-Length: %d\r\n\r\nabc" % (200 * 1024 * 1024))
    assert parser.buffered == 3


def test_leading_zeros_and_whitespace_around_the_length_are_fine() -> None:
    assert FrameParser().feed(b"Content-Length:\t 002 \r\n\r\n{}") == [b"{}"]


# ---- decode_message --------------------------------------------------------------------------


def test_decode_message_takes_requests_notifications_and_responses() -> None:
    for body in (b'{"jsonrpc": "2.0", "id": 1, "method": "m"}', b'{"jsonrpc": "2.0", "method": "m"}',
                 b'{"jsonrpc": "2.0", "id": "a", "error": {"code": 1, "message": "x"}}'):
        assert decode_message(body) == json.loads(body)


@pytest.mark.parametrize(("body", "reason"), [
    (b"{this is not json}", "not JSON"),
    (b"", "not JSON"),
    (b"\xff\xfe\xfd", "not JSON"),
    (b'{"jsonrpc": "2.0", "method": "m"} trailing', "not JSON"),
    (b"[1, 2]", "not a JSON-RPC 2.0 object"),
    (b'"a string"', "not a JSON-RPC 2.0 object"),
    (b'{"id": 1, "result": null}', "not a JSON-RPC 2.0 object"),
    (b'{"jsonrpc": "1.0", "id": 1, "result": null}', "not a JSON-RPC 2.0 object"),
    (b'{"jsonrpc": "2.0", "result": null}', "neither method nor id"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
])
def test_decode_message_refuses_what_is_not_a_message(body: bytes, reason: str) -> None:
    with pytest.raises(FramingError, match=reason):
        decode_message(body)


# ---- fuzz ------------------------------------------------------------------------------------

SMALL = {"max_message": 64, "max_header_line": 24, "max_header": 48}
"""Small bounds, so that random streams reach them."""

TOKENS = [
    b"Content-Length: ", b"content-length:", b"Content-Type: x", b"X-Y: z", b"\r\n", b"\r\n\r\n",
    b"\r", b"\n", b":", b" ", b"\t", b"0", b"7", b"64", b"65", b"-1", b"\xff", b"{}",
    b'{"jsonrpc": "2.0", "method": "m"}',
    *(b"Content-Length: %d\r\n\r\n" % n for n in (0, 1, 5, 30, 64, 65, 99999999999)),
    *(frame(b"b" * n) for n in (0, 1, 7, 30, 64)),
]
"""Pieces that make random streams look like framing often enough to get past the headers."""


def tokens(raw: bytes) -> bytes:
    """A stream from random bytes: each byte is a token of `TOKENS`, or itself."""
    return b"".join(TOKENS[b] if b < len(TOKENS) else bytes([b]) for b in raw)


# One draw of hypothesis costs about a millisecond here, however small: each example draws
# several streams, so that 100,000 of them run in seconds rather than minutes.
STREAMS_PER_EXAMPLE = 8
FUZZ_EXAMPLES = 12_500
"""12,500 examples x 8 streams: 100,000 generated streams, each parsed whole and chunked."""


def outcome(parser: FrameParser, chunks: list[bytes]) -> tuple[list[bytes], str | None]:
    """The bodies before the first fault and its reason (None if none); checks the bound
    after every body and every chunk."""
    bodies: list[bytes] = []
    try:
        for chunk in chunks:
            for body in parser.frames(chunk):
                bodies.append(body)
                assert parser.buffered <= parser.bound
            assert parser.buffered <= parser.bound
    except FramingError as exc:
        assert parser.buffered == 0
        return bodies, exc.reason
    return bodies, None


@contextlib.contextmanager
def watchdog(seconds: float) -> Iterator[None]:
    """Turn a hang of the code inside into a failure (SIGALRM interrupts a Python loop)."""
    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"still parsing after {seconds} s: the parser hangs")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def chunked(data: bytes, cuts: bytes) -> list[bytes]:
    points = sorted({c * len(data) // 255 for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@pytest.mark.slow
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(cases=st.lists(st.tuples(st.binary(max_size=24), st.binary(max_size=4)),
                      min_size=STREAMS_PER_EXAMPLE, max_size=STREAMS_PER_EXAMPLE))
def test_fuzz_any_chunking_gives_the_same_outcome(cases: list[tuple[bytes, bytes]]) -> None:
    # Never anything but bodies or FramingError (it returns: no hang); never more buffered
    # than the bound; and the chunking changes nothing, neither the bodies nor the reason.
    with watchdog(5.0):
        for raw, cuts in cases:
            data = tokens(raw)
            whole = outcome(FrameParser(**SMALL), [data])
            assert outcome(FrameParser(**SMALL), chunked(data, cuts)) == whole


@pytest.mark.slow
@settings(max_examples=2_500, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(streams=st.lists(st.tuples(st.lists(st.binary(max_size=64), max_size=4),
                                  st.binary(max_size=4)), min_size=4, max_size=4))
def test_fuzz_valid_streams_come_back_whole(streams: list[tuple[list[bytes], bytes]]) -> None:
    with watchdog(5.0):
        for bodies, cuts in streams:
            data = b"".join(frame(b) for b in bodies)
            parser = FrameParser(**SMALL)
            assert outcome(parser, chunked(data, cuts)) == (bodies, None)
            assert parser.buffered == 0


# ---- a flood of notifications keeps memory bounded -------------------------------------------


def push(uri: str, version: int | None) -> types.PublishDiagnosticsParams:
    return types.PublishDiagnosticsParams(uri=uri, version=version, diagnostics=[])


def test_pushes_for_ever_new_uris_keep_only_the_latest_few_thousand() -> None:
    published = PublishedDiagnostics()
    published.publish(push("file:///kept.py", 3))
    for i in range(3 * LATEST_LIMIT):
        published.publish(push(f"file:///flood/{i}.py", i))
        if i % 1000 == 0:
            published.publish(push("file:///kept.py", 3))  # pushed again: recent, so kept
    assert len(published.latest) == LATEST_LIMIT
    assert "file:///kept.py" in published.latest
    assert f"file:///flood/{3 * LATEST_LIMIT - 1}.py" in published.latest
    assert "file:///flood/0.py" not in published.latest


def test_a_push_wait_that_times_out_leaves_no_waiter() -> None:
    async def run() -> PublishedDiagnostics:
        published = PublishedDiagnostics()
        for version in range(100):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(published.wait_for_version("file:///a.py", version), 0.001)
        # The push arrives while the wait is registered (call_soon runs once it awaits).
        asyncio.get_running_loop().call_soon(published.publish, push("file:///a.py", 100))
        assert (await published.wait_for_version("file:///a.py", 100)).version == 100
        return published

    assert asyncio.run(run())._waiters == {}


# ---- end to end: a fake server that breaks the framing ---------------------------------------

BAD = {"shop/pricing.py": "X = 'BAD'\n"}
FRAMING = {
    "huge-length": "Content-Length 99999999999 over the 256 MiB limit",
    "wrong-length": "not JSON (Extra data",
    "endless-header": "a header line longer than 8192 bytes",
    "bad-json": "not JSON",
    "garbage": "not JSON",
}
FAULT_TIMEOUT = 30.0
"""Long enough that an answer well under it means the fault was seen, not waited out."""


def fake_servers(mode: str) -> list[psutil.Process]:
    """Our processes running the fake server in ``mode`` (the sandbox wraps it in bwrap)."""
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            cmdline = proc.cmdline()
        except psutil.Error:
            continue
        if str(FAKE_SERVER) in cmdline and mode in cmdline:
            found.append(proc)
    return found


@pytest.mark.parametrize("mode", FRAMING)
def test_a_framing_fault_is_unknown_at_once_and_ends_the_server(shop: Path, mode: str) -> None:
    with Verifier(shop, servers=[fake(mode)], timeout=FAULT_TIMEOUT) as v:
        servers = fake_servers(mode)
        assert servers, "the fake server is not running"
        started = time.monotonic()
        report = v.verify(BAD)
        elapsed = time.monotonic() - started
        # Killed at once: gone (reaped), not merely signalled, before verify returned.
        _, alive = psutil.wait_procs(servers, timeout=5)
        assert alive == []
    assert report.status == "unknown" and not report.ok and report.diagnostics == ()
    [reason] = {u.reason.split(" (stderr:")[0] for u in report.unknown if u.server == "fake"
                and not u.reason.startswith("baseline:")}
    assert "server sent an unreadable message" in reason and FRAMING[mode] in reason
    assert "the session was ended" in reason
    assert elapsed < FAULT_TIMEOUT / 3, f"{elapsed:.1f} s: the fault was waited out"


@pytest.mark.parametrize("mode", ["unknown-id", "notification-flood", "exit-notification"])
def test_noise_the_client_must_survive_changes_nothing(shop: Path, mode: str) -> None:
    with Verifier(shop, servers=[fake(mode)], timeout=TIMEOUT) as v:
        first = v.verify(BAD)
        second = v.verify({"shop/pricing.py": "X = 'fine'\n"})
        assert len(fake_servers(mode)) >= 1  # still the same live server
    assert first.status == "errors" and [d.code for d in first.introduced] == ["bad-word"]
    assert second.status == "clean" and [d.code for d in second.resolved] == ["bad-word"]
