# Feature sparsity on the shipped Fashion-MNIST subset (T-shirt/top against
# Shirt, 400 images at 14x14, unit-norm inputs): a 2-layer ReLU net of
# width 256 trained to one common log-loss with four maps over five seeds,
# through mirror_sweep() on two local workers, then compare_sparsity().
# Usage: Rscript bench/fashion_sparsity.R [target_log_loss] [workers]
args <- commandArgs(trailingOnly = TRUE)
target <- if (length(args) >= 1) as.numeric(args[1]) else 4.5
workers <- if (length(args) >= 2) as.integer(args[2]) else 2L
library(mirrorflow)

data(fashion_subset)
d <- normalize_rows(fashion_subset)
grid <- sweep_grid(map = list(mirror_map("hypentropy", beta = 0.01),
                              mirror_map("euclidean"),
                              mirror_map("pnorm", p = 3),
                              mirror_map("cosh")),
                   width = 256, seed = 1:5, integrator = "loss_scaled")
control <- flow_control(target_log_loss = target, time_limit = 300)
future::plan(future::multisession, workers = workers)
t0 <- proc.time()[["elapsed"]]
sw <- mirror_sweep(grid, d, control = control)
wall <- proc.time()[["elapsed"]] - t0
future::plan(future::sequential)

print(sw)
cs <- compare_sparsity(sw, c("active_fraction", "gini_sample",
                             "hoyer_sample", "dead_fraction", "mass_90"),
                       by = "map", R = 2000, seed = 1)
print(cs)
cat(sprintf(paste("\n%d runs to log-loss %g in %.0f s on %d workers;",
                  "stop reasons: %s\n"), nrow(sw), target, wall, workers,
            paste(names(table(sw$stop_reason)), table(sw$stop_reason),
                  sep = " ", collapse = ", ")))
dir.create("bench/results", showWarnings = FALSE)
keep <- setdiff(names(sw), "warnings")
utils::write.csv(as.data.frame(sw)[keep],
                 "bench/results/fashion_sparsity_runs.csv", row.names = FALSE)
utils::write.csv(as.data.frame(cs), "bench/results/fashion_sparsity.csv",
                 row.names = FALSE)
utils::write.csv(attr(cs, "tests"), "bench/results/fashion_sparsity_tests.csv",
                 row.names = FALSE)
