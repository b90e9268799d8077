"""``lspfeedback hook claude-code``: a Claude Code ``PostToolUse`` hook around ``check``.

Claude Code runs the hook after a tool succeeded, with a JSON object on stdin (``session_id``,
``transcript_path``, ``cwd``, ``hook_event_name``, ``tool_name``, ``tool_input``,
``tool_response``). Its contract (code.claude.com/docs/en/hooks, see
adapters/claude-code/README.md): exit 0 is success and nothing reaches the model (stdout shows
only in transcript mode); exit 2 feeds stderr back to the model (the tool already ran, so
nothing is blocked); any other status is a non-blocking error shown to the user only.

So: the file the tool wrote (``tool_input.file_path``; ``notebook_path`` for NotebookEdit;
``tool_response.filePath`` as a fallback) is checked like ``lspfeedback check FILE``. Errors it
introduced go to stderr, concisely, with exit 2. Everything else exits 0 and prints nothing:
a clean check, only warnings, a file outside the project or that no server checks, an error
that was there before. A check that cannot be vouched for (a server did not answer, the bound
passed) exits 0 with a one-line note on stderr: the model is not interrupted for it. A hook
input that cannot be read exits 1 (the user sees why). The whole hook is bounded by
``--timeout`` (default 30 s, under Claude Code's own per-hook timeout).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HOOK_TIMEOUT = 30.0
"""Seconds the hook may take in all (a first call starts the daemon's servers)."""
EDIT_TOOLS = ("Edit", "Write", "MultiEdit", "NotebookEdit")
MAX_INPUT = 64 * 1024 * 1024
OK, NON_BLOCKING, FEEDBACK = 0, 1, 2
"""Claude Code's exit statuses: success, an error shown to the user, stderr to the model."""


class HookTimeout(Exception):
    """The hook's own bound passed."""


def add_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hook = sub.add_parser(
        "hook", help="run as an agent harness's hook (claude-code: a PostToolUse hook)",
        description="Read a Claude Code PostToolUse event on stdin, check the file the tool "
        "wrote (and its importers) like `lspfeedback check`, and follow Claude Code's hook "
        "contract: exit 2 with the introduced errors on stderr (the model reads them), exit 0 "
        "and silent otherwise. See adapters/claude-code/.",
    )
    hook.add_argument("harness", choices=("claude-code",))
    hook.add_argument("--root", default=None,
                      help="the workspace (default: files inside the project, $CLAUDE_PROJECT_DIR "
                      "or found upwards from the event's cwd, are checked in the root found "
                      "upwards from each file); files outside it are ignored")
    hook.add_argument("--timeout", type=float, default=HOOK_TIMEOUT,
                      help=f"seconds the hook may take in all (default {HOOK_TIMEOUT:g}); past "
                      "it, it exits 0 with a note")
    hook.add_argument("--baseline", choices=("auto", "daemon", "git", "none"), default="auto",
                      help="as for check (default auto)")
    hook.add_argument("--no-daemon", action="store_true",
                      help="check in-process: neither use nor start a daemon (slow: seconds)")
    from lspfeedback._cli import _trust_arguments

    _trust_arguments(hook)


def run(args: argparse.Namespace, stdin: Any = None) -> int:
    """Run the hook; returns its exit status (never raises)."""
    try:
        event = _read_event(stdin if stdin is not None else sys.stdin)
    except (ValueError, TypeError) as exc:
        print(f"lspfeedback hook: cannot read the hook input: {exc}", file=sys.stderr)
        return NON_BLOCKING
    try:
        with _bound(args.timeout):
            return _check_event(args, event)
    except HookTimeout:
        print(f"lspfeedback hook: no answer within {args.timeout:g} s; not checked",
              file=sys.stderr)
        return OK
    except Exception as exc:  # noqa: BLE001 - the hook's contract: never a traceback, never 2
        print(f"lspfeedback hook: not checked: {type(exc).__name__}: {exc}", file=sys.stderr)
        return NON_BLOCKING


def _read_event(stream: Any) -> dict[str, Any]:
    raw = stream.read(MAX_INPUT)
    try:
        event = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc})") from exc
    if not isinstance(event, dict):
        raise TypeError("not a JSON object")
    return event


def written_path(event: dict[str, Any]) -> str | None:
    """The file an edit tool wrote, as the event names it; None for other tools."""
    if event.get("tool_name") not in EDIT_TOOLS:
        return None
    for part, key in (("tool_input", "file_path"), ("tool_input", "notebook_path"),
                      ("tool_response", "filePath")):
        value = event.get(part)
        if isinstance(value, dict) and isinstance(value.get(key), str) and value[key]:
            return str(value[key])
    return None


def _check_event(args: argparse.Namespace, event: dict[str, Any]) -> int:
    from lspfeedback._check import (
        SOURCE_SUFFIXES,
        CheckRequest,
        relative_paths,
        run_check,
        text_lines,
    )
    from lspfeedback._cli import settings
    from lspfeedback._config import find_root

    written = written_path(event)
    if written is None or not written.endswith(SOURCE_SUFFIXES):
        return OK
    cwd = Path(event["cwd"]) if isinstance(event.get("cwd"), str) else Path.cwd()
    project = Path(args.root) if args.root is not None else _project(cwd)
    inside, outside = relative_paths(project, [written], cwd)
    if outside or not (project / inside[0]).is_file():
        return OK
    # Inside the project, the file's own root (the nearest pyproject.toml or .git at or above
    # it: a package of a monorepo), as `check FILE` would find it; --root names it outright.
    root = project if args.root is not None else find_root([str(project / inside[0])])
    if not root.resolve().is_relative_to(project.resolve()):
        root = project  # never a root above the project
    [rel], _ = relative_paths(root, [str(project / inside[0])], root)
    s = settings(argparse.Namespace(root=str(root), servers=None, timeout=None,
                                    max_dependents=None, python=args.python,
                                    trust_workspace=args.trust_workspace), [rel])
    if s.config.excluded(rel):
        return OK
    request = CheckRequest(root=s.root, paths=(rel,), servers=s.servers, timeout=s.timeout,
                           max_dependents=s.max_dependents, python=s.python,
                           trust_workspace=s.trust_workspace, baseline=args.baseline,
                           use_daemon=not args.no_daemon, start_daemon=not args.no_daemon)
    outcome = run_check(request)
    unknown = (f"lspfeedback hook: not vouched for: {'; '.join(map(str, outcome.report.unknown))}"
               if outcome.report.status == "unknown" else "")
    if not outcome.failing():
        if unknown:
            print(unknown, file=sys.stderr)
        return OK
    # Errors the servers that did answer found (on both sides of the comparison) are real,
    # also when another server could not answer: the model must see them.
    lines, summary = text_lines(outcome, brief=True)
    print("\n".join([*lines, summary, *([unknown] if unknown else [])]), file=sys.stderr)
    return FEEDBACK


def _project(cwd: Path) -> Path:
    """The project the session works in: ``$CLAUDE_PROJECT_DIR``, else found from ``cwd``."""
    from lspfeedback._config import find_root

    env = os.environ.get("CLAUDE_PROJECT_DIR")
    return find_root(cwd=Path(env) if env else cwd)


@contextmanager
def _bound(seconds: float) -> Iterator[None]:
    """Raise `HookTimeout` in this (the main) thread after ``seconds``."""

    def expired(signum: int, frame: object) -> None:
        raise HookTimeout

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
