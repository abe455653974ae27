#!/usr/bin/env bash
# Writes the dev overlay's secrets as files under secrets/ (git-ignored), random where missing.
# Existing files are kept, so running it again changes nothing; delete a file to make a new value.
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)/secrets"
mkdir -p "$dir"

random() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# keep FILE VALUE: write VALUE (no trailing newline) unless FILE already has one.
keep() {
  if [ ! -s "$dir/$1" ]; then
    (umask 077 && printf '%s' "$2" > "$dir/$1")
  fi
}

keep redis-password.txt "$(random)"
keep postgres-password.txt "$(random)"
keep webhook-demo.txt "$(random)"
keep redis-url.txt "redis://:$(cat "$dir/redis-password.txt")@redis:6379/0"
keep postgres-url.txt "postgresql://reflex:$(cat "$dir/postgres-password.txt")@postgres:5432/reflex"
echo "dev secrets in $dir"
