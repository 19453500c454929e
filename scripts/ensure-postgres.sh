#!/usr/bin/env bash
# Make sure PostgreSQL's server binaries are here for the tests' throwaway clusters
# (tests/postgres.py finds them on PATH or in /usr/lib/postgresql/<version>/bin).
# Installs Debian's `postgresql` package when they are missing, without its default cluster.
set -euo pipefail

if command -v pg_ctl >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "PostgreSQL server binaries are missing: install PostgreSQL 15+ (e.g. apt-get install postgresql)." >&2
  exit 1
fi
echo "Installing PostgreSQL for the tests..."
mkdir -p /etc/postgresql-common/createcluster.d
echo 'create_main_cluster = off' >/etc/postgresql-common/createcluster.d/no-main-cluster.conf
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
