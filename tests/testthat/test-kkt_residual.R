# Tests of kkt_residual(): zero at constructed KKT points, the NNLS against
# quadprog, and a falling residual along a ReLU network's flow.

test_that("a constructed KKT point of a tiny ReLU net has zero residual", {
  # two hidden units, each active on one point: with theta / Q the l2
  # gradient, lambda = (1/2, 1/2) balances it exactly
  x <- rbind(c(1, 0), c(-1, 0))
  y <- c(1, -1)
  net <- homogeneous_net(c(2, 2, 1), "relu")
  at <- function(init) {
    fit <- suppressWarnings(mirror_flow(x, y, net = net, init = init,
                                        integrator = "md", progress = FALSE,
                                        control = flow_control(max_steps = 0)))
    kkt_residual(fit)
  }
  k <- at(list(W1 = rbind(c(1, 0), c(-1, 0)), W2 = matrix(c(1, -1), 1)))
  expect_lt(k$stationarity, 1e-14)
  expect_equal(k$complementarity, 0)
  expect_equal(k$lambda_sum, 1, tolerance = 1e-14)
  expect_equal(k$n_active, 2L)
  # scaling the weights changes nothing: the residual is of the direction
  k2 <- at(list(W1 = 3 * rbind(c(1, 0), c(-1, 0)),
                W2 = 3 * matrix(c(1, -1), 1)))
  expect_lt(k2$stationarity, 1e-14)
  # an unbalanced, off-direction point is not KKT
  k3 <- at(list(W1 = rbind(c(1, 0.5), c(-1, 0)), W2 = matrix(c(2, -1), 1)))
  expect_gt(k3$stationarity, 0.05)
})

test_that("the l2 max-margin solution of a linear model is a KKT point", {
  skip_if_not_installed("quadprog")
  set.seed(2)
  x <- matrix(rnorm(120), 30)
  y <- ifelse(x %*% c(1, -1, 0.5, 0) > 0, 1, -1)
  qp <- quadprog::solve.QP(diag(4), rep(0, 4), t(drop(y) * x), rep(1, 30))
  fit <- suppressWarnings(mirror_flow(
    x, drop(y), integrator = "md", progress = FALSE,
    init = list(matrix(qp$solution, 1)), control = flow_control(max_steps = 0)))
  k <- kkt_residual(fit, active_tol = 1e-6)
  expect_lt(k$stationarity, 1e-8)
  expect_lt(abs(k$complementarity), 1e-8)
  # the multipliers of the QP are those of the gauge problem scaled by |w|
  expect_equal(k$lambda_sum, sum(qp$Lagrangian) / sqrt(sum(qp$solution^2)),
               tolerance = 1e-6)
})

test_that("the nonnegative least squares agrees with quadprog", {
  skip_if_not_installed("quadprog")
  set.seed(3)
  for (rep in 1:5) {
    G <- matrix(rnorm(40 * 8), 40)
    s <- rnorm(40)
    K <- crossprod(G)
    b <- drop(crossprod(G, s))
    lam <- .Call(mirrorflow:::C_mf_nnls, K, b)
    ref <- quadprog::solve.QP(K, b, diag(8), rep(0, 8))$solution
    expect_equal(lam, pmax(ref, 0), tolerance = 1e-8)
    expect_true(all(lam >= 0))
  }
  expect_error(.Call(mirrorflow:::C_mf_nnls, diag(2), c(1, NA)), "'b'")
  expect_error(.Call(mirrorflow:::C_mf_nnls, diag(2), 1:2), "'b'")
  expect_error(.Call(mirrorflow:::C_mf_nnls, "a", c(1, 2)), "'K'")
})

test_that("the KKT residual of a ReLU net falls along its euclidean flow", {
  set.seed(1)
  data(sparse_teacher, package = "mirrorflow")
  fit <- mirror_flow(sparse_teacher$x, sparse_teacher$y, progress = FALSE,
                     net = homogeneous_net(c(20, 16, 1), "relu"),
                     control = flow_control(target_log_loss = -60,
                                            rtol = 1e-5, keep_params = TRUE,
                                            checkpoints = 12))
  k <- kkt_residual(fit, along = "trajectory")
  expect_equal(nrow(k), nrow(trajectory(fit)))
  st <- k$stationarity[!is.na(k$stationarity)]
  expect_gte(length(st), 6)
  expect_lt(tail(st, 1), 0.5 * st[1])
  expect_lt(stats::cor(seq_along(st), st, method = "spearman"), -0.8)
  expect_equal(kkt_residual(fit)$stationarity, tail(st, 1))
})

test_that("kkt_residual() refuses what it cannot serve", {
  data(sparse_teacher, package = "mirrorflow")
  fit <- mirror_flow(sparse_teacher$x, sparse_teacher$y, progress = FALSE,
                     map = mirror_map("cosh"),
                     control = flow_control(target_log_loss = -2))
  expect_error(kkt_residual(fit), "l-infinity")
  e <- suppressWarnings(mirror_flow(sparse_teacher$x, sparse_teacher$y,
                                    progress = FALSE, integrator = "md",
                                    control = flow_control(max_steps = 0)))
  if (min(network_loss(e$net, e$x, e$y, e$weights)$margins) <= 0)
    expect_error(kkt_residual(e), "does not separate")
  expect_error(kkt_residual(fit, active_tol = -1), "'active_tol'")
  args <- list(sparse_teacher$x, sparse_teacher$y, integer(0),
               c(0, 2, 0, 1, 0), c(20L, 1L), sparse_teacher$teacher, 0.1)
  ok <- do.call(.Call, c(list(mirrorflow:::C_mf_margin_grads), args))
  q <- sparse_teacher$y * drop(sparse_teacher$x %*% sparse_teacher$teacher)
  expect_equal(ok$margins, q, tolerance = 1e-12)
  expect_equal(ok$idx, which(q <= 1.1 * min(q)))
  expect_equal(ok$grads, t(sparse_teacher$y[ok$idx] *
                             sparse_teacher$x[ok$idx, , drop = FALSE]),
               tolerance = 1e-12)
  bad <- args
  bad[[7]] <- -1
  expect_error(do.call(.Call, c(list(mirrorflow:::C_mf_margin_grads), bad)),
               "'rel_tol'")
  bad <- args
  bad[[6]] <- -sparse_teacher$teacher
  expect_error(do.call(.Call, c(list(mirrorflow:::C_mf_margin_grads), bad)),
               "'theta' does not separate the data")
})
