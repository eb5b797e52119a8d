#!/usr/bin/env bash
# Starts the machine's PostgreSQL on loopback with TLS (our own CA, so tests can use
# sslmode=verify-full as against RDS) and prints the variables the tests read:
#   TEST_DATABASE_URL=postgres://...   TEST_DATABASE_CA=/path/ca.crt
# Idempotent: a running, configured cluster is left alone.
set -euo pipefail
source "$(dirname "$0")/lib/apt.sh"

# The distribution's PostgreSQL: 15 on Debian 12, 16 on the Ubuntu 24.04 machine runners (PG_VERSION overrides).
if [ -z "${PG_VERSION:-}" ]; then
  [ -x /usr/share/postgresql-common/supported-versions ] || need_apt postgresql-client-common
  PG_VERSION="$(/usr/share/postgresql-common/supported-versions | sort -V | tail -n 1)"
fi
CLUSTER=main
ROLE=shipshape
PASSWORD=shipshape-test # test-only credential for a loopback-only cluster
TLS_DIR=/etc/postgresql/$PG_VERSION/$CLUSTER/shipshape-tls

command -v pg_ctlcluster >/dev/null || need_apt "postgresql-$PG_VERSION" postgresql-common
command -v openssl >/dev/null || need_apt openssl
pg_lsclusters -h | grep -q "^$PG_VERSION $CLUSTER " || pg_createcluster "$PG_VERSION" "$CLUSTER" >/dev/null

if [ ! -s "$TLS_DIR/server.crt" ]; then
  mkdir -p "$TLS_DIR"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=shipshape test CA" \
    -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$TLS_DIR/server.key" -out "$TLS_DIR/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$TLS_DIR/san.ext"
  openssl x509 -req -in "$TLS_DIR/server.csr" -CA "$TLS_DIR/ca.crt" -CAkey "$TLS_DIR/ca.key" \
    -CAcreateserial -days 3650 -extfile "$TLS_DIR/san.ext" -out "$TLS_DIR/server.crt" 2>/dev/null
  chown -R postgres:postgres "$TLS_DIR"
  chmod 600 "$TLS_DIR/server.key" "$TLS_DIR/ca.key"
  chmod 644 "$TLS_DIR/ca.crt"
fi

conf=/etc/postgresql/$PG_VERSION/$CLUSTER/conf.d/shipshape.conf
want=$(cat <<CONF
# written by scripts/pg-start.sh
listen_addresses = '127.0.0.1'
max_connections = 300
ssl = on
ssl_cert_file = '$TLS_DIR/server.crt'
ssl_key_file = '$TLS_DIR/server.key'
CONF
)
if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
  printf '%s\n' "$want" >"$conf"
  chown postgres:postgres "$conf"
  pg_ctlcluster "$PG_VERSION" "$CLUSTER" stop >/dev/null 2>&1 || true
fi
# stdout carries only the variables (callers eval it); pg_ctlcluster's notes ("Removed stale pid
# file.") go to stderr.
pg_ctlcluster "$PG_VERSION" "$CLUSTER" status >/dev/null 2>&1 || pg_ctlcluster "$PG_VERSION" "$CLUSTER" start >&2

for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 0.5
done
pg_isready -q -h 127.0.0.1 -p 5432 || { echo "pg-start: PostgreSQL did not become ready" >&2; exit 1; }

# CREATEROLE: the tests make their own owner and application roles (random names) to prove the
# least-privilege setup of docs/sql/ and password rotation.
runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 <<SQL >/dev/null
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $ROLE LOGIN CREATEDB CREATEROLE PASSWORD '$PASSWORD';
  ELSIF NOT (SELECT rolcreaterole FROM pg_roles WHERE rolname = '$ROLE') THEN
    ALTER ROLE $ROLE CREATEROLE;
  END IF;
END \$\$;
SQL
runuser -u postgres -- psql -tAc "SELECT 1 FROM pg_database WHERE datname = '$ROLE'" | grep -q 1 ||
  runuser -u postgres -- createdb -O "$ROLE" "$ROLE"

echo "TEST_DATABASE_URL=postgres://$ROLE:$PASSWORD@127.0.0.1:5432/$ROLE"
echo "TEST_DATABASE_CA=$TLS_DIR/ca.crt"
