# Makes data/fashion_subset.rda: 400 Fashion-MNIST training images, 200
# T-shirts/tops and 200 shirts, at 14 x 14 pixels. Needs the Debian package
# dataset-fashion-mnist. Run from the package root, with mirrorflow
# installed: Rscript data-raw/fashion_subset.R
library(mirrorflow)
fashion_subset <- fashion_mnist(classes = c(0, 6), n = 400, downsample = 2,
                                seed = 20261204)
save(fashion_subset, file = "data/fashion_subset.rda", compress = "xz")
size <- file.size("data/fashion_subset.rda")
cat(sprintf("data/fashion_subset.rda: %s bytes\n",
            format(size, big.mark = ",")))
# CRAN asks for data under a few megabytes; this one should be far below.
stopifnot(size < 2^20)
