# Time of feature_sparsity() on 10,000 points and a hidden layer of 1024
# neurons: the whole call, the forward pass inside it (the own product
# kernel in the "kernel" layout, see ?blas_products), the same product
# through R's BLAS (`%*%`), and the sparsity statistics alone (the C
# indices over rows and columns).
# Usage: Rscript bench/feature_sparsity.R (MIRRORFLOW_LIB: a private
# library to load mirrorflow from)
lib <- Sys.getenv("MIRRORFLOW_LIB")
suppressPackageStartupMessages(
  library(mirrorflow, lib.loc = if (nzchar(lib)) lib else NULL)
)

median_time <- function(f, reps = 5) {
  stats::median(vapply(seq_len(reps), function(i) system.time(f())[["elapsed"]],
                       0))
}

rows <- list()
for (d in c(20, 196)) {
  data <- simulate_sparse_linear(10000, d, 3, seed = 1)
  net <- homogeneous_net(c(d, 1024, 1))
  set.seed(1)
  fit <- suppressWarnings(mirror_flow(data, net = net,
                                      control = flow_control(max_steps = 1)))
  w <- coef(fit)
  full <- median_time(function() feature_sparsity(fit))
  fwd <- median_time(function() pmax(mirrorflow:::prod_tb(data$x, w$W1), 0))
  fwd_blas <- median_time(function() pmax(data$x %*% t(w$W1), 0))
  h <- pmax(data$x %*% t(w$W1), 0)
  idx <- median_time(function() {
    hoyer(h, 1)
    hoyer(h, 2)
  })
  rows[[length(rows) + 1]] <- data.frame(
    n = 10000, d = d, width = 1024, feature_sparsity_s = full,
    forward_s = fwd, forward_blas_s = fwd_blas, indices_s = idx,
    forward_gflop = 2 * 10000 * d * 1024 / 1e9)
}
res <- do.call(rbind, rows)
print(res, row.names = FALSE)
cat(sprintf("BLAS: %s; products' layout: %s\n", extSoftVersion()[["BLAS"]],
            as.character(blas_products())))
dir.create("bench/results", showWarnings = FALSE)
utils::write.csv(res, "bench/results/feature_sparsity.csv", row.names = FALSE)
