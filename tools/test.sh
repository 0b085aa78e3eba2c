#!/usr/bin/env bash
# Installs what is needed, installs mirrorflow from this checkout and runs
# its testthat suite (with the PyTorch cross-check where torch is there);
# ends with a line "N passed, N failed" and fails if any test failed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
R CMD INSTALL --preclean . >/tmp/mirrorflow-install.log 2>&1 ||
  { cat /tmp/mirrorflow-install.log; exit 1; }
# the counts go through a file so that the line "N passed, N failed" is the
# last one printed, after anything R itself prints while it shuts down
counts=$(mktemp)
status=0
NOT_CRAN=true Rscript -e '
  library(testthat)
  library(mirrorflow)
  options(testthat.progress.max_fails = 10000)
  res <- as.data.frame(test_dir("tests/testthat", reporter = "summary",
                                stop_on_failure = FALSE))
  failed <- sum(res$failed) + sum(res$error)
  passed <- sum(res$passed)
  writeLines(sprintf("%d passed, %d failed", passed, failed),
             commandArgs(TRUE)[1])
  quit(status = if (failed > 0) 1 else 0)
' "$counts" || status=$?
echo
if [ -s "$counts" ]; then cat "$counts"; else echo "0 passed, 1 failed"; status=1; fi
rm -f "$counts"
exit "$status"
