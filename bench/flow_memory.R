# Peak resident memory of one flow step on a wide net, in a fresh R
# process, against what the data, the weights, their duals and gradient,
# and one set of hidden activations need. Usage, from the repository root:
#   Rscript bench/flow_memory.R [integrator] [library]
# (integrator "md", "loss_scaled" or "adaptive"; the package is taken from
# the library given, else from .libPaths()).
args <- commandArgs(trailingOnly = TRUE)
integ <- if (length(args) >= 1) args[1] else "md"
lib <- if (length(args) >= 2) args[2] else NULL
suppressPackageStartupMessages(library(mirrorflow, lib.loc = lib))
status_mb <- function(field) {
  l <- grep(paste0("^", field), readLines("/proc/self/status"), value = TRUE)
  as.numeric(gsub("[^0-9]", "", l)) / 1024
}
hwm <- function() status_mb("VmHWM")
# a first small flow loads what mirror_flow() loads (cli and the rest), so
# that the resident size before the data is R's own
invisible(suppressWarnings(mirror_flow(
  matrix(rnorm(20), 10), rep(c(-1, 1), 5), integrator = "md",
  control = flow_control(max_steps = 1), progress = FALSE)))
invisible(gc())
rss0 <- status_mb("VmRSS")
set.seed(1)
n <- 4096
d <- 784
m <- 1024
x <- rnorm(n * d)
dim(x) <- c(n, d)      # matrix(rnorm(.)) would hold a second copy at once
y <- ifelse(x[, 1] > 0, 1, -1)
net <- homogeneous_net(c(d, m, 1))
before <- hwm()
fit <- suppressWarnings(mirror_flow(
  x, y, net = net, map = mirror_map("hypentropy", beta = 0.1),
  integrator = integ, progress = FALSE,
  control = flow_control(eta = 1e-6, max_steps = 1, target_log_loss = -Inf,
                         checkpoints = 2)))
P <- net$nparam
# data, weights and their duals, one set of hidden activations
need <- (n * d + 2 * P + n * m) * 8 / 2^20
cat(sprintf(paste("%s, n %d, d %d, width %d: peak %.0f MB (R alone %.0f MB,",
                  "%.0f MB with the data), need %.0f MB, (peak - R alone) /",
                  "need %.2f\n"),
            integ, n, d, m, hwm(), rss0, before, need, (hwm() - rss0) / need))
