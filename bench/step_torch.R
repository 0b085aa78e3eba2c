# Cost of one full-batch mirror-descent step (hypentropy map, exponential
# loss, float64, 2- and 3-layer ReLU nets) in mirrorflow's C core, in
# PyTorch on the CPU (bench/step_torch.py) and in plain R, beside the bound
# that the BLAS's dgemm rate puts on the step, and the peak memory.
#
#   Rscript bench/step_torch.R            the 24-case grid
#   Rscript bench/step_torch.R quick      a 4-case subset, own result files
#   Rscript bench/step_torch.R cases=3,7  those grid cases only, merged into
#                                         the grid's result files
#
# Run from the repository root. MIRRORFLOW_LIB names a private library to
# load mirrorflow from; STEP_TORCH_PYTHON a python other than
# /usr/bin/python3. An OpenBLAS given through LD_PRELOAD reaches R, the
# memory child and the python child alike (see bench/README.md).

lib <- Sys.getenv("MIRRORFLOW_LIB")
suppressPackageStartupMessages(
  library(mirrorflow, lib.loc = if (nzchar(lib)) lib else NULL)
)
if (!file.exists("DESCRIPTION") || !dir.exists("bench"))
  stop("run this script from the repository root: Rscript bench/step_torch.R",
       call. = FALSE)

beta <- 0.1
reps <- 3
target_s <- 0.5   # each measurement: at least this long, or one step
k_agree <- 5
tol <- 1e-12      # on the weights after the agreement steps
script <- file.path("bench", "step_torch.R")

# ---- the step in plain R ---------------------------------------------------

# Written the way a user would, for any depth: X^T formed once, weights W
# and dual variables Z carried from step to step, H[[l]] the input of
# layer l (post-activations, so the ReLU mask is H > 0).
r_init <- function(W) {
  Z <- lapply(W, function(w) asinh(w / beta))
  list(Z = Z, W = lapply(Z, function(z) beta * sinh(z)))
}

r_step <- function(s, x, xt, y, eta) {
  L <- length(s$W)
  H <- vector("list", L)
  H[[1]] <- xt
  for (l in seq_len(L - 1)) H[[l + 1]] <- pmax(s$W[[l]] %*% H[[l]], 0)
  q <- y * drop(s$W[[L]] %*% H[[L]])

  # log L = logsumexp(-q), w = softmax(-q): no underflow however large q
  mq <- max(-q)
  log_loss <- mq + log(sum(exp(-q - mq)))
  w <- exp(-q - log_loss)

  # D = dLoss / d(pre-activations of layer l), from dLoss/df = -Loss w y
  D <- matrix(-exp(log_loss) * w * y, 1)
  for (l in L:1) {
    G <- if (l == 1) D %*% x else tcrossprod(D, H[[l]])
    if (l > 1) D <- crossprod(s$W[[l]], D) * (H[[l]] > 0)
    s$Z[[l]] <- s$Z[[l]] - eta * G
  }
  s$W <- lapply(s$Z, function(z) beta * sinh(z))
  s
}

r_run <- function(dat, K, eta) {
  s <- r_init(dat$W)
  for (k in seq_len(K)) s <- r_step(s, dat$x, dat$xt, dat$y, eta)
  s
}

# ---- the step in C ---------------------------------------------------------

c_run <- function(dat, K, eta) {
  # a run that does not separate the data warns; that is expected here
  fit <- suppressWarnings(mirror_flow(
    dat$x, dat$y, net = homogeneous_net(dat$widths, "relu"),
    map = mirror_map("hypentropy", beta = beta), integrator = "md",
    control = flow_control(eta = eta, max_steps = K,
                           target_log_loss = -Inf, checkpoints = 2),
    init = dat$W, progress = FALSE))
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

# Seconds per step. C: fit$elapsed (the C loop alone) over the gradient
# evaluations, K + 2 (the first gradient and a closing re-evaluation are
# evaluations like the steps'; dividing by K would charge them to the
# steps). R: the loop over K.
c_time <- function(dat, K, eta) {
  gc()
  fit <- c_run(dat, K, eta)
  c(loop = fit$elapsed, per_step = fit$elapsed / fit$grad_evals)
}

r_time <- function(dat, K, eta) {
  gc()
  loop <- wall(r_run(dat, K, eta))
  c(loop = loop, per_step = loop / K)
}

# Steps per measurement from a first estimate of the step's cost: grow K
# until a run is long enough to time, then scale it to the target.
calibrate <- function(timer, dat, per_step) {
  K <- max(1, floor(target_s / per_step / 4))
  repeat {
    t <- timer(dat, K, dat$eta)
    if (t[["loop"]] >= 0.05) break
    K <- K * 4
  }
  max(1, ceiling(K * target_s / t[["loop"]]))
}

status_kb <- function(field) {
  line <- grep(paste0("^", field, ":"), readLines("/proc/self/status"),
               value = TRUE)
  as.numeric(strsplit(trimws(sub(".*:", "", line)), " +")[[1]][1])
}

# Shared objects mapped into this process whose name says BLAS or LAPACK.
loaded_blas <- function(pid = "self") {
  f <- file.path("/proc", pid, "maps")
  if (!file.exists(f)) return(NA_character_)
  p <- unique(sub("^.* ", "", readLines(f)))
  paste(p[grepl("blas|lapack", basename(p), ignore.case = TRUE)],
        collapse = ";")
}

# ---- the memory child ------------------------------------------------------

# Rscript bench/step_torch.R child IN.rds OUT.rds: one C measurement in a
# fresh process, whose peak resident size then belongs to that run alone.
args <- commandArgs(TRUE)
if (length(args) >= 1 && args[1] == "child") {
  rss0 <- status_kb("VmRSS")
  job <- readRDS(args[2])
  t <- c_time(job$dat, job$K, job$dat$eta)
  saveRDS(list(per_step = t[["per_step"]], rss0_kb = rss0,
               hwm_kb = status_kb("VmHWM")), args[3])
  quit(save = "no")
}

# ---- cases -----------------------------------------------------------------

grid <- expand.grid(width = c(32, 256, 1024), d = c(64, 784),
                    n = c(256, 4096), depth = 2:3)
grid <- grid[, c("depth", "n", "d", "width")]
grid$case <- seq_len(nrow(grid))
quick_ids <- with(grid, case[
  (depth == 2 & n == 256 & d == 64 & width == 32) |
  (depth == 3 & n == 256 & d == 64 & width == 256) |
  (depth == 2 & n == 4096 & d == 784 & width == 256) |
  (depth == 3 & n == 4096 & d == 64 & width == 256)])

quick <- "quick" %in% args
pick <- grep("^cases=", args, value = TRUE)
ids <- if (quick) quick_ids else if (length(pick)) {
  as.integer(strsplit(sub("^cases=", "", pick[1]), ",")[[1]])
} else grid$case
if (anyNA(ids) || !all(ids %in% grid$case))
  stop(sprintf("cases= takes grid case numbers 1 to %d", nrow(grid)),
       call. = FALSE)
stem <- if (quick) "step_torch_quick" else "step_torch"

make_data <- function(n, d, m, depth) {
  set.seed(20240)
  x <- matrix(rnorm(n * d), n, d)
  y <- ifelse(drop(x %*% rnorm(d)) > 0, 1, -1)
  widths <- c(d, rep(m, depth - 1), 1)
  # He scale into each ReLU layer, 1 / sqrt(m) into the output, so that
  # the scores are of order one at any width and depth
  W <- lapply(seq_len(depth), function(l) {
    fan <- widths[l]
    sd <- if (l == 1) 1 / sqrt(fan) else if (l < depth) sqrt(2 / fan) else
      1 / sqrt(fan)
    matrix(rnorm(widths[l + 1] * fan, sd = sd), widths[l + 1], fan)
  })
  # the loss is a sum over the n points, so the step shrinks with n
  list(x = x, xt = t(x), y = y, W = W, widths = widths, n = n, d = d,
       m = m, depth = depth, eta = 1e-4 / n)
}

# A step for the agreement check that moves the weights by about 1 % per
# step: the move of one R step on the first 256 points, scaled to all n
# (the gradient is a sum over the points) and to 1 %.
check_eta <- function(dat) {
  ns <- min(dat$n, 256)
  sub <- list(x = dat$x[seq_len(ns), , drop = FALSE],
              xt = dat$xt[, seq_len(ns), drop = FALSE], y = dat$y[seq_len(ns)],
              W = dat$W)
  eta <- 1e-3 / ns
  s <- r_run(sub, 1, eta)
  moved <- max(mapply(function(a, b) rel_diff(a, b), s$W, dat$W))
  eta * 0.01 / moved * ns / dat$n
}

rel_diff <- function(a, b) max(abs(a - b)) / max(abs(b))
layers_diff <- function(A, B) max(mapply(rel_diff, A, B))

# Floating-point work of the step's matrix products: the forward pass, the
# weight gradients (the same work again) and the back-propagated deltas of
# layers 2 to L (again, less the first layer's product).
step_flops <- function(n, d, m, depth) {
  fwd <- 2 * n * d * m + (depth - 1 - 1) * 2 * n * m * m + 2 * n * m
  fwd + fwd + (fwd - 2 * n * d * m)
}

# Seconds per call of f: one call if it alone passes 0.5 s, else the median
# of 3 timings of as many calls as make 0.2 s.
prod_time <- function(f) {
  t <- wall(f())
  if (t >= 0.5) return(t)
  k <- 1
  while ((t <- wall(for (j in seq_len(k)) f())) < 0.2) k <- k * 4
  median(c(t, replicate(2, wall(for (j in seq_len(k)) f())))) / k
}

# dgemm rate (flop/s) of the forward products of this case, "N", "N" as
# R's %*% calls them: W1 %*% X^T and, at depth 3, W2 %*% H1.
dgemm_rate <- function(dat) {
  n <- dat$n; d <- dat$d; m <- dat$m
  H <- matrix(abs(rnorm(m * n)), m)
  t1 <- prod_time(function() dat$W[[1]] %*% dat$xt)
  fl <- 2 * n * d * m
  tt <- t1
  if (dat$depth == 3) {
    tt <- tt + prod_time(function() dat$W[[2]] %*% H)
    fl <- fl + 2 * n * m * m
  }
  fl / tt
}

load_avg <- function() {
  if (!file.exists("/proc/loadavg")) return(NA_character_)
  paste(strsplit(readLines("/proc/loadavg"), " ")[[1]][1:3], collapse = " ")
}

blas <- extSoftVersion()[["BLAS"]]
# torch's own threads as many as R's BLAS has: one for the reference BLAS
threads <- if (grepl("openblas", blas, ignore.case = TRUE)) {
  as.integer(Sys.getenv("OPENBLAS_NUM_THREADS", parallel::detectCores()))
} else 1L
python <- Sys.getenv("STEP_TORCH_PYTHON", "/usr/bin/python3")
# an OpenBLAS run keeps files of its own, beside the reference BLAS ones,
# and so does a run with the products' layout other than the one chosen
# for the BLAS (MIRRORFLOW_BLAS_PRODUCTS, see ?blas_products)
if (grepl("openblas", blas, ignore.case = TRUE))
  stem <- paste0(stem, "_openblas")
layout <- as.character(blas_products())
if (layout != mirrorflow:::blas_layout_for(blas))
  stem <- paste0(stem, "_", layout)

torch_case <- function(dat, eta_check, tmp) {
  inp <- file.path(tmp, "in.bin")
  con <- file(inp, "wb")
  writeBin(as.double(dat$x), con, endian = "little")
  writeBin(as.double(dat$y), con, endian = "little")
  for (w in dat$W) writeBin(as.double(w), con, endian = "little")
  close(con)
  spec <- list(input = inp, output = file.path(tmp, "out.bin"),
               result = file.path(tmp, "res.json"), n = dat$n,
               widths = dat$widths, beta = beta, eta_check = eta_check,
               eta_time = dat$eta, k_agree = k_agree, reps = reps,
               target_s = target_s, threads = threads)
  sp <- file.path(tmp, "spec.json")
  jsonlite::write_json(spec, sp, auto_unbox = TRUE, digits = NA)
  unlink(spec$result)
  status <- system2(python, c(file.path("bench", "step_torch.py"), sp))
  if (status != 0 || !file.exists(spec$result))
    stop("the torch child failed; see its output above", call. = FALSE)
  res <- jsonlite::read_json(spec$result, simplifyVector = TRUE)
  con <- file(spec$output, "rb")
  res$W <- lapply(dat$W, function(w)
    matrix(readBin(con, "double", length(w), endian = "little"), nrow(w)))
  close(con)
  res
}

# ---- run -------------------------------------------------------------------

load_start <- load_avg()
tmp <- tempfile("step_torch")
dir.create(tmp)
rows <- list()
failed <- character()

for (id in ids) {
  cs <- grid[grid$case == id, ]
  dat <- make_data(cs$n, cs$d, cs$width, cs$depth)
  P <- sum(lengths(dat$W))
  cat(sprintf("case %d: depth %d, n = %d, d = %d, width %d ... ", id,
              cs$depth, cs$n, cs$d, cs$width))
  load_case <- load_avg()

  # Agreement: k_agree steps of each from the same weights at a step that
  # moves them by a few per cent, so that a gradient wrong in its fifth
  # digit cannot hide under the tolerance. The runs are timed too: where
  # one step passes the target they are the first measurement, with K = 1
  # for the others (the C run's K + 2 evaluations are what it costs).
  eta_chk <- check_eta(dat)
  t_r <- wall(s_r <- r_run(dat, k_agree, eta_chk))
  fit <- NULL
  t_c <- wall(fit <- c_run(dat, k_agree, eta_chk))
  c_agree_step <- fit$elapsed / fit$grad_evals
  tr <- torch_case(dat, eta_chk, tmp)
  cw <- coef(fit)
  s0 <- r_init(dat$W)
  moved <- layers_diff(s_r$W, s0$W)
  agree_c <- layers_diff(cw, s_r$W)
  agree_t <- layers_diff(tr$W, s_r$W)
  agree_ct <- layers_diff(cw, tr$W)
  disp <- function(A) layers_diff(Map(`-`, A, s0$W), Map(`-`, s_r$W, s0$W))
  disp_c <- disp(cw)
  disp_t <- disp(tr$W)
  ok <- max(agree_c, agree_t, agree_ct) <= tol
  if (!ok) failed <- c(failed, sprintf(
    "case %d: C-R %.2e, torch-R %.2e, C-torch %.2e", id, agree_c, agree_t,
    agree_ct))

  # C: the first measurement runs in a fresh R process, whose peak
  # resident size is then that of the data, the call and the run alone
  big_c <- c_agree_step >= target_s
  Kc <- if (big_c) 1 else calibrate(c_time, dat, c_agree_step)
  job <- file.path(tmp, "job.rds")
  out <- file.path(tmp, "child.rds")
  # without the X^T that plain R keeps: mirror_flow() makes its own
  saveRDS(list(dat = dat[names(dat) != "xt"], K = Kc), job)
  unlink(out)
  rscript <- file.path(R.home("bin"), "Rscript")
  status <- system2(rscript, c(script, "child", job, out))
  if (status != 0 || !file.exists(out))
    stop("the memory child failed; see its output above", call. = FALSE)
  child <- readRDS(out)
  tc <- c(if (big_c) c_agree_step, child$per_step)

  # The other C and R measurements alternate, so that a change in the
  # machine's load falls on both rather than on one block of them.
  big_r <- t_r / k_agree >= target_s
  Kr <- if (big_r) 1 else calibrate(r_time, dat, t_r / k_agree)
  trr <- if (big_r) t_r / k_agree else numeric()
  while (length(tc) < reps || length(trr) < reps) {
    if (length(tc) < reps) tc <- c(tc, c_time(dat, Kc, dat$eta)[["per_step"]])
    if (length(trr) < reps)
      trr <- c(trr, r_time(dat, Kr, dat$eta)[["per_step"]])
  }

  rate <- dgemm_rate(dat)
  flops <- step_flops(cs$n, cs$d, cs$width, cs$depth)
  bound <- flops / rate
  need <- 8 * (cs$n * cs$d + 2 * P + cs$n * cs$width * (cs$depth - 1))
  mem_c <- 1024 * (child$hwm_kb - child$rss0_kb)
  mem_t <- 1024 * (tr$hwm_kb - tr$rss0_kb)

  med <- c(C = median(tc), torch = median(tr$per_step), R = median(trr))
  per <- list(C = tc, torch = tr$per_step, R = trr)
  K <- c(C = Kc, torch = tr$k, R = Kr)
  first <- c(C = big_c, torch = isTRUE(tr$first_rep_is_agreement), R = big_r)
  for (impl in names(med)) {
    v <- per[[impl]]
    rows[[length(rows) + 1]] <- data.frame(
      case = id, depth = cs$depth, n = cs$n, d = cs$d, width = cs$width,
      params = P, impl = impl, median_s_per_step = med[[impl]],
      min_s = min(v), max_s = max(v), reps = length(v), K = K[[impl]],
      first_rep_agreement = first[[impl]],
      ratio_torch_over_c = med[["torch"]] / med[["C"]],
      flops = flops, dgemm_gflops = rate / 1e9, bound_s = bound,
      ratio_over_bound = med[[impl]] / bound,
      peak_mb = switch(impl, C = mem_c, torch = mem_t, NA) / 2^20,
      needed_mb = need / 2^20,
      mem_ratio = switch(impl, C = mem_c, torch = mem_t, NA) / need,
      eta_check = eta_chk, moved = moved,
      agree_vs_r = switch(impl, C = agree_c, torch = agree_t, R = 0),
      agree_c_torch = agree_ct,
      disp_vs_r = switch(impl, C = disp_c, torch = disp_t, R = 0),
      agree_pass = ok, blas = blas, torch_blas = paste(tr$blas_loaded,
                                                       collapse = ";"),
      threads = threads, torch_version = tr$torch, load_avg = load_case,
      date = format(Sys.time(), "%Y-%m-%d %H:%M:%S"))
  }
  cat(sprintf(paste("C %.3g s, torch %.3g s, R %.3g s per step;",
                    "agreement %.1e (%s)\n"), med[["C"]], med[["torch"]],
              med[["R"]], max(agree_c, agree_t, agree_ct),
              if (ok) "PASS" else "FAIL"))
}
unlink(tmp, recursive = TRUE)
res <- do.call(rbind, rows)

# ---- results ---------------------------------------------------------------

dir.create(file.path("bench", "results"), showWarnings = FALSE)
csv <- file.path("bench", "results", paste0(stem, ".csv"))
if (!quick && length(pick) && file.exists(csv)) {
  old <- read.csv(csv, stringsAsFactors = FALSE)
  res <- rbind(old[!old$case %in% ids, names(res)], res)
}
res <- res[order(res$case, match(res$impl, c("C", "torch", "R"))), ]
write.csv(res, csv, row.names = FALSE)

# One line per case from the rows of all runs kept in the file.
wide <- do.call(rbind, lapply(split(res, res$case), function(r) {
  g <- function(impl, col) r[r$impl == impl, col]
  data.frame(case = r$case[1], L = r$depth[1], n = r$n[1], d = r$d[1],
             m = r$width[1], C_s = signif(g("C", "median_s_per_step"), 3),
             torch_s = signif(g("torch", "median_s_per_step"), 3),
             R_s = signif(g("R", "median_s_per_step"), 3),
             torch_C = round(g("C", "ratio_torch_over_c"), 2),
             bound_s = signif(g("C", "bound_s"), 3),
             C_bound = round(g("C", "ratio_over_bound"), 2),
             mem_C = round(g("C", "mem_ratio"), 2),
             mem_torch = round(g("torch", "mem_ratio"), 2),
             agree = signif(max(r$agree_vs_r, r$agree_c_torch), 2),
             load = r$load_avg[1])
}))

# Exponents of cost against size: log(time) ~ log(n) + log(width) per
# implementation, depth and d, where the cases at hand vary both.
expo <- list()
for (impl in c("C", "torch", "R")) for (L in 2:3) for (d in c(64, 784)) {
  r <- res[res$impl == impl & res$depth == L & res$d == d, ]
  if (nrow(r) < 3 || length(unique(r$n)) < 2 || length(unique(r$width)) < 2)
    next
  f <- coef(lm(log(median_s_per_step) ~ log(n) + log(width), data = r))
  expo[[length(expo) + 1]] <- data.frame(impl = impl, depth = L, d = d,
                                         cases = nrow(r),
                                         n_exponent = round(f[[2]], 2),
                                         width_exponent = round(f[[3]], 2))
}
expo <- if (length(expo)) do.call(rbind, expo) else NULL

lines_of <- function(df) capture.output(print(df, row.names = FALSE))
info <- c(
  sprintf("%s.R: one full-batch mirror-descent step, C core, torch, plain R",
          "step_torch"),
  sprintf("written: %s; R %s; mirrorflow %s; torch %s",
          format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"),
          paste(R.version$major, R.version$minor, sep = "."),
          format(utils::packageVersion("mirrorflow")),
          paste(unique(res$torch_version), collapse = ", ")),
  sprintf("machine: %s, %d cores, shared with other jobs: see load",
          Sys.info()[["machine"]], parallel::detectCores()),
  sprintf("R BLAS: %s; products' layout: %s (see ?blas_products)",
          paste(unique(res$blas), collapse = ", "), layout),
  sprintf("mapped into R: %s", loaded_blas()),
  sprintf("mapped into the torch child: %s",
          paste(unique(res$torch_blas), collapse = ", ")),
  sprintf("threads: BLAS as the environment says; torch.set_num_threads(%s)",
          paste(unique(res$threads), collapse = ", ")),
  sprintf("this run: load average (1, 5, 15 min) %s at start, %s at end",
          load_start, load_avg()),
  "",
  "Seconds per step, median of 3 (C: elapsed / gradient evaluations);",
  "torch_C = torch / C; bound_s = the products' flops at the forward dgemm",
  "rate; C_bound = C / bound; mem = (peak RSS - RSS before the data) /",
  "(n d + 2 P + n m (L - 1) doubles); agree = largest relative weight",
  "difference after 5 steps among C, torch and R; load = 1-min load at the",
  "case's start.",
  "", lines_of(wide))
if (!is.null(expo))
  info <- c(info, "", "log(time) ~ log(n) + log(width), per depth and d:",
            lines_of(expo))
info <- c(info, "",
          "Per implementation (K = steps per timed run; first_rep_agreement:",
          "the 5 agreement steps were the first measurement):",
          lines_of(res[, c("case", "impl", "median_s_per_step", "min_s",
                           "max_s", "K", "first_rep_agreement", "peak_mb",
                           "needed_mb", "moved", "disp_vs_r")]))
writeLines(info, file.path("bench", "results", paste0(stem, ".txt")))
cat("\n", paste(info, collapse = "\n"), "\n", sep = "")

if (length(failed))
  stop("the implementations disagree beyond ", format(tol), ":\n",
       paste(failed, collapse = "\n"), call. = FALSE)
