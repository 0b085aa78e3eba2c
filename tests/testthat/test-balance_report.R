# Tests of balance_report(): the conserved quantity against sums computed
# here from the weights, and its drift under mirror descent.

test_that("balance_report() agrees with the weights and the trajectory", {
  set.seed(1)
  x <- matrix(rnorm(80), 20)
  y <- ifelse(x[, 1] > 0, 1, -1)
  net <- homogeneous_net(c(4, 5, 3, 1), "relu")
  fit <- suppressWarnings(mirror_flow(x, y, net = net, progress = FALSE,
                                      integrator = "md",
                                      control = flow_control(eta = 1e-3,
                                                             max_steps = 200)))
  br <- balance_report(fit)
  expect_equal(nrow(br), 8)
  expect_equal(br$layer, rep(1:2, c(5, 3)))
  w <- coef(fit)
  w0 <- coef(fit, "init")
  cl <- c(rowSums(w$W1^2) - colSums(w$W2^2), rowSums(w$W2^2) - colSums(w$W3^2))
  expect_equal(br$classical_end, cl, tolerance = 1e-12)
  expect_equal(br$balance_end, cl / 2, tolerance = 1e-12)
  cl0 <- c(rowSums(w0$W1^2) - colSums(w0$W2^2),
           rowSums(w0$W2^2) - colSums(w0$W3^2))
  expect_equal(br$balance_start, cl0 / 2, tolerance = 1e-12)
  expect_equal(max(br$relative_drift), tail(trajectory(fit)$balance_drift, 1),
               tolerance = 1e-10)
  expect_gt(max(abs(br$drift)), 0)

  hyp <- suppressWarnings(mirror_flow(x, y, net = net, progress = FALSE,
                                      map = mirror_map("hypentropy",
                                                       beta = 0.3),
                                      control = flow_control(
                                        target_log_loss = -5)))
  bh <- balance_report(hyp)
  expect_null(bh$classical_end)
  D <- function(v) sqrt(v^2 + 0.09) - 0.3
  wh <- coef(hyp)
  ref <- rowSums(D(wh$W1)) - colSums(D(wh$W2))
  expect_equal(bh$balance_end[1:5], ref, tolerance = 1e-12)
})

test_that("balance_report() needs hidden neurons", {
  data(sparse_teacher, package = "mirrorflow")
  fit <- mirror_flow(sparse_teacher$x, sparse_teacher$y, progress = FALSE,
                     control = flow_control(target_log_loss = -5))
  expect_error(balance_report(fit), "hidden neurons")
  expect_error(balance_report(list()), "'fit' must be a mirror_flow")
})
