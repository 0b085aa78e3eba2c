# A short tour of every C path (integrators, schemes, network kinds, maps,
# custom callbacks, diagnostics, bad .Call input) for memcheck:
# tools/valgrind.sh runs it under valgrind and fails on any reported error.
library(mirrorflow)
set.seed(1)
x <- matrix(rnorm(60 * 4), 60)
y <- ifelse(x[, 1] - 0.5 * x[, 2] > 0, 1, -1)
quiet <- function(...) suppressWarnings(mirror_flow(..., progress = FALSE))

deep <- homogeneous_net(c(4, 5, 3, 1), "leaky_relu", slope = 0.1)
maps <- list(mirror_map("hypentropy", beta = 0.1), mirror_map("pnorm", p = 3),
             mirror_map("cosh"))
for (integ in c("md", "loss_scaled", "adaptive")) {
  for (sch in c("auto", "rosenbrock", "dopri")) {
    f <- quiet(x, y, net = deep, map = maps, integrator = integ,
               control = flow_control(eta = 1e-3, max_steps = 60,
                                      target_log_loss = -5, scheme = sch,
                                      keep_params = TRUE, checkpoints = 5))
    predict(f, x)
    snapshots(f)
  }
}
f <- quiet(x, y, net = diagonal_net(4), map = mirror_map("powers", p = 1.5,
                                                         q = 3),
           control = flow_control(max_steps = 80, scheme = "rosenbrock"))
predict(f, x)
yc <- factor(sample(letters[1:3], 60, TRUE))
f <- quiet(x, yc, net = homogeneous_net(c(4, 6, 3)), loss = "logistic",
           control = flow_control(max_steps = 50, scheme = "rosenbrock"))
predict(f, x, type = "class")
cm <- mirror_map("custom", potential = function(x) abs(x)^3 / 3,
                 gradient = function(x) sign(x) * x^2)
f <- quiet(x, y, map = cm,
           control = flow_control(max_steps = 30, scheme = "rosenbrock"))
relu <- quiet(x, y, net = homogeneous_net(c(4, 8, 1)),
              control = flow_control(target_log_loss = -10))
kkt_residual(relu)
balance_report(relu)
for (g in c("l1", "l2", "linf")) max_margin(x, y, gauge = g)
max_margin(x, y, gauge = "lp", p = 3)
max_margin(x, y, gauge = "lp", p = 1.5)
try(max_margin(rbind(x, x[1, ]), c(y, -y[1]), gauge = "l2"))
mirror_inverse(mirror_map("powers", p = 2, q = 3), c(1e-300, 1, 1e300))
horizon(mirror_map("cosh"), c(1, NA))
net <- homogeneous_net(c(4, 3, 1))
network_loss(net, x, y, init_weights(net))
# more points than one block of the products (256), the last one partial:
# the in-place back-propagation (mirror descent) and the two-buffer one
# (adaptive)
xb <- matrix(rnorm(600 * 4), 600)
yb <- ifelse(xb[, 1] > 0, 1, -1)
wide <- homogeneous_net(c(4, 7, 5, 1))
network_loss(wide, xb, yb, init_weights(wide))
for (integ in c("md", "adaptive"))
  quiet(xb, yb, net = wide, integrator = integ,
        control = flow_control(max_steps = 5, scheme = "rosenbrock"))
# widths past 256, so that W^T goes in blocks of rows (the last partial)
deep3 <- homogeneous_net(c(4, 300, 260, 1), "leaky_relu", 0.1)
for (integ in c("md", "loss_scaled"))
  quiet(xb, yb, net = deep3, integrator = integ,
        control = flow_control(eta = 1e-4, max_steps = 2))
# the same nets with the products handed to dgemm whole ("T", no copies)
old_layout <- blas_products("direct")
network_loss(wide, xb, yb, init_weights(wide))
for (integ in c("md", "adaptive"))
  quiet(xb, yb, net = deep3, integrator = integ,
        control = flow_control(eta = 1e-4, max_steps = 2))
blas_products(old_layout)
# the own product kernel on its own: strip and tile remainders, a sum
# longer than one packed block, a block of rows past 128, both transposes,
# both instruction sets where the machine has AVX; and A %*% t(B) for the
# activation readers
if (attr(blas_products(), "kernel") != "none") {
  isas <- if (attr(blas_products(), "kernel") == "avx") 1:2 else 1L
  for (isa in isas) for (ta in c(FALSE, TRUE)) for (tb in c(FALSE, TRUE)) {
    m <- 131; n <- 7; k <- 261
    A <- if (ta) matrix(rnorm(k * m), k) else matrix(rnorm(m * k), m)
    B <- if (tb) matrix(rnorm(n * k), n) else matrix(rnorm(k * n), k)
    .Call(mirrorflow:::C_mf_gemm_check, A, B, matrix(0, m, n),
          as.integer(c(m, n, k)), c(ta, tb, TRUE), isa)
  }
  .Call(mirrorflow:::C_mf_matprod_tb, matrix(rnorm(301 * 13), 301),
        matrix(rnorm(9 * 13), 9))
}
# the proximal integrator, on the cosh map past where the adaptive one
# stalls, and on the other families
for (m in list(mirror_map("cosh"), mirror_map("pnorm", p = 3),
               mirror_map("powers", p = 2, q = 3)))
  quiet(x, y, map = m, integrator = "proximal",
        control = flow_control(target_log_loss = -300))
# and on a diagonal network, with a map per block, past 256 points (one
# block of margin gradients) for its Hessian
xd <- matrix(rnorm(300 * 4), 300, 4)
yd <- ifelse(xd[, 1] - xd[, 2] > 0, 1, -1)
for (m in list(mirror_map("cosh"),
               list(mirror_map("pnorm", p = 3), mirror_map("euclidean"))))
  quiet(xd, yd, net = diagonal_net(4), map = m, integrator = "proximal",
        control = flow_control(target_log_loss = -50, max_steps = 200))
# cosh on a diagonal net to -1000, where J turns indefinite and is factored
# by dsytrf (about 4000 evaluations)
sd <- simulate_sparse_linear(60, 8, 3, seed = 1)
quiet(sd$x, sd$y, net = diagonal_net(8), map = mirror_map("cosh"),
      integrator = "proximal",
      control = flow_control(target_log_loss = -1000, rtol = 0.1))
# initial weights as blocks, and an R error inside a custom map's function
# during a run (the run's memory is freed on the way out)
quiet(x, y, init = list(matrix(rnorm(4), 1)), integrator = "md",
      control = flow_control(max_steps = 3))
k <- 0
boom <- mirror_map("custom", potential = function(t) t^2 / 2,
                   gradient = function(t) {
                     k <<- k + 1
                     if (k > 20) stop("boom")
                     t
                   }, inverse = function(z) z)
try(quiet(x, y, map = boom, integrator = "loss_scaled",
          control = flow_control(max_steps = 100)))
try(.Call(mirrorflow:::C_mf_flow, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10))
acts <- pmax(matrix(rnorm(600 * 300), 600), 0)
options(mirrorflow.threads = 2)
gini(acts)
gini(acts, 1)
hoyer(c(0, 0, 1))
fs <- feature_sparsity(relu)
tidy(relu)
augment(relu)
# (OpenMP in a forked child is checked in the tests: a fork inside a
# script that R -f reads under valgrind goes on reading the script)
cat("valgrind smoke done\n")
