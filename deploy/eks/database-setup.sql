-- Database roles for shipshape, run by the setup Job as the RDS master (psql, ON_ERROR_STOP).
-- Idempotent: every run converges the same roles and grants, so the platform step can re-run it.
-- psql variables: dbname, app_role, app_password, owner_role, owner_password.
--
--   owner_role  LOGIN; owns the schema objects. The migrations Job logs in as it (or its rotation
--               clone, with options=-c role=<owner_role>) and then grants the app its DML.
--   app_role    LOGIN; SELECT/INSERT/UPDATE/DELETE on the tables, USAGE/SELECT on the sequences,
--               only SELECT on _sqlx_migrations. No DDL, no ownership, no other database.
--
-- A role is created with the password of its secret only when it does not exist yet: from then on
-- the rotation function owns the passwords (alternating users, <role>_clone), and this Job never
-- resets one, so a re-run cannot undo a rotation.

SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'owner_role', :'owner_password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'owner_role') \gexec
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'app_role', :'app_password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app_role') \gexec

-- Nothing beyond logging in; a CREATEDB/CREATEROLE given by hand is taken back at the next run.
-- (SUPERUSER, REPLICATION and BYPASSRLS are not the master's to change: on RDS only AWS holds them, and
-- a role gets none of them unless a superuser gives it; ALTER ROLE naming them fails for the master.)
ALTER ROLE :"owner_role" NOCREATEDB NOCREATEROLE;
ALTER ROLE :"app_role" NOCREATEDB NOCREATEROLE;

-- Only these two (and the master, the database's owner) may connect.
REVOKE ALL ON DATABASE :"dbname" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"dbname" TO :"owner_role";
GRANT CONNECT ON DATABASE :"dbname" TO :"app_role";

-- The owner creates in the public schema; the app only uses it.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO :"owner_role";
GRANT USAGE ON SCHEMA public TO :"app_role";

-- A database migrated before these roles existed (by the master): hand its tables to the owner.
-- (ALTER ... OWNER needs the master to be able to SET ROLE to the owner.)
GRANT :"owner_role" TO CURRENT_USER;
SELECT format('ALTER TABLE %I.%I OWNER TO %I', schemaname, tablename, :'owner_role')
FROM pg_tables WHERE schemaname = 'public' AND tableowner <> :'owner_role' \gexec

-- What the app may do with what exists now; the migrations Job repeats this after each migration.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app_role";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app_role";
SELECT format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON TABLE public._sqlx_migrations FROM %I', :'app_role')
WHERE to_regclass('public._sqlx_migrations') IS NOT NULL \gexec
