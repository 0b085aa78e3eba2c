# Many flows at once: a grid of maps, widths, seeds and integrators run
# through the future framework, one tidy row per run, and the summaries
# across seeds that a paper prints (compare_sparsity()).

#' A grid of runs for mirror_sweep()
#'
#' Every combination of the values given, like [expand.grid()], with mirror
#' maps allowed as values: pass `map` a list of [mirror_map()] objects
#' (named or not). Other columns that [mirror_sweep()] understands are
#' `width` (hidden width; a value like `"64x64"` gives two hidden layers),
#' `seed` (the initialisation seed), `integrator`, `activation`,
#' `init_scale` and `loss`; any other column is carried through to the
#' results unchanged.
#'
#' @param map A mirror map or a list of them.
#' @param ... Further columns, each a vector of values.
#' @return A data frame with a list column `map` and a character column
#'   `map_label`, one row per run.
#' @examples
#' g <- sweep_grid(map = list(mirror_map("euclidean"),
#'                            mirror_map("pnorm", p = 3)),
#'                 width = c(16, 32), seed = 1:2)
#' nrow(g)
#' g[, c("map_label", "width", "seed")]
#' @export
sweep_grid <- function(map = list(mirror_map("euclidean")), ...) {
  if (is_mirror_map(map)) map <- list(map)
  if (!is.list(map) || length(map) == 0)
    stop("'map' must be a mirror_map or a non-empty list of them",
         call. = FALSE)
  for (k in seq_along(map))
    if (!is_mirror_map(map[[k]]))
      stop(sprintf("'map' element %d must be a mirror_map, not %s", k,
                   describe(map[[k]])), call. = FALSE)
  cols <- list(...)
  if (length(cols) && (is.null(names(cols)) || any(names(cols) == "")))
    stop("every further argument of sweep_grid() must be named",
         call. = FALSE)
  g <- do.call(expand.grid, c(list(.map = seq_along(map)), cols,
                              list(stringsAsFactors = FALSE,
                                   KEEP.OUT.ATTRS = FALSE)))
  labels <- if (!is.null(names(map)) && all(names(map) != ""))
    names(map) else vapply(map, map_label, "")
  out <- data.frame(map_label = labels[g$.map], stringsAsFactors = FALSE)
  out$map <- unname(map)[g$.map]
  cbind(out, g[setdiff(names(g), ".map")])
}

#' Run a grid of mirror flows
#'
#' Runs one [mirror_flow()] per row of `grid` on the same data, through
#' [future.apply::future_lapply()], so the user's [future::plan()] decides
#' where: sequentially, on local cores (`plan(multisession)`), on other
#' machines (`plan(cluster)`) or on a scheduler (future.batchtools). Each
#' run draws its initial weights from `set.seed(seed)` with R's default
#' generator inside the run, so a row gives the same result under every
#' plan, and rows that differ only in the map start from the same weights.
#' A run that fails is reported in its row (`status` and `error`) and the
#' others are kept.
#'
#' Progress is reported through progressr when it is installed: wrap the
#' call in `progressr::with_progress()` to see it.
#'
#' Grid columns understood (see [sweep_grid()]; all optional except
#' `map`):
#' * `map`: a list column of [mirror_map()]s, or a character column of map
#'   families with their parameters in columns `p`, `q` and `beta` (`NA`
#'   where a family takes none);
#' * `width`: hidden width(s) of a fully connected network from
#'   `ncol(x)` to one output; a number, or a string such as `"64x64"`;
#'   `0` or missing for a linear model (or the `net` argument's network);
#' * `activation`, `integrator`, `loss`, `init_scale`: as in
#'   [mirror_flow()];
#' * `seed`: the initialisation seed (default 1).
#'
#' @param grid A data frame of runs, one per row (from [sweep_grid()] or
#'   [expand.grid()]).
#' @param data A `mirrorflow_data` object (inputs and labels).
#' @param test Optional held-out `mirrorflow_data`; adds `test_accuracy`.
#' @param net The network used for rows without a `width` column.
#' @param control A [flow_control()] object used by every run, so that all
#'   runs stop at the same log-loss.
#' @param sparsity Compute [feature_sparsity()] statistics on the training
#'   inputs for networks with hidden layers.
#' @param keep_fits Keep the fits, in the attribute `"fits"` of the result.
#' @return An object of class `mirror_sweep`, a data frame with one row per
#'   run: `run`, the grid columns (the map as its label `map`, and `family`),
#'   `status` (`"ok"` or `"failed"`), `error`, the [glance()] columns of the
#'   fit, `test_accuracy` when `test` is given, and, for networks with
#'   hidden layers, the layer summaries of [feature_sparsity()]
#'   (`active_fraction`, `dead_fraction`, `hoyer_sample`, `gini_sample`,
#'   `pr_sample`, `hoyer_neuron`, `gini_neuron`, `pr_neuron`, `mass_gini`,
#'   `mass_50`, `mass_90`, `mass_99`) of the first hidden layer, and of
#'   deeper layers with a suffix `_layer2`, ...
#' @seealso [compare_sparsity()]
#' @examples
#' d <- simulate_sparse_linear(100, 10, 2, gap = 0.1, seed = 1)
#' g <- sweep_grid(map = list(mirror_map("euclidean"),
#'                            mirror_map("hypentropy", beta = 0.1)),
#'                 width = 8, seed = 1:2)
#' sw <- mirror_sweep(g, d, control = flow_control(target_log_loss = -3,
#'                                                 rtol = 1e-4))
#' sw[, c("map", "seed", "log_loss", "active_fraction", "gini_sample")]
#' @export
mirror_sweep <- function(grid, data, test = NULL, net = NULL,
                         control = flow_control(), sparsity = TRUE,
                         keep_fits = FALSE) {
  if (is.list(data) && !is.null(data$x) && is.null(data$y))
    stop("'data' has no labels 'y'; a sweep needs labelled data",
         call. = FALSE)
  check_data_set(data)
  if (is.null(data$y) || length(data$y) != nrow(data$x))
    stop("'data' must hold labels 'y', one per row of 'data$x'",
         call. = FALSE)
  if (!is.null(test)) {
    check_data_set(test, "test")
    if (ncol(test$x) != ncol(data$x))
      stop(sprintf("'test' must have %d columns like 'data', not %d",
                   ncol(data$x), ncol(test$x)), call. = FALSE)
  }
  if (!is.null(net)) check_net(net)
  if (!inherits(control, "flow_control"))
    stop(sprintf("'control' must come from flow_control(), not %s",
                 describe(control)), call. = FALSE)
  sparsity <- check_flag(sparsity, "sparsity")
  keep_fits <- check_flag(keep_fits, "keep_fits")
  runs <- sweep_runs(grid, ncol(data$x), net)

  if (requireNamespace("progressr", quietly = TRUE)) {
    tick <- progressr::progressor(steps = length(runs))
  } else tick <- function(...) NULL
  one <- function(run) {
    r <- sweep_one(run, data, test, control, sparsity, keep_fits)
    tick(sprintf("run %d: %s", run$id, r$row$status))
    r
  }
  # Each run seeds itself; the futures' own streams (which future.apply
  # draws from the session's generator) are restored afterwards.
  res <- keep_session_rng(
    future.apply::future_lapply(runs, one, future.seed = TRUE,
                                future.packages = "mirrorflow"))

  rows <- lapply(res, function(r) r$row)
  out <- bind_rows_fill(rows)
  extra <- setdiff(names(grid), c("map", "map_label", "p", "q", "beta"))
  info <- grid[extra]
  out <- cbind(data.frame(run = seq_along(runs),
                          map = vapply(runs, function(r) r$label, ""),
                          family = vapply(runs, function(r) r$map$family, ""),
                          stringsAsFactors = FALSE),
               info, out[setdiff(names(out), c("map", names(info)))])
  rownames(out) <- NULL
  if (keep_fits) attr(out, "fits") <- lapply(res, function(r) r$fit)
  class(out) <- c("mirror_sweep", "data.frame")
  failed <- sum(out$status == "failed")
  if (failed > 0)
    warning(sprintf("%d of %d runs failed; see the 'error' column", failed,
                    nrow(out)), call. = FALSE)
  out
}

# The grid checked and turned into one list per run, before anything runs.
sweep_runs <- function(grid, d, net) {
  if (!is.data.frame(grid) || nrow(grid) == 0)
    stop(sprintf("'grid' must be a data frame with one row per run, not %s",
                 describe(grid)), call. = FALSE)
  if (!"map" %in% names(grid))
    stop("'grid' must have a column 'map' (mirror maps or family names)",
         call. = FALSE)
  get <- function(col, i, default) {
    if (!col %in% names(grid)) return(default)
    v <- grid[[col]][[i]]
    if (length(v) != 1 || (is.atomic(v) && is.na(v))) default else v
  }
  lapply(seq_len(nrow(grid)), function(i) {
    where <- sprintf("'grid' row %d", i)
    m <- grid$map[[i]]
    if (!is_mirror_map(m)) {
      if (!is.character(m) || length(m) != 1)
        stop(sprintf("%s: 'map' must be a mirror_map or a family name, not %s",
                     where, describe(m)), call. = FALSE)
      families <- setdiff(names(family_codes), "custom")
      if (!m %in% families)
        stop(sprintf("%s: unknown map family \"%s\"; use one of %s", where,
                     m, paste0('"', families, '"', collapse = ", ")),
             call. = FALSE)
      m <- tryCatch(mirror_map(m, p = get("p", i, NULL), q = get("q", i, NULL),
                               beta = get("beta", i, NULL)),
                    error = function(e)
                      stop(sprintf("%s: %s", where, conditionMessage(e)),
                           call. = FALSE))
    }
    width <- get("width", i, 0)
    act <- get("activation", i, "relu")
    rnet <- tryCatch({
      if (identical(width, 0) || identical(width, "0") ||
          identical(width, 0L)) {
        if (is.null(net)) homogeneous_net(c(d, 1), "linear") else net
      } else {
        w <- if (is.character(width))
          suppressWarnings(as.numeric(strsplit(width, "x", fixed = TRUE)[[1]]))
          else width
        if (anyNA(w)) stop(sprintf("'width' \"%s\" is not a number or a form",
                                   width), " like \"64x64\"", call. = FALSE)
        homogeneous_net(c(d, w, 1), act)
      }
    }, error = function(e)
      stop(sprintf("%s: %s", where, conditionMessage(e)), call. = FALSE))
    if (rnet$widths[1] != d)
      stop(sprintf("'net' must take %d inputs, like the data", d),
           call. = FALSE)
    integrator <- get("integrator", i, "adaptive")
    loss <- get("loss", i, "exponential")
    tryCatch({
      match_choice(integrator, integrator_names, "integrator")
      match_choice(loss, c("exponential", "logistic"), "loss")
    }, error = function(e)
      stop(sprintf("%s: %s", where, conditionMessage(e)), call. = FALSE))
    seed <- get("seed", i, 1)
    check_number(seed, sprintf("seed (%s)", where), integer = TRUE)
    scale <- get("init_scale", i, 1)
    check_number(scale, sprintf("init_scale (%s)", where), lower = 0,
                 strict = TRUE)
    list(id = i, map = m, label = get("map_label", i, map_label(m)),
         net = rnet, integrator = integrator, loss = loss, seed = seed,
         init_scale = scale)
  })
}

# One run, errors caught into its row.
sweep_one <- function(run, data, test, control, sparsity, keep_fits) {
  fit <- NULL
  warn <- character(0)
  row <- tryCatch(withCallingHandlers({
    fit <- with_seed(run$seed, {
      init <- init_weights(run$net, run$init_scale)
      mirror_flow(data$x, data$y, net = run$net, map = run$map,
                  loss = run$loss, integrator = run$integrator,
                  control = control, init = init, progress = FALSE)
    })
    g <- glance(fit, newdata = test)
    g$map <- NULL
    r <- cbind(data.frame(status = "ok", error = NA_character_,
                          warnings = NA_character_,
                          stringsAsFactors = FALSE), g)
    if (sparsity && fit$net$type != "diagonal" && fit$net$nlayers > 1) {
      ly <- feature_sparsity(fit, along = FALSE)$layers
      keep <- c("active_fraction", "dead_fraction", "hoyer_sample",
                "gini_sample", "pr_sample", "hoyer_neuron", "gini_neuron",
                "pr_neuron", "mass_gini", "mass_50", "mass_90", "mass_99")
      for (l in seq_len(nrow(ly))) {
        vals <- ly[l, keep]
        if (l > 1) names(vals) <- paste0(keep, "_layer", l)
        r <- cbind(r, vals)
      }
    }
    r
  }, warning = function(w) {
    warn <<- c(warn, conditionMessage(w))
    invokeRestart("muffleWarning")
  }), error = function(e) {
    data.frame(status = "failed", error = conditionMessage(e),
               warnings = NA_character_, stringsAsFactors = FALSE)
  })
  if (length(warn)) row$warnings <- paste(unique(warn), collapse = "; ")
  list(row = row, fit = if (keep_fits) fit)
}

# rbind for data frames with different columns, missing ones as NA.
bind_rows_fill <- function(rows) {
  cols <- unique(unlist(lapply(rows, names)))
  filled <- lapply(rows, function(r) {
    for (cl in setdiff(cols, names(r))) r[[cl]] <- NA
    r[cols]
  })
  out <- do.call(rbind, filled)
  rownames(out) <- NULL
  out
}

#' @export
print.mirror_sweep <- function(x, ...) {
  ok <- sum(x$status == "ok")
  cat(sprintf("<mirror_sweep> %d runs (%d ok, %d failed) over %d maps\n",
              nrow(x), ok, nrow(x) - ok, length(unique(x$map))))
  y <- x
  class(y) <- "data.frame"
  show <- intersect(c("run", "map", "width", "seed", "status", "log_loss",
                      "q_margin", "accuracy", "test_accuracy",
                      "active_fraction", "gini_sample"), names(y))
  print(utils::head(y[show], 20), row.names = FALSE)
  if (nrow(y) > 20) cat(sprintf("... and %d more rows\n", nrow(y) - 20))
  invisible(x)
}

#' Compare sparsity across maps
#'
#' Summarises sweep results over seeds: for every metric and group (by
#' default the map), the number of runs, the mean, the standard deviation,
#' and a percentile bootstrap confidence interval of the mean (resampling
#' runs within the group); and, per metric, a Kruskal-Wallis rank test of
#' whether the groups differ (a one-way ANOVA F test beside it). Failed
#' runs and missing values are left out.
#'
#' With few runs per group (five seeds, say) the bootstrap interval is
#' narrow by construction: it cannot be wider than the range of the runs.
#' The t interval `t_lower`, `t_upper` is given beside it.
#'
#' @param sweep A [mirror_sweep()] result (or any data frame with the
#'   columns named in `metric` and `by`).
#' @param metric Names of numeric columns to summarise.
#' @param by Name(s) of the grouping column(s).
#' @param level Confidence level.
#' @param R Bootstrap resamples.
#' @param seed Seed of the bootstrap (the session's generator is left as it
#'   was).
#' @return An object of class `sparsity_comparison`: a data frame with
#'   columns `metric`, the `by` columns, `n`, `mean`, `sd`, `lower`,
#'   `upper` (bootstrap), `t_lower`, `t_upper`, and an attribute `"tests"`,
#'   a data frame with `metric`, `kruskal_statistic`, `kruskal_p`,
#'   `anova_f`, `anova_p` (all `NA` when fewer than two groups have data).
#' @examples
#' d <- simulate_sparse_linear(100, 10, 2, gap = 0.1, seed = 1)
#' g <- sweep_grid(map = list(mirror_map("euclidean"),
#'                            mirror_map("hypentropy", beta = 0.1)),
#'                 width = 8, seed = 1:3)
#' sw <- mirror_sweep(g, d, control = flow_control(target_log_loss = -3,
#'                                                 rtol = 1e-4))
#' compare_sparsity(sw, c("active_fraction", "gini_sample"), R = 200)
#' @export
compare_sparsity <- function(sweep, metric = c("active_fraction",
                                               "gini_sample"),
                             by = "map", level = 0.95, R = 2000, seed = 1) {
  if (!is.data.frame(sweep))
    stop(sprintf("'sweep' must be a mirror_sweep result, not %s",
                 describe(sweep)), call. = FALSE)
  if (!is.character(metric) || length(metric) == 0)
    stop("'metric' must name one or more columns of 'sweep'", call. = FALSE)
  if (!is.character(by) || length(by) == 0)
    stop("'by' must name one or more columns of 'sweep'", call. = FALSE)
  miss <- setdiff(c(metric, by), names(sweep))
  if (length(miss))
    stop(sprintf("'sweep' has no column%s %s", if (length(miss) > 1) "s"
                 else "", paste0('"', miss, '"', collapse = ", ")),
         call. = FALSE)
  for (m in metric)
    if (!is.numeric(sweep[[m]]))
      stop(sprintf("'metric' column \"%s\" is not numeric", m),
           call. = FALSE)
  level <- check_number(level, "level", lower = 0, upper = 1, strict = TRUE)
  if (level >= 1) stop("'level' must be below 1", call. = FALSE)
  R <- check_number(R, "R", lower = 1, integer = TRUE)
  seed <- check_number(seed, "seed", integer = TRUE,
                       lower = -.Machine$integer.max,
                       upper = .Machine$integer.max)
  df <- as.data.frame(sweep)
  if ("status" %in% names(df)) df <- df[df$status == "ok", , drop = FALSE]
  key <- interaction(df[by], drop = TRUE, lex.order = TRUE)
  groups <- levels(key)
  alpha <- (1 - level) / 2

  rows <- list()
  tests <- list()
  with_seed(seed, {
    for (m in metric) {
      for (g in groups) {
        v <- df[[m]][key == g]
        v <- v[is.finite(v)]
        n <- length(v)
        boot <- if (n > 0) {
          vapply(seq_len(R), function(b) mean(v[sample.int(n, n, TRUE)]), 0)
        }
        se <- if (n > 1) stats::sd(v) / sqrt(n) else NA_real_
        tq <- if (n > 1) stats::qt(1 - alpha, n - 1) else NA_real_
        first <- df[key == g, by, drop = FALSE][1, , drop = FALSE]
        rows[[length(rows) + 1]] <- cbind(
          data.frame(metric = m, stringsAsFactors = FALSE), first,
          data.frame(n = n, mean = if (n) mean(v) else NA_real_,
                     sd = if (n > 1) stats::sd(v) else NA_real_,
                     lower = if (n) unname(stats::quantile(boot, alpha))
                             else NA_real_,
                     upper = if (n) unname(stats::quantile(boot, 1 - alpha))
                             else NA_real_,
                     t_lower = if (n > 1) mean(v) - tq * se else NA_real_,
                     t_upper = if (n > 1) mean(v) + tq * se else NA_real_))
      }
      ok <- is.finite(df[[m]])
      gk <- droplevels(key[ok])
      tests[[m]] <- if (nlevels(gk) >= 2 && sum(ok) > nlevels(gk)) {
        kw <- stats::kruskal.test(df[[m]][ok], gk)
        av <- tryCatch(stats::oneway.test(df[[m]][ok] ~ gk, var.equal = TRUE),
                       error = function(e) NULL)
        data.frame(metric = m, kruskal_statistic = unname(kw$statistic),
                   kruskal_p = kw$p.value,
                   anova_f = if (is.null(av)) NA_real_
                             else unname(av$statistic),
                   anova_p = if (is.null(av)) NA_real_ else av$p.value)
      } else {
        data.frame(metric = m, kruskal_statistic = NA_real_,
                   kruskal_p = NA_real_, anova_f = NA_real_,
                   anova_p = NA_real_)
      }
    }
  })
  out <- do.call(rbind, rows)
  rownames(out) <- NULL
  tt <- do.call(rbind, tests)
  rownames(tt) <- NULL
  attr(out, "tests") <- tt
  attr(out, "level") <- level
  class(out) <- c("sparsity_comparison", "data.frame")
  out
}

#' @export
print.sparsity_comparison <- function(x, digits = 4, ...) {
  lev <- attr(x, "level")
  cat(sprintf("<sparsity_comparison> mean over runs, %g%% intervals\n",
              100 * lev))
  y <- x
  attr(y, "tests") <- NULL
  attr(y, "level") <- NULL
  class(y) <- "data.frame"
  print(y, digits = digits, row.names = FALSE)
  cat("\nDo the groups differ? (Kruskal-Wallis; one-way ANOVA)\n")
  print(attr(x, "tests"), digits = digits, row.names = FALSE)
  invisible(x)
}
