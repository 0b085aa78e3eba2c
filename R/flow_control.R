# Settings of a mirror-flow run: step sizes, tolerances and the limits at
# which a run stops.

#' Control a mirror-flow run
#'
#' A run stops at the first limit reached: the log-loss target, the number
#' of accepted steps, the log time, or the wall-clock time limit; the fit
#' says which.
#'
#' @param eta Step size. For `integrator = "md"` the fixed step of mirror
#'   descent in real time, \eqn{z \leftarrow z - \eta \nabla Loss}; the
#'   loss is a sum over points, so this must shrink with their number. For
#'   `"loss_scaled"`, `"adaptive"` and `"proximal"` the first step in
#'   normalised time
#'   \eqn{d\tau = Loss\,dt}, which the integrator then adapts.
#' @param max_steps Largest number of accepted steps.
#' @param target_log_loss Stop once the log of the loss falls to this.
#' @param max_log_time Stop once the log of the flow time reaches this.
#' @param time_limit Stop after this many seconds (wall clock).
#' @param checkpoints Number of trajectory rows kept, spaced evenly in log
#'   time; the final state is always kept.
#' @param rtol,atol Relative and absolute error tolerances of the adaptive
#'   and proximal integrators, per coordinate of their state.
#' @param step_up,step_down Factors by which the loss-scaled schedule
#'   raises its step after a successful step and lowers it after a failed
#'   one (Lyu and Li use \eqn{2^{1/5}} and \eqn{2^{1/10}}).
#' @param keep_params Keep the parameters at every checkpoint (see
#'   [snapshots()]).
#' @param scheme The embedded pair of the adaptive integrator: `"dopri"`,
#'   the explicit Dormand-Prince 5(4) pair, accurate and cheap per step but
#'   limited by stability once the flow turns stiff (late, when the loss
#'   weights concentrate and the mirror map stretches); `"rosenbrock"`, a
#'   linearly implicit second-order pair (ROS2, a W-method) whose Jacobian
#'   is the Gauss-Newton part of the Hessian of the log-loss, applied
#'   through the points of non-negligible loss weight, so that its step can
#'   grow by orders of magnitude; or `"auto"` (default), which starts with
#'   `"dopri"` and moves to `"rosenbrock"` once a stiffness test has held
#'   on 15 more steps than it failed: the step times the estimated spectral
#'   radius past the explicit pair's stability limit counts once, the loss
#'   rising on a step whose error estimate passed counts three times. On
#'   ReLU nets the flow slides along the kinks of the activation late in a
#'   run, tight tolerances cost far more evaluations than on smooth
#'   models, and the explicit pair's order buys little; there `rtol` of
#'   `1e-1` to `1e-3` with `scheme = "rosenbrock"` reached log-loss -1000
#'   at the Q-margin accuracy of the loss-scaled schedule with 4 to 27
#'   times fewer evaluations (median 11.5), the default scheme with 2 to
#'   28 times fewer (median 9), over four maps and five initial weights
#'   of a 20-10-1 net (the benchmark `bench/late_phase.R` of the source
#'   repository). After a step whose loss rose the Rosenbrock pair keeps
#'   its next steps below half of that step, a ceiling that lifts by 5 %
#'   per accepted step.
#'   The Rosenbrock pair alone is not the default: at tight tolerances
#'   early in a flow its second order takes far more steps than the
#'   explicit pair's fifth, and each step forms a Jacobian over up to 1024
#'   points.
#' @return An object of class `flow_control`.
#' @examples
#' flow_control(target_log_loss = -200, time_limit = 60)
#' @export
flow_control <- function(eta = 0.1, max_steps = 1e5, target_log_loss = -100,
                         max_log_time = Inf, time_limit = Inf,
                         checkpoints = 100, rtol = 1e-6, atol = 1e-10,
                         step_up = 2^(1 / 5), step_down = 2^(1 / 10),
                         keep_params = FALSE,
                         scheme = c("auto", "rosenbrock", "dopri")) {
  scheme <- match_choice(scheme, c("auto", "rosenbrock", "dopri"), "scheme")
  out <- list(
    eta = check_number(eta, "eta", lower = 0, strict = TRUE),
    max_steps = check_number(max_steps, "max_steps", lower = 0,
                             integer = TRUE),
    target_log_loss = check_number(target_log_loss, "target_log_loss",
                                   finite = FALSE),
    max_log_time = check_number(max_log_time, "max_log_time", finite = FALSE),
    time_limit = check_number(time_limit, "time_limit", lower = 0,
                              strict = TRUE, finite = FALSE),
    checkpoints = check_number(checkpoints, "checkpoints", lower = 2,
                               upper = 1e6, integer = TRUE),
    rtol = check_number(rtol, "rtol", lower = 0, upper = 1, strict = TRUE),
    atol = check_number(atol, "atol", lower = 0, strict = TRUE),
    step_up = check_number(step_up, "step_up", lower = 1),
    step_down = check_number(step_down, "step_down", lower = 1,
                             strict = TRUE),
    keep_params = check_flag(keep_params, "keep_params"),
    scheme = scheme)
  if (out$target_log_loss == Inf)
    stop("'target_log_loss' must be below Inf", call. = FALSE)
  if (out$max_log_time == -Inf)
    stop("'max_log_time' must be above -Inf", call. = FALSE)
  structure(out, class = "flow_control")
}

#' @export
print.flow_control <- function(x, ...) {
  cat("<flow_control>\n")
  v <- unclass(x)
  cat(sprintf("  %-16s %s\n", names(v), vapply(v, format, "")), sep = "")
  invisible(x)
}

# The integrators mirror_flow() offers, the default first.
integrator_names <- c("adaptive", "loss_scaled", "md", "proximal")

# The control settings as the C core reads them; the integrator codes are
# those of src/mirrorflow.h (md 0, loss_scaled 1, adaptive 2, proximal 3).
control_vector <- function(control, integrator) {
  c(match(integrator, c("md", "loss_scaled", "adaptive", "proximal")) - 1,
    control$eta, control$max_steps, control$target_log_loss,
    control$max_log_time, control$time_limit, control$checkpoints,
    control$rtol, control$atol, control$step_up, control$step_down,
    as.double(control$keep_params),
    match(control$scheme, c("auto", "rosenbrock", "dopri")) - 1)
}
