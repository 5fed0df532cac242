-- Development data only. Likes on the published sample posts; like_count is
-- recomputed from post_likes, so the file can be applied again safely.
INSERT INTO post_likes (post_id, user_id, created_at) VALUES
('10000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000001', now() - interval '40 hours'),
('10000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000003', now() - interval '30 hours'),
('10000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000002', now() - interval '20 hours')
ON CONFLICT DO NOTHING;

UPDATE posts SET like_count = (SELECT count(*) FROM post_likes l WHERE l.post_id = posts.post_id)
 WHERE like_count IS DISTINCT FROM (SELECT count(*) FROM post_likes l WHERE l.post_id = posts.post_id);
