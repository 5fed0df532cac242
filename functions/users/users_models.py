"""Request bodies (validated) and response shapes (documentation only) of the users API.

Request models forbid unknown fields: a body naming `user_id`, `email`,
`password_hash`, `username`... where they cannot be set is refused with a 422,
never silently dropped or written. Every string and object is bounded.

Responses are built as JSON by PostgreSQL (users_queries) and passed through as
text; the response models here only describe them for the OpenAPI document
(no Pydantic round trip on the way out).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    WithJsonSchema,
    model_validator,
)

from shared.schemas import DOCS_ONLY
from shared.text import VISIBLE_RULE, like_escape, search_form, visible

USERNAME_PATTERN = r"^[A-Za-z0-9_]{3,50}$"
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 ().-]{5,19}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

MAX_OBJECT_KEYS = 20
MAX_OBJECT_BYTES = 4096
OLDEST_BIRTH_YEAR = 1900


# -- field rules -------------------------------------------------------------------
def _single_line(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("control characters (line breaks, tabs, NUL) are not allowed")
    return value


def _multi_line(value: str) -> str:
    if _CONTROL_MULTILINE.search(value):
        raise ValueError("control characters other than line breaks and tabs are not allowed")
    return value


def _email(value: str) -> str:
    if not EMAIL_RE.match(value):
        raise ValueError("not a valid email address")
    return value


def _phone(value: str) -> str:
    if not PHONE_RE.match(value) or sum(c.isdigit() for c in value) < 6:
        raise ValueError(
            "a phone number has 6 to 20 digits, spaces, dashes, dots, parentheses and an optional leading +"
        )
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
        raise ValueError("only http:// and https:// URLs with a host (and no spaces) are allowed")
    return value


def _birth_date(value: date) -> date:
    today = datetime.now(UTC).date()
    if value > today:
        raise ValueError("a date of birth cannot be in the future")
    if value.year < OLDEST_BIRTH_YEAR:
        raise ValueError(f"a date of birth before {OLDEST_BIRTH_YEAR} is not plausible")
    return value


def _walk(value: Any, depth: int = 0) -> None:
    """jsonb stores neither NUL nor NaN/Infinity, and deep nesting only costs: refuse them."""
    if depth > 5:
        raise ValueError("nested deeper than 5 levels")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("NUL characters are not allowed")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers must be finite (JSON has no NaN or Infinity)")
    elif isinstance(value, dict):
        for k, v in value.items():
            _walk(k, depth + 1)
            _walk(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _walk(v, depth + 1)


def _bounded_object(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > MAX_OBJECT_KEYS:
        raise ValueError(f"at most {MAX_OBJECT_KEYS} keys")
    for key in value:
        if not 1 <= len(key) <= 50:
            raise ValueError("keys are 1 to 50 characters long")
    _walk(value)
    if len(json.dumps(value, ensure_ascii=False).encode()) > MAX_OBJECT_BYTES:
        raise ValueError(f"at most {MAX_OBJECT_BYTES} bytes once serialized")
    return value


Username = Annotated[
    str,
    Field(
        min_length=3,
        max_length=50,
        pattern=USERNAME_PATTERN,
        description="3 to 50 letters, digits or underscores; unique regardless of case",
    ),
]
# Patterns for the document (json_schema_extra: the validators stay the rule and give the messages).
# Each describes what the validator accepts, or a safe subset of it where JSON Schema's regular
# expressions cannot say the rule (Unicode invisibles, Python's str.isspace).
SINGLE_LINE_PATTERN = r"^[^\x00-\x1f\x7f]*$"
VISIBLE_LINE_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f\x85][^\x00-\x1f\x7f]*$"
# GET /users?q=: one line with a character other than a space or a dot between names (search_query),
# those NFKC makes one included (･ U+FF65, the Greek ano teleia U+0387).
NAME_QUERY_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f\x85\u00b7\u0387\u30fb\uff65][^\x00-\x1f\x7f]*$"
MULTI_LINE_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
EMAIL_PATTERN = r"^[^@\s\x1c-\x1f\x85]{1,64}@[^@\s\x1c-\x1f\x85]+\.[^@\s\x1c-\x1f\x85]+$"
PHONE_PATTERN = r"^\+?(?=(?:[^0-9]*[0-9]){6})[0-9][0-9 ().-]{5,19}$"
HTTP_URL_PATTERN = r"^https?://[^\s/?#@:\[\]\x00-\x1f\x7f\x85]+(:[0-9]{1,5})?([/?#][^\s\x00-\x1f\x7f\x85]*)?$"


def _doc_pattern(pattern: str) -> Any:
    return Field(json_schema_extra={"pattern": pattern})


Email = Annotated[str, Field(min_length=3, max_length=255), _doc_pattern(EMAIL_PATTERN), AfterValidator(_email)]
Name = Annotated[
    str,
    Field(min_length=1, max_length=100, description="1-100 characters on one line. " + VISIBLE_RULE),
    _doc_pattern(VISIBLE_LINE_PATTERN),
    AfterValidator(_single_line),
    AfterValidator(visible),
]
Phone = Annotated[str, Field(min_length=6, max_length=20), _doc_pattern(PHONE_PATTERN), AfterValidator(_phone)]
HttpUrl = Annotated[
    str,
    Field(min_length=8, max_length=2048),
    _doc_pattern(HTTP_URL_PATTERN),
    AfterValidator(_single_line),
    AfterValidator(_http_url),
]
# JSON Schema has no range for dates: the pattern gives the document a safe subset (1900-2019),
# the validator the rule (from OLDEST_BIRTH_YEAR to today).
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _date_as_written(value: Any) -> Any:
    """A birth date arrives as JSON text `YYYY-MM-DD` (ISO 8601 calendar date) and nothing else:
    pydantic would also read a number as Unix time and cut a datetime's time and offset off."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("a calendar date written YYYY-MM-DD (ISO 8601), e.g. 1990-04-01")
    return value


BirthDate = Annotated[
    date,
    BeforeValidator(_date_as_written),
    AfterValidator(_birth_date),
    Field(
        json_schema_extra={"pattern": r"^(19\d\d|20[01]\d)-\d\d-\d\d$"},
        description=f"from {OLDEST_BIRTH_YEAR}-01-01 to today",
    ),
]
Bio = Annotated[str, Field(max_length=5000), _doc_pattern(MULTI_LINE_PATTERN), AfterValidator(_multi_line)]
Location = Annotated[str, Field(max_length=255), _doc_pattern(SINGLE_LINE_PATTERN), AfterValidator(_single_line)]
SocialLinks = Annotated[
    dict[str, Annotated[str, Field(max_length=500), _doc_pattern(SINGLE_LINE_PATTERN), AfterValidator(_single_line)]],
    AfterValidator(_bounded_object),
    Field(json_schema_extra={"maxProperties": MAX_OBJECT_KEYS, "propertyNames": {"minLength": 1, "maxLength": 50}}),
]
Preferences = Annotated[
    dict[str, Any],
    AfterValidator(_bounded_object),
    Field(json_schema_extra={"maxProperties": MAX_OBJECT_KEYS, "propertyNames": {"minLength": 1, "maxLength": 50}}),
]


@dataclass(frozen=True)
class UserSearch:
    """GET /users?q= as the statement takes it.

    `name`: q in its search form (shared.text.search_form: NFKC, the marks input methods
    spell differently folded) with every space and name separator (・, ･, ·) removed, found in
    the family and given names joined in either order ("田中太郎", "太郎田中"), so a family
    name, a given name or both, with or without a space or a dot, all match: the names are
    keyed the same way (users_name_key, sql/migrations/0016). `username_prefix`: the same
    text as a LIKE prefix of the lowercased username (wildcards escaped).
    """

    name: str
    username_prefix: str


# The dots written between the parts of a name, as spaces are: the katakana middle dot ・ (the
# half-width ･ is ・ after NFKC) in "ジョン・スミス", and the middle dot · of Chinese input methods.
# users_name_key removes the same characters from the stored names.
_NAME_SEPARATORS = str.maketrans("\u30fb\u00b7", "  ")


def search_query(q: str | None) -> UserSearch | None:
    """The search for `q`, or ValueError when it holds nothing to look for.
    Any length and script: one or two characters are common names in Japanese."""
    if q is None:
        return None
    _single_line(q)
    name = "".join(search_form(q).translate(_NAME_SEPARATORS).split())
    if not name:
        raise ValueError("q must contain something other than spaces and the dots between names")
    return UserSearch(name, like_escape(name.lower()) + "%")


# -- request bodies ----------------------------------------------------------------
class UserCreate(BaseModel):
    """Registration of the signed-in caller. The id is the token's `sub`; the
    email is the token's `email` claim when its `email_verified` is "true", else none.
    A body's `email` is accepted only when it repeats that verified claim."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    username: Username
    email: Email | None = Field(
        default=None, description="optional; must equal the token's verified email claim (422 otherwise)"
    )
    first_name: Name | None = None
    last_name: Name | None = None
    phone_number: Phone | None = None
    date_of_birth: BirthDate | None = None
    profile_image_url: HttpUrl | None = None


class UserUpdate(BaseModel):
    """A partial update: only the fields present change; `null` clears a field."""

    # At least one field: an empty patch is refused (422), and the document says so.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"minProperties": 1})

    first_name: Name | None = None
    last_name: Name | None = None
    phone_number: Phone | None = None
    profile_image_url: HttpUrl | None = None
    date_of_birth: BirthDate | None = None
    # Absent or a boolean: `null` is refused (_flags_are_booleans), so the document says boolean.
    is_verified: Annotated[StrictBool | None, WithJsonSchema({"type": "boolean"})] = Field(
        default=None, description="administrators only (403 for others)"
    )
    is_active: Annotated[StrictBool | None, WithJsonSchema({"type": "boolean"})] = Field(
        default=None, description="administrators only (403 for others)"
    )

    @model_validator(mode="after")
    def _flags_are_booleans(self) -> UserUpdate:
        # `null` clears a text field, but a flag is either true or false.
        for name in ("is_verified", "is_active"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} must be true or false")
        return self


class ProfileIn(BaseModel):
    """The whole profile (PUT replaces it): a field left out is cleared."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    bio: Bio | None = None
    location: Location | None = None
    website_url: HttpUrl | None = None
    social_links: SocialLinks | None = Field(default=None, description="at most 20 keys and 4 KB")
    preferences: Preferences | None = Field(default=None, description="at most 20 keys and 4 KB; never public")


# -- response shapes (OpenAPI only) ------------------------------------------------


class PostStats(BaseModel):
    model_config = DOCS_ONLY

    total_posts: int
    published_posts: int
    total_views: int
    total_likes: int
    last_published_at: datetime | None


class ProfileFields(BaseModel):
    model_config = DOCS_ONLY

    bio: str | None
    location: str | None
    website_url: str | None
    social_links: dict[str, str] | None
    created_at: datetime | None
    updated_at: datetime | None


class ProfileDetail(ProfileFields):
    preferences: dict[str, Any] | None = Field(default=None, description="only for the user themself or an admin")


class ProfileRecord(ProfileFields):
    """A profile as its owner (or an admin) sees it."""

    user_id: str
    preferences: dict[str, Any] | None


class UserProfileView(ProfileFields):
    """The public profile (GET /users/{user_id}/profile): never the preferences."""

    user_id: str
    username: str


class UserPublic(BaseModel):
    model_config = DOCS_ONLY

    user_id: str
    username: str
    first_name: str | None
    last_name: str | None
    profile_image_url: str | None
    is_verified: bool
    created_at: datetime


class UserRecord(UserPublic):
    """The full record minus password_hash: only for the user themself or an admin.
    `email` is null until the identity provider has verified an address."""

    email: str | None
    phone_number: str | None
    date_of_birth: date | None
    is_active: bool
    updated_at: datetime | None
    last_login_at: datetime | None


class UserDetail(UserPublic):
    """The private fields are present only for the user themself or an admin."""

    email: str | None = None
    phone_number: str | None = None
    date_of_birth: date | None = None
    is_active: bool | None = None
    updated_at: datetime | None = None
    last_login_at: datetime | None = None
    profile: ProfileDetail | None
    stats: PostStats


class UserListItem(UserPublic):
    published_posts: int


class UserList(BaseModel):
    model_config = DOCS_ONLY

    items: list[UserListItem]
    next_cursor: str | None


class UserStatistics(BaseModel):
    model_config = DOCS_ONLY

    total_users: int
    verified_users: int
    active_users: int = Field(description="signed in during the last 30 days")
    new_users_week: int = Field(description="registered during the last 7 days")


class AuthorPostSummary(BaseModel):
    model_config = DOCS_ONLY

    post_id: str
    title: str
    slug: str | None
    excerpt: str | None
    status: Literal["draft", "published", "archived"]
    featured_image_url: str | None
    tags: list[str] | None
    view_count: int
    like_count: int
    comment_count: int
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime | None


class AuthorPostList(BaseModel):
    model_config = DOCS_ONLY

    items: list[AuthorPostSummary]
    next_cursor: str | None


# The names the routes use for the shapes above.
ProfileReplace = ProfileIn
ProfilePrivate = ProfileRecord
ProfilePublic = UserProfileView
UserPrivate = UserRecord
