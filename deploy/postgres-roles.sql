-- Least-privilege database roles for docker-compose (run once by deploy/postgres-init.sh when
-- the volume is created, as the PostgreSQL superuser). psql variables: app_db, tracker_db,
-- owner_password, app_password, rasa_password.
--   frontdesk_owner  owns the service's schema; only the one-shot `migrate` step uses it.
--   frontdesk_app    the running service: reads and writes its tables, but the audit log is
--                    insert-only (deploy/postgres-grants.sql, after each migration), and it
--                    may only read and delete Rasa's tracker events (retention).
--   rasa             Rasa: its tracker database and nothing else.
\set ON_ERROR_STOP on

CREATE ROLE frontdesk_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE frontdesk_app LOGIN PASSWORD :'app_password';
CREATE ROLE rasa LOGIN PASSWORD :'rasa_password';

CREATE DATABASE :"app_db" OWNER frontdesk_owner;
CREATE DATABASE :"tracker_db" OWNER rasa;
-- Nobody connects anywhere unless granted here.
REVOKE ALL ON DATABASE :"app_db" FROM PUBLIC;
REVOKE ALL ON DATABASE :"tracker_db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"app_db" TO frontdesk_app;
GRANT CONNECT ON DATABASE :"tracker_db" TO frontdesk_app;

\connect :"app_db"
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO frontdesk_owner;
GRANT USAGE ON SCHEMA public TO frontdesk_app;
-- Tables and sequences the migrations create from now on.
ALTER DEFAULT PRIVILEGES FOR ROLE frontdesk_owner IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO frontdesk_app;
ALTER DEFAULT PRIVILEGES FOR ROLE frontdesk_owner IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO frontdesk_app;

\connect :"tracker_db"
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO rasa;
GRANT USAGE ON SCHEMA public TO frontdesk_app;
-- Rasa creates its tables on first start; the service's retention job may read and delete.
ALTER DEFAULT PRIVILEGES FOR ROLE rasa IN SCHEMA public
  GRANT SELECT, DELETE ON TABLES TO frontdesk_app;
