# The experiment behind the vignette "How slow is slow": how fast the
# Q-margin, the horizon norm and the loss of a mirror flow approach their
# limits, per map, measured against log time and set beside what theory
# (or a heuristic, where there is no theorem) predicts.

#' How slow is slow: convergence rates of mirror flows
#'
#' Runs one mirror flow per map on a sparse linear teacher
#' ([simulate_sparse_linear()]) with a linear model, and optionally on a
#' small ReLU network, far into the late phase, and measures how the
#' Q-margin gap, the horizon norm and the log-loss evolve with log time.
#' The flows use the adaptive integrator, except cosh on the linear
#' model, which uses `integrator = "proximal"`: the adaptive pairs stall
#' on cosh early in the late phase, and the proximal step follows the
#' same flow on (see [mirror_flow()]).
#'
#' On the linear model the gap is taken to the max-margin value of the
#' map's horizon, from [max_margin()]. On the ReLU network no such
#' reference exists (the max-margin problem is not convex); there the
#' limit is extrapolated from the run itself by fitting
#' \eqn{\gamma_Q(t) = \gamma^* - c (\log t)^{-b}} over the fitting window
#' (see Details), and the gap is taken to that \eqn{\gamma^*}. The rates
#' come from [convergence_rates()] over the window
#' `[fit_share * T, T]` in log time, `T` the log time the run reached.
#'
#' Predictions set beside the fits: for gradient flow, the rates of Lyu
#' and Li (2020) that [convergence_rates()] carries, and the margin gap
#' \eqn{\sim 1 / \log t} of gradient flow on a linear model (Soudry et al.,
#' 2018). For the other maps on a linear model, a heuristic derived in the
#' vignette from the scalar caricature \eqn{\phi''(Q)\,dQ/dt \approx
#' e^{-\gamma^* Q}}: the loss falls like \eqn{1/t} up to powers of
#' \eqn{\log t}, except for cosh, where it falls like
#' \eqn{t^{-\gamma^*/(1+\gamma^*)}}, and the horizon norm grows like
#' \eqn{\log t} for every map. The heuristic rows are marked as such.
#'
#' @param scale `"quick"` (the vignette's settings, about a minute) or
#'   `"full"` (larger data, longer runs, every map on the ReLU network as
#'   well; 73 minutes on one core of a two-core machine with another
#'   experiment on the other).
#' @param n,d,k Points, dimension and nonzero teacher coordinates of the
#'   linear teacher.
#' @param seed Seed of the data and of the initial weights.
#' @param maps A list of [mirror_map()] objects, one flow each on the
#'   linear model.
#' @param max_steps Largest number of accepted steps of a flow on the
#'   linear model (the runs have no other limit, except for the flows that
#'   stall).
#' @param relu_width Hidden width of the ReLU network; 0 for none.
#' @param relu_maps Maps run on the ReLU network.
#' @param relu_steps Largest number of accepted steps of a flow on the
#'   ReLU network.
#' @param fit_share The rates are fitted over log times from
#'   `fit_share` times the log time a run reached to its end.
#' @param cache `NULL`, or a directory where each finished flow and solver
#'   call is kept, so that an interrupted run resumes.
#' @return A `mirrorflow_experiment` (see [paper_experiments()]) with the
#'   tables `runs` (one row per flow: how far it got and why it stopped)
#'   and `rates` (the fitted exponents beside the predictions), and the
#'   figures `trajectories`, `gap_fit` and `fitted_rates`.
#' @examples
#' \donttest{
#' ex <- experiment_rates(max_steps = 2000, relu_width = 0)
#' ex$tables$runs
#' }
#' @export
experiment_rates <- function(scale = c("quick", "full"), n = NULL, d = NULL,
                             k = NULL, seed = NULL, maps = NULL,
                             max_steps = NULL, relu_width = NULL,
                             relu_maps = NULL, relu_steps = NULL,
                             fit_share = NULL, cache = NULL) {
  scale <- check_scale(scale)
  check_cache(cache)
  need_package("ggplot2", "experiment_rates()")
  def <- rates_defaults(scale)
  n <- check_number(n %||% def$n, "n", lower = 10, integer = TRUE)
  d <- check_number(d %||% def$d, "d", lower = 2, integer = TRUE)
  k <- check_number(k %||% def$k, "k", lower = 1, upper = d, integer = TRUE)
  seed <- check_number(seed %||% def$seed, "seed", integer = TRUE)
  maps <- check_map_list(maps %||% def$maps, "maps", empty = FALSE)
  max_steps <- check_number(max_steps %||% def$max_steps, "max_steps",
                            lower = 10, upper = 1e6, integer = TRUE)
  relu_width <- check_number(relu_width %||% def$relu_width, "relu_width",
                             lower = 0, integer = TRUE)
  relu_maps <- check_map_list(relu_maps %||% def$relu_maps, "relu_maps",
                              empty = TRUE)
  relu_steps <- check_number(relu_steps %||% def$relu_steps, "relu_steps",
                             lower = 10, upper = 1e6, integer = TRUE)
  fit_share <- check_number(fit_share %||% def$fit_share, "fit_share",
                            lower = 0, upper = 1, strict = TRUE)
  if (fit_share >= 1)
    stop(sprintf("'fit_share' must be below 1, not %s", format(fit_share)),
         call. = FALSE)
  if (relu_width == 0) relu_maps <- list()

  data <- simulate_sparse_linear(n, d, k, seed = seed)
  tag <- sprintf("n%d_d%d_k%d_s%d", n, d, k, seed)
  settings <- list(
    data = sprintf("simulate_sparse_linear(n = %d, d = %d, k = %d, seed = %d)",
                   n, d, k, seed),
    maps = paste(vapply(maps, map_label, ""), collapse = ", "),
    max_steps = max_steps,
    linear_rtol = rates_rtol[["linear"]], relu_width = relu_width,
    relu_maps = paste(vapply(relu_maps, map_label, ""), collapse = ", "),
    relu_steps = relu_steps,
    relu_rtol = rates_rtol[["relu"]], init_scale = rates_init_scale,
    loss = "exponential",
    integrator = paste("adaptive; proximal for cosh on the linear model,",
                       "where the adaptive pairs stall"),
    fit_window = sprintf("log t in [%s T, T], T the log time reached",
                         format(fit_share)))

  runs <- list()
  linear <- homogeneous_net(c(d, 1), "linear")
  for (m in maps) {
    lab <- map_label(m)
    ref <- cached(cache, sprintf("rates_mm_%s_%s", tag, lab),
                  max_margin(data$x, data$y, gauge = m))
    runs[[length(runs) + 1L]] <- cached(
      cache, sprintf("rates_run_linear_%s_%s_%d_%s%s", tag, lab, max_steps,
                     format(fit_share),
                     if (rates_integrator(linear, m) == "proximal")
                       "_proximal" else ""),
      rates_run(data, linear, m, max_steps, seed, fit_share,
                reference = ref$margin, model = "linear model"))
  }
  if (length(relu_maps)) {
    relu <- homogeneous_net(c(d, relu_width, 1), "relu")
    for (m in relu_maps) {
      lab <- map_label(m)
      runs[[length(runs) + 1L]] <- cached(
        cache, sprintf("rates_run_relu%d_%s_%s_%d_%s", relu_width, tag, lab,
                       relu_steps, format(fit_share)),
        rates_run(data, relu, m, relu_steps, seed, fit_share,
                  reference = NULL, model = sprintf("ReLU net, width %d",
                                                    relu_width)))
    }
  }

  # the figures are drawn from log t = 1 on (see thin_loglog())
  if (!any(vapply(runs, function(r) nrow(r$trajectory) > 0, TRUE)))
    stop(sprintf(paste("no flow reached log time 1 within its steps",
                       "('max_steps' = %s, 'relu_steps' = %s); raise them"),
                 format(max_steps), format(relu_steps)), call. = FALSE)
  tables <- list(runs = rates_runs_table(runs),
                 rates = rates_table(runs))
  keys <- unique(unlist(lapply(runs, `[[`, "map")))
  figures <- list(trajectories = rates_trajectory_figure(runs, keys),
                  gap_fit = rates_gap_figure(runs, keys),
                  fitted_rates = rates_figure(tables$rates, keys))
  captions <- c(
    runs = paste("One row per flow: steps, the log time and log-loss",
                 "reached, the final Q-margin, its reference and gap, and",
                 "why the run stopped"),
    rates = paste("Exponents fitted by convergence_rates() over the late",
                  "window, beside the prediction of theory or heuristic",
                  "where there is one"),
    trajectories = paste("Minus the log-loss, the Q-margin gap and the",
                         "horizon norm against log time, log axes, one",
                         "line per map"),
    gap_fit = paste("Q-margin gap against log time on log axes, with the",
                    "power law in log t fitted over the window (dashed)"),
    fitted_rates = paste("Fitted exponents (points, with two standard errors)",
                  "beside the predicted ones (crosses)"))
  nmod <- length(unique(vapply(runs, `[[`, "", "model")))
  new_experiment("rates", "How slow is slow", scale, settings,
                 tables = tables, figures = figures, captions = captions,
                 sizes = list(trajectories = c(3.6 * nmod + 1.4, 7),
                              gap_fit = c(3.6 * nmod + 1.4, 4),
                              fitted_rates = c(2.6 * nmod + 3, 8)))
}

rates_init_scale <- 0.1

# The adaptive integrator, except for cosh on a linear model: there the
# adaptive pairs stall near log-loss -96 (the Limitation note in
# src/flow.c), and the proximal step follows the same flow on with its
# dual in log space.
rates_integrator <- function(net, map) {
  if (map$family == "cosh" && is_linear_model(net))
    "proximal" else "adaptive"
}
# The ReLU network's kinks cap the step of a tight tolerance at a few
# thousandths in normalised time; 1e-4 is what the package's own ReLU
# examples use.
rates_rtol <- c(linear = 1e-6, relu = 1e-4)

rates_defaults <- function(scale) {
  if (scale == "quick") {
    list(n = 60, d = 30, k = 3, seed = 1,
         maps = rates_default_maps(), max_steps = 3e4, relu_width = 16,
         relu_maps = list(mirror_map("euclidean"),
                          mirror_map("hypentropy", beta = 0.1),
                          mirror_map("cosh")),
         relu_steps = 6000, fit_share = 0.1)
  } else {
    list(n = 200, d = 100, k = 5, seed = 1,
         maps = rates_default_maps(), max_steps = 1.5e5, relu_width = 32,
         relu_maps = rates_default_maps(), relu_steps = 2e4,
         fit_share = 0.1)
  }
}

rates_default_maps <- function() {
  list(mirror_map("euclidean"), mirror_map("hypentropy", beta = 1),
       mirror_map("hypentropy", beta = 0.1),
       mirror_map("hypentropy", beta = 0.01), mirror_map("pnorm", p = 3),
       mirror_map("cosh"))
}

check_map_list <- function(maps, arg, empty) {
  if (is_mirror_map(maps)) maps <- list(maps)
  if (!is.list(maps) || (!empty && !length(maps)))
    stop(sprintf("'%s' must be a list of mirror_map objects%s, not %s", arg,
                 if (empty) "" else " (at least one)", describe(maps)),
         call. = FALSE)
  for (i in seq_along(maps))
    if (!is_mirror_map(maps[[i]]))
      stop(sprintf("'%s' element %d must be a mirror_map, not %s", arg, i,
                   describe(maps[[i]])), call. = FALSE)
  labs <- vapply(maps, map_label, "")
  if (anyDuplicated(labs))
    stop(sprintf("'%s' repeats the map %s", arg,
                 labs[anyDuplicated(labs)]), call. = FALSE)
  unname(maps)
}

# One flow, reduced to what the tables and figures need: the glance row,
# the trajectory thinned evenly in log(log t), the reference margin and
# the fitted rates. The fit itself (with every step of its trajectory) is
# not kept, so that a cache of the full scale stays small.
rates_run <- function(data, net, map, steps, seed, fit_share, reference,
                      model) {
  rtol <- rates_rtol[[if (net$nlayers == 1) "linear" else "relu"]]
  ctl <- flow_control(target_log_loss = -Inf, max_steps = steps,
                      checkpoints = min(steps + 1, 1e6), rtol = rtol,
                      atol = rtol * 1e-4)
  # the initial weights from the seed, the session's RNG left as it was
  fit <- with_seed(seed, withCallingHandlers(
    mirror_flow(data, net = net, map = map, init_scale = rates_init_scale,
                progress = FALSE, control = ctl,
                integrator = rates_integrator(net, map)),
    # a step limit is the plan here, not a shortfall; a stall is reported
    # in the runs table instead
    warning = function(w) {
      if (grepl("step limit|stalled", conditionMessage(w)))
        invokeRestart("muffleWarning")
    }))
  tr <- fit$trajectory
  end <- tr$log_time[nrow(tr)]
  window <- c(fit_share * end, end)
  kind <- "max_margin()"
  extrap <- NULL
  if (is.null(reference)) {
    extrap <- extrapolate_margin(tr, window)
    reference <- extrap$limit
    kind <- if (is.finite(reference)) "extrapolated"
            else "none: no power-law approach to extrapolate"
  }
  rates <- tryCatch(
    convergence_rates(fit, window = window,
                      reference = if (is.finite(reference)) reference),
    error = function(e) NULL)
  tr$gap <- reference - tr$q_margin
  list(model = model, map = map_label(map), family = map$family,
       p = if (is.null(map$p)) NA_real_ else map$p, degree = net$degree,
       glance = glance(fit), window = window,
       reference = reference, reference_kind = kind, extrapolation = extrap,
       trajectory = thin_loglog(tr, 300), rates = rates)
}

# Rows of a trajectory with log t >= 1, nearest to an even grid in
# log(log t), the last row always kept: on the log axes of the figures
# the early and the late phase then get their share of points.
thin_loglog <- function(tr, n) {
  keep <- which(is.finite(tr$log_time) & tr$log_time >= 1)
  if (length(keep) <= n) return(tr[keep, , drop = FALSE])
  ll <- log(tr$log_time[keep])
  grid <- seq(ll[1], ll[length(ll)], length.out = n)
  pick <- keep[findInterval(grid, ll, all.inside = TRUE)]
  tr[sort(unique(c(pick, keep[length(keep)]))), , drop = FALSE]
}

# The limit of the Q-margin extrapolated from a run: least squares of
# gamma(t) = limit - c (log t)^(-b) over the window, profiled over b (for
# each b the fit is linear in limit and c).
# Limitation: a three-parameter fit of a slowly converging curve over one
# decade of log t pins the limit down only when the run has got close to
# it; the gap to an extrapolated limit is then partly the fit's own
# assumption. A second-order model, or runs long enough that the choice of
# b no longer moves the limit, would lift this.
extrapolate_margin <- function(tr, window) {
  use <- is.finite(tr$log_time) & tr$log_time >= max(window[1], 1) &
    tr$log_time <= window[2] & is.finite(tr$q_margin)
  lt <- tr$log_time[use]
  qm <- tr$q_margin[use]
  fail <- list(limit = NA_real_, b = NA_real_, c = NA_real_, rows = sum(use))
  if (length(lt) < 5 || diff(range(log(lt))) < 0.5) return(fail)
  rss <- function(lb) {
    u <- lt^(-exp(lb))
    sum(stats::lm.fit(cbind(1, u), qm)$residuals^2)
  }
  opt <- stats::optimize(rss, c(log(0.02), log(10)), tol = 1e-10)
  b <- exp(opt$minimum)
  co <- stats::lm.fit(cbind(1, lt^(-b)), qm)$coefficients
  # a decay exponent at the bottom of its range, or a limit far above the
  # last value, means the curve shows no power-law approach to a limit
  last <- qm[length(qm)]
  if (!all(is.finite(co)) || co[[2]] >= 0 || b < 0.05 ||
      co[[1]] > last + 0.5 * abs(last)) return(fail)
  list(limit = co[[1]], b = b, c = -co[[2]], rows = length(lt))
}

rates_stop_text <- c(
  max_steps = "step limit: still converging",
  target_log_loss = "reached the target log-loss",
  stalled = paste("stalled: every step rejected until the step fell below",
                  "what double precision resolves"),
  converged = "converged: the state stopped changing",
  time_limit = "time limit", nonfinite = "next step not finite",
  interrupted = "interrupted", max_log_time = "log-time limit",
  none = "no stop recorded")

rates_runs_table <- function(runs) {
  do.call(rbind, lapply(runs, function(r) {
    g <- r$glance
    data.frame(model = r$model, map = r$map, integrator = g$integrator,
               steps = g$steps,
               log_time = g$log_time, log_loss = g$log_loss,
               q_margin = g$q_margin, reference = r$reference,
               reference_kind = r$reference_kind,
               gap = r$reference - g$q_margin,
               relative_gap = (r$reference - g$q_margin) / r$reference,
               stop_reason = g$stop_reason,
               why = unname(rates_stop_text[g$stop_reason]),
               seconds = g$elapsed, stringsAsFactors = FALSE)
  }))
}

# The predictions set beside a fit, by (quantity, law): the value and
# where it comes from. Gradient flow on an L-homogeneous net: Lyu and Li
# (2020), and for L = 1 the 1 / log t gap of Soudry et al. (2018). Other
# maps on a linear model: the scalar caricature phi''(Q) Q' = e^(-g Q) of
# the vignette, which gives Q ~ log t for every map and, where phi''(Q)
# grows like Q^a, t Loss ~ (log t)^a (a = p - 2 for pnorm, -1 for
# hypentropy); for cosh, phi'' = cosh, e^((1 + g) Q) ~ t instead.
rates_predictions <- function(run) {
  out <- data.frame(quantity = c("loss", "loss", "horizon_norm",
                                 "horizon_norm", "margin_gap", "margin_gap"),
                    law = rep(c("t", "log t"), 3), prediction = NA_real_,
                    source = "", stringsAsFactors = FALSE)
  set <- function(q, l, v, s) {
    i <- out$quantity == q & out$law == l
    out$prediction[i] <<- v
    out$source[i] <<- s
  }
  L <- run$degree
  if (run$family == "euclidean") {
    ll <- "Lyu and Li (2020)"
    set("loss", "t", -1, ll)
    set("loss", "log t", -(2 - 2 / L), ll)
    set("horizon_norm", "log t", 1 / L, ll)
    set("horizon_norm", "t", 0, ll)
    if (L == 1) {
      set("margin_gap", "log t", -1, "Soudry et al. (2018)")
      set("margin_gap", "t", 0, "Soudry et al. (2018)")
    }
  } else if (L == 1) {
    h <- "heuristic (vignette)"
    g <- run$reference
    set("horizon_norm", "log t", 1, h)
    set("horizon_norm", "t", 0, h)
    if (run$family == "cosh") {
      set("loss", "t", -g / (1 + g), h)
    } else {
      set("loss", "t", -1, h)
      if (run$family == "pnorm")
        set("loss", "log t", run$p - 2, h)
      if (run$family == "hypentropy") set("loss", "log t", -1, h)
    }
  }
  out
}

rates_table <- function(runs) {
  do.call(rbind, lapply(runs, function(r) {
    if (is.null(r$rates)) return(NULL)
    pr <- rates_predictions(r)
    cr <- r$rates
    m <- merge(cr, pr, by = c("quantity", "law"), all.x = TRUE,
               sort = FALSE)
    m <- m[order(match(m$quantity, c("margin_gap", "horizon_norm", "loss")),
                 match(m$law, c("log t", "t"))), ]
    data.frame(model = r$model, map = r$map, quantity = m$quantity,
               law = m$law, exponent = m$exponent, std_error = m$std_error,
               prediction = m$prediction, source = m$source,
               window_from = r$window[1], window_to = r$window[2],
               rows = m$n, stringsAsFactors = FALSE, row.names = NULL)
  }))
}

# ---- figures ---------------------------------------------------------------

utils::globalVariables(c("panel", "value", "log_time", "gap", "map",
                         "exponent", "lower", "upper", "prediction", "model",
                         "what"))

rates_trajectory_figure <- function(runs, keys) {
  long <- do.call(rbind, lapply(runs, function(r) {
    tr <- r$trajectory
    if (!nrow(tr)) return(NULL)
    rbind(
      data.frame(model = r$model, map = r$map, log_time = tr$log_time,
                 panel = "minus log-loss", value = -tr$log_loss),
      data.frame(model = r$model, map = r$map, log_time = tr$log_time,
                 panel = "Q-margin gap", value = tr$gap),
      data.frame(model = r$model, map = r$map, log_time = tr$log_time,
                 panel = "horizon norm Q", value = tr$horizon))
  }))
  long <- long[is.finite(long$value) & long$value > 0, ]
  long$panel <- factor(long$panel, levels = c("minus log-loss",
                                              "Q-margin gap",
                                              "horizon norm Q"))
  long$map <- factor(long$map, levels = keys)
  long$model <- factor(long$model, levels = unique(long$model))
  ggplot2::ggplot(long, ggplot2::aes(log_time, value, colour = map,
                                     linetype = map)) +
    ggplot2::geom_line() +
    ggplot2::facet_grid(ggplot2::vars(panel), ggplot2::vars(model),
                        scales = "free", switch = "y") +
    ggplot2::scale_x_log10(labels = pow10_labels) +
    ggplot2::scale_y_log10(labels = pow10_labels) +
    map_scales(keys, keys, linetype = FALSE) +
    ggplot2::scale_linetype_manual(values = family_linetypes(keys),
                                   breaks = keys, name = "map") +
    ggplot2::labs(x = "log time, log t (log scale)", y = NULL) +
    paper_theme() +
    ggplot2::theme(strip.placement = "outside",
                   strip.background.y = ggplot2::element_blank()) +
    ggplot2::guides(colour = ggplot2::guide_legend(nrow = 2))
}

rates_gap_figure <- function(runs, keys) {
  pts <- do.call(rbind, lapply(runs, function(r) {
    tr <- r$trajectory
    if (!nrow(tr)) return(NULL)
    data.frame(model = r$model, map = r$map, log_time = tr$log_time,
               gap = tr$gap)
  }))
  pts <- pts[is.finite(pts$gap) & pts$gap > 0, ]
  fits <- do.call(rbind, lapply(runs, function(r) {
    if (is.null(r$rates)) return(NULL)
    b <- r$rates$exponent[r$rates$quantity == "margin_gap" &
                            r$rates$law == "log t"]
    if (!length(b) || !is.finite(b)) return(NULL)
    tr <- r$trajectory
    inw <- tr$log_time >= r$window[1] & tr$gap > 0 & is.finite(tr$gap)
    if (sum(inw) < 2) return(NULL)
    # the line through the window's points in log-log coordinates with the
    # fitted slope: its intercept is the mean of log gap - b log log t
    a <- mean(log(tr$gap[inw]) - b * log(tr$log_time[inw]))
    # drawn back to a hundredth of the window's start, so that the reader
    # sees where the run leaves the power law
    lt <- exp(seq(log(max(1, r$window[1] / 100)), log(r$window[2]),
                  length.out = 30))
    data.frame(model = r$model, map = r$map, log_time = lt,
               gap = exp(a + b * log(lt)))
  }))
  pts$map <- factor(pts$map, levels = keys)
  pts$model <- factor(pts$model, levels = unique(pts$model))
  p <- ggplot2::ggplot(pts, ggplot2::aes(log_time, gap, colour = map,
                                          linetype = map)) +
    ggplot2::geom_line(linewidth = 0.7)
  if (!is.null(fits)) {
    fits$map <- factor(fits$map, levels = keys)
    fits$model <- factor(fits$model, levels = levels(pts$model))
    p <- p + ggplot2::geom_line(data = fits, linetype = "22",
                                colour = "black", linewidth = 0.4,
                                ggplot2::aes(group = map))
  }
  p + ggplot2::facet_wrap(ggplot2::vars(model), scales = "free") +
    ggplot2::scale_x_log10(labels = pow10_labels) +
    ggplot2::scale_y_log10(labels = pow10_labels) +
    map_scales(keys, keys, linetype = FALSE) +
    ggplot2::scale_linetype_manual(values = family_linetypes(keys),
                                   breaks = keys, name = "map") +
    ggplot2::labs(x = "log time, log t (log scale)",
                  y = "Q-margin gap (log scale)") +
    paper_theme() +
    ggplot2::guides(colour = ggplot2::guide_legend(nrow = 2))
}

rates_figure <- function(rates, keys) {
  pick <- function(q, l, what) {
    r <- rates[rates$quantity == q & rates$law == l, , drop = FALSE]
    if (nrow(r)) cbind(r, what = what)
  }
  # the log t correction to the loss means something only where the loss
  # falls like 1 / t in the first place (not for cosh)
  tl <- rates[rates$quantity == "loss" & rates$law == "t", ]
  one_over_t <- paste(tl$model, tl$map)[abs(tl$exponent + 1) < 0.05]
  corr <- pick("loss", "log t", "loss: exponent of log t in t Loss")
  corr <- corr[paste(corr$model, corr$map) %in% one_over_t, , drop = FALSE]
  show <- rbind(pick("margin_gap", "log t", "Q-margin gap: exponent of log t"),
                pick("horizon_norm", "log t",
                     "horizon norm: exponent of log t"),
                pick("loss", "t", "loss: exponent of t"), corr)
  show$what <- factor(show$what, levels = unique(show$what))
  show$map <- factor(show$map, levels = keys)
  show$model <- factor(show$model, levels = unique(show$model))
  show$lower <- show$exponent - 2 * show$std_error
  show$upper <- show$exponent + 2 * show$std_error
  ggplot2::ggplot(show, ggplot2::aes(x = map, colour = map)) +
    ggplot2::geom_hline(yintercept = 0, colour = "grey70") +
    ggplot2::geom_point(ggplot2::aes(y = prediction), shape = 4, size = 3.5,
                        stroke = 0.8, colour = "black", na.rm = TRUE) +
    ggplot2::geom_pointrange(ggplot2::aes(y = exponent, ymin = lower,
                                          ymax = upper),
                             size = 0.35, na.rm = TRUE) +
    ggplot2::facet_grid(ggplot2::vars(what), ggplot2::vars(model),
                        scales = "free", space = "free_x",
                        labeller = ggplot2::label_wrap_gen(22)) +
    map_scales(keys, keys, linetype = FALSE) +
    ggplot2::labs(x = NULL,
                  y = paste("exponent (points: fitted, +- 2 s.e.;",
                            "crosses: predicted)")) +
    paper_theme() +
    ggplot2::theme(legend.position = "none",
                   axis.text.x = ggplot2::element_text(angle = 35,
                                                       hjust = 1))
}

# Powers of ten on log axes as 1, 10, 100, 1000 and 1e4, 1e-1, ...: the
# plotmath form 10^-k loses its minus sign at screen resolution.
pow10_labels <- function(x) {
  k <- round(log10(x))
  pow <- is.finite(k) & abs(log10(x) - k) < 1e-8
  out <- vapply(x, function(v) format(v, digits = 3), "")
  plain <- pow & k >= 0 & k <= 3
  out[plain] <- sprintf("%d", as.integer(10^k[plain]))
  out[pow & !plain] <- sprintf("1e%d", k[pow & !plain])
  out[is.na(x)] <- NA_character_
  out
}

# Line types that tell apart maps of one family, whose colours differ only
# in shade (hypentropy at several beta): solid, dashed, dotted, ... in the
# order the maps come; every other map solid.
family_linetypes <- function(keys) {
  fam <- sub("\\(.*$", "", keys)
  k <- stats::ave(seq_along(keys), fam, FUN = seq_along)
  types <- c("solid", "dashed", "dotted", "dotdash", "longdash")
  stats::setNames(types[(k - 1L) %% length(types) + 1L], keys)
}
