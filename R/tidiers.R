# Tidy data-frame views of fits and of sparsity results, through the
# tidy(), glance() and augment() generics, ready for ggplot2 and dplyr.

#' @importFrom generics tidy glance augment
#' @export
generics::tidy

#' @export
generics::glance

#' @export
generics::augment

#' Tidy summaries of a mirror flow
#'
#' * `glance()`: one row for the fit: `map`, `horizon`, `net`,
#'   `activation`, `n`, `parameters`, `loss`, `integrator`, `steps`,
#'   `grad_evals`, `log_time`, `log_loss`, `q_min`, `q_margin`,
#'   `horizon_norm`, `smoothed_margin`, `accuracy` (training),
#'   `stop_reason`, `elapsed` (seconds), and `test_accuracy` when
#'   `newdata` is given with labels.
#' * `tidy()`: for a network with hidden neurons, one row per hidden layer
#'   and neuron: `layer`, `neuron`, `norm_in`, `norm_out` (Euclidean norms
#'   of its incoming and outgoing weights), `mass` (their product),
#'   `mass_share`, `balance_start`, `balance_end` (the conserved quantity of
#'   [balance_report()]) and `active_rate` (share of training points on
#'   which it is active). For a linear model or a diagonal network, one
#'   row per parameter: `block`, `index`, `estimate`, and for a diagonal
#'   network also the effective weight `w = u^2 - v^2` in `effective`.
#' * `augment()`: one row per observation: the inputs, the label `.label`
#'   when known, `.fitted` (the network output; for a K-class network the
#'   output of the predicted class), `.margin` (\eqn{y f} or
#'   \eqn{f_y - \max_{j \ne y} f_j}; `NA` without labels), `.class` (the
#'   predicted label) and, for networks with hidden layers, `.n_active`
#'   (number of active hidden neurons, all hidden layers together).
#'
#' @param x A `mirror_flow` fit.
#' @param newdata For `glance()` and `augment()`: held-out data, a
#'   `mirrorflow_data` object (inputs and labels), a numeric matrix or, for
#'   a formula fit, a data frame. `NULL` for the training data.
#' @param ... Unused.
#' @return A data frame.
#' @examples
#' set.seed(4)
#' data(sparse_teacher)
#' fit <- mirror_flow(sparse_teacher$x, sparse_teacher$y,
#'                    net = homogeneous_net(c(20, 8, 1)),
#'                    control = flow_control(target_log_loss = -5,
#'                                           rtol = 1e-4))
#' glance(fit)
#' head(tidy(fit))
#' head(augment(fit)[, c(".label", ".fitted", ".margin", ".class")])
#' @name mirror_flow-tidiers
NULL

#' @rdname mirror_flow-tidiers
#' @method glance mirror_flow
#' @export
glance.mirror_flow <- function(x, newdata = NULL, ...) {
  fin <- x$trajectory[nrow(x$trajectory), ]
  hz <- unique(vapply(x$maps, function(m) horizon_label(m$horizon_p), ""))
  out <- data.frame(
    map = paste(unique(vapply(x$maps, map_label, "")), collapse = ", "),
    horizon = paste(hz, collapse = ", "), net = net_label(x$net),
    activation = x$net$activation, n = nrow(x$x), parameters = x$net$nparam,
    loss = x$loss, integrator = x$integrator, steps = x$steps,
    grad_evals = x$grad_evals, log_time = fin$log_time,
    log_loss = fin$log_loss, q_min = fin$q_min, q_margin = fin$q_margin,
    horizon_norm = fin$horizon, smoothed_margin = fin$smoothed_margin,
    accuracy = fin$accuracy, stop_reason = x$stop_reason,
    elapsed = x$elapsed, stringsAsFactors = FALSE)
  if (!is.null(newdata)) {
    nd <- labelled_inputs(x, newdata)
    out$test_accuracy <- if (is.null(nd$y)) NA_real_
      else mean(same_label(predict(x, nd$x, type = "class"), nd$y))
  }
  out
}

#' @rdname mirror_flow-tidiers
#' @method tidy mirror_flow
#' @export
tidy.mirror_flow <- function(x, ...) {
  net <- x$net
  w <- x$weights
  if (net$type == "diagonal") {
    d <- net$widths[1]
    return(data.frame(block = rep(c("u", "v"), each = d),
                      index = rep(seq_len(d), 2),
                      estimate = c(w$u, w$v),
                      effective = rep(w$u^2 - w$v^2, 2)))
  }
  if (net$nlayers < 2) {
    return(data.frame(block = "W1", index = seq_along(w$W1),
                      estimate = as.vector(w$W1)))
  }
  fs <- sparsity_at(net, w, x$x, detail = TRUE)$neurons
  bal <- balance_report(x)
  data.frame(layer = fs$layer, neuron = fs$neuron, norm_in = fs$norm_in,
             norm_out = fs$norm_out, mass = fs$mass,
             mass_share = fs$mass_share, balance_start = bal$balance_start,
             balance_end = bal$balance_end, active_rate = fs$active_rate)
}

#' @rdname mirror_flow-tidiers
#' @method augment mirror_flow
#' @export
augment.mirror_flow <- function(x, newdata = NULL, ...) {
  nd <- if (is.null(newdata)) list(x = x$x, y = x$y)
        else labelled_inputs(x, newdata)
  out <- as.data.frame(nd$x)
  if (is.null(colnames(nd$x))) names(out) <- paste0("x", seq_len(ncol(nd$x)))
  score <- predict(x, nd$x, type = "score")
  cls <- predict(x, nd$x, type = "class")
  if (!is.null(nd$y)) out$.label <- nd$y
  if (is.matrix(score)) {
    out$.fitted <- score[cbind(seq_len(nrow(score)), as.integer(cls))]
    out$.margin <- if (is.null(nd$y)) NA_real_ else {
      yi <- match(as.character(nd$y), x$levels)
      if (anyNA(yi))
        stop("'newdata' has labels that the fit was not trained on",
             call. = FALSE)
      own <- score[cbind(seq_along(yi), yi)]
      score[cbind(seq_along(yi), yi)] <- -Inf
      own - apply(score, 1, max)
    }
  } else {
    out$.fitted <- score
    out$.margin <- if (is.null(nd$y)) NA_real_
                   else binary_sign(x, nd$y) * score
  }
  out$.class <- cls
  if (x$net$type != "diagonal" && x$net$nlayers > 1) {
    acts <- hidden_activations(x$net, x$weights, nd$x, x$net$nlayers - 1L)
    out$.n_active <- Reduce(`+`, lapply(acts, function(h) rowSums(h > 0)))
  }
  out
}

# Inputs and (when there are any) labels of newdata, checked against the
# fit.
labelled_inputs <- function(fit, newdata) {
  y <- NULL
  if (inherits(newdata, "mirrorflow_data")) {
    y <- newdata$y
  } else if (!is.null(fit$terms) && is.data.frame(newdata)) {
    resp <- all.vars(fit$call$x)[1]
    if (!is.na(resp) && resp %in% names(newdata)) y <- newdata[[resp]]
  }
  xm <- input_matrix(fit, newdata, "newdata")
  if (!is.null(y) && length(y) != nrow(xm))
    stop(sprintf("'newdata' has %d labels for %d rows", length(y),
                 nrow(xm)), call. = FALSE)
  list(x = xm, y = y)
}

# +1 / -1 for binary labels in the coding of the training labels.
binary_sign <- function(fit, y) {
  if (is.numeric(y) && is.numeric(fit$y)) {
    if (!all(y %in% c(-1, 1)))
      stop("'newdata' labels must be -1 and +1, like the training labels",
           call. = FALSE)
    return(as.double(y))
  }
  lv <- as.character(fit$levels)
  yc <- as.character(y)
  if (!all(yc %in% lv))
    stop("'newdata' has labels that the fit was not trained on",
         call. = FALSE)
  ifelse(yc == lv[2], 1, -1)
}

same_label <- function(pred, y) as.character(pred) == as.character(y)
