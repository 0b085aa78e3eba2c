# The getting-started experiment: one flow per map family on a sparse
# linear teacher, drawn against log time. It is the first thing the main
# job runs, and the quickest.

#' Experiment: trajectories of one flow per map family
#'
#' Runs a linear model on a separable sparse linear teacher
#' ([simulate_sparse_linear()]) with each map in `maps`, from the same
#' initial weights, to `target_log_loss` with the adaptive integrator,
#' and draws the log-loss, the Q-margin and the horizon norm against log
#' time. It is the experiment of the vignette "Getting started with
#' mirrorflow" and the first one [reproduce_paper()] runs.
#'
#' @param scale `"quick"` (200 points in 20 dimensions, to log-loss -300)
#'   or `"full"` (1000 points in 50 dimensions, to log-loss -3000).
#' @param n,d,k Data size, dimension and number of nonzero teacher
#'   coordinates; `NULL` takes the value of `scale`.
#' @param maps A list of [mirror_map()] objects; `NULL` takes euclidean,
#'   `pnorm(p = 3)`, `hypentropy(beta = 0.1)`, `powers(p = 2, q = 3)` and
#'   cosh.
#' @param target_log_loss Log-loss at which each run stops; `NULL` takes
#'   the value of `scale`.
#' @param time_limit Seconds allowed per run.
#' @param seed Seed of the data and of the initial weights.
#' @param cache `NULL`, or a directory where each finished run is kept so
#'   that a repeated call reads it back (see [reproduce_paper()]).
#' @return A `mirrorflow_experiment` (see [paper_experiments()]) with the
#'   table `runs` (one [glance()] row per map) and the figure
#'   `trajectories`.
#' @examples
#' \donttest{
#' ex <- experiment_trajectories(n = 100, d = 10, target_log_loss = -50)
#' ex$tables$runs[, c("map", "stop_reason", "log_loss", "q_margin")]
#' }
#' @export
experiment_trajectories <- function(scale = c("quick", "full"), n = NULL,
                                    d = NULL, k = NULL, maps = NULL,
                                    target_log_loss = NULL, time_limit = 60,
                                    seed = 1, cache = NULL) {
  scale <- check_scale(scale)
  check_cache(cache)
  quick <- scale == "quick"
  n <- check_number(n %||% if (quick) 200 else 1000, "n", lower = 2,
                    upper = 1e6, integer = TRUE)
  d <- check_number(d %||% if (quick) 20 else 50, "d", lower = 1,
                    upper = 1e5, integer = TRUE)
  k <- check_number(k %||% 3, "k", lower = 1, upper = d, integer = TRUE)
  maps <- maps %||% list(mirror_map("euclidean"), mirror_map("pnorm", p = 3),
                         mirror_map("hypentropy", beta = 0.1),
                         mirror_map("powers", p = 2, q = 3),
                         mirror_map("cosh"))
  if (inherits(maps, "mirror_map")) maps <- list(maps)
  if (!is.list(maps) || !length(maps) ||
      !all(vapply(maps, inherits, TRUE, "mirror_map")))
    stop(sprintf("'maps' must be a list of mirror_map() objects, not %s",
                 describe(maps)), call. = FALSE)
  target <- check_number(target_log_loss %||% if (quick) -300 else -3000,
                         "target_log_loss")
  time_limit <- check_number(time_limit, "time_limit", lower = 0,
                             strict = TRUE, finite = FALSE)
  seed <- check_number(seed, "seed", integer = TRUE)

  data <- simulate_sparse_linear(n, d, k, gap = 0.1, seed = seed)
  net <- homogeneous_net(c(d, 1), activation = "linear")
  w0 <- with_seed(seed, init_weights(net, scale = 0.1))
  control <- flow_control(target_log_loss = target, time_limit = time_limit)
  labels <- vapply(maps, map_label, "")
  fits <- lapply(seq_along(maps), function(i) {
    key <- sprintf("trajectories-n%d-d%d-k%d-seed%d-target%g-%s", n, d, k,
                   seed, target, labels[i])
    cached(cache, key, suppressWarnings(
      mirror_flow(data, net = net, map = maps[[i]], init = w0,
                  control = control)))
  })
  runs <- do.call(rbind, lapply(fits, glance))
  runs$map <- labels

  # From log time 0 on: before it the Q-margin is negative and of another
  # size, and would flatten the part where the maps differ. Runs stopped
  # before log time 0 (a target above the start) leave nothing to draw.
  long <- do.call(rbind, lapply(seq_along(fits), function(i) {
    tr <- trajectory(fits[[i]])
    tr <- tr[tr$log_time >= 0, ]
    data.frame(.x = rep(tr$log_time, 3),
               map = factor(rep(labels[i], 3 * nrow(tr)), labels),
               .panel = factor(rep(c("log-loss", "Q-margin",
                                     "horizon norm Q"), each = nrow(tr)),
                               c("log-loss", "Q-margin", "horizon norm Q")),
               .y = c(tr$log_loss, tr$q_margin, tr$horizon))
  }))
  fig <- NULL
  if (nrow(long) && requireNamespace("ggplot2", quietly = TRUE)) {
    fig <- ggplot2::ggplot(long, ggplot2::aes(.x, .y, colour = map)) +
      ggplot2::geom_line(linewidth = 0.7) +
      ggplot2::facet_grid(.panel ~ ., scales = "free_y", switch = "y") +
      ggplot2::scale_colour_manual(values = map_colours(labels),
                                   name = "map") +
      ggplot2::labs(x = "log time (log t)", title = sprintf(
        "Linear model, %d points in %d dimensions (%d-sparse teacher)",
        n, d, k)) +
      paper_theme() + left_strips() +
      ggplot2::guides(colour = ggplot2::guide_legend(nrow = 2))
  }
  new_experiment(
    "trajectories", "One flow per map family on a sparse linear teacher",
    scale,
    settings = list(n = n, d = d, k = k, maps = labels,
                    net = net_label(net), init_scale = 0.1,
                    integrator = "adaptive", target_log_loss = target,
                    time_limit = time_limit, seed = seed),
    tables = list(runs = runs),
    figures = if (!is.null(fig)) list(trajectories = fig) else list(),
    captions = c(
      runs = "Final state of each run: stop reason, steps, log-loss, Q-margin",
      trajectories = paste("Log-loss, Q-margin and horizon norm against log",
                           "time, one line per map")),
    sizes = list(trajectories = c(7, 6)))
}
