"""Writing a winner, never by surprise: to a new branch in a new git worktree of its
repository, outside the checked-out tree, which is left byte for byte as it was.

The branch starts at ``HEAD``; the winner was checked against the working tree, so a
repository whose working tree differs from ``HEAD`` is refused (the branch would not hold what
was checked). An existing branch is never moved or overwritten.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lspfeedback._shadow import cache_dir

GIT_TIMEOUT = 60.0
IDENTITY = {"GIT_AUTHOR_NAME": "lspfeedback fleet", "GIT_AUTHOR_EMAIL": "fleet@lspfeedback.invalid",
            "GIT_COMMITTER_NAME": "lspfeedback fleet",
            "GIT_COMMITTER_EMAIL": "fleet@lspfeedback.invalid"}
"""Used only where git has no identity configured (``user.email`` unset)."""


class ApplyError(Exception):
    """The winner was not written; the message says why (nothing was changed)."""


@dataclass(frozen=True)
class Applied:
    """Where a winner was written."""

    branch: str
    worktree: Path
    commit: str


def worktree_root() -> Path:
    """Where the fleet's worktrees go: ``$LSPFEEDBACK_CACHE/fleet-worktrees`` (never inside a
    repository's own tree)."""
    return cache_dir() / "fleet-worktrees"


def apply_to_branch(repo: Path, changes: Mapping[str, str | None], branch: str, *,
                    message: str, worktrees: Path | None = None) -> Applied:
    """Commit ``changes`` (path -> full text, None deletes) on a new ``branch`` of ``repo``,
    in a new worktree under ``worktrees``. Raises `ApplyError` (nothing written) when the repo
    is not a git repository, its working tree differs from HEAD, the branch exists, or a
    path leaves the repository."""
    repo = repo.resolve()
    if not changes:
        raise ApplyError("the winner changes nothing")
    _git(repo, "rev-parse", "--verify", "HEAD",
         what="git rev-parse HEAD (a git repository with a commit)")
    dirty = _git(repo, "status", "--porcelain", what="git status").strip()
    if dirty:
        raise ApplyError("the working tree differs from HEAD (untracked files count: the "
                         "winner was checked against them, a branch from HEAD would not hold "
                         f"them): {dirty.splitlines()[0]}")
    if _run(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}").returncode == 0:
        raise ApplyError(f"branch {branch} exists already (never overwritten): pick another "
                         "--branch or delete it")
    targets = {rel: _inside(repo, rel) for rel in changes}
    base = (worktrees or worktree_root()) / _slug(repo) / _slug_text(branch)
    if base.exists():
        raise ApplyError(f"worktree directory {base} exists already")
    base.parent.mkdir(parents=True, exist_ok=True)
    _git(repo, "worktree", "add", "--quiet", "-b", branch, str(base), "HEAD",
         what="git worktree add")
    for rel, text in changes.items():
        target = base / targets[rel]
        if text is None:
            if target.exists():
                target.unlink()
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode("utf-8"))
    _git(base, "add", "-A", "--", *sorted(targets.values()), what="git add")
    _git(base, "commit", "--quiet", "--no-verify", "-m", message, what="git commit")
    commit = _git(base, "rev-parse", "HEAD", what="git rev-parse").strip()
    return Applied(branch, base, commit)


def _inside(repo: Path, rel: str) -> str:
    target = (repo / rel).resolve()
    if not target.is_relative_to(repo):
        raise ApplyError(f"{rel} is outside the repository {repo}")
    return target.relative_to(repo).as_posix()


def _slug(repo: Path) -> str:
    digest = hashlib.blake2b(str(repo).encode(), digest_size=4).hexdigest()
    return f"{_slug_text(repo.name)}-{digest}"


def _slug_text(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def _env(cwd: Path) -> dict[str, str]:
    env = dict(os.environ)
    configured = _run(cwd, "config", "user.email", env=env).returncode == 0
    return env if configured else {**env, **IDENTITY}


def _run(cwd: Path, *args: str, env: Mapping[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], check=False, cwd=cwd, capture_output=True,
                          text=True, timeout=GIT_TIMEOUT, stdin=subprocess.DEVNULL,
                          env=dict(env) if env is not None else None)


def _git(cwd: Path, *args: str, what: str) -> str:
    proc = _run(cwd, *args, env=_env(cwd) if args[0] == "commit" else None)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise ApplyError(f"{what} failed in {cwd}: {detail[-1] if detail else proc.returncode}")
    return proc.stdout
