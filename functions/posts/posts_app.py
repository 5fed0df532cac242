"""PostsFunction: the posts routes of the HTTP API.

Routes parse and validate, call one function of posts_queries, and return its
result. Public routes (GET /posts, /posts/popular, /posts/by-slug/{slug},
/posts/{id}, POST /posts/{id}/views) have no authorizer in API Gateway: they never look at
an identity. The others are behind the JWT authorizer and read the caller from
its claims only.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Annotated, Any, Literal
from uuid import UUID

import posts_queries as queries
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from posts_models import (
    LikeState,
    PopularList,
    Post,
    PostCreate,
    PostList,
    PostPatch,
    TransferRequest,
    ViewCount,
    as_utc,
    search_terms,
    slug_path,
)

from shared import snapstart
from shared.errors import Unprocessable
from shared.http import (
    CursorQuery,
    create_app,
    idempotency_key,
    json_response,
    make_handler,
    one_request_name,
    request_fingerprint,
    require_admin,
    require_identity,
    require_uuid,
)
from shared.schemas import IsoDateTime, error_docs, json_doc, reads_headers
from shared.text import fold

app = create_app()

TAGS = ["posts"]


ERRORS = {
    404: "No such post (or not visible to the caller).",
    409: "Post id or slug already used, or the post is archived.",
}


def _errors(*statuses: int) -> dict[int, dict[str, Any]]:
    return error_docs(*statuses, meanings=ERRORS)


def parse_fields(raw: str | None, sort: str) -> frozenset[str]:
    """`fields=a,b` against posts_queries.LIST_FIELDS; unknown names are a 422 naming the query parameter."""
    if raw is None:
        return queries.DEFAULT_LIST_FIELDS | ({"score"} if sort == "popular" else set())
    parts = [f.strip() for f in raw.split(",")]
    if not all(parts):
        # As the document's pattern says: names separated by single commas (`fields=` names none).
        raise Unprocessable(
            "fields names no field",
            [{"field": "fields", "in": "query", "message": "comma-separated field names, at least one, none empty"}],
        )
    names = set(parts)
    unknown = sorted(names - queries.LIST_FIELDS.keys())
    if unknown:
        raise Unprocessable(
            "unknown fields requested",
            [
                {
                    "field": "fields",
                    "in": "query",
                    "message": f"unknown: {', '.join(unknown)}; allowed: {', '.join(queries.LIST_FIELDS)}",
                }
            ],
        )
    return frozenset(names | {"post_id"})


# -- ETag and If-Match (RFC 9110 §8.8.3, §13.1.1) ----------------------------------------
def etag(version: int) -> str:
    """The ETag of a post: its content version, bumped by every edit, never by counters."""
    return f'"{version}"'


def parse_if_match(header: str | None) -> list[int] | None:
    """The versions an If-Match header accepts: None for no header or `*` (any),
    [] when no tag can be one of ours (a stale or foreign ETag: 412). If-Match compares strongly
    (RFC 9110 §13.1.1), so a weak tag (`W/"3"`) never matches."""
    if header is None:
        return None
    versions: list[int] = []
    for token in header.split(","):
        tag = token.strip()
        if tag == "*":
            return None
        digits = tag[1:-1]
        if 3 <= len(tag) <= 11 and tag[0] == tag[-1] == '"' and digits.isascii() and digits.isdigit():
            versions.append(int(digits))
    return versions


def _with_etag(body: str, version: int, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return json_response(body, status, {"ETag": etag(version), **(headers or {})})


def _if_match() -> list[int] | None:
    return parse_if_match(app.current_event.headers.get("if-match"))


# -- public reads (registered before /posts/<post_id>, which would match them) -----------
@app.get(
    "/posts",
    summary="List published posts",
    description="Filters, search, field selection and keyset pagination. One SQL statement per page.",
    tags=TAGS,
    operation_id="listPosts",
    responses={200: json_doc(PostList, "A page of posts"), **_errors(400, 422)},
)
def list_posts(
    author: Annotated[UUID | None, Query(description="Only this author's posts")] = None,
    tag: Annotated[str | None, Query(min_length=1, max_length=30)] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            pattern=r"^[^\x00-\x1f\x7f]+$",
            description=(
                "Search title, excerpt and content, in any script (Japanese and Chinese need no spaces; one or two "
                "characters are enough). Words separated by spaces must all occur. `%`, `_` and `\\` match literally. "
                "Full-width and half-width forms match each other (NFKC), and so do the marks input methods type "
                "differently: the wave dash `\u301c` and `\uff5e`/`~`, the minus sign `\u2212` and `\uff0d`/`-`, "
                "`\u2225` and `\u2016`, `\u2015` and `\u2014`."
            ),
        ),
    ] = None,
    published_after: Annotated[IsoDateTime | None, Query(description="ISO 8601; UTC if no offset")] = None,
    published_before: Annotated[IsoDateTime | None, Query(description="ISO 8601; UTC if no offset")] = None,
    sort: Annotated[
        Literal["relevance", "published_at", "popular"] | None,
        Query(
            description=(
                "With `q` the default is `relevance`: posts with every word in the title first, then those with "
                "some of the words in the title, then those with the words only in excerpt or content; newest first "
                "within each. Without `q` the default is `published_at` (newest first); `relevance` without `q` is 422."
            )
        ),
    ] = None,
    fields: Annotated[
        str | None,
        Query(
            max_length=300,
            json_schema_extra={
                "pattern": "^(" + "|".join(queries.LIST_FIELDS) + ")(,(" + "|".join(queries.LIST_FIELDS) + "))*$"
            },
            description="Comma-separated: " + ",".join(queries.LIST_FIELDS),
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: CursorQuery = None,
):
    search = None
    if q is not None:
        try:
            search = search_terms(q)
        except ValueError as exc:
            raise Unprocessable(
                "the request is invalid", [{"field": "q", "in": "query", "message": str(exc)}]
            ) from None
    if sort is None:
        sort = "relevance" if search else "published_at"
    elif sort == "relevance" and search is None:
        raise Unprocessable(
            "the request is invalid",
            [{"field": "sort", "in": "query", "message": "sort=relevance ranks a search: give q as well"}],
        )
    body = queries.list_posts(
        sort=sort,
        fields=parse_fields(fields, sort),
        limit=limit,
        cursor=cursor,
        author=str(author) if author else None,
        tag=fold(tag) if tag else None,
        search=search,
        after=as_utc(published_after),
        before=as_utc(published_before),
    )
    return json_response(body)


@app.get(
    "/posts/popular",
    summary="Most popular recent posts",
    description="Score = view_count*0.1 + like_count*2 + comment_count*3 over posts published in the last `days` days.",
    tags=TAGS,
    operation_id="listPopularPosts",
    responses={200: json_doc(PopularList, "The top posts, best first"), **_errors(422)},
)
def popular_posts(
    days: Annotated[int, Query(ge=1, le=365)] = 30,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
):
    return json_response(queries.popular_posts(days, limit))


@app.get(
    "/posts/by-slug/<slug>",
    summary="Get a published post by its slug",
    description=(
        "The slug may be sent percent-encoded (`/posts/by-slug/%E3%83%87...`) or as Unicode, and in any spelling "
        "that normalises to it as slugs are (NFKC, lowercase: capitals and full-width letters find the post); the "
        "answer's Content-Location gives the canonical, percent-encoded path."
    ),
    tags=TAGS,
    operation_id="getPostBySlug",
    responses={200: json_doc(Post, "The post", headers=("ETag", "Content-Location")), **_errors(404)},
)
def get_post_by_slug(slug: str):
    body, version, stored = queries.get_published_by_slug(slug)
    # The canonical, percent-encoded URL, whichever form was asked for.
    return _with_etag(body, version, headers={"Content-Location": slug_path(stored)})


@app.post(
    "/posts/<post_id>/views",
    summary="Count a view of a published post",
    description=(
        "Counts once per viewer (the client address API Gateway saw; an IPv6 one by its /64) and post "
        "per hour; a repeat answers the current count unchanged. The route is also throttled at API "
        "Gateway (429)."
    ),
    tags=TAGS,
    operation_id="countPostView",
    responses={200: json_doc(ViewCount, "The new view count"), **_errors(404)},
)
def count_view(post_id: str):
    post = require_uuid(post_id, "post")
    http = app.current_event.request_context.http
    return json_response({"view_count": queries.count_view(post, viewer_key(post, http.source_ip))})


def viewer_key(post_id: str, source_ip: str | None) -> bytes:
    """SHA-256 of the post id and the caller's network address: 32 bytes.

    The route is public (no token, so no `sub`): a viewer is the address API Gateway saw
    (`requestContext.http.sourceIp`; headers such as X-Forwarded-For are the client's to
    invent). The user agent is not part of it, since a client can change it at will; an IPv6
    caller is its /64, which one host is commonly given whole (RFC 6177 §2). Viewers behind one
    IPv4 NAT count as one. The post id in the digest keeps a viewer's marks from being linked
    across posts."""
    address = source_ip or ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        ip = None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        address = str(ipaddress.ip_network(f"{ip}/64", strict=False))
    elif isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        address = str(ip.ipv4_mapped)
    return hashlib.sha256(f"{post_id}\n{address}".encode()).digest()


# -- signed-in routes ----------------------------------------------------------------
@app.post(
    "/posts",
    summary="Create a post",
    description=(
        "Idempotent with a client-chosen `post_id` or an `Idempotency-Key` header, not both: a retry by the "
        "same author returns the existing post with 200. The same Idempotency-Key or `post_id` with a "
        "different body answers 422 `idempotency_key_reused`."
    ),
    tags=TAGS,
    operation_id="createPost",
    openapi_extensions=reads_headers("Idempotency-Key"),
    responses={
        201: json_doc(Post, "Created", headers=("Location", "ETag", "Link")),
        200: json_doc(Post, "Already created by an earlier attempt", headers=("Location", "ETag", "Link")),
        **_errors(400, 401, 403, 409, 422),
    },
)
def create_post(body: PostCreate):
    who = require_identity(app)
    key = idempotency_key(app)
    one_request_name(key, body.post_id, "post_id")
    created = queries.create_post(who, body, key, request_fingerprint(app, body))
    headers = {"Location": f"/posts/{created.post_id}"}
    if created.published_slug:
        # Its public address; non-ASCII slugs are percent-encoded (headers are ASCII).
        headers["Link"] = "<" + slug_path(created.published_slug) + '>; rel="canonical"'
    return _with_etag(created.body, created.version, 201 if created.new else 200, headers)


@app.get(
    "/posts/<post_id>",
    summary="Get a published post",
    description="Public: the same answer for every caller. Drafts and archived posts answer 404 here; "
    "their author reads them at `/me/posts/{post_id}`, an administrator at `/admin/posts/{post_id}`.",
    tags=TAGS,
    operation_id="getPost",
    responses={200: json_doc(Post, "The post", headers=("ETag",)), **_errors(404)},
)
def get_post(post_id: str):
    body, version = queries.get_published(require_uuid(post_id, "post"))
    return _with_etag(body, version)


@app.get(
    "/me/posts/<post_id>",
    summary="Get one of your own posts, whatever its status",
    tags=TAGS,
    operation_id="getMyPost",
    responses={200: json_doc(Post, "The post", headers=("ETag",)), **_errors(401, 404)},
)
def get_my_post(post_id: str):
    who = require_identity(app)
    body, version = queries.get_own_post(require_uuid(post_id, "post"), who)
    return _with_etag(body, version)


@app.get(
    "/admin/posts/<post_id>",
    summary="Get any post, whatever its status (administrators)",
    tags=TAGS,
    operation_id="getPostForModeration",
    responses={200: json_doc(Post, "The post", headers=("ETag",)), **_errors(401, 403, 404)},
)
def get_post_for_moderation(post_id: str):
    admin = require_admin(app)
    body, version = queries.get_post(require_uuid(post_id, "post"), admin)
    return _with_etag(body, version)


@app.patch(
    "/posts/<post_id>",
    summary="Edit a post (author or admin)",
    description="Send `If-Match` with the ETag you read to refuse to overwrite a newer version (412).",
    tags=TAGS,
    operation_id="updatePost",
    openapi_extensions=reads_headers("If-Match"),
    responses={
        200: json_doc(Post, "The edited post (its new ETag)", headers=("ETag",)),
        **_errors(400, 401, 403, 404, 409, 412, 422),
    },
)
def update_post(post_id: str, body: PostPatch):
    who = require_identity(app)
    pid = require_uuid(post_id, "post")
    changes = body.changes()
    if not changes:
        raise Unprocessable("nothing to change", [{"field": "body", "message": "send at least one field"}])
    post, version = queries.update_post(pid, who, changes, _if_match())
    return _with_etag(post, version)


@app.delete(
    "/posts/<post_id>",
    summary="Archive a post (author or admin)",
    description="Sets the status to archived; nothing is destroyed. Repeating it is harmless.",
    tags=TAGS,
    operation_id="archivePost",
    openapi_extensions=reads_headers("If-Match"),
    responses={204: {"description": "Archived"}, **_errors(401, 403, 404, 412)},
)
def archive_post(post_id: str):
    who = require_identity(app)
    queries.archive_post(require_uuid(post_id, "post"), who, _if_match())
    return Response(status_code=204, body="")


@app.put(
    "/posts/<post_id>/like",
    summary="Like a published post",
    tags=TAGS,
    operation_id="likePost",
    responses={200: json_doc(LikeState, "Liked (idempotent)"), **_errors(401, 403, 404)},
)
def like_post(post_id: str):
    who = require_identity(app)
    return json_response(queries.set_like(require_uuid(post_id, "post"), who, liked=True))


@app.delete(
    "/posts/<post_id>/like",
    summary="Remove your like",
    tags=TAGS,
    operation_id="unlikePost",
    responses={200: json_doc(LikeState, "Not liked (idempotent)"), **_errors(401, 404)},
)
def unlike_post(post_id: str):
    who = require_identity(app)
    return json_response(queries.set_like(require_uuid(post_id, "post"), who, liked=False))


@app.post(
    "/posts/<post_id>/transfer",
    summary="Move a post to another author (admins)",
    tags=TAGS,
    operation_id="transferPost",
    responses={200: json_doc(Post, "The post with its new author"), **_errors(401, 403, 404, 422)},
)
def transfer_post(post_id: str, body: TransferRequest):
    admin = require_admin(app)
    pid = require_uuid(post_id, "post")
    post, version = queries.transfer_post(pid, str(body.new_author_id), admin)
    return _with_etag(post, version)


handler = make_handler(app)
# SnapStart: primed before the snapshot; after a restore, the hot read warmed, a connection of its own
snapstart.register(
    app,
    warm=("GET /posts/{post_id}",),
    statements=queries.warm_up_reads(snapstart.PLACEHOLDER_ID),
)
