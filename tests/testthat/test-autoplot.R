# The figures: map colours, the autoplot() methods and the activation heat
# map, checked through the data ggplot2 builds from them rather than
# through images.

test_that("map colours are fixed per family and shaded by parameter", {
  fam <- map_colours(c("euclidean", "pnorm(p = 2)", "hypentropy(beta = 1)",
                       "powers(p = 1.5, q = 3)", "cosh", "custom 'custom'"))
  expect_named(fam)
  expect_match(fam, "^#[0-9A-F]{6}$")
  expect_equal(unname(fam), c("#0072B2", "#009E73", "#D55E00", "#CC79A7",
                              "#E69F00", "#56B4E9"))
  expect_equal(anyDuplicated(fam), 0L)

  lum <- function(col) sum(strtoi(substring(col, c(2, 4, 6), c(3, 5, 7)), 16))
  hyp <- map_colours(c("hypentropy(beta = 0.01)", "hypentropy(beta = 0.1)",
                       "hypentropy(beta = 1)", "hypentropy(beta = 10)"))
  expect_true(all(diff(vapply(hyp, lum, 0)) > 0))
  expect_lt(lum(map_colours("pnorm(p = 1.5)")),
            lum(map_colours("pnorm(p = 3)")))

  # the horizon part of a sparsity result's label does not matter; a
  # repeat marker gives another shade; unknown labels are grey
  expect_equal(unname(map_colours("hypentropy(beta = 0.1) [l1 horizon]")),
               unname(map_colours("hypentropy(beta = 0.1)")))
  expect_false(map_colours("cosh (2)") == map_colours("cosh"))
  expect_equal(unname(map_colours("something else")), "#999999")
  expect_error(map_colours(1:3), "'labels' must be a character vector")
})

test_that("a missing ggplot2 is reported by name", {
  need <- getFromNamespace("need_package", "mirrorflow")
  expect_error(need("notapackage.mf", "activation_heatmap()"),
               "activation_heatmap\\(\\) needs the notapackage.mf package")
  expect_true(need("stats", "x"))
})

skip_if_not_installed("ggplot2")

make_fit <- function(map, seed = 3) {
  set.seed(seed)
  mirror_flow(sparse_teacher$x, sparse_teacher$y,
              net = homogeneous_net(c(20, 8, 1)), map = map,
              control = flow_control(target_log_loss = -5, rtol = 1e-4,
                                     keep_params = TRUE, checkpoints = 12))
}
data(sparse_teacher, package = "mirrorflow", envir = environment())
f_euc <- make_fit(mirror_map("euclidean"))
f_hyp <- make_fit(mirror_map("hypentropy", beta = 0.1))
f_cosh <- make_fit(mirror_map("cosh"))
s_euc <- feature_sparsity(f_euc)
s_hyp <- feature_sparsity(f_hyp)
s_cosh <- feature_sparsity(f_cosh)

# Colour of each legend key in a built plot's layer i.
key_colours <- function(p, i = 1) {
  d <- ggplot2::layer_data(p, i)
  keys <- levels(p$data$.key)
  stats::setNames(vapply(seq_along(keys), function(g)
    unique(d$colour[d$group == g]), ""), keys)
}

test_that("trajectory plots have one panel per quantity, one line per fit", {
  fits <- list(f_euc, f_hyp, f_cosh)
  p <- ggplot2::autoplot(f_euc, f_hyp, f_cosh)
  expect_s3_class(p, "ggplot")
  b <- ggplot2::ggplot_build(p)
  d <- b$data[[1]]
  rows <- sum(vapply(fits, function(f) nrow(trajectory(f)), 1L))
  expect_equal(nrow(d), 3 * rows)
  expect_equal(length(unique(d$group)), 3)
  expect_equal(nrow(b$layout$layout), 3)
  expect_equal(as.character(b$layout$layout$.panel),
               c("log-loss", "Q-margin", "horizon norm Q"))
  expect_equal(p$labels$x, "log time, log t")
  expect_equal(levels(p$data$.key), c("euclidean", "hypentropy(beta = 0.1)",
                                      "cosh"))

  # the points are the trajectory's own values
  hz <- d[d$PANEL == 3 & d$group == 2, ]
  expect_equal(hz$x, trajectory(f_hyp)$log_time)
  expect_equal(hz$y, trajectory(f_hyp)$horizon)

  # a list of fits draws the same; other columns may be chosen
  q <- ggplot2::autoplot(f_euc, list(f_hyp, f_cosh))
  expect_equal(ggplot2::layer_data(q), d)
  what <- c("smoothed_margin", "q_min", "accuracy", "balance_drift",
            "step_size", "horizon_W2")
  r <- ggplot2::ggplot_build(ggplot2::autoplot(f_euc, f_hyp, what = what))
  expect_equal(nrow(r$layout$layout), length(what))
  expect_equal(as.character(r$layout$layout$.panel)[c(1, 6)],
               c("smoothed margin", "horizon norm of W2"))
})

test_that("trajectory plots take labels and can be extended", {
  p <- ggplot2::autoplot(f_euc, f_hyp, what = "log_loss",
                         labels = c("l2", "l1"))
  sc <- ggplot2::ggplot_build(p)$plot$scales$get_scales("colour")
  expect_equal(sc$get_labels(), c("l2", "l1"))
  p2 <- p + ggplot2::theme_bw() + ggplot2::scale_y_continuous(limits = c(-6, 6))
  expect_silent(ggplot2::ggplot_build(p2))

  # the same map twice: keys told apart, same family colour in a shade,
  # another line type
  dup <- ggplot2::autoplot(f_euc, make_fit(mirror_map("euclidean"), 4),
                           what = "log_loss")
  expect_equal(levels(dup$data$.key), c("euclidean", "euclidean (2)"))
  d <- ggplot2::layer_data(dup)
  expect_equal(length(unique(d$colour)), 2)
  expect_equal(sort(unique(d$linetype)), c("dashed", "solid"))
})

test_that("a map has the same colour in every figure", {
  a <- key_colours(ggplot2::autoplot(f_euc, f_hyp))
  b <- key_colours(ggplot2::autoplot(f_cosh, f_hyp, what = "accuracy"))
  m <- key_colours(ggplot2::autoplot(s_hyp, s_cosh, type = "mass"), 2)
  k <- key_colours(ggplot2::autoplot(s_cosh, s_euc, s_hyp,
                                     type = "checkpoints"))
  h <- "hypentropy(beta = 0.1)"
  expect_equal(a[[h]], b[[h]])
  expect_equal(a[[h]], m[[h]])
  expect_equal(a[[h]], k[[h]])
  expect_equal(b[["cosh"]], k[["cosh"]])
  expect_equal(a[[h]], unname(map_colours(h)))
})

test_that("trajectory plots refuse bad input by argument", {
  expect_error(ggplot2::autoplot(f_euc, what = "nonsense"),
               "'what' must name trajectory columns.*\"nonsense\"")
  expect_error(ggplot2::autoplot(f_euc, what = "log_time"),
               "'what' must name trajectory columns")
  expect_error(ggplot2::autoplot(f_euc, what = 3), "'what'.*numeric 3")
  expect_error(ggplot2::autoplot(f_euc, s_euc),
               "'\\.\\.\\.' must hold mirror_flow fits.*object 2")
  expect_error(ggplot2::autoplot(f_euc, f_hyp, labels = "one"),
               "'labels' must be a character vector with one label")
  lin <- mirror_flow(sparse_teacher$x, sparse_teacher$y,
                     control = flow_control(target_log_loss = -5))
  expect_error(ggplot2::autoplot(lin, what = "balance_drift"),
               "no finite values to draw for \"balance_drift\"")
  expect_snapshot(ggplot2::autoplot(f_euc, what = c("log_loss", "margin")),
                  error = TRUE)
})

test_that("activation-rate and mass figures hold every neuron", {
  p <- ggplot2::autoplot(s_euc, s_hyp, s_cosh)
  expect_s3_class(p, "ggplot")
  d <- ggplot2::layer_data(p)
  expect_equal(length(unique(d$group)), 3)
  expect_equal(max(d$y), 1)
  # the steps are those of the empirical distribution of the active rates
  rate <- s_hyp$neurons$active_rate
  hy <- d[d$group == 2, ]
  hy <- hy[order(hy$x), ]
  expect_equal(hy$x, sort(unique(rate)))
  expect_equal(hy$y, stats::ecdf(rate)(hy$x))
  expect_match(p$labels$x, "share of samples")

  m <- ggplot2::autoplot(s_euc, s_hyp, type = "mass")
  ref <- ggplot2::layer_data(m, 1)
  expect_equal(sort(ref$yintercept), c(0.5, 0.9, 0.99))
  d <- ggplot2::layer_data(m, 2)
  expect_equal(nrow(d), 2 * (8 + 1))
  hy <- d[d$group == 2, ]
  expect_equal(hy$y, c(0, cumsum(sort(s_hyp$neurons$mass_share,
                                      decreasing = TRUE))),
               tolerance = 1e-12)
  # the 90 per cent level is crossed at mass_90 neurons
  expect_equal(min(hy$x[hy$y >= 0.9 - 1e-12]), s_hyp$layers$mass_90)
  expect_equal(m$labels$y, "cumulative share of the mass")
})

test_that("checkpoint figures follow the per-checkpoint summaries", {
  p <- ggplot2::autoplot(s_euc, s_hyp, type = "checkpoints")
  b <- ggplot2::ggplot_build(p)
  rows <- nrow(s_euc$checkpoints) + nrow(s_hyp$checkpoints)
  expect_equal(nrow(b$data[[1]]), 3 * rows)
  expect_equal(nrow(b$layout$layout), 3)
  expect_equal(as.character(b$layout$layout$.panel),
               c("active fraction", "Gini index per sample",
                 "Hoyer index per sample"))
  expect_equal(p$labels$x, "log time, log t")
  gi <- b$data[[1]][b$data[[1]]$PANEL == 2 & b$data[[1]]$group == 1, ]
  expect_equal(gi$y, s_euc$checkpoints$gini_sample)

  plain <- feature_sparsity(f_euc, along = FALSE)
  expect_error(ggplot2::autoplot(s_hyp, plain, type = "checkpoints"),
               "needs per-checkpoint summaries, which result 2 lacks")
})

test_that("sparsity figures refuse bad input by argument", {
  expect_error(ggplot2::autoplot(s_euc, type = "heatmap"),
               "activation_heatmap\\(fit\\)")
  expect_error(ggplot2::autoplot(s_euc, type = "bars"),
               "'type' must be one of .*\"bars\"")
  expect_error(ggplot2::autoplot(s_euc, layer = 2),
               "'layer' must be at least 1 and at most 1")
  expect_error(ggplot2::autoplot(s_euc, list(f_euc)),
               "'\\.\\.\\.' must hold feature_sparsity results.*object 2")
  expect_error(ggplot2::autoplot(s_euc, labels = c("a", "b")),
               "'labels'.*\\(1\\)")
  expect_snapshot(ggplot2::autoplot(s_euc, type = "heatmap"), error = TRUE)
})

test_that("the heat map has one cell per sample and neuron", {
  p <- activation_heatmap(f_hyp)
  expect_s3_class(p, "ggplot")
  d <- ggplot2::layer_data(p, 1)
  expect_equal(nrow(d), min(200, 200) * 8)
  d <- ggplot2::layer_data(activation_heatmap(f_hyp, max_samples = 50), 1)
  expect_equal(nrow(d), 50 * 8)
  expect_equal(length(unique(d$x)), 8)
  expect_equal(length(unique(d$y)), 50)

  # ordered: the heaviest neuron first, samples by label; zeros left
  # blank (NA fill, white)
  h <- activations(f_hyp)
  w <- coef(f_hyp)
  mass <- sqrt(rowSums(w$W1^2)) * sqrt(colSums(w$W2^2))
  pd <- p$data
  first <- pd$.fill[pd$.x == 1]
  expect_equal(sort(first[!is.na(first)]),
               sort(h[h[, which.max(mass)] > 0, which.max(mass)]))
  expect_equal(sum(is.na(pd$.fill)), sum(h == 0))
  expect_s3_class(p$layers[[2]]$geom, "GeomHline")
  ly <- ggplot2::layer_data(p, 2)
  # (the y scale is reversed, so built positions are negated)
  expect_equal(-ly$yintercept, sum(sparse_teacher$y == -1) + 0.5)

  # unordered, and new inputs without labels
  u <- activation_heatmap(f_hyp, order = FALSE)
  expect_equal(u$data$.fill[u$data$.x == 3 & u$data$.y == 7],
               if (h[7, 3] > 0) unname(h[7, 3]) else NA_real_)
  x <- activation_heatmap(f_hyp, x = sparse_teacher$x[1:30, ])
  expect_equal(nrow(ggplot2::layer_data(x, 1)), 30 * 8)
  expect_equal(length(x$layers), 1)
  expect_equal(x$labels$y, "sample, by total activation")
})

test_that("the heat map refuses bad input by argument", {
  lin <- mirror_flow(sparse_teacher$x, sparse_teacher$y,
                     control = flow_control(target_log_loss = -5))
  expect_error(activation_heatmap(lin), "needs a network with hidden layers")
  expect_error(activation_heatmap(s_euc), "'fit' must be a mirror_flow fit")
  expect_error(activation_heatmap(f_hyp, max_samples = 0),
               "'max_samples' must be at least 1")
  expect_error(activation_heatmap(f_hyp, layer = 2), "'layer'")
  expect_error(activation_heatmap(f_hyp, order = NA), "'order'")
})
