"""lspfeedback.fleet: one change checked across many repositories by warm language servers on
Ray actors, the best candidate per repository kept (the ``fleet`` extra).

    from lspfeedback.fleet import Fleet

    with Fleet(servers=("pyright", "ruff"), max_warm=2) as fleet:
        for result in fleet.run(repo_paths, codemod):   # codemod(repo) -> [candidate, ...]
            print(result)                               # one per repository, as each finishes

See docs/fleet.md. Ray is imported only when a fleet starts.
"""

from lspfeedback.fleet._actor import ApplyRequest, HostAnswer, VerifierHost
from lspfeedback.fleet._apply import Applied, ApplyError, apply_to_branch
from lspfeedback.fleet._codemods import Codemod, CodemodError, PatchDirectory, load_codemod
from lspfeedback.fleet._fleet import Fleet
from lspfeedback.fleet._placement import (
    SERVER_MEMORY_GIB,
    Router,
    actor_memory_bytes,
    verifier_memory_gib,
)
from lspfeedback.fleet._records import (
    CandidateSummary,
    JsonlWriter,
    RepoResult,
    RepoStatus,
    done_repos,
    read_results,
    repo_key,
)

__all__ = [
    "SERVER_MEMORY_GIB",
    "Applied",
    "ApplyError",
    "ApplyRequest",
    "CandidateSummary",
    "Codemod",
    "CodemodError",
    "Fleet",
    "HostAnswer",
    "JsonlWriter",
    "PatchDirectory",
    "RepoResult",
    "RepoStatus",
    "Router",
    "VerifierHost",
    "actor_memory_bytes",
    "apply_to_branch",
    "done_repos",
    "load_codemod",
    "read_results",
    "repo_key",
    "verifier_memory_gib",
]
