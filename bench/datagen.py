"""Repeatable bulk data in SQL (generate_series + setseed), sized by arguments.

Secondary indexes are dropped before the load and rebuilt after it (the usual
bulk-load recipe: one sorted build instead of millions of incremental inserts);
constraint indexes stay. Ids are derived from counters (md5 -> uuid), so the
same size and seed always produce the same rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

TABLES = ("users", "user_profiles", "posts", "comments", "post_likes", "comment_likes")


@dataclass(frozen=True)
class Size:
    users: int
    posts: int
    comments: int
    seed: float = 0.42

    @classmethod
    def for_posts(cls, posts: int) -> Size:
        return cls(users=max(posts // 10, 100), posts=posts, comments=posts * 2)


USERS = """
INSERT INTO users (user_id, email, username, password_hash, first_name, last_name, is_verified, is_active,
                   created_at, last_login_at)
SELECT md5('u' || g)::uuid, 'user' || g || '@bench.example', 'user_' || g, NULL,
       (ARRAY['Taro','Hanako','Ken','Yui','Sora','Mei','Riku','Aoi'])[1 + g % 8],
       (ARRAY['Tanaka','Sato','Suzuki','Takahashi','Ito','Watanabe'])[1 + g % 6] || g,
       random() < 0.35, random() < 0.97,
       now() - random() * interval '3 years',
       CASE WHEN random() < 0.5 THEN now() - random() * interval '60 days' END
FROM generate_series(1, :n) g
"""

# Two users in three have a profile.
PROFILES = """
INSERT INTO user_profiles (user_id, bio, location, website_url, social_links, preferences)
SELECT md5('u' || g)::uuid, 'Writes about PostgreSQL and serverless (' || g || ').',
       (ARRAY['Tokyo','Osaka','Sapporo','Fukuoka'])[1 + g % 4], 'https://example.com/u/' || g,
       '{"github": "https://github.com/example"}'::jsonb, '{"theme": "dark"}'::jsonb
FROM generate_series(1, :n) g
WHERE g % 3 <> 0
"""

POSTS = """
INSERT INTO posts (post_id, user_id, title, content, excerpt, slug, status, tags, metadata,
                   view_count, like_count, comment_count, published_at, created_at)
SELECT md5('p' || g)::uuid,
       md5('u' || (1 + (g::bigint * 7919) % :users))::uuid,
       'Notes on ' || (ARRAY['indexes','keyset pagination','RDS Proxy','vacuum','TLS','Lambda cold starts',
                             'query plans','replication'])[1 + g % 8] || ' #' || g,
       repeat('PostgreSQL keeps rows in heap pages; indexes point at them. ', 6),
       'A short note about part ' || g,
       'bench-post-' || g,
       CASE WHEN r < 0.85 THEN 'published' WHEN r < 0.95 THEN 'draft' ELSE 'archived' END,
       ARRAY[(ARRAY['postgresql','aws','python','performance','security','serverless'])[1 + g % 6],
             (ARRAY['tips','howto','deep-dive','news'])[1 + g % 4]],
       '{}'::jsonb,
       (random() * 5000)::int, (random() * 300)::int, 0,
       CASE WHEN r < 0.95 THEN now() - (g::float / :n) * interval '1000 days' END,
       now() - (g::float / :n) * interval '1000 days' - interval '1 hour'
FROM (SELECT g, random() AS r FROM generate_series(1, :n) g) s
"""

# Top-level comments first; replies (one in four) point at a top-level comment of the same post.
# thread_key is built as the comments trigger builds it (sql/migrations/0005).
TOP_COMMENTS = """
INSERT INTO comments (comment_id, post_id, user_id, content, status, like_count, created_at, depth, thread_key)
SELECT id, post_id, user_id, 'Thanks for writing this up (' || g || ').',
       CASE WHEN random() < 0.95 THEN 'active' WHEN random() < 0.5 THEN 'hidden' ELSE 'deleted' END,
       (random() * 20)::int, created_at, 0,
       comment_thread_segment(created_at, id)
FROM (
    SELECT g, md5('c' || g)::uuid AS id, md5('p' || (1 + (g::bigint * 104729) % :posts))::uuid AS post_id,
           md5('u' || (1 + (g::bigint * 15485863) % :users))::uuid AS user_id,
           now() - (g::float / :n) * interval '900 days' AS created_at
    FROM generate_series(1, :n) g
) s
"""

REPLIES = """
INSERT INTO comments (comment_id, post_id, user_id, parent_comment_id, content, status, like_count, created_at,
                      depth, thread_key)
SELECT md5('r' || s.g)::uuid, p.post_id, md5('u' || (1 + (s.g::bigint * 32452843) % :users))::uuid, p.comment_id,
       'Good point (' || s.g || ').', 'active', (random() * 5)::int, p.created_at + interval '1 hour', 1,
       p.thread_key || comment_thread_segment(p.created_at + interval '1 hour', md5('r' || s.g)::uuid)
FROM generate_series(1, :n) s(g)
JOIN comments p ON p.comment_id = md5('c' || (1 + (s.g::bigint * 7) % :top))::uuid
"""

COMMENT_COUNTS = """
UPDATE posts p SET comment_count = c.n
FROM (SELECT post_id, count(*) AS n FROM comments WHERE status = 'active' GROUP BY post_id) c
WHERE c.post_id = p.post_id
"""

SECONDARY_INDEXES = """
SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition
FROM pg_index i
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = 'public' AND t.relname = ANY(:tables)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
"""


def generate(conn: Any, size: Size, log: Any = print) -> dict[str, float]:
    """Load `size` rows into an empty, migrated database as the owner. Returns timings (s)."""
    timings: dict[str, float] = {}

    def step(name: str, sql: str, **params: Any) -> None:
        t = time.perf_counter()
        conn.run(sql, **params)
        timings[name] = round(time.perf_counter() - t, 2)
        log(f"  {name}: {timings[name]} s")

    conn.run("SELECT setseed(:s)", s=size.seed)
    indexes = conn.run(SECONDARY_INDEXES, tables=list(TABLES))
    for name, _ in indexes:
        conn.run("DROP INDEX " + name)  # names come from the catalog
    conn.run("ALTER TABLE comments DISABLE TRIGGER USER")  # the loader fills thread_key itself
    try:
        step("users", USERS, n=size.users)
        step("profiles", PROFILES, n=size.users)
        step("posts", POSTS, n=size.posts, users=size.users)
        top = size.comments - size.comments // 4
        replies = size.comments - top
        step("comments", TOP_COMMENTS, n=top, posts=size.posts, users=size.users)
        step("replies", REPLIES, n=replies, top=top, users=size.users)
        step("comment_counts", COMMENT_COUNTS)
    finally:
        conn.run("ALTER TABLE comments ENABLE TRIGGER USER")
    t = time.perf_counter()
    for _, definition in indexes:
        conn.run(definition)
    timings["indexes"] = round(time.perf_counter() - t, 2)
    log(f"  indexes: {timings['indexes']} s")
    step("analyze", "ANALYZE")
    return timings
