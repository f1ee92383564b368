-- Run after every `frontdesk migrate` (the compose `grants` step), as the superuser, on the
-- service database: the service may append to the audit log and read it, never change it.
-- (The append-only triggers refuse UPDATE and DELETE as well; the service, not owning the
-- table, cannot disable them.)
\set ON_ERROR_STOP on
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO frontdesk_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO frontdesk_app;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM frontdesk_app;
-- Alembic's bookkeeping is the migrate step's business.
REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM frontdesk_app;
