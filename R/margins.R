# Margins of a fit in any gauge, near-support counts, the direction a flow
# has taken compared with a max-margin solution or with other flows.

gauge_exponent <- function(gauge, p, arg = "gauge") {
  if (is_mirror_map(gauge)) return(gauge$horizon_p)
  gauge <- match_choice(gauge, c("l1", "l2", "linf", "lp"), arg)
  switch(gauge, l1 = 1, l2 = 2, linf = Inf,
         lp = {
           if (is.null(p))
             stop("'p' is needed with gauge = \"lp\"", call. = FALSE)
           check_number(p, "p", lower = 1, finite = FALSE)
         })
}

# Margins q_i of the training points under given weights.
fit_margins <- function(fit, weights) {
  network_loss(fit$net, fit$x, fit$y, weights, fit$loss)$margins
}

require_separated <- function(q, what = "the fit") {
  if (!(min(q) > 0))
    stop(sprintf(paste("%s does not separate its training data (smallest",
                       "margin %.3g); max-margin statements do not apply"),
                 what, min(q)), call. = FALSE)
}

#' Margins of a mirror flow
#'
#' The Q-margin \eqn{q_{min} / Q(\theta)^L} of a fit in the horizon gauge
#' of its map (or another gauge), the smoothed margin, and how many
#' training points are near the support: those with
#' \eqn{q_i < q_{min} + \log(10^k)}, for \eqn{k = 1, 2, 3}.
#'
#' @param fit A [mirror_flow()] fit.
#' @param gauge `NULL` for the horizon of the fit's map(s), or `"l1"`,
#'   `"l2"`, `"linf"`, `"lp"` (with `p`), or a [mirror_map()] whose horizon
#'   is used, the same gauge for all parameters.
#' @param p The exponent for `gauge = "lp"`.
#' @param along `"final"` for the final state, or `"trajectory"` for every
#'   checkpoint, which needs parameter snapshots
#'   (`flow_control(keep_params = TRUE)`).
#' @return A data frame, one row per state, with columns `step`,
#'   `log_time`, `gauge`, `q_min`, `horizon_norm`, `q_margin`,
#'   `smoothed_margin` (from the loss, exponential or logistic as in
#'   [trajectory()]), `near_support_10`, `near_support_100` and
#'   `near_support_1000`.
#' @examples
#' data(sparse_teacher)
#' fit <- mirror_flow(sparse_teacher$x, sparse_teacher$y,
#'                    control = flow_control(target_log_loss = -50))
#' margin(fit)
#' margin(fit, gauge = "l1")
#' @export
margin <- function(fit, gauge = NULL, p = NULL,
                   along = c("final", "trajectory")) {
  check_fit(fit)
  along <- match_choice(along, c("final", "trajectory"), "along")
  pl <- if (is.null(gauge)) vapply(fit$maps, function(m) m$horizon_p, 0)
        else rep(gauge_exponent(gauge, p), length(fit$maps))
  label <- if (length(unique(pl)) == 1) horizon_label(pl[1])
           else paste(vapply(pl, horizon_label, ""), collapse = "/")
  if (along == "final") require_separated(fit_margins(fit, fit$weights))
  states <- if (along == "final") list(fit$weights) else snapshots(fit)
  tr <- fit$trajectory
  rows <- if (along == "final") nrow(tr) else seq_len(nrow(tr))
  out <- lapply(seq_along(states), function(k) {
    w <- states[[k]]
    ev <- network_loss(fit$net, fit$x, fit$y, w, fit$loss)
    q <- ev$margins
    Q <- gauge_mixed(lapply(w, as.double), pl)
    QL <- Q^fit$net$degree
    qmin <- min(q)
    num <- if (fit$loss == "exponential") -ev$log_loss
           else -log(expm1(exp(ev$log_loss)))
    data.frame(step = tr$step[rows[k]], log_time = tr$log_time[rows[k]],
               gauge = label, q_min = qmin, horizon_norm = Q,
               q_margin = qmin / QL, smoothed_margin = num / QL,
               near_support_10 = sum(q < qmin + log(10)),
               near_support_100 = sum(q < qmin + log(100)),
               near_support_1000 = sum(q < qmin + log(1000)))
  })
  do.call(rbind, out)
}

# The linear predictor a linear model or diagonal network computes.
linear_predictor <- function(net, weights) {
  if (net$type == "diagonal") return(weights$u^2 - weights$v^2)
  if (net$activation == "linear" && net$nout == 1) {
    w <- weights[[length(weights)]]
    for (l in rev(seq_len(length(weights) - 1))) w <- w %*% weights[[l]]
    return(drop(w))
  }
  NULL
}

fit_direction <- function(fit, weights = fit$weights) {
  w <- linear_predictor(fit$net, weights)
  if (is.null(w)) w <- unlist(lapply(weights, as.double), use.names = FALSE)
  w
}

angle_deg <- function(a, b) {
  cs <- sum(a * b) / sqrt(sum(a^2) * sum(b^2))
  acos(min(1, max(-1, cs))) * 180 / pi
}

#' Alignment of a flow with a max-margin solution
#'
#' For linear models and diagonal networks: at the end of the run (or at
#' every checkpoint, with parameter snapshots) the angle between the
#' linear predictor the network computes and a max-margin direction, and
#' the relative margin gap \eqn{(\gamma^* - \gamma(w)) / \gamma^*}, where
#' \eqn{\gamma(w) = \min_i y_i\langle x_i, w\rangle / Q(w)} in the gauge of
#' the max-margin solution and \eqn{\gamma^*} its margin.
#'
#' @param fit A [mirror_flow()] fit of a linear model or diagonal network.
#' @param reference A max-margin solution: a list with elements
#'   `direction`, `margin` and `p` (the gauge exponent), as [max_margin()]
#'   returns.
#' @param along `"final"` or `"trajectory"` (needs snapshots).
#' @return A data frame with columns `step`, `log_time`, `angle_deg`,
#'   `margin`, `margin_gap`.
#' @export
alignment <- function(fit, reference, along = c("final", "trajectory")) {
  check_fit(fit)
  along <- match_choice(along, c("final", "trajectory"), "along")
  if (!is.list(reference) || is.null(reference$direction) ||
      is.null(reference$margin) || is.null(reference$p))
    stop(paste("'reference' must be a max-margin solution with",
               "'direction', 'margin' and 'p'"), call. = FALSE)
  if (is.null(linear_predictor(fit$net, fit$weights)))
    stop(paste("alignment() needs a linear model or a diagonal network;",
               "for other networks use kkt_residual() or margin()"),
         call. = FALSE)
  if (length(reference$direction) != ncol(fit$x))
    stop(sprintf("'reference' has %d coordinates but the data have %d",
                 length(reference$direction), ncol(fit$x)), call. = FALSE)
  states <- if (along == "final") list(fit$weights) else snapshots(fit)
  tr <- fit$trajectory
  rows <- if (along == "final") nrow(tr) else seq_len(nrow(tr))
  yb <- encode_labels(fit$y, fit$net, nrow(fit$x))$yb
  out <- lapply(seq_along(states), function(k) {
    w <- fit_direction(fit, states[[k]])
    g <- min(yb * drop(fit$x %*% w)) /
      .Call(C_mf_gauge_vec, as.double(w), as.double(reference$p))
    data.frame(step = tr$step[rows[k]], log_time = tr$log_time[rows[k]],
               angle_deg = angle_deg(w, reference$direction), margin = g,
               margin_gap = (reference$margin - g) / reference$margin)
  })
  do.call(rbind, out)
}

#' Compare the directions of several flows
#'
#' Pairwise angles between the directions several fits ended in: the
#' linear predictor for linear models and diagonal networks (so a linear
#' model and a diagonal network on the same data compare directly), and
#' the flattened parameter vector otherwise (meaningful only for nets of
#' the same shape started alike, since hidden units can permute), with the
#' relative difference of their Q-margins in the horizon gauge of the
#' first fit.
#'
#' @param ... Two or more [mirror_flow()] fits, optionally named.
#' @return A data frame with one row per pair: `fit_a`, `fit_b`,
#'   `angle_deg`, `cosine`, `q_margin_a`, `q_margin_b`, `relative_gap`.
#' @examples
#' data(sparse_teacher)
#' a <- mirror_flow(sparse_teacher$x, sparse_teacher$y,
#'                  map = mirror_map("pnorm", p = 3),
#'                  control = flow_control(target_log_loss = -20))
#' b <- mirror_flow(sparse_teacher$x, sparse_teacher$y,
#'                  map = mirror_map("powers", p = 2, q = 3),
#'                  control = flow_control(target_log_loss = -20))
#' compare_directions(pnorm3 = a, powers23 = b)
#' @export
compare_directions <- function(...) {
  fits <- list(...)
  if (length(fits) < 2)
    stop("compare_directions() needs at least two fits", call. = FALSE)
  for (i in seq_along(fits))
    if (!inherits(fits[[i]], "mirror_flow"))
      stop(sprintf("argument %d must be a mirror_flow fit, not %s", i,
                   describe(fits[[i]])), call. = FALSE)
  nm <- names(fits)
  if (is.null(nm)) nm <- rep("", length(fits))
  nm[nm == ""] <- paste0("fit", which(nm == ""))
  dirs <- lapply(fits, fit_direction)
  len <- vapply(dirs, length, 1L)
  if (length(unique(len)) != 1)
    stop(sprintf(paste("the fits' directions have different lengths (%s);",
                       "compare fits of the same data and network shape"),
                 paste(len, collapse = ", ")), call. = FALSE)
  p <- fits[[1]]$maps[[1]]$horizon_p
  qm <- vapply(fits, function(f) {
    q <- fit_margins(f, f$weights)
    require_separated(q, "a fit")
    w <- fit_direction(f)
    if (is.null(linear_predictor(f$net, f$weights))) {
      min(q) / gauge_mixed(lapply(f$weights, as.double),
                           rep(p, length(f$weights)))^f$net$degree
    } else {
      min(q) / .Call(C_mf_gauge_vec, as.double(w), as.double(p))
    }
  }, 0)
  pairs <- utils::combn(length(fits), 2)
  out <- lapply(seq_len(ncol(pairs)), function(k) {
    i <- pairs[1, k]
    j <- pairs[2, k]
    a <- dirs[[i]]
    b <- dirs[[j]]
    data.frame(fit_a = nm[i], fit_b = nm[j], angle_deg = angle_deg(a, b),
               cosine = sum(a * b) / sqrt(sum(a^2) * sum(b^2)),
               q_margin_a = qm[i], q_margin_b = qm[j],
               relative_gap = abs(qm[i] - qm[j]) / max(qm[i], qm[j]))
  })
  res <- do.call(rbind, out)
  rownames(res) <- NULL
  res
}
