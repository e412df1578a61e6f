#!/usr/bin/env bash
# Checks deploy/prometheus/rules.yml (promtool check rules) and runs its unit tests
# (promtool test rules rules.test.yml). promtool comes from PATH, else from a cache directory
# (PROMTOOL_CACHE, default ~/.cache/conveyor-promtool), filled once from Debian's prometheus
# package (2.42; apt-get download, no install). Idempotent, and fast once the cache is there.
set -euo pipefail
cd "$(dirname "$0")"

cache=${PROMTOOL_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/conveyor-promtool}

find_promtool() {
  if command -v promtool >/dev/null 2>&1; then
    command -v promtool
  elif [ -x "$cache/usr/bin/promtool" ]; then
    echo "$cache/usr/bin/promtool"
  else
    return 1
  fi
}

if ! promtool=$(find_promtool); then
  echo "promtool not found: fetching Debian's prometheus package into $cache"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  if ! (cd "$work" && apt-get download prometheus >/dev/null 2>&1); then
    apt-get update -qq
    (cd "$work" && apt-get download prometheus)
  fi
  mkdir -p "$cache"
  dpkg-deb -x "$work"/prometheus_*.deb "$work/pkg"
  mkdir -p "$cache/usr/bin"
  # Only promtool is kept; the write is atomic so a run killed halfway leaves no broken binary.
  cp "$work/pkg/usr/bin/promtool" "$cache/usr/bin/promtool.partial"
  mv "$cache/usr/bin/promtool.partial" "$cache/usr/bin/promtool"
  promtool="$cache/usr/bin/promtool"
fi

echo "promtool: $promtool ($("$promtool" --version 2>&1 | head -n1))"
"$promtool" check rules rules.yml
"$promtool" test rules rules.test.yml
echo "prometheus rules: OK (check rules and test rules passed)"
