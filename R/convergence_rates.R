# Rates fitted on the late part of a trajectory: how the log-loss, the
# horizon norm and a margin gap scale with time, as power laws in t and in
# log t, beside the known gradient-flow rates for the euclidean map.

#' Convergence rates of a mirror flow
#'
#' Fits, by least squares over the trajectory rows whose log time lies in
#' the window, power laws in \eqn{t} and in \eqn{\log t}:
#'
#' * the loss: \eqn{Loss \sim t^{a}} (slope of log-loss on log time), and
#'   the correction \eqn{t\,Loss \sim (\log t)^{b}};
#' * the horizon norm: \eqn{Q \sim t^{a}} and \eqn{Q \sim (\log t)^{b}};
#' * the margin gap \eqn{\gamma^* - \gamma_Q(t)}, when a limit margin
#'   `reference` is given: \eqn{gap \sim t^{a}} and
#'   \eqn{gap \sim (\log t)^{b}}.
#'
#' For the euclidean map on an \eqn{L}-homogeneous network, gradient flow
#' has \eqn{Loss \sim 1 / (t (\log t)^{2 - 2/L})} and
#' \eqn{Q \sim (\log t)^{1/L}} (Lyu and Li, 2020); those exponents are set
#' beside the estimates. Other maps have no such closed form: the rates
#' are measured, not assumed. The power laws in \eqn{\log t} need
#' \eqn{\log t > 0} and use only such rows.
#'
#' @param fit A [mirror_flow()] fit.
#' @param window Log-time window: two numbers, or one number in (0, 1),
#'   the share of the log-time range at its end to use (default: the last
#'   half).
#' @param reference The limit Q-margin for the gap: a number, or a
#'   max-margin solution (a list with a `margin` element, as from
#'   [max_margin()]).
#' @return A data frame with columns `quantity`, `law` (`"t"` or
#'   `"log t"`), `exponent`, `std_error`, `n`, `theory` (the gradient-flow
#'   exponent for the euclidean map, `NA` otherwise).
#' @examples
#' data(sparse_teacher)
#' fit <- mirror_flow(sparse_teacher$x, sparse_teacher$y,
#'                    control = flow_control(target_log_loss = -200))
#' convergence_rates(fit)
#' @export
convergence_rates <- function(fit, window = 0.5, reference = NULL) {
  check_fit(fit)
  tr <- fit$trajectory
  tr <- tr[is.finite(tr$log_time), ]
  if (!is.numeric(window) || anyNA(window) ||
      !(length(window) == 2 || (length(window) == 1 && window > 0 &&
                                window < 1)))
    stop(paste("'window' must be two log times or one share in (0, 1)",
               "of the log-time range"), call. = FALSE)
  rng <- range(tr$log_time)
  lim <- if (length(window) == 1) c(rng[2] - window * diff(rng), rng[2])
         else sort(window)
  use <- tr[tr$log_time >= lim[1] & tr$log_time <= lim[2], ]
  if (nrow(use) < 4)
    stop(sprintf(paste("the window [%.3g, %.3g] holds %d trajectory rows;",
                       "at least 4 are needed"), lim[1], lim[2], nrow(use)),
         call. = FALSE)
  gf <- all(vapply(fit$maps, function(m) m$family == "euclidean", TRUE))
  L <- fit$net$degree
  slope <- function(yv, xv) {
    ok <- is.finite(yv) & is.finite(xv)
    if (sum(ok) < 3) return(c(NA_real_, NA_real_, sum(ok)))
    m <- stats::lm(yv[ok] ~ xv[ok])
    # an exact power law is a perfect fit, which summary() only warns of
    s <- suppressWarnings(summary(m))$coefficients
    c(s[2, 1], if (nrow(s) > 1 && ncol(s) > 1) s[2, 2] else NA_real_,
      sum(ok))
  }
  lt <- use$log_time
  llt <- ifelse(lt > 0, log(pmax(lt, .Machine$double.xmin)), NA_real_)
  rows <- list(
    c("loss", "t", slope(use$log_loss, lt), if (gf) -1 else NA),
    c("loss", "log t", slope(use$log_loss + lt, llt),
      if (gf) -(2 - 2 / L) else NA),
    c("horizon_norm", "t", slope(log(use$horizon), lt), if (gf) 0 else NA),
    c("horizon_norm", "log t", slope(log(use$horizon), llt),
      if (gf) 1 / L else NA))
  if (!is.null(reference)) {
    gstar <- if (is.list(reference)) reference$margin else reference
    if (!is.numeric(gstar) || length(gstar) != 1 || !is.finite(gstar))
      stop("'reference' must be a number or a max-margin solution",
           call. = FALSE)
    gap <- gstar - use$q_margin
    lg <- ifelse(gap > 0, log(pmax(gap, .Machine$double.xmin)), NA_real_)
    rows <- c(rows, list(c("margin_gap", "t", slope(lg, lt), NA),
                         c("margin_gap", "log t", slope(lg, llt), NA)))
  }
  out <- data.frame(
    quantity = vapply(rows, `[[`, "", 1),
    law = vapply(rows, `[[`, "", 2),
    exponent = as.double(vapply(rows, `[[`, "", 3)),
    std_error = as.double(vapply(rows, `[[`, "", 4)),
    n = as.integer(vapply(rows, `[[`, "", 5)),
    theory = suppressWarnings(as.double(vapply(rows, function(r) r[[6]],
                                               ""))))
  attr(out, "window") <- lim
  out
}
