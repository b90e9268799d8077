"""LSP line splitting and position-encoding conversions (lspfeedback._lsp.positions).

The oracles here are Python's own codecs (``len(s.encode("utf-16-le")) // 2`` etc.) and a
plain ``replace``-based line splitter, not the implementation's helpers.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lspfeedback._lsp.positions import (
    from_code_points,
    line_starts,
    offset_to_position,
    split_lines,
    to_code_points,
)

ENCODINGS = ("utf-8", "utf-16", "utf-32")


def units(s: str, encoding: str) -> int:
    """Independent oracle: the number of code units of ``s`` in ``encoding``."""
    if encoding == "utf-8":
        return len(s.encode("utf-8"))
    if encoding == "utf-16":
        return len(s.encode("utf-16-le")) // 2
    return len(s.encode("utf-32-le")) // 4


def reference_split(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


# Characters of 1, 2, 3 and 4 UTF-8 bytes, 1 and 2 UTF-16 units, plus every line break kind
# and the characters str.splitlines() treats as breaks but LSP does not.
ALPHABET = ["a", " ", "é", "中", "😀", "𝄞", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029"]
texts = st.lists(st.sampled_from(ALPHABET), max_size=30).map("".join)
line_texts = st.lists(st.sampled_from(["a", " ", "é", "中", "😀", "𝄞", "\x0c", "\u2028"]), max_size=20).map("".join)


# ---- line splitting -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("", [""]),
        ("a", ["a"]),
        ("a\n", ["a", ""]),
        ("a\nb", ["a", "b"]),
        ("a\r\nb", ["a", "b"]),
        ("a\rb", ["a", "b"]),
        ("a\r\n\r\nb", ["a", "", "b"]),
        ("a\n\rb", ["a", "", "b"]),  # \n\r is two breaks, not one
        ("a\r\rb", ["a", "", "b"]),
        ("\r\n", ["", ""]),
    ],
)
def test_split_lines_breaks_on_lf_crlf_and_cr(text: str, lines: list[str]) -> None:
    assert split_lines(text) == lines


@given(st.text(st.sampled_from(["a", "é", "\n", "\r", "\u2028", " "]), max_size=40))
def test_split_lines_are_the_lsp_breaks_with_or_without_a_carriage_return(text: str) -> None:
    # A text without \r is split by str.split; with one, by the pattern: the same lines as
    # a plain walk over the three LSP breaks, either way.
    lines, line, i = [], "", 0
    while i < len(text):
        if text[i] in "\r\n":
            lines.append(line)
            line = ""
            i += 2 if text[i:i + 2] == "\r\n" else 1
        else:
            line += text[i]
            i += 1
    assert split_lines(text) == [*lines, line]


@pytest.mark.parametrize("char", ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"])
def test_split_lines_ignores_breaks_that_only_str_splitlines_knows(char: str) -> None:
    text = f"a{char}b"
    assert len(text.splitlines()) == 2  # the trap this guards against
    assert split_lines(text) == [text]
    assert line_starts(text) == [0]


def test_line_starts_point_after_each_break() -> None:
    text = "ab\r\ncd\ref\ngh"
    assert line_starts(text) == [0, 4, 7, 10]
    assert [text[s:s + 2] for s in line_starts(text)] == ["ab", "cd", "ef", "gh"]


@given(texts)
def test_split_lines_matches_reference(text: str) -> None:
    assert split_lines(text) == reference_split(text)


@given(texts)
def test_line_starts_agree_with_split_lines(text: str) -> None:
    lines = split_lines(text)
    starts = line_starts(text)
    assert len(starts) == len(lines)
    for start, line in zip(starts, lines):
        assert text[start:start + len(line)] == line


# ---- code points <-> code units -------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [("utf-8", [0, 1, 5, 6]), ("utf-16", [0, 1, 3, 4]), ("utf-32", [0, 1, 2, 3])],
)
def test_from_code_points_with_surrogate_pair(encoding: str, expected: list[int]) -> None:
    line = "a😀b"
    assert [from_code_points(line, i, encoding) for i in range(4)] == expected


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [("utf-8", [0, 3, 6, 7]), ("utf-16", [0, 1, 2, 3]), ("utf-32", [0, 1, 2, 3])],
)
def test_from_code_points_with_cjk(encoding: str, expected: list[int]) -> None:
    line = "中文x"
    assert [from_code_points(line, i, encoding) for i in range(4)] == expected


@pytest.mark.parametrize(
    ("encoding", "character", "index"),
    [
        ("utf-16", 0, 0),
        ("utf-16", 1, 1),  # just before the emoji
        ("utf-16", 3, 2),  # just after it
        ("utf-16", 4, 3),
        ("utf-8", 1, 1),
        ("utf-8", 5, 2),
        ("utf-8", 6, 3),
        ("utf-32", 2, 2),
    ],
)
def test_to_code_points_with_surrogate_pair(encoding: str, character: int, index: int) -> None:
    assert to_code_points("a😀b", character, encoding) == index


@pytest.mark.parametrize(("character", "index"), [(0, 0), (3, 1), (6, 2), (7, 3)])
def test_to_code_points_utf8_cjk(character: int, index: int) -> None:
    assert to_code_points("中文x", character, "utf-8") == index


@pytest.mark.parametrize(
    ("encoding", "character"),
    [("utf-16", 2), ("utf-8", 2), ("utf-8", 3), ("utf-8", 4)],
)
def test_position_inside_a_multi_unit_char_clamps_to_its_start(encoding: str, character: int) -> None:
    # "a😀b": the emoji is 2 UTF-16 units (1..3) and 4 UTF-8 bytes (1..5).
    assert to_code_points("a😀b", character, encoding) == 1


@pytest.mark.parametrize("character", [1, 2])
def test_position_inside_a_cjk_char_in_utf8_clamps_to_its_start(character: int) -> None:
    assert to_code_points("中x", character, "utf-8") == 0


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("past", [0, 1, 2, 10**9])
def test_position_at_or_past_line_end_clamps_to_line_end(encoding: str, past: int) -> None:
    line = "ab😀"  # 4 units in UTF-16, 6 in UTF-8, 3 in UTF-32
    assert to_code_points(line, units(line, encoding) + past, encoding) == len(line)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_empty_line(encoding: str) -> None:
    assert to_code_points("", 0, encoding) == 0
    assert to_code_points("", 5, encoding) == 0
    assert from_code_points("", 0, encoding) == 0


@given(line_texts, st.sampled_from(ENCODINGS), st.data())
def test_from_code_points_counts_code_units(line: str, encoding: str, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(line)))
    assert from_code_points(line, index, encoding) == units(line[:index], encoding)


@given(line_texts, st.sampled_from(ENCODINGS), st.data())
def test_round_trip_code_points_to_units_and_back(line: str, encoding: str, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(line)))
    assert to_code_points(line, from_code_points(line, index, encoding), encoding) == index


@given(line_texts, st.sampled_from(ENCODINGS), st.integers(0, 120))
def test_to_code_points_is_largest_index_not_past_character(line: str, encoding: str, character: int) -> None:
    index = to_code_points(line, character, encoding)
    assert 0 <= index <= len(line)
    # The clamped index never goes past the requested position...
    assert units(line[:index], encoding) <= character
    # ...and is the last character boundary that does not.
    if index < len(line):
        assert units(line[:index + 1], encoding) > character


# ---- offset_to_position ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "line", "utf16", "utf8", "utf32"),
    [
        (0, 0, 0, 0, 0),
        (2, 0, 3, 5, 2),  # after "a😀"
        (3, 0, 4, 6, 3),  # end of line 0, before \r\n
        (5, 1, 0, 0, 0),  # start of line 1, after \r\n
        (6, 1, 1, 3, 1),  # after "中"
        (7, 1, 2, 4, 2),  # end of line 1, before \r
        (8, 2, 0, 0, 0),  # start of the last line, after \r
        (9, 2, 2, 4, 1),  # end of text, after "😀"
    ],
)
def test_offset_to_position(offset: int, line: int, utf16: int, utf8: int, utf32: int) -> None:
    text = "a😀b\r\n中x\r😀"
    for encoding, character in (("utf-16", utf16), ("utf-8", utf8), ("utf-32", utf32)):
        pos = offset_to_position(text, offset, encoding)
        assert (pos.line, pos.character) == (line, character), encoding


def test_offset_to_position_at_end_after_trailing_newline() -> None:
    text = "x\n"
    pos = offset_to_position(text, len(text), "utf-16")
    assert (pos.line, pos.character) == (1, 0)


def test_offset_to_position_does_not_break_lines_at_form_feed() -> None:
    text = "a\x0cb\u2028c"
    pos = offset_to_position(text, 4, "utf-16")
    assert (pos.line, pos.character) == (0, 4)


def test_offset_to_position_accepts_precomputed_starts() -> None:
    text = "ab\ncd\nef"
    starts = line_starts(text)
    for offset in range(len(text) + 1):
        assert offset_to_position(text, offset, "utf-16", starts) == offset_to_position(text, offset, "utf-16")


@given(texts, st.sampled_from(ENCODINGS), st.data())
def test_offset_to_position_round_trips(text: str, encoding: str, data: st.DataObject) -> None:
    offset = data.draw(st.integers(0, len(text)))
    # Between \r and \n is not a valid LSP position; callers never ask for one.
    if 0 < offset < len(text) and text[offset - 1] == "\r" and text[offset] == "\n":
        offset -= 1
    pos = offset_to_position(text, offset, encoding)
    lines = split_lines(text)
    assert 0 <= pos.line < len(lines)
    line = lines[pos.line]
    assert pos.character <= units(line, encoding)
    assert line_starts(text)[pos.line] + to_code_points(line, pos.character, encoding) == offset


# ---- the hot paths: ASCII lines and the lines of texts already split -----------------------


@given(st.text(st.characters(max_codepoint=0x7F), max_size=40), st.sampled_from(ENCODINGS),
       st.integers(0, 60))
def test_an_ascii_line_counts_one_unit_per_character_in_every_encoding(
        line: str, encoding: str, character: int) -> None:
    assert to_code_points(line, character, encoding) == min(character, len(line))
    assert from_code_points(line, character, encoding) == units(line[:character], encoding)


def test_split_lines_gives_a_new_list_each_time() -> None:
    text = "a\nb\r\nc"
    first = split_lines(text)
    first.append("changed by the caller")
    assert split_lines(text) == ["a", "b", "c"]
    assert split_lines(text) is not split_lines(text)


def test_the_lines_cache_is_bounded() -> None:
    from lspfeedback._lsp import positions

    texts = [f"text {i}\nline" for i in range(positions.LINES_CACHED * 2)]
    for text in texts:
        assert split_lines(text) == [text.split("\n")[0], "line"]
    assert len(positions._CACHE._entries) <= positions.LINES_CACHED
    # The most recent texts are the ones kept, and an equal text that is another object is
    # split on its own (the cache goes by identity).
    assert id(texts[-1]) in positions._CACHE._entries
    copy = "".join(list(texts[-1]))
    assert split_lines(copy) == split_lines(texts[-1])


@given(st.text(alphabet="ab\n\r€😀\u2028\x0c", max_size=40), st.data())
def test_offset_to_position_counted_equals_the_one_from_line_starts(text: str,
                                                                    data: st.DataObject) -> None:
    # Without \r the line is counted in C; it must be the position the line starts give.
    offset = data.draw(st.integers(0, len(text)))
    for encoding in ("utf-16", "utf-8", "utf-32"):
        assert offset_to_position(text, offset, encoding) == offset_to_position(
            text, offset, encoding, line_starts(text))
