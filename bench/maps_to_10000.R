# Every built-in map on the built-in linear data set (sparse_teacher, a
# linear model, the adaptive integrator) towards log-loss -10000 with a
# 60 s limit: steps, evaluations, where it stopped and how long it took.
# Usage, from the repository root: Rscript bench/maps_to_10000.R [library]
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages(
  library(mirrorflow, lib.loc = if (length(args)) args[1] else NULL))
data(sparse_teacher)
maps <- list(mirror_map("euclidean"), mirror_map("pnorm", p = 3),
             mirror_map("hypentropy", beta = 0.1),
             mirror_map("powers", p = 2, q = 3), mirror_map("cosh"))
rows <- lapply(maps, function(m) {
  set.seed(1)
  fit <- suppressWarnings(mirror_flow(
    sparse_teacher$x, sparse_teacher$y, map = m,
    control = flow_control(target_log_loss = -10000, time_limit = 60)))
  tr <- trajectory(fit)
  vals <- as.matrix(tr[setdiff(names(tr), "balance_drift")])
  data.frame(map = glance(fit)$map, stop = fit$stop_reason,
             steps = fit$steps, grad_evals = fit$grad_evals,
             log_loss = round(fit$log_loss, 1),
             log_time = round(fit$log_time, 1),
             q_margin = signif(tail(tr$q_margin, 1), 5),
             seconds = round(fit$elapsed, 2), all_finite = all(is.finite(vals)))
})
print(do.call(rbind, rows), row.names = FALSE)
