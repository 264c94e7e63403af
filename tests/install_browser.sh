#!/usr/bin/env bash
# The browser the widget tests drive: Debian's chromium and chromium-driver (Selenium talks
# to chromedriver; nothing is downloaded at test time). Idempotent; installs as root on
# Debian/Ubuntu, otherwise says what to do (the widget tests then skip, naming the reason).
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  echo "chromium $(chromium --version 2>/dev/null | awk '{print $2}'): ready"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "WARNING: no chromium/chromedriver; install them (apt-get install chromium chromium-driver) to run the widget tests." >&2
  exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
echo "chromium $(chromium --version 2>/dev/null | awk '{print $2}'): installed"
