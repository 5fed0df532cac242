"""The peer's SQL: the statements our functions run for the same three routes,
copied so that the peer imports neither Powertools' resolver nor our models.
`same_sql()` (checked by the benchmark and the budget test) keeps the copies
equal to the originals, whitespace aside."""

from __future__ import annotations

from shared.pagination import cursor_kind

_AUTHOR = """json_build_object('user_id', u.user_id, 'username', u.username, 'first_name', u.first_name,
    'last_name', u.last_name, 'profile_image_url', u.profile_image_url)"""

GET_POST = (
    """SELECT json_build_object('post_id', p.post_id, 'user_id', p.user_id, 'title', p.title, 'slug', p.slug,
    'content', p.content, 'excerpt', p.excerpt, 'status', p.status, 'featured_image_url', p.featured_image_url,
    'tags', coalesce(p.tags, '{}'::text[]), 'metadata', coalesce(p.metadata, '{}'::jsonb),
    'view_count', p.view_count, 'like_count', p.like_count, 'comment_count', p.comment_count,
    'published_at', p.published_at, 'created_at', p.created_at, 'updated_at', p.updated_at,
    'author', """
    + _AUTHOR
    + """) AS body, p.version
FROM posts p JOIN users u ON u.user_id = p.user_id
WHERE p.post_id = CAST(:post_id AS uuid)
AND (p.status = 'published' OR p.user_id = CAST(:caller AS uuid) OR CAST(:is_admin AS boolean))"""
)

_LIST = (
    r"""
SELECT json_build_object('post_id', p.post_id, 'user_id', p.user_id, 'title', p.title, 'slug', p.slug,
    'excerpt', p.excerpt, 'featured_image_url', p.featured_image_url, 'tags', coalesce(p.tags, '{}'::text[]),
    'view_count', p.view_count, 'like_count', p.like_count, 'comment_count', p.comment_count,
    'published_at', p.published_at, 'author', """
    + _AUTHOR
    + r""") AS item, p.published_at, p.post_id, p.score
FROM (
    SELECT p.post_id, p.user_id, p.title, p.slug, p.excerpt, p.featured_image_url, p.tags, p.metadata,
           p.view_count, p.like_count, p.comment_count, p.published_at, p.updated_at,
           (p.view_count * 0.1 + p.like_count * 2 + p.comment_count * 3) AS score
    FROM posts p
    WHERE p.status = 'published'
      AND (CAST(:author AS uuid) IS NULL OR p.user_id = CAST(:author AS uuid))
      AND (CAST(:tag AS text) IS NULL OR p.tags @> ARRAY[CAST(:tag AS text)])
      AND (CAST(:q AS text) IS NULL OR (
          search_grams(coalesce(p.search_document,
                                p.title || E'\n' || coalesce(p.excerpt, '') || E'\n' || p.content)) @>
          search_query_grams(CAST(:q AS text)) AND
          (coalesce(p.search_document, p.title || E'\n' || coalesce(p.excerpt, '') || E'\n' || p.content)
               LIKE ALL (CAST(:like AS text[])) AND
           coalesce(p.search_document, p.title || E'\n' || coalesce(p.excerpt, '') || E'\n' || p.content)
               ILIKE ALL (CAST(:ilike AS text[])))))
      AND (CAST(:after AS timestamptz) IS NULL OR p.published_at >= CAST(:after AS timestamptz))
      AND (CAST(:before AS timestamptz) IS NULL OR p.published_at < CAST(:before AS timestamptz))
      {keyset}
    ORDER BY p.published_at DESC, p.post_id DESC
    LIMIT CAST(:limit AS int) + 1
) p
LEFT JOIN users u ON u.user_id = p.user_id
ORDER BY p.published_at DESC, p.post_id DESC
"""
)
LIST_FIRST = _LIST.replace("{keyset}", "")
LIST_NEXT = _LIST.replace(
    "{keyset}", "AND (p.published_at, p.post_id) < (CAST(:c_1 AS timestamptz), CAST(:c_2 AS uuid))"
)
# The cursors' kind of the API's unfiltered feed: a cursor of either pages the other.
LIST_KIND = cursor_kind(
    "posts:published_at", author=None, tag=None, q=None, published_after=None, published_before=None
)

_USER = """
SELECT json_build_object(
    'user_id', u.user_id,
    'username', u.username,
    'first_name', u.first_name,
    'last_name', u.last_name,
    'profile_image_url', u.profile_image_url,
    'is_verified', u.is_verified,
    'created_at', u.created_at,{private}
    'profile', CASE WHEN pr.user_id IS NULL THEN NULL ELSE json_build_object(
    'bio', pr.bio,
    'location', pr.location,
    'website_url', pr.website_url,
    'social_links', pr.social_links,
    'created_at', pr.created_at,
    'updated_at', pr.updated_at{preferences}) END,
    'stats', json_build_object(
        'total_posts', s.{total},
        'published_posts', s.published_posts,
        'total_views', coalesce(s.total_views, 0),
        'total_likes', coalesce(s.total_likes, 0),
        'last_published_at', s.last_published_at)
) AS body
FROM users u
JOIN user_post_stats s ON s.user_id = u.user_id
LEFT JOIN user_profiles pr ON pr.user_id = u.user_id
WHERE u.user_id = :user_id AND u.is_active
"""
GET_USER_PUBLIC = _USER.replace("{private}", "").replace("{preferences}", "").replace("{total}", "published_posts")
GET_USER_PRIVATE = (
    _USER.replace(
        "{private}",
        """
    'email', u.email,
    'phone_number', u.phone_number,
    'date_of_birth', u.date_of_birth,
    'is_active', u.is_active,
    'updated_at', u.updated_at,
    'last_login_at', u.last_login_at,""",
    )
    .replace(
        "{preferences}",
        """,
    'preferences', pr.preferences""",
    )
    .replace("{total}", "total_posts")
)


def _norm(sql: str) -> str:
    return " ".join(sql.replace("(", " ( ").replace(")", " ) ").replace(",", " , ").split())


def same_sql() -> dict[str, bool]:
    """Each copy against its original (imports the functions' query modules)."""
    import posts_queries
    import users_queries

    pairs = {
        "GET_POST": (GET_POST, posts_queries.SQL.get_post),
        "LIST_FIRST": (LIST_FIRST, posts_queries.list_sql("published_at", posts_queries.DEFAULT_LIST_FIELDS, False)),
        "LIST_NEXT": (LIST_NEXT, posts_queries.list_sql("published_at", posts_queries.DEFAULT_LIST_FIELDS, True)),
        "GET_USER_PUBLIC": (GET_USER_PUBLIC, users_queries.SQL.get_user_public),
        "GET_USER_PRIVATE": (GET_USER_PRIVATE, users_queries.SQL.get_user_private),
        "LIST_KIND": (
            LIST_KIND,
            posts_queries.list_kind("published_at", author=None, tag=None, search=None, after=None, before=None),
        ),
    }
    return {name: _norm(a) == _norm(b) for name, (a, b) in pairs.items()}
