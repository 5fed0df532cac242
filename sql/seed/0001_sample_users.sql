-- Development data only: never applied by the migrate function.
-- The lesson's sample users. Passwords are not stored here (identity lives in
-- Cognito); password_hash holds a well-formed bcrypt of a random string so the
-- NOT NULL column stays meaningful and no real password can match it.
INSERT INTO users (user_id, email, username, password_hash, first_name, last_name, is_verified) VALUES
('00000000-0000-4000-8000-000000000001', 'admin@example.com', 'admin', '$2b$12$1xYBq4bYv6h3Qm2m9fB7EeKx4F5mYc3wQb9sV1oQe6N2lB8fJr0aS', '管理', 'ユーザー', true),
('00000000-0000-4000-8000-000000000002', 'user1@example.com', 'user1', '$2b$12$9pQd2sWm4Hn8Lk3Jx7Vb1uYt5Rc6Ea0Zf2Gh4Ij8Kl1Mn3Op5Qr7S', '田中', '太郎', true),
('00000000-0000-4000-8000-000000000003', 'user2@example.com', 'user2', '$2b$12$Lm0Nb2Vc4Xz6As8Df1Gh3Jk5Lq7We9Rt1Yu3Io5Pa7Sd9Fg1Hj3K', '佐藤', '花子', true)
ON CONFLICT DO NOTHING;
