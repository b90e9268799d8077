"""How alike a window of lines is to the lines an edit expects (fuzzy matching, closest text).

Comparing every window character by character is quadratic per window and far too slow on real
files, so windows are first ranked by the trigrams they share with the needle (one linear pass
over the file), and only the promising ones are compared line by line with difflib.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Sequence

_CLOSEST_CANDIDATES = 20
"""How many of the best-ranked windows `closest_window` compares line by line."""
CLOSEST_FLOOR = 0.3
"""Less similar text is not offered as the closest match."""


def _trigrams(line: str) -> Counter[str]:
    padded = "\0" + line.strip() + "\0"  # padding gives short lines trigrams too
    return Counter(padded[k : k + 3] for k in range(len(padded) - 2))


def rank_windows(haystack: Sequence[str], needle: Sequence[str]) -> list[tuple[float, int]]:
    """Every ``len(needle)``-line window of ``haystack`` as (trigram Dice score, start).

    Best first (then by position). The score is a cheap upper-bound-like screen for
    `line_similarity`: windows far below it cannot be good matches. Linear in the file size.
    """
    n = len(needle)
    if n == 0 or len(haystack) < n:
        return []
    want: Counter[str] = Counter()
    for line in needle:
        want.update(_trigrams(line))
    want_total = sum(want.values())
    tracked: list[list[tuple[str, int]]] = []
    sizes: list[int] = []
    for line in haystack:
        grams = _trigrams(line)
        sizes.append(sum(grams.values()))
        tracked.append([(g, c) for g, c in grams.items() if g in want])
    have: Counter[str] = Counter()
    overlap = total = 0

    def move(k: int, sign: int) -> None:
        nonlocal overlap, total
        for gram, count in tracked[k]:
            before = min(have[gram], want[gram])
            have[gram] += sign * count
            overlap += min(have[gram], want[gram]) - before
        total += sign * sizes[k]

    for k in range(n):
        move(k, 1)
    ranked: list[tuple[float, int]] = []
    for start in range(len(haystack) - n + 1):
        if start:
            move(start - 1, -1)
            move(start + n - 1, 1)
        both = total + want_total
        ranked.append((2 * overlap / both if both else 1.0, start))
    ranked.sort(key=lambda item: (-item[0], item[1]))
    return ranked


def line_similarity(
    window: Sequence[str], needle: Sequence[str], floor: float = 0.0
) -> tuple[float, int]:
    """difflib's ratio of each right-stripped line with its counterpart, weighted by length.

    Returns (similarity, line pairs compared with difflib); 1.0 means equal. Stops as soon as
    the result must fall below ``floor`` (then the similarity is below ``floor`` but not exact).
    """
    pairs = [(a.rstrip(), b.rstrip()) for a, b in zip(window, needle, strict=True)]
    total = sum(len(a) + len(b) for a, b in pairs)
    if not total:
        return 1.0, 0
    allowed = (1.0 - floor) * total  # characters that may stay unmatched
    lost = compared = 0
    matcher = difflib.SequenceMatcher(None, autojunk=False)
    for a, b in pairs:
        if a == b:
            continue
        matcher.set_seqs(a, b)
        compared += 1
        lost += len(a) + len(b) - 2 * sum(m.size for m in matcher.get_matching_blocks())
        if lost > allowed:
            break
    return (total - lost) / total, compared


def closest_window(haystack: Sequence[str], needle: Sequence[str]) -> tuple[int, float] | None:
    """The start of the window of ``haystack`` most like ``needle``, and its similarity.

    None when nothing is at least `CLOSEST_FLOOR` similar (showing it would only mislead), or
    ``haystack`` has fewer lines than ``needle``.
    """
    n = len(needle)
    ranked = rank_windows(haystack, needle)[:_CLOSEST_CANDIDATES]
    best: tuple[int, float] | None = None
    for _, start in ranked:
        score, _ = line_similarity(haystack[start : start + n], needle)
        if best is None or score > best[1] or (score == best[1] and start < best[0]):
            best = (start, score)
    return best if best is not None and best[1] >= CLOSEST_FLOOR else None
