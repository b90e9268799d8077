"""A stateful property test of the engine with real servers behind a recording proxy.

Random sequences of edits, verifies, external disk writes, candidate runs, commits and
discards. After every step that talks to the servers:
- document versions sent to each server only grow;
- the text each server holds (replayed from what went over the wire) equals the store's text;
- every report describes the current store version of each file it checked.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from pygls.exceptions import JsonRpcException

from lspfeedback import Report, Verifier
from lspfeedback._lsp.client import LspClient
from lspfeedback.servers import get
from lspfeedback.servers.base import ServerContext, ServerSpec

from .conftest import FIXTURES, TIMEOUT

PROXY = Path(__file__).resolve().parent / "servers" / "recording_proxy.py"
FILES = ("shop/pricing.py", "shop/cart.py", "shop/checkout.py")
SNIPPETS = ("x = 1\n", "def f(a: int) -> str:\n    return a\n", "import os\n", "y = 'é😀'\n",
            "\r\n", "def g(:\n", "from shop.pricing import apply_discount\n", "")


@dataclass(frozen=True)
class Proxied(ServerSpec):
    """A real server, started behind the recording proxy."""

    inner: ServerSpec | None = None
    log_dir: str = ""

    def command(self, ctx: ServerContext) -> list[str]:
        assert self.inner is not None
        return [sys.executable, str(PROXY), self.log_dir, "--", *self.inner.command(ctx)]

    def configuration(self, ctx: ServerContext, section: str | None) -> object:
        assert self.inner is not None
        return self.inner.configuration(ctx, section)


def proxied(name: str, log_dir: Path) -> Proxied:
    inner = get(name)
    return Proxied(name=inner.name, summary=inner.summary, checks=inner.checks,
                   install_hint=inner.install_hint,
                   dynamic_pull_registration=inner.dynamic_pull_registration,
                   env=inner.env, inner=inner, log_dir=str(log_dir))


def _units(line: str, encoding: str, character: int) -> int:
    """Code-point index of an LSP character offset, computed independently of the library."""
    codec = {"utf-16": "utf-16-le", "utf-8": "utf-8", "utf-32": "utf-32-le"}[encoding]
    width = {"utf-16": 2, "utf-8": 1, "utf-32": 4}[encoding]
    data = line.encode(codec, "surrogatepass")[: character * width]
    return len(data.decode(codec, "ignore"))


def _offset(text: str, line: int, character: int, encoding: str) -> int:
    lines = text.splitlines(keepends=True) if text else [""]
    # splitlines knows more breaks than LSP; the snippets only use \n, \r\n and \r.
    start = sum(len(x) for x in lines[:line])
    current = lines[line] if line < len(lines) else ""
    body = current.rstrip("\r\n")
    return start + min(_units(body, encoding, character), len(body))


def replay(log: Path, encoding: str) -> tuple[dict[str, str], dict[str, list[int]]]:
    """What the server was told: uri -> text, uri -> versions in order."""
    texts: dict[str, str] = {}
    versions: dict[str, list[int]] = {}
    for line in log.read_text().splitlines():
        msg = json.loads(line)
        method, params = msg.get("method"), msg.get("params") or {}
        if method == "textDocument/didOpen":
            doc = params["textDocument"]
            texts[doc["uri"]] = doc["text"]
            versions.setdefault(doc["uri"], []).append(doc["version"])
        elif method == "textDocument/didChange":
            uri = params["textDocument"]["uri"]
            versions[uri].append(params["textDocument"]["version"])
            for change in params["contentChanges"]:
                if "range" not in change:
                    texts[uri] = change["text"]
                    continue
                text, rng = texts[uri], change["range"]
                a = _offset(text, rng["start"]["line"], rng["start"]["character"], encoding)
                b = _offset(text, rng["end"]["line"], rng["end"]["character"], encoding)
                texts[uri] = text[:a] + change["text"] + text[b:]
        elif method == "textDocument/didClose":
            texts.pop(params["textDocument"]["uri"], None)
    return texts, versions


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="lspfeedback-stateful-"))
        self.root = self.tmp / "shop"
        shutil.copytree(FIXTURES / "shop", self.root)
        self.logs = self.tmp / "logs"
        self.logs.mkdir()
        specs = [proxied("pyright", self.logs), proxied("ruff", self.logs)]
        # The recording proxy writes its logs beside the test, and names them by its pid: a
        # sandbox would refuse the writes and renumber the pid (the sandbox has tests of its own).
        self.v = Verifier(self.root, servers=specs, timeout=TIMEOUT, replicas=2, sandbox="off")
        self.v.start()
        self.last: Report | None = None

    def teardown(self) -> None:
        self.v.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _text(self, rel: str) -> str:
        return self.v.engine._primary.store.get(rel).text

    @rule(rel=st.sampled_from(FILES), snippet=st.sampled_from(SNIPPETS),
          where=st.floats(0, 1), cut=st.integers(0, 40))
    def edit_and_verify(self, rel: str, snippet: str, where: float, cut: int) -> None:
        text = self._text(rel)
        at = int(len(text) * where)
        self.last = self.v.verify({rel: text[:at] + snippet + text[at + cut:]})

    @rule(rel=st.sampled_from(FILES), snippet=st.sampled_from(SNIPPETS))
    def external_write_then_verify_other(self, rel: str, snippet: str) -> None:
        path = self.root / rel
        before = path.read_bytes() if path.exists() else b""  # a committed deletion
        path.write_bytes(before + snippet.encode())
        other = FILES[(FILES.index(rel) + 1) % len(FILES)]
        self.last = self.v.verify({other: self._text(other) + "\n"})

    @rule(snippets=st.lists(st.sampled_from(SNIPPETS), min_size=2, max_size=3))
    def candidates(self, snippets: list[str]) -> None:
        before = {rel: self._text(rel) for rel in FILES}
        overlays = self.v.overlays
        ranked = self.v.verify_candidates(
            [{FILES[i % len(FILES)]: before[FILES[i % len(FILES)]] + s} for i, s in enumerate(snippets)]
        )
        assert sorted(c.index for c in ranked) == list(range(len(snippets)))
        assert {rel: self._text(rel) for rel in FILES} == before
        assert self.v.overlays == overlays

    @rule(name=st.sampled_from(("extra", "more", "pricing")), snippet=st.sampled_from(SNIPPETS))
    def create_module(self, name: str, snippet: str) -> None:
        rel = f"shop/{name}_new.py"
        importer = "shop/checkout.py"
        self.last = self.v.verify({rel: snippet or "z = 0\n", importer: self._text(importer)
                                   + f"\nfrom shop import {name}_new\n"})
        if self.last.status != "unknown":
            assert not any(f"{name}_new" in d.message and "could not be resolved" in d.message
                           for d in self.last.diagnostics), self.last

    @rule(rel=st.sampled_from(FILES), new=st.sampled_from(("shop/renamed.py", "shop/moved.py")))
    def rename_module(self, rel: str, new: str) -> None:
        text = self._text(rel)
        if not self.v.engine._primary.store.get(rel).exists or rel == new:
            return
        self.last = self.v.verify({rel: None, new: text})

    @rule(rel=st.sampled_from(FILES))
    def delete_module(self, rel: str) -> None:
        self.last = self.v.verify({rel: None})

    @precondition(lambda self: bool(self.v.overlays))
    @rule()
    def commit(self) -> None:
        overlays = self.v.overlays
        self.v.commit()
        for rel, text in overlays.items():
            if text is None:
                assert not (self.root / rel).exists()
            else:
                assert (self.root / rel).read_bytes().decode() == text

    @rule()
    def discard(self) -> None:
        self.v.discard()
        assert self.v.overlays == {}

    def _flush(self, client: LspClient) -> None:
        """A request round trip through the proxy: once the server has answered it, every
        notification sent before it is in the log. Any method will do; an unknown one is
        answered with an error, as JSON-RPC requires."""
        try:
            self.v._loop.run(client.request("lspfeedback/flush", None, TIMEOUT))
        except JsonRpcException:
            pass

    @invariant()
    def servers_hold_the_store_text_and_versions_grow(self) -> None:
        for session in self.v.engine._primary.sessions.values():
            client = session.client
            if client is None or not client.alive or session.capabilities is None:
                continue
            self._flush(client)
            log = self.logs / f"{client.pid}.jsonl"
            if not log.exists():
                continue
            texts, versions = replay(log, session.capabilities.encoding)
            for uri, seen in versions.items():
                assert seen == sorted(seen) and len(set(seen)) == len(seen), (session.name, uri, seen)
            for rel in session.held_paths():
                uri = self.v.engine._primary.store.uri(rel)
                assert texts.get(uri) == session.held_text(rel), (session.name, rel)

    @invariant()
    def what_the_servers_can_import_is_the_store_view(self) -> None:
        # The servers read the file system of their replica's shadow root: after a sync it
        # must show exactly what the store shows, deletions and new files included.
        # An idle replica catches up with the disk when it is next used: do that first.
        for ws in self.v.engine._pool:
            self.v.engine._disk.refresh(ws)
            self.v._loop.run(ws.ensure_shadow())
            for doc in ws.store.documents():
                path = ws.shadow.path(doc.path)
                assert path.exists() == doc.exists, (ws.name, doc.path)
                if doc.exists:
                    assert path.read_bytes().decode("utf-8", "surrogatepass") == doc.text

    @invariant()
    def reports_describe_current_versions(self) -> None:
        if self.last is None or self.last.status == "unknown":
            return
        store = self.v.engine._primary.store
        for rel, version in self.last.versions.items():
            assert version <= store.get(rel).version
        self.last = None


EngineMachine.TestCase.settings = settings(
    max_examples=6, stateful_step_count=8, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_engine_state_machine = EngineMachine.TestCase
