#!/bin/sh
# compose.yaml's one-shot `postgres-tls` service: a CA and a server certificate for the local PostgreSQL
# (host name `postgres`, the service name the app connects to with sslmode=verify-full), in the volume
# mounted at /tls. Runs in the postgres image (openssl, user postgres). Kept while valid for 30 more
# days; renewed otherwise, so a stack left for years still starts. The CA key is never kept.
set -eu
umask 077
if [ -s /tls/server.crt ] && [ -s /tls/ca.crt ] && openssl x509 -checkend 2592000 -noout -in /tls/server.crt >/dev/null; then
  echo "pg-tls: certificate valid until $(openssl x509 -enddate -noout -in /tls/server.crt | cut -d= -f2)"
  exit 0
fi
work="$(mktemp -d)"
openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=shipshape compose CA" \
  -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=postgres" -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:postgres\n' >"$work/san.ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial -days 825 \
  -extfile "$work/san.ext" -out "$work/server.crt" 2>/dev/null
chown postgres:postgres "$work/server.key" "$work/server.crt"
chmod 600 "$work/server.key"
chmod 644 "$work/server.crt" "$work/ca.crt"
mv "$work/server.key" "$work/server.crt" "$work/ca.crt" /tls/
chmod 755 /tls
rm -rf "$work"
echo "pg-tls: new CA and server certificate for host postgres"
