"""The SQL of the users API: named, parameterized constants (`:name` placeholders).

Every read is one statement; hot reads build their JSON in SQL (a `json` value
comes back as text and is sent as is). The few constants composed below are
joined from fixed fragments at import time, never from input.

Optional filters are written `(CAST(:x AS type) IS NULL OR ...)`: each request's
unnamed statement is planned with its actual values, so the planner folds the
branch that does not apply away and the remaining condition can use its index.
"""

from __future__ import annotations

from shared.errors import CONSTRAINT_MESSAGES

# -- JSON fragments (alias u = users) --------------------------------------------------
_PUBLIC_FIELDS = """
    'user_id', u.user_id,
    'username', u.username,
    'first_name', u.first_name,
    'last_name', u.last_name,
    'profile_image_url', u.profile_image_url,
    'is_verified', u.is_verified,
    'created_at', u.created_at"""

# Only for the user themself or an administrator. Never password_hash.
_PRIVATE_FIELDS = (
    _PUBLIC_FIELDS
    + """,
    'email', u.email,
    'phone_number', u.phone_number,
    'date_of_birth', u.date_of_birth,
    'is_active', u.is_active,
    'updated_at', u.updated_at,
    'last_login_at', u.last_login_at"""
)

USER_RECORD = "json_build_object(" + _PRIVATE_FIELDS + ")"

# Alias pr = user_profiles. Preferences are a user's own settings: not public.
_PROFILE_PUBLIC_FIELDS = """
    'bio', pr.bio,
    'location', pr.location,
    'website_url', pr.website_url,
    'social_links', pr.social_links,
    'created_at', pr.created_at,
    'updated_at', pr.updated_at"""
_PROFILE_PRIVATE_FIELDS = (
    _PROFILE_PUBLIC_FIELDS
    + """,
    'preferences', pr.preferences"""
)

# Search (sql/migrations/0010): a username by prefix (idx_users_username_prefix),
# or a name through the grams of users_name_key (idx_users_name_grams), rechecked
# with strpos on the same key. The expressions are spelled exactly as indexed, or
# the planner cannot use the indexes; the two arms become a BitmapOr.
_NAME_KEY = "users_name_key(u.first_name, u.last_name)"
SEARCH_MATCH = (
    "(lower(u.username) LIKE CAST(:username_prefix AS text)"
    " OR (search_grams(" + _NAME_KEY + ") @> search_query_grams(CAST(:name AS text))"
    " AND strpos(" + _NAME_KEY + ", lower(CAST(:name AS text))) > 0))"
)

# -- users ----------------------------------------------------------------------------
# A verified address belongs to the account that proved it last: any other row holding it
# (a deactivated account, or one whose owner has since moved to another address in the user
# pool and not signed in again) gives it up, in the same transaction as the statement that
# stores it. Only a verified address (:email NULL otherwise) ever reaches this statement, and
# only for a registered caller, or one registering in the same transaction.
RELEASE_EMAIL = """
UPDATE users o SET email = NULL
WHERE CAST(:email AS text) IS NOT NULL
  AND lower(o.email) = lower(CAST(:email AS text))
  AND o.user_id <> :user_id
"""

# The same for a sign-in: only when the signer is a registered user.
RELEASE_EMAIL_OF_REGISTERED = RELEASE_EMAIL + "  AND EXISTS (SELECT 1 FROM users s WHERE s.user_id = :user_id)\n"

REGISTER_USER = (
    """
INSERT INTO users AS u (user_id, email, username, first_name, last_name, phone_number, date_of_birth, profile_image_url)
VALUES (:user_id, :email, :username, :first_name, :last_name, :phone_number, :date_of_birth, :profile_image_url)
RETURNING """
    + USER_RECORD
    + " AS body"
)

# A registration sent again after its reply was lost: the caller's row, when it is the
# one that request made (same username and email, whatever their case).
REGISTRATION_RETRY = (
    "SELECT "
    + USER_RECORD
    + """ AS body FROM users u
WHERE u.user_id = :user_id AND u.is_active
  AND lower(u.username) = lower(:username)
  AND lower(u.email) IS NOT DISTINCT FROM lower(CAST(:email AS text))"""
)

# Active users, newest first; keyset on (created_at, user_id) DESC
# (idx_users_active_created), or the search indexes when `q` is given.
LIST_USERS = (
    """
SELECT json_build_object("""
    + _PUBLIC_FIELDS
    + """,
           'published_posts', (SELECT count(*) FROM posts p WHERE p.user_id = u.user_id AND p.status = 'published')
       ) AS item,
       u.created_at AS c_ts,
       u.user_id AS c_id
FROM users u
WHERE u.is_active
  AND (CAST(:verified AS boolean) IS NULL OR u.is_verified = :verified)
  AND (CAST(:name AS text) IS NULL OR """
    + SEARCH_MATCH
    + """)
  AND (CAST(:c_ts AS timestamptz) IS NULL OR (u.created_at, u.user_id) < (:c_ts, CAST(:c_id AS uuid)))
ORDER BY u.created_at DESC, u.user_id DESC
LIMIT :limit
"""
)

_GET_USER = """
SELECT json_build_object({fields},
    'profile', CASE WHEN pr.user_id IS NULL THEN NULL ELSE json_build_object({profile}) END,
    'stats', json_build_object(
        'total_posts', s.total_posts,
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
# The two variants differ only in which fixed field list they select.
GET_USER_PUBLIC = _GET_USER.format(fields=_PUBLIC_FIELDS, profile=_PROFILE_PUBLIC_FIELDS)
GET_USER_PRIVATE = _GET_USER.format(fields=_PRIVATE_FIELDS, profile=_PROFILE_PRIVATE_FIELDS)

# users_email_lower_key serves this look-up whatever the case of the input.
GET_USER_BY_EMAIL = (
    "SELECT " + USER_RECORD + " AS body FROM users u WHERE lower(u.email) = lower(:email) AND u.is_active"
)

USER_STATISTICS = """
SELECT json_build_object(
    'total_users', count(*),
    'verified_users', count(*) FILTER (WHERE is_verified),
    'active_users', count(*) FILTER (WHERE last_login_at > now() - interval '30 days'),
    'new_users_week', count(*) FILTER (WHERE created_at > now() - interval '7 days')
) AS body
FROM users
WHERE is_active
"""

# One fixed statement for every PATCH: each column is rewritten only when its
# `set_` flag is true, so a field sent as null clears it and a field not sent
# keeps its value. Inactive users are found only by administrators (who may
# reactivate them).
UPDATE_USER = (
    """
UPDATE users AS u SET
    first_name = CASE WHEN :set_first_name THEN :first_name ELSE u.first_name END,
    last_name = CASE WHEN :set_last_name THEN :last_name ELSE u.last_name END,
    phone_number = CASE WHEN :set_phone_number THEN :phone_number ELSE u.phone_number END,
    profile_image_url = CASE WHEN :set_profile_image_url THEN :profile_image_url ELSE u.profile_image_url END,
    date_of_birth = CASE WHEN :set_date_of_birth THEN :date_of_birth ELSE u.date_of_birth END,
    is_verified = CASE WHEN :set_is_verified THEN :is_verified ELSE u.is_verified END,
    is_active = CASE WHEN :set_is_active THEN :is_active ELSE u.is_active END
WHERE u.user_id = :user_id AND (u.is_active OR :as_admin)
RETURNING """
    + USER_RECORD
    + " AS body"
)

DEACTIVATE_USER = """
UPDATE users SET is_active = false
WHERE user_id = :user_id AND is_active
RETURNING user_id
"""

# The seed's update_last_login (Cognito post-authentication trigger).
# A sign-in: last_login_at, and the address Cognito has verified for this user when it is
# given (:email NULL keeps the stored one); RELEASE_EMAIL runs first in the same transaction.
UPDATE_LAST_LOGIN = """
UPDATE users AS u
SET last_login_at = CURRENT_TIMESTAMP,
    email = coalesce(CAST(:email AS text), u.email)
WHERE u.user_id = :user_id
RETURNING u.user_id
"""

# -- profiles -------------------------------------------------------------------------
GET_PROFILE = (
    """
SELECT json_build_object('user_id', u.user_id, 'username', u.username,"""
    + _PROFILE_PUBLIC_FIELDS
    + """) AS body,
       pr.user_id IS NOT NULL AS has_profile
FROM users u
LEFT JOIN user_profiles pr ON pr.user_id = u.user_id
WHERE u.user_id = :user_id AND u.is_active
"""
)

# PUT replaces the whole profile. Inserting from the users row makes a missing
# or inactive user produce no row (404) instead of a foreign-key error; the
# UNIQUE(user_id) of 0003 makes the upsert possible. xmax = 0 only on a row this
# statement inserted: 201 for a new profile, 200 for a replaced one.
UPSERT_PROFILE = (
    """
INSERT INTO user_profiles AS pr (user_id, bio, location, website_url, social_links, preferences)
SELECT u.user_id,
       CAST(:bio AS text),
       CAST(:location AS varchar),
       CAST(:website_url AS text),
       CAST(:social_links AS jsonb),
       CAST(:preferences AS jsonb)
FROM users u
WHERE u.user_id = :user_id AND u.is_active
ON CONFLICT (user_id) DO UPDATE SET
    bio = EXCLUDED.bio,
    location = EXCLUDED.location,
    website_url = EXCLUDED.website_url,
    social_links = EXCLUDED.social_links,
    preferences = EXCLUDED.preferences
RETURNING json_build_object('user_id', pr.user_id,"""
    + _PROFILE_PRIVATE_FIELDS
    + """) AS body,
          (pr.xmax = 0) AS created
"""
)

# -- an author's posts ----------------------------------------------------------------
# One statement: the author row decides 404 (no row) versus an empty list (one
# row without a post). Newest first by publication time, or creation time for
# drafts, on idx_posts_user_recent (0003). Only the author or an administrator
# passes all_statuses; everybody else sees published posts. The subquery names
# the author by the parameter, not by a.user_id: planned with the value, the
# planner knows how many posts this author has and walks the index in order
# instead of sorting them all (1011 ms -> 0.3 ms for an author of 100k posts).
USER_POSTS = """
SELECT a.user_id AS author_id, p.item, p.c_ts, p.c_id
FROM users a
LEFT JOIN (
    SELECT json_build_object(
               'post_id', p.post_id,
               'title', p.title,
               'slug', p.slug,
               'excerpt', p.excerpt,
               'status', p.status,
               'featured_image_url', p.featured_image_url,
               'tags', p.tags,
               'view_count', p.view_count,
               'like_count', p.like_count,
               'comment_count', p.comment_count,
               'published_at', p.published_at,
               'created_at', p.created_at,
               'updated_at', p.updated_at
           ) AS item,
           coalesce(p.published_at, p.created_at) AS c_ts,
           p.post_id AS c_id
    FROM posts p
    WHERE p.user_id = :user_id
      AND (:all_statuses OR p.status = 'published')
      AND (CAST(:c_ts AS timestamptz) IS NULL
           OR (coalesce(p.published_at, p.created_at), p.post_id) < (:c_ts, CAST(:c_id AS uuid)))
    ORDER BY coalesce(p.published_at, p.created_at) DESC, p.post_id DESC
    LIMIT :limit
) p ON true
WHERE a.user_id = :user_id AND a.is_active
ORDER BY p.c_ts DESC, p.c_id DESC
"""

# Readable 409s for the constraints these statements can violate.
_TAKEN_USERNAME = ("username", "this username is already taken")
_TAKEN_EMAIL = ("email", "this email address is already registered")
CONSTRAINT_MESSAGES.update(
    {
        "users_pkey": ("user_id", "you are already registered; a user registers once"),
        "users_username_key": _TAKEN_USERNAME,
        "users_username_lower_key": _TAKEN_USERNAME,
        "users_email_key": _TAKEN_EMAIL,
        "users_email_lower_key": _TAKEN_EMAIL,
    }
)
