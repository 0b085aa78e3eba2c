# Every built-in map on the built-in linear data set (sparse_teacher, a
# linear model) towards log-loss -10000 with a 60 s limit, with the
# adaptive integrator (the default) and the proximal one: steps,
# evaluations, where it stopped, how long it took, and whether every
# trajectory value is finite (tau and step_size aside: for the cosh map
# they pass the double range, e^30000, and are Inf by design).
# Usage, from the repository root: Rscript bench/maps_to_10000.R [library]
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages(
  library(mirrorflow, lib.loc = if (length(args)) args[1] else NULL))
data(sparse_teacher)
maps <- list(mirror_map("euclidean"), mirror_map("pnorm", p = 3),
             mirror_map("hypentropy", beta = 0.1),
             mirror_map("powers", p = 2, q = 3), mirror_map("cosh"))
runs <- expand.grid(map = seq_along(maps),
                    integrator = c("adaptive", "proximal"),
                    stringsAsFactors = FALSE)
rows <- lapply(seq_len(nrow(runs)), function(k) {
  m <- maps[[runs$map[k]]]
  set.seed(1)
  fit <- suppressWarnings(mirror_flow(
    sparse_teacher$x, sparse_teacher$y, map = m,
    integrator = runs$integrator[k],
    control = flow_control(target_log_loss = -10000, time_limit = 60)))
  tr <- trajectory(fit)
  vals <- as.matrix(tr[setdiff(names(tr),
                               c("balance_drift", "tau", "step_size"))])
  data.frame(map = glance(fit)$map, integrator = runs$integrator[k],
             stop = fit$stop_reason,
             steps = fit$steps, grad_evals = fit$grad_evals,
             log_loss = round(fit$log_loss, 1),
             log_time = round(fit$log_time, 1),
             q_margin = signif(tail(tr$q_margin, 1), 6),
             seconds = round(fit$elapsed, 2),
             all_finite = all(is.finite(vals)) && all(is.finite(fit$state)))
})
print(do.call(rbind, rows), row.names = FALSE)
