# mirror_sweep() against runs made one by one, across future plans, with a
# failing run; compare_sparsity() against direct summaries and tests.

sweep_data <- function() simulate_sparse_linear(120, 10, 2, gap = 0.1,
                                                seed = 21)
quick <- flow_control(target_log_loss = -3, rtol = 1e-4)

test_that("sweep_grid() expands maps and columns", {
  g <- sweep_grid(map = list(a = mirror_map("euclidean"),
                             b = mirror_map("cosh")),
                  width = c(4, 8), seed = 1:3)
  expect_equal(nrow(g), 12)
  expect_equal(g$map_label[1:2], c("a", "b"))
  expect_s3_class(g$map[[2]], "mirror_map")
  expect_equal(sort(unique(g$seed)), 1:3)
  g1 <- sweep_grid(mirror_map("pnorm", p = 3))
  expect_equal(g1$map_label, "pnorm(p = 3)")
  expect_error(sweep_grid(list(1)), "'map' element 1 must be a mirror_map")
  expect_error(sweep_grid(mirror_map("cosh"), 1:3), "must be named")
})

test_that("each row equals the same run made by hand", {
  d <- sweep_data()
  g <- sweep_grid(map = list(mirror_map("euclidean"),
                             mirror_map("hypentropy", beta = 0.1)),
                  width = 6, seed = c(3, 4))
  sw <- mirror_sweep(g, d, control = quick, keep_fits = TRUE)
  expect_s3_class(sw, "mirror_sweep")
  expect_equal(nrow(sw), 4)
  expect_true(all(sw$status == "ok"))
  for (i in seq_len(nrow(g))) {
    set.seed(g$seed[i])
    net <- homogeneous_net(c(10, 6, 1))
    fit <- mirror_flow(d, net = net, map = g$map[[i]], control = quick,
                       init = init_weights(net))
    expect_equal(sw$log_loss[i], fit$log_loss)
    expect_equal(sw$steps[i], fit$steps)
    fs <- feature_sparsity(fit)$layers
    expect_equal(sw$active_fraction[i], fs$active_fraction)
    expect_equal(sw$gini_sample[i], fs$gini_sample)
    expect_equal(coef(attr(sw, "fits")[[i]]), coef(fit))
  }
  # rows that differ only in the map start from the same weights
  fits <- attr(sw, "fits")
  expect_equal(coef(fits[[1]], "init"), coef(fits[[2]], "init"))
  expect_false(isTRUE(all.equal(coef(fits[[1]], "init"),
                                coef(fits[[3]], "init"))))
  expect_output(print(sw), "4 runs \\(4 ok, 0 failed\\)")
})

test_that("the sweep leaves the session's random stream alone", {
  d <- sweep_data()
  g <- sweep_grid(mirror_map("euclidean"), width = 4, seed = 1)
  set.seed(99)
  before <- .Random.seed
  mirror_sweep(g, d, control = quick)
  expect_identical(.Random.seed, before)
})

test_that("plans sequential and multisession give identical results", {
  skip_on_cran()
  skip_if_not_installed("future")
  d <- sweep_data()
  g <- sweep_grid(map = list(mirror_map("euclidean"),
                             mirror_map("pnorm", p = 3)),
                  width = 5, seed = 1:2)
  old <- future::plan(future::sequential)
  on.exit(future::plan(old), add = TRUE)
  a <- mirror_sweep(g, d, control = quick)
  future::plan(future::multisession, workers = 2)
  b <- mirror_sweep(g, d, control = quick)
  keep <- setdiff(names(a), "elapsed")
  expect_identical(as.data.frame(a)[keep], as.data.frame(b)[keep])
})

test_that("a failing run is reported in its row and the others kept", {
  d <- sweep_data()
  armed <- FALSE
  calls <- 0
  # a custom euclidean map whose gradient fails once the flow is running
  boom <- mirror_map("custom", name = "boom",
                     potential = function(x) x^2 / 2,
                     gradient = function(x) {
                       if (armed) {
                         calls <<- calls + 1
                         if (calls > 20) stop("the gradient broke")
                       }
                       x
                     },
                     inverse = function(z) z)
  armed <- TRUE
  g <- sweep_grid(map = list(mirror_map("euclidean"), boom), width = 0,
                  seed = 1)
  expect_warning(sw <- mirror_sweep(g, d, control = quick),
                 "1 of 2 runs failed")
  expect_equal(sw$status, c("ok", "failed"))
  expect_match(sw$error[2], "the gradient broke")
  expect_true(is.finite(sw$log_loss[1]))
  expect_true(is.na(sw$log_loss[2]))
})

test_that("bad grids and data fail before any run", {
  d <- sweep_data()
  g <- data.frame(map = c("pnorm", "nosuch"), p = c(3, NA))
  expect_error(mirror_sweep(g, d), "row 2: unknown map family \"nosuch\"")
  expect_error(mirror_sweep(data.frame(map = "pnorm"), d),
               "row 1: 'p' is needed for the pnorm map")
  expect_error(mirror_sweep(data.frame(width = 3), d),
               "must have a column 'map'")
  expect_error(mirror_sweep(data.frame(), d), "'grid' must be a data frame")
  expect_error(mirror_sweep(data.frame(map = "cosh", integrator = "rk4"), d),
               "row 1: 'integrator' must be one of")
  expect_error(mirror_sweep(data.frame(map = "cosh", width = "4xa"), d),
               "'width' \"4xa\" is not a number")
  expect_error(mirror_sweep(data.frame(map = "cosh"), list(x = d$x)),
               "'data' has no labels")
  expect_error(mirror_sweep(data.frame(map = "cosh"), d$x),
               "'data' must be a mirrorflow_data object")
  expect_error(mirror_sweep(data.frame(map = "cosh"), d, control = list()),
               "'control' must come from flow_control")
})

test_that("character grids with parameters and test data work", {
  d <- sweep_data()
  parts <- split_data(d, test = 0.25, seed = 2)
  g <- data.frame(map = c("pnorm", "hypentropy"), p = c(3, NA),
                  beta = c(NA, 0.5), seed = 1)
  sw <- mirror_sweep(g, parts$train, test = parts$test,
                     control = flow_control(target_log_loss = -10))
  expect_equal(sw$map, c("pnorm(p = 3)", "hypentropy(beta = 0.5)"))
  expect_equal(sw$family, c("pnorm", "hypentropy"))
  expect_true(all(sw$test_accuracy > 0.85))
  expect_false("active_fraction" %in% names(sw))
})

test_that("compare_sparsity() agrees with direct summaries and tests", {
  sw <- data.frame(map = rep(c("a", "b", "c"), each = 5),
                   status = "ok",
                   gini_sample = c(0.1, 0.2, 0.15, 0.12, 0.18,
                                   0.5, 0.55, 0.45, 0.52, 0.48,
                                   0.3, 0.31, 0.29, 0.35, 0.2),
                   active_fraction = c(1:15) / 20)
  sw$status[15] <- "failed"
  cs <- compare_sparsity(sw, c("gini_sample", "active_fraction"),
                         R = 500, seed = 3)
  expect_s3_class(cs, "sparsity_comparison")
  ok <- sw[sw$status == "ok", ]
  means <- tapply(ok$gini_sample, ok$map, mean)
  sds <- tapply(ok$gini_sample, ok$map, sd)
  g <- cs[cs$metric == "gini_sample", ]
  expect_equal(g$mean, as.vector(means))
  expect_equal(g$sd, as.vector(sds))
  expect_equal(g$n, c(5, 5, 4))
  ci <- t.test(ok$gini_sample[ok$map == "b"])$conf.int
  expect_equal(c(g$t_lower[2], g$t_upper[2]), as.vector(ci))
  expect_true(all(g$lower <= g$mean & g$mean <= g$upper))
  expect_true(all(g$lower >= tapply(ok$gini_sample, ok$map, min)))
  tt <- attr(cs, "tests")
  kw <- kruskal.test(gini_sample ~ factor(map), data = ok)
  expect_equal(tt$kruskal_p[1], kw$p.value)
  av <- oneway.test(gini_sample ~ factor(map), data = ok, var.equal = TRUE)
  expect_equal(tt$anova_p[1], av$p.value)
  expect_lt(tt$kruskal_p[1], 0.01)
  # the bootstrap is reproducible and leaves the session's stream alone
  set.seed(5)
  before <- .Random.seed
  expect_identical(compare_sparsity(sw, "gini_sample", R = 500, seed = 3),
                   compare_sparsity(sw, "gini_sample", R = 500, seed = 3))
  expect_identical(.Random.seed, before)
  expect_output(print(cs), "Kruskal-Wallis")
})

test_that("compare_sparsity() input errors name the argument", {
  sw <- data.frame(map = c("a", "b"), x = c(1, 2), s = c("u", "v"))
  expect_error(compare_sparsity(1:3), "'sweep' must be a mirror_sweep")
  expect_error(compare_sparsity(sw, "nope"), "no column \"nope\"")
  expect_error(compare_sparsity(sw, "x", by = "zz"), "no column \"zz\"")
  expect_error(compare_sparsity(sw, "s"), "\"s\" is not numeric")
  expect_error(compare_sparsity(sw, "x", level = 1.5), "'level' must be")
  expect_error(compare_sparsity(sw, "x", R = 0), "'R' must be at least 1")
  one <- compare_sparsity(sw, "x", R = 10)
  expect_true(is.na(attr(one, "tests")$kruskal_p))
})

test_that("compare_sparsity() checks its seed", {
  sw <- data.frame(map = c("a", "b"), x = c(1, 2))
  expect_error(compare_sparsity(sw, "x", seed = "a"),
               "'seed' must be a single number")
  expect_error(compare_sparsity(sw, "x", seed = 1.5), "'seed' must be a whole")
})
