"""Request bodies, response shapes (for the OpenAPI document) and the small pure
helpers of the posts API: slugs and LIKE escaping (the ETag and If-Match headers are posts_app's).

Responses of the hot reads are built as JSON by PostgreSQL and pass through
untouched; the response models below document them and are never used to
re-serialize a response.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote, unquote, urlsplit
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from shared.schemas import DOCS_ONLY, AuthorSummary
from shared.text import (
    DEFAULT_IGNORABLE,
    VISIBLE_RULE,
    fold,
    is_default_ignorable,
    like_contains,
    lower_key,
    search_form,
    visible,
)

MAX_TAGS = 10
MAX_TAG_LENGTH = 30
MAX_METADATA_BYTES = 8 * 1024
MAX_METADATA_DEPTH = 32
MAX_URL_LENGTH = 2048
MAX_SLUG_LENGTH = 200
SLUG_BASE_LENGTH = 80
# A derived slug's percent-encoded form stays within 200 bytes, WordPress's
# limit for its post_name (sanitize_title_with_dashes -> utf8_uri_encode(..., 200)):
# about 22 CJK characters, 80 ASCII ones.
SLUG_BASE_URL_BYTES = 200
MAX_SEARCH_TERMS = 10


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL (and jsonb refuses \u0000): say so here, per field.
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    return value


Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    Field(description="1-500 characters. " + VISIBLE_RULE),
    AfterValidator(_no_nul),
    AfterValidator(visible),
]
Content = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100_000),
    Field(description="1-100,000 characters. " + VISIBLE_RULE),
    AfterValidator(_no_nul),
    AfterValidator(visible),
]
Excerpt = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000), AfterValidator(_no_nul)]


def slug_form(text: str) -> str:
    """`text` as slugs spell it: NFKC-normalised and lowercased (then NFKC again: lowercasing can
    leave a character NFKC would change). Full-width letters and digits become ASCII, half-width
    katakana full-width, the ideographic space a space and the full-width hyphen '-'."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).lower())


def normalize_slug(value: Any) -> Any:
    """A chosen slug in the form a title's slug has (slug_form), without surrounding spaces:
    'ＰｏｓｔｇｒｅＳＱＬ入門' and 'PostgreSQL入門' are both 'postgresql入門'. What remains must be
    what slugify leaves unchanged: letters, marks and digits of any script in runs joined by
    single hyphens, each run starting with a letter or digit, nothing invisible. ValueError
    otherwise, naming the character as the client typed it ('½', not the fraction slash U+2044 that
    NFKC makes of it). Non-strings pass to the type check unchanged."""
    if not isinstance(value, str):
        return value
    slug = slug_form(value).strip()
    if slugify(slug, limit=False) != slug:
        raise ValueError(
            _slug_problem(value, slug) + ": use letters and digits of any script joined by single hyphens, "
            "e.g. 'postgresqlのインデックス設計' or 'keyset-pagination'"
        )
    return slug


def _slug_problem(typed: str, slug: str) -> str:
    """Why `slug` (the normalised form of `typed`) is not a slug."""
    bad = next((ch for ch in slug if ch != "-" and not _slug_char(ch)), None)
    if bad is not None:
        ch = _as_typed(typed, bad)
        invisible = ", an invisible character," if is_default_ignorable(ch) or is_default_ignorable(bad) else ""
        return _shown(ch) + invisible + " cannot be part of a slug"
    lead = next((run[0] for run in slug.split("-") if run and not _slug_start(run[0])), None)
    if lead is not None:
        return "a slug, and each part after a hyphen, starts with a letter or digit, not " + _shown(
            _as_typed(typed, lead)
        )
    return "a slug cannot start or end with a hyphen or have two in a row"


def _as_typed(typed: str, ch: str) -> str:
    """The character of `typed` whose slug form holds `ch` ('½' for the fraction slash U+2044 of
    its form); `ch` itself when none does alone (it came from several characters together)."""
    return next((c for c in typed if ch in slug_form(c)), ch)


def _shown(ch: str) -> str:
    """`ch` in a message: quoted when it shows by itself; otherwise its code point and name."""
    if ch.isspace():
        return "a space"
    if ch.isprintable() and not is_default_ignorable(ch) and unicodedata.category(ch) not in ("Mn", "Me"):
        return "'" + ch + "'"
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" ({name})" if name else "")


# The document's view: the rule (normalize_slug) cannot be a regular expression, so the pattern
# is a subset of what is accepted, the forms people type: ASCII letters and digits in either case,
# their full-width forms, hiragana, katakana (half-width too) and CJK ideographs, joined by single
# hyphens (ASCII or full-width); the half-width sound marks ﾞ and ﾟ combine with the character
# before them, so they do not start a run. Other scripts are accepted too.
_DOC_SLUG_LETTERS = (
    "a-zA-Z0-9"
    "\uff10-\uff19\uff21-\uff3a\uff41-\uff5a"  # full-width digits and letters
    "\u3041-\u3096\u30a1-\u30fa\u30fc"  # hiragana, katakana, the long vowel mark
    "\uff66-\uff9d"  # half-width katakana
    "\u4e00-\u9fff"  # CJK ideographs
)
_DOC_SLUG_RUN = "[" + _DOC_SLUG_LETTERS + "][" + _DOC_SLUG_LETTERS + "\uff9e\uff9f]*"  # then the sound marks too
DOC_SLUG_PATTERN = "^" + _DOC_SLUG_RUN + "(?:[-\uff0d]" + _DOC_SLUG_RUN + ")*$"
SLUG_DESCRIPTION = (
    "Derived from the title when absent. A chosen slug is normalised as a title's is (NFKC, lowercase: "
    "'ＰｏｓｔｇｒｅＳＱＬ入門' and 'PostgreSQL入門' are stored as 'postgresql入門'); what remains must be "
    "letters and digits of any script (with the marks that combine with them) joined by single hyphens, "
    "each part starting with a letter or digit: no spaces, other punctuation or invisible characters "
    f"(zero-width spaces, variation selectors, fillers), at most {MAX_SLUG_LENGTH} characters."
)
# StringConstraints apply to the normalised value: normalize_slug runs before them.
Slug = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_SLUG_LENGTH),
    BeforeValidator(normalize_slug),
    Field(json_schema_extra={"pattern": DOC_SLUG_PATTERN}),
]
# The document's view of an image URL (check_image_url is the rule).
ImageUrl = Annotated[
    str,
    Field(
        json_schema_extra={
            "pattern": r"^https?://[^\s/?#@:\[\]\x00-\x1f\x7f\x85]+(:[0-9]{1,5})?([/?#][^\s\x00-\x1f\x7f\x85]*)?$",
            "maxLength": MAX_URL_LENGTH,
        }
    ),
]
EditableStatus = Literal["draft", "published"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# -- validators shared by create and patch ---------------------------------------------
def normalize_tags(value: list[str] | None) -> list[str] | None:
    """Folded (NFKC, trimmed, lowercased: shared.text.fold), deduplicated in order; at most 10
    of 1-30 characters. `?tag=` is folded the same way, so full-width letters find their ASCII tag."""
    if value is None:
        return None
    if len(value) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    out: list[str] = []
    for raw in value:
        tag = fold(raw)
        if not 1 <= len(tag) <= MAX_TAG_LENGTH:
            raise ValueError(f"each tag has 1 to {MAX_TAG_LENGTH} characters")
        if _CONTROL.search(tag):
            raise ValueError("tags cannot contain control characters")
        if tag not in out:
            out.append(tag)
    return out


def check_metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    _check_tree(value)
    # UTF-8 bytes as sent and stored, not \u-escaped: "あ" counts 3 bytes, not 6.
    if (
        len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass"))
        > MAX_METADATA_BYTES
    ):
        raise ValueError(f"metadata is limited to {MAX_METADATA_BYTES // 1024} KB of JSON")
    return value


def _check_tree(value: Any) -> None:
    """No NUL (jsonb cannot store it) and at most MAX_METADATA_DEPTH levels, checked without
    recursion: a deeply nested value must be refused, not overflow the stack."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_METADATA_DEPTH:
            raise ValueError(f"metadata is nested deeper than {MAX_METADATA_DEPTH} levels")
        if isinstance(item, str):
            if "\x00" in item:
                raise ValueError("NUL characters are not allowed (jsonb cannot store them)")
        elif isinstance(item, dict):
            stack.extend((k, depth) for k in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def check_image_url(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) > MAX_URL_LENGTH or any(c.isspace() or c == "\x00" for c in value):
        raise ValueError(f"a URL of at most {MAX_URL_LENGTH} characters without spaces")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("an absolute http or https URL")
    return value


# The document's view of a tag list (normalize_tags is the rule: NFKC-folded, trimmed,
# lowercased, duplicates dropped): at most MAX_TAGS, each one line of 1 to MAX_TAG_LENGTH
# characters with one that is not a space.
TagList = Annotated[
    list[str],
    WithJsonSchema(
        {
            "type": "array",
            "maxItems": MAX_TAGS,
            "items": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_TAG_LENGTH,
                "pattern": r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f\x85][^\x00-\x1f\x7f]*$",
            },
        }
    ),
]


class PostCreate(BaseModel):
    """POST /posts. `slug` is derived from the title when absent."""

    model_config = ConfigDict(extra="forbid")

    post_id: UUID | None = Field(None, description="Client-chosen id: a retried create returns the same post.")
    title: Title
    content: Content
    excerpt: Excerpt | None = None
    slug: Slug | None = Field(None, description=SLUG_DESCRIPTION)
    status: EditableStatus = "draft"
    tags: TagList = Field(
        default_factory=list,
        description="At most 10, each 1-30 characters once normalised (NFKC, trimmed, lowercased: a character "
        "such as ﷺ becomes several).",
    )
    metadata: dict[str, Any] = Field(default_factory=dict, description="A JSON object of at most 8 KB.")
    featured_image_url: ImageUrl | None = None

    _tags = field_validator("tags")(normalize_tags)
    _metadata = field_validator("metadata")(check_metadata)
    _url = field_validator("featured_image_url")(check_image_url)


class PostPatch(BaseModel):
    """PATCH /posts/{post_id}: only the fields sent change. `excerpt` and
    `featured_image_url` may be null (cleared); the others may not."""

    # At least one field: an empty patch is refused (422), and the document says so.
    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    title: Title = None  # type: ignore[assignment]
    content: Content = None  # type: ignore[assignment]
    excerpt: Excerpt | None = None
    status: EditableStatus = None  # type: ignore[assignment]
    tags: TagList = None  # type: ignore[assignment]
    metadata: dict[str, Any] = None  # type: ignore[assignment]
    featured_image_url: ImageUrl | None = None

    _tags = field_validator("tags")(normalize_tags)
    _metadata = field_validator("metadata")(check_metadata)
    _url = field_validator("featured_image_url")(check_image_url)

    def changes(self) -> dict[str, Any]:
        """The fields the client sent, as the JSON patch the UPDATE applies."""
        return self.model_dump(mode="json", include=self.model_fields_set)


class TransferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    new_author_id: UUID


# -- response shapes (documentation) -------------------------------------------------


class Post(BaseModel):
    model_config = DOCS_ONLY

    post_id: UUID
    user_id: UUID
    title: str
    slug: str | None
    content: str
    excerpt: str | None
    status: Literal["draft", "published", "archived"]
    featured_image_url: str | None
    tags: list[str]
    metadata: dict[str, Any]
    view_count: int
    like_count: int
    comment_count: int
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime
    author: AuthorSummary


class PostListItem(BaseModel):
    """A list item: the fields chosen with `fields=` (post_id always)."""

    model_config = DOCS_ONLY

    post_id: UUID
    user_id: UUID | None = None
    title: str | None = None
    slug: str | None = None
    excerpt: str | None = None
    featured_image_url: str | None = None
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None
    view_count: int | None = None
    like_count: int | None = None
    comment_count: int | None = None
    score: float | None = Field(None, description="view_count*0.1 + like_count*2 + comment_count*3")
    published_at: datetime | None = None
    updated_at: datetime | None = None
    author: AuthorSummary | None = None


class PostList(BaseModel):
    model_config = DOCS_ONLY

    items: list[PostListItem]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class PopularPost(BaseModel):
    model_config = DOCS_ONLY

    post_id: UUID
    title: str
    slug: str | None
    excerpt: str | None
    featured_image_url: str | None
    tags: list[str]
    view_count: int
    like_count: int
    comment_count: int
    score: float
    published_at: datetime
    author: AuthorSummary


class PopularList(BaseModel):
    model_config = DOCS_ONLY

    items: list[PopularPost]


class LikeState(BaseModel):
    model_config = DOCS_ONLY

    liked: bool
    like_count: int


class ViewCount(BaseModel):
    model_config = DOCS_ONLY

    view_count: int


# -- helpers ----------------------------------------------------------------------------
def _slug_char(ch: str) -> bool:
    # Letters (L*), marks (M*: the vowel signs of Indic scripts, combining accents NFKC could not
    # compose) and digits (N*) of any script, but none that renders as nothing (shared.text
    # DEFAULT_IGNORABLE: variation selectors, the Hangul fillers, which are marks and letters).
    return unicodedata.category(ch)[0] in "LMN" and not is_default_ignorable(ch)


def _slug_start(ch: str) -> bool:
    # A run starts with a letter or digit: a mark combines with the character before it.
    return unicodedata.category(ch)[0] in "LN" and not is_default_ignorable(ch)


def _from_letter(run: str) -> str:
    """`run` from its first letter or digit on."""
    return next((run[i:] for i, ch in enumerate(run) if _slug_start(ch)), "")


def slugify(title: str, limit: bool = True) -> str:
    """The title's letters and digits in any script, NFKC-normalised and lowercased,
    runs joined by '-'; '' if none remain. Invisible characters are dropped (a variation
    selector or a zero-width space inside a word leaves the word whole), and so are the marks
    that would start a run. With `limit`, at most 80 characters and 200 bytes
    percent-encoded, cut at a hyphen when there is one."""
    text = slug_form(DEFAULT_IGNORABLE.sub("", title))
    runs = re.split(r"-+", "".join(c if _slug_char(c) else "-" for c in text))
    slug = "-".join(run for run in map(_from_letter, runs) if run)
    if limit:
        slug = _shorten(slug)
    return slug


def _shorten(slug: str) -> str:
    cut = 0
    size = 0
    for i, ch in enumerate(slug):
        size += len(quote(ch, safe=""))
        if i >= SLUG_BASE_LENGTH or size > SLUG_BASE_URL_BYTES:
            break
        cut = i + 1
    if cut == len(slug):
        return slug
    head = slug[:cut]
    if slug[cut] != "-" and "-" in head:
        head = head.rsplit("-", 1)[0]
    return head.strip("-")


def slug_path(slug: str) -> str:
    """The public URL path of a post's slug, percent-encoded (RFC 3986) as a
    Location or Link header needs it: headers carry ASCII only."""
    return "/posts/by-slug/" + quote(slug, safe="")


def slug_candidates(raw: str) -> list[str]:
    """The stored slugs a requested one may mean: as given, percent-decoded, and in
    the canonical form (NFKC, lowercase), so both encoded and decoded URLs work.
    Empty when the percent-encoding is not UTF-8 (no post can have that slug)."""
    try:
        decoded = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        return []
    out = []
    for form in (raw, decoded, slugify(decoded, limit=False)):
        if form and len(form) <= 255 and form not in out:
            out.append(form)
    return out


@dataclass(frozen=True)
class SearchTerms:
    """A search as the statements take it. `q`: the terms in their search form
    (shared.text.search_form: NFKC, the marks input methods spell differently folded),
    separated by one space (for the grams). Patterns `%term%` (wildcards escaped) for the
    recheck: terms without case (Japanese, Chinese, digits) in `like`, matched
    byte for byte, which costs a fraction of ILIKE's lowercasing of every row's
    text; the others in `ilike`. The stored texts are compared in the same form
    (sql/migrations/0015 and 0016)."""

    q: str
    like: list[str]
    ilike: list[str]

    @property
    def key(self) -> frozenset[str]:
        """What tells two searches apart, as the statements compare them: the set of terms (every
        one is required, in any order), a caseless one as it is (LIKE) and the others as PostgreSQL
        lowercases them (ILIKE, the grams: shared.text.lower_key). `SQL` and `sql`, or `a b` and
        `b a`, are one search."""
        return frozenset("=" + term if _caseless(term) else "~" + lower_key(term) for term in self.q.split(" "))


def _caseless(term: str) -> bool:
    """A term without case (Japanese, Chinese, digits): matched byte for byte."""
    return term.lower() == term.upper()


def search_terms(q: str) -> SearchTerms:
    """Terms of a search: NFKC-normalised (full-width Latin and half-width katakana
    match their usual forms) and folded (the wave dash U+301C and the full-width tilde U+FF5E
    are ~, the minus sign U+2212 is -: shared.text.search_form), split on whitespace, every term
    required.
    ValueError when no term remains or there are too many."""
    terms: list[str] = []
    for term in search_form(q).split():
        if term not in terms:
            terms.append(term)
    if not terms:
        raise ValueError("q must contain something other than spaces")
    if len(terms) > MAX_SEARCH_TERMS:
        raise ValueError(f"at most {MAX_SEARCH_TERMS} words")
    caseless = [t for t in terms if _caseless(t)]
    return SearchTerms(
        " ".join(terms),
        [like_pattern(t) for t in caseless],
        [like_pattern(t) for t in terms if t not in caseless],
    )


def like_pattern(text: str) -> str:
    """`%text%` for ILIKE with the wildcards and the escape character escaped."""
    return like_contains(text)


def as_utc(value: datetime | None) -> datetime | None:
    """Query timestamps without an offset are read as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
