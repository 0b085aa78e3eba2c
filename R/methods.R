# Methods for `mirror_flow` fits: printing, summaries, weights,
# predictions, the trajectory and parameter snapshots.

maps_label <- function(maps) {
  labs <- vapply(maps, map_label, "")
  hz <- vapply(maps, function(m) horizon_label(m$horizon_p), "")
  if (length(unique(labs)) == 1) return(sprintf("%s [%s horizon]", labs[1],
                                                hz[1]))
  paste(sprintf("%s [%s]", labs, hz), collapse = ", ")
}

net_label <- function(net) {
  if (net$type == "diagonal")
    return(sprintf("diagonal net (d = %d)", net$widths[1]))
  sprintf("%s net %s", net$activation, paste(net$widths, collapse = "-"))
}

#' @export
format.mirror_flow <- function(x, ...) {
  fin <- x$trajectory[nrow(x$trajectory), ]
  c(sprintf("<mirror_flow> %s on %s, %s loss", maps_label(x$maps),
            net_label(x$net), x$loss),
    sprintf("  %s integrator: %s steps, %s gradient evaluations, stopped at %s",
            x$integrator, format(x$steps, big.mark = ","),
            format(x$grad_evals, big.mark = ","), x$stop_reason),
    sprintf("  log-loss %.6g at log time %.4g; q_min %.4g, Q-margin %.4g, %s",
            fin$log_loss, fin$log_time, fin$q_min, fin$q_margin,
            sprintf("train accuracy %.3g", fin$accuracy)))
}

#' Print, summarise and extract from a mirror flow
#'
#' `print()` gives a three-line account: map and network, integrator and
#' stop reason, final log-loss and margins. `summary()` adds the settings,
#' the final row of the trajectory and per-layer norms. `coef()` returns
#' the final weights, `W_l` of dimension \eqn{m_l \times m_{l-1}} (for a
#' diagonal network the vectors `u` and `v`).
#'
#' @param x,object A `mirror_flow` fit.
#' @param which For `coef()`: `"final"` (default) or `"init"`.
#' @param ... Unused.
#' @return `coef()`: a named list of weight matrices. `summary()`: an
#'   object of class `summary.mirror_flow`.
#' @examples
#' data(sparse_teacher)
#' fit <- mirror_flow(sparse_teacher$x, sparse_teacher$y,
#'                    control = flow_control(target_log_loss = -30))
#' summary(fit)
#' str(coef(fit))
#' @name mirror_flow-methods
NULL

#' @rdname mirror_flow-methods
#' @export
print.mirror_flow <- function(x, ...) {
  cat(format(x, ...), sep = "\n")
  invisible(x)
}

#' @rdname mirror_flow-methods
#' @export
coef.mirror_flow <- function(object, which = c("final", "init"), ...) {
  which <- match_choice(which, c("final", "init"), "which")
  if (which == "final") object$weights else object$init
}

#' @rdname mirror_flow-methods
#' @export
summary.mirror_flow <- function(object, ...) {
  tr <- object$trajectory
  fin <- tr[nrow(tr), ]
  layers <- data.frame(
    block = block_names(object$net),
    map = vapply(object$maps, map_label, ""),
    horizon = vapply(object$maps, function(m) horizon_label(m$horizon_p), ""),
    parameters = vapply(object$weights, length, 1L),
    horizon_norm = unlist(fin[paste0("horizon_", block_names(object$net))]),
    row.names = NULL)
  structure(list(
    head = format(object)[1],
    integrator = object$integrator, stop_reason = object$stop_reason,
    steps = object$steps, grad_evals = object$grad_evals,
    rejected = object$rejected, elapsed = object$elapsed,
    final = fin, layers = layers, n = nrow(object$x),
    control = object$control), class = "summary.mirror_flow")
}

#' @export
print.summary.mirror_flow <- function(x, ...) {
  cat(x$head, "\n", sep = "")
  cat(sprintf("  %d training points; %s integrator, %s accepted and %s %s\n",
              x$n, x$integrator, format(x$steps, big.mark = ","),
              format(x$rejected, big.mark = ","), "rejected steps"))
  cat(sprintf("  %s gradient evaluations in %.3g s; stopped at %s\n",
              format(x$grad_evals, big.mark = ","), x$elapsed,
              x$stop_reason))
  f <- x$final
  cat("\nFinal state:\n")
  vals <- c(`log time` = f$log_time, `log loss` = f$log_loss,
            `q_min` = f$q_min, `horizon norm Q` = f$horizon,
            `Q-margin` = f$q_margin, `smoothed margin` = f$smoothed_margin,
            `train accuracy` = f$accuracy,
            `balance drift` = f$balance_drift)
  cat(sprintf("  %-16s %s\n", names(vals), format(vals, digits = 6)), sep = "")
  cat("\nLayers:\n")
  print(x$layers, row.names = FALSE)
  invisible(x)
}

#' Predict from a mirror flow
#'
#' @param object A `mirror_flow` fit.
#' @param newdata A numeric matrix with the training columns (for a fit
#'   from the formula method, a data frame), or a `mirrorflow_data`
#'   object; by default the training data.
#' @param type `"score"` for the network outputs (a vector for a binary
#'   network, an `n` by `K` matrix otherwise) or `"class"` for labels in the
#'   coding of the training labels.
#' @param ... Unused.
#' @return Scores or labels, one per row of `newdata`.
#' @examples
#' data(sparse_teacher)
#' fit <- mirror_flow(sparse_teacher$x, sparse_teacher$y,
#'                    control = flow_control(target_log_loss = -20))
#' mean(predict(fit, type = "class") == sparse_teacher$y)
#' @export
predict.mirror_flow <- function(object, newdata = NULL,
                                type = c("score", "class"), ...) {
  type <- match_choice(type, c("score", "class"), "type")
  x <- input_matrix(object, newdata, "newdata")
  theta <- unlist(lapply(object$weights, as.double), use.names = FALSE)
  s <- .Call(C_mf_net_predict, x, net_spec(object$net, object$loss),
             object$net$widths, theta)
  if (object$net$nout == 1) {
    s <- as.vector(s)
    if (type == "score") return(s)
    lv <- object$levels
    cls <- ifelse(s > 0, 2L, 1L)
    if (is.numeric(object$y)) return(c(-1, 1)[cls])
    if (is.logical(object$y)) return(cls == 2L)
    return(factor(lv[cls], levels = lv))
  }
  s <- t(s)
  colnames(s) <- object$levels
  if (type == "score") return(s)
  factor(object$levels[max.col(s, ties.method = "first")],
         levels = object$levels)
}

#' Trajectory of a mirror flow
#'
#' One row per checkpoint, spaced evenly in log time, the final state
#' always last.
#'
#' Columns: `step` (accepted steps), `log_time` (log of flow time t),
#' `tau` (normalised time, \eqn{d\tau = Loss\,dt}), `log_loss`, `q_min`
#' (smallest margin), `horizon` (the horizon gauge Q of all parameters),
#' `q_margin` (\eqn{q_{min} / Q^L}), `smoothed_margin`
#' (\eqn{\log(1/Loss) / Q^L} for the exponential loss,
#' \eqn{\log(1/(e^{Loss} - 1)) / Q^L} for the logistic one), `accuracy`
#' (training accuracy), `grad_evals` (gradient evaluations so far),
#' `balance_drift` (the largest change since the start of a hidden
#' neuron's balance \eqn{\sum_{in} D(\theta_k) - \sum_{out} D(\theta_k)},
#' relative to the larger of its total \eqn{\sum D} then and now; `NA` for
#' networks without hidden neurons), `step_size` (the last step, in real
#' time for `"md"`, in normalised time otherwise), and `horizon_<block>`,
#' the horizon gauge of each layer's weights.
#'
#' @param fit A `mirror_flow` fit.
#' @return A data frame.
#' @examples
#' data(sparse_teacher)
#' fit <- mirror_flow(sparse_teacher$x, sparse_teacher$y,
#'                    control = flow_control(target_log_loss = -20))
#' head(trajectory(fit))
#' @export
trajectory <- function(fit) {
  check_fit(fit)
  fit$trajectory
}

#' Parameter snapshots along a trajectory
#'
#' Available when the run was made with
#' `flow_control(keep_params = TRUE)`: the weights at every row of
#' [trajectory()].
#'
#' @param fit A `mirror_flow` fit.
#' @return A list, one element per checkpoint, each a list of weight
#'   matrices like [coef()].
#' @examples
#' data(sparse_teacher)
#' fit <- mirror_flow(sparse_teacher$x, sparse_teacher$y,
#'                    control = flow_control(target_log_loss = -20,
#'                                           keep_params = TRUE,
#'                                           checkpoints = 5))
#' length(snapshots(fit))
#' @export
snapshots <- function(fit) {
  check_fit(fit)
  if (is.null(fit$snapshots))
    stop(paste("the fit kept no parameter snapshots; rerun with",
               "flow_control(keep_params = TRUE)"), call. = FALSE)
  lapply(seq_len(ncol(fit$snapshots)),
         function(j) unflatten(fit$net, fit$snapshots[, j]))
}

check_fit <- function(fit) {
  if (!inherits(fit, "mirror_flow"))
    stop(sprintf("'fit' must be a mirror_flow fit, not %s", describe(fit)),
         call. = FALSE)
  fit
}
