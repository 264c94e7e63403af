#!/usr/bin/env bash
# Make sure this machine has PostgreSQL server binaries with pgvector, for the
# embedded database the project starts by itself (or for a system server).
#
# Debian/Ubuntu, as root: installs Debian's "postgresql" package if no server
# is installed, then builds pgvector from Debian trixie's source package
# (bookworm does not package pgvector; its build takes about half a minute).
# Idempotent: does nothing when pgvector is already there.
set -euo pipefail

pg_config_path() {
  local newest
  newest=$(ls -d /usr/lib/postgresql/*/bin/pg_config 2>/dev/null | sort -V | tail -n 1 || true)
  echo "${PG_CONFIG:-$newest}"
}

PG_CONFIG=$(pg_config_path)
if [ -n "$PG_CONFIG" ] && [ -f "$("$PG_CONFIG" --sharedir)/extension/vector.control" ]; then
  echo "PostgreSQL $("$PG_CONFIG" --version | awk '{print $2}') with pgvector: ready"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "PostgreSQL with pgvector is missing and this script can only install it as root on Debian/Ubuntu." >&2
  echo "Install PostgreSQL >= 15 and pgvector yourself, or set GOVAI_DATABASE_URL to a server that has them." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if [ -z "$PG_CONFIG" ]; then
  echo "installing Debian's PostgreSQL server..."
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
  PG_CONFIG=$(pg_config_path)
fi
major=$("$PG_CONFIG" --version | sed -E 's/[^0-9]*([0-9]+).*/\1/')
if ! dpkg -s "postgresql-server-dev-$major" >/dev/null 2>&1 || ! command -v make >/dev/null || ! command -v gcc >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq "postgresql-server-dev-$major" make gcc >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial"
echo "deb-src http://deb.debian.org/debian trixie main" > "$work/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=/dev/null" -o "Dir::State::Lists=$work/lists")
apt-get "${apt_opts[@]}" update -qq 2>/dev/null
cd "$work"
apt-get "${apt_opts[@]}" source --download-only pgvector >/dev/null 2>&1
tar xf pgvector_*.orig.tar.*
cd pgvector-*/
# OPTFLAGS="": a portable build (pgvector defaults to -march=native).
make -s PG_CONFIG="$PG_CONFIG" OPTFLAGS="" >/dev/null 2>&1
make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
echo "pgvector built and installed for PostgreSQL $("$PG_CONFIG" --version | awk '{print $2}')"
