"""shared.text.lower_key: the form under which PostgreSQL's lower() makes two texts alike."""

import pytest

from shared.text import lower_key

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
