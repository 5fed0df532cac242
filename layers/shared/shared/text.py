"""Rules for human text that every function applies the same way.

* `visible`: a required text field must show something. Whitespace alone is blank, and so is text
  made only of characters that render as nothing: format characters (Unicode category Cf: the
  zero-width space U+200B, joiners, bidirectional controls), separators (Zs/Zl/Zp), controls (Cc),
  the default-ignorable code points (variation selectors, the combining grapheme joiner, the Hangul
  fillers) and the braille blank. `str.strip()` alone lets "\\u200b" through as a title.
* `fold`: the form under which two spellings of a keyword are the same: NFKC (full-width \uff21\uff22\uff23 and
  half-width \uff76\uff85 become ABC and \u30ab\u30ca, as Japanese input methods produce both), then lowercase.
* `lower_key`: the form under which two texts are alike for a query that compares them through
  PostgreSQL's `lower()` (ILIKE, `lower(x) = lower(y)`).
* `search_form`: the form searches compare: NFKC, then the marks that input methods and code pages
  spell differently and NFKC leaves apart folded to one of each pair (SEARCH_FOLD_FROM, SEARCH_FOLD_TO).
"""

from __future__ import annotations

import re
import unicodedata

_BLANK_CATEGORIES = frozenset({"Cf", "Cc", "Zs", "Zl", "Zp"})

# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): code points that render as
# nothing unless a font knows them. Among them letters (the Hangul fillers, category Lo) and marks
# (variation selectors, the combining grapheme joiner, Mongolian free variation selectors and two
# Khmer inherent vowels, category Mn), which letter-and-digit rules would otherwise let through.
DEFAULT_IGNORABLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f"
    "\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
_BRAILLE_BLANK = "\u2800"

# The marks Japanese input methods and code pages encode differently for one key (JIS X 0208 as
# mapped by JIS/macOS against Windows' CP932) that stay different after NFKC: the wave dash U+301C
# against the full-width tilde U+FF5E (NFKC: ~), the minus sign U+2212 against the full-width
# hyphen-minus U+FF0D (NFKC: -), PARALLEL TO U+2225 against DOUBLE VERTICAL LINE U+2016, HORIZONTAL
# BAR U+2015 against EM DASH U+2014. Searches fold each pair to the second of the two
# (sql/migrations/0016: search_fold, the same table).
SEARCH_FOLD_FROM = "\u301c\u2212\u2225\u2015"
SEARCH_FOLD_TO = "~-\u2016\u2014"
_SEARCH_FOLD = str.maketrans(SEARCH_FOLD_FROM, SEARCH_FOLD_TO)


def is_default_ignorable(ch: str) -> bool:
    """True for a Default_Ignorable_Code_Point (DEFAULT_IGNORABLE)."""
    return DEFAULT_IGNORABLE.fullmatch(ch) is not None


# The rule `visible` applies, in words for the API document (JSON Schema's patterns cannot name
# Unicode's invisible characters).
VISIBLE_RULE = (
    "At least one visible character: text of only spaces, control characters or invisible ones "
    "(zero-width, format, default-ignorable) renders as nothing and is refused."
)


def is_blank(text: str) -> bool:
    """True when `text` renders as nothing (see the module docstring)."""
    return all(
        c.isspace() or c == _BRAILLE_BLANK or unicodedata.category(c) in _BLANK_CATEGORIES or is_default_ignorable(c)
        for c in text
    )


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


def search_form(text: str) -> str:
    """`text` as searches compare it: NFKC, then SEARCH_FOLD_FROM folded to SEARCH_FOLD_TO
    (10, U+FF5E, 20 and 10, U+301C, 20 are both "10~20"; U+2212 before 5 is "-5"). Case is left
    to the search."""
    return unicodedata.normalize("NFKC", text).translate(_SEARCH_FOLD)


def like_contains(text: str) -> str:
    """`%text%` for LIKE/ILIKE, with the wildcards and the escape character escaped."""
    return "%" + like_escape(text) + "%"


def like_escape(text: str) -> str:
    """`text` with LIKE's wildcards (`%`, `_`) and its escape character (`\\`) escaped, so it
    matches only itself (PostgreSQL's default escape character, 9.7.1)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
