"""`Client` and `AsyncClient`: the verify daemon's API as the in-process `Verifier`'s methods.

    with Client(root="path/to/repo") as client:      # reads path/to/repo/.lspfeedback/daemon.json
        report = client.verify({"pkg/mod.py": new_text})

Both return the same `Report` / `CandidateReport` objects as `Verifier` (``verify_progressive``
iterates a preview, then the final report, from the daemon's NDJSON stream), and raise the same
`EditError` / `EditApplyError` (with its file, block and closest text) / `PathOutsideWorkspace`
for a bad edit; anything else that goes wrong between here and the daemon is a `DaemonError`:
`DaemonNotRunning`, `DaemonUnreachable`, `DaemonTimeout`, or the base class with the daemon's
``status`` and ``error`` name when it answered with an error. They share one base
for finding the daemon and for turning answers into results; each method is a thin call.
Found from a state file, they talk to the daemon over its local Unix socket when it has one
(faster than TCP), named by its URL.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import httpx
from lsprotocol import converters, types

from lspfeedback._daemon.state import read_state
from lspfeedback._daemon.transport import AsyncUnixTransport, UnixTransport
from lspfeedback._daemon.wire import error_answer
from lspfeedback._exceptions import (
    DaemonError,
    DaemonNotRunning,
    DaemonTimeout,
    DaemonUnreachable,
    EditError,
)
from lspfeedback._report import CandidateReport, Report
from lspfeedback.edits import Changes

DEFAULT_CLIENT_TIMEOUT = 120.0
"""Seconds to wait for an answer: a verify waits for the engine (one operation at a time),
and a first batch of candidates may start replicas."""


PathLike = str | os.PathLike[str]

# One converter, built at import. lsprotocol resolves its types' forward references the first
# time any converter is built, iterating a module-level dict that the resolution itself
# mutates: two threads building their first converters at once fail with "dictionary changed
# size during iteration". Imports are serialised, so building it here settles that once for
# the whole process; the lock covers cattrs building its unstructure functions lazily.
_CONVERTER = converters.get_converter()
_CONVERTER_LOCK = threading.Lock()


class _BaseClient:
    """Finding the daemon, building requests and reading answers: shared by both clients."""

    def __init__(
        self,
        root: PathLike | None = None,
        *,
        url: str | None = None,
        token: str | None = None,
        socket: PathLike | None = None,
        timeout: float = DEFAULT_CLIENT_TIMEOUT,
    ) -> None:
        if url is not None and socket is not None:
            raise ValueError("give url or socket, not both")
        self.root: Path | None = Path(root) if root is not None else None
        if (url is None and socket is None) or token is None:
            where = root if root is not None else "."
            info = read_state(where)
            if info is None:
                raise DaemonNotRunning(
                    f"no daemon is running for {Path(where).resolve()} (no "
                    f".lspfeedback/daemon.json there); start one with: lspfeedback serve --root "
                    f"{where}")
            if url is None and socket is None:
                # Both when the daemon has both: requests go over the local socket (faster),
                # named by the URL (its Host header, its place in messages).
                url, socket = info.url, info.local_socket or info.socket
            token = token if token is not None else info.token
        self.url = url
        self.socket: str | None = os.fspath(socket) if socket is not None else None
        self.timeout = timeout
        self._token = token

    @property
    def endpoint(self) -> str:
        """The daemon's URL, or ``unix:PATH``."""
        return self.url if self.url is not None else f"unix:{self.socket}"

    def __repr__(self) -> str:  # never the token
        return f"<{type(self).__name__} {self.endpoint}>"

    def _options(self) -> dict[str, Any]:
        return {
            # Over a Unix socket the URL's host only fills the Host header (a loopback name).
            "base_url": self.url if self.url is not None else "http://localhost",
            "headers": {"Authorization": f"Bearer {self._token}"},
            "timeout": httpx.Timeout(self.timeout),
            # Never send the token through a proxy configured in the environment.
            "trust_env": False,
        }

    def _failed(self, exc: httpx.HTTPError) -> DaemonError:
        """A transport failure, said plainly."""
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return DaemonUnreachable(f"cannot reach the daemon at {self.endpoint}: {exc} (is it "
                                     "running? see: lspfeedback status)")
        if isinstance(exc, httpx.TimeoutException):
            return DaemonTimeout(f"no answer from the daemon at {self.endpoint} within "
                                 f"{self.timeout:g} s")
        if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
            return DaemonUnreachable(f"the daemon at {self.endpoint} closed the connection "
                                     f"mid-request (it stopped or died): {exc}")
        return DaemonUnreachable(f"request to the daemon at {self.endpoint} failed: {exc!r}")

    def _answer(self, response: httpx.Response) -> Any:
        """The JSON of a successful answer; the matching exception otherwise."""
        if response.is_success:
            return json.loads(response.content)
        raise error_answer(self.endpoint, response.status_code, response.content)

    def _line(self, line: str) -> Report | None:
        """One line of a progressive answer as a report (None for a blank line); an error
        line raises what an error answer with its status would."""
        if not line.strip():
            return None
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise DaemonUnreachable(f"the daemon at {self.endpoint} sent a line that is not "
                                    f"JSON: {line[:200]!r}") from exc
        if "error" in data:
            raise error_answer(self.endpoint, int(data.get("status", 500)), line.encode())
        return Report.from_dict(data)

    def _unfinished(self) -> DaemonUnreachable:
        return DaemonUnreachable(f"the daemon at {self.endpoint} ended the progressive answer "
                                 "before its final report (it stopped or died)")


def _edit(changes: Changes) -> Any:
    """An edit as JSON: strings and path lists as they are, LSP objects unstructured."""
    if isinstance(changes, str):
        return changes
    if isinstance(changes, types.WorkspaceEdit):
        with _CONVERTER_LOCK:
            return _CONVERTER.unstructure(changes)
    if isinstance(changes, Mapping):
        with _CONVERTER_LOCK:
            return {os.fspath(path): _CONVERTER.unstructure(value)
                    for path, value in changes.items()}
    if isinstance(changes, Iterable) and not isinstance(changes, bytes):
        return [os.fspath(path) for path in changes]
    raise EditError(f"cannot send an edit of type {type(changes).__name__}")


def _verify_body(changes: Changes, session: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"changes": _edit(changes)}
    if session is not None:
        body["session"] = session
    return body


def _candidates_body(candidates: Sequence[Changes], session: str | None,
                     confirm: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"candidates": [_edit(c) for c in candidates]}
    if session is not None:
        body["session"] = session
    if confirm is not None:
        body["confirm"] = confirm
    return body


def _paths(path: PathLike | Iterable[PathLike]) -> list[tuple[str, str]]:
    items = [path] if isinstance(path, str | os.PathLike) else list(path)
    return [("path", os.fspath(p)) for p in items]


class Client(_BaseClient):
    """The daemon of ``root`` (found from its state file), or the one at ``url``/``socket``.

    ``token`` defaults to the state file's. Methods mirror `Verifier`'s; a verify is
    speculative (nothing is kept) unless a ``session`` is named, whose overlays the daemon
    keeps until `commit` or `discard`. Use it as a context manager, or call `close`.
    """

    def __init__(
        self,
        root: PathLike | None = None,
        *,
        url: str | None = None,
        token: str | None = None,
        socket: PathLike | None = None,
        timeout: float = DEFAULT_CLIENT_TIMEOUT,
    ) -> None:
        super().__init__(root, url=url, token=token, socket=socket, timeout=timeout)
        transport = UnixTransport(self.socket) if self.socket is not None else None
        self._http = httpx.Client(transport=transport, **self._options())

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise self._failed(exc) from exc
        return self._answer(response)

    def verify(self, changes: Changes, session: str | None = None) -> Report:
        """Check ``changes`` (any edit format, or a list of paths changed on disk)."""
        answer = self._call("POST", "/v1/verify", json=_verify_body(changes, session))
        return Report.from_dict(answer)

    def verify_progressive(self, changes: Changes,
                           session: str | None = None) -> Iterator[Report]:
        """`verify`, answered in tiers: a preview (``final=False``: the fast servers, never
        the verdict) as soon as it is there, then the final report (``final=True``); just
        the final one when no server is slower. Raises, while iterating, what `verify`
        raises, and `DaemonUnreachable` when the answer ends before the final report."""
        body = _verify_body(changes, session)
        try:
            with self._http.stream("POST", "/v1/verify/progressive", json=body) as response:
                if not response.is_success:
                    response.read()
                    self._answer(response)
                for line in response.iter_lines():
                    report = self._line(line)
                    if report is not None:
                        yield report
                        if report.final:
                            return
        except httpx.HTTPError as exc:
            raise self._failed(exc) from exc
        raise self._unfinished()

    def verify_candidates(self, candidates: Sequence[Changes], session: str | None = None,
                          confirm: int | None = None) -> list[CandidateReport]:
        """Check each candidate against the same base; best first. With ``confirm=k``, as
        `Verifier.verify_candidates`: ranked on the fast servers, the best confirmed by every
        server (up to ``k``); an unconfirmed report has ``final=False``."""
        body = _candidates_body(candidates, session, confirm)
        answer = self._call("POST", "/v1/candidates", json=body)
        return [CandidateReport.from_dict(c) for c in answer]

    def commit(self, session: str) -> list[str]:
        """Write the session's overlays to disk; returns the paths written."""
        return list(self._call("POST", "/v1/commit", json={"session": session})["written"])

    def discard(self, session: str) -> list[str]:
        """Drop the session's overlays; returns their paths."""
        return list(self._call("POST", "/v1/discard", json={"session": session})["discarded"])

    def diagnostics(self, path: PathLike | Iterable[PathLike]) -> Report:
        """Current diagnostics of one path or several, in the shared base."""
        return Report.from_dict(self._call("GET", "/v1/diagnostics", params=_paths(path)))

    def health(self) -> dict[str, Any]:
        """The daemon's servers (state, restarts, pid), sessions, uptime and version."""
        return dict(self._call("GET", "/v1/health"))

    def close(self) -> None:
        """Close the connection pool (the daemon keeps running)."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncClient(_BaseClient):
    """`Client` with coroutine methods, on ``httpx.AsyncClient``; an async context manager."""

    def __init__(
        self,
        root: PathLike | None = None,
        *,
        url: str | None = None,
        token: str | None = None,
        socket: PathLike | None = None,
        timeout: float = DEFAULT_CLIENT_TIMEOUT,
    ) -> None:
        super().__init__(root, url=url, token=token, socket=socket, timeout=timeout)
        transport = AsyncUnixTransport(self.socket) if self.socket is not None else None
        self._http = httpx.AsyncClient(transport=transport, **self._options())

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise self._failed(exc) from exc
        return self._answer(response)

    async def verify(self, changes: Changes, session: str | None = None) -> Report:
        """See `Client.verify`."""
        answer = await self._call("POST", "/v1/verify", json=_verify_body(changes, session))
        return Report.from_dict(answer)

    async def verify_progressive(self, changes: Changes,
                                 session: str | None = None) -> AsyncIterator[Report]:
        """See `Client.verify_progressive` (an async iterator)."""
        body = _verify_body(changes, session)
        try:
            async with self._http.stream("POST", "/v1/verify/progressive",
                                         json=body) as response:
                if not response.is_success:
                    await response.aread()
                    self._answer(response)
                async for line in response.aiter_lines():
                    report = self._line(line)
                    if report is not None:
                        yield report
                        if report.final:
                            return
        except httpx.HTTPError as exc:
            raise self._failed(exc) from exc
        raise self._unfinished()

    async def verify_candidates(self, candidates: Sequence[Changes], session: str | None = None,
                                confirm: int | None = None) -> list[CandidateReport]:
        """See `Client.verify_candidates`."""
        body = _candidates_body(candidates, session, confirm)
        answer = await self._call("POST", "/v1/candidates", json=body)
        return [CandidateReport.from_dict(c) for c in answer]

    async def commit(self, session: str) -> list[str]:
        """See `Client.commit`."""
        return list((await self._call("POST", "/v1/commit", json={"session": session}))["written"])

    async def discard(self, session: str) -> list[str]:
        """See `Client.discard`."""
        answer = await self._call("POST", "/v1/discard", json={"session": session})
        return list(answer["discarded"])

    async def diagnostics(self, path: PathLike | Iterable[PathLike]) -> Report:
        """See `Client.diagnostics`."""
        return Report.from_dict(await self._call("GET", "/v1/diagnostics", params=_paths(path)))

    async def health(self) -> dict[str, Any]:
        """See `Client.health`."""
        return dict(await self._call("GET", "/v1/health"))

    async def aclose(self) -> None:
        """Close the connection pool (the daemon keeps running)."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
