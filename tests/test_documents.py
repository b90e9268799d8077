"""DocumentStore: path containment, versions, reload by content, atomic writes."""

from __future__ import annotations

import os
import stat
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lspfeedback._documents import DocumentStore
from lspfeedback._exceptions import EditError, PathOutsideWorkspace, WorkspaceError


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "ws"
    (r / "pkg").mkdir(parents=True)
    (r / "pkg" / "m.py").write_text("x = 1\n")
    return r


@pytest.fixture
def store(root: Path) -> DocumentStore:
    return DocumentStore(root)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---- construction and paths -----------------------------------------------------------------


def test_root_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError):
        DocumentStore(tmp_path / "missing")
    (tmp_path / "f").write_text("")
    with pytest.raises(WorkspaceError):
        DocumentStore(tmp_path / "f")


@pytest.mark.parametrize("path", ["pkg/m.py", "./pkg/m.py", "pkg/../pkg/m.py", "pkg//m.py"])
def test_relpath_normalises_relative_paths(store: DocumentStore, path: str) -> None:
    assert store.relpath(path) == "pkg/m.py"


def test_relpath_of_file_not_yet_existing(store: DocumentStore) -> None:
    assert store.relpath("new/dir/n.py") == "new/dir/n.py"


def test_relpath_accepts_absolute_paths_inside(store: DocumentStore, root: Path) -> None:
    assert store.relpath(root / "pkg" / "m.py") == "pkg/m.py"
    assert store.relpath(str(root.resolve() / "pkg" / "new.py")) == "pkg/new.py"


def test_relpath_accepts_absolute_paths_through_a_symlinked_root(tmp_path: Path, root: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(root, target_is_directory=True)
    store = DocumentStore(alias)
    assert store.relpath(alias / "pkg" / "m.py") == "pkg/m.py"
    assert store.relpath(root / "pkg" / "m.py") == "pkg/m.py"


@pytest.mark.parametrize("path", ["../x", "../x.py", "pkg/../../x.py", "../ws2/m.py"])
def test_relpath_rejects_parent_escapes(store: DocumentStore, path: str) -> None:
    with pytest.raises(PathOutsideWorkspace):
        store.relpath(path)


def test_relpath_rejects_sibling_with_root_name_as_prefix(tmp_path: Path, store: DocumentStore) -> None:
    # "/tmp/.../ws2" starts with the string "/tmp/.../ws" but is not inside it.
    (tmp_path / "ws2").mkdir()
    with pytest.raises(PathOutsideWorkspace):
        store.relpath(tmp_path / "ws2" / "m.py")


def test_relpath_rejects_absolute_paths_outside(store: DocumentStore, tmp_path: Path) -> None:
    with pytest.raises(PathOutsideWorkspace):
        store.relpath(tmp_path / "elsewhere.py")
    with pytest.raises(PathOutsideWorkspace):
        store.relpath("/etc/passwd")


def test_relpath_rejects_nul_bytes(store: DocumentStore) -> None:
    with pytest.raises(PathOutsideWorkspace):
        store.relpath("pkg/m.py\x00.txt")


def test_relpath_rejects_symlink_pointing_outside(store: DocumentStore, root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("s = 1\n")
    (root / "link_dir").symlink_to(outside, target_is_directory=True)
    (root / "link_file.py").symlink_to(outside / "secret.py")
    for path in ("link_dir/secret.py", "link_dir", "link_file.py", root / "link_file.py"):
        with pytest.raises(PathOutsideWorkspace):
            store.relpath(path)


def test_relpath_follows_symlink_pointing_inside(store: DocumentStore, root: Path) -> None:
    (root / "alias.py").symlink_to(root / "pkg" / "m.py")
    assert store.relpath("alias.py") == "pkg/m.py"


@pytest.mark.parametrize("path", [".", "", "pkg/..", "./"])
def test_relpath_rejects_the_root_itself(store: DocumentStore, path: str) -> None:
    with pytest.raises(PathOutsideWorkspace):
        store.relpath(path)


def test_relpath_rejects_the_root_itself_absolute(store: DocumentStore, root: Path) -> None:
    with pytest.raises(PathOutsideWorkspace):
        store.relpath(root)


# ---- reading ---------------------------------------------------------------------------------


def test_get_reads_disk_and_keeps_crlf(store: DocumentStore, root: Path) -> None:
    (root / "crlf.py").write_bytes(b"a = 1\r\nb = 2\r\n")
    doc = store.get("crlf.py")
    assert doc.text == "a = 1\r\nb = 2\r\n"
    assert doc.exists and doc.version == 1


def test_missing_file_is_an_empty_non_existing_document(store: DocumentStore) -> None:
    doc = store.get("nope.py")
    assert doc.disk_text is None and not doc.exists and doc.text == ""


def test_non_utf8_file_raises_edit_error(store: DocumentStore, root: Path) -> None:
    (root / "latin1.py").write_bytes("s = 'café'\n".encode("latin-1"))
    with pytest.raises(EditError):
        store.get("latin1.py")


def test_reload_of_file_turned_non_utf8_raises_edit_error(store: DocumentStore, root: Path) -> None:
    store.get("pkg/m.py")
    (root / "pkg" / "m.py").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(EditError):
        store.reload("pkg/m.py")


def test_directory_raises_edit_error(store: DocumentStore) -> None:
    with pytest.raises(EditError):
        store.get("pkg")


# ---- versions --------------------------------------------------------------------------------


def test_set_overlay_with_same_text_does_not_bump(store: DocumentStore) -> None:
    doc = store.get("pkg/m.py")
    generation = store.generation
    assert store.set_overlay("pkg/m.py", "x = 1\n") is False
    assert doc.version == 1 and store.generation == generation


def test_set_overlay_with_different_text_bumps_once(store: DocumentStore) -> None:
    doc = store.get("pkg/m.py")
    generation = store.generation
    assert store.set_overlay("pkg/m.py", "x = 2\n") is True
    assert doc.version == 2 and store.generation == generation + 1
    assert store.set_overlay("pkg/m.py", "x = 2\n") is False
    assert doc.version == 2 and store.generation == generation + 1
    assert doc.text == "x = 2\n"


def test_set_overlay_creating_a_file_bumps_even_when_empty(store: DocumentStore) -> None:
    doc = store.get("new.py")
    assert store.set_overlay("new.py", "") is True
    assert doc.exists and doc.version == 2


def test_drop_overlay_bumps_when_text_differs(store: DocumentStore) -> None:
    doc = store.get("pkg/m.py")
    store.set_overlay("pkg/m.py", "x = 2\n")
    generation = store.generation
    assert store.drop_overlay("pkg/m.py") is True
    assert doc.version == 3 and store.generation == generation + 1
    assert doc.text == "x = 1\n" and doc.overlay is None


def test_drop_overlay_equal_to_disk_does_not_bump(store: DocumentStore) -> None:
    doc = store.get("pkg/m.py")
    store.set_overlay("pkg/m.py", "x = 1\n")
    assert store.drop_overlay("pkg/m.py") is False
    assert doc.version == 1 and doc.overlay is None


def test_drop_without_overlay_does_nothing(store: DocumentStore) -> None:
    doc = store.get("pkg/m.py")
    assert store.drop_overlay("pkg/m.py") is False
    assert doc.version == 1


def test_drop_overlay_of_created_file_bumps(store: DocumentStore) -> None:
    doc = store.get("new.py")
    store.set_overlay("new.py", "n = 1\n")
    assert store.drop_overlay("new.py") is True
    assert not doc.exists and doc.version == 3


# Existence is part of what the servers see: '' (an empty file) and a missing file differ.
def test_drop_overlay_of_created_empty_file_bumps(store: DocumentStore) -> None:
    doc = store.get("pkg/__init__.py")
    store.set_overlay("pkg/__init__.py", "")
    generation = store.generation
    assert store.drop_overlay("pkg/__init__.py") is True
    assert not doc.exists
    assert store.generation == generation + 1


def test_reload_of_deleted_empty_file_bumps(store: DocumentStore, root: Path) -> None:
    (root / "pkg" / "__init__.py").write_text("")
    doc = store.get("pkg/__init__.py")
    (root / "pkg" / "__init__.py").unlink()
    generation = store.generation
    assert store.reload("pkg/__init__.py") is True
    assert not doc.exists
    assert store.generation == generation + 1


TEXTS = st.sampled_from(["x = 1\n", "x = 2\n", "y\r\n", "😀 = 3\n"])  # non-empty on purpose
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), TEXTS),
        st.tuples(st.just("drop"), st.none()),
        st.tuples(st.just("disk"), TEXTS),
    ),
    max_size=25,
)


@given(OPS)
def test_version_grows_exactly_when_visible_text_changes(ops: list[tuple[str, str | None]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.py"
        path.write_text("x = 1\n", newline="")
        store = DocumentStore(tmp)
        doc = store.get("f.py")
        for op, arg in ops:
            before_text, before_version, before_gen = doc.text, doc.version, store.generation
            if op == "set":
                changed = store.set_overlay("f.py", arg)
                assert doc.text == arg
            elif op == "drop":
                changed = store.drop_overlay("f.py")
            else:
                path.write_text(arg, newline="")
                changed = store.reload("f.py")
            assert changed == (doc.text != before_text)
            assert doc.version == before_version + int(changed)
            assert store.generation == before_gen + int(changed)


def test_reload_detects_same_size_rewrite_with_old_mtime(store: DocumentStore, root: Path) -> None:
    path = root / "pkg" / "m.py"
    doc = store.get("pkg/m.py")
    old = path.stat()
    path.write_text("x = 9\n")  # same length as "x = 1\n"
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))
    new = path.stat()
    assert (new.st_size, new.st_mtime_ns) == (old.st_size, old.st_mtime_ns)
    assert store.reload("pkg/m.py") is True
    assert doc.text == "x = 9\n" and doc.version == 2
    assert store.reload("pkg/m.py") is False
    assert doc.version == 2


def test_reload_under_an_overlay_updates_disk_but_not_version(store: DocumentStore, root: Path) -> None:
    doc = store.get("pkg/m.py")
    store.set_overlay("pkg/m.py", "edited\n")
    (root / "pkg" / "m.py").write_text("x = 5\n")
    assert store.reload("pkg/m.py") is False
    assert doc.version == 2 and doc.text == "edited\n"
    assert store.drop_overlay("pkg/m.py") is True
    assert doc.text == "x = 5\n" and doc.version == 3


def test_reload_of_deleted_file(store: DocumentStore, root: Path) -> None:
    doc = store.get("pkg/m.py")
    (root / "pkg" / "m.py").unlink()
    assert store.reload("pkg/m.py") is True
    assert not doc.exists and doc.version == 2


# ---- write_overlays --------------------------------------------------------------------------


def entries(directory: Path) -> set[str]:
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*")}


def test_write_overlays_writes_text_and_drops_overlays(store: DocumentStore, root: Path) -> None:
    doc = store.get("pkg/m.py")
    store.set_overlay("pkg/m.py", "a = 1\r\nb = '😀'\n")
    version = doc.version
    assert store.write_overlays() == ["pkg/m.py"]
    assert (root / "pkg" / "m.py").read_bytes() == "a = 1\r\nb = '😀'\n".encode()
    assert store.overlays() == []
    assert doc.overlay is None and doc.disk_text == "a = 1\r\nb = '😀'\n"
    assert doc.version == version  # the visible text did not change
    assert store.reload("pkg/m.py") is False


def test_write_overlays_replaces_the_file_instead_of_writing_in_place(store: DocumentStore, root: Path) -> None:
    path = root / "pkg" / "m.py"
    hardlink = root / "hardlink_to_m.py"
    os.link(path, hardlink)
    store.set_overlay("pkg/m.py", "x = 2\n")
    store.write_overlays()
    assert path.read_text() == "x = 2\n"
    # A rename swaps in a new inode; an in-place write would have changed the old one too.
    assert hardlink.read_text() == "x = 1\n"
    assert path.stat().st_ino != hardlink.stat().st_ino


@pytest.mark.parametrize("original", [0o755, 0o600, 0o640])
def test_write_overlays_keeps_existing_mode(store: DocumentStore, root: Path, original: int) -> None:
    path = root / "pkg" / "m.py"
    path.chmod(original)
    store.set_overlay("pkg/m.py", "x = 3\n")
    store.write_overlays()
    assert mode(path) == original
    assert path.read_text() == "x = 3\n"


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_write_overlays_creates_new_files_and_dirs_with_0644(store: DocumentStore, root: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        store.set_overlay("new/deep/n.py", "n = 1\n")
        store.set_overlay("top.py", "t = 1\n")
        assert sorted(store.write_overlays()) == ["new/deep/n.py", "top.py"]
    finally:
        os.umask(previous)
    assert (root / "new" / "deep" / "n.py").read_text() == "n = 1\n"
    assert mode(root / "new" / "deep" / "n.py") == 0o644
    assert mode(root / "top.py") == 0o644


def test_write_overlays_leaves_no_temp_files(store: DocumentStore, root: Path) -> None:
    store.set_overlay("pkg/m.py", "x = 4\n")
    store.set_overlay("pkg/sub/new.py", "y = 1\n")
    store.write_overlays()
    assert entries(root) == {"pkg", "pkg/m.py", "pkg/sub", "pkg/sub/new.py"}


def test_failed_write_keeps_file_overlay_and_leaves_no_temp(store: DocumentStore, root: Path) -> None:
    path = root / "pkg" / "m.py"
    doc = store.get("pkg/m.py")
    store.set_overlay("pkg/m.py", "bad = '\ud800'\n")  # a lone surrogate cannot be encoded
    with pytest.raises(UnicodeEncodeError):
        store.write_overlays()
    assert path.read_text() == "x = 1\n"
    assert doc.overlay == "bad = '\ud800'\n"
    assert entries(root) == {"pkg", "pkg/m.py"}


def test_write_overlays_with_nothing_to_write(store: DocumentStore, root: Path) -> None:
    store.get("pkg/m.py")
    assert store.write_overlays() == []
    assert entries(root) == {"pkg", "pkg/m.py"}


# ---- the rescan's stat fast path --------------------------------------------------------------


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The documents read from disk from now on (every read goes through read_document_as)."""
    from lspfeedback import _documents

    seen: list[str] = []
    real = _documents.read_document_as

    def counted(path: Path, rel: str) -> tuple[str | None, tuple[int, ...] | None]:
        seen.append(rel)
        return real(path, rel)

    monkeypatch.setattr(_documents, "read_document_as", counted)
    return seen


def test_rescan_reads_only_files_whose_stat_changed(store: DocumentStore, root: Path,
                                                     reads: list[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from lspfeedback import _documents

    monkeypatch.setattr(_documents, "RACY_NS", 0)  # as if every file were read long after
    monkeypatch.setattr(_documents, "RACY_CTIME_NS", 0)
    (root / "pkg" / "n.py").write_text("y = 1\n")
    store.get("pkg/m.py")
    store.get("pkg/n.py")
    assert store.get("pkg/m.py").read_as is not None
    reads.clear()
    assert store.rescan() == [] and reads == []
    # Same size, mtime put back: the ctime still moved, so it is read and found changed.
    path = root / "pkg" / "m.py"
    old = path.stat()
    path.write_text("x = 9\n")
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))
    assert store.rescan() == ["pkg/m.py"] and reads == ["pkg/m.py"]
    assert store.get("pkg/m.py").text == "x = 9\n"


def test_a_file_changed_just_before_it_was_read_is_read_again(store: DocumentStore, root: Path,
                                                              reads: list[str]) -> None:
    # Written a moment ago: a later rewrite could keep every stat field (coarse timestamps),
    # so stat cannot vouch for it and each rescan reads it until it has settled.
    doc = store.get("pkg/m.py")
    assert doc.read_as is None
    reads.clear()
    assert store.rescan() == [] and reads == ["pkg/m.py"]
    assert store.rescan() == [] and reads == ["pkg/m.py", "pkg/m.py"]


def test_a_moved_ctime_alone_is_judged_by_the_shorter_window(root: Path, reads: list[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # The shadow hard-links every file it mirrors, which moves each file's ctime to the
    # moment a replica starts: with the mtime long past, stat vouches for the content once the
    # ctime's window is over, rather than 3 s of re-reading every file.
    from lspfeedback import _documents

    monkeypatch.setattr(_documents, "RACY_CTIME_NS", 0)  # as if read a tick after the link
    path = root / "pkg" / "m.py"
    day_ago = time.time_ns() - 86_400 * 10**9
    os.utime(path, ns=(day_ago, day_ago))
    os.link(path, root / "m-link.py")
    fresh = DocumentStore(root)
    assert fresh.get("pkg/m.py").read_as is not None
    reads.clear()
    assert fresh.rescan() == [] and reads == []
    # A rewrite moves the mtime: stat cannot vouch for it until RACY_NS has passed.
    path.write_text("x = 2\n")
    assert fresh.rescan() == ["pkg/m.py"] and fresh.get("pkg/m.py").read_as is None


def test_a_ctime_on_a_whole_second_keeps_the_long_window() -> None:
    # A file system that keeps whole seconds cannot tell two changes within one apart.
    from types import SimpleNamespace

    from lspfeedback._documents import RACY_NS, _settled  # pyright: ignore[reportPrivateUsage]

    now = 1_000 * 10**9 + 500_000_000
    old_mtime = now - 10 * RACY_NS
    fine = SimpleNamespace(st_mtime_ns=old_mtime, st_ctime_ns=now - 200_000_000 - 1)
    coarse = SimpleNamespace(st_mtime_ns=old_mtime, st_ctime_ns=now - 500_000_000)
    assert _settled(fine, now)  # type: ignore[arg-type]
    assert not _settled(coarse, now)  # type: ignore[arg-type]
    assert _settled(coarse, coarse.st_ctime_ns + RACY_NS)  # type: ignore[arg-type]
    assert not _settled(SimpleNamespace(st_mtime_ns=now - 1, st_ctime_ns=old_mtime + 1), now)  # type: ignore[arg-type]


def test_an_unreadable_or_missing_file_is_always_looked_at(store: DocumentStore, root: Path,
                                                           reads: list[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from lspfeedback import _documents

    monkeypatch.setattr(_documents, "RACY_NS", 0)
    monkeypatch.setattr(_documents, "RACY_CTIME_NS", 0)
    store.get("pkg/m.py")
    store.get("pkg/gone.py")
    (root / "pkg" / "m.py").write_bytes(b"\xff\xfe")
    assert store.rescan() == [] and "pkg/m.py" in store.unreadable
    (root / "pkg" / "m.py").write_text("x = 1\n")  # readable again, same text as before
    (root / "pkg" / "gone.py").write_text("z = 1\n")
    reads.clear()
    assert sorted(store.rescan()) == ["pkg/gone.py", "pkg/m.py"]
    assert sorted(reads) == ["pkg/gone.py", "pkg/m.py"]


def test_state_key_hashes_each_overlay_once(store: DocumentStore,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from lspfeedback import _documents

    hashed: list[str | None] = []
    real = _documents.content_hash
    monkeypatch.setattr(_documents, "content_hash",
                        lambda text: hashed.append(text) or real(text))
    store.set_overlay("pkg/m.py", "x = 2\n")
    first = store.state_key()
    assert store.state_key() == first and hashed == ["x = 2\n"]
    store.set_overlay("pkg/m.py", "x = 3\n")
    assert store.state_key() != first and hashed == ["x = 2\n", "x = 3\n"]


def test_a_file_local_key_drops_only_edits_of_other_existing_sources(
        store: DocumentStore) -> None:
    from lspfeedback._documents import local_key

    store.set_overlay("pkg/m.py", "x = 2\n")  # an edit of an existing source: dropped
    store.set_overlay("pkg/new.py", "y = 1\n")  # a creation: which files exist changed
    store.set_overlay("pyproject.toml", "[tool.ruff]\n")  # configuration: not a source
    state = store.state_key()

    def is_source(rel: str) -> bool:
        return rel.endswith(".py")

    mine = local_key(state, "pkg/other.py", is_source)
    assert [o[0] for o in mine[1]] == ["pkg/new.py", "pyproject.toml"]
    assert [o[0] for o in local_key(state, "pkg/m.py", is_source)[1]] == [
        "pkg/m.py", "pkg/new.py", "pyproject.toml"]
    store.set_overlay("pkg/m.py", "x = 3\n")  # another edit of m: other.py's key stands
    assert local_key(store.state_key(), "pkg/other.py", is_source) == mine
    store.set_overlay("pkg/m.py", None)  # deleting it counts
    assert local_key(store.state_key(), "pkg/other.py", is_source) != mine
    store.note_disk_change()  # and so does the disk
    assert local_key(store.state_key(), "pkg/other.py", is_source)[0] != mine[0]
