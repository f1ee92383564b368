#!/bin/sh
# PostgreSQL image init hook (docker-entrypoint-initdb.d): create the least-privilege roles
# and databases of deploy/postgres-roles.sql with the passwords from the environment.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v app_db=frontdesk -v tracker_db=rasa_tracker \
  -v owner_password="$FRONTDESK_DB_OWNER_PASSWORD" \
  -v app_password="$FRONTDESK_DB_APP_PASSWORD" \
  -v rasa_password="$RASA_DB_PASSWORD" \
  -f /deploy/postgres-roles.sql
