"""The daemon and its client under abuse: first calls from many threads at once in a fresh
process (lsprotocol's lazy set-up raced there), and bodies nested deeper than any edit
(a bare 400 from the JSON parser, where docs/daemon.md promises 422 ``InvalidRequest``).

One ruff-only daemon serves the module: these tests are about the HTTP side, not the servers.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lsprotocol import converters, types

from lspfeedback import Client
from lspfeedback._daemon.models import MAX_DEPTH, nesting_depth

from .conftest import FIXTURES, REPO, TIMEOUT
from .test_daemon import Daemon, serve_args, start_daemon

pytestmark = pytest.mark.slow

CART = "shop/cart.py"

# A fresh interpreter, as an agent's program is: nothing of lsprotocol is set up before the
# threads make their first calls. Switching threads every microsecond widens any window in
# which one thread sees another's half-done work.
FIRST_CALLS = """
import json, sys, threading
sys.setswitchinterval(1e-6)
from lsprotocol import types
from lspfeedback import Client

root, threads = sys.argv[1], int(sys.argv[2])
text = open(root + "/shop/cart.py").read()
barrier = threading.Barrier(threads)
outcomes = [None] * threads

def edit(i):
    if i % 2:
        return {"shop/cart.py": text + f"\\nX_{i} = {i}\\n"}
    top = types.Position(line=0, character=0)
    return types.WorkspaceEdit(changes={"file://" + root + "/shop/cart.py": [
        types.TextEdit(range=types.Range(start=top, end=top), new_text=f"import os  # {i}\\n")]})

def agent(i):
    with Client(root) as client:
        barrier.wait()
        try:
            outcomes[i] = sorted({d.code for d in client.verify(edit(i)).introduced})
        except Exception as exc:
            outcomes[i] = f"{type(exc).__name__}: {exc}"

workers = [threading.Thread(target=agent, args=(i,)) for i in range(threads)]
for w in workers:
    w.start()
for w in workers:
    w.join()
print(json.dumps(outcomes))
"""
ROUNDS, THREADS = 6, 16


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    base = tmp_path_factory.mktemp("robust")
    root = base / "shop"
    shutil.copytree(FIXTURES / "shop", root)
    running = start_daemon(root, serve_args(root, "--port", "0", "--server", "ruff"), base)
    yield running
    running.stop()


def post(daemon: Daemon, route: str, body: bytes) -> httpx.Response:
    return httpx.post(daemon.url + route, content=body, timeout=TIMEOUT,
                      headers=daemon.headers(**{"Content-Type": "application/json"}))


# ---- first calls from many threads -----------------------------------------------------------


def test_first_calls_from_many_threads_of_a_fresh_process_all_succeed(daemon: Daemon) -> None:
    # Without a converter built once at import, threads building their first lsprotocol
    # converters at once failed with "dictionary changed size during iteration".
    for _ in range(ROUNDS):
        run = subprocess.run([sys.executable, "-c", FIRST_CALLS, str(daemon.root), str(THREADS)],
                             cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT * 2,
                             check=False)
        assert run.returncode == 0, run.stderr
        outcomes = json.loads(run.stdout)
        # Each agent got its own report (never an exception): odd agents add `X_i = i`
        # (fine for ruff), even ones an unused import (F401, and I001: unsorted imports).
        assert all(isinstance(codes, list) for codes in outcomes), outcomes
        assert [("F401" in codes) for codes in outcomes] == [i % 2 == 0 for i in range(THREADS)]
        assert all(codes == [] for codes in outcomes[1::2]), outcomes
    with Client(daemon.root) as client:
        assert client.health()["in_flight"] == 0


# ---- bodies nested deeper than edits go ------------------------------------------------------


def test_a_body_nested_100k_deep_is_422_invalid_request(daemon: Daemon) -> None:
    for route, body in [
        ("/v1/verify", b'{"changes": {"shop/cart.py": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"),
        ("/v1/verify", b'{"changes": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_001),
        ("/v1/candidates", b'{"candidates": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}"),
    ]:
        response = post(daemon, route, body)
        assert response.status_code == 422, response.text
        answer = response.json()
        assert answer["error"] == "InvalidRequest" and "nests too deeply" in answer["message"]


def test_a_body_deeper_than_any_edit_is_422_even_when_it_parses(daemon: Daemon) -> None:
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    for route, body in [("/v1/verify", f'{{"changes": {{"shop/cart.py": {deep}}}}}'),
                        ("/v1/candidates", f'{{"candidates": [{{"shop/cart.py": {deep}}}]}}')]:
        response = post(daemon, route, body.encode())
        assert response.status_code == 422, response.text
        assert response.json()["error"] == "InvalidRequest"
        assert f"deeper than {MAX_DEPTH} levels" in response.json()["message"]


def test_a_body_not_in_utf8_is_422(daemon: Daemon) -> None:
    response = post(daemon, "/v1/verify", b'{"changes": "\xff\xfe"}')
    assert response.status_code == 422 and response.json()["error"] == "InvalidRequest"
    assert "not JSON" in response.json()["message"]


def test_the_deepest_edit_format_is_far_from_the_limit_and_accepted(daemon: Daemon) -> None:
    # A WorkspaceEdit with versioned document changes and annotations nests the deepest.
    where = types.Range(start=types.Position(line=0, character=0),
                        end=types.Position(line=0, character=0))
    edit = types.WorkspaceEdit(
        document_changes=[types.TextDocumentEdit(
            text_document=types.OptionalVersionedTextDocumentIdentifier(
                uri=(daemon.root / CART).as_uri(), version=None),
            edits=[types.AnnotatedTextEdit(range=where, new_text="import os\n",
                                           annotation_id="a")])],
        change_annotations={"a": types.ChangeAnnotation(label="add an import")})
    assert 5 <= nesting_depth(converters.get_converter().unstructure(edit)) <= MAX_DEPTH // 4
    with Client(daemon.root) as client:
        report = client.verify(edit)
    assert "F401" in {d.code for d in report.introduced}
    assert nesting_depth({"a": [[[]]]}) == 4 and nesting_depth("x") == 0
    with pytest.raises(ValueError, match="deeper than 3 levels"):
        nesting_depth([[[[1]]]], limit=3)


def test_the_daemon_still_answers_after_the_abuse(daemon: Daemon) -> None:
    with Client(daemon.root) as client:
        assert client.health()["status"] == "ok"
        text = (daemon.root / CART).read_text()
        assert "F401" in {d.code for d in client.verify({CART: "import json\n" + text}).introduced}


@pytest.mark.parametrize("problem", ["mode", "root", "host"])
def test_a_state_file_the_workspace_could_have_shipped_is_ignored(tmp_path: Path,
                                                                  problem: str) -> None:
    import os

    from lspfeedback._daemon.state import read_state, state_dir
    from lspfeedback._exceptions import DaemonNotRunning

    root = tmp_path / "repo"
    root.mkdir()
    path = state_dir(root) / "daemon.json"
    data = {"root": str(root if problem != "root" else tmp_path), "token": "t", "pid": 1,
            "version": "0", "url": "http://evil.example:80" if problem == "host"
            else "http://127.0.0.1:9"}
    path.write_text(json.dumps(data))
    os.chmod(path, 0o644 if problem == "mode" else 0o600)
    with pytest.raises(DaemonNotRunning, match="ignoring the daemon state file"):
        read_state(root)
    os.chmod(path, 0o600)
    if problem == "mode":  # the same file, private: accepted
        assert read_state(root) is not None
