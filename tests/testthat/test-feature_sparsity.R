# Sparsity indices against hand-computed values, their defining properties
# and plain-R reimplementations; feature_sparsity() against direct
# computations on the activations.

# Plain-R versions straight from the definitions, for comparison.
ref_hoyer <- function(c) {
  c <- abs(c)
  N <- length(c)
  (sqrt(N) - sum(c) / sqrt(sum(c^2))) / (sqrt(N) - 1)
}
ref_gini <- function(c) {
  c <- sort(abs(c))
  N <- length(c)
  1 - 2 * sum(c / sum(c) * (N - seq_len(N) + 0.5) / N)
}
ref_pr <- function(c) sum(abs(c))^2 / (length(c) * sum(c^2))

test_that("indices match hand-computed values", {
  c4 <- c(0, 1, 2, 3)
  # l1 = 6, l2 = sqrt(14), N = 4
  expect_equal(hoyer(c4), 2 - 6 / sqrt(14), tolerance = 1e-14)
  # sorted 0,1,2,3: sum (c_k/6)(4 - k + 1/2)/4 = (2.5 + 3 + 1.5) / 24
  expect_equal(gini(c4), 1 - 2 * 7 / 24, tolerance = 1e-14)
  expect_equal(participation_ratio(c4), 36 / 56, tolerance = 1e-14)
})

test_that("one-hot and constant vectors take the extreme values", {
  for (N in c(2, 5, 100)) {
    e <- replace(numeric(N), 2, 7)
    expect_equal(hoyer(e), 1)
    expect_equal(gini(e), 1 - 1 / N)
    expect_equal(participation_ratio(e), 1 / N)
    k <- rep(3.5, N)
    expect_equal(hoyer(k), 0, tolerance = 1e-12)
    expect_equal(gini(k), 0, tolerance = 1e-12)
    expect_equal(participation_ratio(k), 1)
  }
})

test_that("indices are scale invariant and use absolute values", {
  set.seed(11)
  v <- rnorm(50)
  for (f in list(hoyer, gini, participation_ratio)) {
    expect_equal(f(v * 1e-150), f(v), tolerance = 1e-12)
    expect_equal(f(v * 1e150), f(v), tolerance = 1e-12)
    expect_equal(f(-v), f(v), tolerance = 1e-14)
    expect_equal(f(abs(v)), f(v), tolerance = 1e-14)
  }
})

test_that("indices agree with plain-R definitions on random matrices", {
  set.seed(12)
  m <- matrix(pmax(rnorm(40 * 13), 0), 40, 13)
  m[, 3] <- rexp(40)
  expect_equal(hoyer(m), apply(m, 2, ref_hoyer), tolerance = 1e-12)
  expect_equal(gini(m), apply(m, 2, ref_gini), tolerance = 1e-12)
  expect_equal(participation_ratio(m), apply(m, 2, ref_pr),
               tolerance = 1e-12)
  expect_equal(hoyer(m, 1), apply(m, 1, ref_hoyer), tolerance = 1e-12)
  expect_equal(gini(m, 1), apply(m, 1, ref_gini), tolerance = 1e-12)
  expect_equal(participation_ratio(m, 1), apply(m, 1, ref_pr),
               tolerance = 1e-12)
  # ties and a dense vector with many zeros
  v <- c(0, 0, 0, 2, 2, 5, 0, 1)
  expect_equal(gini(v), ref_gini(v), tolerance = 1e-14)
})

test_that("undefined indices are NA and names are kept", {
  expect_true(is.na(hoyer(c(0, 0, 0))))
  expect_true(is.na(gini(numeric(4))))
  expect_true(is.na(participation_ratio(numeric(4))))
  expect_true(is.na(hoyer(5)))
  expect_equal(gini(5), 0)
  m <- matrix(c(1, 0, 2, 0), 2, dimnames = list(c("a", "b"), c("u", "v")))
  expect_named(hoyer(m), c("u", "v"))
  expect_named(gini(m, margin = 1), c("a", "b"))
  expect_true(is.na(hoyer(m, 1)[["b"]]))
})

test_that("bad input to the indices is an error naming the argument", {
  expect_error(hoyer("a"), "'x' must be a numeric vector or matrix")
  expect_error(gini(c(1, NA)), "'x' must be finite")
  expect_error(gini(c(1, Inf)), "'x' must be finite")
  expect_error(hoyer(matrix(1:4, 2), margin = 3), "'margin' must be 1")
  expect_error(participation_ratio(list(1, 2)), "'x' must be")
  expect_error(.Call(mirrorflow:::C_mf_sparsity, 1:3, TRUE, 1L),
               "'x' must be a double matrix")
  expect_error(.Call(mirrorflow:::C_mf_sparsity, c(1, 2), TRUE, 1L),
               "'x' must be a matrix")
  expect_error(.Call(mirrorflow:::C_mf_sparsity, matrix(1), NA, 1L),
               "'by_row' must be TRUE or FALSE")
  expect_error(.Call(mirrorflow:::C_mf_sparsity, matrix(1), TRUE, 0L),
               "'threads' must be a whole number")
  expect_error(.Call(mirrorflow:::C_mf_sparsity, matrix(1), TRUE, 2),
               "'threads' must be a whole number")
  r <- .Call(mirrorflow:::C_mf_sparsity, matrix(0, 0, 3), FALSE, 2L)
  expect_equal(r$positive, c(0, 0, 0))
})

relu_fit <- function(widths = c(20, 12, 1), keep = FALSE, seed = 1) {
  set.seed(seed)
  data(sparse_teacher, envir = environment())
  mirror_flow(sparse_teacher$x, sparse_teacher$y,
              net = homogeneous_net(widths, "relu"),
              control = flow_control(target_log_loss = -3, rtol = 1e-4,
                                     keep_params = keep, checkpoints = 6))
}

test_that("activations are the hidden layers of the network", {
  fit <- relu_fit(c(20, 6, 5, 1))
  w <- coef(fit)
  x <- fit$x
  h1 <- pmax(x %*% t(w$W1), 0)
  h2 <- pmax(h1 %*% t(w$W2), 0)
  expect_equal(unname(activations(fit)), h1, tolerance = 1e-14)
  expect_equal(unname(activations(fit, layer = 2)), h2, tolerance = 1e-14)
  both <- activations(fit, layer = NULL)
  expect_named(both, c("layer1", "layer2"))
  # the output layer applied to the last hidden layer gives the scores
  expect_equal(as.vector(h2 %*% t(w$W3)), predict(fit), tolerance = 1e-10)
  expect_equal(unname(activations(fit, x[1:3, ], weights = coef(fit, "init"))),
               pmax(x[1:3, ] %*% t(fit$init$W1), 0), tolerance = 1e-14)
  expect_error(activations(fit, layer = 3), "'layer' must be at least 1")
  expect_error(activations(fit, x[, 1:4]), "'x' must have 20 columns")
  lin <- mirror_flow(fit$x, fit$y,
                     control = flow_control(target_log_loss = -2))
  expect_error(activations(lin), "needs a network with hidden layers")
})

test_that("leaky activations keep their negative part", {
  set.seed(6)
  x <- matrix(rnorm(60), 20)
  y <- ifelse(x[, 1] > 0, 1, -1)
  fit <- mirror_flow(x, y, net = homogeneous_net(c(3, 4, 1), "leaky_relu",
                                                 slope = 0.2),
                     control = flow_control(target_log_loss = -1))
  pre <- x %*% t(coef(fit)$W1)
  expect_equal(unname(activations(fit)), ifelse(pre > 0, pre, 0.2 * pre),
               tolerance = 1e-14)
})

test_that("feature_sparsity() matches direct computations", {
  fit <- relu_fit(c(20, 12, 1))
  fs <- feature_sparsity(fit)
  h <- unname(activations(fit))
  w <- coef(fit)
  ly <- fs$layers
  expect_equal(ly$active_fraction, mean(h > 0))
  expect_equal(ly$dead_fraction, mean(colSums(h > 0) == 0))
  live_s <- rowSums(h > 0) > 0
  expect_equal(ly$hoyer_sample, mean(apply(h[live_s, ], 1, ref_hoyer)),
               tolerance = 1e-12)
  expect_equal(ly$gini_sample, mean(apply(h[live_s, ], 1, ref_gini)),
               tolerance = 1e-12)
  live_n <- colSums(h > 0) > 0
  expect_equal(ly$pr_neuron, mean(apply(h[, live_n], 2, ref_pr)),
               tolerance = 1e-12)
  mass <- sqrt(rowSums(w$W1^2)) * abs(as.vector(w$W2))
  expect_equal(fs$neurons$mass, mass, tolerance = 1e-14)
  share <- sort(mass / sum(mass), decreasing = TRUE)
  expect_equal(ly$mass_90, which(cumsum(share) >= 0.9)[1])
  expect_equal(ly$mass_50, which(cumsum(share) >= 0.5)[1])
  expect_equal(fs$samples$n_active, rowSums(h > 0))
  expect_equal(fs$neurons$active_rate, colMeans(h > 0))
  expect_null(fs$checkpoints)
  expect_output(print(fs), "12 neurons")
})

test_that("a dead neuron and a silent sample are counted, not averaged", {
  fit <- relu_fit(c(20, 8, 1))
  w <- coef(fit)
  w$W1[2, ] <- 0                      # neuron 2 never fires
  x <- rbind(fit$x, 0)                # the zero input activates nothing
  fit$weights <- w
  fs <- feature_sparsity(fit, x)
  h <- unname(activations(fit, x))
  expect_equal(fs$layers$dead_fraction, 1 / 8)
  expect_equal(fs$layers$silent_samples, sum(rowSums(h > 0) == 0))
  expect_gte(fs$layers$silent_samples, 1)
  expect_true(is.na(fs$neurons$hoyer[2]))
  expect_equal(fs$neurons$mass[2], 0)
  expect_true(is.na(fs$samples$hoyer[nrow(x)]))
  expect_equal(fs$layers$hoyer_neuron,
               mean(apply(h[, -2], 2, ref_hoyer)), tolerance = 1e-12)
})

test_that("per-checkpoint summaries follow the snapshots", {
  fit <- relu_fit(c(20, 10, 1), keep = TRUE)
  fs <- feature_sparsity(fit)
  cp <- fs$checkpoints
  snaps <- snapshots(fit)
  expect_equal(nrow(cp), length(snaps))
  expect_equal(cp$log_time, trajectory(fit)$log_time)
  k <- 2
  h <- pmax(fit$x %*% t(snaps[[k]]$W1), 0)
  expect_equal(cp$active_fraction[k], mean(h > 0))
  expect_equal(cp$gini_sample[k],
               mean(apply(h[rowSums(h > 0) > 0, ], 1, ref_gini)),
               tolerance = 1e-12)
  # the last checkpoint is the final state
  last <- cp[nrow(cp), names(fs$layers)]
  rownames(last) <- NULL
  expect_equal(last, fs$layers)
  expect_null(feature_sparsity(fit, along = FALSE)$checkpoints)
  expect_error(feature_sparsity(relu_fit(), along = TRUE),
               "needs parameter snapshots")
  expect_equal(tidy(fs, "checkpoints"), cp)
})

test_that("tidy and glance give the tables of a sparsity result", {
  fit <- relu_fit(c(20, 6, 4, 1))
  fs <- feature_sparsity(fit)
  expect_equal(nrow(glance(fs)), 2)
  expect_equal(glance(fs)$map, rep("euclidean [l2 horizon]", 2))
  expect_equal(glance(fs)$layer, 1:2)
  expect_equal(nrow(tidy(fs)), 10)
  expect_equal(nrow(tidy(fs, "samples")), 2 * 200)
  expect_equal(tidy(fs, "layers"), fs$layers)
  expect_error(tidy(fs, "checkpoints"), "no checkpoints")
  expect_error(tidy(fs, "foo"), "'what' must be one of")
  expect_error(feature_sparsity(list()), "'fit' must be a mirror_flow fit")
  expect_error(feature_sparsity(fit, along = "yes"), "'along' must be TRUE")
})

test_that("the indices do not depend on the number of threads", {
  set.seed(13)
  m <- matrix(pmax(rnorm(3000 * 70), 0), 3000, 70)
  res <- lapply(c(1, 2, 3), function(k) {
    withr_opt <- options(mirrorflow.threads = k)
    on.exit(options(withr_opt))
    list(gini(m, 1), hoyer(m, 2), participation_ratio(m, 1))
  })
  expect_identical(res[[1]], res[[2]])
  expect_identical(res[[1]], res[[3]])
  old <- options(mirrorflow.threads = 0)
  on.exit(options(old))
  expect_error(gini(m), "option 'mirrorflow.threads' must be")
})

test_that("long vectors (the radix-sort path) match the definitions", {
  set.seed(14)
  v <- c(rexp(600), rep(0.5, 50), rep(0, 300), 10^runif(200, -300, 300),
         1e-310, 2e-310)
  v <- sample(v)
  expect_equal(gini(v), ref_gini(v), tolerance = 1e-12)
  m <- cbind(v, rev(v), pmax(rnorm(length(v)), 0))
  expect_equal(gini(m), apply(m, 2, ref_gini), tolerance = 1e-12)
  expect_equal(gini(t(m), 1), apply(m, 2, ref_gini), tolerance = 1e-12)
  w <- round(rexp(5000) * 3) / 3          # many ties
  expect_equal(gini(w), ref_gini(w), tolerance = 1e-12)
  expect_equal(hoyer(w), ref_hoyer(w), tolerance = 1e-12)
})

test_that("a forked child computes the indices after its parent used threads", {
  # OpenMP's thread pool does not survive fork(): without the guard in
  # src/sparsity.c the child below hangs in its first parallel region
  skip_on_os("windows")
  old <- options(mirrorflow.threads = 2L)
  on.exit(options(old))
  set.seed(31)
  x <- matrix(abs(rnorm(2e5)), 1000)
  parent <- hoyer(x)
  job <- parallel::mcparallel(list(hoyer(x), gini(x)))
  got <- parallel::mccollect(job, wait = FALSE, timeout = 30)
  if (is.null(got)) {
    tools::pskill(job$pid, tools::SIGKILL)
    parallel::mccollect(job, wait = TRUE)
  }
  expect_false(is.null(got), label = "the child's result within 30 s")
  expect_identical(got[[1]][[1]], parent)
  expect_identical(got[[1]][[2]], gini(x))
})
