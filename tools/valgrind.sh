#!/usr/bin/env bash
# Runs tools/valgrind-smoke.R under valgrind memcheck against the installed
# mirrorflow; exits non-zero if memcheck reports any error: an invalid read
# or write, a use of an uninitialised value, or a definite leak (counted as
# an error by --errors-for-leak-kinds). Takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
R -d "valgrind --error-exitcode=3 --track-origins=yes --leak-check=full \
  --show-leak-kinds=definite --errors-for-leak-kinds=definite" --vanilla \
  -f tools/valgrind-smoke.R >"$log" 2>&1 || { tail -80 "$log"; exit 1; }
grep -E "ERROR SUMMARY|definitely lost" "$log" | tail -2
