#!/usr/bin/env bash
# Fails when a crate depends (directly or transitively, normal and build edges) on a crate that
# docs/architecture.md / house-style forbids. Crates not yet in the workspace are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

# crate: forbidden dependencies (space separated)
rules=(
  "dyno-kernels: dyno-engine dyno-protocol dyno-server dyno-bench dyno-stats dyno-regress dyno tokio axum"
  "dyno-engine: dyno-protocol dyno-server dyno-bench dyno-regress dyno axum reqwest"
  "dyno-protocol: dyno-kernels dyno-engine dyno-server dyno-bench dyno-stats dyno-regress dyno"
  "dyno-server: dyno-bench dyno-mock dyno-regress dyno"
  "dyno-stats: dyno-kernels dyno-engine dyno-protocol dyno-server dyno-bench dyno-regress dyno tokio reqwest axum"
  "dyno-bench: dyno-engine dyno-kernels dyno-server dyno-mock dyno-regress dyno axum"
  "dyno-regress: dyno-bench dyno-engine dyno-kernels dyno-server dyno"
  "dyno-mock: dyno-kernels dyno-engine dyno-server dyno-bench dyno-regress dyno axum"
  "dyno-benches: dyno-server dyno"
)

members=$(cargo metadata --no-deps --format-version 1 | python3 -c 'import json,sys; print("\n".join(p["name"] for p in json.load(sys.stdin)["packages"]))')
fail=0
for rule in "${rules[@]}"; do
  crate=${rule%%:*}
  forbidden=${rule#*: }
  grep -qx "$crate" <<<"$members" || continue
  deps=$(cargo tree -p "$crate" -e normal,build --prefix none --format '{p}' 2>/dev/null | awk '{print $1}' | sort -u)
  for f in $forbidden; do
    if grep -qx "$f" <<<"$deps"; then
      echo "boundary violation: $crate depends on $f (see the boundaries table in README.md)"
      fail=1
    fi
  done
  echo "ok: $crate"
done
exit $fail
