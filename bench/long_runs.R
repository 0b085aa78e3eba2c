# Long runs of every built-in map on the built-in sparse-teacher data: the
# adaptive integrator (each scheme) towards log-loss -1000 with a 60 s
# limit; steps, gradient evaluations, seconds and where each stopped.
# Run from the repository root: Rscript bench/long_runs.R
lib <- Sys.getenv("MIRRORFLOW_LIB")
if (nzchar(lib)) library(mirrorflow, lib.loc = lib) else library(mirrorflow)
data(sparse_teacher)
maps <- list(euclidean = mirror_map("euclidean"),
             pnorm1.5 = mirror_map("pnorm", p = 1.5),
             pnorm3 = mirror_map("pnorm", p = 3),
             hypentropy1e.6 = mirror_map("hypentropy", beta = 1e-6),
             hypentropy0.1 = mirror_map("hypentropy", beta = 0.1),
             powers2.3 = mirror_map("powers", p = 2, q = 3),
             cosh = mirror_map("cosh"))
rows <- list()
for (nm in names(maps)) for (scheme in c("auto", "dopri")) {
  set.seed(1)
  fit <- suppressWarnings(mirror_flow(
    sparse_teacher$x, sparse_teacher$y, map = maps[[nm]], progress = FALSE,
    control = flow_control(target_log_loss = -1000, time_limit = 60,
                           max_steps = 1e7, scheme = scheme)))
  tr <- trajectory(fit)
  rows[[length(rows) + 1]] <- data.frame(
    map = nm, scheme = scheme, stop = fit$stop_reason, steps = fit$steps,
    grad_evals = fit$grad_evals, seconds = round(fit$elapsed, 2),
    log_loss = signif(fit$log_loss, 6), log_time = signif(fit$log_time, 6),
    q_margin = signif(tail(tr$q_margin, 1), 6),
    all_finite = all(is.finite(as.matrix(tr[, names(tr) != "balance_drift"]))))
  print(rows[[length(rows)]], row.names = FALSE)
}
tab <- do.call(rbind, rows)
dir.create("bench/results", showWarnings = FALSE)
utils::write.csv(tab, "bench/results/long_runs.csv", row.names = FALSE)
print(tab, row.names = FALSE)
