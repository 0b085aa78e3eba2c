# KKT residuals of a fit for the max-margin problem of its horizon,
#   min Q(theta)  subject to  q_i(theta) >= 1,
# after rescaling theta so that the smallest margin is 1.

# Gradient of the (mixed) lp gauge Q at the flat vector theta, with the
# exponent of each parameter in pk: from sum_k |theta_k / Q|^p_k = 1 by
# implicit differentiation; an exact zero in an l1 block gets 0.
gauge_gradient <- function(theta, pk, Q) {
  a <- abs(theta)
  num <- pk * a^(pk - 1) * sign(theta) / Q^pk
  num[a == 0] <- 0
  den <- sum(pk * a^pk / Q^(pk + 1))
  num / den
}

#' KKT residuals of a mirror flow
#'
#' Measures how close the direction of a fit is to a KKT point of the
#' max-margin problem of its map's horizon, \eqn{\min Q(\theta)} subject
#' to \eqn{q_i(\theta) \ge 1}: \eqn{0 \in \partial Q(\theta) - \sum_i
#' \lambda_i \nabla q_i(\theta)}, \eqn{\lambda_i \ge 0},
#' \eqn{\lambda_i (q_i - 1) = 0}. The parameters are first rescaled so
#' that the smallest margin is 1 (the network is \eqn{L}-homogeneous), the
#' multipliers are restricted to the near-active points
#' \eqn{q_i \le 1 + } `active_tol`, and the best nonnegative multipliers
#' are found by nonnegative least squares (Lawson and Hanson's active-set
#' method, with LAPACK Cholesky solves).
#'
#' Subgradients: at a ReLU kink the margin gradient takes the activation's
#' derivative as 0 (leaky ReLU: its slope), and for the multiclass margin
#' the first strongest wrong class; where a parameter in an l1 block is
#' exactly 0 the gauge's subgradient 0 is used. The l-infinity horizon (the
#' cosh map) is not supported.
#'
#' @param fit A [mirror_flow()] fit.
#' @param along `"final"`, or `"trajectory"` for every checkpoint (needs
#'   parameter snapshots, `flow_control(keep_params = TRUE)`; checkpoints
#'   where the data are not yet separated get `NA`).
#' @param active_tol Points with rescaled margin at most `1 + active_tol`
#'   count as near-active.
#' @return A data frame, one row per state: `step`, `log_time`,
#'   `stationarity` (the residual \eqn{|\nabla Q - \sum_i \lambda_i \nabla
#'   q_i|} relative to \eqn{|\nabla Q|}), `complementarity`
#'   (\eqn{\sum_i \lambda_i (q_i - 1)}), `n_active` and `lambda_sum`.
#' @examples
#' set.seed(1)
#' data(sparse_teacher)
#' fit <- mirror_flow(sparse_teacher$x, sparse_teacher$y,
#'                    net = homogeneous_net(c(20, 8, 1), "relu"),
#'                    control = flow_control(target_log_loss = -20,
#'                                           rtol = 1e-5))
#' kkt_residual(fit)
#' @export
kkt_residual <- function(fit, along = c("final", "trajectory"),
                         active_tol = 0.05) {
  check_fit(fit)
  along <- match_choice(along, c("final", "trajectory"), "along")
  active_tol <- check_number(active_tol, "active_tol", lower = 0)
  pl <- vapply(fit$maps, function(m) m$horizon_p, 0)
  if (any(is.infinite(pl)))
    stop(paste("kkt_residual() needs lp horizons with finite p; the",
               "l-infinity horizon (cosh map) is not supported"),
         call. = FALSE)
  net <- fit$net
  dims <- vapply(block_dims(net), prod, 1)
  pk <- rep(pl, dims)
  lab <- encode_labels(fit$y, net, nrow(fit$x))
  spec <- net_spec(net, fit$loss)
  states <- if (along == "final") list(fit$weights) else snapshots(fit)
  tr <- fit$trajectory
  rows <- if (along == "final") nrow(tr) else seq_len(nrow(tr))
  one <- function(w, k) {
    base <- data.frame(step = tr$step[rows[k]], log_time = tr$log_time[rows[k]])
    theta <- unlist(lapply(w, as.double), use.names = FALSE)
    sep <- tryCatch(
      .Call(C_mf_margin_grads, fit$x, lab$yb, lab$yc, spec, net$widths, theta,
            active_tol),
      error = function(e) {
        msg <- conditionMessage(e)
        if (!grepl("does not separate the data", msg)) stop(e)
        if (along == "final")
          stop(sprintf(paste("the fit does not separate its training data",
                             "(%s); max-margin statements do not apply"),
                       sub(".*: ", "", msg)), call. = FALSE)
        NULL
      })
    if (is.null(sep)) {
      return(cbind(base, stationarity = NA_real_,
                   complementarity = NA_real_, n_active = NA_integer_,
                   lambda_sum = NA_real_))
    }
    q <- sep$margins
    # rescale to q_min = 1: an L-homogeneous margin's gradient scales by
    # c^(L - 1) when theta scales by c
    cs <- min(q)^(-1 / net$degree)
    theta <- theta * cs
    qt <- q / min(q)
    G <- sep$grads * cs^(net$degree - 1)
    Q <- gauge_mixed(split(theta, rep(seq_along(dims), dims)), pl)
    g <- gauge_gradient(theta, pk, Q)
    lam <- .Call(C_mf_nnls, crossprod(G), drop(crossprod(G, g)))
    r <- g - drop(G %*% lam)
    cbind(base, stationarity = sqrt(sum(r^2)) / sqrt(sum(g^2)),
          complementarity = sum(lam * (qt[sep$idx] - 1)),
          n_active = length(sep$idx), lambda_sum = sum(lam))
  }
  do.call(rbind, lapply(seq_along(states), function(k) one(states[[k]], k)))
}
