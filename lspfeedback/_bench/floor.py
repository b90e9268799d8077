"""A server's own floor latency, measured with a minimal raw JSON-RPC LSP client.

The benchmark compares lspfeedback's warm `verify()` with the least time the language server
itself needs from an edit to fresh diagnostics. To keep the floor honest this client shares
no code with lspfeedback's protocol layer (nor pygls): asyncio subprocess pipes,
``Content-Length`` framing and `json`, nothing else.

Fresh means proven fresh, as in the rest of lspfeedback: the response to a pull
``textDocument/diagnostic`` sent after the change (LSP orders it after the ``didChange``),
or a ``publishDiagnostics`` carrying exactly the version sent.

Usage: ``python -m lspfeedback._bench.floor ROOT PATH [--server ruff|pyright] [--edits N]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lspfeedback._bench.stats import percentile

__all__ = ["FloorError", "RawClient", "measure_floor", "server_setup"]

CONTENT_MODIFIED = -32801
SERVER_CANCELLED = -32802
METHOD_NOT_FOUND = -32601
GRACE = 2.0
"""Seconds the server gets to answer ``shutdown`` and to exit before it is killed."""

# What we declare: pull diagnostics (also by dynamic registration), versioned push,
# configuration, progress. Nothing else, so servers take no other paths.
CAPABILITIES: dict[str, Any] = {
    "general": {"positionEncodings": ["utf-16"]},
    "window": {"workDoneProgress": True},
    "workspace": {
        "configuration": True,
        "workspaceFolders": True,
        "didChangeConfiguration": {"dynamicRegistration": True},
        "diagnostics": {"refreshSupport": True},
    },
    "textDocument": {
        "synchronization": {"dynamicRegistration": True},
        "publishDiagnostics": {"versionSupport": True, "relatedInformation": True},
        "diagnostic": {"dynamicRegistration": True, "relatedDocumentSupport": False},
    },
}


def _capabilities(declare_pull: bool) -> dict[str, Any]:
    """`CAPABILITIES`, without pull diagnostics when push is to be measured: pyright stops
    pushing once it has registered pull."""
    caps = json.loads(json.dumps(CAPABILITIES))
    if not declare_pull:
        del caps["textDocument"]["diagnostic"]
        del caps["workspace"]["diagnostics"]
    return caps


class FloorError(Exception):
    """The server failed, exited or did not answer in time; carries its stderr tail."""


class _Rpc:
    """One server process and the JSON-RPC conversation with it."""

    def __init__(self, proc: asyncio.subprocess.Process, root: Path,
                 settings: Mapping[str, Any]) -> None:
        self.proc = proc
        self.root = root
        self.settings = settings
        self.next_id = 0
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.pushed: dict[tuple[str, int], asyncio.Future[None]] = {}
        self.pull_registered = asyncio.Event()
        self.pulls = 0
        """``textDocument/diagnostic`` requests sent (retries included)."""
        self.stderr = bytearray()
        self.closed = False
        self.tasks = [asyncio.ensure_future(self._read()), asyncio.ensure_future(self._drain())]

    # ---- wire ----------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        body = json.dumps({"jsonrpc": "2.0", **message}, separators=(",", ":")).encode("utf-8")
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    async def _read(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        try:
            while True:
                header = await stdout.readuntil(b"\r\n\r\n")
                length = 0
                for line in header.decode("ascii").split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                self._dispatch(json.loads(await stdout.readexactly(length)))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            # The server is gone: nothing pending can be answered any more.
            self.closed = True
            error = FloorError(f"server exited ({self.proc.returncode}): {self.stderr_tail()}")
            for fut in [*self.pending.values(), *self.pushed.values()]:
                if not fut.done():
                    fut.set_exception(error)

    async def _drain(self) -> None:
        # An unread stderr pipe fills up and stalls the server.
        assert self.proc.stderr is not None
        while chunk := await self.proc.stderr.read(4096):
            self.stderr += chunk
            del self.stderr[:-8192]

    def stderr_tail(self) -> str:
        return self.stderr.decode("utf-8", "replace").strip()[-2000:]

    def _dispatch(self, msg: dict[str, Any]) -> None:
        method = msg.get("method")
        if method is None:  # a response
            fut = self.pending.pop(msg.get("id", -1), None)
            if fut is not None and not fut.done():
                fut.set_result(msg)
        elif "id" in msg:  # a request from the server: always answer, or it may stall
            self._answer(msg["id"], method, msg.get("params"))
        elif method == "textDocument/publishDiagnostics":
            params = msg["params"]
            version = params.get("version")
            if version is not None:  # an unversioned push proves nothing
                fut = self.pushed.get((params["uri"], version))
                if fut is not None and not fut.done():
                    fut.set_result(None)

    def _answer(self, msg_id: Any, method: str, params: Any) -> None:
        if method == "workspace/configuration":
            self._send({"id": msg_id, "result": [
                self._setting(item.get("section")) for item in params.get("items", [])]})
        elif method == "client/registerCapability":
            for reg in params.get("registrations", []):
                if reg.get("method") == "textDocument/diagnostic":
                    self.pull_registered.set()
            self._send({"id": msg_id, "result": None})
        elif method in ("client/unregisterCapability", "window/workDoneProgress/create",
                        "workspace/diagnostic/refresh", "window/showMessageRequest"):
            self._send({"id": msg_id, "result": None})
        elif method == "workspace/workspaceFolders":
            self._send({"id": msg_id, "result": [
                {"uri": self.root.as_uri(), "name": self.root.name}]})
        else:
            self._send({"id": msg_id, "error": {"code": METHOD_NOT_FOUND, "message": method}})

    def _setting(self, section: str | None) -> Any:
        """``settings[section]``, else the dotted path into an enclosing section, else null."""
        if section is None:
            return None
        if section in self.settings:
            return self.settings[section]
        head, _, rest = section.partition(".")
        value: Any = self.settings.get(head)
        for part in rest.split(".") if rest else ():
            value = value.get(part) if isinstance(value, dict) else None
        return value

    # ---- calls ---------------------------------------------------------------------------

    def notify(self, method: str, params: Any) -> None:
        if self.closed:
            raise FloorError(f"server exited ({self.proc.returncode}): {self.stderr_tail()}")
        self._send({"method": method, "params": params})

    def request(self, method: str, params: Any) -> tuple[int, asyncio.Future[Any]]:
        if self.closed:
            raise FloorError(f"server exited ({self.proc.returncode}): {self.stderr_tail()}")
        self.next_id += 1
        if method == "textDocument/diagnostic":
            self.pulls += 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = fut
        self._send({"id": self.next_id, "method": method, "params": params})
        return self.next_id, fut

    async def call(self, method: str, params: Any, timeout: float) -> Any:
        """The result of a request; error responses become `FloorError`."""
        msg_id, fut = self.request(method, params)
        msg = await self.wait(fut, timeout, method, msg_id)
        if "error" in msg:
            raise FloorError(f"{method} failed: {msg['error']}")
        return msg.get("result")

    async def wait(self, fut: asyncio.Future[Any], timeout: float, what: str,
                   msg_id: int | None = None) -> Any:
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            if msg_id is not None and not self.closed:
                self.pending.pop(msg_id, None)
                self.notify("$/cancelRequest", {"id": msg_id})
            raise FloorError(f"{what}: no answer within {timeout:.1f} s") from None

    def expect_push(self, uri: str, version: int) -> asyncio.Future[None]:
        """Register interest before sending the change, so no push can slip past."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pushed[(uri, version)] = fut
        return fut

    async def close(self) -> None:
        """shutdown → exit → grace → kill the process group. Always completes."""
        for fut in self.pushed.values():
            fut.cancel()  # waits nobody awaits any more must not end in an exception
        self.pushed.clear()
        if not self.closed:
            with contextlib.suppress(FloorError, ConnectionError):
                await self.call("shutdown", None, GRACE)
                self.notify("exit", None)
        if self.proc.stdin is not None:
            self.proc.stdin.close()  # EOF: the last word for a server that ignored exit
        try:
            await asyncio.wait_for(self.proc.wait(), GRACE)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            await self.proc.wait()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def measure_floor(
    command: list[str],
    root: Path,
    path: str,
    texts: Sequence[str],
    *,
    pull: bool | None = None,
    settings: dict[str, Any] | None = None,
    timeout: float = 30,
    env: Mapping[str, str] | None = None,
    initialization_options: Any = None,
) -> list[float]:
    """Milliseconds from each full-text ``didChange`` of ``path`` to fresh diagnostics.

    Starts ``command`` in ``root``, initializes, opens ``path`` (relative to ``root``) with its
    disk text and waits for its first diagnostics (start-up is not measured), then sends each
    of ``texts`` as a new version and times it. ``pull`` None uses pull diagnostics when the
    server declares them or registers them before its first diagnostics, True forces pull,
    False forces versioned push (and does not offer the server pull). ``settings`` answers
    ``workspace/configuration`` by section (dotted sections also looked up inside their
    parent); ``env`` is added to the environment. Every wait has the deadline ``timeout``
    (seconds); `FloorError` when it passes or the server exits. The server is always shut
    down: ``shutdown``, ``exit``, then its process group is killed if it lingers.
    """
    root = root.resolve()
    file = root / path
    uri = file.as_uri()
    try:
        proc = await asyncio.create_subprocess_exec(
            *command, cwd=root, env={**os.environ, **(env or {})},
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group, so a kill takes its children too
        )
    except OSError as exc:
        raise FloorError(f"cannot run {command[0]!r}: {exc}") from exc
    rpc = _Rpc(proc, root, settings or {})
    try:
        result = await rpc.call("initialize", {
            "processId": os.getpid(),
            "rootUri": root.as_uri(),
            "rootPath": str(root),
            "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
            "capabilities": _capabilities(declare_pull=pull is not False),
            "initializationOptions": initialization_options,
            "clientInfo": {"name": "lspfeedback-floor"},
        }, timeout)
        static_pull = bool((result or {}).get("capabilities", {}).get("diagnosticProvider"))
        rpc.notify("initialized", {})
        if static_pull:
            rpc.pull_registered.set()

        version = 1
        first_push = rpc.expect_push(uri, version)
        rpc.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "python", "version": version,
            "text": file.read_bytes().decode("utf-8")}})
        if pull is None:
            # A server that registers pull does so on start-up, before it analyses anything;
            # one that pushes the opened version first is a push server.
            registered = asyncio.ensure_future(rpc.pull_registered.wait())
            done, _ = await asyncio.wait({registered, first_push}, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            registered.cancel()
            if not done:
                raise FloorError(f"no diagnostics for {path} within {timeout:.1f} s "
                                 f"(stderr: {rpc.stderr_tail()})")
            use_pull = rpc.pull_registered.is_set()
        else:
            use_pull = pull
        if use_pull:
            await _pull(rpc, uri, timeout)  # the opened version: start-up, not measured
        else:
            await rpc.wait(first_push, timeout, f"publishDiagnostics for {path} v{version}")
        first_push.cancel()  # answered or not needed (pull): no longer waited for
        rpc.pushed.pop((uri, version), None)

        latencies: list[float] = []
        for text in texts:
            version += 1
            push = None if use_pull else rpc.expect_push(uri, version)
            started = time.perf_counter()
            rpc.notify("textDocument/didChange", {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"text": text}],
            })
            if push is None:
                await _pull(rpc, uri, timeout)
            else:
                await rpc.wait(push, timeout, f"publishDiagnostics for {path} v{version}")
            latencies.append((time.perf_counter() - started) * 1000)
            rpc.pushed.pop((uri, version), None)
        return latencies
    finally:
        await rpc.close()


async def _pull(rpc: _Rpc, uri: str, timeout: float) -> Any:
    """One ``textDocument/diagnostic``, asked again on ContentModified / ServerCancelled, all
    within one deadline."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise FloorError(f"textDocument/diagnostic: no answer within {timeout:.1f} s")
        msg_id, fut = rpc.request("textDocument/diagnostic", {"textDocument": {"uri": uri}})
        msg = await rpc.wait(fut, remaining, "textDocument/diagnostic", msg_id)
        error = msg.get("error")
        if error is None:
            return msg.get("result")
        if error.get("code") not in (CONTENT_MODIFIED, SERVER_CANCELLED):
            raise FloorError(f"textDocument/diagnostic failed: {error}")


LANGUAGE_IDS = {".py": "python", ".pyi": "python", ".ts": "typescript", ".mts": "typescript",
                ".cts": "typescript", ".tsx": "typescriptreact", ".js": "javascript",
                ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascriptreact"}


class RawClient:
    """A server of lspfeedback's registry driven by this minimal JSON-RPC client, kept open
    across edits: ``paths`` are opened at `start`; each `change` sends one full-text
    ``didChange`` and waits for fresh diagnostics (the answers to pulls sent after it, or a
    push carrying the version sent). ``pull`` None: pull when the server declares it or
    registers it before its first diagnostics (as `measure_floor`), else versioned push.
    ``pulls`` counts every ``textDocument/diagnostic`` sent (retries included)."""

    def __init__(self, name: str, root: Path, paths: Sequence[str], timeout: float = 120.0,
                 pull: bool | None = None, python: str | None = None):
        self.name = name
        self.root = root.resolve()
        self.paths = list(paths)
        self.timeout = timeout
        self.pull = pull
        self.python = python
        self.versions: dict[str, int] = {}
        self.rpc: _Rpc | None = None
        self._changes = 0
        """didChange notifications sent so far."""
        self._pulled_after: dict[str, int] = {}
        """uri -> the number of didChanges sent when it was last pulled."""
        from lspfeedback.servers import get

        self._file_local = get(name).file_local
        """A per-file linter: another file's change does not make its results stale."""

    @property
    def pulls(self) -> int:
        return self.rpc.pulls if self.rpc is not None else 0

    async def start(self) -> None:
        command, settings, env = server_setup(self.name, self.root, self.python)
        try:
            proc = await asyncio.create_subprocess_exec(
                *command, cwd=self.root, env={**os.environ, **env},
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            raise FloorError(f"cannot run {command[0]!r}: {exc}") from exc
        rpc = self.rpc = _Rpc(proc, self.root, settings)
        params: dict[str, Any] = {
            "processId": os.getpid(), "rootUri": self.root.as_uri(), "rootPath": str(self.root),
            "workspaceFolders": [{"uri": self.root.as_uri(), "name": self.root.name}],
            "capabilities": _capabilities(declare_pull=self.pull is not False),
            "clientInfo": {"name": "lspfeedback-floor"},
        }
        options = _initialization_options(self.name, self.root, self.python)
        if options is not None:  # as the library's session: none sent, not null
            params["initializationOptions"] = options
        result = await rpc.call("initialize", params, self.timeout)
        rpc.notify("initialized", {})
        if (result or {}).get("capabilities", {}).get("diagnosticProvider"):
            rpc.pull_registered.set()
        first, *rest = self.paths
        uri = self._uri(first)
        self.versions[first] = 1
        push = rpc.expect_push(uri, 1)
        self._open(first)
        if self.pull is None:
            registered = asyncio.ensure_future(rpc.pull_registered.wait())
            done, _ = await asyncio.wait({registered, push}, timeout=self.timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            registered.cancel()
            if not done:
                raise FloorError(f"{self.name}: no diagnostics for {first} within "
                                 f"{self.timeout:.1f} s (stderr: {rpc.stderr_tail()})")
            self.pull = rpc.pull_registered.is_set()
        if self.pull:
            push.cancel()
            rpc.pushed.pop((uri, 1), None)
            await self._pull(uri)
        else:
            await rpc.wait(push, self.timeout, f"publishDiagnostics for {first} v1")
            rpc.pushed.pop((uri, 1), None)
        for path in rest:
            self.versions[path] = 1
            wait = None if self.pull else rpc.expect_push(self._uri(path), 1)
            self._open(path)
            if wait is None:
                await self._pull(self._uri(path))
            else:
                await rpc.wait(wait, self.timeout, f"publishDiagnostics for {path} v1")
                rpc.pushed.pop((self._uri(path), 1), None)

    def _uri(self, path: str) -> str:
        return (self.root / path).as_uri()

    def _open(self, path: str) -> None:
        assert self.rpc is not None
        self.rpc.notify("textDocument/didOpen", {"textDocument": {
            "uri": self._uri(path), "languageId": LANGUAGE_IDS.get(Path(path).suffix, "python"),
            "version": self.versions[path],
            "text": (self.root / path).read_bytes().decode("utf-8")}})

    async def _pull(self, uri: str) -> Any:
        assert self.rpc is not None
        sent_after = self._changes  # the answer describes the state this pull was sent in
        answer = await _pull(self.rpc, uri, self.timeout)
        self._pulled_after[uri] = sent_after
        return answer

    async def change(self, path: str, text: str, also: Sequence[str] = (), *,
                     baseline: bool = False) -> float:
        """Milliseconds from the ``didChange`` of ``path`` to fresh diagnostics of it and of
        ``also`` (open documents, pulled after the change, pipelined; push servers: ``path``
        alone).

        ``baseline``: first pull those of them not pulled since the last ``didChange`` (the
        diagnostics of the state before, which the library needs to tell what an edit
        introduced, and pulls the same way: a result describes one state of every file;
        a per-file linter's, `ServerSpec.file_local`, only its own file's), timed with the
        rest."""
        rpc = self.rpc
        assert rpc is not None
        uri = self._uri(path)
        targets = [uri, *(self._uri(p) for p in also if p != path)]
        version = self.versions[path] = self.versions.get(path, 0) + 1
        push = None if self.pull else rpc.expect_push(uri, version)
        started = time.perf_counter()
        if baseline and push is None:
            stale = [u for u in targets if u not in self._pulled_after] if self._file_local \
                else [u for u in targets if self._pulled_after.get(u) != self._changes]
            await asyncio.gather(*(self._pull(u) for u in stale))
        rpc.notify("textDocument/didChange", {
            "textDocument": {"uri": uri, "version": version},
            "contentChanges": [{"text": text}]})
        self._changes += 1
        if push is None:
            await asyncio.gather(*(self._pull(u) for u in targets))
        else:
            await rpc.wait(push, self.timeout, f"publishDiagnostics for {path} v{version}")
            rpc.pushed.pop((uri, version), None)
        return (time.perf_counter() - started) * 1000

    async def close(self) -> None:
        if self.rpc is not None:
            await self.rpc.close()
            self.rpc = None


SECTIONS = ("python", "python.analysis", "pyright", "ruff", "ty")
"""The configuration sections lspfeedback's servers ask for."""


def server_setup(name: str, root: Path,
                 python: str | None = None) -> tuple[list[str], dict[str, Any], dict[str, str]]:
    """``(command, settings, env)`` for one of lspfeedback's servers, from its registry spec
    (the same command and configuration answers lspfeedback's own sessions use)."""
    from lspfeedback.servers import get
    from lspfeedback.servers.base import ServerContext

    spec = get(name)
    ctx = ServerContext(root=root.resolve(), python=python or sys.executable)
    settings: dict[str, Any] = {}
    for section in SECTIONS:
        value = spec.configuration(ctx, section)
        if value is not None:
            settings[section] = value
    return spec.command(ctx), settings, dict(spec.env)


def _initialization_options(name: str, root: Path, python: str | None) -> Any:
    """What lspfeedback's own session sends the server as ``initializationOptions``."""
    from lspfeedback.servers import get
    from lspfeedback.servers.base import ServerContext

    ctx = ServerContext(root=root.resolve(), python=python or sys.executable)
    return get(name).initialization_options(ctx)


def main(argv: list[str] | None = None) -> int:
    """Measure one server's floor on one file, with edits from an edit script."""
    from lspfeedback._bench.edit_scripts import make_script

    parser = argparse.ArgumentParser(description="a language server's own edit latency")
    parser.add_argument("root", type=Path)
    parser.add_argument("path", help="file to edit, relative to ROOT")
    parser.add_argument("--server", default="ruff", help="ruff or pyright (default ruff)")
    parser.add_argument("--edits", type=int, default=5, help="mistake/fix pairs (default 5)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pull", choices=("auto", "pull", "push"), default="auto")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    steps = make_script(args.root, [args.path], args.seed, args.edits)
    command, settings, env = server_setup(args.server, args.root)
    pull = {"auto": None, "pull": True, "push": False}[args.pull]
    try:
        ms = asyncio.run(measure_floor(command, args.root, args.path,
                                       [s.new_text for s in steps], pull=pull,
                                       settings=settings, timeout=args.timeout, env=env))
    except FloorError as exc:
        print(f"floor: {exc}", file=sys.stderr)
        return 1
    for step, value in zip(steps, ms, strict=True):
        print(f"{value:8.1f} ms  {step.description}")
    print(f"{args.server} floor on {args.path}: median {statistics.median(ms):.1f} ms, "
          f"p95 {percentile(ms, 95):.1f} ms, min {min(ms):.1f}, max {max(ms):.1f} "
          f"({len(ms)} edits)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
