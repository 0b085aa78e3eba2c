#!/usr/bin/env bash
# Installs what is needed, installs mirrorflow from this checkout and runs
# reproduce_paper() at the scale given ("quick", the default, or "full"),
# writing figures (PNG), tables (CSV) and an index.html into the directory
# given (default ./mirrorflow-results), running as many experiments at once
# as the third argument says (default: the number of cores). A second call
# with the same directory and scale resumes an interrupted run.
# Usage: bash tools/reproduce.sh [quick|full] [directory] [cores]
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-quick}
out=${2:-mirrorflow-results}
cores=${3:-$(nproc)}
case "$scale" in
  quick|full) ;;
  *) echo "usage: bash tools/reproduce.sh [quick|full] [directory] [cores]" >&2
     exit 2 ;;
esac
case "$cores" in
  ''|*[!0-9]*|0) echo "cores must be a whole number above 0, not '$cores'" >&2
     exit 2 ;;
esac
bash tools/install-deps.sh
R CMD INSTALL --preclean . >/tmp/mirrorflow-install.log 2>&1 ||
  { cat /tmp/mirrorflow-install.log; exit 1; }
Rscript -e 'a <- commandArgs(TRUE)
            mirrorflow::reproduce_paper(a[2], scale = a[1],
                                        cores = as.integer(a[3]))' \
  "$scale" "$out" "$cores"
