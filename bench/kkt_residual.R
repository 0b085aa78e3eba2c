# Time of kkt_residual() on a 2-layer ReLU net with 2000 points and width
# 256 (d = 784), labels from the network itself so the data are separated.
# Run from the repository root: Rscript bench/kkt_residual.R
lib <- Sys.getenv("MIRRORFLOW_LIB")
if (nzchar(lib)) library(mirrorflow, lib.loc = lib) else library(mirrorflow)
set.seed(1)
n <- 2000
d <- 784
m <- 256
x <- matrix(rnorm(n * d), n) / sqrt(d)
net <- homogeneous_net(c(d, m, 1), "relu")
w <- init_weights(net)
f0 <- network_loss(net, x, rep(c(-1, 1), n / 2), w)$scores[, 1]
y <- ifelse(f0 > 0, 1, -1)
fit <- mirror_flow(x, y, net = net, init = w, integrator = "md",
                   progress = FALSE, control = flow_control(max_steps = 0))
times <- vapply(1:5, function(i) {
  system.time(k <- kkt_residual(fit))[["elapsed"]]
}, 0)
k <- kkt_residual(fit)
cat(sprintf(paste("kkt_residual, n = %d, d = %d, width %d: median %.3f s",
                  "(min %.3f, max %.3f) over 5; %d near-active points\n"),
            n, d, m, stats::median(times), min(times), max(times),
            k$n_active))
