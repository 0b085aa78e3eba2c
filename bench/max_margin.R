# Timing of max_margin() on 2000 points in 784 dimensions (the size of
# MNIST inputs) for each gauge, with the KKT diagnostics of each solution.
# Run with: Rscript bench/max_margin.R [library path]

args <- commandArgs(trailingOnly = TRUE)
lib <- if (length(args) > 0) args[1] else NULL
library(mirrorflow, lib.loc = lib)

set.seed(2024)
n <- 2000
d <- 784
x <- matrix(rnorm(n * d), n, d)
teacher <- numeric(d)
teacher[sample(d, 20)] <- rnorm(20)
y <- sign(drop(x %*% teacher))

cases <- list(list(gauge = "l1"), list(gauge = "l2"),
              list(gauge = "linf"), list(gauge = "lp", p = 3),
              list(gauge = "lp", p = 1.5))
horizon_label <- function(p) {
  if (is.infinite(p)) "linf" else sprintf("l%s", format(p))
}
rows <- lapply(cases, function(cs) {
  tm <- system.time(fit <- do.call(max_margin, c(list(x, y), cs)))
  data.frame(gauge = horizon_label(fit$p), seconds = tm[["elapsed"]],
             iterations = fit$iterations, newton = fit$newton_steps,
             rounds = fit$rounds,
             working_set = fit$working_set, converged = fit$converged,
             active = length(fit$active),
             primal_infeasibility = fit$primal_infeasibility,
             stationarity = fit$stationarity,
             complementarity = fit$complementarity)
})
print(do.call(rbind, rows), digits = 3)
