#!/bin/sh
# First start: a cluster with password (SCRAM) sign-in over the network and trust on the local
# socket (the test's own `docker exec psql`); then the server, in the foreground.
set -eu
bin=$(ls -d /usr/lib/postgresql/*/bin | head -n 1)
data=/var/lib/postgresql/e2e
if [ ! -s "$data/PG_VERSION" ]; then
  "$bin/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    --pwfile=/run/pg/password >/dev/null
  echo "listen_addresses = '*'" >>"$data/postgresql.conf"
  echo "host all all 0.0.0.0/0 scram-sha-256" >>"$data/pg_hba.conf"
fi
exec "$bin/postgres" -D "$data"
