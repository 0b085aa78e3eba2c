# The flows reach the max-margin solutions of their horizons on a linear
# set of 40 points in 30 dimensions with a 3-sparse teacher: one horizon,
# two potentials, the same solution; other horizons, other solutions.

sparse_set <- function() {
  set.seed(42)
  n <- 40
  d <- 30
  teacher <- c(1, -1, 0.5, rep(0, d - 3))
  x <- matrix(rnorm(n * d), n)
  list(x = x, y = ifelse(drop(x %*% teacher) > 0, 1, -1))
}

flow_to <- function(dat, map, target = -1000, ...) {
  suppressWarnings(mirror_flow(dat$x, dat$y, map = map, progress = FALSE,
                               control = flow_control(target_log_loss = target,
                                                      time_limit = 60, ...)))
}

test_that("maps reach the max margin of their horizon", {
  skip_if_not(exists("max_margin", asNamespace("mirrorflow")))
  dat <- sparse_set()
  m2 <- max_margin(dat$x, dat$y, "l2")
  m1 <- max_margin(dat$x, dat$y, "l1")
  m3 <- max_margin(dat$x, dat$y, "lp", p = 3)
  gap <- function(fit, mm) alignment(fit, mm)$margin_gap
  eu <- flow_to(dat, mirror_map("euclidean"))
  expect_lt(gap(eu, m2), 1e-3)
  hy <- flow_to(dat, mirror_map("hypentropy", beta = 1))
  expect_lt(gap(hy, m1), 1e-2)
  p3 <- flow_to(dat, mirror_map("pnorm", p = 3))
  pw <- flow_to(dat, mirror_map("powers", p = 2, q = 3))
  expect_lt(gap(p3, m3), 0.02)
  expect_lt(gap(pw, m3), 0.02)
  expect_lt(compare_directions(p3, pw)$angle_deg, 2)
  # a different horizon is measurably elsewhere: each flow is closest to
  # the max margin of its own horizon
  expect_gt(gap(eu, m1), 10 * gap(hy, m1))
  expect_gt(gap(hy, m2), 10 * gap(eu, m2))
  expect_gt(gap(eu, m3), 10 * gap(p3, m3))
  # the l2 direction itself is reached, not just the margin
  expect_lt(alignment(eu, m2)$angle_deg, 0.5)
})

test_that("the cosh flow closes its l-infinity gap steadily, slowly", {
  skip_if_not(exists("max_margin", asNamespace("mirrorflow")))
  dat <- sparse_set()
  mi <- max_margin(dat$x, dat$y, "linf")
  fit <- flow_to(dat, mirror_map("cosh"), target = -1000, keep_params = TRUE,
                 checkpoints = 30, max_steps = 3e4)
  al <- alignment(fit, mi, along = "trajectory")
  late <- al[al$log_time > max(al$log_time) / 3, ]
  expect_true(all(late$margin_gap > 0))
  expect_true(all(diff(late$margin_gap) < 0))
  cr <- convergence_rates(fit, reference = mi)
  lg <- cr[cr$quantity == "margin_gap" & cr$law == "log t", ]
  expect_true(is.finite(lg$exponent) && lg$exponent < 0)
})
