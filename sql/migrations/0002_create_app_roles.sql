-- Least-privilege roles. Migrations run as the owner (the login that runs this
-- file owns every object). The API functions log in as blog_app (DML only),
-- the statistics function as blog_readonly. Passwords are set by the migrate
-- function from their Secrets Manager secrets (as SCRAM verifiers), never here.
--
-- Settings live on the roles, not in connection startup options or SET: both
-- would pin RDS Proxy sessions.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'blog_app') THEN
        CREATE ROLE blog_app NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'blog_readonly') THEN
        CREATE ROLE blog_readonly NOLOGIN;
    END IF;
END
$$;

ALTER ROLE blog_app SET statement_timeout = '5s';
ALTER ROLE blog_app SET lock_timeout = '2s';
ALTER ROLE blog_app SET idle_in_transaction_session_timeout = '15s';
ALTER ROLE blog_app SET timezone = 'UTC';

ALTER ROLE blog_readonly SET statement_timeout = '30s';
ALTER ROLE blog_readonly SET lock_timeout = '1s';
ALTER ROLE blog_readonly SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE blog_readonly SET default_transaction_read_only = on;
ALTER ROLE blog_readonly SET timezone = 'UTC';

-- Nobody but the owner creates objects; PUBLIC keeps no implicit rights.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;

DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO blog_app, blog_readonly', current_database());
END
$$;
GRANT USAGE ON SCHEMA public TO blog_app, blog_readonly;

-- Existing objects.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO blog_app;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO blog_readonly;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO blog_app;

-- Objects created by later migrations (run by the same owner).
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO blog_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO blog_readonly;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO blog_app;

-- The migration history is the owner's alone.
REVOKE ALL ON schema_migrations FROM blog_app, blog_readonly;
GRANT SELECT ON schema_migrations TO blog_app, blog_readonly;
