# Cost of one full-batch mirror-descent step (hypentropy map, 2-layer ReLU
# net, exponential loss) in mirrorflow's C core against the same step in
# plain R. Run from the repository root: Rscript bench/step_r_vs_c.R

# The package is taken from MIRRORFLOW_LIB if set (a private library, so a
# benchmark never has to install over a working tree), else from .libPaths().
lib <- Sys.getenv("MIRRORFLOW_LIB")
suppressPackageStartupMessages(
  library(mirrorflow, lib.loc = if (nzchar(lib)) lib else NULL)
)
if (!file.exists("DESCRIPTION") || !dir.exists("bench"))
  stop("run this script from the repository root: Rscript bench/step_r_vs_c.R",
       call. = FALSE)

cases <- data.frame(case = c("a", "b"), n = c(200, 2000), d = c(20, 784),
                    width = c(32, 256))
beta <- 0.1
reps <- 5
target_s <- 1.5   # aim high: each measurement must take at least 0.5 s
tol <- 1e-10

# At n = 2000 one step alone passes 0.5 s, but a C run of K steps makes
# K + 2 gradient evaluations; at least 4 steps keep the two that are not
# steps a minor part of each run, at about 6 s a run.
min_steps_c <- 4

# ---- the step in plain R ---------------------------------------------------

# Written the way a user would: X^T is formed once, weights theta and dual
# variables z live together in `s` and are carried from step to step.
r_init <- function(W1, W2) {
  Z1 <- asinh(W1 / beta)
  Z2 <- asinh(W2 / beta)
  list(Z1 = Z1, Z2 = Z2, W1 = beta * sinh(Z1), W2 = beta * sinh(Z2))
}

r_step <- function(s, x, xt, y, eta) {
  A <- s$W1 %*% xt                       # pre-activations W1 X^T, m x n
  H <- pmax(A, 0)
  f <- drop(s$W2 %*% H)
  q <- y * f

  # log L = logsumexp(-q), w = softmax(-q): no underflow however large q
  mq <- max(-q)
  log_loss <- mq + log(sum(exp(-q - mq)))
  w <- exp(-q - log_loss)

  # dLoss/df_i = -exp(-q_i) y_i = -Loss w_i y_i, as a 1 x n row
  r <- matrix(-exp(log_loss) * w * y, 1)
  G2 <- tcrossprod(r, H)
  D <- crossprod(s$W2, r) * (A > 0)
  G1 <- D %*% x

  s$Z1 <- s$Z1 - eta * G1
  s$Z2 <- s$Z2 - eta * G2
  s$W1 <- beta * sinh(s$Z1)
  s$W2 <- beta * sinh(s$Z2)
  s
}

r_run <- function(dat, K, s = r_init(dat$W1, dat$W2)) {
  for (k in seq_len(K)) s <- r_step(s, dat$x, dat$xt, dat$y, dat$eta)
  s
}

# ---- the step in C ---------------------------------------------------------

c_run <- function(dat, K) {
  # a run that does not separate the data warns; that is expected here
  fit <- suppressWarnings(mirror_flow(
    dat$x, dat$y, net = homogeneous_net(c(dat$d, dat$m, 1), "relu"),
    map = mirror_map("hypentropy", beta = beta), integrator = "md",
    control = flow_control(eta = dat$eta, max_steps = K,
                           target_log_loss = -Inf, checkpoints = 2),
    init = list(dat$W1, dat$W2), progress = FALSE))
  if (fit$steps != K || fit$stop_reason != "max_steps")
    stop(sprintf("the C run stopped after %s of %d steps (%s)",
                 format(fit$steps), K, fit$stop_reason), call. = FALSE)
  fit
}

# ---- measuring -------------------------------------------------------------

wall <- function(expr) {
  t0 <- proc.time()[["elapsed"]]
  force(expr)
  proc.time()[["elapsed"]] - t0
}

# Seconds per step of each implementation. The C figure is fit$elapsed (the
# C loop alone) over the gradient evaluations, K + 2: each step is one
# evaluation plus a cheap dual update, and dividing by K would charge the
# initial gradient and the closing re-evaluation to the steps.
c_time <- function(dat, K) {
  gc()
  fit <- NULL
  call_s <- wall(fit <- c_run(dat, K))
  c(loop = fit$elapsed, call = call_s, per_step = fit$elapsed / fit$grad_evals,
    per_k = fit$elapsed / K)
}

r_time <- function(dat, K) {
  s <- r_init(dat$W1, dat$W2)
  gc()
  loop <- wall(r_run(dat, K, s))
  c(loop = loop, per_step = loop / K)
}

# Steps per measurement: grow K until a run is long enough to time, then
# scale it to the target.
calibrate <- function(timer, dat) {
  K <- 1
  repeat {
    t <- timer(dat, K)
    if (t[["loop"]] >= 0.05) break
    K <- K * 4
  }
  max(1, ceiling(K * target_s / t[["loop"]]))
}

make_data <- function(n, d, m) {
  set.seed(20240)
  x <- matrix(rnorm(n * d), n, d)
  y <- ifelse(drop(x %*% rnorm(d)) > 0, 1, -1)
  W1 <- matrix(rnorm(m * d, sd = 1 / sqrt(d)), m, d)
  W2 <- matrix(rnorm(m, sd = 1 / sqrt(m)), 1, m)
  # the loss is a sum over the n points, so the step shrinks with n
  list(x = x, xt = t(x), y = y, W1 = W1, W2 = W2, n = n, d = d, m = m,
       eta = 1e-4 / n)
}

# Seconds per call of f: the median of 3 timings, each of as many calls as
# make 0.2 s.
prod_time <- function(f) {
  k <- 1
  while ((t <- wall(for (j in seq_len(k)) f())) < 0.2) k <- k * 4
  median(c(t, replicate(2, wall(for (j in seq_len(k)) f())))) / k
}

rel_diff <- function(a, b) max(abs(a - b)) / max(abs(b))

summarise <- function(v) c(median = median(v), min = min(v), max = max(v))

# ---- run -------------------------------------------------------------------

# Another process on this 2-core machine skews the figures: say so.
load_avg <- function() {
  if (!file.exists("/proc/loadavg")) return(NA_character_)
  paste(strsplit(readLines("/proc/loadavg"), " ")[[1]][1:3], collapse = " ")
}
load_start <- load_avg()

rows <- list()
notes <- character()
for (i in seq_len(nrow(cases))) {
  cs <- cases[i, ]
  dat <- make_data(cs$n, cs$d, cs$width)
  cat(sprintf("case (%s): n = %d, d = %d, width %d ...\n", cs$case, cs$n,
              cs$d, cs$width))

  # Agreement: 5 steps from the same initial weights. At the timing step
  # 5 steps move the weights by about 1e-4 of their size, so a gradient
  # wrong in its fifth digit would still pass a 1e-10 test on the weights;
  # the check takes a step 1000 times larger, which moves them by several
  # per cent, and compares the displacements from the start as well.
  chk <- dat
  chk$eta <- 1000 * dat$eta
  fit <- c_run(chk, 5)
  s <- r_run(chk, 5)
  s0 <- r_init(dat$W1, dat$W2)
  cw <- coef(fit)
  agree <- max(rel_diff(cw$W1, s$W1), rel_diff(cw$W2, s$W2))
  moved <- max(rel_diff(s$W1, s0$W1), rel_diff(s$W2, s0$W2))
  agree_move <- max(rel_diff(cw$W1 - s0$W1, s$W1 - s0$W1),
                    rel_diff(cw$W2 - s0$W2, s$W2 - s0$W2))
  ok <- agree <= tol
  notes <- c(notes, sprintf(paste(
    "case (%s) agreement after 5 steps (eta = %.3g, weights moved by up to",
    "%.2g relative): max relative difference of W1, W2 = %.2e (tolerance",
    "%.0e): %s; of their displacements = %.2e"), cs$case, chk$eta, moved,
    agree, tol, if (ok) "PASS" else "FAIL", agree_move))

  Kc <- max(min_steps_c, calibrate(c_time, dat))
  Kr <- calibrate(r_time, dat)
  tc <- sapply(seq_len(reps), function(j) c_time(dat, Kc))
  tr <- sapply(seq_len(reps), function(j) r_time(dat, Kr))
  if (any(tc["loop", ] < 0.5) || any(tr["loop", ] < 0.5))
    notes <- c(notes, sprintf("case (%s): a measurement took under 0.5 s",
                              cs$case))

  sc <- summarise(tc["per_step", ])
  sr <- summarise(tr["per_step", ])
  ratio <- sr[["median"]] / sc[["median"]]
  overhead <- summarise(tc["call", ] - tc["loop", ])
  notes <- c(notes, sprintf(paste(
    "case (%s) C: %d steps per run, %d gradient evaluations; median",
    "elapsed/K = %.4g s; R-side overhead of mirror_flow() per call = %.3g s",
    "median (%.3g to %.3g)"), cs$case, Kc, Kc + 2,
    median(tc["per_k", ]), overhead[["median"]], overhead[["min"]],
    overhead[["max"]]))
  notes <- c(notes, sprintf("case (%s) R: %d steps per timed run", cs$case,
                            Kr))

  for (impl in c("C", "R")) {
    st <- if (impl == "C") sc else sr
    rows[[length(rows) + 1]] <- data.frame(
      case = cs$case, n = cs$n, d = cs$d, width = cs$width, impl = impl,
      median_s_per_step = st[["median"]], min_s = st[["min"]],
      max_s = st[["max"]], reps = reps, ratio_r_over_c = ratio)
  }

  # Where plain R's time goes: its two big BLAS products, timed alone.
  # The C core's own products are not dgemm's in the "kernel" layout (the
  # default with the reference BLAS, see ?blas_products), so only R's
  # step is split.
  D <- matrix(rnorm(cs$width * cs$n), cs$width)
  parts <- c(forward = prod_time(function() dat$W1 %*% dat$xt),
             grad_W1 = prod_time(function() D %*% dat$x))
  notes <- c(notes, sprintf(paste(
    "case (%s) plain R's BLAS products, s per call: forward W1 %%*%% t(x)",
    "%.3g; W1 gradient D %%*%% x %.3g; its step outside them %.3g s"),
    cs$case, parts[["forward"]], parts[["grad_W1"]],
    sr[["median"]] - sum(parts)))
}
res <- do.call(rbind, rows)

blas <- extSoftVersion()[["BLAS"]]
lapack <- La_library()
res$blas <- blas

shown <- res[, c("case", "n", "d", "width", "impl", "median_s_per_step",
                 "min_s", "max_s", "reps", "ratio_r_over_c")]
for (col in c("median_s_per_step", "min_s", "max_s"))
  shown[[col]] <- signif(shown[[col]], 4)
shown$ratio_r_over_c <- round(shown$ratio_r_over_c, 2)
cat("\nOne mirror-descent step, seconds (ratio = R median / C median):\n")
print(shown, row.names = FALSE)
cat("\n", paste(notes, collapse = "\n"), "\n", sep = "")
cat(sprintf("BLAS: %s\nLAPACK: %s\n", blas, lapack))

dir.create(file.path("bench", "results"), showWarnings = FALSE)
write.csv(res, file.path("bench", "results", "step_r_vs_c.csv"),
          row.names = FALSE)
info <- c(
  "step_r_vs_c.R: one full-batch mirror-descent step, C core against R",
  sprintf("date: %s", format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z")),
  sprintf("%s; mirrorflow %s", R.version.string,
          format(utils::packageVersion("mirrorflow"))),
  sprintf("machine: %s, %d cores", Sys.info()[["machine"]],
          parallel::detectCores()),
  sprintf("BLAS: %s; the C core's products' layout: %s (see ?blas_products)",
          blas, as.character(blas_products())),
  sprintf("LAPACK: %s (version %s)", lapack, La_version()),
  sprintf("load average (1, 5, 15 min) at start: %s; at end: %s",
          load_start, load_avg()),
  "", notes)
writeLines(info, file.path("bench", "results", "step_r_vs_c.txt"))

if (!all(grepl("PASS", notes[grepl("agreement", notes)])))
  stop("the C core and the plain-R step disagree; see above", call. = FALSE)
