# The horizon experiment: maps whose potentials differ but share a
# horizon reach one max-margin direction, maps with other horizons other
# ones; shown on a linear model, a diagonal network and a ReLU network.

#' Experiment: one horizon, many maps
#'
#' Six mirror maps, three of them with the l3 horizon
#' (`pnorm(p = 3)`, `powers(p = 2, q = 3)`, `powers(p = 1.5, q = 3)`) and
#' three with other horizons (euclidean: l2; `hypentropy(beta)` with a
#' small `beta`: l1; cosh: l-infinity), run from the same initial weights
#' on one separable sparse linear teacher ([simulate_sparse_linear()]) with
#' three networks:
#' * a linear model, whose direction is compared with the max-margin
#'   solutions of [max_margin()] for the l1, l2, l3 and l-infinity gauges,
#'   at the end of the run and along it;
#' * a diagonal network \eqn{w = u \odot u - v \odot v}, whose linear
#'   predictor is compared the same way. A horizon \eqn{\ell_p} on
#'   \eqn{(u, v)} is the gauge \eqn{\ell_{p/2}} of \eqn{w} (at the optimum
#'   one of \eqn{u_k}, \eqn{v_k} is zero and \eqn{|w_k| = u_k^2}), so the
#'   references are l1 (euclidean), l1.5 (the l3 maps), l2, l3 and
#'   l-infinity (cosh); the l1 horizon of the hyperbolic entropy gives the
#'   non-convex \eqn{\ell_{1/2}} problem, which no solver here treats;
#' * a 2-layer ReLU network (`width` hidden units), with the Q-margin of
#'   every fit in each gauge, the angles between the fits' parameter
#'   vectors, and the KKT residual ([kkt_residual()]) of every fit for the
#'   max-margin problems of the l1, l2 and l3 gauges.
#'
#' The linear model and the diagonal network use the adaptive integrator;
#' the ReLU network the loss-scaled schedule, which reaches small losses
#' there far sooner. The cosh map is exponentially slow (its parameters
#' grow like the logarithm of the dual variable), so its runs on the linear
#' and diagonal models stop at `cosh_max_steps` steps, well above the
#' log-loss target; what they show is a trend.
#'
#' @param scale `"quick"` (40 points in 30 dimensions, 20 hidden units,
#'   log-loss -10000 for the linear models and -3000 for the ReLU net) or
#'   `"full"` (200 points in 100 dimensions, 50 hidden units, -100000 and
#'   -10000, at most 300 seconds per run; about half an hour on two
#'   loaded cores, the cosh runs and some ReLU runs stopping at the time
#'   limit).
#' @param n,d,k Data size, dimension and number of nonzero teacher
#'   coordinates; `NULL` takes the value of `scale`.
#' @param width Hidden units of the ReLU network.
#' @param beta Scale of the hyperbolic entropy (default 0.01).
#' @param init_scale Scale of the initial weights ([init_weights()]) of
#'   all three networks (default 0.1).
#' @param target_log_loss Log-loss at which the runs of the linear model
#'   and the diagonal network stop.
#' @param relu_target_log_loss Log-loss at which the ReLU runs stop.
#' @param cosh_max_steps Step limit of the cosh runs of the linear model
#'   and the diagonal network (the other runs have 10^6).
#' @param time_limit Seconds allowed per run (60 at the quick scale, 300
#'   at the full one).
#' @param seed Seed of the data and of the initial weights.
#' @param cache `NULL`, or a directory where each finished run and each
#'   max-margin solution is kept so that a repeated call reads it back
#'   (see [reproduce_paper()]).
#' @return A `mirrorflow_experiment` (see [paper_experiments()]) with the
#'   tables `runs` (one row per run), `references` (the max-margin
#'   solutions: margin, support size, active points), `angles_along`
#'   (angle and margin gap to each of them along the linear and diagonal
#'   runs, about 60 rows per run spaced evenly in log log time),
#'   `linear_angles` and
#'   `diagonal_angles` (final angle in degrees of each map's direction to
#'   each max-margin solution, with the closest), `pairwise` (angles
#'   between the maps' final directions, per network: of the directions
#'   [compare_directions()] compares, and of the score vectors on 2000
#'   fresh inputs), `relu_margins` (Q-margin of each ReLU fit in each
#'   gauge, relative to the largest among the maps), `kkt` (stationarity
#'   residual of each fit for each gauge's max-margin problem) and
#'   `kkt_relu` (the ReLU fits' residual in their own horizon along the
#'   run), and the figures `angles_linear`, `angles_diagonal` (angle
#'   against log time), `final_angles` (dot plot of the two angle tables),
#'   `q_margins_relu` and `kkt_relu_plot`; the figures need ggplot2.
#' @examples
#' \donttest{
#' ex <- experiment_horizons(n = 20, d = 6, k = 2, width = 4,
#'                           target_log_loss = -200,
#'                           relu_target_log_loss = -30,
#'                           cosh_max_steps = 400)
#' ex$tables$linear_angles
#' }
#' @export
experiment_horizons <- function(scale = c("quick", "full"), n = NULL,
                                d = NULL, k = NULL, width = NULL,
                                beta = NULL, init_scale = NULL,
                                target_log_loss = NULL,
                                relu_target_log_loss = NULL,
                                cosh_max_steps = NULL, time_limit = NULL,
                                seed = 1, cache = NULL) {
  started <- proc.time()[["elapsed"]]
  scale <- check_scale(scale)
  check_cache(cache)
  quick <- scale == "quick"
  n <- check_number(n %||% if (quick) 40 else 200, "n", lower = 2,
                    upper = 1e5, integer = TRUE)
  d <- check_number(d %||% if (quick) 30 else 100, "d", lower = 2,
                    upper = 1e4, integer = TRUE)
  k <- check_number(k %||% if (quick) 3 else 5, "k", lower = 1, upper = d,
                    integer = TRUE)
  width <- check_number(width %||% if (quick) 20 else 50, "width",
                        lower = 1, upper = 1e4, integer = TRUE)
  beta <- check_number(beta %||% 0.01, "beta", lower = 0, strict = TRUE)
  init_scale <- check_number(init_scale %||% 0.1, "init_scale", lower = 0,
                             strict = TRUE)
  target <- check_number(target_log_loss %||% if (quick) -1e4 else -1e5,
                         "target_log_loss", upper = -1)
  relu_target <- check_number(relu_target_log_loss %||%
                                if (quick) -3000 else -1e4,
                              "relu_target_log_loss", upper = -1)
  cosh_steps <- check_number(cosh_max_steps %||% if (quick) 3e4 else 3e5,
                             "cosh_max_steps", lower = 1, integer = TRUE)
  time_limit <- check_number(time_limit %||% if (quick) 60 else 300,
                             "time_limit", lower = 0, strict = TRUE,
                             finite = FALSE)
  seed <- check_number(seed, "seed", integer = TRUE)

  data <- simulate_sparse_linear(n, d, k, gap = 0.1, seed = seed)
  maps <- horizon_maps(beta)
  labels <- vapply(maps, map_label, "")
  own <- vapply(maps, function(m) m$horizon_p, 0)
  base <- sprintf("horizons-n%d-d%d-k%d-seed%d", n, d, k, seed)

  # One flow per map and network, all from the same initial weights, so
  # that only the map differs between the runs of a network.
  run_all <- function(net, model, integrator, target, checkpoints) {
    w0 <- with_seed(seed, init_weights(net, init_scale))
    lapply(seq_along(maps), function(i) {
      steps <- if (maps[[i]]$family == "cosh" && model != "relu")
        cosh_steps else 1e6
      # A slower rise of the loss-scaled step than Lyu and Li's 2^(1/5)
      # keeps the ReLU runs nearer the flow at little cost.
      up <- if (integrator == "loss_scaled") 2^(1 / 20) else 2^(1 / 5)
      control <- flow_control(target_log_loss = target, max_steps = steps,
                              time_limit = time_limit, keep_params = TRUE,
                              checkpoints = checkpoints, step_up = up)
      key <- sprintf("%s-%s-w%d-init%g-%s-target%g-steps%g-tl%g-cp%d-%s",
                     base, model, if (model == "relu") width else 0L,
                     init_scale, integrator, target, steps, time_limit,
                     checkpoints, labels[i])
      # The step-limit warning of the cosh runs is expected; the stop
      # reason goes into the runs table instead.
      cached(cache, key, suppressWarnings(
        mirror_flow(data, net = net, map = maps[[i]], init = w0,
                    integrator = integrator, control = control,
                    progress = FALSE)))
    })
  }
  nets <- list(linear = homogeneous_net(c(d, 1), activation = "linear"),
               diagonal = diagonal_net(d),
               relu = homogeneous_net(c(d, width, 1), activation = "relu"))
  fits <- list(
    linear = run_all(nets$linear, "linear", "adaptive", target, 5000),
    diagonal = run_all(nets$diagonal, "diagonal", "adaptive", target, 5000),
    relu = run_all(nets$relu, "relu", "loss_scaled", relu_target, 12))
  # The linear runs keep every step up to 5000 (the checkpoints are even
  # in log time, which would leave the early phase of the fast maps, log t
  # below a few hundred, without a single point); log_spaced() then picks
  # the rows drawn.
  # Limitation: a run of more steps than checkpoints still has none below
  # log t of about max(log t) / 5000 (20 at the full scale), so its line
  # starts there on the log-scaled axis; a checkpoint grid even in
  # log(log t), as an option of flow_control(), would lift this without
  # keeping every step.
  for (m in names(fits)) names(fits[[m]]) <- labels

  # Max-margin solutions of the linear predictor: the maps' horizons for
  # the linear model, their halves (and l2, l3) for the diagonal network.
  ref_p <- list(linear = c(1, 2, 3, Inf), diagonal = c(1, 1.5, 2, 3, Inf))
  refs <- lapply(ref_p, function(ps) {
    out <- lapply(ps, function(p)
      cached(cache, sprintf("%s-maxmargin-p%g", base, p),
             max_margin(data$x, data$y, gauge = gauge_name(p),
                        p = if (gauge_name(p) == "lp") p)))
    names(out) <- vapply(ps, horizon_label, "")
    out
  })
  limit_p <- list(linear = own, diagonal = own / 2)
  references <- do.call(rbind, lapply(names(refs), function(m) {
    do.call(rbind, lapply(names(refs[[m]]), function(g) {
      r <- refs[[m]][[g]]
      data.frame(network = m, gauge = g, margin = r$margin,
                 support = sum(abs(r$direction) >
                                 1e-3 * max(abs(r$direction))),
                 active = length(r$active), converged = r$converged,
                 stringsAsFactors = FALSE)
    }))
  }))

  runs <- do.call(rbind, lapply(names(fits), function(m) {
    do.call(rbind, lapply(seq_along(maps), function(i) {
      f <- fits[[m]][[i]]
      data.frame(network = m, map = labels[i],
                 horizon = horizon_label(own[i]), integrator = f$integrator,
                 steps = f$steps, log_time = f$log_time,
                 log_loss = f$log_loss, stop_reason = f$stop_reason,
                 seconds = f$elapsed, stringsAsFactors = FALSE)
    }))
  }))

  along <- lapply(c(linear = "linear", diagonal = "diagonal"), function(m) {
    do.call(rbind, lapply(seq_along(maps), function(i) {
      f <- log_spaced(fits[[m]][[i]], 60)
      do.call(rbind, lapply(names(refs[[m]]), function(g) {
        al <- alignment_along(f, refs[[m]][[g]])
        data.frame(network = m, map = labels[i], reference = g,
                   log_time = al$log_time, angle_deg = al$angle_deg,
                   margin_gap = al$margin_gap, stringsAsFactors = FALSE)
      }))
    }))
  })
  angles <- lapply(c(linear = "linear", diagonal = "diagonal"), function(m)
    final_angle_table(along[[m]], labels, own, limit_p[[m]],
                      names(refs[[m]]), fits[[m]]))

  # Directions compared twice: as compare_directions() does (the linear
  # predictor, or for the ReLU net the parameter vector, which hidden
  # units that swap roles make look far apart), and as functions, by the
  # angle between the score vectors on fresh inputs from the data's
  # distribution. For isotropic inputs and a linear predictor the two
  # agree up to sampling error.
  x_new <- with_seed(seed + 1, matrix(stats::rnorm(2000 * d), 2000, d))
  pairwise <- do.call(rbind, lapply(names(fits), function(m) {
    cd <- do.call(compare_directions, fits[[m]])
    scores <- lapply(fits[[m]], stats::predict, newdata = x_new)
    ia <- match(cd$fit_a, labels)
    ib <- match(cd$fit_b, labels)
    data.frame(network = m, map_a = cd$fit_a, map_b = cd$fit_b,
               same_horizon = own[ia] == own[ib], angle_deg = cd$angle_deg,
               function_angle_deg = mapply(function(i, j)
                 angle_deg(scores[[i]], scores[[j]]), ia, ib),
               stringsAsFactors = FALSE)
  }))

  gauges <- c(1, 2, 3, Inf)
  relu_q <- vapply(gauges, function(p) vapply(fits$relu, function(f) {
    margin(f, gauge = gauge_name(p), p = if (gauge_name(p) == "lp") p)$q_margin
  }, 0), numeric(length(maps)))
  relu_q <- matrix(relu_q, nrow = length(maps))
  rel <- sweep(relu_q, 2, apply(relu_q, 2, max), "/")
  relu_margins <- data.frame(map = labels, horizon = vapply(own,
                                                            horizon_label, ""),
                             stringsAsFactors = FALSE, check.names = FALSE)
  for (j in seq_along(gauges)) relu_margins[[horizon_label(gauges[j])]] <-
    rel[, j]
  relu_margins$largest_in <- vapply(seq_along(maps), function(i) {
    paste(vapply(gauges[rel[i, ] == 1], horizon_label, ""), collapse = ", ")
  }, "")

  # Limitation: kkt_residual() takes sign(theta_k) as the l1 gradient
  # wherever theta_k is not exactly 0, and a hyperbolic-entropy flow
  # drives coordinates towards 0 without reaching it, so its l1 residual
  # stays large (near 1 on the diagonal and ReLU nets) even where its
  # direction is close to the l1 solution. Choosing the subgradient in
  # [-1, 1] per coordinate (a box-constrained least-squares problem in
  # place of the nonnegative one) would lift this; the l1 column is
  # therefore read against the other maps, not as an absolute distance.
  kkt <- do.call(rbind, lapply(names(fits), function(m) {
    do.call(rbind, lapply(seq_along(maps), function(i) {
      st <- vapply(c(1, 2, 3), function(p) {
        if (is.infinite(own[i])) return(NA_real_)
        kkt_residual(in_gauge(fits[[m]][[i]], p))$stationarity
      }, 0)
      out <- data.frame(network = m, map = labels[i],
                        horizon = horizon_label(own[i]),
                        stringsAsFactors = FALSE)
      out[c("l1", "l2", "l3")] <- as.list(st)
      out$smallest_in <- if (all(is.na(st))) NA_character_ else
        c("l1", "l2", "l3")[which.min(st)]
      out
    }))
  }))

  # The ReLU fits' residual in their own horizon along the run, to show
  # whether it is still falling or has levelled off.
  kkt_along <- do.call(rbind, lapply(seq_along(maps), function(i) {
    if (is.infinite(own[i])) return(NULL)
    kr <- kkt_residual(fits$relu[[i]], along = "trajectory")
    data.frame(map = labels[i], log_time = kr$log_time,
               log_loss = trajectory(fits$relu[[i]])$log_loss,
               stationarity = kr$stationarity, stringsAsFactors = FALSE)
  }))
  kkt_along <- kkt_along[!is.na(kkt_along$stationarity), ]

  figures <- list()
  if (requireNamespace("ggplot2", quietly = TRUE)) {
    figures <- list(
      angles_linear = angle_figure(along$linear, labels, sprintf(
        "Linear model, n = %d points, d = %d, %d-sparse teacher", n, d, k)),
      angles_diagonal = angle_figure(along$diagonal, labels,
                                     "Diagonal network u*u - v*v, same data"),
      final_angles = final_angle_figure(angles, labels),
      q_margins_relu = relu_margin_figure(relu_margins, labels, gauges,
                                          width),
      kkt_relu_plot = kkt_figure(kkt_along, labels, width))
  }

  new_experiment(
    "horizons", "One horizon, many maps", scale,
    settings = list(n = n, d = d, k = k, gap = 0.1, maps = labels,
                    horizons = vapply(own, horizon_label, ""),
                    nets = vapply(nets, net_label, ""),
                    init_scale = init_scale, beta = beta,
                    integrators = c(linear = "adaptive",
                                    diagonal = "adaptive",
                                    relu = "loss_scaled"),
                    target_log_loss = target,
                    relu_target_log_loss = relu_target,
                    cosh_max_steps = cosh_steps, time_limit = time_limit,
                    checkpoints = c(linear = 5000, diagonal = 5000, relu = 12),
                    rows_drawn = 60,
                    step_up = c(adaptive = 2^(1 / 5),
                                loss_scaled = 2^(1 / 20)),
                    fresh_inputs = 2000,
                    seed = seed),
    tables = list(runs = runs, references = references,
                  angles_along = rbind(along$linear, along$diagonal),
                  linear_angles = angles$linear,
                  diagonal_angles = angles$diagonal, pairwise = pairwise,
                  relu_margins = relu_margins, kkt = kkt,
                  kkt_relu = kkt_along),
    figures = figures,
    captions = c(
      runs = paste("Every run: network, map, integrator, steps, log time,",
                   "log-loss reached, why it stopped, seconds"),
      references = paste("The max-margin solutions compared with: margin,",
                         "support size, active points, whether the solver",
                         "converged"),
      angles_along = paste("Angle (degrees) and relative margin gap to each",
                           "max-margin solution along the runs of the",
                           "linear model and the diagonal network"),
      linear_angles = paste("Linear model: final angle (degrees) of each",
                            "map's direction to the max-margin solution of",
                            "each gauge, and the closest"),
      diagonal_angles = paste("Diagonal network: final angle (degrees) of",
                              "the linear predictor u*u - v*v to each",
                              "max-margin solution, the closest, and the",
                              "support size"),
      pairwise = paste("Angles (degrees) between the final directions of",
                       "every pair of maps, per network"),
      relu_margins = paste("ReLU network: Q-margin of each fit in each",
                           "gauge, divided by the largest among the maps"),
      kkt = paste("KKT stationarity residual of each fit for the",
                  "max-margin problem of the l1, l2 and l3 gauges"),
      angles_linear = paste("Linear model: angle to each max-margin",
                            "solution against log time, one line per map"),
      angles_diagonal = paste("Diagonal network: angle of u*u - v*v to each",
                              "max-margin solution against log time"),
      final_angles = paste("Final angle of each map's direction to each",
                           "max-margin solution, linear model and diagonal",
                           "network"),
      q_margins_relu = paste("ReLU network: Q-margin in each gauge relative",
                           "to the largest among the maps"),
      kkt_relu = paste("ReLU network: KKT stationarity residual in each",
                       "map's own horizon against log time"),
      kkt_relu_plot = paste("ReLU network: KKT stationarity residual in",
                            "each map's own horizon against log time")),
    sizes = list(angles_linear = c(9, 4.5), angles_diagonal = c(9, 4.5),
                 final_angles = c(8, 4.5), q_margins_relu = c(7, 4),
                 kkt_relu_plot = c(7, 4)),
    seconds = proc.time()[["elapsed"]] - started)
}

# The six maps of the experiment, three of them sharing the l3 horizon.
horizon_maps <- function(beta) {
  list(mirror_map("pnorm", p = 3), mirror_map("powers", p = 2, q = 3),
       mirror_map("powers", p = 1.5, q = 3), mirror_map("euclidean"),
       mirror_map("hypentropy", beta = beta), mirror_map("cosh"))
}

gauge_name <- function(p) {
  if (p == 1) "l1" else if (p == 2) "l2" else if (is.infinite(p)) "linf"
  else "lp"
}

# The fit with its maps replaced by a map of horizon lp, so that
# kkt_residual() measures it against that gauge's max-margin problem:
# kkt_residual() reads only the horizons of the maps, not their
# potentials.
in_gauge <- function(fit, p) {
  m <- switch(gauge_name(p), l1 = mirror_map("hypentropy"),
              l2 = mirror_map("euclidean"), mirror_map("pnorm", p = p))
  fit$maps <- rep(list(m), length(fit$maps))
  fit
}

# The fit with its trajectory and snapshots cut to about `n` rows, spaced
# evenly in log(log t) from log t = 1 on, and the final row, so that
# alignment() along it is cheap and a log-scaled axis is evenly covered.
log_spaced <- function(fit, n) {
  lt <- fit$trajectory$log_time
  last <- length(lt)
  ok <- which(lt >= 1)
  rows <- last
  if (length(ok) > 1) {
    grid <- exp(seq(log(lt[ok[1]]), log(lt[last]), length.out = n))
    rows <- unique(c(vapply(grid, function(g) ok[which.min(abs(lt[ok] - g))],
                            1L), last))
  }
  fit$trajectory <- fit$trajectory[rows, , drop = FALSE]
  fit$snapshots <- fit$snapshots[, rows, drop = FALSE]
  fit
}

# alignment(fit, reference, along = "trajectory") in one pass over the
# snapshots: the same angle and margin gap, without a data frame per
# checkpoint, which made alignment() most of the experiment's time.
alignment_along <- function(fit, reference) {
  W <- vapply(snapshots(fit), function(w) fit_direction(fit, w),
              numeric(ncol(fit$x)))
  W <- matrix(W, nrow = ncol(fit$x))
  yb <- encode_labels(fit$y, fit$net, nrow(fit$x))$yb
  r <- reference$direction
  cosine <- drop(crossprod(W, r)) / sqrt(colSums(W^2) * sum(r^2))
  g <- apply(yb * (fit$x %*% W), 2, min) /
    apply(W, 2, function(w) .Call(C_mf_gauge_vec, w, as.double(reference$p)))
  data.frame(log_time = fit$trajectory$log_time,
             angle_deg = acos(pmin(1, pmax(-1, cosine))) * 180 / pi,
             margin_gap = (reference$margin - g) / reference$margin)
}

# Final angles, maps by reference gauges, with the closest reference and
# the gauge the theory predicts for the limit ("limit").
final_angle_table <- function(along, labels, own, limit_p, gauges, fits) {
  last <- along[stats::ave(along$log_time, along$map, along$reference,
                    FUN = function(t) t == max(t)) == 1, ]
  out <- data.frame(map = labels, horizon = vapply(own, horizon_label, ""),
                    limit = vapply(limit_p, horizon_label, ""),
                    stringsAsFactors = FALSE)
  for (g in gauges) {
    at <- last[last$reference == g, ]
    out[[g]] <- at$angle_deg[match(labels, at$map)]
  }
  out$closest <- gauges[apply(as.matrix(out[gauges]), 1, which.min)]
  # Coordinates above a thousandth of the largest: the l1 solution has at
  # most n of them, the l_{1/2} limit of the hyperbolic entropy on the
  # diagonal network fewer.
  out$support <- vapply(fits, function(f) {
    w <- fit_direction(f)
    sum(abs(w) > 1e-3 * max(abs(w)))
  }, 0)
  out
}

# Axis labels 0.01, 1, 100 rather than 1e-02, 1e+00, 1e+02.
plain_numbers <- function(b) {
  format(b, scientific = FALSE, drop0trailing = TRUE, trim = TRUE)
}

# The three l3 maps end on one line; solid, dashed and dotted lines let
# the reader see all three.
map_linetypes <- function(labels) {
  stats::setNames(c("solid", "dashed", "dotted", "solid", "solid",
                    "solid")[seq_along(labels)], labels)
}

angle_figure <- function(along, labels, title) {
  # From log t = 1 on (log scale): before it the flows have not yet
  # separated the data and the angles are those of the initialisation.
  df <- along[along$log_time >= 1, ]
  df$map <- factor(df$map, labels)
  df$reference <- factor(df$reference, unique(along$reference),
                         paste(unique(along$reference), "max margin"))
  ggplot2::ggplot(df, ggplot2::aes(x = log_time, y = angle_deg,
                                   colour = map, linetype = map)) +
    ggplot2::geom_line(linewidth = 0.7) +
    ggplot2::facet_wrap(ggplot2::vars(reference), nrow = 1) +
    ggplot2::scale_x_log10(breaks = 10^c(0, 2, 4, 6),
                           labels = c("1", "100", "1e4", "1e6")) +
    ggplot2::scale_y_log10(labels = plain_numbers) +
    ggplot2::scale_colour_manual(values = map_colours(labels), name = "map") +
    ggplot2::scale_linetype_manual(values = map_linetypes(labels),
                                   name = "map") +
    ggplot2::labs(x = "log time (log t, log scale)",
                  y = "angle to max-margin solution (degrees, log scale)",
                  title = title) +
    paper_theme() +
    ggplot2::theme(panel.spacing.x = ggplot2::unit(1.2, "lines")) +
    ggplot2::guides(colour = ggplot2::guide_legend(nrow = 2))
}

final_angle_figure <- function(angles, labels) {
  long <- do.call(rbind, lapply(names(angles), function(m) {
    a <- angles[[m]]
    gauges <- setdiff(names(a), c("map", "horizon", "limit", "closest",
                                  "support"))
    do.call(rbind, lapply(gauges, function(g)
      data.frame(network = m, map = a$map, reference = g, angle = a[[g]],
                 stringsAsFactors = FALSE)))
  }))
  long$map <- factor(long$map, labels)
  long$reference <- factor(long$reference,
                           rev(c("l1", "l1.5", "l2", "l3", "l-infinity")))
  long$network <- factor(long$network, c("linear", "diagonal"),
                         c("linear model", "diagonal network"))
  ggplot2::ggplot(long, ggplot2::aes(x = angle, y = reference,
                                     colour = map, shape = map)) +
    ggplot2::geom_point(size = 2.6, alpha = 0.85,
                        position = ggplot2::position_dodge(width = 0.5)) +
    ggplot2::facet_wrap(ggplot2::vars(network), nrow = 1,
                        scales = "free_y") +
    ggplot2::scale_x_log10(labels = plain_numbers) +
    ggplot2::scale_colour_manual(values = map_colours(labels), name = "map") +
    ggplot2::scale_shape_manual(values = c(16, 17, 15, 16, 16, 16),
                                name = "map") +
    ggplot2::labs(x = paste("final angle to max-margin direction",
                            "(degrees, log scale)"),
                  y = "max-margin gauge") +
    paper_theme() +
    ggplot2::guides(colour = ggplot2::guide_legend(nrow = 2))
}

relu_margin_figure <- function(tab, labels, gauges, width) {
  long <- do.call(rbind, lapply(gauges, function(p) {
    g <- horizon_label(p)
    data.frame(map = tab$map, gauge = g, ratio = tab[[g]],
               stringsAsFactors = FALSE)
  }))
  long$map <- factor(long$map, labels)
  long$gauge <- factor(long$gauge, rev(vapply(gauges, horizon_label, "")))
  ggplot2::ggplot(long, ggplot2::aes(x = ratio, y = gauge, colour = map,
                                     shape = map)) +
    ggplot2::geom_point(size = 2.6, alpha = 0.85,
                        position = ggplot2::position_dodge(width = 0.5)) +
    ggplot2::scale_colour_manual(values = map_colours(labels), name = "map") +
    ggplot2::scale_shape_manual(values = c(16, 17, 15, 16, 16, 16),
                                name = "map") +
    ggplot2::labs(x = "Q-margin relative to the largest among the maps",
                  y = "gauge Q",
                  title = sprintf("2-layer ReLU network, %d hidden units",
                                  width)) +
    paper_theme() +
    ggplot2::guides(colour = ggplot2::guide_legend(nrow = 2))
}

kkt_figure <- function(kk, labels, width) {
  kk$map <- factor(kk$map, labels)
  ggplot2::ggplot(kk, ggplot2::aes(x = log_time, y = stationarity,
                                   colour = map, linetype = map)) +
    ggplot2::geom_line(linewidth = 0.7) + ggplot2::geom_point(size = 1.2) +
    ggplot2::scale_y_log10(breaks = c(0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3,
                                      0.5, 1)) +
    ggplot2::scale_colour_manual(values = map_colours(labels), name = "map") +
    ggplot2::scale_linetype_manual(values = map_linetypes(labels),
                                   name = "map") +
    ggplot2::labs(x = "log time (log t)",
                  y = "KKT residual, own horizon (log scale)",
                  title = sprintf("2-layer ReLU network, %d hidden units",
                                  width)) +
    paper_theme() +
    ggplot2::guides(colour = ggplot2::guide_legend(nrow = 2))
}

utils::globalVariables(c("stationarity", "log_time", "angle_deg", "map",
                         "reference", "angle", "ratio", "gauge", "network"))
