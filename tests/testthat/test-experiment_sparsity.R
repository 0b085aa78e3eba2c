# experiment_sparsity(): structure of the result, its numbers against
# direct computations from the cached fits, resuming from the cache, and
# argument errors.

skip_if_not_installed("ggplot2")

tiny <- function(cache = NULL, ...) {
  experiment_sparsity(
    maps = list(mirror_map("euclidean"),
                mirror_map("hypentropy", beta = 0.01)),
    seeds = 1:2, teacher_n = 40, teacher_d = 4, teacher_k = 2,
    teacher_nets = c("5", "3x3"), teacher_log_loss = -2, fashion_n = 30,
    fashion_width = 5, R = 50, cache = cache, ...)
}

cache_dir <- file.path(tempdir(), "mf-test-sparsity")
unlink(cache_dir, recursive = TRUE)
t_first <- system.time(ex <- tiny(cache_dir))[["elapsed"]]

test_that("the experiment has its tables, figures and captions", {
  expect_s3_class(ex, "mirrorflow_experiment")
  expect_identical(ex$name, "sparsity")
  expect_identical(ex$scale, "quick")
  expect_setequal(names(ex$tables),
                  c("runs", "compare_teacher_5", "compare_teacher_3_3",
                    "compare_fashion"))
  expect_true(all(c("sparsity_by_map", "mass_teacher_5", "mass_fashion",
                    "neuron_rates_fashion", "heatmap_fashion",
                    "neuron_rates_teacher_3_3", "heatmap_teacher_3_3",
                    "checkpoints_teacher") %in% names(ex$figures)))
  for (f in ex$figures) expect_s3_class(f, "ggplot")
  expect_setequal(names(ex$captions), c(names(ex$tables),
                                        names(ex$figures)))
  expect_true(all(nzchar(ex$captions)))
  # maps are put in horizon order, l1 first, whatever order they came in
  expect_identical(ex$settings$maps,
                   c("hypentropy(beta = 0.01) [l1]", "euclidean [l2]"))
  runs <- ex$tables$runs
  # 3 problems x 2 maps x 2 seeds
  expect_equal(nrow(runs), 12)
  expect_equal(as.vector(table(runs$problem)[c("teacher_5", "teacher_3_3",
                                               "fashion")]), c(4, 4, 4))
  expect_true("active_fraction_layer2" %in% names(runs))
  expect_true(all(is.na(runs$active_fraction_layer2[
    runs$problem != "teacher_3_3"])))
  # the figures draw; ggplot_build fails on a bad aesthetic
  expect_no_error(ggplot2::ggplot_build(ex$figures$sparsity_by_map))
  expect_no_error(ggplot2::ggplot_build(ex$figures$heatmap_fashion))
})

test_that("run rows agree with the cached fits and with direct sums", {
  files <- list.files(cache_dir, pattern = "\\.rds$", full.names = TRUE)
  expect_length(files, 12)
  runs <- ex$tables$runs
  for (f in files) {
    v <- readRDS(f)
    fit <- v$fit
    row <- runs[runs$map == v$row$map & runs$seed == v$row$seed &
                  runs$network == sprintf(
                    "%s, %s net", if (ncol(fit$x) == 196)
                      "Fashion-MNIST" else "ReLU teacher",
                    paste(fit$net$widths, collapse = "-")), ]
    expect_equal(nrow(row), 1)
    # active fraction and mass_90 from the weights, by hand
    h <- pmax(fit$x %*% t(fit$weights[[1]]), 0)
    expect_equal(row$active_fraction, mean(h > 0))
    mass <- sqrt(rowSums(fit$weights[[1]]^2)) *
      sqrt(colSums(fit$weights[[2]]^2))
    share <- sort(mass / sum(mass), decreasing = TRUE)
    expect_equal(row$mass_90, min(which(cumsum(share) >= 0.9 - 1e-12)))
    # the log-loss from the margins of a forward pass by hand, in log space
    z <- fit$x
    L <- length(fit$weights)
    for (l in seq_len(L - 1)) z <- pmax(z %*% t(fit$weights[[l]]), 0)
    q <- fit$y * drop(z %*% t(fit$weights[[L]]))
    ll <- max(-q) + log(sum(exp(-q - max(-q))))
    expect_equal(row$log_loss, ll, tolerance = 1e-8)
    if (row$stop_reason == "target_log_loss") {
      target <- if (ncol(fit$x) == 196) ex$settings$fashion_log_loss else -2
      expect_lte(row$log_loss, target)
    }
    # a log-loss below 0 means every exp(-q_i) < 1: all margins positive
    if (row$log_loss < 0) expect_equal(row$accuracy, 1)
  }
  # the teacher nets of one seed start from the same weights for each map
  a <- readRDS(grep("euclidean_seed1", grep("net5", files, value = TRUE),
                    value = TRUE))$fit
  b <- readRDS(grep("hypentropy.*seed1", grep("net5", files, value = TRUE),
                    value = TRUE))$fit
  expect_identical(a$init, b$init)
})

test_that("the comparison tables are means and tests of the run rows", {
  runs <- ex$tables$runs
  cmp <- ex$tables$compare_fashion
  fr <- runs[runs$problem == "fashion", ]
  for (m in unique(fr$map)) {
    expect_equal(cmp$mean[cmp$metric == "gini_sample" & cmp$map == m],
                 mean(fr$gini_sample[fr$map == m]))
  }
  kw <- stats::kruskal.test(fr$active_fraction, factor(fr$map))$p.value
  expect_equal(unique(cmp$kruskal_p[cmp$metric == "active_fraction"]), kw)
  mat <- tapply(fr$active_fraction, list(fr$seed, fr$map), identity)
  expect_equal(unique(cmp$friedman_p[cmp$metric == "active_fraction"]),
               stats::friedman.test(mat)$p.value)
  deep <- ex$tables$compare_teacher_3_3
  expect_true("active_fraction_layer2" %in% deep$metric)
  expect_identical(unique(cmp$map), c("hypentropy(beta = 0.01)",
                                      "euclidean"))
})

test_that("a second call reads every run from the cache", {
  # A marked value in one cached run must come back: nothing was rerun.
  f <- list.files(cache_dir, pattern = "fashion.*euclidean_seed2",
                  full.names = TRUE)
  expect_length(f, 1)
  v <- readRDS(f)
  v$row$active_fraction <- 0.123456
  saveRDS(v, f)
  t_second <- system.time(again <- tiny(cache_dir))[["elapsed"]]
  r <- again$tables$runs
  expect_equal(r$active_fraction[r$problem == "fashion" &
                                   r$map == "euclidean" & r$seed == 2],
               0.123456)
  same <- r$problem != "fashion" | r$map != "euclidean" | r$seed != 2
  expect_identical(r[same, ], ex$tables$runs[same, ])
  expect_lt(t_second, t_first)
  # a different setting is a different key: the target is in it
  n_before <- length(list.files(cache_dir, pattern = "\\.rds$"))
  tiny(cache_dir, time_limit = 30)
  expect_equal(length(list.files(cache_dir, pattern = "\\.rds$")),
               n_before + 12)
})

test_that("argument errors name the argument", {
  expect_error(experiment_sparsity("medium"), "'scale'")
  expect_error(experiment_sparsity(maps = list(1)), "'maps'")
  expect_error(experiment_sparsity(maps = list(mirror_map("euclidean"),
                                               mirror_map("euclidean"))),
               "'maps' must not repeat")
  expect_error(experiment_sparsity(seeds = 1), "'seeds'")
  expect_error(experiment_sparsity(seeds = c(1, 1.5)), "'seeds'")
  expect_error(experiment_sparsity(teacher_nets = "ten"), "'teacher_nets'")
  expect_error(experiment_sparsity(teacher_n = -1), "'teacher_n'")
  expect_error(experiment_sparsity(fashion_n = 500), "'fashion_n'")
  expect_error(experiment_sparsity(fashion_path = "/no/such/dir"),
               "'fashion_path'")
  expect_error(experiment_sparsity(time_limit = 0), "'time_limit'")
  expect_error(experiment_sparsity(R = "many"), "'R'")
  expect_error(experiment_sparsity(cache = 3), "'cache'")
})

unlink(cache_dir, recursive = TRUE)
