"""One pipe write per step: the messages a step sends leave together.

pygls writes every message to the server's stdin at once, so one step of a check (a
``didChange``, then a pull for each of 20 files) is 20-odd ``write`` calls, and each can wake
the server for a partial step. `BatchedWriter` stands where pygls expects its writer: it
keeps what pygls writes and hands it to the pipe in one ``write`` once the step is over.

"Once the step is over" is the first turn of the event loop in which nothing more was
written: a step's messages come from several tasks (the one that syncs the documents, then
the pull tasks it starts, which first run a turn or two later), so a fixed number of turns
would split it. The writers of one event loop are flushed together (`WriteBatch`): a check
asks all its servers at once, and a server woken first must not keep the others waiting
(on two busy cores, the first one's work delayed the next turn of ours by tens of ms). A
message is held at most `MAX_TURNS` turns (a stream of writes that never pauses is still
sent), and never more than `FLUSH_BYTES`; `flush` sends what is held at once.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Protocol

log = logging.getLogger(__name__)

MAX_TURNS = 8
"""Event-loop turns a message is held at most."""

FLUSH_BYTES = 1024 * 1024
"""Bytes held at most: more are written at once (whole documents of a large replay)."""


class _Pipe(Protocol):
    def write(self, data: bytes) -> object: ...

    def close(self) -> object: ...


class WriteBatch:
    """The writers of one event loop with messages held, flushed together once a turn of
    the loop passes without a write."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._holding: dict[int, BatchedWriter] = {}
        self._scheduled = False
        self._wrote = False
        self._turns = 0
        self._flushed: asyncio.Future[None] | None = None

    async def step_written(self, turns: int = 2) -> None:
        """Return once the messages of the current step have been written: background work
        started in a step (a subprocess spawn blocks the loop for ms) waits until they have
        left. Their tasks may first run a turn or two later, so up to ``turns`` turns are
        given to them to start writing (with nothing written then, it returns). One batch
        only: a stream of writes that never pauses does not keep it waiting."""
        for _ in range(turns):
            if self._scheduled:
                break
            await asyncio.sleep(0)  # one turn of the loop, not a wait for time
        if self._scheduled:
            if self._flushed is None or self._flushed.done():
                self._flushed = self._loop.create_future()
            await asyncio.shield(self._flushed)

    def wrote(self, writer: BatchedWriter) -> None:
        self._holding[id(writer)] = writer
        self._wrote = True
        if not self._scheduled:
            self._scheduled = True
            self._turns = 0
            self._loop.call_soon(self._turn)

    def _turn(self) -> None:
        self._turns += 1
        if self._wrote and self._turns < MAX_TURNS:
            self._wrote = False
            self._loop.call_soon(self._turn)
            return
        self._scheduled = False
        self._wrote = False
        holding, self._holding = self._holding, {}
        for writer in holding.values():
            writer.flush()
        if self._flushed is not None and not self._flushed.done():
            self._flushed.set_result(None)


_BATCHES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, WriteBatch]
_BATCHES = weakref.WeakKeyDictionary()


def batch_of(loop: asyncio.AbstractEventLoop) -> WriteBatch:
    """The `WriteBatch` of ``loop`` (one per loop)."""
    batch = _BATCHES.get(loop)
    if batch is None:
        batch = _BATCHES[loop] = WriteBatch(loop)
    return batch


class BatchedWriter:
    """pygls's writer: buffers what is written and passes it on in one write per step."""

    def __init__(self, pipe: _Pipe, loop: asyncio.AbstractEventLoop) -> None:
        self._pipe = pipe
        self._batch = batch_of(loop)
        self._held: list[bytes] = []
        self._size = 0
        self.messages = 0
        """Messages written so far (each ``write`` from pygls is one message)."""
        self.writes = 0
        """Writes made to the pipe so far."""

    @property
    def holding(self) -> bool:
        """Whether messages wait to be written."""
        return bool(self._held)

    def write(self, data: bytes) -> None:
        self._held.append(data)
        self._size += len(data)
        self.messages += 1
        if self._size >= FLUSH_BYTES:
            self.flush()
        else:
            self._batch.wrote(self)

    def flush(self) -> None:
        """Write everything held now."""
        if not self._held:
            return
        data = b"".join(self._held) if len(self._held) > 1 else self._held[0]
        self._held.clear()
        self._size = 0
        self.writes += 1
        try:
            self._pipe.write(data)
        except (ConnectionError, RuntimeError) as exc:
            # The server is gone (its exit is noticed by the exit watcher, which fails every
            # wait): what it can no longer read is dropped, as pygls does.
            log.debug("write to a closed pipe dropped (%s)", exc)

    def close(self) -> None:
        """Flush, then close the pipe."""
        self.flush()
        self._pipe.close()
