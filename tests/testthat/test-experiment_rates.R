# Tests of experiment_rates(): the object's structure, its numbers against
# max_margin(), an independent run of the same flow and planted curves,
# the resume from a cache, and the argument checks.

skip_if_not_installed("ggplot2")

tiny <- function(cache = NULL, ...) {
  experiment_rates(n = 30, d = 8, k = 2, seed = 3,
                   maps = list(mirror_map("euclidean"),
                               mirror_map("hypentropy", beta = 0.1),
                               mirror_map("cosh")),
                   max_steps = 1500, relu_width = 8,
                   relu_maps = list(mirror_map("euclidean")),
                   relu_steps = 1000, cache = cache, ...)
}

test_that("the experiment has the frame's structure", {
  ex <- tiny()
  expect_s3_class(ex, "mirrorflow_experiment")
  expect_identical(ex$name, "rates")
  expect_setequal(names(ex$tables), c("runs", "rates"))
  expect_setequal(names(ex$figures), c("trajectories", "gap_fit",
                                       "fitted_rates"))
  expect_setequal(names(ex$captions), c(names(ex$tables),
                                        names(ex$figures)))
  for (f in ex$figures) expect_s3_class(f, "ggplot")
  expect_true(all(names(ex$figures) %in% names(ex$sizes)))
  expect_equal(nrow(ex$tables$runs), 4)
  expect_identical(ex$tables$runs$model,
                   c(rep("linear model", 3), "ReLU net, width 8"))
  expect_identical(ex$settings$max_steps, 1500)
  expect_identical(ex$settings$maps,
                   "euclidean, hypentropy(beta = 0.1), cosh")
  # every figure can be drawn
  for (f in ex$figures) expect_silent(ggplot2::ggplot_build(f))
})

test_that("numbers agree with max_margin() and an independent run", {
  ex <- tiny()
  runs <- ex$tables$runs
  ds <- simulate_sparse_linear(30, 8, 2, seed = 3)
  for (m in list(mirror_map("euclidean"), mirror_map("hypentropy",
                                                      beta = 0.1),
                 mirror_map("cosh"))) {
    row <- runs[runs$model == "linear model" &
                  runs$map == mirrorflow:::map_label(m), ]
    mm <- max_margin(ds$x, ds$y, gauge = m)
    expect_equal(row$reference, mm$margin, tolerance = 1e-12)
    expect_equal(row$gap, mm$margin - row$q_margin, tolerance = 1e-12)
    # a Q-margin never exceeds the max-margin value of its gauge
    expect_lte(row$q_margin, mm$margin + 1e-9)
  }

  # cosh on the linear model runs with the proximal integrator, the others
  # with the adaptive one; far out (20,000 steps), its loss falls like
  # t^(-g / (1 + g)), g the l-infinity max margin (the vignette's
  # caricature, whose corrections fade like e^(-Q))
  expect_identical(runs$integrator,
                   c("adaptive", "adaptive", "proximal", "adaptive"))
  far <- experiment_rates(n = 30, d = 8, k = 2, seed = 3,
                          maps = list(mirror_map("cosh")), max_steps = 2e4,
                          relu_width = 0)
  g_cosh <- max_margin(ds$x, ds$y, gauge = mirror_map("cosh"))$margin
  r <- far$tables$rates
  fitted <- r$exponent[r$map == "cosh" & r$quantity == "loss" &
                         r$law == "t"]
  expect_equal(fitted, -g_cosh / (1 + g_cosh), tolerance = 1e-4)
  expect_lt(far$tables$runs$log_loss, -10000)
  expect_lt(far$tables$runs$relative_gap, 1e-3)
  # a run too short to reach log t = 1 is refused by name
  # (the flow has not separated the data yet, and says so)
  expect_error(suppressWarnings(
    experiment_rates(n = 30, d = 8, k = 2, seed = 3,
                     maps = list(mirror_map("cosh")), max_steps = 100,
                     relu_width = 0)), "'max_steps'")

  # the euclidean run again by hand: same flow, same glance, same rates
  set.seed(3)
  fit <- suppressWarnings(mirror_flow(
    ds, map = mirror_map("euclidean"), init_scale = 0.1, progress = FALSE,
    control = flow_control(target_log_loss = -Inf, max_steps = 1500,
                           checkpoints = 1501, rtol = 1e-6, atol = 1e-10)))
  g <- glance(fit)
  row <- runs[runs$map == "euclidean" & runs$model == "linear model", ]
  expect_equal(row$log_time, g$log_time)
  expect_equal(row$q_margin, g$q_margin)
  expect_identical(row$stop_reason, g$stop_reason)
  cr <- convergence_rates(fit, window = c(0.1, 1) * g$log_time,
                          reference = max_margin(ds$x, ds$y)$margin)
  rt <- ex$tables$rates
  mine <- rt[rt$model == "linear model" & rt$map == "euclidean", ]
  key <- paste(cr$quantity, cr$law)
  expect_equal(mine$exponent[match(key, paste(mine$quantity, mine$law))],
               cr$exponent)

  # and gradient flow's known rates on a linear model (Lyu and Li 2020;
  # Soudry et al. 2018; see ?convergence_rates)
  get <- function(q, l) mine$exponent[mine$quantity == q & mine$law == l]
  expect_equal(get("loss", "t"), -1, tolerance = 1e-3)
  expect_equal(get("horizon_norm", "log t"), 1, tolerance = 0.02)
  expect_equal(get("margin_gap", "log t"), -1, tolerance = 0.05)
  expect_equal(mine$prediction[mine$quantity == "margin_gap" &
                                 mine$law == "log t"], -1)

  # the cosh prediction is -g / (1 + g) with g its l-infinity max margin
  g_inf <- max_margin(ds$x, ds$y, gauge = "linf")$margin
  ch <- rt[rt$map == "cosh" & rt$quantity == "loss" & rt$law == "t", ]
  expect_equal(ch$prediction, -g_inf / (1 + g_inf))
})

test_that("the margin extrapolation recovers a planted limit", {
  lt <- exp(seq(log(10), log(1e4), length.out = 200))
  tr <- data.frame(log_time = lt, q_margin = 0.3 - 2 * lt^-0.5)
  ex <- mirrorflow:::extrapolate_margin(tr, c(10, 1e4))
  expect_equal(ex$limit, 0.3, tolerance = 1e-6)
  expect_equal(ex$b, 0.5, tolerance = 1e-4)
  expect_equal(ex$c, 2, tolerance = 1e-4)
  # a margin that keeps growing linearly has no limit to extrapolate
  tr$q_margin <- 0.01 * lt
  expect_true(is.na(mirrorflow:::extrapolate_margin(tr, c(10, 1e4))$limit))
})

test_that("thinning keeps log t >= 1 and the last row", {
  tr <- data.frame(log_time = c(-3, 0.5, seq(1, 1e4, by = 0.5)))
  th <- mirrorflow:::thin_loglog(tr, 50)
  expect_true(all(th$log_time >= 1))
  expect_lte(nrow(th), 51)
  expect_equal(th$log_time[nrow(th)], 1e4)
  # evenly spaced in log(log t): the first decade of log t gets about a
  # quarter of the points, where an even grid in log t would give it none
  expect_gt(sum(th$log_time < 10), 8)
})

test_that("a cache resumes without running the flows again", {
  dir <- tempfile("rates-cache")
  on.exit(unlink(dir, recursive = TRUE))
  t1 <- system.time(a <- tiny(cache = dir))[["elapsed"]]
  files <- list.files(dir)
  # one max_margin() and one flow per linear map, one flow on the ReLU net
  expect_length(files, 3 * 2 + 1)
  stamp <- file.mtime(file.path(dir, files))
  # with every flow and solver call cached, neither may run again: count
  # the calls of rates_run() through a wrapper put in its place
  real <- mirrorflow:::rates_run
  calls <- 0
  utils::assignInNamespace("rates_run", function(...) {
    calls <<- calls + 1
    real(...)
  }, "mirrorflow")
  on.exit(utils::assignInNamespace("rates_run", real, "mirrorflow"),
          add = TRUE)
  t2 <- system.time(b <- tiny(cache = dir))[["elapsed"]]
  expect_equal(calls, 0)
  expect_identical(a$tables, b$tables)
  expect_identical(file.mtime(file.path(dir, files)), stamp)
  # (figures are built on every call, so the second call is faster, not
  # free)
  expect_lt(t2, t1)
  # a different setting is a different key, so its flows do run
  tiny(cache = dir, fit_share = 0.2)
  expect_equal(calls, 4)
})

test_that("argument errors name the argument", {
  expect_error(experiment_rates(scale = "huge"), "'scale'")
  expect_error(experiment_rates(cache = 3), "'cache'")
  expect_error(experiment_rates(n = -1), "'n'")
  expect_error(experiment_rates(d = 5, k = 6), "'k'")
  expect_error(experiment_rates(maps = list()), "'maps'")
  expect_error(experiment_rates(maps = list(mirror_map("cosh"), "x")),
               "'maps' element 2")
  expect_error(experiment_rates(maps = list(mirror_map("cosh"),
                                            mirror_map("cosh"))),
               "'maps' repeats")
  expect_error(experiment_rates(relu_maps = 1), "'relu_maps'")
  expect_error(experiment_rates(max_steps = 2.5), "'max_steps'")
  expect_error(experiment_rates(relu_width = -2), "'relu_width'")
  expect_error(experiment_rates(fit_share = 1), "'fit_share'")
  expect_error(experiment_rates(fit_share = 0), "'fit_share'")
})
