# Fuzzes the surface: calls every exported function and every .Call entry
# point with one or two arguments replaced by malformed values, in child R
# processes, and counts the calls that crash a child (the rest must end in
# a value or an R error). Usage: Rscript tools/fuzz.R [calls] [seed]
args <- commandArgs(trailingOnly = TRUE)
n_calls <- if (length(args) >= 1) as.integer(args[1]) else 2000L
seed <- if (length(args) >= 2) as.integer(args[2]) else 1L
stopifnot(requireNamespace("callr", quietly = TRUE))
library(mirrorflow)

set.seed(seed)
x <- matrix(rnorm(30 * 3), 30)
y <- ifelse(x[, 1] > 0, 1, -1)
net <- homogeneous_net(c(3, 4, 1))
w <- init_weights(net)
ctl <- flow_control(max_steps = 50, time_limit = 2)
map <- mirror_map("hypentropy", beta = 0.5)
fit <- suppressWarnings(mirror_flow(x, y, net = net, control = ctl,
                                    progress = FALSE))
C <- function(name) getFromNamespace(name, "mirrorflow")
dat <- mirrorflow_data(x, y)
grid <- sweep_grid(map, width = 2, seed = 1)
sweep <- data.frame(map = c("a", "a", "b", "b"), v = c(1, 2, 3, 5))
idx <- tempfile(fileext = ".idx")
writeBin(as.raw(c(0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3)), idx)
good_flow <- list(t(x), y, integer(0), c(0, 0, 0, 1, 0), c(3L, 4L, 1L),
                  matrix(c(0, NA, NA, NA, 2), 5, 2), list(NULL, NULL),
                  unlist(w), c(2, 0.1, 50, -10, Inf, 2, 10, 1e-6, 1e-10,
                               1.1, 1.1, 0, 0), FALSE)

targets <- list(
  mirror_map = list(fun = "mirror_map", args = list("pnorm", p = 3)),
  potential = list(fun = "potential", args = list(map, c(1, 2))),
  mirror_inverse = list(fun = "mirror_inverse", args = list(map, c(1, 2))),
  horizon = list(fun = "horizon", args = list(map, c(1, -2))),
  homogeneous_net = list(fun = "homogeneous_net", args = list(c(3, 4, 1))),
  init_weights = list(fun = "init_weights", args = list(net, 1)),
  network_loss = list(fun = "network_loss", args = list(net, x, y, w)),
  flow_control = list(fun = "flow_control", args = list(eta = 0.1)),
  mirror_flow = list(fun = "mirror_flow",
                     args = list(x, y, net = net, map = map, control = ctl,
                                 progress = FALSE)),
  predict = list(fun = "predict", args = list(fit, x)),
  margin = list(fun = "margin", args = list(fit)),
  kkt_residual = list(fun = "kkt_residual", args = list(fit)),
  balance_report = list(fun = "balance_report", args = list(fit)),
  convergence_rates = list(fun = "convergence_rates", args = list(fit)),
  max_margin = list(fun = "max_margin", args = list(x, y, "l1")),
  max_margin_ws = list(fun = "max_margin",
                       args = list(x, y, "lp", p = 3, control = list(
                         working_set = TRUE, initial = 5, batch = 5))),
  hoyer = list(fun = "hoyer", args = list(matrix(1:6 / 2, 2), 1)),
  gini = list(fun = "gini", args = list(c(0, 1, 2))),
  participation_ratio = list(fun = "participation_ratio",
                             args = list(matrix(1, 2, 2), 2)),
  activations = list(fun = "activations", args = list(fit, x, 1)),
  feature_sparsity = list(fun = "feature_sparsity",
                          args = list(fit, x, FALSE)),
  glance = list(fun = "glance", args = list(fit, dat)),
  tidy = list(fun = "tidy", args = list(fit)),
  augment = list(fun = "augment", args = list(fit, dat)),
  sweep_grid = list(fun = "sweep_grid", args = list(map, seed = 1:2)),
  mirror_sweep = list(fun = "mirror_sweep",
                      args = list(grid, dat, control = ctl)),
  compare_sparsity = list(fun = "compare_sparsity",
                          args = list(sweep, "v", "map", 0.9, 20, 1)),
  mirrorflow_data = list(fun = "mirrorflow_data", args = list(x, y)),
  simulate_sparse_linear = list(fun = "simulate_sparse_linear",
                                args = list(20, 3, 1, 0.1, 0.1, 1)),
  simulate_relu_teacher = list(fun = "simulate_relu_teacher",
                               args = list(20, 3, 2, 0, 0, 1)),
  simulate_xor = list(fun = "simulate_xor", args = list(20, 3, 0.3)),
  split_data = list(fun = "split_data", args = list(dat, 0.25, 1, TRUE)),
  binary_labels = list(fun = "binary_labels",
                       args = list(mirrorflow_data(x, factor(y)), "1")),
  normalize_rows = list(fun = "normalize_rows", args = list(dat)),
  accuracy = list(fun = "accuracy", args = list(fit, dat)),
  read_idx = list(fun = "read_idx", args = list(idx)),
  fashion_mnist = list(fun = "fashion_mnist",
                       args = list(tempdir(), "train", c(0, 6), 10)),
  # the experiments at tiny settings (a second or two each when nothing
  # is malformed); reproduce_paper() with the cheapest one
  experiment_trajectories = list(
    fun = "experiment_trajectories",
    args = list("quick", 20, 3, 1, list(mirror_map("euclidean")), -5, 5, 1,
                NULL)),
  experiment_horizons = list(
    fun = "experiment_horizons",
    args = list(n = 20, d = 6, k = 2, width = 4, target_log_loss = -50,
                relu_target_log_loss = -10, cosh_max_steps = 100,
                time_limit = 5)),
  experiment_rates = list(
    fun = "experiment_rates",
    args = list(n = 20, d = 5, k = 2, maps = list(mirror_map("euclidean")),
                max_steps = 200, relu_width = 4,
                relu_maps = list(mirror_map("euclidean")),
                relu_steps = 100)),
  experiment_sparsity = list(
    fun = "experiment_sparsity",
    args = list(maps = list(mirror_map("euclidean")), seeds = 1,
                teacher_n = 20, teacher_d = 3, teacher_k = 1,
                teacher_nets = "3", teacher_log_loss = 0, fashion_n = 10,
                fashion_width = 3, R = 10)),
  experiment_performance = list(
    fun = "experiment_performance",
    args = list(n = 20, d = 4, k = 2, width = 3, targets = c(-5, -10),
                maps = list(mirror_map("euclidean")),
                relu_maps = list(mirror_map("euclidean")),
                max_steps = 300, md_steps = 50, demo_target = -50)),
  reproduce_paper = list(
    fun = "reproduce_paper",
    args = list(file.path(tempdir(), "fuzz-out"), "quick", "trajectories",
                TRUE, TRUE, 1L)),
  blas_products = list(fun = "blas_products", args = list("auto")),
  C_mf_blas_mode = list(call = "C_mf_blas_mode", args = list(NA_integer_)),
  C_mf_matprod_tb = list(call = "C_mf_matprod_tb",
                         args = list(matrix(1, 3, 2), matrix(2, 4, 2))),
  C_mf_gemm_check = list(call = "C_mf_gemm_check",
                         args = list(matrix(1, 3, 2), matrix(2, 2, 4),
                                     matrix(0, 3, 4), c(3L, 4L, 2L),
                                     c(FALSE, FALSE, TRUE), 1L)),
  C_mf_sinh_check = list(call = "C_mf_sinh_check",
                         args = list(c(-3, 0.5, 25), 0.1, 0L)),
  C_mf_vmath_path = list(call = "C_mf_vmath_path", args = list()),
  paper_experiments = list(fun = "paper_experiments", args = list()),
  C_mf_sparsity = list(call = "C_mf_sparsity",
                       args = list(matrix(1, 2, 2), TRUE, 2L)),
  C_mf_map_apply = list(call = "C_mf_map_apply",
                        args = list(c(2, NA, NA, 0.5, 1), NULL, 1L, c(1, 2))),
  C_mf_gauge_vec = list(call = "C_mf_gauge_vec", args = list(c(1, 2), 2)),
  C_mf_net_evaluate = list(call = "C_mf_net_evaluate",
                           args = good_flow[c(1, 2, 3, 4, 5, 8)]),
  C_mf_net_predict = list(call = "C_mf_net_predict",
                          args = good_flow[c(1, 4, 5, 8)]),
  C_mf_net_balances = list(call = "C_mf_net_balances",
                           args = good_flow[c(4, 5, 6, 7, 8)]),
  C_mf_net_horizons = list(call = "C_mf_net_horizons",
                           args = good_flow[c(4, 5, 6, 8)]),
  C_mf_flow = list(call = "C_mf_flow", args = good_flow),
  C_mf_margin_grads = list(call = "C_mf_margin_grads",
                           args = c(good_flow[c(1, 2, 3, 4, 5, 8)],
                                    list(0.1))),
  C_mf_nnls = list(call = "C_mf_nnls", args = list(diag(2), c(1, 2))),
  C_mf_max_margin = list(call = "C_mf_max_margin",
                         args = list(x * y, 0L, NA_real_, c(50, 1e-8))),
  C_mf_max_margin_newton = list(call = "C_mf_max_margin_newton",
                                args = list((x * y)[1:2, ], 3, c(1, 1, 1),
                                            c(0.5, 0.5), c(50, 1e-10))))

bad_pool <- list(NULL, NA, NA_real_, NA_integer_, NaN, Inf, -Inf, "a",
                 c("a", "b"), list(), list(1), list(NULL), environment(),
                 sum, integer(0), numeric(0), 1:3, -1, 0, 1e308, -1e308,
                 .Machine$integer.max, -.Machine$integer.max, 2^31,
                 matrix(NA_real_, 2, 2), matrix(Inf, 3, 3), TRUE, FALSE,
                 factor("a"), data.frame(), data.frame(a = 1:3),
                 matrix(0, 0, 3), complex(real = 1, imaginary = 1),
                 as.raw(1), quote(x), 1e-320, c(1, NA, 3), rep(1, 1000),
                 matrix(1, 1000, 3))

cases <- lapply(seq_len(n_calls), function(k) {
  tg <- targets[[sample(length(targets), 1)]]
  a <- tg$args
  for (r in seq_len(sample(1:2, 1))) {
    if (!length(a)) break
    i <- sample(length(a), 1)
    a[i] <- list(bad_pool[[sample(length(bad_pool), 1)]])
  }
  list(target = tg, args = a)
})

progress <- tempfile()
run_from <- function(start, cases, progress) {
  # calls that write files (reproduce_paper(), a cache) given a malformed
  # path such as "a" write here, not into the caller's directory
  wd <- tempfile("fuzz-wd-")
  dir.create(wd)
  setwd(wd)
  library(mirrorflow)
  ns <- asNamespace("mirrorflow")
  out <- character(0)
  for (k in start:length(cases)) {
    cat(k, "\n", file = progress)
    cs <- cases[[k]]
    setTimeLimit(elapsed = 10, transient = TRUE)
    res <- tryCatch({
      if (!is.null(cs$target$fun)) {
        suppressWarnings(do.call(get(cs$target$fun, ns), cs$args))
      } else {
        do.call(.Call, c(list(get(cs$target$call, ns)), cs$args))
      }
      "value"
    }, error = function(e) paste("error:", conditionMessage(e)))
    setTimeLimit(elapsed = Inf)
    out[k] <- res
  }
  out
}

outcome <- rep(NA_character_, n_calls)
crashes <- integer(0)
start <- 1L
while (start <= n_calls) {
  r <- tryCatch(callr::r(run_from, list(start, cases, progress)),
                error = function(e) e)
  if (!inherits(r, "error")) {
    outcome[start:n_calls] <- r[start:n_calls]
    break
  }
  last <- as.integer(readLines(progress, warn = FALSE)[1])
  crashes <- c(crashes, last)
  tg <- cases[[last]]$target
  cat(sprintf("crash at call %d: %s\n", last,
              if (is.null(tg$fun)) tg$call else tg$fun))
  saveRDS(cases[[last]], sprintf("fuzz-crash-%d.rds", last))
  start <- last + 1L
}
outcome[crashes] <- "crash"
# An error must say which argument was wrong: its message quotes a name
# ('x', 'control', ...) or names an option or a row of a grid.
# The harness's own 10 s limit per call is counted apart, as a timeout.
timeout <- grepl("reached elapsed time limit", outcome, fixed = TRUE)
is_error <- startsWith(outcome, "error:") & !timeout
messages <- sub("^error: ", "", outcome[is_error])
named <- grepl("'[^']+'", messages)
kind <- ifelse(timeout, "timeout", ifelse(is_error, "error", outcome))
tab <- table(factor(kind, levels = c("value", "error", "timeout", "crash")),
             useNA = "ifany")
print(tab)
cat(sprintf("%d errors, %d of them naming an argument\n", sum(is_error),
            sum(named)))
if (any(!named)) {
  unnamed <- table(vapply(cases[is_error][!named], function(cs)
    if (is.null(cs$target$fun)) cs$target$call else cs$target$fun, ""),
    substr(messages[!named], 1, 70))
  un <- as.data.frame(unnamed, stringsAsFactors = FALSE)
  un <- un[un$Freq > 0, ]
  un <- un[order(-un$Freq), ]
  names(un) <- c("target", "message", "calls")
  cat("errors that name no argument:\n")
  print(utils::head(un, 40), row.names = FALSE)
}
cat(sprintf("%d calls fuzzed, %d crashes\n", n_calls, length(crashes)))
if (length(crashes)) quit(status = 1)
