# Feature sparsity: hidden activations of a fit, the sparsity indices
# (Hoyer, Gini, participation ratio) per sample and per neuron, and the
# distribution of neuron mass, at the end of a run or at every checkpoint.

#' Sparsity indices of vectors and matrices
#'
#' Three measures of how concentrated the absolute values of a vector
#' \eqn{c} of length \eqn{N} are:
#' * Hoyer index \eqn{(\sqrt N - \|c\|_1 / \|c\|_2) / (\sqrt N - 1)}, 1 for
#'   a vector with one nonzero entry, 0 for a constant one;
#' * Gini index of Hurley and Rickard (2009): with \eqn{c_{(k)}} the
#'   absolute values sorted ascending,
#'   \eqn{1 - 2 \sum_k (c_{(k)} / \|c\|_1) (N - k + 1/2) / N}, 0 for a
#'   constant vector and \eqn{1 - 1/N} for one nonzero entry;
#' * participation ratio \eqn{\|c\|_1^2 / (N \|c\|_2^2)}, the fraction of
#'   entries that effectively carry the vector: 1 for a constant vector,
#'   \eqn{1/N} for one nonzero entry.
#'
#' The indices of a matrix are computed in C, over up to
#' `getOption("mirrorflow.threads", 2)` threads (OpenMP, where the compiler
#' has it); the result does not depend on the number of threads.
#'
#' All three are invariant to scaling \eqn{c} by a nonzero factor. A vector
#' of zeros has no defined index and gives `NA`, as does the Hoyer index of
#' a vector of length 1.
#'
#' @param x A numeric vector or matrix, finite.
#' @param margin For a matrix: `1` for an index per row, `2` (default) for
#'   one per column, as in [apply()].
#' @return A number for a vector, a vector with one value per row or
#'   column for a matrix.
#' @references Hurley, N. and Rickard, S. (2009). Comparing measures of
#'   sparsity. *IEEE Transactions on Information Theory* 55, 4723-4741.
#' @examples
#' hoyer(c(0, 0, 3, 0))
#' gini(c(1, 1, 1, 1))
#' participation_ratio(c(0, 1, 2, 3))
#' m <- matrix(abs(rnorm(20)), 4)
#' hoyer(m, margin = 1)
#' @name sparsity-indices
NULL

#' @rdname sparsity-indices
#' @export
hoyer <- function(x, margin = 2) sparsity_index(x, margin, "hoyer")

#' @rdname sparsity-indices
#' @export
gini <- function(x, margin = 2) sparsity_index(x, margin, "gini")

#' @rdname sparsity-indices
#' @export
participation_ratio <- function(x, margin = 2) {
  sparsity_index(x, margin, "participation_ratio")
}

sparsity_index <- function(x, margin, which) {
  r <- sparsity_table(x, margin)
  out <- r[[which]]
  if (is.matrix(x)) {
    nm <- if (margin == 1) rownames(x) else colnames(x)
    names(out) <- nm
  }
  out
}

# Threads for the C indices: the option mirrorflow.threads, by default 2
# (the most CRAN allows in checks).
sparsity_threads <- function() {
  n <- getOption("mirrorflow.threads", 2L)
  if (!is.numeric(n) || length(n) != 1 || is.na(n) || n < 1 || n > 1024 ||
      n != round(n))
    stop(sprintf(paste("option 'mirrorflow.threads' must be a whole number",
                       "from 1 to 1024, not %s"), describe(n)), call. = FALSE)
  as.integer(n)
}

# The C routine's four columns for a vector (one vector) or a matrix.
sparsity_table <- function(x, margin = 2) {
  if (!is.numeric(x) || !(is.vector(x) || is.matrix(x)))
    stop(sprintf("'x' must be a numeric vector or matrix, not %s",
                 describe(x)), call. = FALSE)
  # finiteness is checked in C, without a copy of x
  if (!is.matrix(x)) {
    x <- matrix(as.double(x), ncol = 1)
    margin <- 2
  } else {
    if (!identical(margin, 1) && !identical(margin, 2) &&
        !identical(margin, 1L) && !identical(margin, 2L))
      stop(sprintf("'margin' must be 1 (rows) or 2 (columns), not %s",
                   describe(margin)), call. = FALSE)
    if (!is.double(x)) storage.mode(x) <- "double"
  }
  .Call(C_mf_sparsity, x, margin == 1, sparsity_threads())
}

#' Hidden activations of a fit
#'
#' The post-activation outputs \eqn{h_l(x_i)} of the hidden layers of a
#' fully connected network, at the fit's final weights or at given ones.
#'
#' @param fit A [mirror_flow()] fit of a network with hidden layers.
#' @param x Inputs: `NULL` for the training data, a numeric matrix with the
#'   training columns, or a `mirrorflow_data` object.
#' @param layer Which hidden layer (1 is the first); `NULL` for all.
#' @param weights Weights to use instead of the final ones, a list like
#'   [coef()] gives.
#' @return For one layer an `n` by \eqn{m_l} matrix (one row per point,
#'   one column per neuron); for `layer = NULL` a list of them.
#' @examples
#' set.seed(3)
#' data(sparse_teacher)
#' fit <- mirror_flow(sparse_teacher$x, sparse_teacher$y,
#'                    net = homogeneous_net(c(20, 16, 1)),
#'                    control = flow_control(target_log_loss = -5,
#'                                           rtol = 1e-4))
#' h <- activations(fit)
#' mean(h > 0)
#' @export
activations <- function(fit, x = NULL, layer = 1, weights = NULL) {
  check_fit(fit)
  check_hidden(fit$net, "activations()")
  nh <- fit$net$nlayers - 1L
  if (!is.null(layer)) {
    layer <- check_number(layer, "layer", lower = 1, upper = nh,
                          integer = TRUE)
  }
  x <- input_matrix(fit, x)
  w <- if (is.null(weights)) fit$weights else {
    unflatten(fit$net, flatten_init(fit$net, weights, "weights"))
  }
  h <- hidden_activations(fit$net, w, x, if (is.null(layer)) nh else layer)
  if (is.null(layer)) h else h[[layer]]
}

check_hidden <- function(net, what) {
  if (net$type == "diagonal" || net$nlayers < 2)
    stop(sprintf(paste("%s needs a network with hidden layers; this fit",
                       "has none"), what), call. = FALSE)
}

# The input matrix of a fit: its training inputs for NULL, the inputs of a
# mirrorflow_data object, a data frame through the terms of a formula fit,
# or a numeric matrix; checked against the training columns.
input_matrix <- function(fit, x, arg = "x") {
  if (is.null(x)) return(fit$x)
  if (inherits(x, "mirrorflow_data")) {
    x <- x$x
  } else if (!is.null(fit$terms) && is.data.frame(x)) {
    mf <- stats::model.frame(fit$terms, x, na.action = stats::na.fail)
    x <- stats::model.matrix(fit$terms, mf)
    attr(x, "assign") <- NULL
  }
  x <- check_data_matrix(x, arg)
  if (ncol(x) != fit$net$widths[1])
    stop(sprintf("'%s' must have %d columns, like the training data, not %d",
                 arg, fit$net$widths[1], ncol(x)), call. = FALSE)
  x
}

# h %*% t(w): in the "kernel" layout of the products (see ?blas_products)
# by the package's own kernel, which gives the reference BLAS's numbers
# 4 to 6 times faster; otherwise through R's BLAS.
prod_tb <- function(h, w) {
  if (!is.double(h) || !is.double(w) ||
      .Call(C_mf_blas_mode, NA_integer_)[1L] != 2L)
    return(h %*% t(w))
  out <- .Call(C_mf_matprod_tb, h, w)
  if (!is.null(rownames(h)) || !is.null(rownames(w)))
    dimnames(out) <- list(rownames(h), rownames(w))
  out
}

# Hidden layers 1..upto, one n x m_l matrix each, through prod_tb().
hidden_activations <- function(net, w, x, upto) {
  s <- net$slope
  out <- vector("list", upto)
  h <- x
  for (l in seq_len(upto)) {
    pre <- prod_tb(h, w[[l]])
    h <- switch(net$activation,
                relu = pmax(pre, 0),
                leaky_relu = pmax(pre, 0) + s * pmin(pre, 0),
                linear = pre)
    dim(h) <- dim(pre)
    colnames(h) <- paste0("n", seq_len(ncol(h)))
    out[[l]] <- h
  }
  names(out) <- paste0("layer", seq_len(upto))
  out
}

#' Sparsity of the features a fit learned
#'
#' For each hidden layer of a fully connected network: the active fraction
#' (share of point-neuron pairs with \eqn{h_{l,j}(x_i) > 0}), the dead
#' fraction (share of neurons inactive on every point), the Hoyer and Gini
#' indices and the participation ratio (see [hoyer()]) of the activations,
#' each computed over the neurons for every sample and over the samples for
#' every neuron, and the distribution of neuron mass
#' \eqn{s_j = \|w^{in}_j\| \|w^{out}_j\|} with the number of neurons that
#' carry 50, 90 and 99 per cent of it.
#'
#' Samples on which no neuron of a layer is active, and dead neurons, have
#' no defined index; they are left out of the means and counted in
#' `silent_samples` and `dead_fraction`.
#'
#' When the fit kept parameter snapshots (`flow_control(keep_params =
#' TRUE)`), the layer summaries are also computed at every checkpoint, so
#' one can watch features sparsify or spread over log time.
#'
#' @param fit A [mirror_flow()] fit of a network with hidden layers.
#' @param x Inputs: `NULL` for the training data, a numeric matrix or a
#'   `mirrorflow_data` object.
#' @param along `TRUE` to compute the per-checkpoint summaries (the
#'   default when the fit has snapshots), `FALSE` to skip them.
#' @return An object of class `feature_sparsity`, a list of data frames:
#'   * `layers`, one row per hidden layer: `layer`, `width`, `n`,
#'     `active_fraction`, `dead_fraction`, `silent_samples`,
#'     `hoyer_sample`, `gini_sample`, `pr_sample` (means over samples of
#'     the index across neurons), `hoyer_neuron`, `gini_neuron`,
#'     `pr_neuron` (means over live neurons of the index across samples),
#'     `mass_hoyer`, `mass_gini` (indices of the mass vector), `mass_50`,
#'     `mass_90`, `mass_99` (fewest neurons carrying that share of the
#'     mass);
#'   * `neurons`, one row per hidden neuron: `layer`, `neuron`,
#'     `active_rate` (share of samples on which it is active), `norm_in`,
#'     `norm_out`, `mass`, `mass_share`, `hoyer`, `gini`,
#'     `participation_ratio` (across samples; `NA` for a dead neuron);
#'   * `samples`, one row per layer and sample: `layer`, `sample`,
#'     `n_active`, `active_fraction`, `hoyer`, `gini`,
#'     `participation_ratio` (across neurons);
#'   * `checkpoints`, `NULL` or the `layers` columns for every checkpoint,
#'     preceded by `checkpoint`, `step`, `log_time` and `log_loss`.
#' @seealso [activations()], [tidy.feature_sparsity()]
#' @examples
#' set.seed(3)
#' data(sparse_teacher)
#' fit <- mirror_flow(sparse_teacher$x, sparse_teacher$y,
#'                    net = homogeneous_net(c(20, 16, 1)),
#'                    control = flow_control(target_log_loss = -5,
#'                                           rtol = 1e-4))
#' fs <- feature_sparsity(fit)
#' fs
#' head(fs$neurons)
#' @export
feature_sparsity <- function(fit, x = NULL, along = NULL) {
  check_fit(fit)
  check_hidden(fit$net, "feature_sparsity()")
  x <- input_matrix(fit, x)
  along <- if (is.null(along)) !is.null(fit$snapshots)
           else check_flag(along, "along")
  if (along && is.null(fit$snapshots))
    stop(paste("'along = TRUE' needs parameter snapshots; rerun with",
               "flow_control(keep_params = TRUE)"), call. = FALSE)

  final <- sparsity_at(fit$net, fit$weights, x, detail = TRUE)
  checkpoints <- NULL
  if (along) {
    snaps <- snapshots(fit)
    tr <- fit$trajectory
    checkpoints <- do.call(rbind, lapply(seq_along(snaps), function(k) {
      s <- sparsity_at(fit$net, snaps[[k]], x, detail = FALSE)$layers
      cbind(data.frame(checkpoint = k, step = tr$step[k],
                       log_time = tr$log_time[k], log_loss = tr$log_loss[k]),
            s)
    }))
  }
  structure(list(layers = final$layers, neurons = final$neurons,
                 samples = final$samples, checkpoints = checkpoints,
                 map = maps_label(fit$maps), net = net_label(fit$net)),
            class = "feature_sparsity")
}

# All statistics at one set of weights; detail = FALSE keeps only the
# layer summaries.
sparsity_at <- function(net, w, x, detail) {
  nh <- net$nlayers - 1L
  nth <- sparsity_threads()
  acts <- hidden_activations(net, w, x, nh)
  layers <- neurons <- samples <- vector("list", nh)
  for (l in seq_len(nh)) {
    h <- acts[[l]]
    m <- ncol(h)
    n <- nrow(h)
    by_sample <- .Call(C_mf_sparsity, h, TRUE, nth)
    by_neuron <- .Call(C_mf_sparsity, h, FALSE, nth)
    norm_in <- sqrt(rowSums(w[[l]]^2))
    norm_out <- sqrt(colSums(w[[l + 1]]^2))
    mass <- norm_in * norm_out
    total <- sum(mass)
    share <- if (total > 0) mass / total else rep(NA_real_, m)
    mass_idx <- .Call(C_mf_sparsity, matrix(mass, ncol = 1), FALSE,
                      1L)
    carry <- function(f) {
      if (!(total > 0)) return(NA_integer_)
      cs <- cumsum(sort(share, decreasing = TRUE))
      as.integer(min(which(cs >= f - 1e-12), m))
    }
    live <- by_neuron$positive > 0
    mean_or_na <- function(v) if (all(is.na(v))) NA_real_ else
      mean(v, na.rm = TRUE)
    layers[[l]] <- data.frame(
      layer = l, width = m, n = n,
      active_fraction = sum(by_neuron$positive) / (as.double(n) * m),
      dead_fraction = mean(!live),
      silent_samples = sum(by_sample$positive == 0),
      hoyer_sample = mean_or_na(by_sample$hoyer),
      gini_sample = mean_or_na(by_sample$gini),
      pr_sample = mean_or_na(by_sample$participation_ratio),
      hoyer_neuron = mean_or_na(by_neuron$hoyer[live]),
      gini_neuron = mean_or_na(by_neuron$gini[live]),
      pr_neuron = mean_or_na(by_neuron$participation_ratio[live]),
      mass_hoyer = mass_idx$hoyer, mass_gini = mass_idx$gini,
      mass_50 = carry(0.5), mass_90 = carry(0.9), mass_99 = carry(0.99))
    if (detail) {
      neurons[[l]] <- data.frame(
        layer = l, neuron = seq_len(m), active_rate = by_neuron$positive / n,
        norm_in = norm_in, norm_out = norm_out, mass = mass,
        mass_share = share, hoyer = by_neuron$hoyer, gini = by_neuron$gini,
        participation_ratio = by_neuron$participation_ratio)
      samples[[l]] <- data.frame(
        layer = l, sample = seq_len(n), n_active = by_sample$positive,
        active_fraction = by_sample$positive / m, hoyer = by_sample$hoyer,
        gini = by_sample$gini,
        participation_ratio = by_sample$participation_ratio)
    }
  }
  list(layers = do.call(rbind, layers),
       neurons = if (detail) do.call(rbind, neurons),
       samples = if (detail) do.call(rbind, samples))
}

#' @export
format.feature_sparsity <- function(x, ...) {
  ly <- x$layers
  c(sprintf("<feature_sparsity> %s on %s, %d points", x$map, x$net,
            ly$n[1]),
    sprintf(paste("  layer %d (%d neurons): active %.3g, dead %.3g;",
                  "per sample Hoyer %.3g, Gini %.3g; mass: %d/%d/%d",
                  "neurons carry 50/90/99%%"),
            ly$layer, ly$width, ly$active_fraction, ly$dead_fraction,
            ly$hoyer_sample, ly$gini_sample, ly$mass_50, ly$mass_90,
            ly$mass_99),
    if (!is.null(x$checkpoints))
      sprintf("  and the layer summaries at %d checkpoints",
              length(unique(x$checkpoints$checkpoint))))
}

#' @export
print.feature_sparsity <- function(x, ...) {
  cat(format(x, ...), sep = "\n")
  invisible(x)
}

#' Tidy views of a feature-sparsity result
#'
#' `tidy()` returns one of the tables of a [feature_sparsity()] result,
#' by default the per-neuron one; `glance()` returns the layer summaries,
#' one row per hidden layer (a single row for a network with one hidden
#' layer), with the map and network as columns so that results of several
#' fits bind into one data frame.
#'
#' @param x A `feature_sparsity` result.
#' @param what `"neurons"`, `"samples"`, `"layers"` or `"checkpoints"`.
#' @param ... Unused.
#' @return A data frame; the columns are those documented in
#'   [feature_sparsity()].
#' @examples
#' set.seed(3)
#' data(sparse_teacher)
#' fit <- mirror_flow(sparse_teacher$x, sparse_teacher$y,
#'                    net = homogeneous_net(c(20, 16, 1)),
#'                    control = flow_control(target_log_loss = -5,
#'                                           rtol = 1e-4))
#' fs <- feature_sparsity(fit)
#' glance(fs)
#' head(tidy(fs, "samples"))
#' @method tidy feature_sparsity
#' @export
tidy.feature_sparsity <- function(x, what = c("neurons", "samples", "layers",
                                              "checkpoints"), ...) {
  what <- match_choice(what, c("neurons", "samples", "layers",
                               "checkpoints"), "what")
  if (what == "checkpoints" && is.null(x$checkpoints))
    stop(paste("this result has no checkpoints; compute it with",
               "feature_sparsity(along = TRUE) on a fit with snapshots"),
         call. = FALSE)
  x[[what]]
}

#' @rdname tidy.feature_sparsity
#' @method glance feature_sparsity
#' @export
glance.feature_sparsity <- function(x, ...) {
  cbind(data.frame(map = x$map, net = x$net, stringsAsFactors = FALSE),
        x$layers)
}
