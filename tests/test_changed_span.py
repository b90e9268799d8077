"""`_changed_span`: the replaced region an incremental didChange sends."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from lspfeedback._lsp.content_changes import _changed_span

ALPHABET = ["a", "b", " ", "\n", "\r", "\r\n", "😀", "中"]
texts = st.lists(st.sampled_from(ALPHABET), max_size=25).map("".join)


@st.composite
def edits(draw: st.DrawFn) -> tuple[str, str]:
    """An old text and a new one made from it by one splice (the common case: close texts)."""
    old = draw(texts)
    i = draw(st.integers(0, len(old)))
    j = draw(st.integers(i, len(old)))
    inserted = draw(texts)
    return old, old[:i] + inserted + old[j:]


pairs = st.one_of(edits(), st.tuples(texts, texts))


def splits_crlf(text: str, pos: int) -> bool:
    return 0 < pos < len(text) and text[pos - 1] == "\r" and text[pos] == "\n"


def check(old: str, new: str) -> tuple[int, int, int]:
    start, old_end, new_end = _changed_span(old, new)
    assert 0 <= start <= old_end <= len(old)
    assert start <= new_end <= len(new)
    assert old[:start] + new[start:new_end] + old[old_end:] == new
    assert not splits_crlf(old, start), (start, old_end, new_end)
    assert not splits_crlf(old, old_end), (start, old_end, new_end)
    return start, old_end, new_end


@given(pairs)
@example(("a\r\nb", "a\r\r\nb"))
@example(("a\r\nb", "a\r\nx\r\nb"))
@example(("a\r\nb", "a\rb"))
@example(("a\r\nb", "a\nb"))
@example(("\r\n", "\rx\n"))
@example(("x\r\n", "x\r"))
@example(("\r\nx", "\nx"))
@example(("😀\r\n中", "😀\r😀\n中"))
def test_span_reconstructs_new_and_keeps_crlf_whole(pair: tuple[str, str]) -> None:
    check(*pair)


@given(texts)
def test_identical_texts_replace_nothing(text: str) -> None:
    start, old_end, new_end = check(text, text)
    assert old_end == start and new_end == start


@pytest.mark.parametrize(
    ("old", "new", "span"),
    [
        ("abc", "abc", (3, 3, 3)),
        ("abc", "aXc", (1, 2, 2)),
        ("abc", "abXc", (2, 2, 3)),
        ("abc", "ac", (1, 2, 1)),
        ("", "xyz", (0, 0, 3)),
        ("xyz", "", (0, 3, 0)),
        ("a😀b", "a😀😀b", (2, 2, 3)),
    ],
)
def test_simple_spans_are_minimal(old: str, new: str, span: tuple[int, int, int]) -> None:
    assert check(old, new) == span


def test_insertion_between_cr_and_lf_widens_over_the_pair() -> None:
    # A naive common prefix/suffix would put both ends between "\r" and "\n".
    old, new = "a\r\nb", "a\rX\nb"
    start, old_end, new_end = check(old, new)
    assert (start, old_end) == (1, 3)
    assert new[start:new_end] == "\rX\n"


def test_deleting_the_lf_of_a_crlf_replaces_the_whole_pair() -> None:
    old, new = "a\r\nb", "a\rb"
    start, old_end, new_end = check(old, new)
    assert old[start:old_end] == "\r\n"
    assert new[start:new_end] == "\r"


def test_deleting_the_cr_of_a_crlf_replaces_the_whole_pair() -> None:
    old, new = "a\r\nb", "a\nb"
    start, old_end, new_end = check(old, new)
    assert old[start:old_end] == "\r\n"
    assert new[start:new_end] == "\n"
