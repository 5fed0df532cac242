-- 1. An account's e-mail address is the one its identity provider verified, or
--    none. A token whose `email_verified` claim is not "true" (or an access
--    token, which carries no e-mail) registers without an address, so that an
--    address nobody proved to own can never claim it (users_email_lower_key
--    ignores NULLs: accounts without an address do not collide). The verified
--    address arrives later through the post-authentication trigger.
ALTER TABLE users ALTER COLUMN email DROP NOT NULL;

-- 2. POST /posts/{post_id}/views counts one view per viewer, post and window.
--    A viewer is a SHA-256 digest (of the source IP and user agent, with the
--    post id), never the address itself. A mark older than the window no
--    longer blocks a count; the counting statement sweeps a few expired marks
--    each time (idx_post_view_marks_counted_at), so the table holds about one
--    window's worth of views.
CREATE TABLE post_view_marks (
    post_id UUID NOT NULL REFERENCES posts(post_id) ON DELETE CASCADE,
    viewer BYTEA NOT NULL CHECK (octet_length(viewer) = 32),
    counted_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (post_id, viewer)
);

CREATE INDEX idx_post_view_marks_counted_at ON post_view_marks (counted_at);
