-- Single-user rotation logs in as the rotated role itself and runs ALTER USER ... WITH PASSWORD
-- (Secrets Manager's hosted PostgreSQL single-user rotation function, setSecret). A role whose
-- transactions are read-only by default cannot do that ("cannot execute ALTER ROLE in a read-only
-- transaction"), so blog_readonly's rotation failed on its first run while its deploy-time test
-- (a SELECT) passed. The role stays read-only by privilege: it holds SELECT only (0002, 0007).
ALTER ROLE blog_readonly RESET default_transaction_read_only;
