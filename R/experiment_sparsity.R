# Experiment "sparsity" (vignette "Sparse and dense features"): ReLU
# networks trained by mirror flows whose horizons run from l1-like to
# l-infinity-like, and how sparse the hidden activations they learn are,
# over seeds, on a ReLU teacher and on Fashion-MNIST (Jacobs and Montufar
# 2026, the sparse-and-dense finding).

#' Sparse and dense features across mirror maps
#'
#' Trains ReLU networks without biases with mirror flows whose horizons run
#' from \eqn{\ell_1}-like (hyperbolic entropy with a small `beta`) through
#' \eqn{\ell_2} (gradient flow) and \eqn{\ell_p}, \eqn{p > 2}, to
#' \eqn{\ell_\infty}-like (`cosh`), every map from the same initial
#' weights for a seed, every run to the same log-loss, and measures the
#' sparsity of the hidden activations with [feature_sparsity()] (active
#' fraction, Gini and Hoyer indices per sample, dead neurons, neuron mass)
#' through [mirror_sweep()]; [compare_sparsity()] gives means over seeds
#' with bootstrap intervals and Kruskal-Wallis tests of whether the maps
#' differ, to which a Friedman test blocked by seed is added (the runs of
#' one seed share their initial weights). Two problems:
#' * a two-layer ReLU teacher ([simulate_relu_teacher()], standard normal
#'   inputs) learnt by each network of `teacher_nets`, e.g. a two-layer and
#'   a three-layer ReLU net;
#' * T-shirts against shirts from Fashion-MNIST, rows scaled to unit norm
#'   ([normalize_rows()]): a balanced subsample of the shipped
#'   [fashion_subset] or, with `fashion_path`, images read by
#'   [fashion_mnist()].
#'
#' The runs go through [future.apply::future_lapply()], so the user's
#' [future::plan()] decides where they run (sequentially unless a plan was
#' set). The results do not depend on the plan: each run draws its
#' initial weights from its own seed. Each run is cached on its own, so an
#' interrupted call resumes with the runs not yet done.
#'
#' Arguments left `NULL` take their value from `scale`:
#'
#' | setting | quick | full |
#' |---|---|---|
#' | `maps` | hypentropy(0.01), euclidean, pnorm(3), cosh | those, pnorm(1.5) |
#' | `seeds` | 1:3 | 1:5 |
#' | `teacher_n`, `teacher_d`, `teacher_k` | 200, 20, 4 | 400, 40, 4 |
#' | `teacher_nets` | "32", "16x16" | "64", "32x32" |
#' | `teacher_log_loss` | -50 | -150 |
#' | `fashion_n`, `fashion_width` | 200, 32 | 400, 128 |
#' | `fashion_log_loss` | log(n) - 1.3 | log(n) - 1.5 |
#' | `fashion_path` | none (shipped subset) | none (shipped subset) |
#' | `time_limit` (s per run) | 60 | 600 |
#' | `R` | 2000 | 2000 |
#'
#' @param scale `"quick"` (under a minute on one idle core) or `"full"`
#'   (about 30 minutes sequentially, mostly the 196-128-1 Fashion-MNIST
#'   nets; the 196-256-1 net of the bench script doubles that).
#' @param maps A list of [mirror_map()]s; shown in the order of their
#'   horizon exponents, \eqn{\ell_1} first.
#' @param seeds Initialisation seeds, whole numbers (at least two, so that
#'   there is a spread).
#' @param teacher_n,teacher_d,teacher_k Points, input dimension and hidden
#'   units of the ReLU teacher.
#' @param teacher_nets Hidden widths of the networks trained on the
#'   teacher, one string per network as [mirror_sweep()] reads them
#'   (`"32"` for one hidden layer, `"16x16"` for two).
#' @param teacher_log_loss,fashion_log_loss The log-loss (log of the summed
#'   exponential loss) at which every run on that problem stops.
#' @param fashion_n Number of Fashion-MNIST images, balanced between the
#'   two classes; at most 400 without `fashion_path`.
#' @param fashion_width Hidden width of the two-layer net on Fashion-MNIST.
#' @param fashion_path `NULL` for the shipped subset, or a directory of
#'   Fashion-MNIST IDX files for [fashion_mnist()] (14 x 14 images of the
#'   training split).
#' @param time_limit Wall-clock limit per run, in seconds, as a guard; a
#'   run that hits it is reported in the `stop_reason` of the `runs` table.
#' @param R Bootstrap resamples of [compare_sparsity()].
#' @param cache `NULL`, or a directory in which every run is kept, so that
#'   a later call with the same settings reads it back instead of
#'   running it.
#' @return A `mirrorflow_experiment` (see [paper_experiments()]) with
#'   tables `runs` (one row per problem, map and seed) and
#'   `compare_<problem>` (the [compare_sparsity()] rows with the
#'   Kruskal-Wallis, ANOVA and Friedman p-values of their metric), and
#'   figures
#'   `sparsity_by_map`, `mass_<problem>`, `neuron_rates_<problem>`,
#'   `checkpoints_teacher` and `heatmap_<problem>`.
#' @seealso [reproduce_paper()], [feature_sparsity()], [compare_sparsity()]
#' @examples
#' \donttest{
#' ex <- experiment_sparsity(
#'   maps = list(mirror_map("hypentropy", beta = 0.01),
#'               mirror_map("euclidean")),
#'   seeds = 1:2, teacher_n = 60, teacher_d = 5, teacher_nets = "8",
#'   teacher_log_loss = -5, fashion_n = 40, fashion_width = 8)
#' ex
#' ex$tables$compare_fashion
#' }
#' @export
experiment_sparsity <- function(scale = c("quick", "full"), maps = NULL,
                                seeds = NULL, teacher_n = NULL,
                                teacher_d = NULL, teacher_k = NULL,
                                teacher_nets = NULL, teacher_log_loss = NULL,
                                fashion_n = NULL, fashion_width = NULL,
                                fashion_log_loss = NULL, fashion_path = NULL,
                                time_limit = NULL, R = NULL, cache = NULL) {
  scale <- check_scale(scale)
  check_cache(cache)
  need_package("ggplot2", "experiment_sparsity()")
  t0 <- proc.time()[["elapsed"]]
  quick <- scale == "quick"
  s <- sparsity_settings(
    scale, maps = maps, seeds = seeds, teacher_n = teacher_n,
    teacher_d = teacher_d, teacher_k = teacher_k,
    teacher_nets = teacher_nets, teacher_log_loss = teacher_log_loss,
    fashion_n = fashion_n, fashion_width = fashion_width,
    fashion_log_loss = fashion_log_loss, fashion_path = fashion_path,
    time_limit = time_limit, R = R)
  maps <- s$maps
  s$maps <- NULL

  problems <- sparsity_problems(s)
  runs <- sparsity_runs(problems, maps, s, cache)
  labels <- vapply(maps, map_label, "")
  table <- sparsity_run_table(runs, problems, labels)

  tables <- list(runs = table)
  captions <- c(runs = paste(
    "One row per problem, map and seed: the log-loss reached, why the run",
    "stopped, training accuracy and the sparsity of each hidden layer"))
  comparisons <- list()
  for (pr in problems) {
    cmp <- sparsity_comparison(table[table$problem == pr$id, ], pr, labels,
                               s$R)
    comparisons[[pr$id]] <- cmp
    nm <- paste0("compare_", pr$id)
    tables[[nm]] <- cmp
    captions[[nm]] <- sprintf(paste(
      "%s: mean over %d seeds per map with %g%% bootstrap and t intervals",
      "and the Kruskal-Wallis, ANOVA and (blocked by seed) Friedman",
      "p-values of each metric"),
      pr$label, length(s$seeds), 95)
  }

  figs <- sparsity_figures(runs, problems, comparisons, table, maps, s)
  # Map labels with the horizon, for the settings a reader sees.
  settings <- c(list(maps = vapply(maps, function(m)
    sprintf("%s [%s]", map_label(m), horizon_label(horizon_exponent(m))),
    "")), s)
  new_experiment("sparsity", "Sparse and dense features", scale, settings,
                 tables = tables, figures = figs$figures,
                 captions = c(captions, figs$captions), sizes = figs$sizes,
                 seconds = proc.time()[["elapsed"]] - t0)
}

# ---- settings ------------------------------------------------------------

# Every setting checked, NULL replaced by its value at this scale.
sparsity_settings <- function(scale, maps, seeds, teacher_n, teacher_d,
                              teacher_k, teacher_nets, teacher_log_loss,
                              fashion_n, fashion_width, fashion_log_loss,
                              fashion_path, time_limit, R) {
  quick <- scale == "quick"
  by_scale <- function(x, q, f) if (is.null(x)) (if (quick) q else f) else x

  if (is.null(maps)) {
    maps <- list(mirror_map("hypentropy", beta = 0.01),
                 mirror_map("euclidean"), mirror_map("pnorm", p = 3),
                 mirror_map("cosh"))
    if (!quick) maps <- c(maps[1], list(mirror_map("pnorm", p = 1.5)),
                          maps[-1])
  }
  if (is_mirror_map(maps)) maps <- list(maps)
  if (!is.list(maps) || !length(maps) ||
      !all(vapply(maps, is_mirror_map, TRUE)))
    stop(sprintf("'maps' must be a non-empty list of mirror maps, not %s",
                 describe(maps)), call. = FALSE)
  labels <- vapply(maps, map_label, "")
  if (anyDuplicated(labels))
    stop(sprintf("'maps' must not repeat a map; %s appears twice",
                 labels[duplicated(labels)][1]), call. = FALSE)
  expo <- vapply(maps, function(m) {
    e <- horizon_exponent(m)
    if (is.null(e) || length(e) != 1 || is.na(e)) NA_real_ else e
  }, 0)
  if (anyNA(expo))
    stop(sprintf(paste("'maps' holds %s, whose horizon exponent is unknown;",
                       "the experiment orders maps by it"),
                 labels[is.na(expo)][1]), call. = FALSE)
  maps <- maps[order(expo)]

  seeds <- by_scale(seeds, 1:3, 1:5)
  if (!is.numeric(seeds) || length(seeds) < 2 || anyNA(seeds) ||
      any(seeds != round(seeds)) || anyDuplicated(seeds) ||
      any(abs(seeds) > .Machine$integer.max))
    stop(sprintf(paste("'seeds' must be two or more distinct whole numbers,",
                       "not %s"), describe(seeds)), call. = FALSE)

  teacher_n <- check_number(by_scale(teacher_n, 200, 400), "teacher_n",
                            lower = 10, integer = TRUE)
  teacher_d <- check_number(by_scale(teacher_d, 20, 40), "teacher_d",
                            lower = 2, integer = TRUE)
  teacher_k <- check_number(by_scale(teacher_k, 4, 4), "teacher_k",
                            lower = 2, integer = TRUE)
  teacher_nets <- by_scale(teacher_nets, c("32", "16x16"), c("64", "32x32"))
  if (is.numeric(teacher_nets)) teacher_nets <- format(teacher_nets,
                                                       trim = TRUE)
  widths <- if (is.character(teacher_nets) && !anyNA(teacher_nets))
    lapply(strsplit(teacher_nets, "x", fixed = TRUE), function(w)
      suppressWarnings(as.numeric(w))) else list(NA)
  if (!length(teacher_nets) || anyDuplicated(teacher_nets) ||
      !all(vapply(widths, function(w) length(w) > 0 && !anyNA(w) &&
                    all(w >= 1 & w == round(w)), TRUE)))
    stop(sprintf(paste("'teacher_nets' must give distinct hidden widths",
                       "such as \"32\" or \"16x16\", not %s"),
                 describe(teacher_nets)), call. = FALSE)
  teacher_log_loss <- check_number(by_scale(teacher_log_loss, -50, -150),
                                   "teacher_log_loss")

  if (!is.null(fashion_path) &&
      (!is.character(fashion_path) || length(fashion_path) != 1 ||
       is.na(fashion_path) || !dir.exists(fashion_path)))
    stop(sprintf("'fashion_path' must be NULL or an existing directory, not %s",
                 describe(fashion_path)), call. = FALSE)
  fashion_n <- check_number(by_scale(fashion_n, 200, 400), "fashion_n",
                            lower = 10, upper = if (is.null(fashion_path))
                              400 else 12000, integer = TRUE)
  # Limitation: full scale uses width 128, not the 256 of
  # bench/fashion_sparsity.R, to stay near 30 minutes with five maps and
  # five seeds on the reference BLAS; fashion_width = 256 gives that run
  # (about twice as long), or set a future::plan() with two workers.
  fashion_width <- check_number(by_scale(fashion_width, 32, 128),
                                "fashion_width", lower = 1, integer = TRUE)
  # A fixed mean loss rather than a fixed sum keeps runs on different
  # numbers of images comparable. Limitation: at these losses the weights
  # are still of order 1/sqrt(d), where cosh(x) - 1 is x^2/2, so cosh
  # behaves like gradient flow and its l-infinity horizon does not show;
  # seeing it needs log-losses far lower (the cosh flow approaches its
  # limit exponentially slowly), out of these budgets.
  fashion_log_loss <- check_number(
    by_scale(fashion_log_loss, round(log(fashion_n) - 1.3, 3),
             round(log(fashion_n) - 1.5, 3)), "fashion_log_loss")
  # The limit is a guard, not a setting of the flow: a run that reaches it
  # depends on the machine's speed, which its stop_reason records.
  time_limit <- check_number(by_scale(time_limit, 60, 600), "time_limit",
                             lower = 0, strict = TRUE)
  R <- check_number(by_scale(R, 2000, 2000), "R", lower = 10,
                    integer = TRUE)

  list(maps = maps, seeds = as.integer(seeds), teacher_n = teacher_n,
       teacher_d = teacher_d, teacher_k = teacher_k, teacher_gap = 0.1,
       teacher_nets = teacher_nets, teacher_log_loss = teacher_log_loss,
       fashion_source = if (is.null(fashion_path)) "fashion_subset" else
         fashion_path,
       fashion_n = fashion_n, fashion_width = fashion_width,
       fashion_log_loss = fashion_log_loss, data_seed = 1L,
       integrator = "loss_scaled", init_scale = 1, teacher_checkpoints = 40,
       time_limit = time_limit, R = R,
       plan = setdiff(class(future::plan()),
                      c("FutureStrategy", "tweaked"))[1])
}

# ---- data and runs -------------------------------------------------------

# The problems: one per teacher network, and Fashion-MNIST. Each carries
# its data, the width string for the sweep grid, the flow_control every
# run uses, and a key holding every setting its runs depend on.
sparsity_problems <- function(s) {
  # Limitation: the teacher's inputs are standard normal, so a
  # first-layer ReLU neuron without bias is active on half of them
  # whatever its weights (P(<w, x> > 0) = 1/2 for every w); only the
  # indices of magnitude (Gini, Hoyer, mass) and deeper layers can tell
  # maps apart there. Inputs with a nonzero mean would lift it.
  teacher <- simulate_relu_teacher(s$teacher_n, s$teacher_d, s$teacher_k,
                                   gap = s$teacher_gap, seed = s$data_seed)
  fashion <- sparsity_fashion(s)
  out <- list()
  for (w in s$teacher_nets) {
    widths <- as.numeric(strsplit(w, "x", fixed = TRUE)[[1]])
    net <- paste(c(s$teacher_d, widths, 1), collapse = "-")
    id <- paste0("teacher_", gsub("x", "_", w, fixed = TRUE))
    out[[id]] <- list(
      id = id, data = teacher, width = w, layers = length(widths),
      label = sprintf("ReLU teacher, %s net", net),
      control = flow_control(target_log_loss = s$teacher_log_loss,
                             time_limit = s$time_limit, keep_params = TRUE,
                             checkpoints = s$teacher_checkpoints),
      key = sprintf("teacher_n%d_d%d_k%d_gap%g_ds%d_net%s_ll%g_tl%g",
                    s$teacher_n, s$teacher_d, s$teacher_k, s$teacher_gap,
                    s$data_seed, w, s$teacher_log_loss, s$time_limit))
  }
  out$fashion <- list(
    id = "fashion", data = fashion, width = format(s$fashion_width),
    layers = 1L,
    label = sprintf("Fashion-MNIST, %d-%d-1 net", ncol(fashion$x),
                    s$fashion_width),
    control = flow_control(target_log_loss = s$fashion_log_loss,
                           time_limit = s$time_limit),
    key = sprintf("fashion_%s_n%d_ds%d_w%d_ll%g_tl%g",
                  if (s$fashion_source == "fashion_subset") "subset" else
                    "idx", s$fashion_n, s$data_seed, s$fashion_width,
                  s$fashion_log_loss, s$time_limit))
  out
}

# T-shirts (+1) and shirts (-1) at 14 x 14, rows of unit norm; from the
# shipped subset a balanced subsample drawn from the data seed.
sparsity_fashion <- function(s) {
  if (s$fashion_source != "fashion_subset") {
    return(fashion_mnist(s$fashion_source, classes = c(0, 6),
                         n = s$fashion_n, downsample = 2, normalize = TRUE,
                         seed = s$data_seed))
  }
  env <- new.env()
  utils::data("fashion_subset", package = "mirrorflow", envir = env)
  d <- normalize_rows(env$fashion_subset)
  if (s$fashion_n < nrow(d$x)) {
    pos <- which(d$y > 0)
    neg <- which(d$y < 0)
    take <- with_seed(s$data_seed, c(
      pos[sample.int(length(pos), ceiling(s$fashion_n / 2))],
      neg[sample.int(length(neg), floor(s$fashion_n / 2))]))
    d <- subset_rows(d, sort(take))
  }
  d
}

# Every problem x map x seed, each one mirror_sweep() of a one-row grid
# cached under its own key, the uncached ones spread by the user's plan.
sparsity_runs <- function(problems, maps, s, cache) {
  jobs <- list()
  for (pr in problems) {
    grid <- sweep_grid(map = maps, width = pr$width, seed = s$seeds,
                       integrator = s$integrator, init_scale = s$init_scale)
    for (i in seq_len(nrow(grid))) {
      jobs[[length(jobs) + 1L]] <- list(
        problem = pr$id, grid = grid[i, , drop = FALSE],
        map = grid$map_label[i], seed = grid$seed[i],
        key = sprintf("sparsity_%s_%s_seed%d_%s_init%g", pr$key,
                      grid$map_label[i], grid$seed[i], s$integrator,
                      s$init_scale))
    }
  }
  one <- function(job) {
    pr <- problems[[job$problem]]
    cached(cache, job$key, {
      t0 <- proc.time()[["elapsed"]]
      sw <- mirror_sweep(job$grid, pr$data, control = pr$control,
                         keep_fits = TRUE)
      fit <- attr(sw, "fits")[[1]]
      row <- as.data.frame(sw)
      attr(row, "fits") <- NULL
      class(row) <- "data.frame"
      list(row = row, fit = fit,
           seconds = proc.time()[["elapsed"]] - t0)
    })
  }
  res <- keep_session_rng(future.apply::future_lapply(
    jobs, one, future.seed = TRUE, future.packages = "mirrorflow"))
  for (k in seq_along(jobs)) {
    res[[k]]$problem <- jobs[[k]]$problem
    res[[k]]$map <- jobs[[k]]$map
    res[[k]]$seed <- jobs[[k]]$seed
  }
  res
}

# One row per run, in the order problem, map (by horizon), seed.
sparsity_run_table <- function(runs, problems, labels) {
  keep <- c("status", "log_loss", "stop_reason", "steps", "accuracy",
            "active_fraction", "dead_fraction", "gini_sample",
            "hoyer_sample", "mass_90")
  rows <- lapply(runs, function(r) {
    row <- r$row
    deep <- grep("_layer[0-9]+$", names(row), value = TRUE)
    deep <- deep[sub("_layer[0-9]+$", "", deep) %in% keep]
    cols <- intersect(c(keep, deep), names(row))
    cbind(data.frame(problem = r$problem,
                     network = problems[[r$problem]]$label, map = r$map,
                     seed = r$seed, stringsAsFactors = FALSE),
          row[cols], data.frame(seconds = r$seconds))
  })
  out <- bind_rows_fill(rows)
  o <- order(match(out$problem, names(problems)), match(out$map, labels),
             out$seed)
  out <- out[o, , drop = FALSE]
  rownames(out) <- NULL
  out
}

# compare_sparsity() of one problem, maps in horizon order, with the
# p-values of its metric beside each row. compare_sparsity()'s tests treat
# the runs as independent; but every map starts from the same weights for
# a seed, so a Friedman test blocked by seed is added, which can see a
# consistent order of the maps through a large spread between seeds.
sparsity_comparison <- function(rows, problem, labels, R) {
  metric <- c("active_fraction", "gini_sample", "hoyer_sample",
              "dead_fraction", "mass_90")
  deep <- unlist(lapply(seq_len(problem$layers)[-1], function(l)
    paste0(c("active_fraction", "gini_sample", "hoyer_sample",
             "dead_fraction", "mass_90"), "_layer", l)))
  metric <- intersect(c(metric, deep), names(rows))
  cs <- compare_sparsity(rows, metric, by = "map", R = R, seed = 1)
  tests <- attr(cs, "tests")
  out <- as.data.frame(cs)
  attr(out, "tests") <- NULL
  attr(out, "level") <- NULL
  out <- out[order(match(out$metric, metric), match(out$map, labels)), ,
             drop = FALSE]
  i <- match(out$metric, tests$metric)
  out$kruskal_p <- tests$kruskal_p[i]
  out$anova_p <- tests$anova_p[i]
  friedman <- vapply(metric, function(m) paired_friedman(rows, m), 0)
  out$friedman_p <- unname(friedman[out$metric])
  rownames(out) <- NULL
  out
}

# p-value of the Friedman rank test of `metric` across maps, blocked by
# seed, over the seeds with a finite value for every map; NA with fewer
# than two such seeds or maps, or when every value ties.
paired_friedman <- function(rows, metric) {
  rows <- rows[rows$status == "ok", , drop = FALSE]
  maps <- unique(rows$map)
  seeds <- unique(rows$seed)
  if (length(maps) < 2 || length(seeds) < 2) return(NA_real_)
  m <- matrix(NA_real_, length(seeds), length(maps))
  m[cbind(match(rows$seed, seeds), match(rows$map, maps))] <- rows[[metric]]
  m <- m[stats::complete.cases(m) & apply(is.finite(m), 1, all), ,
         drop = FALSE]
  if (nrow(m) < 2 || length(unique(as.vector(m))) < 2) return(NA_real_)
  suppressWarnings(stats::friedman.test(m)$p.value)
}

# ---- figures -------------------------------------------------------------

# Columns of the long data frames handed to ggplot2.
utils::globalVariables(c(".map", ".value", ".lower", ".upper", ".metric",
                         ".seed"))

sparsity_figures <- function(runs, problems, comparisons, table, maps, s) {
  labels <- vapply(maps, map_label, "")
  figures <- list()
  captions <- character()
  sizes <- list()
  first <- s$seeds[1]
  fit_of <- function(pid, map) {
    for (r in runs)
      if (r$problem == pid && r$map == map && r$seed == first) return(r$fit)
    NULL
  }

  figures$sparsity_by_map <- sparsity_by_map_plot(table, problems,
                                                  comparisons, maps)
  captions[["sparsity_by_map"]] <- paste(
    "Active fraction and mean Gini index per sample of each hidden layer,",
    "by map (horizon from l1 on the left to l-infinity on the right):",
    "one small point per seed (grey lines join the runs of one seed, which",
    "start from the same weights), the mean with its 95% bootstrap",
    "interval")
  npanel <- sum(vapply(problems, function(p) p$layers, 1L))
  sizes$sparsity_by_map <- c(min(12, 2.2 * npanel + 1.5), 5.5)

  teacher_ids <- names(problems)[startsWith(names(problems), "teacher_")]
  deep <- teacher_ids[vapply(problems[teacher_ids], function(p) p$layers,
                             1L) >= 2]
  deep <- if (length(deep)) deep[length(deep)] else NULL
  shallow <- teacher_ids[1]

  for (pid in unique(c(shallow, "fashion"))) {
    pr <- problems[[pid]]
    fits <- Filter(Negate(is.null), lapply(labels, function(m)
      fit_of(pid, m)))
    fs <- lapply(fits, feature_sparsity, along = FALSE)
    nm <- paste0("mass_", pid)
    figures[[nm]] <- ggplot2::autoplot(fs[[1]], fs[-1], type = "mass") +
      paper_theme() +
      ggplot2::labs(title = sprintf("%s, layer 1, seed %d", pr$label, first))
    captions[[nm]] <- sprintf(paste(
      "%s, seed %d: cumulative share of the neuron mass",
      "(norm in times norm out) carried by the heaviest neurons; dashed",
      "lines at 50, 90 and 99%%"), pr$label, first)
    sizes[[nm]] <- c(7, 4.5)
  }

  rate_problems <- unique(c(deep, "fashion"))
  for (pid in rate_problems) {
    pr <- problems[[pid]]
    layer <- pr$layers
    fits <- Filter(Negate(is.null), lapply(labels, function(m)
      fit_of(pid, m)))
    fs <- lapply(fits, feature_sparsity, along = FALSE)
    nm <- paste0("neuron_rates_", pid)
    figures[[nm]] <- ggplot2::autoplot(fs[[1]], fs[-1],
                                       type = "activation_rate",
                                       layer = layer) +
      paper_theme() +
      ggplot2::labs(title = sprintf("%s, layer %d, seed %d", pr$label,
                                    layer, first))
    captions[[nm]] <- sprintf(paste(
      "%s, layer %d, seed %d: distribution of the share of samples on",
      "which a neuron is active; a curve further left means sparser",
      "neurons"), pr$label, layer, first)
    sizes[[nm]] <- c(7, 4.5)

    nm <- paste0("heatmap_", pid)
    figures[[nm]] <- sparsity_heatmaps(fits, layer, pr, first)
    captions[[nm]] <- sprintf(paste(
      "%s, layer %d, seed %d: activations of every sample (rows, by label)",
      "and neuron (columns, by decreasing mass), scaled by the largest",
      "activation of each map; white is inactive"), pr$label, layer, first)
    sizes[[nm]] <- c(9, 5)
  }

  if (!is.null(deep)) {
    pr <- problems[[deep]]
    fits <- Filter(Negate(is.null), lapply(labels, function(m)
      fit_of(deep, m)))
    fs <- lapply(fits, feature_sparsity, along = TRUE)
    figures$checkpoints_teacher <- ggplot2::autoplot(
      fs[[1]], fs[-1], type = "checkpoints", layer = pr$layers) +
      paper_theme() +
      ggplot2::labs(title = sprintf("%s, layer %d, seed %d", pr$label,
                                    pr$layers, first))
    captions[["checkpoints_teacher"]] <- sprintf(paste(
      "%s, layer %d, seed %d: active fraction and mean Gini and Hoyer",
      "indices per sample along the run, against log time"), pr$label,
      pr$layers, first)
    sizes$checkpoints_teacher <- c(7, 6.5)
  }
  list(figures = figures, captions = captions, sizes = sizes)
}

# Panels: problem (and layer) across, metric down; x the maps in horizon
# order, labelled by their horizon, coloured by map.
sparsity_by_map_plot <- function(table, problems, comparisons, maps) {
  labels <- vapply(maps, map_label, "")
  metrics <- c(active_fraction = "active fraction",
               gini_sample = "Gini index per sample")
  pts <- list()
  est <- list()
  for (pr in problems) {
    rows <- table[table$problem == pr$id & table$status == "ok", ]
    cmp <- comparisons[[pr$id]]
    for (l in seq_len(pr$layers)) {
      panel <- sub(", ", "\n", pr$label, fixed = TRUE)
      if (pr$layers > 1) panel <- sprintf("%s, layer %d", panel, l)
      for (m in names(metrics)) {
        col <- if (l > 1) sprintf("%s_layer%d", m, l) else m
        pts[[length(pts) + 1L]] <- data.frame(
          .panel = panel, .metric = metrics[[m]], .map = rows$map,
          .seed = rows$seed, .value = rows[[col]],
          stringsAsFactors = FALSE)
        e <- cmp[cmp$metric == col, ]
        est[[length(est) + 1L]] <- data.frame(
          .panel = panel, .metric = metrics[[m]], .map = e$map,
          .value = e$mean, .lower = e$lower, .upper = e$upper,
          stringsAsFactors = FALSE)
      }
    }
  }
  as_factors <- function(d) {
    d$.panel <- factor(d$.panel, levels = unique(d$.panel))
    d$.metric <- factor(d$.metric, levels = unname(metrics))
    d$.map <- factor(d$.map, levels = labels)
    d
  }
  pts <- as_factors(do.call(rbind, pts))
  est <- as_factors(do.call(rbind, est))
  horizons <- vapply(maps, function(m) {
    h <- horizon_label(horizon_exponent(m))
    if (h == "l-infinity") "l\u221e" else h
  }, "")
  nudge <- ggplot2::position_nudge(x = -0.25)
  ggplot2::ggplot(est, ggplot2::aes(x = .map, y = .value, colour = .map)) +
    ggplot2::geom_line(data = pts, ggplot2::aes(group = .seed),
                       colour = "grey70", linewidth = 0.3,
                       position = nudge) +
    ggplot2::geom_point(data = pts, size = 1, alpha = 0.7,
                        position = nudge) +
    ggplot2::geom_pointrange(ggplot2::aes(ymin = .lower, ymax = .upper),
                             size = 0.3) +
    ggplot2::facet_grid(ggplot2::vars(.metric), ggplot2::vars(.panel),
                        scales = "free_y", switch = "y") +
    ggplot2::scale_x_discrete(labels = unname(horizons)) +
    ggplot2::scale_colour_manual(values = map_colours(labels),
                                 breaks = labels, name = "map") +
    ggplot2::labs(x = "horizon of the map, from l1-like to l-infinity-like",
                  y = NULL) +
    paper_theme() +
    ggplot2::theme(strip.placement = "outside",
                   strip.background.y = ggplot2::element_blank(),
                   strip.text.y.left = ggplot2::element_text(size = 10))
}

# One activation heat map per map, side by side: the cells of
# activation_heatmap() (neurons by mass, samples by label then total
# activation), each map's activations divided by its largest, so that the
# panels share one colour scale whatever the size of each map's weights.
sparsity_heatmaps <- function(fits, layer, problem, seed) {
  cells <- list()
  cuts <- list()
  keys <- vapply(fits, function(f) map_label(f$maps[[1]]), "")
  for (i in seq_along(fits)) {
    p <- activation_heatmap(fits[[i]], layer = layer, max_samples = 200)
    d <- p$data
    top <- suppressWarnings(max(d$.fill, na.rm = TRUE))
    if (is.finite(top) && top > 0) d$.fill <- d$.fill / top
    d$.map <- keys[i]
    cells[[i]] <- d
    if (length(p$layers) > 1 && !is.null(p$layers[[2]]$data$yintercept))
      cuts[[i]] <- data.frame(.map = keys[i],
                              .y = p$layers[[2]]$data$yintercept)
  }
  cells <- do.call(rbind, cells)
  cells$.map <- factor(cells$.map, levels = keys)
  out <- ggplot2::ggplot(cells, ggplot2::aes(x = .x, y = .y, fill = .fill)) +
    ggplot2::geom_raster() +
    ggplot2::facet_wrap(ggplot2::vars(.map), nrow = 1) +
    ggplot2::scale_x_continuous(expand = c(0, 0)) +
    ggplot2::scale_y_reverse(expand = c(0, 0)) +
    ggplot2::scale_fill_viridis_c(na.value = "white",
                                  name = "activation / largest",
                                  limits = c(0, 1)) +
    ggplot2::guides(fill = ggplot2::guide_colourbar(barwidth = 12)) +
    ggplot2::labs(x = "hidden neuron, by decreasing mass",
                  y = "sample, by label then total activation",
                  title = sprintf("%s, layer %d, seed %d", problem$label,
                                  layer, seed)) +
    paper_theme() +
    ggplot2::theme(panel.grid = ggplot2::element_blank(),
                   panel.background = ggplot2::element_rect(fill = "white"))
  if (length(cuts)) {
    cuts <- do.call(rbind, cuts)
    cuts$.map <- factor(cuts$.map, levels = keys)
    out <- out + ggplot2::geom_hline(data = cuts,
                                     ggplot2::aes(yintercept = .y),
                                     colour = "grey30", linewidth = 0.4)
  }
  out
}
