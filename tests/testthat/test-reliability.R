# Reliability across runs, sessions and interrupts: the same seed gives the
# same trajectory in one session and in another, and repeated interrupted
# runs do not grow the process.

det_fit <- function(map, net) {
  data(sparse_teacher, envir = environment())
  set.seed(42)
  mirror_flow(sparse_teacher$x, sparse_teacher$y, net = net, map = map,
              control = flow_control(target_log_loss = -12, rtol = 1e-5,
                                     keep_params = TRUE, checkpoints = 20))
}

strip <- function(fit) {
  list(trajectory = trajectory(fit), weights = coef(fit),
       snapshots = fit$snapshots, steps = fit$steps,
       evals = fit$grad_evals)
}

test_that("one seed gives one trajectory, twice in a session", {
  for (m in list(mirror_map("hypentropy", beta = 0.1), mirror_map("cosh"))) {
    for (net in list(homogeneous_net(c(20, 1), "linear"),
                     homogeneous_net(c(20, 12, 1), "relu"))) {
      a <- det_fit(m, net)
      b <- det_fit(m, net)
      expect_identical(strip(a), strip(b))
    }
  }
})

test_that("one seed gives one trajectory in another session", {
  skip_on_cran()
  skip_if_not_installed("callr")
  here <- strip(det_fit(mirror_map("pnorm", p = 3),
                        homogeneous_net(c(20, 12, 1), "relu")))
  there <- callr::r(function(det_fit, strip) {
    library(mirrorflow)
    strip(det_fit(mirror_map("pnorm", p = 3),
                  homogeneous_net(c(20, 12, 1), "relu")))
  }, list(det_fit = det_fit, strip = strip),
  libpath = .libPaths())
  expect_identical(here, there)
})

test_that("repeated interrupted runs do not grow the process", {
  skip_on_cran()
  skip_on_os("windows")
  skip_if_not_installed("processx")
  skip_if_not(file.exists("/proc/self/status"), "no /proc here")
  # AddressSanitizer keeps freed memory in quarantine, which grows the
  # resident size by design (tools/sanitize.sh runs the suite that way)
  skip_if(grepl("asan", Sys.getenv("LD_PRELOAD")),
          "resident size means nothing under AddressSanitizer")
  script <- tempfile(fileext = ".R")
  out <- tempfile()
  # Each run keeps parameter snapshots, so a leaked buffer would be about
  # a megabyte a run. Interrupts that land between runs are caught too.
  writeLines(c(
    "library(mirrorflow)",
    "data(sparse_teacher)",
    "rss <- function() {",
    "  l <- grep('^VmRSS', readLines('/proc/self/status'), value = TRUE)",
    "  as.numeric(gsub('[^0-9]', '', l)) / 1024",
    "}",
    "net <- homogeneous_net(c(20, 64, 1))",
    "k <- 0",
    "while (k < 30) {",
    "  r <- tryCatch(suppressWarnings(mirror_flow(sparse_teacher$x,",
    "         sparse_teacher$y, net = net, progress = FALSE,",
    "         control = flow_control(target_log_loss = -1e8, max_steps = 1e9,",
    "                                keep_params = TRUE))$stop_reason),",
    "       interrupt = function(e) 'between')",
    "  if (r == 'interrupted') {",
    "    k <- k + 1",
    "    invisible(gc())",
    "    cat(k, rss(), '\\n', file = OUT, append = TRUE)",
    "  }",
    "}"), script)
  rscript <- file.path(R.home("bin"), "Rscript")
  p <- processx::process$new(rscript, c("-e", sprintf(
    "OUT <- '%s'; source('%s')", out, script)), stdout = "|", stderr = "|")
  on.exit(p$kill(), add = TRUE)
  Sys.sleep(3)
  deadline <- Sys.time() + 120
  done <- 0
  while (p$is_alive() && Sys.time() < deadline) {
    p$signal(2L)
    Sys.sleep(0.4)
    if (file.exists(out)) done <- length(readLines(out))
  }
  expect_false(p$is_alive())
  expect_equal(p$get_exit_status(), 0L)
  m <- read.table(out, col.names = c("run", "rss_mb"))
  expect_equal(nrow(m), 30)
  growth <- m$rss_mb[30] - m$rss_mb[10]
  expect_lt(growth, 5, label = sprintf("RSS growth %.1f MB over runs 10-30",
                                      growth))
})

test_that("data a linear model cannot separate: one warning, no max margin", {
  xor <- simulate_xor(80, 2, sd = 0.2, seed = 5)
  warnings <- character(0)
  set.seed(1)
  fit <- withCallingHandlers(
    mirror_flow(xor, control = flow_control(max_steps = 1000)),
    warning = function(w) {
      warnings <<- c(warnings, conditionMessage(w))
      invokeRestart("muffleWarning")
    })
  expect_equal(sum(grepl("does not separate the training data", warnings)),
               1)
  expect_equal(fit$stop_reason, "converged")
  tr <- trajectory(fit)
  expect_true(all(is.finite(as.matrix(tr[names(tr) != "balance_drift"]))))
  expect_lt(tail(tr$q_min, 1), 0)
  expect_error(margin(fit), "max-margin statements do not apply")
  expect_error(max_margin(xor$x, xor$y, "l2"), "not linearly separable")
  expect_error(compare_directions(fit, fit), "does not separate")
})

test_that("a run on data it cannot separate ends by itself, and fast", {
  xor <- simulate_xor(80, 2, sd = 0.2, seed = 5)
  # the adaptive pair sees the state stop moving; the loss-scaled
  # schedule, which accepts only steps that lower the loss, sees its step
  # collapse
  for (integ in c("adaptive", "loss_scaled")) {
    set.seed(11)
    t <- system.time(fit <- suppressWarnings(
      mirror_flow(xor, integrator = integ)))[["elapsed"]]
    expect_equal(fit$stop_reason,
                 if (integ == "adaptive") "converged" else "stalled")
    expect_lt(fit$grad_evals, 1e5)
    tr <- trajectory(fit)
    expect_true(all(is.finite(as.matrix(tr[names(tr) != "balance_drift"]))))
    expect_true(is.finite(fit$tau))
    # where it stopped is the minimiser: against a quasi-Newton solve of
    # the same convex log-loss
    ll <- function(w) {
      q <- xor$y * drop(xor$x %*% w)
      max(-q) + log(sum(exp(-q - max(-q))))
    }
    best <- stats::optim(c(0, 0), ll, method = "BFGS",
                         control = list(reltol = 1e-14))
    expect_equal(fit$log_loss, best$value, tolerance = 1e-8)
  }
  # whatever the initial weights
  reasons <- vapply(1:10, function(i) {
    set.seed(i)
    suppressWarnings(mirror_flow(xor))$stop_reason
  }, "")
  expect_true(all(reasons == "converged"))
  msgs <- character(0)
  set.seed(12)
  withCallingHandlers(mirror_flow(xor), warning = function(w) {
    msgs <<- c(msgs, conditionMessage(w))
    invokeRestart("muffleWarning")
  })
  # the one warning says why: the data are not separated
  expect_equal(length(msgs), 1)
  expect_match(msgs, "does not separate the training data")
})
