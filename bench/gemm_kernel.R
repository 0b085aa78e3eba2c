# Rate of mirrorflow's own product kernel (the "kernel" layout of
# ?blas_products) against the dgemm of the BLAS R has loaded, at the shapes
# of the step benchmark's products, in Gflop/s.
#
#   Rscript bench/gemm_kernel.R
#
# Run from the repository root. MIRRORFLOW_LIB names a private library to
# load mirrorflow from. Under OpenBLAS (LD_PRELOAD, see bench/README.md)
# the file names get "_openblas". Both sides get the same operands in R's
# memory; the kernel's figure includes the copy of C that its test entry
# point returns (O(m n) against the product's O(m n k)), dgemm's the
# checks of `%*%` for NaN (O(m k + k n)).

lib <- Sys.getenv("MIRRORFLOW_LIB")
suppressPackageStartupMessages(
  library(mirrorflow, lib.loc = if (nzchar(lib)) lib else NULL)
)
if (!dir.exists("bench"))
  stop("run this script from the repository root", call. = FALSE)

kern <- attr(blas_products(), "kernel")
if (kern == "none") stop("this build has no product kernel", call. = FALSE)
isas <- if (kern == "avx") c(sse2 = 1L, avx = 2L) else c(sse2 = 1L)
blas <- extSoftVersion()[["BLAS"]]

# m x n x k: a forward product W X^T (width x points x d), the weight
# gradient D X (width x d x points), the hidden layer W H (width x points
# x width)
shapes <- rbind(
  c(32, 256, 64), c(32, 64, 256), c(256, 256, 64), c(256, 256, 256),
  c(1024, 256, 784), c(1024, 784, 256), c(1024, 256, 1024),
  c(256, 4096, 784), c(1024, 4096, 1024))
colnames(shapes) <- c("m", "n", "k")

# seconds per call: at least 0.3 s of calls, median of 3
per_call <- function(f) {
  reps <- 1L
  repeat {
    t <- system.time(for (i in seq_len(reps)) f())[["elapsed"]]
    if (t >= 0.3) break
    reps <- reps * 2L
  }
  median(c(t, replicate(2, system.time(for (i in seq_len(reps)) f())[[
    "elapsed"]])) / reps)
}

set.seed(1)
rows <- list()
for (s in seq_len(nrow(shapes))) {
  m <- shapes[s, "m"]; n <- shapes[s, "n"]; k <- shapes[s, "k"]
  A <- matrix(rnorm(m * k), m)
  B <- matrix(rnorm(k * n), k)
  C <- matrix(0, m, n)
  flops <- 2 * m * n * k
  ref <- A %*% B
  r <- data.frame(m = m, n = n, k = k,
                  dgemm = flops / per_call(function() A %*% B) / 1e9)
  for (nm in names(isas)) {
    got <- .Call(mirrorflow:::C_mf_gemm_check, A, B, C,
                 as.integer(c(m, n, k)), c(FALSE, FALSE, FALSE), isas[[nm]])
    r[[paste0("diff_", nm)]] <- max(abs(got - ref)) / max(abs(ref))
    r[[nm]] <- flops / per_call(function()
      .Call(mirrorflow:::C_mf_gemm_check, A, B, C, as.integer(c(m, n, k)),
            c(FALSE, FALSE, FALSE), isas[[nm]])) / 1e9
  }
  rows[[s]] <- r
  cat(sprintf("%4d x %4d x %4d: dgemm %.1f, %s Gflop/s\n", m, n, k,
              r$dgemm, paste(sprintf("%s %.1f", names(isas),
                                     unlist(r[names(isas)])),
                             collapse = ", ")))
}
res <- do.call(rbind, rows)
best <- names(isas)[length(isas)]
res$kernel_over_dgemm <- res[[best]] / res$dgemm
stem <- "gemm_kernel"
if (grepl("openblas", blas, ignore.case = TRUE))
  stem <- paste0(stem, "_openblas")
dir.create(file.path("bench", "results"), showWarnings = FALSE)
write.csv(cbind(res, blas = blas),
          file.path("bench", "results", paste0(stem, ".csv")),
          row.names = FALSE)
info <- c(
  "gemm_kernel.R: the own product kernel against the BLAS's dgemm",
  sprintf("written: %s; R %s; BLAS %s; kernel %s",
          format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"),
          paste(R.version$major, R.version$minor, sep = "."), blas, kern),
  sprintf("load average (1, 5, 15 min) at the end: %s",
          paste(readLines("/proc/loadavg", warn = FALSE), collapse = " ")),
  "Gflop/s, median of 3; diff_* = largest |kernel - A %*% B| / max |A B|",
  "", capture.output(print(format(res, digits = 3), row.names = FALSE)))
writeLines(info, file.path("bench", "results", paste0(stem, ".txt")))
cat(info, sep = "\n")
