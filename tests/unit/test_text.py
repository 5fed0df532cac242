"""shared.text: what renders as nothing, and the forms keywords and searches are compared in
(lower_key: the form under which PostgreSQL's lower() makes two texts alike)."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from shared.text import (
    SEARCH_FOLD_FROM,
    SEARCH_FOLD_TO,
    is_blank,
    is_default_ignorable,
    lower_key,
    search_form,
    visible,
)

# Greek and Cyrillic on purpose, by code point so that no letter passes for a Latin one
SIGMA, ALPHA, OMICRON, DELTA = "\u03a3", "\u0391", "\u039f", "\u0394"
MOSCOW = "\u041c\u041e\u0421\u041a\u0412\u0410"
DOTTED_I = "\u0130"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("SQL", "sql"),
        ("Straße", "straße"),
        ("ÀÉÎ", "àéî"),
        (SIGMA + ALPHA, (SIGMA + ALPHA).lower()),
        (MOSCOW, MOSCOW.lower()),
        ("Taro", "tArO"),
    ],
)
def test_texts_that_differ_in_case_only_share_their_key(a, b):
    assert lower_key(a) == lower_key(b) == b.lower()


@pytest.mark.parametrize(
    "text", [DOTTED_I + "stanbul", OMICRON + DELTA + OMICRON + SIGMA, OMICRON + DELTA + OMICRON + SIGMA + " " + ALPHA]
)
def test_a_text_whose_lowercase_python_and_postgresql_may_disagree_on_is_kept(text):
    # U+0130 lowercases to two characters in Python, one in PostgreSQL; a final capital sigma to
    # the final small sigma in Python (by its context), to the small sigma in PostgreSQL (one
    # character at a time)
    assert lower_key(text) == text
    assert lower_key(text.lower()) != lower_key(text)


def test_caseless_text_is_unchanged():
    assert lower_key("田中 太郎 123 _%") == "田中 太郎 123 _%"


def test_default_ignorable_is_unicodes_property():
    """DEFAULT_IGNORABLE lists Unicode's Default_Ignorable_Code_Point ranges by hand (the standard
    library has no such property): checked against the `regex` module's, code point by code point."""
    regex = pytest.importorskip("regex")
    prop = regex.compile(r"\p{Default_Ignorable_Code_Point}")
    differ = [
        f"U+{cp:04X}"
        for cp in range(sys.maxunicode + 1)
        if not 0xD800 <= cp <= 0xDFFF and is_default_ignorable(chr(cp)) != bool(prop.fullmatch(chr(cp)))
    ]
    assert differ == []


@pytest.mark.parametrize(
    "text",
    [
        "\ufe0f",  # a variation selector (a mark, Mn)
        "\U000e0100\ufe00",  # the supplementary ones too
        "\u034f",  # the combining grapheme joiner
        "\u3164\uffa0\u115f\u1160",  # the Hangul fillers (letters, Lo)
        "\u180b\u17b4",  # a Mongolian free variation selector, a Khmer inherent vowel
        "\u2800",  # the braille blank
        "\u200b \u3000\u00ad",  # format characters and spaces
    ],
)
def test_text_of_invisible_characters_is_blank(text):
    assert is_blank(text)
    with pytest.raises(ValueError, match="invisible"):
        visible(text)


@pytest.mark.parametrize("text", ["a\ufe0f", "\u2764\ufe0f", "\u0301", "\u3099", "x"])
def test_text_with_something_to_show_is_not_blank(text):
    assert not is_blank(text)
    assert visible(text) == text


@pytest.mark.parametrize(
    ("typed", "form"),
    [
        ("10\uff5e20", "10~20"),  # the full-width tilde of Windows IMEs (NFKC: ~)
        ("10\u301c20", "10~20"),  # the wave dash of macOS and Mozc
        ("10~20", "10~20"),
        ("\u22125", "-5"),  # the minus sign
        ("\uff0d5", "-5"),  # the full-width hyphen-minus (NFKC: -)
        ("a\u2225b", "a\u2016b"),  # PARALLEL TO and DOUBLE VERTICAL LINE
        ("a\u2015b", "a\u2014b"),  # HORIZONTAL BAR and EM DASH
        ("\uff83\uff9e\uff70\uff80 ＡＢ", "データ AB"),  # noqa: RUF001 (full-width on purpose) — NFKC, case kept
    ],
)
def test_search_form_folds_the_marks_input_methods_spell_differently(typed, form):
    assert search_form(typed) == form


def test_the_fold_maps_marks_nfkc_keeps_onto_marks_nfkc_keeps():
    assert len(SEARCH_FOLD_FROM) == len(SEARCH_FOLD_TO)
    assert len(set(SEARCH_FOLD_FROM + SEARCH_FOLD_TO)) == 2 * len(SEARCH_FOLD_TO)
    for ch in SEARCH_FOLD_FROM + SEARCH_FOLD_TO:
        assert unicodedata.normalize("NFKC", ch) == ch
        assert ch.lower() == ch.upper() == ch  # caseless: folding commutes with lower()
    assert search_form(SEARCH_FOLD_TO) == SEARCH_FOLD_TO
