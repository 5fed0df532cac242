-- Development data only: Japanese, English and mixed posts and names, so that
-- `make dev` shows search in both languages (README, "Search"):
--   GET /users?q=田中         user1 (田中 太郎, 0001) and 田中 美咲 below
--   GET /users?q=鈴木 一郎     a full name with a space; 鈴木一郎 and 一郎 find him too
--   GET /posts?q=データベース   titles first, then posts that say it only in the content
--   GET /posts?q=設計          a two-character query
--   GET /posts?q=vacuum        English
--   GET /posts/by-slug/postgresqlのインデックス設計入門   (or percent-encoded)
-- The posts belong to the users created here, never to the sample users of
-- 0001-0003, whose post counts the sample events and tests rely on.
INSERT INTO users (user_id, email, username, password_hash, first_name, last_name, is_verified) VALUES
('00000000-0000-4000-8000-000000000010', 'suzuki@example.com', 'suzuki_ichiro', '$2b$12$Qx1Lm3Nb5Vc7Xz9As2Df4Gh6Jk8Lq0We2Rt4Yu6Io8Pa0Sd2Fg4Hj', '鈴木', '一郎', true),
('00000000-0000-4000-8000-000000000011', 'misaki@example.com', 'misaki_t', '$2b$12$Zx2Cv4Bn6Mq8Wr0Ty2Ui4Op6As8Df0Gh2Jk4Lz6Xc8Vb0Nm2Qw4Er', '田中', '美咲', true),
('00000000-0000-4000-8000-000000000012', 'emily@example.com', 'emily_clark', '$2b$12$Po9Iu7Yt5Re3Wq1Az9Sx7Dc5Fv3Gb1Hn9Jm7Kl5Zq3Xw1Ec9Rv7Tb', 'Emily', 'Clark', true),
('00000000-0000-4000-8000-000000000013', 'li.wei@example.com', 'li_wei', '$2b$12$Lk8Jh6Gf4Ds2Aq0Wz8Ex6Rc4Tv2Yb0Un8Im6Ok4Pl2Qa0Zs8Xd6Cf', '李', '伟', false)
ON CONFLICT DO NOTHING;

INSERT INTO posts (post_id, user_id, title, content, excerpt, slug, status, tags, metadata, view_count, published_at) VALUES
('10000000-0000-4000-8000-000000000101', '00000000-0000-4000-8000-000000000010',
 'PostgreSQLのインデックス設計入門',
 'B-treeインデックスは等価検索と範囲検索に向いています。GINインデックスは配列や全文検索に使います。データベースの書き込みコストも忘れずに測りましょう。',
 'どの列にどのインデックスを作るか。', 'postgresqlのインデックス設計入門', 'published',
 ARRAY['postgresql', 'japanese'], '{"reading_minutes": 5}', 40, now() - interval '3 days'),
('10000000-0000-4000-8000-000000000102', '00000000-0000-4000-8000-000000000011',
 'データベースのバックアップ戦略',
 '自動バックアップとスナップショットを組み合わせ、復元手順を定期的に試します。',
 'RDSの自動バックアップとスナップショット。', 'データベースのバックアップ戦略', 'published',
 ARRAY['aws', 'japanese'], '{}', 25, now() - interval '4 days'),
('10000000-0000-4000-8000-000000000103', '00000000-0000-4000-8000-000000000010',
 'Lambdaのコールドスタートを短くする',
 '初期化処理を減らし、接続はハンドラーの外で再利用します。データベースへの接続はRDS Proxy経由にします。',
 NULL, 'lambdaのコールドスタートを短くする', 'published',
 ARRAY['aws', 'japanese'], '{}', 18, now() - interval '5 days'),
('10000000-0000-4000-8000-000000000104', '00000000-0000-4000-8000-000000000011',
 '接続プールの設計',
 'コネクションプールの大きさはCPU数と待ち時間から決めます。',
 'プールの大きさの決め方。', '接続プールの設計', 'published',
 ARRAY['postgresql', 'japanese'], '{}', 12, now() - interval '6 days'),
('10000000-0000-4000-8000-000000000105', '00000000-0000-4000-8000-000000000013',
 '数据库索引设计',
 '为常用查询创建合适的索引，可以显著提高数据库性能。',
 NULL, '数据库索引设计', 'published',
 ARRAY['postgresql', 'chinese'], '{}', 7, now() - interval '7 days'),
('10000000-0000-4000-8000-000000000106', '00000000-0000-4000-8000-000000000012',
 'Tuning autovacuum for busy tables',
 'Autovacuum keeps tables small and statistics fresh. Lower the scale factor on large, busy tables.',
 'Vacuum settings that matter.', 'tuning-autovacuum-for-busy-tables', 'published',
 ARRAY['postgresql', 'english'], '{}', 33, now() - interval '3 days'),
('10000000-0000-4000-8000-000000000107', '00000000-0000-4000-8000-000000000012',
 'Reading query plans',
 'EXPLAIN (ANALYZE, BUFFERS) shows where the time goes: look at rows, loops and buffers before you add an index.',
 NULL, 'reading-query-plans', 'published',
 ARRAY['postgresql', 'english'], '{}', 21, now() - interval '8 days'),
('10000000-0000-4000-8000-000000000108', '00000000-0000-4000-8000-000000000012',
 'Serverless データベース design notes',
 'Notes in English and Japanese: 接続の再利用, keyset pagination, and the cost of cold starts.',
 'Mixed-language notes.', 'serverless-データベース-design-notes', 'published',
 ARRAY['aws', 'english', 'japanese'], '{}', 9, now() - interval '9 days'),
('10000000-0000-4000-8000-000000000109', '00000000-0000-4000-8000-000000000010',
 '下書き: 全文検索の比較',
 'pg_trgm、pg_bigm、n-gramの比較。データベース',
 NULL, '下書き-全文検索の比較', 'draft',
 ARRAY['japanese'], '{}', 0, NULL)
ON CONFLICT DO NOTHING;
