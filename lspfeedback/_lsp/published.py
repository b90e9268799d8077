"""The diagnostics servers push (``textDocument/publishDiagnostics``), and waits for a version.

A push proves freshness only with the version it carries: a wait is for exactly one
``(uri, version)``, and a push without a version resolves none (see docs/design.md).
"""

from __future__ import annotations

import asyncio
import collections

from lsprotocol import types

LATEST_LIMIT = 4096
"""URIs whose latest push is kept. A server may push for any number of files (workspace mode,
or a flood); a push is waited for right after the change it answers, so the most recent few
thousand URIs are all that is ever looked up. A push evicted before its wait began is waited
for again: at worst until the deadline (unknown, never a wrong answer)."""


class PublishedDiagnostics:
    """The latest ``publishDiagnostics`` per URI (the `LATEST_LIMIT` most recently pushed
    URIs), and waiters for an exact version."""

    def __init__(self) -> None:
        self.latest: collections.OrderedDict[str, types.PublishDiagnosticsParams]
        self.latest = collections.OrderedDict()
        self._waiters: dict[tuple[str, int], list[asyncio.Future[types.PublishDiagnosticsParams]]]
        self._waiters = collections.defaultdict(list)

    def publish(self, params: types.PublishDiagnosticsParams) -> None:
        self.latest[params.uri] = params
        self.latest.move_to_end(params.uri)
        while len(self.latest) > LATEST_LIMIT:
            self.latest.popitem(last=False)
        if params.version is None:
            return  # without a version a push proves nothing about freshness
        for fut in self._waiters.pop((params.uri, params.version), []):
            if not fut.done():
                fut.set_result(params)

    def waiter(self, uri: str, version: int) -> asyncio.Future[types.PublishDiagnosticsParams]:
        """A future resolved by the push of exactly ``version`` (at once if it came already);
        `discard` it once no longer waited for."""
        fut: asyncio.Future[types.PublishDiagnosticsParams]
        fut = asyncio.get_running_loop().create_future()
        latest = self.latest.get(uri)
        if latest is not None and latest.version == version:
            fut.set_result(latest)
        else:
            self._waiters[(uri, version)].append(fut)
        return fut

    def discard(self, uri: str, version: int,
                fut: asyncio.Future[types.PublishDiagnosticsParams]) -> None:
        """Forget a waiter (its wait ended, whatever the outcome): nothing is left behind."""
        key = (uri, version)
        waiting = self._waiters.get(key)
        if waiting is not None and fut in waiting:
            waiting.remove(fut)
            if not waiting:
                del self._waiters[key]

    async def wait_for_version(self, uri: str, version: int) -> types.PublishDiagnosticsParams:
        """Wait (no deadline here: the caller sets one) for a push of exactly ``version``."""
        fut = self.waiter(uri, version)
        try:
            return await fut
        finally:  # a wait that timed out leaves nothing behind
            self.discard(uri, version, fut)

    def fail_all(self, exc: BaseException) -> None:
        for futures in self._waiters.values():
            for fut in futures:
                if not fut.done():
                    fut.set_exception(exc)
        self._waiters.clear()
