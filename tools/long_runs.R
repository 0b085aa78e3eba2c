# Long runs for reliability: every built-in map with every integrator, on a
# linear model and on a 2-layer ReLU net over the built-in data, towards
# log-loss -10000 within a step and a time limit. For each run: where it
# stopped, whether every trajectory column stayed finite, whether the
# log-loss never rose from one checkpoint to the next, and the largest
# balance drift. Fails (exit status 1) on a non-finite value, or on a rise
# of the log-loss under the adaptive or loss-scaled integrators, which
# reject such steps.
# Usage: Rscript tools/long_runs.R [seconds per run]
args <- commandArgs(trailingOnly = TRUE)
limit <- if (length(args) >= 1) as.numeric(args[1]) else 30
library(mirrorflow)
data(sparse_teacher)
maps <- list(euclidean = mirror_map("euclidean"),
             pnorm3 = mirror_map("pnorm", p = 3),
             hypentropy0.1 = mirror_map("hypentropy", beta = 0.1),
             powers2.3 = mirror_map("powers", p = 2, q = 3),
             cosh = mirror_map("cosh"))
nets <- list(linear = homogeneous_net(c(20, 1), "linear"),
             relu = homogeneous_net(c(20, 16, 1), "relu"))
rows <- list()
for (nn in names(nets)) for (nm in names(maps)) {
  for (integ in c("adaptive", "loss_scaled", "md")) {
    set.seed(1)
    fit <- suppressWarnings(mirror_flow(
      sparse_teacher$x, sparse_teacher$y, net = nets[[nn]], map = maps[[nm]],
      integrator = integ, progress = FALSE,
      control = flow_control(target_log_loss = -10000, time_limit = limit,
                             max_steps = 1e7, eta = 1e-3,
                             rtol = if (nn == "relu") 1e-5 else 1e-6)))
    tr <- trajectory(fit)
    cols <- setdiff(names(tr), if (nn == "linear") "balance_drift")
    rises <- diff(tr$log_loss)
    rows[[length(rows) + 1]] <- data.frame(
      net = nn, map = nm, integrator = integ, stop = fit$stop_reason,
      steps = fit$steps, seconds = round(fit$elapsed, 1),
      log_loss = signif(fit$log_loss, 5),
      log_time = signif(fit$log_time, 5),
      all_finite = all(is.finite(as.matrix(tr[cols]))),
      loss_never_rises = all(rises <= 1e-12 * pmax(1, abs(tr$log_loss[-1]))),
      max_balance_drift = if (nn == "relu")
        signif(max(tr$balance_drift, na.rm = TRUE), 3) else NA)
    print(rows[[length(rows)]], row.names = FALSE)
  }
}
tab <- do.call(rbind, rows)
cat("\n")
print(tab, row.names = FALSE)
dir.create("bench/results", showWarnings = FALSE)
utils::write.csv(tab, "bench/results/long_runs_reliability.csv",
                 row.names = FALSE)
bad <- !tab$all_finite |
  (!tab$loss_never_rises & tab$integrator != "md")
cat(sprintf("%d runs, %d with a non-finite value, %d with a rising loss\n",
            nrow(tab), sum(!tab$all_finite), sum(!tab$loss_never_rises)))
if (any(bad)) quit(status = 1)
