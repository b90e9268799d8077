"""lspfeedback.fleet: warm verifiers on Ray actors, a codemod checked over many repositories.

The Ray tests start one local Ray for the module (2 CPUs, no dashboard, loopback only) and
run real ty + ruff servers on small synthetic repositories (fixtures/synth.py); the command
line tests run ``python -m lspfeedback.fleet.cli`` (its own local Ray), one of them with
pyright. Faults are injected with ``ray.kill``; nothing waits on a clock.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lspfeedback import VerifierOptions
from lspfeedback._bench.workloads import _synth_module
from lspfeedback.fleet import (
    CandidateSummary,
    JsonlWriter,
    PatchDirectory,
    RepoResult,
    Router,
    actor_memory_bytes,
    apply_to_branch,
    done_repos,
    load_codemod,
    read_results,
    repo_key,
)
from lspfeedback.fleet._apply import ApplyError
from lspfeedback.fleet._codemods import CodemodError
from lspfeedback.fleet._fleet import LOCAL_ENV, LOCAL_RAY
from lspfeedback.fleet._placement import actors_that_fit
from lspfeedback.fleet.examples import AddRequiredParameter, add_flag

from .conftest import TIMEOUT

CHEAP = ("ty", "ruff")
ray_test = [pytest.mark.slow, pytest.mark.ray]


def make_repo(path: Path, seed: int, *, git: bool = False) -> Path:
    """A 24-module synthetic project at ``path`` (a git repository with one commit if asked)."""
    _synth_module().generate(path, 24, seed)
    if git:
        for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                     ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base"]):
            subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)
    return path


def tree_digest(root: Path) -> str:
    """Every file under ``root`` but .git, names and bytes."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and ".git" not in p.relative_to(root).parts:
            h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def right_index(repo: str | Path) -> int:
    return add_flag.kinds(Path(repo)).index("right")


# ---- parts, no Ray -------------------------------------------------------------------------

def test_router_sends_a_repo_to_its_warm_actor_else_the_least_loaded() -> None:
    router = Router(2)
    assert router.route("a") == 0 and router.route("b") == 1  # least loaded
    router.done(0, "a", warm=True)
    router.done(1, "b", warm=True)
    assert router.route("a") == 0 and router.route("b") == 1  # warm wins over load
    router.done(0, "a", warm=True)
    router.done(1, "b", warm=True, evicted=["b"])
    assert router.warm(1) == {"b"}
    router.route("c")
    router.done(1, "c", warm=True, evicted=["b"])  # actor 1 closed b to make room for c
    assert router.warm_actor("b") is None and router.warm_actor("c") == 1
    router.lost(0)
    assert router.warm(0) == frozenset()


def test_an_actor_asks_for_the_memory_of_its_warm_servers() -> None:
    pyright = actor_memory_bytes(["pyright", "ruff"], replicas=1, max_warm=1)
    ty = actor_memory_bytes(["ty", "ruff"], replicas=1, max_warm=1)
    assert pyright > ty
    assert actor_memory_bytes(["pyright"], replicas=1, max_warm=4) > 3 * 1024**3
    assert actor_memory_bytes(["pyright"], replicas=2, max_warm=2) == actor_memory_bytes(
        ["pyright"], replicas=1, max_warm=4)
    assert actor_memory_bytes(["pyright"], replicas=1, max_warm=2, per_repo_gib=0.4) < pyright
    # As many actors as memory and CPUs hold, never more (Ray would leave them pending).
    gib = 1024**3
    assert actors_that_fit(64 * gib, 16, actor_memory=int(2.35 * gib), actor_cpus=1,
                           repos=1000) == 16
    assert actors_that_fit(16 * gib, 16, actor_memory=int(2.35 * gib), actor_cpus=1,
                           repos=1000) == 6
    assert actors_that_fit(64 * gib, 16, actor_memory=gib, actor_cpus=1, repos=3) == 3


def test_jsonl_round_trips_and_an_interrupted_last_line_is_skipped(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    first = RepoResult(repo_key(tmp_path / "a"), "ok", winner=1, candidates=(
        CandidateSummary(1, 1, "clean", True), CandidateSummary.invalid(0, "does not apply")),
        changes={"m.py": "x = 1\n"}, timings_ms={"check": 3.0}, attempts=2)
    second = RepoResult(repo_key(tmp_path / "b"), "unknown", reason="actor died")
    with JsonlWriter(out, append=False) as writer:
        writer.write(first)
        writer.write(second)
    with out.open("a") as f:
        f.write('{"repo": "/half-writ')  # killed in the middle of a write
    assert read_results(out) == [first, second]
    assert done_repos(read_results(out)) == {first.repo, second.repo}
    assert done_repos(read_results(out), retry_unknown=True) == {first.repo}
    with JsonlWriter(out, append=True) as writer:  # resuming cuts the partial line first
        writer.write(second.replace(status="ok", reason=None))
    assert [r.status for r in read_results(out)] == ["ok", "unknown", "ok"]


def test_codemods_load_from_entry_points_and_patch_directories(tmp_path: Path) -> None:
    assert load_codemod("lspfeedback.fleet.examples:add_flag") is add_flag
    (tmp_path / "mods.py").write_text("def two(repo):\n    return [{'a.py': ''}, {'b.py': ''}]\n")
    assert len(load_codemod(f"{tmp_path / 'mods.py'}:two")(tmp_path)) == 2
    patches = tmp_path / "patches"
    (patches / "special").mkdir(parents=True)
    (patches / "1.patch").write_text("shared one")
    (patches / "2.patch").write_text("shared two")
    (patches / "special" / "only.diff").write_text("its own")
    codemod = load_codemod(str(patches))
    assert isinstance(codemod, PatchDirectory)
    assert codemod(tmp_path / "other") == ["shared one", "shared two"]
    assert codemod(tmp_path / "special") == ["its own"]
    for bad in ("no_colon", "lspfeedback.fleet.examples:missing", "no.such.module:f"):
        with pytest.raises(CodemodError):
            load_codemod(bad)


def test_apply_commits_to_a_new_branch_and_never_touches_the_checkout(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", 1, git=True)
    before = tree_digest(repo)
    [right] = [c for c, kind in zip(add_flag(repo), add_flag.kinds(repo), strict=True)
               if kind == "right"]
    done = apply_to_branch(repo, right, "fleet/x", message="m", worktrees=tmp_path / "wt")
    assert tree_digest(repo) == before
    git = ["git", "-C", str(repo)]
    assert subprocess.run([*git, "branch", "--show-current"], capture_output=True, text=True,
                          check=True).stdout.strip() == "main"
    for rel, text in right.items():
        shown = subprocess.run([*git, "show", f"fleet/x:{rel}"], capture_output=True,
                               text=True, check=True).stdout
        assert shown == text and (done.worktree / rel).read_text() == text
    with pytest.raises(ApplyError, match="exists already"):
        apply_to_branch(repo, right, "fleet/x", message="m", worktrees=tmp_path / "wt2")
    (repo / "stray.txt").write_text("untracked")
    with pytest.raises(ApplyError, match="differs from HEAD"):
        apply_to_branch(repo, right, "fleet/y", message="m", worktrees=tmp_path / "wt3")


# ---- on a local Ray ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    for name, value in LOCAL_ENV.items():
        os.environ.setdefault(name, value)
    import ray

    ray.init(num_cpus=2, **LOCAL_RAY)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def five_repos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    base = tmp_path_factory.mktemp("fleet")
    return [make_repo(base / f"repo{i}", seed=i) for i in range(5)]


def fleet(**kw: Any) -> Any:
    from lspfeedback.fleet import Fleet

    # repo_timeout bounds a hang (a record 'unknown', the test fails) well within the suite's
    # timeout, which cannot interrupt a wait inside Ray.
    # The verifier's timeout is generous as everywhere in the suite (conftest.TIMEOUT): on a
    # shared machine a check that misses it is 'unknown', a flaky test, not a finding.
    return Fleet(**{"servers": CHEAP, "actors": 2, "actor_cpus": 0.5, "max_warm": 2,
                    "repo_timeout": 120.0,
                    "options": VerifierOptions(watch=False, timeout=TIMEOUT), **kw})


@pytest.mark.usefixtures("local_ray")
@pytest.mark.slow
@pytest.mark.ray
def test_the_winner_is_the_candidate_that_breaks_no_importer(five_repos: list[Path]) -> None:
    with fleet() as f:
        results = {r.repo: r for r in f.run(five_repos, add_flag)}
        warm_after = {i: f.router.warm(i) for i in range(2)}
        # A second round over the warm ones goes to the actor that holds each, no start.
        again = list(f.run(sorted(warm_after[0] | warm_after[1]),
                           AddRequiredParameter(parameter="traced")))
    assert sorted(results) == sorted(repo_key(r) for r in five_repos)
    for repo, result in results.items():
        target = add_flag.target(Path(repo))
        assert target is not None
        assert result.status == "ok" and result.report is not None and result.report.ok
        assert result.winner == right_index(repo)
        assert [c.rank for c in result.candidates] == [1, 2, 3]
        forgotten = add_flag.kinds(Path(repo)).index("callers_forgotten")
        [loser] = [c for c in result.candidates if c.index == forgotten]
        assert loser.introduced_errors > 0 and not loser.ok
        # The errors are in the importers that call it, not in the file that changed.
        assert any(line.split(":")[0] != target.path for line in loser.introduced)
        assert set(result.changes) == {target.path, *target.callers}
    # Five repositories, two actors holding two each at most: the router knows who is warm.
    assert sum(len(w) for w in warm_after.values()) == 4
    assert len(again) == 4
    for r in again:
        index = next(i for i, repos in warm_after.items() if r.repo in repos)
        assert r.warm and r.timings_ms["start"] == 0.0 and r.actor is not None
        assert r.actor.startswith(f"{index}@") and r.status == "ok"


@pytest.mark.usefixtures("local_ray")
@pytest.mark.slow
@pytest.mark.ray
def test_an_actor_killed_mid_run_is_restarted_and_every_repo_gets_a_result(
        five_repos: list[Path]) -> None:
    import psutil
    import ray

    with fleet(retries=2) as f:
        f.info()  # both actors are up
        stream = f.run(five_repos, add_flag)
        results = [next(stream)]
        busiest = max(range(2), key=f.router.in_flight)
        assert f.router.in_flight(busiest) >= 1
        before = ray.get(f.actors[busiest].info.remote())
        ray.kill(f.actors[busiest], no_restart=False)
        results += list(stream)
        after = ray.get(f.actors[busiest].info.remote())
    assert sorted(r.repo for r in results) == sorted(repo_key(r) for r in five_repos)
    assert all(r.status == "ok" and r.winner == right_index(r.repo) for r in results), [
        (r.status, r.reason, r.errors) for r in results]
    retried = [r for r in results if r.attempts > 1]
    assert retried and all("died" in r.errors[0] for r in retried)
    assert after["pid"] != before["pid"]  # Ray restarted it
    # The killed actor's servers did not outlive it.
    _, alive = psutil.wait_procs([psutil.Process(p) for p in before["server_pids"]
                                  if psutil.pid_exists(p)], timeout=10)
    assert [p for p in alive if p.status() != psutil.STATUS_ZOMBIE] == []


@pytest.mark.usefixtures("local_ray")
@pytest.mark.slow
@pytest.mark.ray
def test_a_repository_that_cannot_be_checked_is_a_record_with_its_reason_never_ok(
        five_repos: list[Path], tmp_path: Path) -> None:
    import ray

    def codemod(repo: Path) -> list[Any]:
        if repo.name == "repo1":
            raise RuntimeError("codemod bug")
        if repo.name == "repo2":
            return []
        if not repo.exists():
            return [{"a.py": "x = 1\n"}]
        if repo.name == "repo3":
            return [("synth/core/money.py\n<<<<<<< SEARCH\nno such text\n=======\nx\n"
                     ">>>>>>> REPLACE\n")]
        return add_flag(repo)

    missing = tmp_path / "gone"
    with fleet(retries=0, actors=1) as f:
        f.info()  # the actor is up: the kill below hits a check in flight
        stream = f.run([*five_repos[:4], missing], codemod)
        got = [next(stream)]  # repo1 or repo2: the driver's own records come first
        ray.kill(f.actors[0], no_restart=False)  # with retries=0 its repositories are lost
        got += list(stream)
    by_name = {Path(r.repo).name: r for r in got}
    assert sorted(by_name) == ["gone", "repo0", "repo1", "repo2", "repo3"]
    assert by_name["repo1"].status == "unknown" and "codemod bug" in (by_name["repo1"].reason or "")
    assert by_name["repo2"].status == "no_change"
    died = [r for r in got if r.status == "unknown" and "actor died" in (r.reason or "")]
    assert died and all(r.attempts == 1 and r.winner is None for r in died)
    for name in ("repo0", "repo3", "gone"):
        r = by_name[name]
        assert r.status != "ok", r
        if r not in died:  # it reached the restarted actor: its own reason
            assert r.reason
    if by_name["repo3"] not in died:
        assert by_name["repo3"].status == "errors"
        assert by_name["repo3"].candidates[0].status == "invalid"


@pytest.mark.usefixtures("local_ray")
@pytest.mark.slow
@pytest.mark.ray
def test_a_server_that_never_answers_is_unknown_with_the_reason(five_repos: list[Path]) -> None:
    from .conftest import fake

    hung = (fake("hang"),)  # a real subprocess that never answers a request
    # The verifier's own deadline: the report is unknown and says which server did not answer.
    with fleet(servers=hung, actors=1, options=VerifierOptions(watch=False, timeout=2.0)) as f:
        [by_verifier] = f.run(five_repos[:1], add_flag)
    # The driver's deadline (the verifier would wait longer): cancelled, recorded, not lost.
    with fleet(servers=hung, actors=1, repo_timeout=3.0,
               options=VerifierOptions(watch=False, timeout=600.0)) as f:
        [by_driver] = f.run(five_repos[:1], add_flag)
    assert by_verifier.status == "unknown" and "fake" in (by_verifier.reason or "")
    assert by_verifier.report is not None and not by_verifier.report.ok
    assert by_driver.status == "unknown" and "timed out" in (by_driver.reason or "")
    assert by_driver.winner is None and by_driver.errors


# ---- the command line ----------------------------------------------------------------------

def cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return subprocess.run([sys.executable, "-m", "lspfeedback.fleet.cli", "run", *map(str, args),
                           "--num-cpus", "2", "--actors", "1", "--actor-cpus", "0.5",
                           "--repo-timeout", "120", "--timeout", str(TIMEOUT), "--quiet"],
                          cwd=cwd, capture_output=True, text=True, env=env, timeout=240,
                          check=False)


@pytest.mark.slow
@pytest.mark.ray
def test_cli_apply_writes_branches_and_leaves_the_checkouts_unchanged(tmp_path: Path) -> None:
    repos = [make_repo(tmp_path / f"git{i}", seed=10 + i, git=True) for i in range(2)]
    before = {r: tree_digest(r) for r in repos}
    out = tmp_path / "out.jsonl"
    proc = cli(*repos, "--codemod", "lspfeedback.fleet.examples:add_flag", "--out", out,
               "--apply", "--branch", "fleet/audited", "--worktrees", tmp_path / "wt",
               cwd=tmp_path)  # the default servers: pyright and ruff
    assert proc.returncode == 0, proc.stderr
    records = read_results(out)
    assert sorted(r.repo for r in records) == sorted(repo_key(r) for r in repos)
    for record in records:
        repo = Path(record.repo)
        assert tree_digest(repo) == before[repo]
        assert record.status == "ok" and record.winner == right_index(repo)
        assert record.branch == "fleet/audited" and record.apply_error is None
        assert record.report is not None and record.report.ok
        assert {d.source for d in record.report.diagnostics} <= {"pyright", "ruff"}
        git = ["git", "-C", str(repo)]
        status = subprocess.run([*git, "status", "--porcelain"], capture_output=True,
                                text=True, check=True).stdout
        assert status == ""
        changed = subprocess.run([*git, "diff", "--name-only", "main", "fleet/audited"],
                                 capture_output=True, text=True, check=True).stdout.split()
        assert sorted(changed) == sorted(record.changes)
        for rel, text in record.changes.items():
            assert subprocess.run([*git, "show", f"fleet/audited:{rel}"], capture_output=True,
                                  text=True, check=True).stdout == text


@pytest.mark.usefixtures("local_ray")
@pytest.mark.slow
@pytest.mark.ray
def test_cli_resumes_from_a_partial_jsonl(five_repos: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with fleet() as f, JsonlWriter(out, append=False) as writer:
        stream = f.run(five_repos, add_flag)
        for _ in range(2):  # interrupted after two records
            writer.write(next(stream))
        stream.close()
    with out.open("a") as f:
        f.write('{"repo": "cut')
    done_before = [line for line in out.read_text().splitlines()[:2]]
    refused = cli(*five_repos, "--codemod", "lspfeedback.fleet.examples:add_flag",
                  "--out", out, "--server", "ty", "--server", "ruff", cwd=tmp_path)
    assert refused.returncode == 2 and "--resume" in refused.stderr
    proc = cli(*five_repos, "--codemod", "lspfeedback.fleet.examples:add_flag", "--out", out,
               "--resume", "--server", "ty", "--server", "ruff", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "2 skipped" in proc.stderr
    lines = out.read_text().splitlines()
    assert lines[:2] == done_before  # the earlier records are kept as they were
    records = [RepoResult.from_dict(json.loads(line)) for line in lines]
    assert sorted(r.repo for r in records) == sorted(repo_key(r) for r in five_repos)
    assert all(r.status == "ok" and r.winner == right_index(r.repo) for r in records)
    assert all(r.branch is None for r in records)  # nothing written without --apply
