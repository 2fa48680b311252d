#!/usr/bin/env bash
# The README's test command: install what the tests need on a machine that has
# never seen the project (missing Debian packages, then npm ci), and run the
# whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
node --version
npm --version
# npm ci runs the package's own install (node-gyp: kernels/) and prepare (tsc) scripts.
npm ci --no-audit --no-fund
npm test
