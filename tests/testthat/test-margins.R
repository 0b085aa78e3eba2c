# Tests of margin(), alignment() and compare_directions(): margins against
# values computed here from the weights, directions against a QP solution.

teacher_set <- function(n = 60, d = 8, seed = 1) {
  set.seed(seed)
  x <- matrix(rnorm(n * d), n, d)
  w <- c(1, -1, 0.5, rep(0, d - 3))
  s <- drop(x %*% w)
  keep <- abs(s) > 0.3
  list(x = x[keep, ], y = ifelse(s[keep] > 0, 1, -1))
}

quiet <- function(...) suppressWarnings(mirror_flow(..., progress = FALSE))

test_that("margin() matches the weights in every gauge", {
  dat <- teacher_set()
  fit <- quiet(dat$x, dat$y, map = mirror_map("pnorm", p = 3),
               control = flow_control(target_log_loss = -60))
  w <- drop(coef(fit)$W1)
  q <- dat$y * drop(dat$x %*% w)
  m <- margin(fit)
  expect_equal(m$q_min, min(q), tolerance = 1e-12)
  expect_equal(m$horizon_norm, sum(abs(w)^3)^(1 / 3), tolerance = 1e-12)
  expect_equal(m$q_margin, tail(trajectory(fit)$q_margin, 1),
               tolerance = 1e-12)
  expect_equal(m$near_support_10, sum(q < min(q) + log(10)))
  expect_equal(m$near_support_1000, sum(q < min(q) + log(1000)))
  expect_lte(m$smoothed_margin, m$q_margin)
  for (g in list(list("l1", NULL, 1), list("l2", NULL, 2),
                 list("linf", NULL, Inf), list("lp", 1.5, 1.5))) {
    mg <- margin(fit, gauge = g[[1]], p = g[[2]])
    ref <- if (is.infinite(g[[3]])) max(abs(w)) else
      sum(abs(w)^g[[3]])^(1 / g[[3]])
    expect_equal(mg$q_margin, min(q) / ref, tolerance = 1e-12)
  }
  expect_equal(margin(fit, gauge = mirror_map("hypentropy"))$q_margin,
               min(q) / sum(abs(w)), tolerance = 1e-12)
  expect_error(margin(fit, gauge = "l7"), "'gauge' must be one of")
  expect_error(margin(fit, gauge = "lp"), "'p' is needed")
})

test_that("margin() along the trajectory needs snapshots and follows it", {
  dat <- teacher_set(seed = 2)
  fit <- quiet(dat$x, dat$y,
               control = flow_control(target_log_loss = -40,
                                      keep_params = TRUE, checkpoints = 12))
  m <- margin(fit, along = "trajectory")
  tr <- trajectory(fit)
  expect_equal(nrow(m), nrow(tr))
  expect_equal(m$q_min, tr$q_min, tolerance = 1e-12)
  expect_equal(m$q_margin, tr$q_margin, tolerance = 1e-12)
  plain <- quiet(dat$x, dat$y, control = flow_control(target_log_loss = -5))
  expect_error(margin(plain, along = "trajectory"), "keep_params")
})

test_that("diagnostics refuse a fit that does not separate its data", {
  dat <- teacher_set(seed = 3)
  fit <- quiet(dat$x, dat$y, integrator = "md",
               init = list(matrix(c(-1, 1, rep(0, 6)), 1)),
               control = flow_control(eta = 1e-6, max_steps = 2))
  expect_lt(tail(trajectory(fit)$q_min, 1), 0)
  expect_error(margin(fit), "does not separate")
  expect_error(compare_directions(fit, fit), "does not separate")
})

test_that("alignment() with the l2 max margin closes in along the run", {
  skip_if_not_installed("quadprog")
  dat <- teacher_set(seed = 4)
  d <- ncol(dat$x)
  qp <- quadprog::solve.QP(diag(d), rep(0, d), t(dat$y * dat$x),
                           rep(1, nrow(dat$x)))
  ref <- list(direction = qp$solution / sqrt(sum(qp$solution^2)),
              margin = 1 / sqrt(sum(qp$solution^2)), p = 2)
  fit <- quiet(dat$x, dat$y,
               control = flow_control(target_log_loss = -1000,
                                      keep_params = TRUE, checkpoints = 20))
  al <- alignment(fit, ref, along = "trajectory")
  late <- al[al$margin > 0, ]
  expect_true(all(late$margin_gap >= -1e-12))
  expect_lt(tail(al$angle_deg, 1), 0.5)
  expect_lt(tail(al$margin_gap, 1), 1e-3)
  # the gap shrinks over the second half of the run
  half <- late[late$log_time > max(late$log_time) / 2, ]
  expect_true(all(diff(half$margin_gap) <= 1e-12))
  expect_equal(alignment(fit, ref)$angle_deg, tail(al$angle_deg, 1))
  expect_error(alignment(fit, list(direction = 1)), "'reference'")
  set.seed(1)
  relu <- quiet(dat$x, dat$y, net = homogeneous_net(c(d, 4, 1)),
                control = flow_control(target_log_loss = -5))
  expect_error(alignment(relu, ref), "linear model or a diagonal network")
})

test_that("compare_directions() sees equal and different directions", {
  dat <- teacher_set(seed = 5)
  run <- function(map, net = NULL, ...) {
    set.seed(9)
    quiet(dat$x, dat$y, map = map, net = net, init_scale = 0.1, ...,
          control = flow_control(target_log_loss = -200))
  }
  a <- run(mirror_map("pnorm", p = 3))
  b <- run(mirror_map("powers", p = 2, q = 3))
  e <- run(mirror_map("euclidean"))
  h <- run(mirror_map("hypentropy", beta = 1e-3))
  dg <- run(mirror_map("euclidean"), net = diagonal_net(ncol(dat$x)))
  cmp <- compare_directions(pnorm3 = a, powers = b, euclid = e, hyp = h,
                            diag = dg)
  expect_equal(nrow(cmp), 10)
  get <- function(i, j) cmp[cmp$fit_a == i & cmp$fit_b == j, ]
  # one horizon, two potentials: nearly the same direction
  expect_lt(get("pnorm3", "powers")$angle_deg, 1)
  # different horizons: further apart than the same-horizon pair
  expect_gt(get("pnorm3", "hyp")$angle_deg,
            10 * get("pnorm3", "powers")$angle_deg)
  # a diagonal net under gradient flow behaves like hypentropy (l1)
  expect_lt(get("hyp", "diag")$angle_deg, get("euclid", "diag")$angle_deg)
  w1 <- drop(coef(a)$W1)
  w2 <- drop(coef(h)$W1)
  expect_equal(get("pnorm3", "hyp")$cosine,
               sum(w1 * w2) / sqrt(sum(w1^2) * sum(w2^2)), tolerance = 1e-12)
  expect_error(compare_directions(a), "at least two")
  expect_error(compare_directions(a, 1), "argument 2 must be a mirror_flow")
})
