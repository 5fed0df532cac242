-- The fingerprint of the request that created a post or a comment under an Idempotency-Key
-- header: SHA-256 (hex) over the method, the path and the canonical JSON of the body. A retry
-- with the same key and the same fingerprint replays the record; the same key with another
-- fingerprint is refused (draft-ietf-httpapi-idempotency-key-header, "Idempotency-Key reuse").
-- NULL for records created without the header (or before this column existed).
ALTER TABLE posts ADD COLUMN idempotency_fingerprint text
    CONSTRAINT posts_idempotency_fingerprint_check CHECK (idempotency_fingerprint ~ '^[0-9a-f]{64}$');
ALTER TABLE comments ADD COLUMN idempotency_fingerprint text
    CONSTRAINT comments_idempotency_fingerprint_check CHECK (idempotency_fingerprint ~ '^[0-9a-f]{64}$');
