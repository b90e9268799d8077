"""ShadowRoot: the workspace mirrored by hard links; overlays never reach the workspace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from lsprotocol.types import FileChangeType

from lspfeedback._shadow import ShadowRoot


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LSPFEEDBACK_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "ws"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "a.py").write_text("A = 1\n")
    (root / "pyproject.toml").write_text("[tool.ruff]\n")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: x\n")
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "__pycache__" / "a.pyc").write_bytes(b"\0")
    (root / ".venv").mkdir()
    (root / ".venv" / "pyvenv.cfg").write_text("home = /usr\n")
    os.mkfifo(root / "pipe")
    os.symlink("pkg/a.py", root / "link.py")
    return root


def test_materialize_links_sources_and_skips_what_servers_never_read(workspace: Path) -> None:
    shadow = ShadowRoot.create(workspace, "primary")
    stats = shadow.materialize()
    assert (shadow.path("pkg/a.py").stat().st_ino == (workspace / "pkg/a.py").stat().st_ino)
    assert stats.files == 2 and stats.links == 2 and stats.copies == 0
    assert not shadow.path(".git").exists() and not shadow.path("pkg/__pycache__").exists()
    assert not shadow.path("pipe").exists()  # a FIFO would hang whoever reads it
    assert shadow.path(".venv").is_symlink()  # the environment is used where it is
    assert os.readlink(shadow.path("link.py")) == "pkg/a.py"
    shadow.close()
    assert not shadow.root.exists()


def test_overlays_are_new_files_and_the_workspace_is_never_written(workspace: Path) -> None:
    shadow = ShadowRoot.create(workspace, "primary")
    shadow.materialize()
    assert shadow.show("pkg/a.py", "A = 2\n") == ("pkg/a.py", FileChangeType.Changed)
    assert shadow.show("pkg/new.py", "N = 1\n") == ("pkg/new.py", FileChangeType.Created)
    assert shadow.show("pyproject.toml", None) == ("pyproject.toml", FileChangeType.Deleted)
    assert (workspace / "pkg/a.py").read_text() == "A = 1\n"
    assert not (workspace / "pkg/new.py").exists() and (workspace / "pyproject.toml").exists()
    assert shadow.path("pkg/a.py").read_text() == "A = 2\n"
    # Back to the disk: linked again, so later in-place writes to the workspace show through.
    assert shadow.restore("pkg/a.py") == ("pkg/a.py", FileChangeType.Changed)
    assert shadow.restore("pkg/new.py") == ("pkg/new.py", FileChangeType.Deleted)
    assert shadow.restore("pkg/new.py") is None
    (workspace / "pkg/a.py").write_text("A = 3\n")
    assert shadow.path("pkg/a.py").read_text() == "A = 3\n"
    assert shadow.to_workspace(f"see {shadow.root}/pkg/a.py") == f"see {workspace}/pkg/a.py"
    shadow.close()


def test_a_second_overlay_is_written_in_place_only_into_the_shadows_own_file(
        workspace: Path, tmp_path: Path) -> None:
    shadow = ShadowRoot.create(workspace, "primary")
    shadow.materialize()
    source = workspace / "pkg/a.py"
    shadow.show("pkg/a.py", "A = 2\n")
    own = shadow.path("pkg/a.py").stat().st_ino
    assert own != source.stat().st_ino
    assert shadow.show("pkg/a.py", "A = 22222\n") == ("pkg/a.py", FileChangeType.Changed)
    assert shadow.show("pkg/a.py", "A = 3\n") == ("pkg/a.py", FileChangeType.Changed)
    assert shadow.path("pkg/a.py").stat().st_ino == own  # rewritten, shorter: truncated
    assert shadow.path("pkg/a.py").read_bytes() == b"A = 3\n"
    # Linked back to the workspace: the next overlay is a new file again, never written
    # through the link.
    shadow.restore("pkg/a.py")
    shadow.show("pkg/a.py", "A = 4\n")
    assert source.read_text() == "A = 1\n"
    assert shadow.path("pkg/a.py").stat().st_ino != source.stat().st_ino
    # Someone put another file's hard link in its place: not written through either.
    outside = tmp_path / "outside.py"
    outside.write_text("kept\n")
    shadow.path("pkg/a.py").unlink()
    os.link(outside, shadow.path("pkg/a.py"))
    shadow.show("pkg/a.py", "A = 5\n")
    assert outside.read_text() == "kept\n"
    assert shadow.path("pkg/a.py").read_text() == "A = 5\n"
    shadow.close()


def test_a_workspace_holding_the_cache_does_not_mirror_its_shadows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / "proj").mkdir(parents=True)
    (home / "proj" / "m.py").write_text("M = 1\n")
    monkeypatch.setenv("LSPFEEDBACK_CACHE", str(home / ".cache" / "lspfeedback"))
    shadow = ShadowRoot.create(home, "primary")
    stats = shadow.materialize()
    assert stats.files == 1
    assert not any(shadow.root.rglob("shadow"))
    shadow.close()


def test_shadows_of_a_dead_process_are_removed(workspace: Path) -> None:
    code = ("import sys; from pathlib import Path; from lspfeedback._shadow import ShadowRoot; "
            "s = ShadowRoot.create(Path(sys.argv[1]), 'primary'); s.materialize(); print(s.root)")
    child = subprocess.run([sys.executable, "-c", code, str(workspace)], capture_output=True,
                           text=True, check=True, env=dict(os.environ))
    left = Path(child.stdout.strip())
    assert left.exists()  # the child died without closing it
    ours = ShadowRoot.create(workspace, "primary")
    assert not left.exists() and ours.root.parent.exists()
    ours.close()


def test_new_folders_are_changes_of_their_own(workspace: Path) -> None:
    # ty kept a folder's listing from before it existed until told the folder was created
    # (measured on packaging's history: a module added to a new package stayed unresolved).
    shadow = ShadowRoot.create(workspace, "primary")
    shadow.materialize()
    assert shadow.show("pkg/new/deep/mod.py", "X = 1\n") == (
        "pkg/new/deep/mod.py", FileChangeType.Created)
    assert shadow.take_new_folders() == [("pkg/new", FileChangeType.Created),
                                         ("pkg/new/deep", FileChangeType.Created)]
    assert shadow.take_new_folders() == []
    shadow.show("pkg/new/other.py", "Y = 1\n")
    assert shadow.take_new_folders() == []
    shadow.close()


@pytest.mark.parametrize("folder", ["node_modules/pkg", ".venv/lib"])
def test_an_overlay_under_a_linked_folder_never_writes_through_it(
        workspace: Path, folder: str) -> None:
    (workspace / folder).mkdir(parents=True)
    (workspace / folder / "mod.py").write_text("OLD = 1\n")
    (workspace / folder / "other.py").write_text("KEPT = 1\n")
    shadow = ShadowRoot.create(workspace, "primary")
    shadow.materialize()
    top = folder.split("/")[0]
    assert shadow.path(top).is_symlink()  # installed packages are used where they are
    shadow.show(f"{folder}/mod.py", "NEW = 2\n")
    shadow.show(f"{folder}/added.py", "ADDED = 3\n")
    # The linked folder became a real one of the shadow's: the workspace is untouched.
    assert not shadow.path(top).is_symlink()
    assert (workspace / folder / "mod.py").read_text() == "OLD = 1\n"
    assert not (workspace / folder / "added.py").exists()
    assert shadow.path(f"{folder}/mod.py").read_text() == "NEW = 2\n"
    assert shadow.path(f"{folder}/other.py").read_text() == "KEPT = 1\n"
    shadow.restore(f"{folder}/mod.py")
    assert shadow.path(f"{folder}/mod.py").read_text() == "OLD = 1\n"
    assert (workspace / folder / "mod.py").read_text() == "OLD = 1\n"
    shadow.close()
