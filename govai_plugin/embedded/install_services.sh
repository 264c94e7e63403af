#!/usr/bin/env bash
# Everything the embedded defaults start by themselves: PostgreSQL with pgvector,
# and redis-server as the Celery broker. Debian/Ubuntu, as root; idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/install_postgres.sh"
if command -v redis-server >/dev/null; then
  echo "redis-server $(redis-server --version | awk '{print $3}'): ready"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "redis-server is missing and this script can only install it as root on Debian/Ubuntu." >&2
  echo "Install Redis yourself, or set GOVAI_BROKER_URL to a Redis or RabbitMQ broker." >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
echo "redis-server $(redis-server --version | awk '{print $3}'): installed"
