# experiment_performance(): its tables against direct computations (the
# loss and gradient in plain doubles, the max-margin solution, the
# underflow point of exp), its resumption from a cache, its argument
# checks.

tiny <- function(cache = NULL, ...) {
  experiment_performance(
    n = 30, d = 5, k = 2, width = 4, targets = c(-20, -60),
    maps = list(mirror_map("euclidean"), mirror_map("pnorm", p = 3)),
    relu_maps = list(mirror_map("euclidean")), max_steps = 3000,
    md_steps = 300, demo_target = -800, cache = cache, ...)
}

# One run of the tiny experiment serves every test; the cache test calls
# it again on the same cache.
perf_cache <- tempfile("perf-cache")
withr_free_cleanup <- function() unlink(perf_cache, recursive = TRUE)
if (requireNamespace("ggplot2", quietly = TRUE)) {
  perf_t1 <- system.time(perf_ex <- tiny(perf_cache))[["elapsed"]]
}

test_that("the experiment has its tables, figures and captions", {
  skip_if_not_installed("ggplot2")
  ex <- perf_ex
  expect_s3_class(ex, "mirrorflow_experiment")
  expect_named(ex$tables, c("log_space", "integrators", "references"))
  expect_named(ex$figures, c("naive_vs_log_space", "evals_to_target",
                             "loss_vs_evals"))
  for (f in ex$figures) expect_s3_class(f, "ggplot")
  expect_setequal(names(ex$captions), c(names(ex$tables), names(ex$figures)))
  # 2 maps x 4 integrators x 2 targets on the linear model, 1 x 3 x 2 on
  # the ReLU net (no proximal step there)
  it <- ex$tables$integrators
  expect_equal(nrow(it), 22)
  expect_equal(sort(unique(it$integrator[it$net == "relu"])),
               c("adaptive", "loss_scaled", "md"))
  expect_equal(ex$settings$targets, c(-20, -60))
  expect_equal(ex$settings$maps, "euclidean; pnorm(p = 3)")
  # a reached target has its log-loss at or below the target; a deeper
  # target never costs fewer evaluations than a shallower one
  expect_true(all(it$log_loss[it$reached] <= it$target[it$reached]))
  key <- paste(it$net, it$map, it$integrator)
  for (g in split(it, key))
    expect_true(all(diff(g$grad_evals) >= 0))
  # mirror descent with a fixed step cannot reach log-loss -20 in 300
  # steps: its loss falls like 1 / (eta * steps) at best
  expect_false(any(it$reached[it$integrator == "md"]))
  expect_true(all(it$reached[it$integrator == "adaptive" &
                               it$net == "linear"]))
  expect_equal(it$q_margin_error,
               abs(it$q_margin - it$q_margin_ref))
  # plotting builds without error
  for (f in ex$figures) expect_silent(ggplot2::ggplot_build(f))
})

test_that("the Q-margins stay below the max margin and approach it", {
  skip_if_not_installed("ggplot2")
  it <- perf_ex$tables$integrators
  ds <- simulate_sparse_linear(30, 5, 2, seed = 1)
  mm <- max_margin(ds$x, ds$y, gauge = "l2")
  eu <- it[it$net == "linear" & it$map == "euclidean", ]
  expect_true(all(eu$q_margin <= mm$margin * (1 + 1e-8)))
  deep <- eu[eu$integrator == "adaptive" & eu$target == -60, ]
  expect_gt(deep$q_margin, 0.8 * mm$margin)
  # the adaptive run agrees with its tighter reference far better than
  # the loss-scaled schedule does
  ad <- it$q_margin_error[it$net == "linear" & it$integrator == "adaptive"]
  ls <- it$q_margin_error[it$net == "linear" &
                            it$integrator == "loss_scaled" & it$reached]
  expect_lt(max(ad), 1e-5)
  if (length(ls)) expect_lt(max(ad), min(ls))
  # the proximal step, first order, takes many short steps early at this
  # tolerance (pnorm(3) does not reach -20 in 3000); where it arrives its
  # Q-margin agrees with the reference
  px <- it[it$net == "linear" & it$integrator == "proximal", ]
  expect_equal(nrow(px), 4)
  expect_true(all(px$reached[px$map == "euclidean"]))
  expect_lt(max(px$q_margin_error, na.rm = TRUE), 1e-6)
})

test_that("the naive loss and gradient match log space until exp underflows", {
  skip_if_not_installed("ggplot2")
  ds <- simulate_sparse_linear(30, 5, 2, seed = 1)
  net <- homogeneous_net(c(5, 1), "linear")
  w <- list(matrix(c(3, -1, 2, 0.5, 1), 1))
  nv <- mirrorflow:::naive_loss_grad(net, ds$x, ds$y, w)
  ls <- network_loss(net, ds$x, ds$y, w)
  expect_equal(log(nv$loss), ls$log_loss, tolerance = 1e-13)
  expect_equal(nv$grad[[1]] / nv$loss, ls$gradient[[1]], tolerance = 1e-12,
               ignore_attr = TRUE)
  # a ReLU net against the same
  rnet <- homogeneous_net(c(5, 3, 1), "relu")
  set.seed(3)
  rw <- init_weights(rnet)
  rn <- mirrorflow:::naive_loss_grad(rnet, ds$x, ds$y, rw)
  rl <- network_loss(rnet, ds$x, ds$y, rw)
  expect_equal(log(rn$loss), rl$log_loss, tolerance = 1e-13)
  for (l in 1:2)
    expect_equal(rn$grad[[l]] / rn$loss, rl$gradient[[l]],
                 tolerance = 1e-12, ignore_attr = TRUE)

  tab <- perf_ex$tables$log_space
  n <- 30
  # every term exp(-q_i) underflows to 0 once q_i > 745.13, and the
  # largest term is at least Loss / n: so the naive loss can first be 0
  # only below log(smallest subnormal) + log(n) and must be 0 below -745.14
  tiny_log <- log(2^-1074)
  expect_true(all(tab$naive_loss_zero_at < tiny_log + log(n)))
  expect_true(all(tab$naive_loss_zero_at > -800))
  expect_true(all(tab$max_rel_diff_normal < 1e-10))
  expect_true(all(tab$final_log_loss <= -800))
  expect_equal(tab$log_loss_vs_trajectory, c(0, 0), tolerance = 1e-12)
})

test_that("a second call with the same cache reads the runs back", {
  skip_if_not_installed("ggplot2")
  on.exit(withr_free_cleanup())
  a <- perf_ex
  n_files <- length(list.files(perf_cache, pattern = "\\.rds$"))
  expect_gt(n_files, 10)
  t2 <- system.time(b <- tiny(perf_cache))[["elapsed"]]
  expect_identical(a$tables, b$tables)
  expect_equal(length(list.files(perf_cache, pattern = "\\.rds$")), n_files)
  # the cached seconds come back, not new timings
  expect_identical(a$tables$integrators$seconds,
                   b$tables$integrators$seconds)
  expect_lt(t2, perf_t1 / 3)
  # a changed setting is a new key, not a stale value: only the mirror
  # descent runs depend on md_eta, and only they are run again
  c2 <- tiny(perf_cache, md_eta = 2e-3)
  md <- c2$tables$integrators$integrator == "md"
  expect_false(identical(c2$tables$integrators$log_loss[md],
                         a$tables$integrators$log_loss[md]))
  expect_identical(c2$tables$integrators[!md, ], a$tables$integrators[!md, ])
  # one new mirror-descent run per net and map: its first target is not
  # reached, so the deeper one is not attempted
  expect_equal(length(list.files(perf_cache, pattern = "\\.rds$")),
               n_files + 3)
})

test_that("bad arguments are refused by name", {
  expect_error(experiment_performance("medium"), "'scale'")
  expect_error(experiment_performance(cache = 3), "'cache'")
  expect_error(experiment_performance(n = -1), "'n'")
  expect_error(experiment_performance(k = 30, d = 5), "'k'")
  expect_error(experiment_performance(targets = c(-10, 5)), "'targets'")
  expect_error(experiment_performance(maps = list("euclidean")), "'maps'")
  expect_error(experiment_performance(
    relu_maps = list(mirror_map("cosh"), mirror_map("cosh"))), "'relu_maps'")
  expect_error(experiment_performance(rtol = 0), "'rtol'")
  expect_error(experiment_performance(md_eta = -1), "'md_eta'")
  expect_error(experiment_performance(reference_steps = 0.5),
               "'reference_steps'")
  expect_error(experiment_performance(relu_reference_steps = 1.5),
               "'relu_reference_steps'")
  expect_error(experiment_performance(demo_target = 5), "'demo_target'")
})
