# Time of read_idx() on all 60,000 Fashion-MNIST training images (gzip,
# 26 MB compressed, 47 MB of pixels) and of fashion_mnist() on two classes;
# the target is under 5 seconds for the read. Needs the Debian package
# dataset-fashion-mnist. Run from the repository root:
# Rscript bench/read_idx.R  (MIRRORFLOW_LIB=dir to use an installed copy)
lib <- Sys.getenv("MIRRORFLOW_LIB")
if (nzchar(lib)) library(mirrorflow, lib.loc = lib) else library(mirrorflow)
dir <- "/usr/share/datasets/fashion-mnist"
f <- file.path(dir, "train-images-idx3-ubyte.gz")
if (!file.exists(f)) stop("no Fashion-MNIST files in ", dir)
reps <- 5

time_it <- function(expr) {
  # Collect first, so that one repeat does not pay for the last one's
  # garbage.
  invisible(gc())
  system.time(expr)[["elapsed"]]
}
t_read <- vapply(seq_len(reps), function(i) time_it(read_idx(f)), 0)
t_two <- vapply(seq_len(reps), function(i) {
  time_it(fashion_mnist(dir, classes = c(0, 6), downsample = 2))
}, 0)
x <- read_idx(f)
stopifnot(identical(dim(x), c(60000L, 28L, 28L)))

lines <- c(
  sprintf("%s, R %s, %d repeats", format(Sys.time(), "%Y-%m-%d"),
          getRversion(), reps),
  sprintf(paste("read_idx(), 60000 x 28 x 28 images (gzip): median %.2f s",
                "(min %.2f, max %.2f); target < 5 s"), stats::median(t_read),
          min(t_read), max(t_read)),
  sprintf(paste("fashion_mnist(), classes 0 and 6, downsample 2 (12000 x",
                "196): median %.2f s (min %.2f, max %.2f)"),
          stats::median(t_two), min(t_two), max(t_two)))
cat(lines, sep = "\n")
dir.create("bench/results", showWarnings = FALSE)
writeLines(lines, "bench/results/read_idx.txt")
