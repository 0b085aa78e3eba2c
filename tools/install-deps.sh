#!/usr/bin/env bash
# Installs what mirrorflow needs on a fresh Debian machine with R: the R
# packages it imports and suggests (from Debian's r-cran-* builds), pandoc
# for the vignettes, qpdf and tidy for R CMD check --as-cran, PyTorch
# for the independent gradient check and the Fashion-MNIST IDX files
# (under /usr/share/datasets/fashion-mnist/). Safe to run again.
set -euo pipefail

pkgs="r-cran-cli r-cran-testthat r-cran-quadprog r-cran-knitr r-cran-rmarkdown
      r-cran-processx r-cran-lpsolve r-cran-generics r-cran-future
      r-cran-future.apply r-cran-progressr r-cran-ggplot2 r-cran-callr
      pandoc qpdf tidy python3-torch dataset-fashion-mnist"
missing=""
for p in $pkgs; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi
