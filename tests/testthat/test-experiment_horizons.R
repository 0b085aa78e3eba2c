# experiment_horizons() at tiny settings: its structure, its numbers
# against runs and solvers made here independently, its resumption from
# the cache, and its argument checks.

tiny <- list(n = 20, d = 6, k = 2, width = 4, target_log_loss = -200,
             relu_target_log_loss = -30, cosh_max_steps = 400,
             time_limit = 20)

run_tiny <- function(cache = NULL, ...) {
  args <- utils::modifyList(tiny, list(...))
  do.call(experiment_horizons, c(args, list(cache = cache)))
}

# One uncached run shared by the tests that only read it.
tiny_result <- local({
  ex <- NULL
  function() {
    if (is.null(ex)) ex <<- run_tiny()
    ex
  }
})

test_that("the experiment has its tables, figures and captions", {
  ex <- tiny_result()
  expect_s3_class(ex, "mirrorflow_experiment")
  expect_identical(ex$name, "horizons")
  expect_identical(names(ex$tables),
                   c("runs", "references", "angles_along", "linear_angles",
                     "diagonal_angles", "pairwise", "relu_margins", "kkt",
                     "kkt_relu"))
  if (requireNamespace("ggplot2", quietly = TRUE)) {
    expect_identical(names(ex$figures),
                     c("angles_linear", "angles_diagonal", "final_angles",
                       "q_margins_relu", "kkt_relu_plot"))
    for (f in ex$figures) expect_s3_class(f, "ggplot")
  }
  expect_setequal(names(ex$captions), c(names(ex$tables), names(ex$figures)))
  expect_true(all(nzchar(ex$captions)))
  expect_equal(ex$settings$n, 20)
  expect_equal(ex$settings$cosh_max_steps, 400)
  expect_identical(ex$settings$horizons,
                   c("l3", "l3", "l3", "l2", "l1", "l-infinity"))

  runs <- ex$tables$runs
  expect_equal(nrow(runs), 18)
  expect_identical(unique(runs$network), c("linear", "diagonal", "relu"))
  cosh <- runs[runs$map == "cosh" & runs$network != "relu", ]
  expect_true(all(cosh$steps <= 400))
  fast <- runs[runs$map != "cosh" & runs$network != "relu", ]
  expect_true(all(fast$stop_reason == "target_log_loss"))
  expect_true(all(fast$log_loss <= -200))

  la <- ex$tables$linear_angles
  expect_identical(names(la), c("map", "horizon", "limit", "l1", "l2", "l3",
                                "l-infinity", "closest", "support"))
  expect_true(all(la[c("l1", "l2", "l3", "l-infinity")] >= 0 &
                    la[c("l1", "l2", "l3", "l-infinity")] <= 180))
  da <- ex$tables$diagonal_angles
  expect_identical(da$limit, c("l1.5", "l1.5", "l1.5", "l1", "l0.5",
                               "l-infinity"))
  expect_equal(nrow(ex$tables$pairwise), 3 * choose(6, 2))

  # the final table is the last row of the trajectories it summarises
  al <- ex$tables$angles_along
  a <- al[al$network == "linear" & al$map == "euclidean" &
            al$reference == "l2", ]
  expect_equal(la$l2[la$map == "euclidean"],
               a$angle_deg[which.max(a$log_time)])

  # Q-margins relative to the best map: each column has a 1, none above
  rm <- ex$tables$relu_margins
  g <- c("l1", "l2", "l3", "l-infinity")
  expect_equal(unname(apply(as.matrix(rm[g]), 2, max)), rep(1, 4))
  expect_true(all(as.matrix(rm[g]) > 0))

  kk <- ex$tables$kkt
  expect_true(all(is.na(unlist(kk[kk$map == "cosh", c("l1", "l2", "l3")]))))
  expect_true(all(unlist(kk[kk$map != "cosh", c("l1", "l2", "l3")]) >= 0))
})

test_that("angles, margins and residuals agree with independent runs", {
  skip_if_not_installed("quadprog")
  ex <- tiny_result()
  data <- simulate_sparse_linear(20, 6, 2, gap = 0.1, seed = 1)

  # the l2 max margin by another solver
  qp <- quadprog::solve.QP(diag(6), rep(0, 6), t(data$y * data$x),
                           rep(1, 20))
  ref <- ex$tables$references
  expect_equal(ref$margin[ref$network == "linear" & ref$gauge == "l2"],
               1 / sqrt(sum(qp$solution^2)), tolerance = 1e-6)

  # the euclidean run redone here, its angle to the quadprog solution
  net <- homogeneous_net(c(6, 1), "linear")
  w0 <- mirrorflow:::with_seed(1, init_weights(net, 0.1))
  fit <- suppressWarnings(mirror_flow(
    data, net = net, map = mirror_map("euclidean"), init = w0,
    progress = FALSE, control = flow_control(target_log_loss = -200,
                                             time_limit = 20)))
  w <- drop(coef(fit)$W1)
  s <- qp$solution
  angle <- acos(sum(w * s) / sqrt(sum(w^2) * sum(s^2))) * 180 / pi
  la <- ex$tables$linear_angles
  expect_equal(la$l2[la$map == "euclidean"], angle, tolerance = 1e-4)
  # and its KKT residual for the l2 problem
  kk <- ex$tables$kkt
  expect_equal(kk$l2[kk$network == "linear" & kk$map == "euclidean"],
               kkt_residual(fit)$stationarity, tolerance = 1e-6)

  # the diagonal euclidean run: its predictor against the l1 solution
  dnet <- diagonal_net(6)
  dfit <- suppressWarnings(mirror_flow(
    data, net = dnet, map = mirror_map("euclidean"),
    init = init_weights(dnet, 0.1), progress = FALSE,
    control = flow_control(target_log_loss = -200, time_limit = 20)))
  wd <- dfit$weights$u^2 - dfit$weights$v^2
  l1 <- max_margin(data$x, data$y, "l1")$direction
  da <- ex$tables$diagonal_angles
  expect_equal(da$l1[da$map == "euclidean"],
               acos(sum(wd * l1) / sqrt(sum(wd^2) * sum(l1^2))) * 180 / pi,
               tolerance = 1e-6)

  # for a linear predictor, the function angle on isotropic inputs is the
  # angle between the weight vectors up to sampling error
  pw <- ex$tables$pairwise
  lin <- pw[pw$network != "relu", ]
  expect_lt(max(abs(lin$angle_deg - lin$function_angle_deg)), 3)
})

test_that("the one-pass alignment agrees with alignment()", {
  data <- simulate_sparse_linear(20, 6, 2, gap = 0.1, seed = 3)
  ref <- max_margin(data$x, data$y, "lp", p = 3)
  for (net in list(homogeneous_net(c(6, 1), "linear"), diagonal_net(6))) {
    fit <- suppressWarnings(mirror_flow(
      data, net = net, map = mirror_map("pnorm", p = 3), progress = FALSE,
      init = mirrorflow:::with_seed(1, init_weights(net, 0.1)),
      control = flow_control(target_log_loss = -50, keep_params = TRUE,
                             checkpoints = 15)))
    a <- alignment(fit, ref, along = "trajectory")
    b <- mirrorflow:::alignment_along(fit, ref)
    expect_equal(b$log_time, a$log_time)
    expect_equal(b$angle_deg, a$angle_deg, tolerance = 1e-10)
    expect_equal(b$margin_gap, a$margin_gap, tolerance = 1e-10)
  }
})

test_that("a second call with the same cache runs nothing again", {
  cache <- tempfile("horizons-cache-")
  on.exit(unlink(cache, recursive = TRUE), add = TRUE)
  first <- run_tiny(cache)
  files <- list.files(cache)
  # 18 flows and the max-margin solutions of 5 gauges
  expect_length(files, 23)
  ns <- asNamespace("mirrorflow")
  saved <- list(mirror_flow = get("mirror_flow", ns),
                max_margin = get("max_margin", ns))
  on.exit(for (nm in names(saved))
    utils::assignInNamespace(nm, saved[[nm]], "mirrorflow"), add = TRUE)
  utils::assignInNamespace("mirror_flow", function(...)
    stop("mirror_flow() was run again"), "mirrorflow")
  utils::assignInNamespace("max_margin", function(...)
    stop("max_margin() was run again"), "mirrorflow")
  second <- run_tiny(cache)
  expect_identical(second$tables, first$tables)
  expect_identical(list.files(cache), files)
  # a changed setting is a new key, and runs (so here it fails)
  expect_error(run_tiny(cache, relu_target_log_loss = -31), "run again")
})

test_that("bad arguments are refused by name", {
  expect_error(experiment_horizons(scale = "medium"), "'scale'")
  expect_error(experiment_horizons(n = -1), "'n'")
  expect_error(experiment_horizons(d = 2.5), "'d'")
  expect_error(experiment_horizons(d = 5, k = 6), "'k'")
  expect_error(experiment_horizons(width = "a"), "'width'")
  expect_error(experiment_horizons(beta = 0), "'beta'")
  expect_error(experiment_horizons(init_scale = -1), "'init_scale'")
  expect_error(experiment_horizons(target_log_loss = 5), "'target_log_loss'")
  expect_error(experiment_horizons(relu_target_log_loss = NA),
               "'relu_target_log_loss'")
  expect_error(experiment_horizons(cosh_max_steps = 0.5), "'cosh_max_steps'")
  expect_error(experiment_horizons(time_limit = 0), "'time_limit'")
  expect_error(experiment_horizons(seed = "x"), "'seed'")
  expect_error(experiment_horizons(cache = 1), "'cache'")
})
