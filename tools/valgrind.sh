#!/usr/bin/env bash
# Runs tools/valgrind-smoke.R under valgrind memcheck against the installed
# mirrorflow; exits non-zero if memcheck reports any error. Takes a few
# minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
R -d "valgrind --error-exitcode=3 --track-origins=yes" --vanilla \
  -f tools/valgrind-smoke.R >"$log" 2>&1 || { tail -80 "$log"; exit 1; }
grep "ERROR SUMMARY" "$log" | tail -1
