"""The requests we send a server, and their answers, on asyncio futures of our own.

pygls gives each request a ``concurrent.futures.Future`` (a lock and a condition) wrapped for
asyncio, structures every answer with cattrs and tells messages apart with runtime-checkable
Protocols: about 0.1 ms a request, milliseconds for the 40 pulls of one check. `Requests`
keeps the pygls parts that matter (its request types and serialisation to send, its
structuring of answers) and does the rest directly: ids from a counter (``lf-1``, ``lf-2``:
strings no server uses, because pygls keeps its answers owed to the server's own requests by
id in the table we keep result types in), one asyncio future per request, and an answer given to the future it belongs to. A request may bring its own
``structure`` for its result (the diagnostic pull does: see `_lsp.report`); the others are
structured by pygls as before, leniently (a shape lsprotocol cannot read arrives raw).

An answer to a request nobody waits for any more (cancelled on its deadline) is dropped.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pygls.exceptions import JsonRpcException, JsonRpcInternalError
from pygls.protocol import JsonRPCProtocol, JsonRPCRequestMessage

log = logging.getLogger(__name__)

Structure = Callable[[Any], Any]
"""Turns a request's raw JSON result into what its caller gets."""


@dataclass
class _Pending:
    method: str
    future: asyncio.Future[Any]
    structure: Structure | None


class Requests:
    """Requests in flight to one server, by id."""

    def __init__(self, name: str, protocol: JsonRPCProtocol) -> None:
        self.name = name
        self._protocol = protocol
        self._ids = itertools.count(1)
        self._pending: dict[str, _Pending] = {}
        self.sent: dict[str, int] = {}
        """Requests sent so far, by method."""

    def __len__(self) -> int:
        return len(self._pending)

    def send(self, method: str, params: Any,
             structure: Structure | None = None) -> tuple[str, asyncio.Future[Any]]:
        """Send a request; returns its id and the future its answer will resolve."""
        protocol = self._protocol
        msg_id = f"lf-{next(self._ids)}"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = _Pending(method, future, structure)
        if structure is None:
            protocol._result_types[msg_id] = protocol.get_result_type(method)
        request_type = protocol.get_message_type(method) or JsonRPCRequestMessage
        self.sent[method] = self.sent.get(method, 0) + 1
        protocol._send_data(request_type(id=msg_id, method=method, params=params, jsonrpc="2.0"))
        return msg_id, future

    def forget(self, msg_id: str) -> None:
        """Stop waiting for ``msg_id``: its answer, if it comes, is dropped."""
        self._pending.pop(msg_id, None)
        self._protocol._result_types.pop(msg_id, None)

    def answer(self, message: dict[str, Any]) -> None:
        """Resolve the request ``message`` answers (a response: it has an id and no method)."""
        msg_id = message.get("id")
        pending = self._pending.pop(msg_id, None) if isinstance(msg_id, str) else None
        if pending is None:
            log.debug("%s: an answer to no request we wait for (id %r) dropped", self.name, msg_id)
            return
        future = pending.future
        if future.done():
            return
        try:
            if pending.structure is not None and "error" not in message:
                future.set_result(pending.structure(message.get("result")))
                return
            structured: Any = self._protocol.structure_message(message)
        except Exception as exc:  # any reader's failure is this answer's fault
            log.warning("%s: unreadable answer to %s", self.name, pending.method, exc_info=True)
            future.set_exception(exc if isinstance(exc, JsonRpcException) else
                                 JsonRpcInternalError(f"unreadable answer to {pending.method}: {exc}"))
            return
        error = getattr(structured, "error", None)
        if error is not None:
            future.set_exception(JsonRpcException.from_error(error))
        else:
            future.set_result(structured.result)

    def fail_all(self, exc: BaseException) -> None:
        """End every wait with ``exc`` (the server exited)."""
        pending, self._pending = self._pending, {}
        for msg_id, entry in pending.items():
            self._protocol._result_types.pop(msg_id, None)
            if not entry.future.done():
                entry.future.set_exception(exc)
