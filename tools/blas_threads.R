# Determinism across BLAS threads: the same seeded flow (a 2-layer ReLU
# net of width 64 on 400 points of a ReLU teacher in 50 dimensions, and a
# linear model on a sparse linear teacher) run in child R processes with
# 1 and with 2 BLAS threads, and compared. With the
# reference BLAS (single-threaded) the runs must be identical; with a
# threaded BLAS the blocked products may sum in another order, and the
# figure reported is the largest relative difference of the trajectory.
# Usage: Rscript tools/blas_threads.R [path to libopenblas.so.0]
#   With a path, the children preload that OpenBLAS (any build works,
#   e.g. one unpacked from Debian's libopenblas0-pthread with dpkg -x).
args <- commandArgs(trailingOnly = TRUE)
blas <- if (length(args) >= 1) normalizePath(args[1]) else ""

child <- tempfile(fileext = ".R")
writeLines(c(
  "library(mirrorflow)",
  "out <- commandArgs(trailingOnly = TRUE)[1]",
  "d <- simulate_relu_teacher(400, 50, 6, gap = 0.05, seed = 3)",
  "set.seed(7)",
  "relu <- mirror_flow(d, net = homogeneous_net(c(50, 64, 1)),",
  "                    integrator = 'loss_scaled',",
  "                    control = flow_control(target_log_loss = -20,",
  "                                           max_steps = 20000))",
  "set.seed(7)",
  "dl <- simulate_sparse_linear(400, 50, 5, gap = 0.05, seed = 3)",
  "set.seed(7)",
  "lin <- mirror_flow(dl, map = mirror_map('hypentropy', beta = 0.1),",
  "                   control = flow_control(target_log_loss = -200))",
  "saveRDS(list(blas = extSoftVersion()[['BLAS']],",
  "             relu = trajectory(relu), relu_w = coef(relu),",
  "             lin = trajectory(lin), lin_w = coef(lin)), out)"), child)

run <- function(threads) {
  out <- tempfile(fileext = ".rds")
  env <- c(sprintf("OPENBLAS_NUM_THREADS=%d", threads),
           sprintf("OMP_NUM_THREADS=%d", threads),
           if (nzchar(blas)) sprintf("LD_PRELOAD=%s", blas))
  status <- system2(file.path(R.home("bin"), "Rscript"), c(child, out),
                    env = env)
  if (status != 0) stop("the child run failed")
  readRDS(out)
}
one <- run(1)
two <- run(2)
cat(sprintf("BLAS: %s\n", one$blas))
reldiff <- function(a, b) {
  a <- unlist(a)
  b <- unlist(b)
  if (length(a) != length(b)) return(Inf)
  max(abs(a - b) / pmax(abs(a), abs(b), 1e-300), na.rm = TRUE)
}
# Weights relative to the largest weight of their matrix: an entry near
# zero makes the entrywise relative difference meaningless.
normdiff <- function(a, b) {
  if (length(a) != length(b)) return(Inf)
  max(mapply(function(u, v) max(abs(u - v)) / max(abs(u), 1e-300), a, b))
}
# The stated tolerance: with a threaded BLAS the two runs may differ by
# rounding in the order of summation, which the flow carries along; they
# must agree to 1e-4 relative in every trajectory column and weight.
tol <- 1e-4
worst <- 0
drop <- function(tr) tr[setdiff(names(tr), "balance_drift")]
for (what in c("relu", "lin")) {
  tr1 <- drop(one[[what]])
  tr2 <- drop(two[[what]])
  w1 <- one[[paste0(what, "_w")]]
  w2 <- two[[paste0(what, "_w")]]
  same <- identical(tr1, tr2) && identical(w1, w2)
  rt <- reldiff(tr1, tr2)
  rw <- normdiff(w1, w2)
  worst <- max(worst, rt, rw)
  cat(sprintf(paste("%s: checkpoints %d and %d; identical: %s; largest",
                    "relative difference: trajectory %.3g, weights %.3g",
                    "(of the largest weight), entrywise %.3g\n"),
              what, nrow(tr1), nrow(tr2), same, rt, rw, reldiff(w1, w2)))
}
cat(sprintf("tolerance %g: %s\n", tol, if (worst <= tol) "met" else "NOT met"))
if (worst > tol) quit(status = 1)
