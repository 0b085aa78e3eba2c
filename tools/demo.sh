#!/usr/bin/env bash
# Installs what is needed, installs mirrorflow from this checkout and runs
# the demonstration (tools/demo.R), writing into ./mirrorflow-demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
R CMD INSTALL --preclean . >/tmp/mirrorflow-install.log 2>&1 ||
  { cat /tmp/mirrorflow-install.log; exit 1; }
Rscript tools/demo.R mirrorflow-demo
