"""Rules for human text that every function applies the same way.

* `visible`: a required text field must show something. Whitespace alone is blank, and so is text
  made only of characters that render as nothing: format characters (Unicode category Cf: the
  zero-width space U+200B, joiners, bidirectional controls), separators (Zs/Zl/Zp), controls (Cc)
  and the fillers that render blank (Hangul fillers, the braille blank). `str.strip()` alone lets
  "\\u200b" through as a title.
* `fold`: the form under which two spellings of a keyword are the same: NFKC (full-width \uff21\uff22\uff23 and
  half-width \uff76\uff85 become ABC and \u30ab\u30ca, as Japanese input methods produce both), then lowercase.
* `lower_key`: the form under which two texts are alike for a query that compares them through
  PostgreSQL's `lower()` (ILIKE, `lower(x) = lower(y)`).
"""

from __future__ import annotations

import unicodedata

_BLANK_CATEGORIES = frozenset({"Cf", "Cc", "Zs", "Zl", "Zp"})
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def is_blank(text: str) -> bool:
    """True when `text` renders as nothing (see the module docstring)."""
    return all(c.isspace() or c in _BLANK_LETTERS or unicodedata.category(c) in _BLANK_CATEGORIES for c in text)


def visible(text: str) -> str:
    """`text` unchanged; ValueError (a 422 naming the field) when it renders as nothing."""
    if is_blank(text):
        raise ValueError("cannot be empty or only whitespace or invisible characters")
    return text


def fold(text: str) -> str:
    """NFKC, trimmed and lowercased: the comparison form of tags and other keywords."""
    return unicodedata.normalize("NFKC", text).strip().lower()


def lower_key(text: str) -> str:
    """`text` lowercased when that is certainly what PostgreSQL's `lower()` makes of it, else unchanged.

    Under the databases' Unicode locales (en_US.UTF-8, C.UTF-8) `lower()` maps one character at a
    time. Python's `str.lower()` does too, except for the dotted capital I (U+0130, two characters)
    and a final capital sigma (whose lowercase depends on the letters around it): a text holding
    either is kept as it is. So two texts with the same key are equal once lowercased by PostgreSQL,
    and a text never shares its key with one that lowercases differently."""
    lowered = text.lower()
    if len(lowered) != len(text) or lowered != "".join(c.lower() for c in text):
        return text
    return lowered


def like_contains(text: str) -> str:
    """`%text%` for LIKE/ILIKE, with the wildcards and the escape character escaped."""
    return "%" + like_escape(text) + "%"


def like_escape(text: str) -> str:
    """`text` with LIKE's wildcards (`%`, `_`) and its escape character (`\\`) escaped, so it
    matches only itself (PostgreSQL's default escape character, 9.7.1)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
