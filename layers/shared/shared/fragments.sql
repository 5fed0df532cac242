-- SQL fragments more than one function includes ({{name}} in a function's .sql file; see
-- shared/statements.py). `u` is a users row.

-- name: author_json
-- The author embedded in posts and comments (shared.schemas.AuthorSummary).
json_build_object('user_id', u.user_id, 'username', u.username, 'first_name', u.first_name,
    'last_name', u.last_name, 'profile_image_url', u.profile_image_url)
