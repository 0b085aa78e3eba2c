# The main job: every experiment of the vignettes at a chosen scale, its
# figures written as PNG and its tables as CSV, with an index linking
# them. An experiment is a function `experiment_<name>(scale, ..., cache)`
# returning a "mirrorflow_experiment" (see new_experiment()); the
# registry below lists them in the order of the vignettes.

#' Reproduce the paper's findings
#'
#' Runs every experiment of the package's vignettes at the chosen scale and
#' writes each figure as a PNG file and each table as a CSV file under
#' `out`, one directory per experiment, with an `index.html` and a
#' `README.md` that link them with a one-line caption each. The
#' experiments are
#' * [experiment_trajectories()]: one flow per map family on a sparse
#'   linear teacher, its loss, Q-margin and horizon norm against log time
#'   (vignette "Getting started");
#' * [experiment_horizons()]: maps with one horizon reach one max-margin
#'   direction, maps with other horizons other ones (vignette "One
#'   horizon, many maps");
#' * [experiment_rates()]: Q-margin gaps, horizon norms and fitted rates
#'   against log time (vignette "How slow is slow");
#' * [experiment_sparsity()]: activation sparsity of ReLU networks across
#'   maps and seeds (vignette "Sparse and dense features");
#' * [experiment_performance()]: runs to very small losses and the
#'   integrators compared (vignette "Performance and numerics").
#'
#' `scale = "quick"` uses the settings of the vignettes and takes a few
#' minutes; `scale = "full"` uses larger data, more seeds and longer runs
#' (1 h 41 min on two cores with `cores = 2`). Each experiment keeps its
#' finished runs
#' under `out/<experiment>/cache-<scale>/`, so a run that was interrupted
#' resumes where it stopped when called again with the same `out` and
#' `scale`; an experiment that finished is not run again unless
#' `resume = FALSE`.
#'
#' @param out Directory to write into; created if missing.
#' @param scale `"quick"` or `"full"`.
#' @param experiments Names of the experiments to run (a subset of
#'   `names(paper_experiments())`); all by default.
#' @param resume If `TRUE` (the default), experiments already finished at
#'   this scale under `out` are read back instead of run, and cached runs
#'   of unfinished ones are reused. If `FALSE`, everything is run again.
#' @param quiet If `TRUE`, no progress bar and no closing message.
#' @param cores How many experiments to run at once. Above 1 they run in
#'   forked processes (`parallel::mcparallel()`), each experiment started
#'   as soon as a process is free, and each with its futures run
#'   sequentially; the results are the same as with one core, except
#'   for runs that stop at a time limit. Forking is not available on
#'   Windows, where the experiments run one at a time whatever `cores`
#'   says. The default is the option `mirrorflow.cores`, else 2. On two
#'   cores `scale = "full"` took 1 h 41 min with `cores = 2`; its
#'   experiments add up to 2 h 55 min of wall clock and used 2 h 8 min
#'   of CPU.
#' @return Invisibly, a data frame with one row per file written:
#'   `experiment`, `kind` (`"figure"` or `"table"`), `file` (relative to
#'   `out`), `caption`, and `seconds` (time the experiment took).
#'   Needs the ggplot2 package for the figures.
#' @seealso [paper_experiments()]
#' @examples
#' \donttest{
#' res <- reproduce_paper(file.path(tempdir(), "mf-results"),
#'                        experiments = "trajectories")
#' res
#' }
#' @export
reproduce_paper <- function(out = "mirrorflow-results",
                            scale = c("quick", "full"), experiments = NULL,
                            resume = TRUE, quiet = FALSE,
                            cores = getOption("mirrorflow.cores", 2L)) {
  scale <- check_scale(scale)
  if (!is.character(out) || length(out) != 1L || is.na(out) || !nzchar(out))
    stop(sprintf("'out' must be one directory path, not %s", describe(out)),
         call. = FALSE)
  registry <- paper_experiments()
  if (is.null(experiments)) experiments <- names(registry)
  if (!is.character(experiments) || !length(experiments) ||
      anyNA(experiments) || !all(experiments %in% names(registry)))
    stop(sprintf("'experiments' must name experiments among %s, not %s",
                 paste(sprintf("\"%s\"", names(registry)), collapse = ", "),
                 describe(experiments)), call. = FALSE)
  check_flag(resume, "resume")
  check_flag(quiet, "quiet")
  cores <- check_number(cores, "cores", lower = 1, upper = 1024,
                        integer = TRUE)
  if (cores > 1 && .Platform$OS.type == "windows") {
    if (!quiet && !missing(cores))
      cli::cli_alert_info(paste("'cores' = {cores} needs forked processes,",
                                "which Windows lacks; running one",
                                "experiment at a time"))
    cores <- 1L
  }
  need_package("ggplot2", "reproduce_paper()")
  run_experiments(out, scale, registry[experiments], resume, quiet,
                  as.integer(cores))
}

# The loop of reproduce_paper() over a registry of experiment functions
# (a named list), apart so that the tests can hand it experiments of
# their own. With `cores` above 1 the experiments that are not read back
# run in forked processes, at most `cores` at a time, each started as soon
# as another finishes.
run_experiments <- function(out, scale, registry, resume, quiet,
                            cores = 1L) {
  dir.create(out, recursive = TRUE, showWarnings = FALSE)
  if (!dir.exists(out))
    stop(sprintf("'out' (%s) could not be created", out), call. = FALSE)
  experiments <- names(registry)
  rows <- list()
  # finished experiments are read back first, whatever the cores
  if (resume) for (name in experiments) {
    marker <- file.path(out, name, "experiment.rds")
    if (!file.exists(marker)) next
    done <- tryCatch(readRDS(marker), error = function(e) NULL)
    if (identical(done$scale, scale)) rows[[name]] <- done
  }
  todo <- setdiff(experiments, names(rows))
  if (!quiet) {
    current <- ""
    bar <- cli::cli_progress_bar(
      total = length(experiments),
      format = paste("{cli::pb_bar} {cli::pb_current}/{cli::pb_total}",
                     "experiments | {current} | {cli::pb_elapsed}"),
      clear = FALSE)
    cli::cli_progress_update(inc = length(rows), id = bar)
  }
  one <- function(name) run_one_experiment(out, name, scale,
                                           registry[[name]], resume)
  if (cores > 1L && length(todo) > 1L) {
    rows <- c(rows, run_forked(todo, one, cores, function(running, n) {
      if (quiet) return()
      current <<- paste(running, collapse = ", ")
      cli::cli_progress_update(inc = n, id = bar)
    }))
  } else {
    for (name in todo) {
      if (!quiet) {
        current <- name
        cli::cli_progress_update(inc = 0, id = bar)
      }
      rows[[name]] <- one(name)
      if (!quiet) cli::cli_progress_update(id = bar)
    }
  }
  rows <- rows[experiments]
  if (!quiet) cli::cli_progress_done(id = bar)
  files <- do.call(rbind, c(list(empty_files()),
                            unname(lapply(rows, `[[`, "files"))))
  rownames(files) <- NULL
  failed <- Filter(function(r) !is.null(r$error), rows)
  errors <- vapply(failed, `[[`, "", "error")
  write_index(out, files, vapply(rows, `[[`, "", "title"),
              vapply(rows, `[[`, 1, "seconds"), scale, errors)
  if (length(failed))
    warning(sprintf(paste("%d experiment(s) failed and were left out: %s;",
                          "call again with the same 'out' to retry them"),
                    length(failed),
                    paste(sprintf("%s (%s)", names(errors), errors),
                          collapse = "; ")), call. = FALSE)
  if (!quiet)
    cli::cli_alert_success(sprintf(
      "Wrote %d figures and %d tables under %s; open %s",
      sum(files$kind == "figure"), sum(files$kind == "table"),
      normalizePath(out), file.path(normalizePath(out), "index.html")))
  invisible(files)
}

# One experiment run and written: the record that goes in the index, with
# `error` set if it failed. One experiment failing does not lose the
# others: its error goes in the index, no marker is written, and the next
# call retries it (with its finished runs cached).
run_one_experiment <- function(out, name, scale, fun, resume) {
  dir <- file.path(out, name)
  dir.create(dir, recursive = TRUE, showWarnings = FALSE)
  cache <- file.path(dir, paste0("cache-", scale))
  if (!resume) unlink(cache, recursive = TRUE)
  t0 <- proc.time()[["elapsed"]]
  done <- tryCatch({
    ex <- fun(scale = scale, cache = cache)
    write_experiment(ex, dir, name, scale, proc.time()[["elapsed"]] - t0)
  }, error = function(e) {
    list(name = name, title = name, scale = scale, files = empty_files(),
         seconds = proc.time()[["elapsed"]] - t0,
         error = conditionMessage(e))
  })
  if (is.null(done$error)) saveRDS(done, file.path(dir, "experiment.rds"))
  done
}

# `one(name)` for every name, in forked processes (parallel::mcparallel),
# at most `cores` at a time; `report(running, finished)` is called
# whenever the set of running jobs changes. A child that dies without a
# value (killed, or crashed) is reported as that experiment's error. Each
# child runs the futures of its experiment sequentially: a plan of the
# parent's with workers of its own is not the child's to use.
run_forked <- function(names, one, cores, report) {
  rows <- list()
  jobs <- list()
  queue <- names
  # on an interrupt or an error here, the children still running are
  # stopped and reaped rather than left behind
  on.exit(if (length(jobs)) {
    tools::pskill(vapply(jobs, function(j) j$pid, 1L), tools::SIGTERM)
    parallel::mccollect(jobs, wait = TRUE)
  }, add = TRUE)
  while (length(queue) || length(jobs)) {
    while (length(queue) && length(jobs) < cores) {
      name <- queue[1]
      queue <- queue[-1]
      jobs[[name]] <- parallel::mcparallel({
        future::plan("sequential")
        one(name)
      }, name = name, mc.set.seed = TRUE, silent = FALSE)
      report(names(jobs), 0)
    }
    # a child that died is reported below, with its experiment's name,
    # rather than as mccollect()'s anonymous warning
    got <- withCallingHandlers(
      parallel::mccollect(jobs, wait = FALSE, timeout = 1),
      warning = function(w) {
        if (grepl("did not deliver", conditionMessage(w)))
          invokeRestart("muffleWarning")
      })
    if (is.null(got)) next
    # mccollect() names each result by its job's name, the experiment's
    for (name in names(got)) {
      val <- got[[name]]
      if (!is.list(val) || is.null(val$name) || inherits(val, "try-error"))
        val <- list(name = name, title = name, scale = NA_character_,
                    files = empty_files(), seconds = NA_real_,
                    error = if (inherits(val, "try-error"))
                      conditionMessage(attr(val, "condition")) else
                        "its process ended without a result")
      rows[[name]] <- val
      jobs[[name]] <- NULL
      report(names(jobs), 1)
    }
  }
  rows
}

#' The experiments behind the vignettes
#'
#' The experiment functions [reproduce_paper()] runs, by name, in the
#' order of the vignettes. Each can be called on its own with its settings
#' as arguments; each returns a `mirrorflow_experiment`, a list with
#' `name`, `title`, `scale`, `settings` (the values used), `tables` (named
#' data frames), `figures` (named ggplot objects), `captions` (one line
#' per table and figure, named like them) and `seconds`.
#'
#' @return A named list of functions.
#' @examples
#' names(paper_experiments())
#' @export
paper_experiments <- function() {
  list(trajectories = experiment_trajectories,
       horizons = experiment_horizons,
       rates = experiment_rates,
       sparsity = experiment_sparsity,
       performance = experiment_performance)
}

# ---- the experiment object ---------------------------------------------

# The value of every experiment function. `figures` are ggplot objects,
# `tables` data frames, `captions` a named character vector with one
# entry per figure and table; `sizes` optionally gives c(width, height)
# in inches per figure (default 7 x 4.5).
new_experiment <- function(name, title, scale, settings, tables = list(),
                           figures = list(), captions = character(),
                           sizes = list(), seconds = NA_real_) {
  keys <- c(names(tables), names(figures))
  missing <- setdiff(keys, names(captions))
  if (length(missing))
    stop(sprintf("internal: experiment '%s' has no caption for %s", name,
                 paste(missing, collapse = ", ")), call. = FALSE)
  if (anyDuplicated(keys))
    stop(sprintf("internal: experiment '%s' repeats the name %s", name,
                 paste(keys[duplicated(keys)], collapse = ", ")),
         call. = FALSE)
  structure(list(name = name, title = title, scale = scale,
                 settings = settings, tables = tables, figures = figures,
                 captions = captions[keys], sizes = sizes,
                 seconds = seconds),
            class = "mirrorflow_experiment")
}

#' @export
format.mirrorflow_experiment <- function(x, ...) {
  setting <- vapply(x$settings, setting_text, "")
  c(sprintf("<mirrorflow experiment '%s', %s scale>: %s", x$name, x$scale,
            x$title),
    if (length(setting)) sprintf("  %s: %s", names(setting), setting),
    sprintf("  tables: %s", if (length(x$tables))
      paste(sprintf("%s (%d rows)", names(x$tables),
                    vapply(x$tables, nrow, 1L)), collapse = ", ") else "none"),
    sprintf("  figures: %s", if (length(x$figures))
      paste(names(x$figures), collapse = ", ") else "none"))
}

#' @export
print.mirrorflow_experiment <- function(x, ...) {
  cat(format(x, ...), sep = "\n")
  invisible(x)
}

# One setting as text: vectors joined by ", ", list elements formatted
# one by one (maps and nets print their labels).
setting_text <- function(v) {
  one <- function(e) {
    if (inherits(e, "mirror_map")) return(map_label(e))
    if (is.character(e)) return(paste(e, collapse = ", "))
    paste(format(e), collapse = ", ")
  }
  if (is.list(v) && !is.object(v))
    return(paste(vapply(v, one, ""), collapse = "; "))
  one(v)
}

check_scale <- function(scale) {
  if (!is.character(scale) || !length(scale) || anyNA(scale) ||
      !all(scale %in% c("quick", "full")))
    stop(sprintf("'scale' must be \"quick\" or \"full\", not %s",
                 describe(scale)), call. = FALSE)
  scale[1]
}

check_cache <- function(cache) {
  if (!is.null(cache) && (!is.character(cache) || length(cache) != 1L ||
                          is.na(cache) || !nzchar(cache)))
    stop(sprintf("'cache' must be NULL or one directory path, not %s",
                 describe(cache)), call. = FALSE)
  cache
}

# Evaluates `expr` once per `key`: with a cache directory the value is
# saved there as <key>.rds and read back on later calls, which is what
# lets a long experiment resume. The key should carry every setting the
# value depends on; characters other than letters, digits, '.', '-' and
# '_' are replaced.
cached <- function(cache, key, expr) {
  if (is.null(cache)) return(expr)
  key <- gsub("[^A-Za-z0-9._-]+", "_", key)
  file <- file.path(cache, paste0(key, ".rds"))
  if (file.exists(file)) {
    val <- tryCatch(readRDS(file), error = function(e) NULL)
    if (!is.null(val)) return(val)
  }
  val <- expr
  dir.create(cache, recursive = TRUE, showWarnings = FALSE)
  tmp <- paste0(file, ".tmp")
  saveRDS(val, tmp)
  file.rename(tmp, file)
  val
}

# The look shared by the experiments' figures.
paper_theme <- function() {
  ggplot2::theme_bw(base_size = 11) +
    ggplot2::theme(legend.position = "bottom",
                   panel.grid.minor = ggplot2::element_blank())
}

# ---- writing -------------------------------------------------------------

write_experiment <- function(ex, dir, name, scale, seconds) {
  if (!inherits(ex, "mirrorflow_experiment"))
    stop(sprintf("internal: experiment '%s' returned %s", name,
                 describe(ex)), call. = FALSE)
  rows <- list()
  for (f in names(ex$figures)) {
    size <- ex$sizes[[f]] %||% c(7, 4.5)
    file <- paste0(f, ".png")
    ggplot2::ggsave(file.path(dir, file), ex$figures[[f]], width = size[1],
                    height = size[2], dpi = 120, units = "in")
    rows[[length(rows) + 1L]] <- data.frame(
      experiment = name, kind = "figure", file = file.path(name, file),
      caption = ex$captions[[f]], seconds = seconds,
      stringsAsFactors = FALSE)
  }
  for (tb in names(ex$tables)) {
    file <- paste0(tb, ".csv")
    utils::write.csv(ex$tables[[tb]], file.path(dir, file),
                     row.names = FALSE)
    rows[[length(rows) + 1L]] <- data.frame(
      experiment = name, kind = "table", file = file.path(name, file),
      caption = ex$captions[[tb]], seconds = seconds,
      stringsAsFactors = FALSE)
  }
  settings <- vapply(ex$settings, setting_text, "")
  utils::write.csv(data.frame(setting = names(settings),
                              value = unname(settings)),
                   file.path(dir, "settings.csv"), row.names = FALSE)
  files <- if (length(rows)) do.call(rbind, rows) else empty_files()
  list(name = name, title = ex$title, scale = scale, files = files,
       seconds = seconds)
}

empty_files <- function() {
  data.frame(experiment = character(), kind = character(),
             file = character(), caption = character(), seconds = double(),
             stringsAsFactors = FALSE)
}

html_escape <- function(s) {
  s <- gsub("&", "&amp;", s, fixed = TRUE)
  s <- gsub("<", "&lt;", s, fixed = TRUE)
  gsub(">", "&gt;", s, fixed = TRUE)
}

write_index <- function(out, files, titles, seconds, scale,
                        errors = character()) {
  md <- c("# mirrorflow: reproduced findings", "",
          sprintf("Scale `%s`, written %s by mirrorflow %s.", scale,
                  format(Sys.time(), "%Y-%m-%d %H:%M"),
                  utils::packageVersion("mirrorflow")), "")
  html <- c("<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\">",
            "<title>mirrorflow: reproduced findings</title>",
            "<style>body{font-family:sans-serif;max-width:60em;margin:auto}",
            "img{max-width:100%;border:1px solid #ddd}</style></head><body>",
            "<h1>mirrorflow: reproduced findings</h1>",
            sprintf("<p>%s</p>", html_escape(md[3])))
  for (e in names(titles)) {
    f <- files[files$experiment == e, ]
    secs <- seconds[[e]]
    md <- c(md, sprintf("## %s: %s (%.0f s)", e, titles[[e]], secs), "")
    html <- c(html, sprintf("<h2>%s <small>(%s, %.0f s)</small></h2>",
                            html_escape(titles[[e]]), html_escape(e), secs))
    if (e %in% names(errors)) {
      md <- c(md, sprintf("**Failed**: %s", errors[[e]]), "")
      html <- c(html, sprintf("<p><strong>Failed</strong>: %s</p>",
                              html_escape(errors[[e]])))
      next
    }
    for (i in seq_len(nrow(f))) {
      if (f$kind[i] == "figure") {
        md <- c(md, sprintf("- [%s](%s): %s", basename(f$file[i]), f$file[i],
                            f$caption[i]))
        html <- c(html, sprintf(
          paste0("<figure><img src=\"%s\" alt=\"%s\">",
                 "<figcaption>%s</figcaption></figure>"),
          f$file[i], html_escape(f$caption[i]), html_escape(f$caption[i])))
      } else {
        md <- c(md, sprintf("- [%s](%s) (table): %s", basename(f$file[i]),
                            f$file[i], f$caption[i]))
        html <- c(html, sprintf("<p><a href=\"%s\">%s</a> (table): %s</p>",
                                f$file[i], basename(f$file[i]),
                                html_escape(f$caption[i])))
      }
    }
    md <- c(md, sprintf("- [settings.csv](%s/settings.csv): settings used",
                        e), "")
    html <- c(html, sprintf(
      "<p><a href=\"%s/settings.csv\">settings.csv</a>: settings used</p>", e))
  }
  writeLines(md, file.path(out, "README.md"))
  writeLines(c(html, "</body></html>"), file.path(out, "index.html"))
  invisible(NULL)
}

`%||%` <- function(a, b) if (is.null(a)) b else a
