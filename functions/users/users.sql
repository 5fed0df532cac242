-- The users API's statements (loaded by users_queries.py through shared/statements.py). `u` is a users row.

-- name: public_fields
    'user_id', u.user_id,
    'username', u.username,
    'first_name', u.first_name,
    'last_name', u.last_name,
    'profile_image_url', u.profile_image_url,
    'is_verified', u.is_verified,
    'created_at', u.created_at

-- name: private_fields
-- Only for the user themself or an administrator. Never password_hash.
{{public_fields}},
    'email', u.email,
    'phone_number', u.phone_number,
    'date_of_birth', u.date_of_birth,
    'is_active', u.is_active,
    'updated_at', u.updated_at,
    'last_login_at', u.last_login_at

-- name: user_record
json_build_object(
{{private_fields}})

-- name: profile_public_fields
-- Alias pr = user_profiles. Preferences are a user's own settings: not public.
    'bio', pr.bio,
    'location', pr.location,
    'website_url', pr.website_url,
    'social_links', pr.social_links,
    'created_at', pr.created_at,
    'updated_at', pr.updated_at

-- name: profile_private_fields
{{profile_public_fields}},
    'preferences', pr.preferences

-- name: search_match
-- Search (sql/migrations/0010): a username by prefix (idx_users_username_prefix), or a name
-- through the grams of users_name_key (idx_users_name_grams), rechecked with strpos on the same
-- key. The expressions are spelled exactly as indexed, or the planner cannot use the indexes;
-- the two arms become a BitmapOr.
(lower(u.username) LIKE CAST(:username_prefix AS text) OR (search_grams(users_name_key(u.first_name, u.last_name)) @> search_query_grams(CAST(:name AS text)) AND strpos(users_name_key(u.first_name, u.last_name), lower(CAST(:name AS text))) > 0))

-- name: release_email
-- A verified address belongs to the account that proved it last: any other row holding it (a
-- deactivated account, or one whose owner has since moved to another address in the user pool
-- and not signed in again) gives it up, in the same transaction as the statement that stores
-- it. Only a verified address (:email NULL otherwise) ever reaches this statement, and only for
-- a registered caller, or one registering in the same transaction.
UPDATE users o SET email = NULL
WHERE CAST(:email AS text) IS NOT NULL
  AND lower(o.email) = lower(CAST(:email AS text))
  AND o.user_id <> :user_id

-- name: release_email_of_registered
-- The same for a sign-in: only when the signer is a registered user.
{{release_email}}
  AND EXISTS (SELECT 1 FROM users s WHERE s.user_id = :user_id)

-- name: register_user
INSERT INTO users AS u (user_id, email, username, first_name, last_name, phone_number, date_of_birth, profile_image_url)
VALUES (:user_id, :email, :username, :first_name, :last_name, :phone_number, :date_of_birth, :profile_image_url)
RETURNING {{user_record}} AS body

-- name: registration_retry
-- The record of a registration already made by this very request (a retry after a lost reply).
SELECT {{user_record}} AS body FROM users u
WHERE u.user_id = :user_id AND u.is_active
  AND lower(u.username) = lower(:username)
  AND lower(u.email) IS NOT DISTINCT FROM lower(CAST(:email AS text))

-- name: list_users
-- Optional filters are written `(CAST(:x AS type) IS NULL OR ...)`: each request's unnamed
-- statement is planned with its actual values, so the planner folds the branch that does not
-- apply away and the remaining condition can use its index.
SELECT json_build_object(
{{public_fields}},
           'published_posts', (SELECT count(*) FROM posts p WHERE p.user_id = u.user_id AND p.status = 'published')
       ) AS item,
       u.created_at AS c_ts,
       u.user_id AS c_id
FROM users u
WHERE u.is_active
  AND (CAST(:verified AS boolean) IS NULL OR u.is_verified = :verified)
  AND (CAST(:name AS text) IS NULL OR {{search_match}})
  AND (CAST(:c_ts AS timestamptz) IS NULL OR (u.created_at, u.user_id) < (:c_ts, CAST(:c_id AS uuid)))
ORDER BY u.created_at DESC, u.user_id DESC
LIMIT :limit

-- name: get_user_public
-- A user with profile and post statistics, as anyone may see them: counts of published posts only
-- (how many drafts someone keeps is theirs to know; GET /me has the total).
SELECT json_build_object(
{{public_fields}},
    'profile', CASE WHEN pr.user_id IS NULL THEN NULL ELSE json_build_object(
{{profile_public_fields}}) END,
    'stats', json_build_object(
        'total_posts', s.published_posts,
        'published_posts', s.published_posts,
        'total_views', coalesce(s.total_views, 0),
        'total_likes', coalesce(s.total_likes, 0),
        'last_published_at', s.last_published_at)
) AS body
FROM users u
JOIN user_post_stats s ON s.user_id = u.user_id
LEFT JOIN user_profiles pr ON pr.user_id = u.user_id
WHERE u.user_id = :user_id AND u.is_active

-- name: get_user_private
-- The same for the user themself or an administrator (e-mail, phone, birth date, preferences).
SELECT json_build_object(
{{private_fields}},
    'profile', CASE WHEN pr.user_id IS NULL THEN NULL ELSE json_build_object(
{{profile_private_fields}}) END,
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

-- name: get_user_by_email
SELECT {{user_record}} AS body FROM users u WHERE lower(u.email) = lower(:email) AND u.is_active

-- name: user_statistics
SELECT json_build_object(
    'total_users', count(*),
    'verified_users', count(*) FILTER (WHERE is_verified),
    'active_users', count(*) FILTER (WHERE last_login_at > now() - interval '30 days'),
    'new_users_week', count(*) FILTER (WHERE created_at > now() - interval '7 days')
) AS body
FROM users
WHERE is_active

-- name: update_user
UPDATE users AS u SET
    first_name = CASE WHEN :set_first_name THEN :first_name ELSE u.first_name END,
    last_name = CASE WHEN :set_last_name THEN :last_name ELSE u.last_name END,
    phone_number = CASE WHEN :set_phone_number THEN :phone_number ELSE u.phone_number END,
    profile_image_url = CASE WHEN :set_profile_image_url THEN :profile_image_url ELSE u.profile_image_url END,
    date_of_birth = CASE WHEN :set_date_of_birth THEN :date_of_birth ELSE u.date_of_birth END,
    is_verified = CASE WHEN :set_is_verified THEN :is_verified ELSE u.is_verified END,
    is_active = CASE WHEN :set_is_active THEN :is_active ELSE u.is_active END
WHERE u.user_id = :user_id AND (u.is_active OR :as_admin)
RETURNING {{user_record}} AS body

-- name: deactivate_user
UPDATE users SET is_active = false
WHERE user_id = :user_id AND is_active
RETURNING user_id

-- name: update_last_login
-- The seed's update_last_login (Cognito post-authentication trigger): last_login_at, and the
-- address Cognito has verified for this user when it is given (:email NULL keeps the stored
-- one); release_email_of_registered runs first in the same transaction.
UPDATE users AS u
SET last_login_at = CURRENT_TIMESTAMP,
    email = coalesce(CAST(:email AS text), u.email)
WHERE u.user_id = :user_id
RETURNING u.user_id

-- name: get_profile
SELECT json_build_object('user_id', u.user_id, 'username', u.username,
{{profile_public_fields}}) AS body,
       pr.user_id IS NOT NULL AS has_profile
FROM users u
LEFT JOIN user_profiles pr ON pr.user_id = u.user_id
WHERE u.user_id = :user_id AND u.is_active

-- name: upsert_profile
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
RETURNING json_build_object('user_id', pr.user_id,
{{profile_private_fields}}) AS body,
          (pr.xmax = 0) AS created

-- name: user_posts
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
