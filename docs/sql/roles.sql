-- shipshape on PostgreSQL: the database and its two roles. Run once per environment, before the
-- first `shipshape migrate`, by an administrator (the RDS master user), with psql:
--
--   psql "$ADMIN_URL" -v ON_ERROR_STOP=1 -v database=shipshape \
--        -v owner=shipshape_owner -v owner_password="$OWNER_PASSWORD" \
--        -v app=shipshape_app -v app_password="$APP_PASSWORD" -f docs/sql/roles.sql
--
-- owner: owns the database and the schema objects; only `shipshape migrate` logs in as it.
-- app:   what the server logs in as: CONNECT, USAGE on the schema, and (docs/sql/grants.sql, after
--        each migrate) DML on its table and SELECT on the migration history. It cannot create,
--        alter or drop anything, and cannot grant itself more.
-- Safe to run again: existing roles and the database are left as they are (passwords included;
-- rotation changes those, see docs/database.md).

SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'owner', :'owner_password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'app', :'app_password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app') \gexec

-- CREATE DATABASE ... OWNER needs the administrator to be a member of the owner role
-- (PostgreSQL 16+ no longer implies it for the role's creator).
GRANT :"owner" TO CURRENT_USER;
SELECT format('CREATE DATABASE %I OWNER %I', :'database', :'owner')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'database') \gexec

-- Nobody else may connect (PUBLIC has CONNECT and TEMPORARY by default).
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"database" TO :"app";

\connect :"database"
-- PostgreSQL 15+ already denies CREATE on `public` to PUBLIC; older versions do not.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO :"owner";
GRANT USAGE ON SCHEMA public TO :"app";
