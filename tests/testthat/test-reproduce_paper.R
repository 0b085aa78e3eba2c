# The main job's frame (resume, files, index, failures) with experiments
# made up for the test, and the trajectories experiment against direct
# computations on its fits.

tmp_dir <- function() {
  d <- tempfile("mf-test-")
  dir.create(d)
  d
}

fake_experiment <- function(counter, fail = FALSE) {
  force(counter)
  function(scale = "quick", cache = NULL) {
    counter$calls <- counter$calls + 1
    if (fail) stop("made to fail")
    v <- mirrorflow:::cached(cache, "value", {
      counter$runs <- counter$runs + 1
      data.frame(x = 1:3, y = c(2.5, -1, 1e-300))
    })
    fig <- ggplot2::ggplot(v, ggplot2::aes(x, y)) + ggplot2::geom_point()
    mirrorflow:::new_experiment(
      "fake", "A made-up experiment", scale, settings = list(a = 1:2),
      tables = list(values = v), figures = list(points = fig),
      captions = c(values = "three values", points = "three <points>"))
  }
}

test_that("run_experiments writes figures, tables and an index, and resumes", {
  skip_if_not_installed("ggplot2")
  out <- tmp_dir()
  cnt <- new.env()
  cnt$calls <- 0
  cnt$runs <- 0
  reg <- list(fake = fake_experiment(cnt))
  files <- mirrorflow:::run_experiments(out, "quick", reg, TRUE, TRUE)
  expect_equal(files$kind, c("figure", "table"))
  expect_equal(files$file, c("fake/points.png", "fake/values.csv"))
  png <- file.path(out, "fake", "points.png")
  expect_true(file.exists(png))
  expect_identical(readBin(png, "raw", 8),
                   as.raw(c(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)))
  csv <- utils::read.csv(file.path(out, "fake", "values.csv"))
  expect_equal(csv, data.frame(x = 1:3, y = c(2.5, -1, 1e-300)))
  set <- utils::read.csv(file.path(out, "fake", "settings.csv"))
  expect_equal(set$value, "1, 2")
  html <- readLines(file.path(out, "index.html"))
  expect_true(any(grepl("<img src=\"fake/points.png\"", html, fixed = TRUE)))
  expect_true(any(grepl("three &lt;points&gt;", html, fixed = TRUE)))
  md <- readLines(file.path(out, "README.md"))
  expect_true(any(grepl("[values.csv](fake/values.csv) (table): three values",
                        md, fixed = TRUE)))

  # a finished experiment is read back, not run again
  mirrorflow:::run_experiments(out, "quick", reg, TRUE, TRUE)
  expect_equal(cnt$calls, 1)
  # another scale runs it again, from an empty cache of its own
  mirrorflow:::run_experiments(out, "full", reg, TRUE, TRUE)
  expect_equal(c(cnt$calls, cnt$runs), c(2, 2))
  # without the marker the cached run is reused ...
  unlink(file.path(out, "fake", "experiment.rds"))
  mirrorflow:::run_experiments(out, "full", reg, TRUE, TRUE)
  expect_equal(c(cnt$calls, cnt$runs), c(3, 2))
  # ... and resume = FALSE runs everything again
  mirrorflow:::run_experiments(out, "full", reg, FALSE, TRUE)
  expect_equal(c(cnt$calls, cnt$runs), c(4, 3))
})

test_that("a failing experiment is reported and does not lose the others", {
  skip_if_not_installed("ggplot2")
  out <- tmp_dir()
  ok <- new.env()
  ok$calls <- ok$runs <- 0
  bad <- new.env()
  bad$calls <- bad$runs <- 0
  reg <- list(broken = fake_experiment(bad, fail = TRUE),
              fine = fake_experiment(ok))
  expect_warning(files <- mirrorflow:::run_experiments(out, "quick", reg,
                                                       TRUE, TRUE),
                 "1 experiment\\(s\\) failed.*broken \\(made to fail\\)")
  expect_equal(unique(files$experiment), "fine")
  expect_true(any(grepl("Failed</strong>: made to fail",
                        readLines(file.path(out, "index.html")))))
  # the failed one is retried, the finished one is not
  expect_warning(mirrorflow:::run_experiments(out, "quick", reg, TRUE, TRUE),
                 "failed")
  expect_equal(c(bad$calls, ok$calls), c(2, 1))
})

# An experiment that records, in its table, the process it ran in and
# when; `how` makes it fail with an R error or kill its own process.
timed_experiment <- function(tag, sleep, how = "ok") {
  function(scale = "quick", cache = NULL) {
    t0 <- as.numeric(Sys.time())
    Sys.sleep(sleep)
    if (how == "error") stop("made to fail")
    if (how == "die") tools::pskill(Sys.getpid(), tools::SIGKILL)
    v <- data.frame(pid = Sys.getpid(), start = t0,
                    end = as.numeric(Sys.time()))
    fig <- ggplot2::ggplot(v, ggplot2::aes(start, end)) +
      ggplot2::geom_point()
    mirrorflow:::new_experiment(
      tag, paste("experiment", tag), scale, settings = list(a = 1),
      tables = list(times = v), figures = list(p = fig),
      captions = c(times = "when", p = "a point"))
  }
}

test_that("cores = 2 runs experiments side by side in processes of their own", {
  skip_if_not_installed("ggplot2")
  skip_on_os("windows")
  reg <- list(a = timed_experiment("a", 1.5), b = timed_experiment("b", 1.5),
              c = timed_experiment("c", 0.2),
              broken = timed_experiment("broken", 0, "error"),
              dead = timed_experiment("dead", 0, "die"))
  out <- tmp_dir()
  expect_warning(
    files <- mirrorflow:::run_experiments(out, "quick", reg, TRUE, TRUE, 2L),
    paste("2 experiment\\(s\\) failed.*broken \\(made to fail\\);",
          "dead \\(its process ended without a result\\)"))
  # the same files, in the registry's order, as one core writes them
  out1 <- tmp_dir()
  expect_warning(files1 <- mirrorflow:::run_experiments(
    out1, "quick", reg[c("a", "b", "c")], TRUE, TRUE, 1L), NA)
  expect_equal(files$file, files1$file)
  times <- lapply(c("a", "b", "c"), function(e)
    utils::read.csv(file.path(out, e, "times.csv")))
  pids <- vapply(times, `[[`, 1, "pid")
  expect_false(any(pids == Sys.getpid()))
  expect_equal(anyDuplicated(pids), 0)
  # a and b were started together, so each began before the other ended
  expect_lt(times[[1]]$start, times[[2]]$end)
  expect_lt(times[[2]]$start, times[[1]]$end)
  html <- readLines(file.path(out, "index.html"))
  expect_true(any(grepl("Failed</strong>: its process ended", html)))
  expect_true(file.exists(file.path(out, "a", "experiment.rds")))
  expect_false(file.exists(file.path(out, "dead", "experiment.rds")))
  # a second call reads the finished ones back and retries the others
  reg$dead <- timed_experiment("dead", 0)
  reg$broken <- timed_experiment("broken", 0)
  files2 <- mirrorflow:::run_experiments(out, "quick", reg, TRUE, TRUE, 2L)
  expect_equal(unique(files2$experiment), names(reg))
  again <- utils::read.csv(file.path(out, "a", "times.csv"))
  expect_equal(again, times[[1]])
  expect_error(reproduce_paper(tempdir(), experiments = "trajectories",
                               cores = 0), "'cores'")
  expect_error(reproduce_paper(tempdir(), experiments = "trajectories",
                               cores = 1.5), "'cores'")
  expect_error(reproduce_paper(tempdir(), experiments = "trajectories",
                               cores = 1e308), "'cores'")
})

test_that("cached() evaluates once per key and keeps keys apart", {
  dir <- tmp_dir()
  n <- 0
  f <- function(k) mirrorflow:::cached(dir, k, {
    n <<- n + 1
    list(k, n)
  })
  expect_equal(f("a b/c"), list("a b/c", 1))
  expect_equal(f("a b/c"), list("a b/c", 1))
  expect_equal(f("other"), list("other", 2))
  expect_equal(n, 2)
  expect_true(file.exists(file.path(dir, "a_b_c.rds")))
  # no cache: always evaluated
  expect_equal(mirrorflow:::cached(NULL, "a b/c", 42), 42)
})

test_that("reproduce_paper() and the experiment checks name the argument", {
  expect_error(reproduce_paper(tempdir(), scale = "medium"), "'scale'")
  expect_error(reproduce_paper(NA_character_), "'out'")
  expect_error(reproduce_paper(c("a", "b")), "'out'")
  expect_error(reproduce_paper(tempdir(), experiments = "nope"),
               "'experiments'")
  expect_error(reproduce_paper(tempdir(), experiments = "trajectories",
                               resume = NA), "'resume'")
  expect_error(reproduce_paper(tempdir(), experiments = "trajectories",
                               quiet = "no"), "'quiet'")
  expect_error(experiment_trajectories(cache = 3), "'cache'")
  expect_error(experiment_trajectories(n = -1), "'n'")
  expect_error(experiment_trajectories(k = 50, d = 5), "'k'")
  expect_error(experiment_trajectories(maps = list("cosh")), "'maps'")
  expect_error(experiment_trajectories(target_log_loss = NA),
               "'target_log_loss'")
  expect_true(all(vapply(paper_experiments(), is.function, TRUE)))
  expect_equal(names(paper_experiments()),
               c("trajectories", "horizons", "rates", "sparsity",
                 "performance"))
})

test_that("experiment_trajectories() reports what its fits say", {
  maps <- list(mirror_map("euclidean"), mirror_map("pnorm", p = 3))
  dir <- tmp_dir()
  ex <- experiment_trajectories(n = 60, d = 6, k = 2, maps = maps,
                                target_log_loss = -30, cache = dir)
  expect_s3_class(ex, "mirrorflow_experiment")
  expect_equal(ex$tables$runs$map, c("euclidean", "pnorm(p = 3)"))
  expect_true(all(ex$tables$runs$stop_reason == "target_log_loss"))
  expect_output(print(ex), "maps: euclidean, pnorm\\(p = 3\\)")

  # the table against the cached fits, recomputed by hand: log-loss as a
  # log-sum-exp of the negative margins, Q-margin as the smallest margin
  # over the horizon norm (l2 and l3)
  fits <- lapply(list.files(dir, full.names = TRUE), readRDS)
  labs <- vapply(fits, function(f) glance(f)$map, "")
  data <- simulate_sparse_linear(60, 6, 2, gap = 0.1, seed = 1)
  for (i in seq_along(fits)) {
    w <- drop(coef(fits[[i]])[[1]])
    q <- data$y * drop(data$x %*% w)
    lse <- max(-q) + log(sum(exp(-q - max(-q))))
    p <- if (labs[i] == "euclidean") 2 else 3
    row <- ex$tables$runs[ex$tables$runs$map == labs[i], ]
    expect_equal(row$log_loss, lse, tolerance = 1e-10)
    expect_equal(row$q_margin, min(q) / sum(abs(w)^p)^(1 / p),
                 tolerance = 1e-10)
  }
  # the two maps start from the same weights
  expect_equal(coef(fits[[1]], "init"), coef(fits[[2]], "init"))

  # a second call reads the runs back instead of running them
  ex2 <- experiment_trajectories(n = 60, d = 6, k = 2, maps = maps,
                                 target_log_loss = -30, cache = dir)
  expect_equal(ex2$tables$runs$elapsed, ex$tables$runs$elapsed)
  expect_equal(length(list.files(dir)), 2)
})

test_that("an experiment leaves the session's random numbers alone", {
  set.seed(3)
  a <- stats::runif(2)
  set.seed(3)
  experiment_trajectories(n = 30, d = 4, k = 1,
                          maps = list(mirror_map("euclidean")),
                          target_log_loss = -10)
  expect_identical(stats::runif(2), a)
})
