"""The document store: the disk is the base, edits are in-memory overlays.

Each document has one version number that only grows: it is bumped whenever the text the
servers should see changes (an overlay set or dropped, the disk re-read with new content).
Every server session holds some version of each document it opened; reports are tied to them.

Only regular UTF-8 files up to `MAX_DOCUMENT_BYTES` are documents. Anything else (a named
pipe, a socket, a device, a directory, a file too large or not UTF-8) is refused with an
`EditError` saying what it is, and is never opened when `stat` already tells (a named pipe
would block the reader). A known document whose file becomes unreadable keeps its last
readable text: the rescan records it in `unreadable` instead of raising, so only the calls
that need its text on disk fail (see `rescan`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lspfeedback._exceptions import EditError, PathOutsideWorkspace, WorkspaceError

MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
"""Files larger than this are not read as documents (pyright's own limit for a source file).
Read at call time: a test may patch it."""

RACY_NS = 3_000_000_000
"""A file changed less than this long before it was read may change again without its
``stat`` showing it (timestamps are as coarse as a jiffy on ext4, two seconds on FAT): the
rescan reads it again until it was read this long after its last change (git's "racy
clean" rule)."""
RACY_CTIME_NS = 100_000_000
"""The same for the ctime alone, whose moves without the mtime are metadata: a hard link
(the shadow links every file it mirrors, so every file's ctime is the moment a replica
started), a chmod. Content can hide behind the ctime only where a rewrite also puts the
mtime back, and only within a tick of the timestamps' clock (a jiffy on ext4, xfs, btrfs):
a tenth of a second covers it, where `RACY_NS` would re-read every file of a replica for
3 s after it starts. It assumes timestamps finer than a second from this machine's clock: a
ctime on a whole second (a file system that keeps seconds only: ext3, FAT, HFS+) gets
`RACY_NS`; a network file system whose server's clock is off by more is not covered."""

_NOT_FILES = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


@dataclass
class Document:
    """One file: its disk text (``None`` if it does not exist) and an optional overlay."""

    path: str
    """Posix path relative to the root."""
    uri: str
    disk_text: str | None
    overlay: str | None = None
    deleted: bool = False
    """An overlay that deletes the file (``overlay`` is None then)."""
    version: int = 1
    read_as: tuple[int, ...] | None = field(default=None, repr=False, compare=False)
    """What ``stat`` said of the file ``disk_text`` was read from, when it can vouch that the
    file is unchanged while it says the same (see `RACY_NS`): the rescan then skips the read."""
    _hashed: tuple[str, str] | None = field(default=None, repr=False, compare=False)

    def overlay_hash(self) -> str | None:
        """`content_hash` of the overlay, computed once per overlay text."""
        overlay = self.overlay
        if overlay is None:
            return None
        if self._hashed is None or self._hashed[0] is not overlay:
            self._hashed = (overlay, content_hash(overlay) or "")
        return self._hashed[1]

    @property
    def text(self) -> str:
        """What the servers should see: the overlay if there is one, else the disk."""
        if self.deleted:
            return ""
        if self.overlay is not None:
            return self.overlay
        return self.disk_text or ""

    @property
    def exists(self) -> bool:
        if self.deleted:
            return False
        return self.overlay is not None or self.disk_text is not None

    @property
    def has_overlay(self) -> bool:
        return self.overlay is not None or self.deleted

    def __repr__(self) -> str:
        if self.deleted:
            state = "deleted"
        elif self.overlay is not None:
            state = "overlay"
        else:
            state = "disk" if self.disk_text is not None else "missing"
        return f"<Document {self.path} v{self.version} {state}>"


StateKey = tuple[int, tuple[tuple[str, str | None, bool], ...]]
"""`DocumentStore.state_key`: the disk epoch, and (path, overlay hash or None for a
deletion, whether the file is on disk) per overlay."""


def local_key(state: StateKey, rel: str, source: Callable[[str], bool]) -> StateKey:
    """The part of ``state`` a file-local server's result for ``rel`` depends on: the disk,
    ``rel``'s own overlay, and the overlays that are not edits of an existing source file
    (``source``: a file of the server's languages): creations, deletions, configuration."""
    epoch, overlays = state
    return epoch, tuple(o for o in overlays
                        if o[0] == rel or o[1] is None or not o[2] or not source(o[0]))


def content_hash(text: str | None) -> str | None:
    return None if text is None else hashlib.blake2b(text.encode("utf-8", "surrogatepass")).hexdigest()


class DocumentStore:
    """Documents of one workspace, keyed by their posix path relative to ``root``."""

    def __init__(self, root: str | os.PathLike[str],
                 server_root: str | os.PathLike[str] | None = None) -> None:
        root_path = Path(root)
        if not root_path.is_dir():
            raise WorkspaceError(f"workspace root {str(root)!r} is not a directory")
        self.root = root_path.resolve()
        self.server_root = Path(server_root) if server_root is not None else self.root
        """Where the servers see the workspace (a shadow root): URIs point there."""
        self._docs: dict[str, Document] = {}
        self._uris: dict[str, str] = {}
        self.generation = 0
        """Bumped whenever any document's text changes."""
        self.disk_epoch = 0
        """Bumped whenever the disk changed under us (re-read, commit, a watched change)."""
        self.conflicts: set[str] = set()
        """Paths whose disk text changed under an overlay, until the next report says so."""
        self.unreadable: dict[str, str] = {}
        """Known documents whose file can no longer be read as a document (not UTF-8, not a
        regular file, too large), with why; each keeps its last readable text until fixed."""

    def __repr__(self) -> str:
        return f"<DocumentStore {self.root} {len(self._docs)} docs, {len(self.overlays())} overlays>"

    # ---- paths -----------------------------------------------------------------------------

    def relpath(self, path: str | os.PathLike[str]) -> str:
        """Resolve ``path`` (relative to the root, or absolute) to a contained posix path.

        Symlinks are followed: a link that points out of the root is outside it.
        """
        raw = os.fspath(path)
        root = str(self.root)
        if "\x00" in raw:
            raise PathOutsideWorkspace(raw, root)
        # Strings, not pathlib: this runs on every edit's paths (a third of the time it took).
        resolved = os.path.realpath(os.path.join(root, raw))
        inside = root if root.endswith(os.sep) else root + os.sep
        if not resolved.startswith(inside) or len(resolved) == len(inside):
            raise PathOutsideWorkspace(raw, root)
        rel = resolved[len(inside):]
        return rel if os.sep == "/" else Path(rel).as_posix()

    def abspath(self, rel: str) -> Path:
        return self.root / rel

    def uri(self, rel: str) -> str:
        """The URI the servers know ``rel`` by (under `server_root`)."""
        uri = self._uris.get(rel)
        if uri is None:
            uri = self._uris[rel] = (self.server_root / rel).as_uri()
        return uri

    # ---- documents -------------------------------------------------------------------------

    def get(self, rel: str) -> Document:
        """The document at ``rel``, read from disk the first time it is asked for."""
        doc = self._docs.get(rel)
        if doc is None:
            text, read_as = self._read(rel)
            doc = Document(path=rel, uri=self.uri(rel), disk_text=text, read_as=read_as)
            self._docs[rel] = doc
        return doc

    def current_text(self, rel: str) -> str | None:
        """The text the servers see for ``rel``; None when it does not exist (in this view).

        What an edit applies to and is compared with: raises `EditError` when that is the
        disk text of a file that became unreadable (its last readable text is not its text).
        """
        doc = self.get(rel)
        if rel in self.unreadable and not doc.has_overlay:
            raise EditError(self.unreadable[rel])
        return doc.text if doc.exists else None

    def set_overlays(self, changes: Mapping[str, str | None]) -> list[str]:
        """`set_overlay` for each path of ``changes``; returns the paths.

        Every path is read first: one that is not a checkable file raises before any overlay
        is set.
        """
        for rel in changes:
            self.get(rel)
        for rel, text in changes.items():
            self.set_overlay(rel, text)
        return list(changes)

    def known(self, rel: str) -> bool:
        return rel in self._docs

    def documents(self) -> list[Document]:
        return list(self._docs.values())

    def overlays(self) -> list[Document]:
        """Documents with an overlay (a new text or a deletion)."""
        return [d for d in self._docs.values() if d.has_overlay]

    def state_key(self) -> StateKey:
        """Identifies what the servers see: the disk epoch and every overlay's content (and
        whether its file exists on disk: an overlay of a missing file creates it).

        Equal keys mean equal inputs, so diagnostics cached under a key stay valid for it,
        also after a candidate was tried and taken back.
        """
        overlays = tuple(sorted(
            (d.path, None if d.deleted else d.overlay_hash(), d.disk_text is not None)
            for d in self.overlays()
        ))
        return self.disk_epoch, overlays

    def note_disk_change(self) -> None:
        """Something on disk changed that no document tracks (a closed file, a config file)."""
        self.disk_epoch += 1
        self.generation += 1

    def unreadable_notes(self) -> tuple[str, ...]:
        """One line per known document that became unreadable on disk, for every report."""
        return tuple(f"{reason} (checks use its last readable text until it is fixed; "
                     "calls that change it raise)" for _, reason in sorted(self.unreadable.items()))

    def _read(self, rel: str) -> tuple[str | None, tuple[int, ...] | None]:
        return read_document_as(self.abspath(rel), rel)

    def _bump(self, doc: Document) -> None:
        doc.version += 1
        self.generation += 1

    def set_overlay(self, rel: str, text: str | None) -> bool:
        """Make ``text`` the overlay of ``rel`` (``None`` deletes the file in memory).

        Returns whether what the servers should see changed.
        """
        doc = self.get(rel)
        before = (doc.exists, doc.text)
        # An overlay equal to the disk is no overlay: nothing to commit or discard.
        doc.deleted = text is None and doc.disk_text is not None
        doc.overlay = None if text is None or text == doc.disk_text else text
        if (doc.exists, doc.text) != before:
            self._bump(doc)
            return True
        return False

    def drop_overlay(self, rel: str) -> bool:
        """Forget the overlay of ``rel``; the disk shows through again."""
        doc = self.get(rel)
        if not doc.has_overlay:
            return False
        before = (doc.exists, doc.text)
        doc.overlay = None
        doc.deleted = False
        if (doc.exists, doc.text) != before:
            self._bump(doc)
            return True
        return False

    def reload(self, rel: str) -> bool:
        """Re-read ``rel`` from disk. Returns whether the visible text changed.

        Change is detected by content, not by size or mtime. A file that cannot be read as a
        document raises `EditError` and is recorded in `unreadable` (the document keeps its
        last readable text); once it reads again it counts as changed, whatever its text.
        """
        doc = self.get(rel)
        try:
            new, doc.read_as = self._read(rel)
        except EditError as exc:
            doc.read_as = None
            self._unreadable(doc, str(exc))
            raise
        recovered = self.unreadable.pop(rel, None) is not None
        if new == doc.disk_text and not recovered:
            return False
        before = (doc.exists, doc.text)
        doc.disk_text = new
        self.disk_epoch += 1
        if doc.has_overlay:
            self.conflicts.add(rel)  # the overlay stays; the next report says the disk moved
        if (doc.exists, doc.text) != before or (recovered and not doc.has_overlay):
            # Recovered: the servers may have read the unreadable bytes; they must hear again.
            self._bump(doc)
            return True
        return False

    def _unreadable(self, doc: Document, reason: str) -> None:
        if self.unreadable.get(doc.path) == reason:
            return
        self.unreadable[doc.path] = reason
        # The disk moved (results cached for the old state are not for this one), but to
        # nothing a server can be given: the last readable text stands in for it.
        self.disk_epoch += 1
        self.generation += 1
        if doc.has_overlay:
            self.conflicts.add(doc.path)

    def rescan(self, skip: Collection[str] = ()) -> list[str]:
        """Re-read every known document (but ``skip``); returns those whose text changed.

        Cheap enough to run before every check and exact: a document is read again unless
        one ``stat`` shows its file exactly as it was read (device, inode, size, mtime and
        ctime, and read well after its last change: see `RACY_NS`), and what is read is
        compared by content, so a same-size rewrite within the same second is seen. A
        document that became unreadable never makes it raise: it is recorded in `unreadable`
        (`unreadable_notes` says so in every report) and raises only where its text is
        needed (`current_text`: an edit of it, a check of a change to it).
        """
        changed = []
        for doc in list(self._docs.values()):
            if doc.path in skip or self._unchanged_on_disk(doc):
                continue
            with contextlib.suppress(EditError):  # recorded by reload
                if self.reload(doc.path):
                    changed.append(doc.path)
        return changed

    def _unchanged_on_disk(self, doc: Document) -> bool:
        """Whether one ``stat`` shows ``doc``'s file as it was read (the rescan's fast path:
        a read only when something changed, or when the last read was racy)."""
        if doc.read_as is None or doc.path in self.unreadable:
            return False
        try:
            info = os.stat(self.abspath(doc.path))
        except OSError:
            return False
        return _signature(info) == doc.read_as[:-1]

    def write_overlays(self) -> list[str]:
        """Write every overlay to disk atomically (temp file + rename), then drop them.

        Files are written one by one, each atomically; if one write fails the others that
        succeeded stay written and the failing one keeps its overlay.
        """
        written: list[str] = []
        for doc in self.overlays():
            path = self.abspath(doc.path)
            doc.read_as = None  # written here: read it again to know its stat
            if doc.deleted:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                doc.disk_text = None
            else:
                text = doc.text
                _atomic_write(path, text)
                doc.disk_text = text
            doc.overlay = None
            doc.deleted = False
            written.append(doc.path)
        if written:
            self.disk_epoch += 1
        return written


def _check_file(rel: str, info: os.stat_result, limit: int) -> None:
    """Raise `EditError` unless ``info`` is a regular file of at most ``limit`` bytes."""
    mode = info.st_mode
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _NOT_FILES if test(mode)), "a special file")
        raise EditError(f"{rel!r} is {kind}, not a file: only regular files can be checked; "
                        "pass the path of a regular file (or replace it with one)")
    if info.st_size > limit:
        raise EditError(_too_large(rel, info.st_size, limit))


def _too_large(rel: str, size: int, limit: int) -> str:
    return (f"{rel!r} is too large to check: {_size(size)} > {_size(limit)}; "
            "files that large are not read (pyright skips them too): pass a smaller file")


def _size(n: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


def _settled(info: os.stat_result, read_ns: int) -> bool:
    """Whether a read at ``read_ns`` of a file that ``stat`` showed as ``info`` can be vouched
    for by that stat later (`RACY_NS`, `RACY_CTIME_NS`)."""
    ctime_window = RACY_NS if info.st_ctime_ns % 1_000_000_000 == 0 else RACY_CTIME_NS
    return (read_ns - info.st_mtime_ns >= RACY_NS
            and read_ns - info.st_ctime_ns >= ctime_window)


def _signature(info: os.stat_result) -> tuple[int, ...]:
    """What identifies a file's content to ``stat``: device, inode, size, mtime and ctime
    (ctime cannot be set back, so a rewrite that restores the mtime still shows)."""
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def read_document(path: Path, rel: str) -> str | None:
    """The text of the file at ``path`` (the document ``rel``); None when there is no file.

    Raises `EditError` for anything that is not a checkable file. ``stat`` (following
    symlinks) comes first, so a named pipe, a socket or a device is never opened; the file
    is opened non-blocking and checked again (it may have been swapped since), and at
    most `MAX_DOCUMENT_BYTES` + 1 bytes are read.
    """
    return read_document_as(path, rel)[0]


def read_document_as(path: Path, rel: str) -> tuple[str | None, tuple[int, ...] | None]:
    """`read_document`, and the ``stat`` signature of what was read followed by the time it
    was read, when that signature can vouch for the content later (None: read it again
    next time; the file changed within `RACY_NS` of the read (its ctime within
    `RACY_CTIME_NS`), or there is no file)."""
    limit = MAX_DOCUMENT_BYTES
    try:
        _check_file(rel, os.stat(path), limit)
        read_ns = time.time_ns()
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            _check_file(rel, info, limit)
            data = fh.read(limit + 1)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        raise EditError(f"{rel!r} cannot be read: {exc.strerror or exc}; "
                        "fix the file or pass another path") from None
    if len(data) > limit:  # it grew since the stat
        raise EditError(_too_large(rel, len(data), limit))
    read_as = (*_signature(info), read_ns) if _settled(info, read_ns) else None
    try:
        # newline="" semantics: keep \r\n as is, servers and the CLIs see the same bytes.
        return data.decode("utf-8"), read_as
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise EditError(
            f"{rel!r} is not UTF-8 text (byte 0x{data[exc.start]:02x} at line {line}, "
            f"byte {column} of the line: {exc.reason}); only UTF-8 files can be checked: "
            "save it as UTF-8") from None


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o7777 if path.exists() else None
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates 0600; a new file gets the usual 0644, an existing one keeps its mode.
        os.chmod(tmp, mode if mode is not None else 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


SavedOverlays = dict[str, tuple[bool, str | None]]
"""path -> (deleted, overlay text): what `save_overlays` keeps to put back."""


def save_overlays(store: DocumentStore, rels: Iterable[str]) -> SavedOverlays:
    """What ``store`` holds for ``rels`` now, for `restore_overlays`."""
    return {rel: (store.get(rel).deleted, store.get(rel).overlay) for rel in rels}


def restore_overlays(store: DocumentStore, saved: SavedOverlays) -> None:
    """Put back overlays saved by `save_overlays` (a deletion, a text, or none at all)."""
    for rel, (deleted, overlay) in saved.items():
        if deleted:
            store.set_overlay(rel, None)
        elif overlay is not None:
            store.set_overlay(rel, overlay)
        else:
            store.drop_overlay(rel)
