"""The document store: the disk is the base, edits are in-memory overlays.

Each document has one version number that only grows: it is bumped whenever the text the
servers should see changes (an overlay set or dropped, the disk re-read with new content).
Every server session holds some version of each document it opened; reports are tied to them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from lspfeedback._exceptions import EditError, PathOutsideWorkspace, WorkspaceError


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
        self.generation = 0
        """Bumped whenever any document's text changes."""
        self.disk_epoch = 0
        """Bumped whenever the disk changed under us (re-read, commit, a watched change)."""
        self.conflicts: set[str] = set()
        """Paths whose disk text changed under an overlay, until the next report says so."""

    def __repr__(self) -> str:
        return f"<DocumentStore {self.root} {len(self._docs)} docs, {len(self.overlays())} overlays>"

    # ---- paths -----------------------------------------------------------------------------

    def relpath(self, path: str | os.PathLike[str]) -> str:
        """Resolve ``path`` (relative to the root, or absolute) to a contained posix path.

        Symlinks are followed: a link that points out of the root is outside it.
        """
        raw = os.fspath(path)
        if "\x00" in raw:
            raise PathOutsideWorkspace(raw, str(self.root))
        candidate = Path(raw)
        if not candidate.is_absolute():
            candidate = self.root / candidate
        resolved = candidate.resolve()
        try:
            rel = resolved.relative_to(self.root)
        except ValueError:
            raise PathOutsideWorkspace(raw, str(self.root)) from None
        if not rel.parts:
            raise PathOutsideWorkspace(raw, str(self.root))
        return rel.as_posix()

    def abspath(self, rel: str) -> Path:
        return self.root / rel

    def uri(self, rel: str) -> str:
        """The URI the servers know ``rel`` by (under `server_root`)."""
        return (self.server_root / rel).as_uri()

    # ---- documents -------------------------------------------------------------------------

    def get(self, rel: str) -> Document:
        """The document at ``rel``, read from disk the first time it is asked for."""
        doc = self._docs.get(rel)
        if doc is None:
            doc = Document(path=rel, uri=self.uri(rel), disk_text=self._read(rel))
            self._docs[rel] = doc
        return doc

    def current_text(self, rel: str) -> str | None:
        """The text the servers see for ``rel``; None when it does not exist (in this view)."""
        doc = self.get(rel)
        return doc.text if doc.exists else None

    def set_overlays(self, changes: Mapping[str, str | None]) -> list[str]:
        """`set_overlay` for each path of ``changes``; returns the paths."""
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

    def state_key(self) -> tuple[int, tuple[tuple[str, str | None], ...]]:
        """Identifies what the servers see: the disk epoch and every overlay's content.

        Equal keys mean equal inputs, so diagnostics cached under a key stay valid for it,
        also after a candidate was tried and taken back.
        """
        overlays = tuple(sorted(
            (d.path, None if d.deleted else content_hash(d.overlay)) for d in self.overlays()
        ))
        return self.disk_epoch, overlays

    def note_disk_change(self) -> None:
        """Something on disk changed that no document tracks (a closed file, a config file)."""
        self.disk_epoch += 1
        self.generation += 1

    def _read(self, rel: str) -> str | None:
        path = self.abspath(rel)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            raise EditError(f"{rel!r} is a directory, not a file") from None
        try:
            # newline="" semantics: keep \r\n as is, servers and the CLIs see the same bytes.
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EditError(f"{rel!r} is not UTF-8 text: {exc}") from None

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

        Change is detected by content, not by size or mtime.
        """
        doc = self.get(rel)
        new = self._read(rel)
        if content_hash(new) == content_hash(doc.disk_text):
            return False
        before = (doc.exists, doc.text)
        doc.disk_text = new
        self.disk_epoch += 1
        if doc.has_overlay:
            self.conflicts.add(rel)  # the overlay stays; the next report says the disk moved
        if (doc.exists, doc.text) != before:
            self._bump(doc)
            return True
        return False

    def rescan(self, skip: Collection[str] = ()) -> list[str]:
        """Re-read every known document (but ``skip``); returns those whose text changed.

        Cheap enough to run before every check (only documents we opened are read) and exact:
        it compares content, so a same-size rewrite within the same second is seen.
        """
        return [d.path for d in list(self._docs.values())
                if d.path not in skip and self.reload(d.path)]

    def write_overlays(self) -> list[str]:
        """Write every overlay to disk atomically (temp file + rename), then drop them.

        Files are written one by one, each atomically; if one write fails the others that
        succeeded stay written and the failing one keeps its overlay.
        """
        written: list[str] = []
        for doc in self.overlays():
            path = self.abspath(doc.path)
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
