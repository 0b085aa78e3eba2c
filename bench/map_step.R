# What a mirror map adds to a step: seconds per mirror-descent step of a
# 64-256-256-1 ReLU net (82,176 parameters) on 256 points for each
# built-in map, against the euclidean map (whose inverse is the identity),
# and the rate of the hypentropy inverse beta * sinh on its own (the
# package's vector code against R's sinh, which is libm's).
# Usage: Rscript bench/map_step.R (MIRRORFLOW_LIB: a private library to
# load mirrorflow from). Writes bench/results/map_step.csv.
lib <- Sys.getenv("MIRRORFLOW_LIB")
suppressPackageStartupMessages(
  library(mirrorflow, lib.loc = if (nzchar(lib)) lib else NULL)
)

n <- 256
d <- 64
m <- 256
K <- 400
set.seed(1)
x <- matrix(rnorm(n * d), n)
y <- ifelse(x[, 1] > 0, 1, -1)
net <- homogeneous_net(c(d, m, m, 1), "relu")
w0 <- init_weights(net)
maps <- list(euclidean = mirror_map("euclidean"),
             hypentropy = mirror_map("hypentropy", beta = 0.1),
             pnorm3 = mirror_map("pnorm", p = 3),
             pnorm2.5 = mirror_map("pnorm", p = 2.5),
             powers23 = mirror_map("powers", p = 2, q = 3),
             powers24 = mirror_map("powers", p = 2, q = 4),
             cosh = mirror_map("cosh"))

step_s <- function(map) {
  # a step small enough that no map stops early (checked below)
  fit <- suppressWarnings(mirror_flow(
    x, y, net = net, map = map, integrator = "md", init = w0,
    control = flow_control(eta = 1e-6, max_steps = K,
                           target_log_loss = -Inf, checkpoints = 2),
    progress = FALSE))
  if (fit$steps != K) stop("a run stopped early: ", fit$stop_reason)
  fit$elapsed / fit$grad_evals
}

rows <- lapply(names(maps), function(nm) {
  t <- vapply(1:3, function(i) step_s(maps[[nm]]), 0)
  data.frame(map = nm, params = sum(lengths(w0)), median_ms = 1000 *
               stats::median(t), min_ms = 1000 * min(t),
             max_ms = 1000 * max(t))
})
res <- do.call(rbind, rows)
res$over_euclidean_ms <- res$median_ms - res$median_ms[1]
res$over_euclidean_ns_per_param <- 1e6 * res$over_euclidean_ms /
  res$params
print(res, row.names = FALSE, digits = 3)

# the inverse alone: 100,000 arguments in (-3, 3), 2000 repeats
z <- runif(1e5, -3, 3)
per <- function(f) {
  t <- system.time(for (i in 1:2000) f())[["elapsed"]]
  1e9 * t / (2000 * length(z))
}
m_h <- mirror_map("hypentropy", beta = 0.1)
ns <- c(package = per(function() mirror_inverse(m_h, z)),
        libm = per(function() 0.1 * sinh(z)))
cat(sprintf("beta * sinh, ns per argument (allocation included): %s\n",
            paste(names(ns), sprintf("%.2f", ns), collapse = ", ")))
ns_env <- asNamespace("mirrorflow")
path <- if (exists("vmath_isa", ns_env))
  c("plain C", "SSE2", "AVX2")[get("vmath_isa", ns_env)() + 1] else
    "none (libm's sinh)"
cat(sprintf("vector path: %s; BLAS: %s; products' layout: %s\n", path,
            extSoftVersion()[["BLAS"]], as.character(blas_products())))
res$sinh_ns_package <- ns[["package"]]
res$sinh_ns_libm <- ns[["libm"]]
dir.create("bench/results", showWarnings = FALSE)
utils::write.csv(res, "bench/results/map_step.csv", row.names = FALSE)
