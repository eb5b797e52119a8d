-- shipshape on PostgreSQL: what the application role may do, on the schema `shipshape migrate`
-- created. Run after every `shipshape migrate` (a later migration may add a table), as the owner
-- role or the administrator, connected to the application's database:
--
--   psql "$OWNER_URL" -v ON_ERROR_STOP=1 -v app=shipshape_app -f docs/sql/grants.sql
--
-- Idempotent. The ids come from an identity column, whose sequence needs no grant of its own.

GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE users TO :"app";
-- /ht/ and MIGRATE_ON_START read the migration history to see that the schema is current.
GRANT SELECT ON TABLE _sqlx_migrations TO :"app";
