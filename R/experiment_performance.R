# The experiment behind the vignette "Performance and numerics": what the
# log-space loss buys against the same quantities in plain doubles, and the
# four integrators of mirror_flow() compared on cost and accuracy.

utils::globalVariables(c("log_loss", "value", "quantity", "at", "what",
                         "row", "grad_evals", "map", "integrator", "status"))

#' Experiment: performance and numerics
#'
#' Two parts. First, one long run on a linear model and one on a 2-layer
#' ReLU net, with their parameters kept at every checkpoint; at each one
#' the loss, its gradient and the normalised gradient are computed again
#' in plain double precision from the margins, as a direct implementation
#' of \eqn{\sum_i \exp(-q_i)} would, and set beside the log-space values
#' of [network_loss()]. Second, every map in `maps` with each integrator
#' (`"md"`, `"loss_scaled"`, `"adaptive"` and `"proximal"`) on a linear
#' model, and the maps in `relu_maps` with the first three on a ReLU net
#' (the proximal step does not exist for ReLU nets): gradient
#' evaluations and seconds to each log-loss in `targets`, and the error
#' of the Q-margin there against a
#' reference run of the same map (the adaptive integrator at the tighter
#' `reference_rtol`, with the Q-margin interpolated at the same log-loss).
#' A second reference at four times `reference_rtol` bounds the error of
#' the reference itself (four rather than ten so that, on the ReLU net, it
#' is not the tested adaptive run at `relu_rtol` over again).
#'
#' Every run ends at its target, at its step limit (`max_steps`, or
#' `md_steps` for mirror descent, or `reference_steps` and
#' `relu_reference_steps` for the references) or at `time_limit`; the
#' step limits are what keeps the quick scale to about a minute and a half
#' on an unloaded two-core machine and the full scale under an hour, and
#' the time limit is only a guard, set well above what any run takes on
#' such a machine, so that the results do not depend on its load. A
#' reference that ends at its step limit short of the deepest target
#' leaves the Q-margin error `NA` at the targets it did not reach.
#'
#' @param scale `"quick"` (the vignette's settings) or `"full"` (a larger
#'   set and a wider net, the target -10000, more steps and every map but
#'   cosh on the ReLU net, where cosh stalls; 33 minutes on one core of
#'   a two-core machine).
#' @param n,d,k Size of the linear set `simulate_sparse_linear(n, d, k)`:
#'   points, dimensions, nonzero coordinates of the teacher.
#' @param width Hidden width of the ReLU net `c(d, width, 1)`.
#' @param targets Log-loss targets, negative, read off in decreasing order.
#' @param maps,relu_maps Lists of [mirror_map()]s for the linear model and
#'   the ReLU net.
#' @param max_steps Step limit of the loss-scaled and adaptive runs.
#' @param md_steps,md_eta Step limit and fixed step of mirror descent.
#' @param rtol,relu_rtol Tolerance of the adaptive integrator on the linear
#'   model and on the ReLU net.
#' @param reference_rtol,relu_reference_rtol Tolerance of the reference
#'   runs.
#' @param reference_steps,relu_reference_steps Step limit of the reference
#'   runs on the linear model and on the ReLU net; by default
#'   `max(4 * max_steps, 1e5)` for both, except 150,000 on the ReLU net at
#'   the full scale.
#' @param demo_target Log-loss target of the two runs of the first part.
#' @param time_limit Seconds after which any single run stops.
#' @param seed Seed of the data and of the initial weights.
#' @param cache Directory in which each run is kept so that an interrupted
#'   call resumes, or `NULL`.
#' @return A `mirrorflow_experiment` (see [paper_experiments()]) with
#'   tables `log_space` (naive against log-space quantities at the
#'   checkpoints where the naive ones first fail), `integrators` (one row
#'   per net, map, integrator and target) and `references`, and figures
#'   `naive_vs_log_space`, `evals_to_target` and `loss_vs_evals`.
#' @seealso [flow_control()], [network_loss()], [reproduce_paper()]
#' @examples
#' \donttest{
#' ex <- experiment_performance(
#'   maps = list(mirror_map("euclidean")), relu_maps = list(),
#'   targets = -100, demo_target = -800)
#' ex$tables$integrators
#' }
#' @export
experiment_performance <- function(scale = c("quick", "full"), n = NULL,
                                   d = NULL, k = NULL, width = NULL,
                                   targets = NULL, maps = NULL,
                                   relu_maps = NULL, max_steps = NULL,
                                   md_steps = NULL, md_eta = NULL,
                                   rtol = NULL, relu_rtol = NULL,
                                   reference_rtol = NULL,
                                   relu_reference_rtol = NULL,
                                   reference_steps = NULL,
                                   relu_reference_steps = NULL,
                                   demo_target = NULL, time_limit = NULL,
                                   seed = NULL, cache = NULL) {
  scale <- check_scale(scale)
  check_cache(cache)
  quick <- scale == "quick"
  all_maps <- list(mirror_map("euclidean"), mirror_map("pnorm", p = 3),
                   mirror_map("hypentropy", beta = 0.1),
                   mirror_map("powers", p = 2, q = 3), mirror_map("cosh"))
  s <- list(
    n = n %||% if (quick) 100 else 200,
    d = d %||% 20,
    k = k %||% 3,
    width = width %||% if (quick) 10 else 16,
    targets = targets %||% if (quick) c(-100, -1000) else
      c(-100, -1000, -10000),
    maps = maps %||% all_maps,
    relu_maps = relu_maps %||% if (quick) all_maps[c(1, 3)] else
      all_maps[1:4],
    max_steps = max_steps %||% if (quick) 6e4 else 1e6,
    md_steps = md_steps %||% if (quick) 3e4 else 2e5,
    md_eta = md_eta %||% 1e-3,
    rtol = rtol %||% 1e-6,
    relu_rtol = relu_rtol %||% 1e-4,
    reference_rtol = reference_rtol %||% if (quick) 1e-9 else 1e-10,
    relu_reference_rtol = relu_reference_rtol %||% 1e-5,
    reference_steps = reference_steps,
    relu_reference_steps = relu_reference_steps,
    demo_target = demo_target %||% if (quick) -1000 else -10000,
    time_limit = time_limit %||% if (quick) 30 else 1800,
    seed = seed %||% 1)
  # the references take enough steps for their tight tolerance; on the
  # ReLU net at the full scale they are capped (short of -10000 for the
  # slowest maps), because there a step costs some 2 ms
  check_number(s$max_steps, "max_steps", lower = 1, integer = TRUE)
  s$reference_steps <- s$reference_steps %||% max(4 * s$max_steps, 1e5)
  s$relu_reference_steps <- s$relu_reference_steps %||%
    if (quick) s$reference_steps else 1.5e5
  check_performance_settings(s)
  s$targets <- sort(s$targets, decreasing = TRUE)
  ds <- simulate_sparse_linear(s$n, s$d, s$k, seed = s$seed)
  nets <- list(linear = homogeneous_net(c(s$d, 1), "linear"),
               relu = homogeneous_net(c(s$d, s$width, 1), "relu"))
  base_key <- sprintf("n%g_d%g_k%g_w%g_seed%g", s$n, s$d, s$k, s$width,
                      s$seed)

  demo <- lapply(names(nets), function(nn) {
    integ <- if (nn == "linear") "adaptive" else "loss_scaled"
    key <- sprintf("demo_%s_%s_%s_t%g_rtol%g_steps%g_limit%g", nn, integ,
                   base_key, s$demo_target, s$rtol, s$max_steps,
                   s$time_limit)
    cached(cache, key, log_space_demo(
      ds, nets[[nn]], nn, integ, s))
  })
  demo_points <- do.call(rbind, lapply(demo, `[[`, "points"))
  demo_table <- do.call(rbind, lapply(demo, `[[`, "summary"))

  runs <- list()
  refs <- list()
  for (nn in names(nets)) {
    net_maps <- if (nn == "linear") s$maps else s$relu_maps
    for (m in net_maps) {
      lab <- map_label(m)
      rr <- if (nn == "linear") s$reference_rtol else s$relu_reference_rtol
      rs <- if (nn == "linear") s$reference_steps else
        s$relu_reference_steps
      ref <- lapply(c(rr, 4 * rr), function(r) {
        key <- sprintf("ref_%s_%s_%s_t%g_rtol%g_steps%g_limit%g", nn, lab,
                       base_key, 1.1 * min(s$targets) - 20, r, rs,
                       s$time_limit)
        # Past the deepest target by a margin, because the adaptive steps
        # late in a run overshoot a target by a log-loss of several units.
        cached(cache, key, performance_run(
          ds, nets[[nn]], m, "adaptive", 1.1 * min(s$targets) - 20, s,
          rtol = r, checkpoints = 20000, max_steps = rs))
      })
      refs[[length(refs) + 1L]] <- ref_row(nn, lab, ref, rr, s$targets)
      # the proximal step runs on the linear model only here (it exists
      # for diagonal nets too, not for ReLU nets)
      integs <- c("md", "loss_scaled", "adaptive",
                  if (is_linear_model(nets[[nn]]))
                    "proximal")
      for (integ in integs) {
        rt <- if (nn == "linear") s$rtol else s$relu_rtol
        reached <- TRUE
        for (tg in s$targets) {
          # Only the settings this integrator reads, so that changing the
          # step of mirror descent does not rerun the other integrators.
          how <- switch(integ,
                        md = sprintf("steps%g_eta%g", s$md_steps, s$md_eta),
                        loss_scaled = sprintf("steps%g", s$max_steps),
                        adaptive = , proximal =
                          sprintf("steps%g_rtol%g", s$max_steps, rt))
          key <- sprintf("run_%s_%s_%s_%s_t%g_%s_limit%g", nn, lab, integ,
                         base_key, tg, how, s$time_limit)
          if (reached) {
            fit <- cached(cache, key, performance_run(
              ds, nets[[nn]], m, integ, tg, s, rtol = rt))
            last <- fit
          }
          reached <- reached && last$reached
          runs[[length(runs) + 1L]] <- target_row(nn, lab, integ, tg,
                                                  last, reached, ref)
        }
        attr(runs[[length(runs)]], "trajectory") <- last$trajectory
      }
    }
  }
  traj <- do.call(rbind, lapply(runs, function(r) {
    tr <- attr(r, "trajectory")
    if (is.null(tr)) return(NULL)
    cbind(r[c("net", "map", "integrator")], tr, row.names = NULL)
  }))
  runs <- lapply(runs, function(r) {
    attr(r, "trajectory") <- NULL
    r
  })
  integrators <- do.call(rbind, runs)
  rownames(integrators) <- NULL
  references <- do.call(rbind, refs)
  rownames(references) <- NULL

  settings <- s
  settings$maps <- paste(vapply(s$maps, map_label, ""), collapse = "; ")
  settings$relu_maps <- paste(vapply(s$relu_maps, map_label, ""),
                              collapse = "; ")
  new_experiment(
    "performance", "Performance and numerics", scale, settings,
    tables = list(log_space = demo_table, integrators = integrators,
                  references = references),
    figures = list(
      naive_vs_log_space = naive_figure(demo_points, demo_table),
      evals_to_target = evals_figure(integrators),
      loss_vs_evals = loss_evals_figure(traj, integrators)),
    captions = c(
      log_space = paste("Where the loss, its gradient and the normalised",
                        "gradient computed in plain doubles first fail,",
                        "against the log-space values"),
      integrators = paste("Gradient evaluations, seconds and Q-margin",
                          "error at each log-loss target, per net, map",
                          "and integrator"),
      references = paste("The reference runs: how far each went and the",
                         "Q-margin difference to a run at four times its",
                         "tolerance"),
      naive_vs_log_space = paste("Loss and gradient norms in plain doubles",
                                 "and in log space along a run to",
                                 "log-loss", s$demo_target),
      evals_to_target = paste("Gradient evaluations to each log-loss",
                              "target per map and integrator (hollow: not",
                              "reached, at the evaluations spent)"),
      loss_vs_evals = paste("Log-loss against gradient evaluations per",
                            "integrator for a few maps")),
    sizes = list(naive_vs_log_space = c(7, 5.5),
                 evals_to_target = c(7, 5.5), loss_vs_evals = c(7, 5.5)))
}

check_performance_settings <- function(s) {
  for (a in c("n", "d", "k", "width"))
    check_number(s[[a]], a, lower = 1, integer = TRUE)
  if (s$k > s$d)
    stop(sprintf("'k' must be at most 'd' = %g; got %g", s$d, s$k),
         call. = FALSE)
  if (!is.numeric(s$targets) || !length(s$targets) || anyNA(s$targets) ||
      any(!is.finite(s$targets)) || any(s$targets >= 0) ||
      anyDuplicated(s$targets))
    stop(sprintf(paste("'targets' must be distinct finite negative",
                       "log-losses, not %s"), describe(s$targets)),
         call. = FALSE)
  for (a in c("maps", "relu_maps")) {
    if (!is.list(s[[a]]) || !all(vapply(s[[a]], is_mirror_map, TRUE)))
      stop(sprintf("'%s' must be a list of mirror_map objects, not %s", a,
                   describe(s[[a]])), call. = FALSE)
    labs <- vapply(s[[a]], map_label, "")
    if (anyDuplicated(labs))
      stop(sprintf("'%s' names the map %s twice", a,
                   labs[duplicated(labs)][1]), call. = FALSE)
  }
  if (!length(s$maps))
    stop("'maps' must hold at least one mirror_map", call. = FALSE)
  for (a in c("max_steps", "md_steps", "reference_steps",
              "relu_reference_steps"))
    check_number(s[[a]], a, lower = 1, integer = TRUE)
  for (a in c("md_eta", "time_limit"))
    check_number(s[[a]], a, lower = 0, strict = TRUE)
  for (a in c("rtol", "relu_rtol", "reference_rtol", "relu_reference_rtol"))
    check_number(s[[a]], a, lower = 0, upper = 0.01, strict = TRUE)
  check_number(s$demo_target, "demo_target", upper = -1)
  check_number(s$seed, "seed", integer = TRUE)
  invisible(s)
}

# One flow, reduced to what the tables and figures need, so that a cache
# entry is a few kilobytes rather than a fit with its data.
performance_run <- function(ds, net, map, integrator, target, s, rtol,
                            checkpoints = 1000, max_steps = NULL) {
  steps <- max_steps %||% if (integrator == "md") s$md_steps else s$max_steps
  ctl <- flow_control(eta = if (integrator == "md") s$md_eta else 0.1,
                      max_steps = steps, target_log_loss = target,
                      time_limit = s$time_limit, checkpoints = checkpoints,
                      rtol = rtol)
  # the initial weights from the seed, the session's RNG left as it was
  fit <- with_seed(s$seed, suppressWarnings(
    mirror_flow(ds, net = net, map = map, integrator = integrator,
                control = ctl, progress = FALSE)))
  tr <- trajectory(fit)
  last <- tr[nrow(tr), ]
  list(reached = fit$stop_reason == "target_log_loss",
       stop_reason = fit$stop_reason, steps = fit$steps,
       grad_evals = fit$grad_evals, seconds = fit$elapsed,
       log_loss = fit$log_loss, q_margin = last$q_margin,
       trajectory = tr[c("grad_evals", "log_loss", "q_margin", "log_time")])
}

# The Q-margin of a reference run at a given log-loss, by linear
# interpolation between its checkpoints; NA beyond where it went. The
# loss falls monotonically along the flow (and the adaptive integrator
# rejects a step that raises it), so log-loss parametrises the trajectory.
reference_q_margin <- function(ref, log_loss) {
  tr <- ref$trajectory
  if (log_loss < min(tr$log_loss) || log_loss > max(tr$log_loss))
    return(NA_real_)
  stats::approx(tr$log_loss, tr$q_margin, xout = log_loss,
                ties = mean)$y
}

target_row <- function(net, map, integrator, target, run, reached, ref) {
  q_ref <- if (reached) reference_q_margin(ref[[1]], run$log_loss) else
    NA_real_
  data.frame(net = net, map = map, integrator = integrator,
             target = target, reached = reached,
             stop_reason = if (reached) "target_log_loss" else
               run$stop_reason,
             grad_evals = run$grad_evals, seconds = run$seconds,
             log_loss = run$log_loss, q_margin = run$q_margin,
             q_margin_ref = q_ref,
             q_margin_error = abs(run$q_margin - q_ref),
             reference_check = if (reached) ref_check(ref, run$log_loss) else
               NA_real_,
             stringsAsFactors = FALSE)
}

# How far the reference and its check run (four times the tolerance) differ
# at a log-loss: an error below this is not resolved by the reference.
ref_check <- function(ref, log_loss) {
  abs(reference_q_margin(ref[[1]], log_loss) -
        reference_q_margin(ref[[2]], log_loss))
}

ref_row <- function(net, map, ref, rtol, targets) {
  diffs <- vapply(targets, function(tg) {
    hit <- ref[[1]]$trajectory$log_loss <= tg
    if (!any(hit)) return(NA_real_)
    ref_check(ref, ref[[1]]$trajectory$log_loss[which(hit)[1]])
  }, 0)
  data.frame(net = net, map = map, rtol = rtol,
             stop_reason = ref[[1]]$stop_reason,
             log_loss = ref[[1]]$log_loss, grad_evals = ref[[1]]$grad_evals,
             seconds = ref[[1]]$seconds,
             t(stats::setNames(diffs, sprintf("check_diff_at_%g", targets))),
             check.names = FALSE, stringsAsFactors = FALSE)
}

# ---- part 1: plain doubles against log space ---------------------------

# Margins, loss and gradient of a linear model or a one-hidden-layer ReLU
# net written out in plain R and plain doubles, the way a user would
# without the log-space bookkeeping.
naive_loss_grad <- function(net, x, y, w) {
  if (net$nlayers == 1) {
    q <- y * drop(x %*% t(w[[1]]))
    e <- exp(-q)
    g <- list(-crossprod(e * y, x))
  } else {
    h <- pmax(x %*% t(w[[1]]), 0)
    q <- y * drop(h %*% t(w[[2]]))
    e <- exp(-q)
    g2 <- -crossprod(e * y, h)
    back <- (-(e * y)) %*% w[[2]]
    back <- back * (h > 0)
    g <- list(crossprod(back, x), g2)
  }
  list(loss = sum(e), grad = g, q_min = min(q))
}

log_space_demo <- function(ds, net, net_name, integrator, s) {
  ctl <- flow_control(max_steps = 4 * s$max_steps, time_limit = s$time_limit,
                      target_log_loss = s$demo_target, checkpoints = 300,
                      keep_params = TRUE, rtol = s$rtol)
  fit <- with_seed(s$seed, suppressWarnings(
    mirror_flow(ds, net = net, integrator = integrator, control = ctl,
                progress = FALSE)))
  snaps <- snapshots(fit)
  tr <- trajectory(fit)
  # Scaled so that the norm itself cannot underflow: a zero here means
  # that every entry of the vector is zero in doubles.
  norm <- function(g) {
    v <- unlist(g)
    top <- max(abs(v))
    if (!is.finite(top) || top == 0) return(top)
    top * sqrt(sum((v / top)^2))
  }
  rows <- lapply(seq_along(snaps), function(j) {
    nv <- naive_loss_grad(net, ds$x, ds$y, snaps[[j]])
    ls <- network_loss(net, ds$x, ds$y, snaps[[j]])
    ratio <- lapply(nv$grad, function(a) a / nv$loss)
    diff <- mapply(function(a, b) a - b, ratio, ls$gradient, SIMPLIFY = FALSE)
    data.frame(net = net_name, log_loss = ls$log_loss,
               trajectory_log_loss = tr$log_loss[j],
               naive_loss = nv$loss, naive_grad = norm(nv$grad),
               naive_normalised = norm(ratio),
               log_space_normalised = norm(ls$gradient),
               rel_diff = norm(diff) / norm(ls$gradient))
  })
  pts <- do.call(rbind, rows)
  first <- function(cond) {
    i <- which(cond)[1]
    if (is.na(i)) NA_real_ else pts$log_loss[i]
  }
  # Below the smallest normal double (log-loss about -708) the naive loss
  # is subnormal and keeps fewer significant bits, so the agreement is
  # reported for the normal range and for the subnormal one apart.
  normal <- is.finite(pts$rel_diff) & pts$naive_loss >= .Machine$double.xmin
  subnormal <- is.finite(pts$rel_diff) & !normal
  worst <- function(ok) if (any(ok)) max(pts$rel_diff[ok]) else NA_real_
  summary <- data.frame(
    net = net_name, integrator = integrator, checkpoints = nrow(pts),
    final_log_loss = fit$log_loss, stop_reason = fit$stop_reason,
    seconds = fit$elapsed,
    naive_loss_zero_at = first(pts$naive_loss == 0),
    naive_grad_zero_at = first(pts$naive_grad == 0),
    naive_normalised_nan_at = first(!is.finite(pts$naive_normalised)),
    max_rel_diff_normal = worst(normal),
    max_rel_diff_subnormal = worst(subnormal),
    log_space_normalised_min = min(pts$log_space_normalised),
    log_space_normalised_max = max(pts$log_space_normalised),
    log_loss_vs_trajectory = max(abs(pts$log_loss - pts$trajectory_log_loss) /
                              pmax(1, abs(pts$log_loss))),
    stringsAsFactors = FALSE)
  list(points = pts, summary = summary)
}

# ---- figures -------------------------------------------------------------

integrator_colours <- c(md = "#7F7F7F", loss_scaled = "#E69F00",
                        adaptive = "#0072B2", proximal = "#009E73")

naive_figure <- function(pts, tab) {
  quantities <- c(naive_loss = "Loss = sum exp(-q) in doubles",
                  naive_grad = "|grad Loss| in doubles",
                  log_space_normalised = "|grad Loss| / Loss in log space",
                  naive_normalised = "|grad Loss| / Loss in doubles")
  net_f <- function(x) factor(ifelse(x == "linear", "linear model",
                                     "ReLU net"), c("linear model",
                                                    "ReLU net"))
  long <- do.call(rbind, lapply(names(quantities), function(qn) {
    v <- pts[[qn]]
    data.frame(net = net_f(pts$net), log_loss = pts$log_loss,
               quantity = quantities[[qn]],
               value = ifelse(is.finite(v) & v > 0, log10(v), NA_real_))
  }))
  long$quantity <- factor(long$quantity, levels = unname(quantities))
  long$row <- factor(ifelse(grepl("/ Loss", long$quantity),
                            "normalised gradient", "loss and gradient"),
                     c("loss and gradient", "normalised gradient"))
  long <- long[is.finite(long$value), ]
  # The first checkpoint where the naive gradient is 0 in every entry, from
  # the table: the computed point, not the textbook threshold.
  marks <- data.frame(net = net_f(tab$net), at = tab$naive_grad_zero_at,
                      what = "naive gradient first exactly 0")
  marks <- marks[is.finite(marks$at), , drop = FALSE]
  cols <- c("#D55E00", "#CC79A7", "#0072B2", "#56B4E9")
  names(cols) <- levels(long$quantity)
  is_pt <- long$quantity == quantities[["naive_normalised"]]
  # The loss and the gradient norm nearly coincide (the normalised gradient
  # is of order one), so the loss is drawn wide underneath.
  is_loss <- long$quantity == quantities[["naive_loss"]]
  ggplot2::ggplot(long, ggplot2::aes(log_loss, value, colour = quantity)) +
    ggplot2::geom_vline(data = marks,
                        ggplot2::aes(xintercept = at, linetype = what),
                        colour = "grey35") +
    ggplot2::geom_line(data = long[is_loss, ], linewidth = 2.2) +
    ggplot2::geom_line(data = long[!is_pt & !is_loss, ], linewidth = 0.7) +
    ggplot2::geom_point(data = long[is_pt, ], shape = 1, size = 1.4) +
    ggplot2::facet_grid(row ~ net, scales = "free_y") +
    ggplot2::scale_x_reverse() +
    ggplot2::scale_colour_manual(values = cols, name = NULL) +
    ggplot2::scale_linetype_manual(values = "dashed", name = NULL) +
    ggplot2::guides(colour = ggplot2::guide_legend(ncol = 2, order = 1),
                    linetype = ggplot2::guide_legend(order = 2)) +
    ggplot2::labs(x = "log-loss (log Loss), decreasing along the run",
                  y = "log10 of the value (absent: 0 or NaN)") +
    paper_theme() +
    ggplot2::theme(legend.box = "vertical")
}

target_label <- function(t) factor(sprintf("log-loss %g", t),
                                   sprintf("log-loss %g", sort(unique(t),
                                                                decreasing =
                                                                  TRUE)))

evals_figure <- function(tab) {
  tab$target_f <- target_label(tab$target)
  tab$net_f <- factor(ifelse(tab$net == "linear", "linear model",
                             "ReLU net"), c("linear model", "ReLU net"))
  tab$map <- factor(tab$map, rev(unique(tab$map)))
  tab$integrator <- factor(tab$integrator, names(integrator_colours))
  tab$status <- factor(ifelse(tab$reached, "reached", "not reached"),
                       c("reached", "not reached"))
  ggplot2::ggplot(tab, ggplot2::aes(grad_evals, map,
                                    colour = integrator,
                                    shape = status)) +
    ggplot2::geom_point(size = 2.4, stroke = 0.9,
                        position = ggplot2::position_dodge(width = 0.6)) +
    ggplot2::facet_grid(net_f ~ target_f, scales = "free_y",
                        space = "free_y") +
    ggplot2::scale_x_log10() +
    ggplot2::scale_colour_manual(values = integrator_colours,
                                 name = "integrator") +
    ggplot2::scale_shape_manual(values = c(reached = 16,
                                           "not reached" = 1),
                                name = NULL, drop = FALSE) +
    ggplot2::labs(x = "gradient evaluations (log scale)", y = "map") +
    paper_theme() +
    ggplot2::theme(legend.box = "vertical")
}

loss_evals_figure <- function(traj, tab) {
  show <- c("euclidean", "pnorm(p = 3)", "cosh")
  keep <- (traj$net == "linear" & traj$map %in% show) |
    (traj$net == "relu" & traj$map == unique(traj$map[traj$net == "relu"])[1])
  tr <- traj[keep, ]
  tr$panel <- paste(ifelse(tr$net == "linear", "linear,", "ReLU,"), tr$map)
  tr$panel <- factor(tr$panel, unique(tr$panel))
  tr$integrator <- factor(tr$integrator, names(integrator_colours))
  tr <- tr[tr$grad_evals > 0, ]
  ggplot2::ggplot(tr, ggplot2::aes(grad_evals, log_loss,
                                   colour = integrator)) +
    ggplot2::geom_hline(yintercept = unique(tab$target), colour = "grey70",
                        linetype = "dotted") +
    ggplot2::geom_line(linewidth = 0.8) +
    ggplot2::facet_wrap(~panel, ncol = 2) +
    ggplot2::scale_x_log10() +
    ggplot2::scale_colour_manual(values = integrator_colours,
                                 name = "integrator") +
    ggplot2::scale_y_continuous(
      trans = "pseudo_log", breaks = c(3, 0, -3, -10, -30, -100, -300, -1000,
                                       -3000, -10000)) +
    ggplot2::labs(x = "gradient evaluations (log scale)",
                  y = "log-loss (signed log scale)") +
    paper_theme()
}
