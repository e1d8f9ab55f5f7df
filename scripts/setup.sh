#!/usr/bin/env bash
# Installs the Debian packages spate needs to build, test and benchmark; installs only what
# is missing, so a second run is instant. Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config clang-format
  libsimdjson-dev libyaml-cpp-dev libfmt-dev libspdlog-dev libcli11-dev
  libsqlite3-dev sqlite3 libcurl4-openssl-dev libcpp-httplib-dev
  librdkafka-dev kcat
  libpq-dev postgresql-15 liblz4-dev libicu-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3-kafka python3-cassandra python3-lz4
  clang-14 libclang-rt-14-dev
  prometheus chromium python3-websocket
  docker-compose python3-yaml help2man systemd
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}" >&2
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
