# The balance report: per hidden neuron, the quantity the mirror flow
# conserves, sum_in D(theta) - sum_out D(theta), at the start and the end.

#' Balance of the hidden neurons of a fit
#'
#' For a hidden neuron with incoming weights `in` and outgoing weights
#' `out` the exact mirror flow conserves
#' \eqn{B = \sum_{in} D(\theta_k) - \sum_{out} D(\theta_k)}, with
#' \eqn{D(x) = x\phi'(x) - \phi(x)} the balance function of each layer's
#' map (for the euclidean map \eqn{B = (|w_{in}|^2 - |w_{out}|^2)/2}).
#' Mirror descent and the integrators drift from it by an amount their
#' step or tolerance sets.
#'
#' @param fit A [mirror_flow()] fit of a network with hidden neurons.
#' @return A data frame, one row per hidden neuron: `layer`, `neuron`,
#'   `balance_start`, `balance_end`, `drift` (end minus start),
#'   `relative_drift` (its size over the larger of the neuron's summed
#'   \eqn{D} at start and end), and, when both layers around the neuron
#'   use the euclidean map, `classical_start` and `classical_end`, the
#'   classical \eqn{|w_{in}|^2 - |w_{out}|^2}.
#' @examples
#' set.seed(1)
#' data(sparse_teacher)
#' fit <- mirror_flow(sparse_teacher$x, sparse_teacher$y,
#'                    net = homogeneous_net(c(20, 8, 1), "relu"),
#'                    control = flow_control(target_log_loss = -5,
#'                                           rtol = 1e-4))
#' head(balance_report(fit))
#' @export
balance_report <- function(fit) {
  check_fit(fit)
  net <- fit$net
  if (net$type == "diagonal" || net$nlayers < 2)
    stop(paste("balance_report() needs a network with hidden neurons;",
               "this fit has none"), call. = FALSE)
  code <- vapply(fit$maps, function(m) m$code, numeric(5))
  custom <- lapply(fit$maps, function(m) m$fun)
  spec <- net_spec(net, fit$loss)
  at <- function(w) {
    .Call(C_mf_net_balances, spec, net$widths, code, custom,
          unlist(lapply(w, as.double), use.names = FALSE))
  }
  b0 <- at(fit$init)
  b1 <- at(fit$weights)
  hidden <- net$widths[2:net$nlayers]
  out <- data.frame(
    layer = rep(seq_along(hidden), hidden),
    neuron = unlist(lapply(hidden, seq_len)),
    balance_start = b0[[1]], balance_end = b1[[1]],
    drift = b1[[1]] - b0[[1]],
    relative_drift = abs(b1[[1]] - b0[[1]]) /
      pmax(b0[[2]], b1[[2]], .Machine$double.xmin))
  euclid <- vapply(fit$maps, function(m) m$family == "euclidean", TRUE)
  classical <- function(w) {
    unlist(lapply(seq_along(hidden), function(l) {
      rowSums(w[[l]]^2) - colSums(w[[l + 1]]^2)
    }))
  }
  if (all(euclid)) {
    out$classical_start <- classical(fit$init)
    out$classical_end <- classical(fit$weights)
  }
  out
}
