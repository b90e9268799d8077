"""The edit formats agents produce (lspfeedback.edits): pure, no language servers.

Oracles are independent of the implementation: ``difflib.unified_diff`` writes the diffs the
property test applies, plain string slicing checks TextEdits, and UTF-16 positions are
counted with Python's own codec.
"""

from __future__ import annotations

import difflib
import random
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from lsprotocol import types

from lspfeedback import EditError
from lspfeedback.edits import EditApplyError, apply_text_edits, parse_edits, uri_to_path

PRICING = '''\
"""Prices."""


def discount(price: float, percent: int) -> float:
    """Apply a discount."""
    if percent < 0:
        raise ValueError("negative")
    return price * (100 - percent) / 100


def total(items: list[float]) -> float:
    return sum(items)
'''


class reader:
    """A read() over ``files`` that counts how often each path is read."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files
        self.calls: dict[str, int] = {}

    def __call__(self, path: str) -> str | None:
        self.calls[path] = self.calls.get(path, 0) + 1
        return self.files.get(path)


def make_diff(path: str, old: str, new: str, old_name: str | None = None) -> str:
    """A git-style diff by difflib, with the markers difflib leaves out for a missing newline."""
    out = [f"diff --git a/{old_name or path} b/{path}\n"]
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True),
        f"a/{old_name or path}" if old else "/dev/null", f"b/{path}" if new else "/dev/null",
    )
    for line in lines:
        out.append(line)
        if not line.endswith("\n"):
            out.append("\n\\ No newline at end of file\n")
    return "".join(out)


# ---- dispatch -------------------------------------------------------------------------------


def test_full_texts_are_returned_as_is_without_reading() -> None:
    read = reader({})
    assert parse_edits({"./x.py": "a\n", "y.py": ""}, read) == {"./x.py": "a\n", "y.py": ""}
    assert read.calls == {}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ("", "empty"),
        ("just some prose\n", "neither a unified diff"),
        (b"--- a\n", "cannot parse edits of type bytes"),
        ({"x.py": 3}, "must be its new text"),
    ],
)
def test_bad_input_is_an_edit_error(changes: object, message: str) -> None:
    with pytest.raises(EditError, match=message) as info:
        parse_edits(changes, reader({}))  # type: ignore[arg-type]
    assert not isinstance(info.value, EditApplyError)


# ---- unified diff -----------------------------------------------------------------------------


def test_diff_modifies_several_files_and_keeps_prose_around_it() -> None:
    files = {"shop/pricing.py": PRICING, "shop/util.py": "A = 1\nB = 2\n"}
    new_pricing = PRICING.replace("percent: int)", "percent: int, currency: str)")
    diff = (
        "Here is the change:\n```diff\n"
        + make_diff("shop/pricing.py", PRICING, new_pricing)
        + make_diff("shop/util.py", files["shop/util.py"], "A = 1\nB = 3\nC = 4\n")
        + "```\nThat's all.\n"
    )
    assert parse_edits(diff, reader(files)) == {
        "shop/pricing.py": new_pricing,
        "shop/util.py": "A = 1\nB = 3\nC = 4\n",
    }


def test_diff_keeps_crlf_whether_or_not_the_diff_carries_it() -> None:
    old = "one\r\ntwo\r\nthree\r\n"
    written_with_lf = "--- a/w.py\n+++ b/w.py\n@@ -1,3 +1,4 @@\n one\n-two\n+TWO\n+2.5\n three\n"
    assert parse_edits(written_with_lf, reader({"w.py": old})) == {"w.py": "one\r\nTWO\r\n2.5\r\nthree\r\n"}
    new = "one\r\nTWO\r\nthree\r\n"
    assert parse_edits(make_diff("w.py", old, new), reader({"w.py": old})) == {"w.py": new}
    # A whole diff converted to CRLF on the way still applies to an LF file, in LF.
    lf = "one\ntwo\nthree\n"
    crlf_diff = written_with_lf.replace("\n", "\r\n")
    assert parse_edits(crlf_diff, reader({"w.py": lf})) == {"w.py": "one\nTWO\n2.5\nthree\n"}


def test_diff_creates_deletes_and_renames() -> None:
    files = {"old.py": PRICING, "gone.py": "x = 1\n", "moved.py": "y = 2\n"}
    diff = (
        make_diff("new.py", "", "print('hi')\n")
        + make_diff("gone.py", "x = 1\n", "")
        + make_diff("renamed.py", PRICING, PRICING.replace("Prices.", "Pricing."), "old.py")
        .replace("diff --git a/old.py b/renamed.py\n",
                 "diff --git a/old.py b/renamed.py\nsimilarity index 90%\n"
                 "rename from old.py\nrename to renamed.py\n")
        + "diff --git a/moved.py b/pkg/moved.py\nsimilarity index 100%\n"
        "rename from moved.py\nrename to pkg/moved.py\n"
        + "diff --git a/empty.py b/empty.py\nnew file mode 100644\nindex 0000000..e69de29\n"
    )
    assert parse_edits(diff, reader(files)) == {
        "new.py": "print('hi')\n",
        "gone.py": None,
        "old.py": None,
        "renamed.py": PRICING.replace("Prices.", "Pricing."),
        "moved.py": None,
        "pkg/moved.py": "y = 2\n",
        "empty.py": "",
    }


def test_diff_handles_missing_newlines_at_end_of_file() -> None:
    old, new = "a\nb", "a\nB\nc"
    assert parse_edits(make_diff("f.txt", old, new), reader({"f.txt": old})) == {"f.txt": new}
    assert parse_edits(make_diff("f.txt", new, old), reader({"f.txt": new})) == {"f.txt": old}
    assert parse_edits(make_diff("f.txt", old, "a\nb\n"), reader({"f.txt": old})) == {
        "f.txt": "a\nb\n"
    }


def test_diff_of_an_empty_file_and_to_an_empty_file() -> None:
    assert parse_edits(make_diff("e.py", "", "x\n").replace("/dev/null", "a/e.py"),
                       reader({"e.py": ""})) == {"e.py": "x\n"}
    assert parse_edits(make_diff("e.py", "x\n", "").replace("+++ /dev/null", "+++ b/e.py"),
                       reader({"e.py": "x\n"})) == {"e.py": ""}


def test_diff_hunk_with_wrong_line_numbers_applies_at_the_nearest_exact_context() -> None:
    old = "".join(f"line {k}\n" for k in range(1, 101))
    diff = "--- a/f\n+++ b/f\n@@ -20,3 +20,3 @@\n line 49\n-line 50\n+LINE 50\n line 51\n"
    assert parse_edits(diff, reader({"f": old})) == {"f": old.replace("line 50\n", "LINE 50\n")}


def test_diff_hunk_that_does_not_match_names_file_hunk_and_closest_text() -> None:
    files = {"a.py": "a = 1\n", "shop/pricing.py": PRICING}
    diff = make_diff("a.py", "a = 1\n", "a = 2\n") + (
        "--- a/shop/pricing.py\n+++ b/shop/pricing.py\n"
        "@@ -1,2 +1,2 @@\n \"\"\"Prices.\"\"\"\n-\n+# x\n"
        "@@ -11,2 +11,2 @@\n def total(items: list[float]) -> float:\n-    return sum(item)\n+    return 0\n"
    )
    with pytest.raises(EditApplyError) as info:
        parse_edits(diff, reader(files))
    err = info.value
    assert (err.path, err.block) == ("shop/pricing.py", 2)
    assert err.closest is not None
    assert "return sum(items)" in err.closest
    assert err.closest_line == 11
    assert "shop/pricing.py, hunk 2" in str(err)
    assert "12 |     return sum(items)" in str(err)


@pytest.mark.parametrize(
    ("diff", "message"),
    [
        ("--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n```\n", "has no body"),
        ("@@ -1 +1 @@\n-a\n+b\n", "before any"),
        ("--- a/f\n+++ b/f\n@@ @@\n-a\n+b\n", "no line numbers"),
        ("diff --git a/f b/f\nGIT binary patch\nliteral 0\n", "binary"),
    ],
)
def test_malformed_diffs_are_edit_errors(diff: str, message: str) -> None:
    with pytest.raises(EditError, match=message) as info:
        parse_edits(diff, reader({"f": "a\n"}))
    assert not isinstance(info.value, EditApplyError)


@pytest.mark.parametrize(
    "header", ["@@ -1,2 +1,2 @@", "@@ -1 +1 @@", "@@ -1,9 +1,1 @@ def f():"]
)
def test_hunk_line_counts_that_are_wrong_are_recounted(header: str) -> None:
    diff = f"--- a/f\n+++ b/f\n{header}\n a\n-b\n+B\n+B2\n c\n\n```\nSome prose.\n"
    assert parse_edits(diff, reader({"f": "a\nb\nc\nd\n"})) == {"f": "a\nB\nB2\nc\nd\n"}


def test_diff_refuses_to_change_a_missing_file_or_create_an_existing_one() -> None:
    with pytest.raises(EditApplyError, match="does not exist"):
        parse_edits(make_diff("f", "a\n", "b\n"), reader({}))
    with pytest.raises(EditApplyError, match="already exists"):
        parse_edits(make_diff("f", "", "b\n"), reader({"f": "a\n"}))


def test_git_quoted_non_ascii_names() -> None:
    diff = (
        'diff --git "a/caf\\303\\251.py" "b/caf\\303\\251.py"\n'
        '--- "a/caf\\303\\251.py"\n+++ "b/caf\\303\\251.py"\n@@ -1 +1 @@\n-a\n+b\n'
    )
    assert parse_edits(diff, reader({"café.py": "a\n"})) == {"café.py": "b\n"}


@given(
    lines=st.lists(st.text(alphabet="ab é😀\t", max_size=6), min_size=0, max_size=12),
    new_lines=st.lists(st.text(alphabet="ab é😀\t", max_size=6), max_size=5),
    cut=st.tuples(st.integers(0, 12), st.integers(0, 12)),
    eol=st.sampled_from(["\n", "\r\n"]),
    final_newline=st.booleans(),
)
def test_property_difflib_diffs_apply_back_exactly(
    lines: list[str], new_lines: list[str], cut: tuple[int, int], eol: str, final_newline: bool
) -> None:
    start, stop = sorted(min(c, len(lines)) for c in cut)
    changed = lines[:start] + new_lines + lines[stop:]

    def text(ls: list[str]) -> str:
        body = eol.join(ls)
        return body + eol if ls and final_newline else body

    old, new = text(lines), text(changed)
    assume(old != new and old and new)
    assert parse_edits(make_diff("p.py", old, new), reader({"p.py": old})) == {"p.py": new}


# ---- search/replace ---------------------------------------------------------------------------


def block(path: str, search: str, replace: str, fence: bool = True) -> str:
    body = f"<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"
    return f"{path}\n```python\n{body}```\n" if fence else f"{path}\n{body}"


def test_search_replace_blocks_apply_in_order_across_files() -> None:
    files = {"shop/pricing.py": PRICING, "b.py": "x = 1\n"}
    edit = (
        "I'll change two things.\n\n"
        + block("shop/pricing.py", "def total(items: list[float]) -> float:\n",
                "def total(items: list[float], tax: float = 0) -> float:\n")
        + block("./shop/pricing.py", "    return sum(items)\n",
                "    return sum(items) * (1 + tax)\n", fence=False)
        # No path line of its own: the same file as the block before, after that block.
        + "<<<<<<< SEARCH\n    return sum(items) * (1 + tax)\n=======\n"
        "    return sum(items) * (1.0 + tax)\n>>>>>>> REPLACE\n"
        + block("`b.py`", "x = 1\n", "x = 2\n")
    )
    read = reader(files)
    assert parse_edits(edit, read) == {
        "shop/pricing.py": PRICING.replace(
            "def total(items: list[float]) -> float:\n    return sum(items)\n",
            "def total(items: list[float], tax: float = 0) -> float:\n"
            "    return sum(items) * (1.0 + tax)\n",
        ),
        "b.py": "x = 2\n",
    }
    assert read.calls == {"shop/pricing.py": 1, "b.py": 1}


def test_search_replace_keeps_crlf_and_a_missing_final_newline() -> None:
    old = "a = 1\r\nb = 2\r\nc = 3"
    edit = block("w.py", "b = 2\nc = 3\n", "b = 20\nbb = 21\nc = 30\n")
    assert parse_edits(edit, reader({"w.py": old})) == {"w.py": "a = 1\r\nb = 20\r\nbb = 21\r\nc = 30"}


def test_search_replace_creates_files_and_fills_empty_ones() -> None:
    edit = block("new.py", "", "print('hi')\n") + block("empty.py", "", "x = 1\n")
    assert parse_edits(edit, reader({"empty.py": ""})) == {
        "new.py": "print('hi')\n", "empty.py": "x = 1\n",
    }
    with pytest.raises(EditApplyError, match="SEARCH section is empty but the file is not"):
        parse_edits(block("a.py", "", "x\n"), reader({"a.py": "y\n"}))
    with pytest.raises(EditApplyError, match="does not exist") as info:
        parse_edits(block("nope.py", "x\n", "y\n"), reader({}))
    assert (info.value.path, info.value.block) == ("nope.py", 1)


def test_search_replace_deletes_lines_with_an_empty_replace() -> None:
    assert parse_edits(block("a.py", "b\n", ""), reader({"a.py": "a\nb\nc\n"})) == {"a.py": "a\nc\n"}


def test_search_replace_ignores_trailing_whitespace_drift() -> None:
    old = "def f():   \n    return 1 \n"
    edit = block("a.py", "def f():\n    return 1\n", "def f():\n    return 2\n")
    assert parse_edits(edit, reader({"a.py": old})) == {"a.py": "def f():\n    return 2\n"}


def test_search_replace_reindents_relative_to_the_match() -> None:
    old = "class A:\n    def f(self):\n        if x:\n            return 1\n        return 2\n"
    # The agent wrote the method body at top level: re-indented by the file's 8 spaces.
    edit = block("a.py", "if x:\n    return 1\n", "if x and y:\n    return 1\nelse:\n    pass\n")
    assert parse_edits(edit, reader({"a.py": old})) == {"a.py": (
        "class A:\n    def f(self):\n        if x and y:\n            return 1\n"
        "        else:\n            pass\n        return 2\n"
    )}
    # Written more indented than the file: the difference comes off the replacement.
    edit = block("a.py", "            return 2\n", "            return 3\n")
    assert parse_edits(edit, reader({"a.py": old}))["a.py"].endswith("\n        return 3\n")


def test_search_replace_fuzzy_match_tolerates_a_small_typo() -> None:
    edit = block("p.py", '    """Apply a discount"""\n    if percent < 0:\n',
                 '    """Apply a discount."""\n    if percent <= 0:\n')
    assert parse_edits(edit, reader({"p.py": PRICING})) == {
        "p.py": PRICING.replace("if percent < 0:", "if percent <= 0:")
    }


def test_search_replace_missing_block_reports_path_block_and_closest_text() -> None:
    edit = (block("p.py", "def total(items: list[float]) -> float:\n", "def total(items):\n")
            + block("p.py", "    if percentage < 0:\n        raise TypeError('negative')\n",
                    "    pass\n"))
    read = reader({"p.py": PRICING})
    with pytest.raises(EditApplyError) as info:
        parse_edits(edit, read)  # all or nothing: the first block's change is not returned
    err = info.value
    assert (err.path, err.block) == ("p.py", 2)
    assert err.closest == '    if percent < 0:\n        raise ValueError("negative")'
    assert err.closest_line == 6
    message = str(err)
    assert "p.py, block 2" in message
    assert "not found" in message
    assert "closest text in p.py (lines 6-7):\n  6 |     if percent < 0:\n" in message
    assert "Copy the SEARCH lines exactly" in message


def test_search_replace_ambiguous_block_is_an_error_at_every_level() -> None:
    old = "def a():\n    return 0\n\n\ndef b():\n    return 0\n"
    with pytest.raises(EditApplyError, match="matches 2 places exactly") as info:
        parse_edits(block("a.py", "    return 0\n", "    return 1\n"), reader({"a.py": old}))
    assert (info.value.block, info.value.closest_line) == (1, 2)
    assert info.value.closest == "    return 0"
    with pytest.raises(EditApplyError, match="2 places with different indentation"):
        parse_edits(block("a.py", "return 0\n", "return 1\n"), reader({"a.py": old}))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("a.py\n<<<<<<< SEARCH\nx\n", "not terminated"),
        ("a.py\n<<<<<<< SEARCH\nx\n=======\ny\n", "not terminated"),
        ("<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n", "no file path"),
        ("a.py\nx\n=======\ny\n>>>>>>> REPLACE\n", "without a '<<<<<<< SEARCH'"),
    ],
)
def test_malformed_blocks_are_edit_errors(edit: str, message: str) -> None:
    with pytest.raises(EditError, match=message) as info:
        parse_edits(edit, reader({"a.py": "x\n"}))
    assert not isinstance(info.value, EditApplyError)


# ---- LSP edits ----------------------------------------------------------------------------------


def edit(sl: int, sc: int, el: int, ec: int, new: str) -> types.TextEdit:
    return types.TextEdit(
        range=types.Range(types.Position(sl, sc), types.Position(el, ec)), new_text=new
    )


def test_text_edits_count_utf16_units_by_default_and_other_encodings_on_request() -> None:
    text = 'x = "😀é"  # ok\r\ny = 1\n'
    # After the emoji (2 UTF-16 units, 4 UTF-8 bytes, 1 code point) insert "!".
    files = {"u.py": text}
    expected = {"u.py": 'x = "😀!é"  # ok\r\ny = 2\n'}
    for encoding, column in (("utf-16", 7), ("utf-8", 9), ("utf-32", 6)):
        changes = {"u.py": [edit(0, column, 0, column, "!"), edit(1, 4, 1, 5, "2")]}
        assert parse_edits(changes, reader(files), encoding=encoding) == expected
    # JSON TextEdits are structured the same way.
    json_edits = [{"range": {"start": {"line": 1, "character": 4},
                             "end": {"line": 1, "character": 5}}, "newText": "3"}]
    assert parse_edits({"u.py": json_edits}, reader(files)) == {"u.py": text.replace("= 1", "= 3")}


def test_text_edits_apply_in_reverse_and_keep_insert_order() -> None:
    text = "abc\ndef\n"
    edits = [edit(1, 0, 1, 3, "DEF"), edit(0, 1, 0, 1, "1"), edit(0, 1, 0, 1, "2"),
             edit(0, 1, 0, 2, "B"), edit(9, 0, 9, 0, "end\n")]
    assert apply_text_edits(text, edits) == "a12Bc\nDEF\nend\n"


def test_overlapping_text_edits_are_an_error() -> None:
    with pytest.raises(EditApplyError, match="edits 1 and 2 overlap") as info:
        parse_edits({"a.py": [edit(0, 0, 0, 3, "x"), edit(0, 2, 0, 4, "y")]},
                    reader({"a.py": "abcdef\n"}))
    assert (info.value.path, info.value.block) == ("a.py", 2)


def test_workspace_edit_with_resource_operations(tmp_path: Path) -> None:
    root = tmp_path / "ws"

    def uri(rel: str) -> str:
        return (root / rel).as_uri()

    files = {"a.py": "😀 = 1\nprint(😀)\n", "old.py": "o = 1\n", "gone.py": "g\n"}
    workspace_edit = types.WorkspaceEdit(document_changes=[
        types.TextDocumentEdit(
            text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri("a.py"), version=3),
            edits=[edit(0, 0, 0, 2, "smile"), edit(1, 6, 1, 8, "smile")],
        ),
        types.CreateFile(uri=uri("pkg/new file.py")),
        types.TextDocumentEdit(
            text_document=types.OptionalVersionedTextDocumentIdentifier(
                uri=uri("pkg/new file.py"), version=None),
            edits=[edit(0, 0, 0, 0, "n = 1\n")],
        ),
        types.RenameFile(old_uri=uri("old.py"), new_uri=uri("renamed.py")),
        types.DeleteFile(uri=uri("gone.py")),
        types.DeleteFile(uri=uri("never.py"),
                         options=types.DeleteFileOptions(ignore_if_not_exists=True)),
    ])
    expected = {
        "a.py": "smile = 1\nprint(smile)\n",
        "pkg/new file.py": "n = 1\n",
        "old.py": None,
        "renamed.py": "o = 1\n",
        "gone.py": None,
    }
    assert parse_edits(workspace_edit, reader(files), root=root) == expected
    # The same edit as JSON (camelCase) gives the same result.
    from lsprotocol import converters

    as_json = converters.get_converter().unstructure(workspace_edit)
    assert "documentChanges" in as_json
    assert parse_edits(as_json, reader(files), root=root) == expected


def test_workspace_edit_changes_map_and_uris_outside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    inside, outside = (root / "m.py").as_uri(), (tmp_path / "elsewhere.py").as_uri()
    changes = {"changes": {inside: [{"range": {"start": {"line": 0, "character": 0},
                                               "end": {"line": 0, "character": 1}},
                                     "newText": "M"}]}}
    assert parse_edits(changes, reader({"m.py": "m\n"}), root=root) == {"m.py": "M\n"}
    assert uri_to_path(outside, root) == str(tmp_path / "elsewhere.py")
    assert uri_to_path(inside, None) == str(root / "m.py")
    with pytest.raises(EditError, match="not a local file"):
        uri_to_path("untitled:Untitled-1", root)


def test_workspace_edit_errors() -> None:
    create = types.WorkspaceEdit(document_changes=[types.CreateFile(uri="file:///r/a.py")])
    with pytest.raises(EditApplyError, match="CreateFile of a file that exists") as info:
        parse_edits(create, reader({"a.py": "x"}), root=Path("/r"))
    assert (info.value.path, info.value.block) == ("a.py", 1)
    with pytest.raises(EditApplyError, match="does not exist"):
        parse_edits({"changes": {"file:///r/b.py": []}}, reader({}), root=Path("/r"))
    with pytest.raises(EditError, match="not a valid WorkspaceEdit"):
        parse_edits({"documentChanges": [{"kind": "create"}]}, reader({}), root=Path("/r"))


TOKENS = ["a", " ", "é", "中", "😀", "\n", "\r\n", "\r"]


@given(
    tokens=st.lists(st.sampled_from(TOKENS), max_size=25),
    cuts=st.lists(st.integers(0, 25), max_size=8),
    inserts=st.lists(st.text(alphabet="xy😀\n", max_size=3), min_size=4, max_size=4),
    seed=st.integers(0, 1000),
)
def test_property_text_edits_agree_with_string_slicing(
    tokens: list[str], cuts: list[int], inserts: list[str], seed: int
) -> None:
    text = "".join(tokens)
    # Offsets at code-point boundaries that are not inside a CRLF pair.
    offsets = sorted({min(c, len(text)) for c in cuts})
    assume(all(not (0 < o < len(text) and text[o - 1 : o + 1] == "\r\n") for o in offsets))
    spans = list(zip(offsets[::2], offsets[1::2] + [offsets[-1]] * (len(offsets) % 2),
                     strict=True)) if offsets else []
    spans = spans[:4]

    def position(offset: int) -> types.Position:
        before = text[:offset]
        lines = before.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        return types.Position(line=len(lines) - 1,
                              character=len(lines[-1].encode("utf-16-le")) // 2)

    edits = [types.TextEdit(range=types.Range(position(s), position(e)), new_text=inserts[k])
             for k, (s, e) in enumerate(spans)]
    expected, tail = "", len(text)
    for k in range(len(spans) - 1, -1, -1):
        s, e = spans[k]
        expected = inserts[k] + text[e:tail] + expected
        tail = s
    expected = text[:tail] + expected
    order = list(range(len(edits)))
    random.Random(seed).shuffle(order)
    shuffled = [edits[k] for k in order]
    assert apply_text_edits(text, shuffled) == expected
