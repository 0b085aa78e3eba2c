#!/usr/bin/env bash
# Builds mirrorflow with gcc's AddressSanitizer and UndefinedBehaviorSanitizer
# into a private library, runs the whole test suite against it with the
# sanitizer runtime preloaded into R, and fails on any sanitizer report.
# Leak detection is off: R itself does not free everything at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
mkdir -p "$work/lib"
cat >"$work/Makevars" <<'MK'
SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined
CFLAGS = -g -O1 -fno-omit-frame-pointer $(SAN)
LDFLAGS = -fsanitize=address,undefined
MK
cp -r . "$work/src-copy"
rm -f "$work"/src-copy/src/*.o "$work"/src-copy/src/*.so
R_MAKEVARS_USER="$work/Makevars" \
  R CMD INSTALL --no-test-load --library="$work/lib" "$work/src-copy" \
  >"$work/install.log" 2>&1 ||
  { tail -40 "$work/install.log"; exit 1; }
grep -q -- "-fsanitize=address" "$work/install.log" ||
  { echo "sanitizer flags were not used"; exit 1; }
asan=$(gcc -print-file-name=libasan.so)
ubsan=$(gcc -print-file-name=libubsan.so)
log="$work/tests.log"
set +e
LD_PRELOAD="$asan $ubsan" \
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
NOT_CRAN=true R_LIBS="$work/lib" Rscript -e '
  library(testthat)
  library(mirrorflow, lib.loc = Sys.getenv("R_LIBS"))
  res <- as.data.frame(test_dir("tests/testthat", reporter = "summary",
                                stop_on_failure = FALSE))
  failed <- sum(res$failed) + sum(res$error)
  cat(sprintf("\n%d passed, %d failed\n", sum(res$passed), failed))
  quit(status = if (failed > 0) 1 else 0)
' >"$log" 2>&1
rc=$?
set -e
tail -3 "$log"
if grep -qE "ERROR: AddressSanitizer|runtime error:" "$log"; then
  grep -E -A30 "ERROR: AddressSanitizer|runtime error:" "$log" | head -60
  exit 1
fi
[ "$rc" -eq 0 ] || { tail -40 "$log"; exit 1; }
echo "sanitizers: no reports"
