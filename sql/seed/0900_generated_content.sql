-- Development data only: generated content so lists, search, pagination and the
-- popularity ranking have something to show (200 users, 1,000 posts with tags,
-- 3,000 threaded comments, likes on posts and comments).
--
-- Deterministic: ids are md5 of a counter (shaped as version-4 UUIDs), and the
-- other values come from random() after a fixed setseed(), so every machine gets
-- the same rows (for a given PostgreSQL major version). Idempotent: ON CONFLICT
-- DO NOTHING everywhere and counters recomputed from the rows, so `make dev` can
-- apply it on every start. The file runs as one transaction (one simple query);
-- when its last rows are already there, every statement is skipped, which keeps
-- the start of `make dev` fast.
--
-- It never touches the hand-written sample rows (0001-0003): generated users
-- write, comment and like only generated posts, so the sample events and the
-- tests that count the sample users' posts, likes and comments are unaffected.
-- Published dates are at least two days old: a post published today leads
-- GET /posts/popular?days=1 (see the README walkthrough).

SELECT setseed(0.4242),
       set_config('blog_seed.pending',
                  CASE WHEN EXISTS (SELECT 1 FROM comments
                                    WHERE comment_id = overlay(overlay(md5('blog-seed-comment-3000') PLACING '4' FROM 13)
                                                               PLACING '8' FROM 17)::uuid)
                       THEN 'no' ELSE 'yes' END,
                  true);

-- ---------------------------------------------------------------- users (200)
INSERT INTO users (user_id, email, username, first_name, last_name, phone_number, date_of_birth,
                   profile_image_url, is_active, is_verified, created_at, updated_at, last_login_at)
SELECT overlay(overlay(md5('blog-seed-user-' || i) PLACING '4' FROM 13) PLACING '8' FROM 17)::uuid,
       format('reader%s@example.org', lpad(i::text, 3, '0')),
       format('reader_%s', lpad(i::text, 3, '0')),
       (ARRAY['Aiko', 'Ben', 'Chiara', 'Daisuke', 'Elena', 'Farid', 'Grace', 'Hiro', 'Ines', 'Jun',
              'Kenji', 'Lena', 'Mei', 'Noah', 'Olga', 'Priya', 'Quentin', 'Rin', 'Sofia', 'Taro'])[1 + i % 20],
       (ARRAY['Suzuki', 'Martin', 'Rossi', 'Kato', 'Garcia', 'Nakamura', 'Novak', 'Sato', 'Okafor',
              'Yamada', 'Schmidt', 'Ito', 'Silva'])[1 + (i * 7) % 13],
       CASE WHEN random() < 0.3 THEN format('+81 90 %s %s', lpad((i * 37 % 10000)::text, 4, '0'),
                                                         lpad((i * 91 % 10000)::text, 4, '0')) END,
       CASE WHEN random() < 0.5 THEN date '1960-01-01' + (random() * 15000)::int END,
       CASE WHEN random() < 0.4 THEN format('https://img.example.org/avatars/%s.png', i) END,
       i % 40 <> 0,                                   -- five inactive accounts
       random() < 0.6,
       g.created_at, g.created_at,
       CASE WHEN random() < 0.8 THEN now() - make_interval(secs => random() * 60 * 86400) END
FROM generate_series(1, 200) AS i
CROSS JOIN LATERAL (SELECT now() - make_interval(days => 30 + (random() * 700)::int,
                                                 secs => random() * 86400) AS created_at) g
WHERE current_setting('blog_seed.pending') = 'yes'
ON CONFLICT DO NOTHING;

-- A profile for every other user.
INSERT INTO user_profiles (user_id, bio, location, website_url, social_links, preferences)
SELECT overlay(overlay(md5('blog-seed-user-' || i) PLACING '4' FROM 13) PLACING '8' FROM 17)::uuid,
       (ARRAY['Writes about databases.', 'Serverless in production.', 'Backend engineer, coffee drinker.',
              'Learning PostgreSQL one index at a time.', 'Cloud architect.', 'Reads more than writes.'])[1 + i % 6],
       (ARRAY['Tokyo', 'Osaka', 'Berlin', 'Lisbon', 'Toronto', 'Nairobi', 'Seoul', 'Lyon'])[1 + i % 8],
       CASE WHEN i % 4 = 0 THEN format('https://reader%s.example.org', lpad(i::text, 3, '0')) END,
       jsonb_build_object('github', format('reader%s', i)),
       jsonb_build_object('theme', CASE WHEN i % 3 = 0 THEN 'dark' ELSE 'light' END)
FROM generate_series(2, 200, 2) AS i
WHERE current_setting('blog_seed.pending') = 'yes'
ON CONFLICT DO NOTHING;

-- -------------------------------------------------------------- posts (1,000)
-- 85 % published (2 to 700 days ago), 10 % drafts, 5 % archived; one to three
-- tags from a small vocabulary; view counts skewed (a few posts get most views).
INSERT INTO posts (post_id, user_id, title, content, excerpt, slug, status, tags, metadata,
                   view_count, published_at, created_at, updated_at)
SELECT p.post_id, p.user_id, p.title,
       p.title || E'.\n\n' || repeat(
           (ARRAY['An index is a promise the planner can keep. ',
                  'Measure first, then change one thing at a time. ',
                  'Every round trip costs more than the query it carries. ',
                  'Keyset pagination seeks; OFFSET reads and throws away. ',
                  'A connection pool is a queue with opinions. '])[1 + p.i % 5], 3 + p.i % 6),
       CASE WHEN p.i % 7 <> 0 THEN 'Notes on ' || lower(p.topic) || '.' END,
       format('gen-%s-%s', p.i, regexp_replace(lower(p.title), '[^a-z0-9]+', '-', 'g')),
       p.status, p.tags,
       jsonb_build_object('reading_minutes', 2 + p.i % 12, 'generated', true),
       CASE WHEN p.status = 'draft' THEN 0 ELSE (power(random(), 4) * 5000)::int END,
       p.published_at,
       coalesce(p.published_at, now() - make_interval(days => 1 + p.i % 90)) - interval '3 hours',
       coalesce(p.published_at, now() - make_interval(days => 1 + p.i % 90))
FROM (
    SELECT i,
           overlay(overlay(md5('blog-seed-post-' || i) PLACING '4' FROM 13) PLACING '8' FROM 17)::uuid AS post_id,
           overlay(overlay(md5('blog-seed-user-' || (1 + (power(random(), 1.5) * 199)::int)) PLACING '4' FROM 13)
                   PLACING '8' FROM 17)::uuid AS user_id,
           t.topic,
           format('%s %s', (ARRAY['Notes on', 'A practical guide to', 'Lessons from', 'Rethinking',
                                  'Five mistakes in', 'Measuring', 'Getting started with', 'Debugging'])[1 + i % 8],
                  t.topic) AS title,
           s.status,
           CASE WHEN s.status <> 'draft'
                THEN now() - make_interval(days => 2 + (random() * 698)::int, secs => random() * 86400) END
               AS published_at,
           ARRAY(SELECT DISTINCT tag FROM unnest(ARRAY[
                     t.tag,
                     CASE WHEN i % 2 = 0 THEN (ARRAY['postgresql', 'aws', 'python', 'serverless', 'performance',
                                                    'security', 'testing', 'devops'])[1 + i % 8] END,
                     CASE WHEN i % 3 = 0 THEN (ARRAY['beginner', 'advanced', 'opinion', 'howto'])[1 + i % 4] END
                 ]) AS tag WHERE tag IS NOT NULL ORDER BY tag) AS tags
    FROM generate_series(1, 1000) AS i
    CROSS JOIN LATERAL (
        SELECT (ARRAY['Index Design', 'Connection Pooling', 'Keyset Pagination', 'Lambda Cold Starts',
                      'Query Plans', 'Row-Level Locks', 'Full-Text Search', 'Schema Migrations',
                      'JSONB Columns', 'Read Replicas', 'Secrets Rotation', 'Observability',
                      'API Design', 'Load Testing', 'Vacuum Tuning'])[1 + i % 15] AS topic,
               (ARRAY['postgresql', 'postgresql', 'postgresql', 'serverless', 'postgresql', 'postgresql',
                      'search', 'migrations', 'postgresql', 'aws', 'security', 'observability', 'api',
                      'performance', 'postgresql'])[1 + i % 15] AS tag
    ) t
    CROSS JOIN LATERAL (
        SELECT CASE WHEN i % 20 = 0 THEN 'archived' WHEN i % 10 = 3 THEN 'draft' ELSE 'published' END AS status
    ) s
    WHERE current_setting('blog_seed.pending') = 'yes'
) p
ON CONFLICT DO NOTHING;

-- ---------------------------------------------------------- comments (3,000)
-- 2,000 top-level comments on published generated posts (popular posts get
-- more), 700 replies to them and 300 replies to replies. The comments trigger
-- fills depth and thread_key.
WITH pub AS (
    SELECT post_id, published_at, row_number() OVER (ORDER BY post_id) AS rn, count(*) OVER () AS n
    FROM posts
    WHERE status = 'published'
      AND post_id IN (SELECT overlay(overlay(md5('blog-seed-post-' || i) PLACING '4' FROM 13) PLACING '8' FROM 17)::uuid
                      FROM generate_series(1, 1000) AS i)
), pick AS (
    SELECT i, 1 + floor(power(random(), 1.5) * (SELECT max(n) FROM pub))::int AS rn,
           1 + (random() * 199)::int AS author, random() AS age, random() AS fate
    FROM generate_series(1, 2000) AS i
)
INSERT INTO comments (comment_id, post_id, user_id, parent_comment_id, content, status, created_at)
SELECT overlay(overlay(md5('blog-seed-comment-' || k.i) PLACING '4' FROM 13) PLACING '8' FROM 17)::uuid,
       pub.post_id,
       overlay(overlay(md5('blog-seed-user-' || k.author) PLACING '4' FROM 13) PLACING '8' FROM 17)::uuid,
       NULL,
       (ARRAY['Great write-up, thanks!', 'Did you measure this on a larger table?',
              'We hit the same problem last year.', 'Could you share the query plan?',
              'This saved me an afternoon.', 'I disagree with the second point.',
              'How does this behave behind RDS Proxy?', 'Bookmarked.'])[1 + k.i % 8],
       CASE WHEN k.fate < 0.03 THEN 'hidden' WHEN k.fate < 0.05 THEN 'deleted' ELSE 'active' END,
       pub.published_at + (now() - pub.published_at) * k.age
FROM pick k JOIN pub USING (rn)
WHERE current_setting('blog_seed.pending') = 'yes'
ON CONFLICT DO NOTHING;

WITH parents AS (
    SELECT comment_id, post_id, created_at, row_number() OVER (ORDER BY comment_id) AS rn, count(*) OVER () AS n
    FROM comments
    WHERE status = 'active' AND depth = 0
      AND comment_id IN (SELECT overlay(overlay(md5('blog-seed-comment-' || i) PLACING '4' FROM 13) PLACING '8' FROM 17)::uuid
                         FROM generate_series(1, 2000) AS i)
), pick AS (
    SELECT i, 1 + floor(random() * (SELECT max(n) FROM parents))::int AS rn,
           1 + (random() * 199)::int AS author, random() AS age
    FROM generate_series(2001, 2700) AS i
)
INSERT INTO comments (comment_id, post_id, user_id, parent_comment_id, content, status, created_at)
SELECT overlay(overlay(md5('blog-seed-comment-' || k.i) PLACING '4' FROM 13) PLACING '8' FROM 17)::uuid,
       parents.post_id,
       overlay(overlay(md5('blog-seed-user-' || k.author) PLACING '4' FROM 13) PLACING '8' FROM 17)::uuid,
       parents.comment_id,
       (ARRAY['Agreed.', 'Yes, on 10M rows the difference was even larger.', 'Good question, same here.',
              'The plan is in the post now.', 'Thanks for the pointer!'])[1 + k.i % 5],
       'active',
       parents.created_at + (now() - parents.created_at) * k.age
FROM pick k JOIN parents USING (rn)
WHERE current_setting('blog_seed.pending') = 'yes'
ON CONFLICT DO NOTHING;

WITH parents AS (
    SELECT comment_id, post_id, created_at, row_number() OVER (ORDER BY comment_id) AS rn, count(*) OVER () AS n
    FROM comments
    WHERE status = 'active' AND depth = 1
      AND comment_id IN (SELECT overlay(overlay(md5('blog-seed-comment-' || i) PLACING '4' FROM 13) PLACING '8' FROM 17)::uuid
                         FROM generate_series(2001, 2700) AS i)
), pick AS (
    SELECT i, 1 + floor(random() * (SELECT max(n) FROM parents))::int AS rn,
           1 + (random() * 199)::int AS author, random() AS age
    FROM generate_series(2701, 3000) AS i
)
INSERT INTO comments (comment_id, post_id, user_id, parent_comment_id, content, status, created_at)
SELECT overlay(overlay(md5('blog-seed-comment-' || k.i) PLACING '4' FROM 13) PLACING '8' FROM 17)::uuid,
       parents.post_id,
       overlay(overlay(md5('blog-seed-user-' || k.author) PLACING '4' FROM 13) PLACING '8' FROM 17)::uuid,
       parents.comment_id,
       (ARRAY['Following this thread.', 'Same result on PostgreSQL 17.', 'Nice.'])[1 + k.i % 3],
       'active',
       parents.created_at + (now() - parents.created_at) * k.age
FROM pick k JOIN parents USING (rn)
WHERE current_setting('blog_seed.pending') = 'yes'
ON CONFLICT DO NOTHING;

-- ------------------------------------------------------------------- likes
-- Up to 3,000 post likes (skewed to the same popular posts) and 1,500 comment
-- likes, by active generated users; duplicates fall away on the primary keys.
WITH pub AS (
    SELECT post_id, published_at, row_number() OVER (ORDER BY post_id) AS rn, count(*) OVER () AS n
    FROM posts
    WHERE status = 'published'
      AND post_id IN (SELECT overlay(overlay(md5('blog-seed-post-' || i) PLACING '4' FROM 13) PLACING '8' FROM 17)::uuid
                      FROM generate_series(1, 1000) AS i)
), pick AS (
    SELECT 1 + floor(power(random(), 1.5) * (SELECT max(n) FROM pub))::int AS rn,
           1 + (random() * 199)::int AS fan, random() AS age
    FROM generate_series(1, 3000)
)
INSERT INTO post_likes (post_id, user_id, created_at)
SELECT pub.post_id,
       overlay(overlay(md5('blog-seed-user-' || k.fan) PLACING '4' FROM 13) PLACING '8' FROM 17)::uuid,
       pub.published_at + (now() - pub.published_at) * k.age
FROM pick k JOIN pub USING (rn)
WHERE k.fan % 40 <> 0 AND current_setting('blog_seed.pending') = 'yes'
ON CONFLICT DO NOTHING;

WITH liked AS (
    SELECT comment_id, created_at, row_number() OVER (ORDER BY comment_id) AS rn, count(*) OVER () AS n
    FROM comments
    WHERE status = 'active'
      AND comment_id IN (SELECT overlay(overlay(md5('blog-seed-comment-' || i) PLACING '4' FROM 13) PLACING '8' FROM 17)::uuid
                         FROM generate_series(1, 3000) AS i)
), pick AS (
    SELECT 1 + floor(power(random(), 2) * (SELECT max(n) FROM liked))::int AS rn,
           1 + (random() * 199)::int AS fan, random() AS age
    FROM generate_series(1, 1500)
)
INSERT INTO comment_likes (comment_id, user_id, created_at)
SELECT liked.comment_id,
       overlay(overlay(md5('blog-seed-user-' || k.fan) PLACING '4' FROM 13) PLACING '8' FROM 17)::uuid,
       liked.created_at + (now() - liked.created_at) * k.age
FROM pick k JOIN liked USING (rn)
WHERE k.fan % 40 <> 0 AND current_setting('blog_seed.pending') = 'yes'
ON CONFLICT DO NOTHING;

-- -------------------------------------------------------- counters from rows
WITH gen AS (
    SELECT overlay(overlay(md5('blog-seed-post-' || i) PLACING '4' FROM 13) PLACING '8' FROM 17)::uuid AS post_id
    FROM generate_series(1, 1000) AS i
), counted AS (
    SELECT gen.post_id, coalesce(l.n, 0)::int AS likes, coalesce(c.n, 0)::int AS comments
    FROM gen
    LEFT JOIN (SELECT post_id, count(*) AS n FROM post_likes GROUP BY post_id) l USING (post_id)
    LEFT JOIN (SELECT post_id, count(*) AS n FROM comments WHERE status = 'active' GROUP BY post_id) c USING (post_id)
)
UPDATE posts p
SET like_count = counted.likes, comment_count = counted.comments
FROM counted
WHERE current_setting('blog_seed.pending') = 'yes'
  AND p.post_id = counted.post_id
  AND (p.like_count, p.comment_count) IS DISTINCT FROM (counted.likes, counted.comments);

WITH gen AS (
    SELECT overlay(overlay(md5('blog-seed-comment-' || i) PLACING '4' FROM 13) PLACING '8' FROM 17)::uuid AS comment_id
    FROM generate_series(1, 3000) AS i
), counted AS (
    SELECT gen.comment_id, coalesce(l.n, 0)::int AS likes
    FROM gen
    LEFT JOIN (SELECT comment_id, count(*) AS n FROM comment_likes GROUP BY comment_id) l USING (comment_id)
)
UPDATE comments c
SET like_count = counted.likes
FROM counted
WHERE current_setting('blog_seed.pending') = 'yes'
  AND c.comment_id = counted.comment_id AND c.like_count IS DISTINCT FROM counted.likes;
