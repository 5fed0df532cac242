-- Temporary tables pin RDS Proxy sessions, and no function needs one. PostgreSQL
-- grants TEMPORARY on every database to PUBLIC by default: take it back, so that
-- only the owner (migrations) may create them.
DO $$
BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END
$$;
