#!/usr/bin/env bash
# Installs what is needed, installs mirrorflow from this checkout and runs
# its testthat suite (with the PyTorch cross-check where torch is there);
# ends with a line "N passed, N failed" and fails if any test failed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
R CMD INSTALL --preclean . >/tmp/mirrorflow-install.log 2>&1 ||
  { cat /tmp/mirrorflow-install.log; exit 1; }
NOT_CRAN=true Rscript -e '
  library(testthat)
  library(mirrorflow)
  options(testthat.progress.max_fails = 10000)
  res <- as.data.frame(test_dir("tests/testthat", reporter = "summary",
                                stop_on_failure = FALSE))
  failed <- sum(res$failed) + sum(res$error)
  passed <- sum(res$passed)
  cat(sprintf("\n%d passed, %d failed\n", passed, failed))
  quit(status = if (failed > 0) 1 else 0)
'
