# mirror_flow(): checks the data, the network and the maps, runs one of the
# C integrators and wraps the result as a `mirror_flow` object.

stop_reasons <- c("none", "target_log_loss", "max_steps", "max_log_time",
                  "time_limit", "interrupted", "stalled", "nonfinite",
                  "converged")

trajectory_columns <- c("step", "log_time", "tau", "log_loss", "q_min",
                        "horizon", "q_margin", "smoothed_margin", "accuracy",
                        "grad_evals", "balance_drift", "step_size")

#' Run a mirror flow on a homogeneous network
#'
#' Integrates the mirror flow \eqn{\frac{d}{dt}\nabla R(\theta_t) =
#' -\nabla Loss(\theta_t)} (or its explicit Euler discretisation, mirror
#' descent) for a network, a mirror map and an exponentially tailed loss,
#' from the initial weights until the first limit in `control` is reached.
#'
#' The loss is kept in log space and the flow is integrated in the dual
#' coordinates \eqn{z = \nabla R(\theta)} on normalised time
#' \eqn{d\tau = Loss\,dt}, where it stays of order one however small the
#' loss gets; the log of real time is accumulated alongside. (For the cosh
#' map the integration state is \eqn{\theta} itself, because
#' \eqn{\sinh\theta} overflows long before a flow is over; the steps are
#' still steps in the dual.)
#'
#' Integrators:
#' * `"adaptive"` (default): Dormand-Prince 5(4) embedded Runge-Kutta pair
#'   with error control (`rtol`, `atol`) in normalised time; a step that
#'   would raise the loss is rejected.
#' * `"loss_scaled"`: the step \eqn{z \leftarrow z - h \nabla Loss / Loss}
#'   with \eqn{h} raised by `step_up` after a step that lowers the loss and
#'   rolled back and lowered by `step_down` after one that does not.
#' * `"md"`: plain mirror descent \eqn{z \leftarrow z - \eta\nabla Loss}
#'   with fixed step `eta`, `max_steps` steps unless another limit comes
#'   first.
#' * `"proximal"`, for a linear model with one output or a diagonal
#'   network, and the exponential loss only: implicit Euler in normalised
#'   time, each step the Bregman proximal step \eqn{\theta^+ = \arg\min_x
#'   D_R(x, \theta) + h \log Loss(x)}, solved by Newton's method with the
#'   problem's exact Hessian, with the step set by an error estimate
#'   (`rtol`, `atol`) and carried by its logarithm. On a linear model the
#'   problem is strictly convex, so no step is too large to be stable; on
#'   a diagonal network it need not be, its Hessian is then factored as
#'   an indefinite matrix, and a step whose Newton solve does not converge
#'   is retried shorter. It is first
#'   order, so early in a run it takes smaller steps than `"adaptive"`,
#'   but nothing in it stalls late: it is the integrator that takes the
#'   cosh map to log-loss -10000, where the normalised time passes
#'   \eqn{e^{30000}} (the `tau` and `step_size` columns of the trajectory
#'   are then `Inf`; `log_time` stays finite).
#'
#' @param x A numeric matrix (one row per point), a `mirrorflow_data`
#'   object (inputs and labels together, as the data generators and
#'   [fashion_mnist()] return), or, for the formula method, a formula
#'   `label ~ predictors`.
#' @param y Labels: for a network with output width 1, `-1`/`+1`, a
#'   logical or a two-level factor; for output width \eqn{K \ge 2}, a
#'   factor with \eqn{K} levels.
#' @param data A data frame for the formula method.
#' @param net A [homogeneous_net()] or [diagonal_net()]; by default a linear
#'   model `homogeneous_net(c(ncol(x), 1), "linear")`.
#' @param map A [mirror_map()], or a list of maps, one per layer (for a
#'   diagonal network: one for `u` and one for `v`).
#' @param loss `"exponential"` or `"logistic"`.
#' @param integrator `"adaptive"`, `"loss_scaled"`, `"md"` or
#'   `"proximal"`.
#' @param control A [flow_control()] object.
#' @param init Initial weights: a list of weight matrices as from
#'   [init_weights()], used as given. By default drawn by
#'   `init_weights(net, init_scale)` from R's random-number generator.
#' @param init_scale Scale of the default initialisation.
#' @param progress Show a progress bar (default: in interactive sessions).
#' @param ... Passed from the formula method to the default method.
#' @return An object of class `mirror_flow`; see [trajectory()],
#'   [coef.mirror_flow()], [predict.mirror_flow()] and
#'   [summary.mirror_flow()]. Its `stop_reason` says which limit ended the
#'   run: `"target_log_loss"`, `"max_steps"`, `"max_log_time"`,
#'   `"time_limit"`, `"interrupted"`, `"converged"` (the state stopped
#'   changing to rounding for 20 accepted steps, as on data the network
#'   cannot separate, where the flow settles at a finite minimiser),
#'   `"stalled"` (the step fell below what double precision resolves
#'   against the normalised time, or that time neared the top of the
#'   double range; for the adaptive integrator also 500 attempts in a row
#'   at steps below 1e-9 of the normalised time, as where a ReLU net's
#'   flow slides along a kink of the activation and every step across it
#'   raises the loss) or `"nonfinite"` (the next step was not finite). A
#'   warning accompanies every reason but the target and the step limit
#'   of `"md"`.
#'
#' @section How long a run needs:
#' On a linear model with 40 points in 30 dimensions, the default settings
#' reach log-loss -1000 in well under a second for the euclidean, p-norm,
#' sums-of-powers and hyperbolic-entropy maps. Late in a run the flow turns
#' stiff, and the Rosenbrock stage of the adaptive integrator lets its
#' step in normalised time grow with the time itself. How close the
#' direction then is to its limit depends on the map: for the euclidean
#' map the margin gap falls like one over log time, to 0.1 per cent at
#' log-loss -1000 on that set; for the hyperbolic entropy with beta 1 it
#' is about 1 per cent there. The cosh map is slow by nature: its
#' parameters grow only like the logarithm of the dual variable, so its
#' l-infinity gap closes very slowly in log time, and the adaptive
#' integrator stalls near log-loss -95 on it; on a linear model
#' `integrator = "proximal"` takes it to log-loss -10000 in seconds, on a
#' linear model and on a diagonal network alike. A ReLU network costs more
#' per step, and the kinks of its activation limit the step.
#'
#' A run interrupted by the user returns what it had, with a warning. A run
#' that stops at its step or time limit before the loss reaches its target,
#' or that ends without separating the training data, warns too.
#' @examples
#' data(sparse_teacher)
#' fit <- mirror_flow(sparse_teacher$x, sparse_teacher$y,
#'                    map = mirror_map("hypentropy", beta = 0.1),
#'                    control = flow_control(target_log_loss = -50))
#' fit
#' tail(trajectory(fit), 3)
#' @export
mirror_flow <- function(x, ...) UseMethod("mirror_flow")

#' @rdname mirror_flow
#' @export
mirror_flow.formula <- function(x, data, ...) {
  if (missing(data) || !is.data.frame(data))
    stop("'data' must be a data frame for the formula method", call. = FALSE)
  mf <- stats::model.frame(x, data = data, na.action = stats::na.fail)
  tt <- stats::terms(mf)
  attr(tt, "intercept") <- 0L
  xm <- stats::model.matrix(tt, mf)
  attr(xm, "assign") <- NULL
  attr(xm, "contrasts") <- NULL
  y <- stats::model.response(mf)
  fit <- mirror_flow.default(xm, y, ...)
  fit$terms <- stats::delete.response(tt)
  fit$call <- match.call()
  fit
}

#' @rdname mirror_flow
#' @export
mirror_flow.mirrorflow_data <- function(x, ...) {
  fit <- mirror_flow.default(x$x, x$y, ...)
  fit$call <- match.call()
  fit$data_info <- x$info
  fit
}

#' @rdname mirror_flow
#' @export
mirror_flow.default <- function(x, y, net = NULL,
                                map = mirror_map("euclidean"),
                                loss = c("exponential", "logistic"),
                                integrator = c("adaptive", "loss_scaled",
                                               "md", "proximal"),
                                control = flow_control(), init = NULL,
                                init_scale = 1, progress = interactive(),
                                ...) {
  if (...length() > 0)
    stop(sprintf("unused argument%s: %s", if (...length() > 1) "s" else "",
                 paste(names(list(...)), collapse = ", ")), call. = FALSE)
  x <- check_data_matrix(x, "x")
  loss <- match_choice(loss, c("exponential", "logistic"), "loss")
  integrator <- match_choice(integrator, integrator_names, "integrator")
  if (is.null(net)) net <- homogeneous_net(c(ncol(x), 1), "linear")
  check_net(net)
  if (ncol(x) != net$widths[1])
    stop(sprintf(paste("'net' widths must start with ncol(x) = %d; they",
                       "start with %d"), ncol(x), net$widths[1]),
         call. = FALSE)
  if (!inherits(control, "flow_control"))
    stop(sprintf("'control' must come from flow_control(), not %s",
                 describe(control)), call. = FALSE)
  progress <- check_flag(progress, "progress")
  maps <- layer_maps(map, net)
  if (integrator == "proximal" && !proximal_fits(net, loss, maps))
    stop(paste("integrator \"proximal\" needs a linear model with one",
               "output (homogeneous_net(c(d, 1))) or a diagonal_net(), the",
               "exponential loss and built-in maps"), call. = FALSE)
  lab <- encode_labels(y, net, nrow(x))
  if (is.null(init)) init <- init_weights(net, init_scale)
  check_init(net, init)
  # the blocks go to C as they are, which copies them into the parameter
  # vector it returns: no flat copy of a wide net's weights in between
  init <- init_blocks(net, init)

  code <- vapply(maps, function(m) m$code, numeric(5))
  custom <- lapply(maps, function(m) m$fun)
  r <- .Call(C_mf_flow, x, lab$yb, lab$yc, net_spec(net, loss),
             net$widths, code, custom, init,
             control_vector(control, integrator), progress)

  traj <- trajectory_frame(r$trajectory, net, control$checkpoints)
  keep <- attr(traj, "rows")
  attr(traj, "rows") <- NULL
  snaps <- if (!is.null(r$snapshots)) r$snapshots[, keep, drop = FALSE]
  fit <- structure(list(
    call = match.call(), net = net, maps = maps, loss = loss,
    integrator = integrator, control = control,
    weights = unflatten(net, r$theta), init = init,
    state = r$state, trajectory = traj, snapshots = snaps,
    stop_reason = stop_reasons[r$stop + 1], steps = r$steps,
    grad_evals = r$evals, rejected = r$rejected, log_time = r$log_time,
    tau = r$tau, log_loss = r$log_loss, elapsed = r$elapsed,
    balance_init = r$balance0, levels = lab$levels, x = x, y = y),
    class = "mirror_flow")
  warn_about_run(fit)
  fit
}

# The proximal integrator's Newton solve needs the Hessian of the log-loss:
# a linear model with one output or a diagonal network, under the
# exponential loss, with built-in maps (their curvature comes from C).
proximal_fits <- function(net, loss, maps) {
  (is_linear_model(net) || net$type == "diagonal") && net$nout == 1 &&
    loss == "exponential" &&
    !any(vapply(maps, function(m) m$family == "custom", TRUE))
}

# A linear model, where the proximal step's problem is convex.
is_linear_model <- function(net) net$type == "dense" && net$nlayers == 1

# One map per parameter block, checked.
layer_maps <- function(map, net) {
  L <- net$nlayers
  if (is_mirror_map(map)) return(rep(list(map), L))
  if (!is.list(map) || length(map) != L)
    stop(sprintf(paste("'map' must be a mirror_map or a list of %d maps,",
                       "one per %s"), L,
                 if (net$type == "diagonal") "block (u, v)" else "layer"),
         call. = FALSE)
  for (l in seq_len(L))
    if (!is_mirror_map(map[[l]]))
      stop(sprintf("'map' element %d must be a mirror_map, not %s", l,
                   describe(map[[l]])), call. = FALSE)
  unname(map)
}

trajectory_frame <- function(m, net, checkpoints) {
  colnames(m) <- c(trajectory_columns,
                   paste0("horizon_", block_names(net)))
  df <- as.data.frame(m)
  df$balance_drift[is.nan(df$balance_drift)] <- NA_real_
  rows <- thin_rows(df$log_time, checkpoints)
  df <- df[rows, , drop = FALSE]
  rownames(df) <- NULL
  attr(df, "rows") <- rows
  df
}

# Indices of at most n rows nearest an even grid in log time, first and
# last always included.
thin_rows <- function(lt, n) {
  k <- length(lt)
  if (k <= n) return(seq_len(k))
  fin <- which(is.finite(lt))
  if (length(fin) < 2) return(unique(c(1, k)))
  grid <- seq(lt[fin[1]], lt[k], length.out = n)
  pick <- vapply(grid, function(g) fin[which.min(abs(lt[fin] - g))], 1L)
  sort(unique(c(1L, pick, k)))
}

warn_about_run <- function(fit) {
  reason <- fit$stop_reason
  final <- fit$trajectory[nrow(fit$trajectory), ]
  if (reason == "interrupted")
    warning(sprintf(paste("the run was interrupted after %s steps; the fit",
                          "holds the state reached"), format(fit$steps)),
            call. = FALSE)
  if (reason %in% c("max_steps", "time_limit") && fit$integrator != "md")
    warning(sprintf(paste("the run stopped at its %s after %s steps, with",
                          "log-loss %.4g above the target %.4g"),
                    if (reason == "max_steps") "step limit" else "time limit",
                    format(fit$steps), fit$log_loss,
                    fit$control$target_log_loss), call. = FALSE)
  if (reason == "stalled") {
    prox_ok <- fit$integrator != "proximal" &&
      proximal_fits(fit$net, fit$loss, fit$maps)
    relu <- fit$integrator == "adaptive" &&
      isTRUE(fit$net$activation %in% c("relu", "leaky_relu"))
    warning(sprintf(paste("the integrator stalled after %s steps: its step,",
                          "or the normalised time, went beyond what double",
                          "precision resolves, or its step stayed below",
                          "1e-9 of the normalised time%s"),
                    format(fit$steps),
                    if (prox_ok) "; integrator = \"proximal\" has no such limit"
                    else if (relu) paste0("; on a ReLU net a smaller rtol ",
                                          "or scheme = \"rosenbrock\" may ",
                                          "avoid the kink it met")
                    else ""), call. = FALSE)
  }
  if (reason == "converged" && final$q_min > 0)
    warning(sprintf(paste("the state stopped changing after %s steps",
                          "although the data are separated; the step in",
                          "normalised time may have collapsed"),
                    format(fit$steps)), call. = FALSE)
  if (reason == "nonfinite")
    warning(sprintf(paste("the run stopped after %s steps because the next",
                          "step was not finite; the last finite state is",
                          "kept"), format(fit$steps)), call. = FALSE)
  if (!(final$q_min > 0))
    warning(sprintf(paste("the network does not separate the training data",
                          "at the end of the run (smallest margin %.3g);",
                          "max-margin statements do not apply"),
                    final$q_min), call. = FALSE)
}
