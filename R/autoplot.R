# ggplot2 figures: autoplot() methods for fits and sparsity results, the
# activation heat map, and one fixed colour per mirror map so that a map
# looks the same in every figure. ggplot2 is only suggested; the methods
# are registered when it loads (see the S3method() lines in NAMESPACE).

# Columns of the long data frames handed to ggplot2.
utils::globalVariables(c(".x", ".y", ".key", ".panel", ".fill"))

# ---- colours ----------------------------------------------------------

# Okabe-Ito colours, one per family; yellow is left out because it does
# not show on a white background, grey is for labels of no known family.
family_colours <- c(euclidean = "#0072B2", pnorm = "#009E73",
                    hypentropy = "#D55E00", powers = "#CC79A7",
                    cosh = "#E69F00", custom = "#56B4E9")
unknown_colour <- "#999999"

#' Colours of mirror maps
#'
#' One fixed colour per map family, from the colour-blind-safe palette of
#' Okabe and Ito: euclidean blue, pnorm bluish green, hypentropy
#' vermillion, powers reddish purple, cosh orange, custom sky blue (grey
#' for a label of no known family). A parameter moves the colour towards
#' black or white by a fixed amount, so that `hypentropy(beta = 0.01)` is
#' a darker vermillion than `hypentropy(beta = 1)` in every figure: the
#' beta of the hyperbolic entropy, the exponent of the p-norm (darker below
#' 2), the exponents of the sums of powers, and the name of a custom map.
#' A suffix `" (2)"`, `" (3)"`, ... as the [autoplot()][autoplot.mirror_flow]
#' methods add to tell fits with the same map apart gives a further shade.
#'
#' The plotting methods of the package use these colours; for figures of
#' your own, pass them to `ggplot2::scale_colour_manual(values = ...)`.
#'
#' @param labels Map labels as the package writes them: the `map` column
#'   of [glance()], the `map` element of a [feature_sparsity()] result,
#'   or the label a [mirror_map()] prints (`"euclidean"`,
#'   `"pnorm(p = 3)"`, `"hypentropy(beta = 0.1)"`, `"powers(p = 2, q = 3)"`,
#'   `"cosh"`, `"custom 'name'"`). Anything after the first `" ["` (the
#'   horizon part of a label) is ignored.
#' @return A character vector of colours `"#RRGGBB"`, named by `labels`.
#' @examples
#' map_colours(c("euclidean", "hypentropy(beta = 1)",
#'               "hypentropy(beta = 0.01)", "cosh"))
#' @export
map_colours <- function(labels) {
  if (!is.character(labels) || anyNA(labels))
    stop(sprintf("'labels' must be a character vector of map labels, not %s",
                 describe(labels)), call. = FALSE)
  out <- vapply(labels, label_colour, "")
  names(out) <- labels
  out
}

label_colour <- function(label) {
  dup <- regmatches(label, regexec(" \\(([0-9]+)\\)$", label))[[1]]
  copy <- if (length(dup)) as.integer(dup[2]) else 1L
  lab <- sub(" \\(([0-9]+)\\)$", "", label)
  lab <- sub(" \\[.*$", "", lab)
  family <- regmatches(lab, regexpr("^[a-z]+", lab))
  if (!length(family) || !family %in% names(family_colours))
    return(unknown_colour)
  num <- function(name) {
    v <- regmatches(lab, regexec(paste0(name, " = ([-0-9.eE+]+)"), lab))[[1]]
    if (length(v)) suppressWarnings(as.double(v[2])) else NA_real_
  }
  squash <- function(v) if (is.finite(v)) tanh(v) else 0
  shade <- switch(family,
    pnorm = 0.4 * squash(log(num("p") / 2) / log(2)),
    hypentropy = 0.5 * squash(log10(num("beta"))),
    powers = 0.3 * squash(log(num("q") / 3) / log(2)) +
      0.12 * squash(log(num("p") / 1.5) / log(2)),
    custom = {
      nm <- sub("^custom '(.*)'$", "\\1", lab)
      if (identical(nm, "custom")) 0
      else ((sum(utf8ToInt(nm)) %% 7) - 3) * 0.1
    },
    0)
  offsets <- c(0, 0.3, -0.3, 0.5, -0.5)
  shade <- shade + offsets[(copy - 1L) %% length(offsets) + 1L]
  shade_colour(family_colours[[family]], max(-0.65, min(0.65, shade)))
}

# Moves a colour towards black (shade < 0) or white (shade > 0).
shade_colour <- function(col, shade) {
  rgb <- strtoi(substring(col, c(2, 4, 6), c(3, 5, 7)), 16L)
  rgb <- if (shade < 0) rgb * (1 + shade) else rgb + (255 - rgb) * shade
  sprintf("#%02X%02X%02X", as.integer(round(rgb))[1],
          as.integer(round(rgb))[2], as.integer(round(rgb))[3])
}

# Legend keys for a set of objects: the map labels, with " (2)", " (3)",
# ... appended to repeated ones.
unique_keys <- function(labs) {
  k <- stats::ave(seq_along(labs), labs, FUN = seq_along)
  ifelse(k > 1, sprintf("%s (%d)", labs, k), labs)
}

# The colour and line-type scales shared by the methods: colour by map,
# line type telling apart repeated maps; both scales carry the same
# breaks and labels, so ggplot2 draws one legend.
map_scales <- function(keys, labels, linetype = TRUE) {
  cols <- map_colours(keys)
  out <- list(ggplot2::scale_colour_manual(values = cols, breaks = keys,
                                           labels = labels, name = "map"))
  if (linetype) {
    copy <- stats::ave(seq_along(keys), sub(" \\([0-9]+\\)$", "", keys),
                FUN = seq_along)
    types <- c("solid", "dashed", "dotted", "dotdash", "longdash",
               "twodash")
    lt <- stats::setNames(types[(copy - 1L) %% length(types) + 1L], keys)
    out <- c(out, list(ggplot2::scale_linetype_manual(
      values = lt, breaks = keys, labels = labels, name = "map")))
  }
  out
}

# ---- shared checks ----------------------------------------------------

need_package <- function(pkg, what) {
  if (!requireNamespace(pkg, quietly = TRUE))
    stop(sprintf("%s needs the %s package, which is not installed; %s",
                 what, pkg, sprintf("install it with install.packages(\"%s\")",
                                    pkg)), call. = FALSE)
  invisible(TRUE)
}

# The objects to plot: `object` and whatever is in `...`, lists of objects
# flattened one level, each checked to be of `class`.
collect_objects <- function(object, dots, class, what) {
  objs <- list(object)
  for (d in dots) {
    if (inherits(d, class)) objs <- c(objs, list(d))
    else if (is.list(d) && !is.object(d)) objs <- c(objs, unname(d))
    else objs <- c(objs, list(d))
  }
  for (i in seq_along(objs)) {
    if (!inherits(objs[[i]], class))
      stop(sprintf(paste("'...' must hold %s (or lists of them); object %d",
                         "is %s"), what, i, describe(objs[[i]])),
           call. = FALSE)
  }
  objs
}

check_labels <- function(labels, n) {
  if (is.null(labels)) return(NULL)
  if (!is.character(labels) || length(labels) != n || anyNA(labels))
    stop(sprintf(paste("'labels' must be a character vector with one label",
                       "per object plotted (%d), not %s"), n,
                 describe(labels)), call. = FALSE)
  labels
}

# Strips on the left, drawn like axis titles: one y label per facet.
left_strips <- function() {
  ggplot2::theme(strip.placement = "outside",
                 strip.background = ggplot2::element_blank(),
                 strip.text.y.left = ggplot2::element_text(size = 10),
                 axis.title.y = ggplot2::element_blank())
}

# ---- fits -------------------------------------------------------------

trajectory_labels <- c(
  step = "accepted steps", tau = "normalised time tau",
  log_loss = "log-loss", q_min = "smallest margin q_min",
  horizon = "horizon norm Q", q_margin = "Q-margin",
  smoothed_margin = "smoothed margin", accuracy = "training accuracy",
  grad_evals = "gradient evaluations", balance_drift = "balance drift",
  step_size = "step size")

quantity_label <- function(col) {
  if (col %in% names(trajectory_labels)) return(trajectory_labels[[col]])
  if (startsWith(col, "horizon_"))
    return(sprintf("horizon norm of %s", sub("^horizon_", "", col)))
  col
}

#' Plot mirror-flow trajectories
#'
#' Quantities of the [trajectory()] of one or several fits against log
#' time, one panel per quantity (each with its own y scale), one line per
#' fit, coloured by its map with [map_colours()]. Needs the ggplot2
#' package.
#'
#' @param object A [mirror_flow()] fit.
#' @param ... Further fits, or lists of fits, drawn in the same panels.
#' @param what Columns of [trajectory()] to draw, one panel each: by
#'   default the log-loss, the Q-margin and the horizon norm Q; any other
#'   column except `log_time` may be given, such as `"smoothed_margin"`,
#'   `"q_min"`, `"accuracy"`, `"balance_drift"`, `"step_size"` or a layer's
#'   `"horizon_W1"`.
#' @param labels Legend labels, one per fit; by default the label of each
#'   fit's (first) map, with `" (2)"`, `" (3)"`, ... added to repeats.
#' @return A ggplot object, to which scales, themes and layers can be
#'   added. Fits with the same map share a colour and differ in line type;
#'   to colour differently, add a `scale_colour_manual()`.
#' @seealso [autoplot.feature_sparsity()], [map_colours()]
#' @examples
#' if (requireNamespace("ggplot2", quietly = TRUE)) {
#'   data(sparse_teacher)
#'   ctl <- flow_control(target_log_loss = -5, rtol = 1e-4)
#'   fits <- lapply(list(mirror_map("euclidean"),
#'                       mirror_map("hypentropy", beta = 0.1)),
#'                  function(m) mirror_flow(sparse_teacher$x,
#'                                          sparse_teacher$y, map = m,
#'                                          control = ctl))
#'   ggplot2::autoplot(fits[[1]], fits[[2]])
#'   ggplot2::autoplot(fits[[1]], fits[[2]],
#'                     what = c("smoothed_margin", "accuracy"),
#'                     labels = c("l2", "l1 (beta 0.1)"))
#' }
#' @method autoplot mirror_flow
#' @exportS3Method ggplot2::autoplot mirror_flow
autoplot.mirror_flow <- function(object, ...,
                                 what = c("log_loss", "q_margin", "horizon"),
                                 labels = NULL) {
  need_package("ggplot2", "autoplot() of a mirror_flow fit")
  fits <- collect_objects(object, list(...), "mirror_flow",
                          "mirror_flow fits")
  labels <- check_labels(labels, length(fits))

  cols <- Reduce(intersect, lapply(fits, function(f) names(f$trajectory)))
  allowed <- setdiff(cols, "log_time")
  if (!is.character(what) || !length(what) || anyNA(what) ||
      !all(what %in% allowed)) {
    bad <- if (is.character(what)) setdiff(what, allowed) else character()
    stop(sprintf("'what' must name trajectory columns among %s; %s",
                 paste0('"', allowed, '"', collapse = ", "),
                 if (length(bad)) sprintf("not %s",
                                          paste0('"', bad, '"',
                                                 collapse = ", "))
                 else sprintf("got %s", describe(what))), call. = FALSE)
  }
  what <- unique(what)

  keys <- unique_keys(vapply(fits, function(f) map_label(f$maps[[1]]), ""))
  panels <- vapply(what, quantity_label, "")
  long <- do.call(rbind, lapply(seq_along(fits), function(i) {
    tr <- fits[[i]]$trajectory
    do.call(rbind, lapply(what, function(w) {
      data.frame(.key = keys[i], .panel = panels[[w]], .x = tr$log_time,
                 .y = tr[[w]], stringsAsFactors = FALSE)
    }))
  }))
  long <- long[is.finite(long$.x) & is.finite(long$.y), , drop = FALSE]
  empty <- setdiff(panels, long$.panel)
  if (length(empty))
    stop(sprintf("no finite values to draw for %s in these fits",
                 paste0('"', what[panels %in% empty], '"', collapse = ", ")),
         call. = FALSE)
  long$.key <- factor(long$.key, levels = keys)
  long$.panel <- factor(long$.panel, levels = unname(panels))

  ggplot2::ggplot(long, ggplot2::aes(x = .x, y = .y, colour = .key,
                                     linetype = .key)) +
    ggplot2::geom_line() +
    ggplot2::facet_wrap(ggplot2::vars(.panel), ncol = 1, scales = "free_y",
                        strip.position = "left") +
    map_scales(keys, if (is.null(labels)) keys else labels) +
    ggplot2::labs(x = "log time, log t", y = NULL) +
    left_strips()
}

# ---- sparsity results -------------------------------------------------

sparsity_key <- function(fs) sub(" \\[.*$", "", fs$map)

#' Plot feature-sparsity results
#'
#' Figures of one or several [feature_sparsity()] results, typically one
#' per map, each drawn in its map's colour from [map_colours()]. Needs the
#' ggplot2 package.
#'
#' * `"activation_rate"`: the empirical distribution function of the
#'   neurons' active rates (the share of samples on which a neuron is
#'   active), one step curve per result. A curve that climbs early means
#'   many rarely active neurons; a jump at 0 is the dead neurons.
#' * `"mass"`: the cumulative share of the neuron mass carried by the
#'   heaviest neurons, against the number of neurons, with dashed lines at
#'   50, 90 and 99 per cent: where a curve crosses a line is the
#'   `mass_50`, `mass_90` or `mass_99` of the result.
#' * `"checkpoints"`: the layer's active fraction and the mean Gini and
#'   Hoyer indices over samples against log time, one panel each; needs
#'   results computed along the run (`feature_sparsity(along = TRUE)` on a
#'   fit made with `flow_control(keep_params = TRUE)`).
#' * `"heatmap"`: the activations themselves are not kept in a result; use
#'   [activation_heatmap()] on the fit.
#'
#' @param object A [feature_sparsity()] result.
#' @param ... Further results, or lists of results, drawn in the same
#'   figure.
#' @param type `"activation_rate"`, `"mass"`, `"checkpoints"` or
#'   `"heatmap"` (see Details).
#' @param labels Legend labels, one per result; by default the label of
#'   each result's (first) map, with `" (2)"`, ... added to repeats.
#' @param layer Which hidden layer to draw.
#' @return A ggplot object.
#' @seealso [activation_heatmap()], [autoplot.mirror_flow()]
#' @examples
#' if (requireNamespace("ggplot2", quietly = TRUE)) {
#'   set.seed(3)
#'   data(sparse_teacher)
#'   ctl <- flow_control(target_log_loss = -5, rtol = 1e-4,
#'                       keep_params = TRUE, checkpoints = 10)
#'   fs <- lapply(list(mirror_map("euclidean"),
#'                     mirror_map("hypentropy", beta = 0.1)),
#'                function(m) feature_sparsity(mirror_flow(
#'                  sparse_teacher$x, sparse_teacher$y,
#'                  net = homogeneous_net(c(20, 16, 1)), map = m,
#'                  control = ctl)))
#'   ggplot2::autoplot(fs[[1]], fs[[2]], type = "mass")
#'   ggplot2::autoplot(fs[[1]], fs[[2]], type = "checkpoints")
#' }
#' @method autoplot feature_sparsity
#' @exportS3Method ggplot2::autoplot feature_sparsity
autoplot.feature_sparsity <- function(object, ...,
                                      type = c("activation_rate", "mass",
                                               "checkpoints", "heatmap"),
                                      labels = NULL, layer = 1) {
  need_package("ggplot2", "autoplot() of a feature_sparsity result")
  type <- match_choice(type, c("activation_rate", "mass", "checkpoints",
                               "heatmap"), "type")
  if (type == "heatmap")
    stop(paste("a feature_sparsity result keeps no activations; draw the",
               "heat map from the fit with activation_heatmap(fit)"),
         call. = FALSE)
  res <- collect_objects(object, list(...), "feature_sparsity",
                         "feature_sparsity results")
  labels <- check_labels(labels, length(res))
  nh <- min(vapply(res, function(r) nrow(r$layers), 1L))
  layer <- check_number(layer, "layer", lower = 1, upper = nh,
                        integer = TRUE)
  keys <- unique_keys(vapply(res, sparsity_key, ""))
  shown <- if (is.null(labels)) keys else labels

  if (type == "checkpoints") {
    none <- which(vapply(res, function(r) is.null(r$checkpoints), TRUE))
    if (length(none))
      stop(sprintf(paste("type = \"checkpoints\" needs per-checkpoint",
                         "summaries, which result %s lacks; compute them with",
                         "feature_sparsity(along = TRUE) on a fit made with",
                         "flow_control(keep_params = TRUE)"),
                   paste(none, collapse = ", ")), call. = FALSE)
  }

  long <- do.call(rbind, lapply(seq_along(res), function(i) {
    sparsity_frame(res[[i]], type, layer, keys[i])
  }))
  long$.key <- factor(long$.key, levels = keys)

  if (type == "activation_rate") {
    p <- ggplot2::ggplot(long, ggplot2::aes(x = .x, colour = .key,
                                            linetype = .key)) +
      ggplot2::stat_ecdf(geom = "step", pad = FALSE) +
      ggplot2::scale_x_continuous(limits = c(0, 1)) +
      ggplot2::labs(x = "share of samples on which a neuron is active",
                    y = "share of neurons (cumulative)")
  } else if (type == "mass") {
    p <- ggplot2::ggplot(long, ggplot2::aes(x = .x, y = .y, colour = .key,
                                            linetype = .key)) +
      ggplot2::geom_hline(yintercept = c(0.5, 0.9, 0.99), colour = "grey50",
                          linetype = "dashed", linewidth = 0.3) +
      ggplot2::geom_step(direction = "hv") +
      ggplot2::scale_y_continuous(breaks = c(0, 0.25, 0.5, 0.75, 0.9, 1),
                                  limits = c(0, 1)) +
      ggplot2::labs(x = "heaviest neurons, by decreasing mass",
                    y = "cumulative share of the mass")
  } else {
    p <- ggplot2::ggplot(long, ggplot2::aes(x = .x, y = .y, colour = .key,
                                            linetype = .key)) +
      ggplot2::geom_line() +
      ggplot2::geom_point(size = 0.8) +
      ggplot2::facet_wrap(ggplot2::vars(.panel), ncol = 1,
                          scales = "free_y", strip.position = "left") +
      ggplot2::labs(x = "log time, log t", y = NULL) +
      left_strips()
  }
  p + map_scales(keys, shown)
}

checkpoint_stats <- c(active_fraction = "active fraction",
                      gini_sample = "Gini index per sample",
                      hoyer_sample = "Hoyer index per sample")

# The long data of one result for one type of figure.
sparsity_frame <- function(fs, type, layer, key) {
  if (type == "activation_rate") {
    nr <- fs$neurons[fs$neurons$layer == layer, , drop = FALSE]
    return(data.frame(.key = key, .x = nr$active_rate,
                      stringsAsFactors = FALSE))
  }
  if (type == "mass") {
    share <- fs$neurons$mass_share[fs$neurons$layer == layer]
    share <- sort(share[is.finite(share)], decreasing = TRUE)
    return(data.frame(.key = key, .x = seq(0, length(share)),
                      .y = c(0, pmin(cumsum(share), 1)),
                      stringsAsFactors = FALSE))
  }
  ck <- fs$checkpoints[fs$checkpoints$layer == layer, , drop = FALSE]
  out <- do.call(rbind, lapply(names(checkpoint_stats), function(s) {
    data.frame(.key = key, .panel = checkpoint_stats[[s]], .x = ck$log_time,
               .y = ck[[s]], stringsAsFactors = FALSE)
  }))
  out <- out[is.finite(out$.x) & is.finite(out$.y), , drop = FALSE]
  out$.panel <- factor(out$.panel, levels = unname(checkpoint_stats))
  out
}

# ---- activation heat map ----------------------------------------------

#' Heat map of hidden activations
#'
#' The activations \eqn{h_l(x_i)} of one hidden layer of a fit, neurons
#' across and samples down. Inactive entries (exactly zero) are white;
#' positive activations run from dark purple to yellow (viridis), and
#' where the activation takes negative values too (leaky ReLU, linear) a
#' blue-white-red scale centred at zero is used instead. Needs the ggplot2
#' package.
#'
#' With `order = TRUE` the neurons are sorted by decreasing mass
#' \eqn{\|w^{in}_j\| \|w^{out}_j\|} (ties by active rate), so that the
#' neurons that carry the function come first, and the samples by label,
#' then by decreasing total activation, with a line between the classes;
#' without labels (a plain matrix `x`) by total activation alone.
#'
#' @param fit A [mirror_flow()] fit of a network with hidden layers.
#' @param x Inputs: `NULL` for the training data, a numeric matrix or a
#'   `mirrorflow_data` object (whose labels are then used for the order).
#' @param layer Which hidden layer.
#' @param max_samples At most this many samples are drawn; from more, an
#'   evenly spaced subset of the rows is taken (no random numbers are
#'   drawn).
#' @param order `TRUE` to sort neurons and samples as described, `FALSE`
#'   to keep their order.
#' @return A ggplot object whose first layer is a `geom_raster()` with one
#'   cell per sample and neuron.
#' @seealso [activations()], [autoplot.feature_sparsity()]
#' @examples
#' if (requireNamespace("ggplot2", quietly = TRUE)) {
#'   set.seed(3)
#'   data(sparse_teacher)
#'   fit <- mirror_flow(sparse_teacher$x, sparse_teacher$y,
#'                      net = homogeneous_net(c(20, 16, 1)),
#'                      control = flow_control(target_log_loss = -5,
#'                                             rtol = 1e-4))
#'   activation_heatmap(fit, max_samples = 100)
#' }
#' @export
activation_heatmap <- function(fit, x = NULL, layer = 1, max_samples = 200,
                               order = TRUE) {
  need_package("ggplot2", "activation_heatmap()")
  check_fit(fit)
  max_samples <- check_number(max_samples, "max_samples", lower = 1,
                              integer = TRUE)
  order <- check_flag(order, "order")
  layer <- as.integer(check_number(layer, "layer", lower = 1,
                                   integer = TRUE))
  h <- activations(fit, x, layer)
  y <- if (is.null(x)) fit$y else if (inherits(x, "mirrorflow_data")) x$y

  n <- nrow(h)
  if (n > max_samples) {
    rows <- unique(round(seq(1, n, length.out = max_samples)))
    h <- h[rows, , drop = FALSE]
    if (!is.null(y)) y <- y[rows]
  }

  neuron_order <- seq_len(ncol(h))
  sample_order <- seq_len(nrow(h))
  if (order) {
    w <- fit$weights
    mass <- sqrt(rowSums(w[[layer]]^2)) * sqrt(colSums(w[[layer + 1]]^2))
    neuron_order <- base::order(-mass, -colMeans(h > 0))
    total <- rowSums(abs(h))
    sample_order <- if (is.null(y)) base::order(-total)
                    else base::order(as.character(y), -total)
  }
  hh <- h[sample_order, neuron_order, drop = FALSE]
  long <- data.frame(.x = rep(seq_len(ncol(hh)), each = nrow(hh)),
                     .y = rep(seq_len(nrow(hh)), times = ncol(hh)),
                     .fill = as.vector(hh))
  signed <- any(hh < 0)
  if (!signed) long$.fill[long$.fill == 0] <- NA_real_

  p <- ggplot2::ggplot(long, ggplot2::aes(x = .x, y = .y, fill = .fill)) +
    ggplot2::geom_raster() +
    ggplot2::scale_x_continuous(expand = c(0, 0)) +
    ggplot2::scale_y_reverse(expand = c(0, 0)) +
    ggplot2::labs(
      x = if (order) "hidden neuron, by decreasing mass" else "hidden neuron",
      y = if (!order) "sample" else if (is.null(y))
        "sample, by total activation" else
        "sample, by label then total activation",
      fill = "activation",
      title = sprintf("layer %d, %s", layer, map_label(fit$maps[[1]]))) +
    ggplot2::theme(panel.background = ggplot2::element_rect(fill = "white"))
  p <- if (signed) {
    p + ggplot2::scale_fill_gradient2(low = "#2166AC", mid = "white",
                                      high = "#B2182B", midpoint = 0)
  } else {
    p + ggplot2::scale_fill_viridis_c(na.value = "white")
  }
  if (order && !is.null(y)) {
    ys <- as.character(y)[sample_order]
    cuts <- which(ys[-1] != ys[-length(ys)]) + 0.5
    if (length(cuts))
      p <- p + ggplot2::geom_hline(yintercept = cuts, colour = "grey30",
                                   linewidth = 0.4)
  }
  p
}
