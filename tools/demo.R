# The main demonstration: mirror flows with three maps on the built-in
# sparse-teacher data, to log-loss -300, written as a table and a plot
# under the directory given as the first argument (default
# "mirrorflow-demo").
library(mirrorflow)

args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args)) args[1] else "mirrorflow-demo"
dir.create(out, showWarnings = FALSE, recursive = TRUE)

data(sparse_teacher)
maps <- list(euclidean = mirror_map("euclidean"),
             hypentropy = mirror_map("hypentropy", beta = 0.01),
             pnorm3 = mirror_map("pnorm", p = 3))
rows <- list()
traj <- list()
for (nm in names(maps)) {
  set.seed(1)
  fit <- mirror_flow(sparse_teacher$x, sparse_teacher$y, map = maps[[nm]],
                     init_scale = 0.1, progress = FALSE,
                     control = flow_control(target_log_loss = -300))
  print(fit)
  w <- drop(coef(fit)$W1)
  tr <- trajectory(fit)
  tr$map <- nm
  traj[[nm]] <- tr
  rows[[nm]] <- data.frame(
    map = nm, horizon = paste0("l", maps[[nm]]$horizon_p), steps = fit$steps,
    grad_evals = fit$grad_evals, seconds = round(fit$elapsed, 3),
    log_loss = fit$log_loss, q_margin = tail(tr$q_margin, 1),
    cosine_to_teacher = sum(w * sparse_teacher$teacher) / sqrt(sum(w^2)),
    hoyer_sparsity = (sqrt(length(w)) - sum(abs(w)) / sqrt(sum(w^2))) /
      (sqrt(length(w)) - 1))
}
tab <- do.call(rbind, rows)
utils::write.csv(tab, file.path(out, "summary.csv"), row.names = FALSE)
utils::write.csv(do.call(rbind, traj), file.path(out, "trajectories.csv"),
                 row.names = FALSE)

grDevices::png(file.path(out, "trajectories.png"), width = 1000,
               height = 450, res = 110)
op <- graphics::par(mfrow = c(1, 2), mar = c(4.2, 4.2, 2, 1))
cols <- c(euclidean = "#1b9e77", hypentropy = "#d95f02", pnorm3 = "#7570b3")
all_tr <- do.call(rbind, traj)
plot(NA, xlim = range(all_tr$log_time), ylim = range(all_tr$log_loss),
     xlab = "log time  (log t)", ylab = "log loss", main = "Loss")
for (nm in names(traj))
  graphics::lines(traj[[nm]]$log_time, traj[[nm]]$log_loss, col = cols[nm],
                  lwd = 2)
graphics::legend("bottomleft", legend = names(traj), col = cols, lwd = 2,
                 bty = "n")
ok <- all_tr$q_margin > 0
plot(NA, xlim = range(all_tr$log_time[ok]),
     ylim = range(all_tr$q_margin[ok]), xlab = "log time  (log t)",
     ylab = "Q-margin  q_min / Q(theta)", main = "Margin in the map's horizon")
for (nm in names(traj)) {
  tr <- traj[[nm]][traj[[nm]]$q_margin > 0, ]
  graphics::lines(tr$log_time, tr$q_margin, col = cols[nm], lwd = 2)
}
graphics::par(op)
grDevices::dev.off()

print(tab, row.names = FALSE)
cat(sprintf("\nWrote %s, %s and %s\n", file.path(out, "summary.csv"),
            file.path(out, "trajectories.csv"),
            file.path(out, "trajectories.png")))
