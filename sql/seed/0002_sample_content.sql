-- Development data only. Fixed ids: the sample events in events/ refer to them.
INSERT INTO user_profiles (user_id, bio, location, website_url, social_links, preferences) VALUES
('00000000-0000-4000-8000-000000000002', 'PostgreSQL と サーバーレスについて書いています。', 'Tokyo', 'https://example.com/tanaka', '{"github": "tanaka"}', '{"theme": "dark"}'),
('00000000-0000-4000-8000-000000000003', 'Data engineer. Writes about indexes.', 'Osaka', NULL, '{}', '{}')
ON CONFLICT DO NOTHING;

INSERT INTO posts (post_id, user_id, title, content, excerpt, slug, status, tags, metadata, view_count, published_at) VALUES
('10000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002',
 'Keyset pagination in PostgreSQL', 'OFFSET reads and throws away every row before the page. Keyset pagination seeks.',
 'Why OFFSET gets slower with every page.', 'keyset-pagination-in-postgresql', 'published',
 ARRAY['postgresql', 'performance'], '{"reading_minutes": 4}', 120, now() - interval '2 days'),
('10000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000003',
 'RDS Proxy and connection pinning', 'SET, temporary tables and named prepared statements pin a session.',
 'What pins a proxy session and how to avoid it.', 'rds-proxy-and-connection-pinning', 'published',
 ARRAY['aws', 'postgresql'], '{"reading_minutes": 6}', 80, now() - interval '1 day'),
('10000000-0000-4000-8000-000000000003', '00000000-0000-4000-8000-000000000002',
 'Draft: partial indexes', 'Work in progress.', NULL, 'draft-partial-indexes', 'draft',
 ARRAY['postgresql'], '{}', 0, NULL),
('10000000-0000-4000-8000-000000000004', '00000000-0000-4000-8000-000000000003',
 'An archived note', 'Old news.', NULL, 'an-archived-note', 'archived',
 ARRAY['misc'], '{}', 3, now() - interval '90 days')
ON CONFLICT DO NOTHING;

INSERT INTO comments (comment_id, post_id, user_id, parent_comment_id, content, status, created_at) VALUES
('20000000-0000-4000-8000-000000000001', '10000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000003', NULL,
 'Great write-up. Does it work with descending sorts?', 'active', now() - interval '30 hours'),
('20000000-0000-4000-8000-000000000002', '10000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002', '20000000-0000-4000-8000-000000000001',
 'Yes: compare the row value (published_at, post_id) in the same direction as the index.', 'active', now() - interval '29 hours'),
('20000000-0000-4000-8000-000000000003', '10000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000003', NULL,
 'Buy cheap watches!!!', 'hidden', now() - interval '20 hours')
ON CONFLICT DO NOTHING;

UPDATE posts SET comment_count = (SELECT count(*) FROM comments c WHERE c.post_id = posts.post_id AND c.status = 'active');
