"""The progressive verdict for the daemon and MCP: a preview report, then the final one.

`AsyncVerifier.verify_progressive` has `verify`'s semantics: the edit stays laid. The daemon
never leaves an overlay in its engine and MCP's ``verify`` is speculative by default, so
`speculative_progressive` lays the caller's base, runs it, and puts the overlays back as
they were (shielded from cancellation: a client that goes away mid-stream changes nothing).
The engine's own lock is released between its operations, so the caller holds a lock that
keeps every other operation on the engine out for the whole call.

`ReportStream` runs one such call in a task of its own and hands its reports to a reader:
the work never waits for the reader, so a reader that goes away (or never starts) cannot
leave the engine locked; the reader's `cancel` stops it early. Core dependencies only.

Freshness: a preview (``final=False``) is never the last thing a reader gets. The stream
ends with the final report, or with an exception (`ShuttingDown`, the library's error, or
`StreamEnded` when the engine stopped yielding before a final report).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Mapping
from typing import Any

import anyio

from lspfeedback._engine import AsyncVerifier
from lspfeedback._exceptions import LspFeedbackError
from lspfeedback._report import Report
from lspfeedback.edits import Changes


class StreamEnded(LspFeedbackError):
    """The engine stopped answering a progressive verify before its final report."""


async def speculative_progressive(
    engine: AsyncVerifier, changes: Changes, *, base: Mapping[str, str | None] | None = None,
    on_final: Callable[[dict[str, str | None]], None] | None = None,
) -> AsyncGenerator[Report, None]:
    """`AsyncVerifier.verify_progressive` of ``changes`` laid over ``base``, then taken back.

    Yields the preview (if any) and the final report. ``on_final`` receives the overlays as
    they were when the final report came (``base`` plus the edit, parsed: what a daemon
    session keeps). The overlays the engine held before the call are restored at the end,
    whatever happens. The caller must keep every other operation on ``engine`` out until
    this ends (see the module docstring).
    """
    kept = engine.overlays
    try:
        if base:
            await engine.apply(dict(base))
        async for report in engine.verify_progressive(changes):
            if report.final and on_final is not None:
                on_final(engine.overlays)
            yield report
    finally:
        if engine.overlays != kept:
            await run_to_end(_put_back(engine, kept))


async def _put_back(engine: AsyncVerifier, kept: dict[str, str | None]) -> None:
    await engine.discard()
    if kept:
        await engine.apply(kept)


async def run_to_end(work: Coroutine[Any, Any, None]) -> None:
    """Await ``work`` to its end even when this task is cancelled meanwhile (natively or by
    an anyio scope), then let the cancellation through."""
    task = asyncio.ensure_future(work)
    cancelled = False
    with anyio.CancelScope(shield=True):
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                cancelled = True
    task.result()
    if cancelled:
        raise asyncio.CancelledError


_END = object()


class ReportStream:
    """The reports of one progressive verify, produced in a task of their own.

    `next` returns each report, then None after the final one; it raises what the work
    raised, `StreamEnded` when it ended without a final report, and ``stopped()`` (an
    exception the caller builds) as soon as ``stopping`` is set.
    """

    def __init__(self, reports: AsyncIterator[Report], *, stopping: asyncio.Event,
                 stopped: Callable[[], Exception]) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._stopping = stopping
        self._stopped = stopped
        self._final = False
        self._produced_final = False
        self._task = asyncio.ensure_future(self._produce(reports))

    def __repr__(self) -> str:
        return f"<ReportStream final={self._final} done={self._task.done()}>"

    async def _produce(self, reports: AsyncIterator[Report]) -> None:
        try:
            async for report in reports:
                if report.final:
                    self._produced_final = True
                self._queue.put_nowait(report)
                if report.final:
                    break
            self._queue.put_nowait(_END)
        except Exception as exc:  # noqa: BLE001 - handed to the reader, who raises it
            self._queue.put_nowait(exc)
        except BaseException:  # cancelled: a reader still waiting must not wait forever
            self._queue.put_nowait(StreamEnded("the progressive verify was cancelled before "
                                               "its final report"))
            raise
        finally:
            aclose = getattr(reports, "aclose", None)
            if aclose is not None:
                await run_to_end(aclose())

    async def next(self) -> Report | None:
        """The next report; None once the final one was returned."""
        if self._final:
            return None
        if self._stopping.is_set():
            self.cancel()
            raise self._stopped()
        get = asyncio.ensure_future(self._queue.get())
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({get, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not get.done():
                get.cancel()
        if not get.done() or get.cancelled():
            self.cancel()
            raise self._stopped()
        item = get.result()
        if item is _END:
            self._final = True
            raise StreamEnded("the engine stopped before its final report")
        if isinstance(item, BaseException):
            self._final = True
            raise item
        if item.final:
            self._final = True
        return item

    def cancel(self) -> None:
        """Stop the work (it puts the overlays back as it unwinds); once the final report is
        there, the work only puts them back, and is left to end by itself."""
        if not self._produced_final:
            self._task.cancel()
