#!/usr/bin/env bash
# Makes a fresh checkout runnable: Node.js 24 and the locked dependencies (npm ci) when missing.
set -euo pipefail
root=$(dirname "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")")
cd "$root"
"$root/scripts/node24" -e '' # installs Node 24 when needed
node_dir=$(dirname "$("$root/scripts/node24" -p 'process.execPath')")
export PATH="$node_dir:$PATH"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "bootstrap: npm ci" >&2
  npm ci --no-audit --no-fund >&2
fi
