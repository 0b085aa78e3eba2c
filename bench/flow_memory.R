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
set.seed(1)
n <- 4096
d <- 784
m <- 1024
x <- matrix(rnorm(n * d), n, d)
y <- ifelse(x[, 1] > 0, 1, -1)
net <- homogeneous_net(c(d, m, 1))
hwm <- function() {
  l <- grep("^VmHWM", readLines("/proc/self/status"), value = TRUE)
  as.numeric(gsub("[^0-9]", "", l)) / 1024
}
before <- hwm()
fit <- suppressWarnings(mirror_flow(
  x, y, net = net, map = mirror_map("hypentropy", beta = 0.1),
  integrator = integ, progress = FALSE,
  control = flow_control(eta = 1e-6, max_steps = 1, target_log_loss = -Inf,
                         checkpoints = 2)))
P <- net$nparam
need <- (n * d + 3 * P + n * m) * 8 / 2^20
cat(sprintf(paste("%s, n %d, d %d, width %d: peak %.0f MB (%.0f MB before",
                  "the flow), need %.0f MB, ratio %.2f\n"),
            integ, n, d, m, hwm(), before, need, hwm() / need))
