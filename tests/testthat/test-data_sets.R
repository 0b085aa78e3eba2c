# Tests of the data layer (R/data_sets.R): the mirrorflow_data object, the
# teachers checked against scores recomputed here from their recorded
# parameters, splitting, relabelling, Fashion-MNIST against hand-made IDX
# files and the installed ones, and accuracy() against predict().

# Scores recomputed from what each generator records in `info`.
linear_score <- function(d) drop(d$x %*% d$info$teacher)
relu_score <- function(d) {
  h <- d$x %*% t(d$info$W1)
  drop(ifelse(h > 0, h, 0) %*% d$info$a)
}
xor_score <- function(d) {
  x1 <- d$x[, 1]
  x2 <- d$x[, 2]
  ifelse(x1 * x2 > 0, 1, -1) * pmin(abs(x1), abs(x2))
}

generators <- list(
  sparse_linear = list(
    make = function(...) simulate_sparse_linear(150, 12, k = 3, ...),
    score = linear_score),
  relu_teacher = list(
    make = function(...) simulate_relu_teacher(150, 6, k = 4, ...),
    score = relu_score),
  xor_clusters = list(
    make = function(...) simulate_xor(150, 4, ...),
    score = xor_score))

test_that("the constructor checks its arguments and names columns", {
  d <- mirrorflow_data(matrix(1:6, 3), c(1, -1, 1), list(source = "hand"))
  expect_true(is_mirrorflow_data(d))
  expect_false(is_mirrorflow_data(list(x = 1, y = 1)))
  expect_identical(colnames(d$x), c("x1", "x2"))
  expect_identical(typeof(d$x), "double")
  expect_identical(format(d),
                   "<mirrorflow_data> hand: n = 3, d = 2; +1: 2, -1: 1")
  df <- as.data.frame(d)
  expect_identical(names(df), c("x1", "x2", "y"))
  expect_identical(df$y, c(1, -1, 1))
  expect_identical(df$x2, c(4, 5, 6))

  m <- matrix(0, 2, 2, dimnames = list(NULL, c("a", "b")))
  f <- mirrorflow_data(m, factor(c("u", "v")))
  expect_identical(colnames(f$x), c("a", "b"))
  expect_match(format(f), "unknown source: n = 2, d = 2; u: 1, v: 1")

  expect_error(mirrorflow_data(matrix(1:4, 2), c(0, 1)),
               "'y' must be -1/\\+1 labels or a factor; found 0")
  expect_error(mirrorflow_data(matrix(1:4, 2), c(1, -1, 1)),
               "'y' must have one label per row of 'x' \\(2\\), not 3")
  expect_error(mirrorflow_data(matrix(1:4, 2), c("a", "b")),
               "'y' must be numeric -1/\\+1 labels or a factor")
  expect_error(mirrorflow_data(matrix(1:4, 2), factor(c("a", NA))),
               "'y' must have no missing labels")
  expect_error(mirrorflow_data(matrix(c(1, NA), 1), 1), "'x' must be finite")
  expect_error(mirrorflow_data("a", 1), "'x' must be a numeric matrix")
  expect_error(mirrorflow_data(matrix(1:4, 2), c(1, -1), info = 3),
               "'info' must be a list")
  clash <- mirrorflow_data(matrix(1:4, 2, dimnames = list(NULL, c("y", "z"))),
                           c(1, -1))
  expect_error(as.data.frame(clash), "column named 'y'")
})

test_that("a seed reproduces a set and leaves the session's stream alone", {
  for (g in generators) {
    set.seed(11)
    before <- .Random.seed
    a <- g$make(seed = 5)
    expect_identical(.Random.seed, before)
    expect_identical(a, g$make(seed = 5))
    expect_false(identical(a$x, g$make(seed = 6)$x))
    expect_identical(a$info$seed, 5L)

    # No seed: the stream decides, and the seed drawn is recorded.
    set.seed(12)
    b <- g$make()
    set.seed(12)
    expect_identical(b, g$make())
    expect_identical(g$make(seed = b$info$seed), b)
  }

  # A session that has not used its generator yet still has none after.
  genv <- globalenv()
  saved <- get(".Random.seed", envir = genv)
  rm(".Random.seed", envir = genv)
  simulate_xor(20, seed = 1)
  expect_false(exists(".Random.seed", envir = genv, inherits = FALSE))
  assign(".Random.seed", saved, envir = genv)

  # Nor does the session's choice of generator change the data, and the
  # choice survives the call.
  plain <- simulate_sparse_linear(50, 5, 2, seed = 3)
  old <- RNGkind()
  on.exit(RNGkind(old[1], old[2], old[3]))
  RNGkind("L'Ecuyer-CMRG", "Box-Muller")
  expect_identical(simulate_sparse_linear(50, 5, 2, seed = 3), plain)
  expect_identical(RNGkind()[1:2], c("L'Ecuyer-CMRG", "Box-Muller"))
})

test_that("without noise the teacher separates its labels, with the gap", {
  for (nm in names(generators)) {
    g <- generators[[nm]]
    for (gap in c(0, 0.3)) {
      d <- expect_silent(g$make(gap = gap, seed = 2))
      s <- g$score(d)
      expect_identical(d$info$source, nm)
      expect_identical(length(d$y), 150L)
      expect_true(all(d$y * s > 0), label = nm)
      expect_gte(min(abs(s)), gap)
      expect_true(d$info$separable_by_teacher)
      expect_identical(d$info$n_flipped, 0L)
      expect_identical(d$info$gap, gap)
      expect_true(all(c(-1, 1) %in% d$y))
    }
    # A gap removes points the plain draw keeps.
    expect_gt(g$make(gap = 0.3, seed = 2)$info$dropped, 0)
  }
  expect_identical(simulate_sparse_linear(100, 5, 2, seed = 1)$info$dropped,
                   0L)
})

test_that("noise flips exactly round(noise * n) labels, and warns", {
  for (nm in names(generators)) {
    g <- generators[[nm]]
    for (noise in c(0.1, 0.237)) {
      expect_warning(d <- g$make(noise = noise, gap = 0.1, seed = 4),
                     "not separable by the")
      wrong <- which(d$y * g$score(d) < 0)
      expect_identical(length(wrong), as.integer(round(noise * 150)))
      expect_identical(d$info$flipped, wrong)
      expect_identical(d$info$n_flipped, length(wrong))
      expect_false(d$info$separable_by_teacher)
      # The gap is taken before the flips, on every point.
      expect_gte(min(abs(g$score(d))), 0.1)
    }
  }
  # One warning, not one per flipped label.
  w <- character(0)
  withCallingHandlers(simulate_xor(100, noise = 0.2, seed = 1),
                      warning = function(c) {
                        w <<- c(w, conditionMessage(c))
                        invokeRestart("muffleWarning")
                      })
  expect_identical(w, paste("the labels are not separable by the XOR rule:",
                            "'noise' flipped 20 of the 100 labels"))
  # Too little noise to flip a label leaves the set separable.
  expect_silent(simulate_sparse_linear(10, 3, 1, noise = 0.04, seed = 1))
})

test_that("the teachers have the shapes they are documented to have", {
  d <- simulate_sparse_linear(40, 30, k = 4, seed = 9)
  w <- d$info$teacher
  expect_identical(sum(w != 0), 4L)
  expect_equal(sum(w^2), 1, tolerance = 1e-14)
  expect_equal(abs(w[w != 0]), rep(0.5, 4), tolerance = 1e-14)
  expect_identical(d$info[c("n", "d", "k", "noise")],
                   list(n = 40, d = 30, k = 4, noise = 0))

  r <- simulate_relu_teacher(40, 7, k = 5, seed = 9)
  expect_identical(dim(r$info$W1), c(5L, 7L))
  expect_equal(rowSums(r$info$W1^2), rep(1, 5), tolerance = 1e-14)
  expect_identical(r$info$a, c(1, -1, 1, -1, 1))

  x <- simulate_xor(400, d = 6, sd = 0.2, seed = 9)
  expect_identical(colnames(x$x), paste0("x", 1:6))
  # Clusters near (+-1, +-1); the other coordinates centred noise.
  expect_equal(mean(abs(x$x[, 1])), 1, tolerance = 0.05)
  expect_lt(abs(mean(x$x[, 3:6])), 0.05)
  expect_equal(sd(x$x[, 3:6]), 0.2, tolerance = 0.1)
  expect_identical(x$info$rule, "sign(x1 * x2)")
  expect_identical(x$info[c("sd", "mu")], list(sd = 0.2, mu = 1))
})

test_that("the generators refuse bad arguments by name", {
  bad <- list(
    list(quote(simulate_sparse_linear(0, 5, 2)), "'n' must be at least 1"),
    list(quote(simulate_sparse_linear(2.5, 5, 2)),
         "'n' must be a whole number"),
    list(quote(simulate_sparse_linear("a", 5, 2)),
         "'n' must be a single number"),
    list(quote(simulate_sparse_linear(10, 0, 1)), "'d' must be at least 1"),
    list(quote(simulate_sparse_linear(10, 5, 6)),
         "'k' must be at least 1 and at most 5"),
    list(quote(simulate_sparse_linear(10, 5, 1.5)),
         "'k' must be a whole number"),
    list(quote(simulate_sparse_linear(10, 5, 2, gap = -1)),
         "'gap' must be at least 0"),
    list(quote(simulate_sparse_linear(10, 5, 2, noise = 0.5)),
         "'noise' must be a fraction in \\[0, 0.5\\)"),
    list(quote(simulate_relu_teacher(10, 5, 2, noise = -0.1)),
         "'noise' must be a fraction"),
    list(quote(simulate_relu_teacher(10, 5, 1)), "'k' must be at least 2"),
    list(quote(simulate_xor(10, 1)), "'d' must be at least 2 for XOR"),
    list(quote(simulate_xor(10, 2, sd = 0)), "'sd' must be greater than 0"),
    list(quote(simulate_xor(10, seed = "x")),
         "'seed' must be a single number"),
    list(quote(simulate_sparse_linear(10, 5, 2, gap = 6)),
         "'gap' = 6 is too large: of 11,000 points drawn only 0"))
  for (b in bad) expect_error(eval(b[[1]]), b[[2]],
                              label = deparse(b[[1]]))
})

test_that("split_data() is stratified, disjoint and complete", {
  d <- simulate_relu_teacher(203, 5, k = 3, seed = 1)
  set.seed(3)
  before <- .Random.seed
  p <- split_data(d, test = 0.3, seed = 8)
  expect_identical(.Random.seed, before)
  expect_identical(p, split_data(d, test = 0.3, seed = 8))
  tr <- p$train$info$split$index
  te <- p$test$info$split$index
  expect_length(intersect(tr, te), 0)
  expect_identical(sort(c(tr, te)), seq_len(203))
  for (cl in c(-1, 1)) {
    expect_identical(sum(p$test$y == cl),
                     as.integer(round(0.3 * sum(d$y == cl))))
  }
  expect_identical(p$test$x, d$x[te, ])
  expect_identical(p$train$y, d$y[tr])
  expect_identical(p$test$info$split[c("part", "test", "seed", "stratify")],
                   list(part = "test", test = 0.3, seed = 8L,
                        stratify = TRUE))
  expect_identical(p$train$info$teacher, d$info$teacher)

  q <- split_data(d, test = 0.3, seed = 8, stratify = FALSE)
  expect_identical(length(q$test$y), as.integer(round(0.3 * 203)))

  f <- mirrorflow_data(matrix(1:12, 6), factor(c("a", "a", "b", "b", "c",
                                                  "c")))
  pf <- split_data(f, test = 0.5, seed = 1)
  expect_identical(as.vector(table(pf$test$y)), c(1L, 1L, 1L))
  expect_identical(levels(pf$test$y), c("a", "b", "c"))

  expect_error(split_data(d, test = 0), "'test' must be greater than 0")
  expect_error(split_data(d, test = 1), "'test' must be a fraction below 1")
  expect_error(split_data(d, test = 0.001), "leaves the test set empty")
  expect_error(split_data(d$x), "'data' must be a mirrorflow_data object")
  expect_error(split_data(d, stratify = NA), "'stratify' must be TRUE")
})

test_that("binary_labels() keeps the named classes and labels them", {
  lab <- factor(rep(c("cat", "dog", "emu", "fox"), 3))
  d <- mirrorflow_data(matrix(seq_len(24), 12), lab)
  b <- binary_labels(d, "dog")
  expect_identical(b$y, ifelse(lab == "dog", 1, -1))
  expect_identical(b$info[c("positive", "negative")],
                   list(positive = "dog", negative = c("cat", "emu", "fox")))
  c2 <- binary_labels(d, c("cat", "fox"), negative = "emu")
  keep <- which(lab %in% c("cat", "fox", "emu"))
  expect_identical(c2$x, d$x[keep, ])
  expect_identical(c2$y, ifelse(lab[keep] == "emu", -1, 1))
  expect_identical(binary_labels(d, 2, 3), binary_labels(d, "dog", "emu"))

  expect_error(binary_labels(d, "gnu"),
               "'positive' class \"gnu\" is not present in 'data'")
  expect_error(binary_labels(d, "cat", "gnu"),
               "'negative' class \"gnu\" is not present")
  expect_error(binary_labels(d, "cat", "cat"), "must not share classes")
  expect_error(binary_labels(d, 7), "by position 1 to 4")
  expect_error(binary_labels(d, levels(lab)), "'negative' is empty")
  expect_error(binary_labels(d, NULL), "'positive' must name one or more")
  expect_error(binary_labels(simulate_xor(10, seed = 1), 1),
               "'data' must have factor labels")
})

test_that("normalize_rows() gives unit rows and leaves zero rows", {
  x <- rbind(c(3, 4), c(0, 0), c(-1, 1))
  d <- normalize_rows(mirrorflow_data(x, c(1, -1, 1)))
  expect_equal(d$x, rbind(c(0.6, 0.8), c(0, 0), c(-1, 1) / sqrt(2)),
               tolerance = 1e-15, ignore_attr = TRUE)
  expect_identical(d$info$zero_rows, 1L)
  expect_true(d$info$normalize)
  expect_null(attr(d$x, "zero_rows"))
})

# A small MNIST-family directory written here: `n` images of side 4 with
# labels cycling through 0 to 3, pixel values from a fixed formula, plain
# (unpacked) file names.
fake_mnist <- function(n = 12, side = 4, prefix = "train") {
  dir <- tempfile("idx")
  dir.create(dir)
  px <- array(0L, c(n, side, side))
  for (i in seq_len(n)) for (r in seq_len(side)) for (c in seq_len(side))
    px[i, r, c] <- (37L * i + 11L * r + 3L * c^2) %% 256L
  lab <- (seq_len(n) - 1L) %% 4L
  con <- file(file.path(dir, paste0(prefix, "-images-idx3-ubyte")), "wb")
  writeBin(as.raw(c(0, 0, 8, 3)), con)
  writeBin(as.integer(c(n, side, side)), con, size = 4, endian = "big")
  for (i in seq_len(n)) for (r in seq_len(side))
    writeBin(as.raw(px[i, r, ]), con)
  close(con)
  con <- file(file.path(dir, paste0(prefix, "-labels-idx1-ubyte")), "wb")
  writeBin(as.raw(c(0, 0, 8, 1)), con)
  writeBin(as.integer(n), con, size = 4, endian = "big")
  writeBin(as.raw(lab), con)
  close(con)
  list(dir = dir, px = px, lab = lab)
}

test_that("fashion_mnist() selects, averages and flattens row by row", {
  fk <- fake_mnist()
  d <- fashion_mnist(fk$dir, classes = c(2, 0))
  idx <- which(fk$lab %in% c(0, 2))
  expect_identical(d$info$index, idx)
  expect_identical(d$y, ifelse(fk$lab[idx] == 2, 1, -1))
  expect_identical(colnames(d$x), paste0("p", 1:16))
  # Pixel (r, c) is column (r - 1) * 4 + c.
  for (j in seq_along(idx)) {
    expect_identical(d$x[j, ], as.vector(t(fk$px[idx[j], , ])) / 255,
                     ignore_attr = TRUE)
  }

  h <- fashion_mnist(fk$dir, classes = c(0, 1, 3), downsample = 2)
  idx <- which(fk$lab %in% c(0, 1, 3))
  expect_identical(levels(h$y), c("T-shirt/top", "Trouser", "Dress"))
  expect_identical(as.character(h$y),
                   c("T-shirt/top", "Trouser", "Pullover", "Dress")[
                     fk$lab[idx] + 1])
  for (j in seq_along(idx)) {
    img <- fk$px[idx[j], , ]
    want <- c(mean(img[1:2, 1:2]), mean(img[1:2, 3:4]),
              mean(img[3:4, 1:2]), mean(img[3:4, 3:4])) / 255
    expect_equal(h$x[j, ], want, tolerance = 1e-15, ignore_attr = TRUE)
  }
  expect_identical(h$info[c("side", "original_side", "downsample")],
                   list(side = 2L, original_side = 4L, downsample = 2))

  u <- fashion_mnist(fk$dir, classes = c(1, 3), normalize = TRUE)
  expect_equal(rowSums(u$x^2), rep(1, 6), tolerance = 1e-14)
  expect_identical(u$info$zero_rows, 0L)

  s <- fashion_mnist(fk$dir, classes = c(0, 1, 2), n = 7, seed = 3)
  expect_identical(as.vector(table(s$y)), c(3L, 2L, 2L))
  expect_identical(s, fashion_mnist(fk$dir, classes = c(0, 1, 2), n = 7,
                                    seed = 3))

  expect_error(fashion_mnist(fk$dir, classes = 0:1, downsample = 3),
               "'downsample' must divide the image side 4; got 3")
  expect_error(fashion_mnist(fk$dir, classes = c(0, 1), n = 9),
               paste("'n' = 9 asks for 5 images of class 0, but the train",
                     "split has 3"))
  expect_error(fashion_mnist(fk$dir, classes = c(0, 6)),
               "'classes' holds 6, which has no image")
  expect_error(fashion_mnist(fk$dir, classes = 1), "two or more class codes")
  expect_error(fashion_mnist(fk$dir, classes = c(1, 1)), "must not repeat")
  expect_error(fashion_mnist(fk$dir, split = "valid"),
               "'split' must be one of \"train\", \"test\"")
  expect_error(fashion_mnist(fk$dir, split = "test", classes = 0:1),
               "no file t10k-labels-idx1-ubyte.gz .*apt-get install")
  expect_error(fashion_mnist(file.path(fk$dir, "nothing")),
               paste0("install the Debian package dataset-fashion-mnist ",
                      "\\(apt-get install dataset-fashion-mnist\\), or pass ",
                      "'path' to a directory holding the IDX files"))
  unlink(fk$dir, recursive = TRUE)
})

fashion_dir <- "/usr/share/datasets/fashion-mnist"

test_that("fashion_mnist() on the installed files matches read_idx()", {
  skip_if_not(dir.exists(fashion_dir), "Fashion-MNIST files not installed")
  d <- fashion_mnist(split = "test", classes = c(6, 0, 9), n = 60,
                     downsample = 4, seed = 1)
  img <- read_idx(file.path(fashion_dir, "t10k-images-idx3-ubyte.gz"))
  lab <- read_idx(file.path(fashion_dir, "t10k-labels-idx1-ubyte.gz"))
  i <- d$info$index
  expect_identical(as.vector(table(lab[i])), c(20L, 20L, 20L))
  expect_identical(as.character(d$y),
                   c("T-shirt/top", "Shirt", "Ankle boot")[
                     match(lab[i], c(0, 6, 9))])
  expect_identical(levels(d$y), c("Shirt", "T-shirt/top", "Ankle boot"))
  one <- img[i[5], , ]
  want <- matrix(0, 7, 7)
  for (r in 1:7) for (c in 1:7)
    want[r, c] <- mean(one[4 * (r - 1) + 1:4, 4 * (c - 1) + 1:4]) / 255
  expect_equal(matrix(d$x[5, ], 7, 7, byrow = TRUE), want,
               tolerance = 1e-15, ignore_attr = TRUE)
  b <- binary_labels(d, 9)
  expect_identical(b$y, ifelse(lab[i] == 9, 1, -1))
})

test_that("the shipped subset is what its script says", {
  data(fashion_subset, package = "mirrorflow", envir = environment())
  expect_true(is_mirrorflow_data(fashion_subset))
  expect_identical(dim(fashion_subset$x), c(400L, 196L))
  expect_identical(as.vector(table(fashion_subset$y)), c(200L, 200L))
  expect_true(all(fashion_subset$x >= 0 & fashion_subset$x <= 1))
  expect_identical(fashion_subset$info$classes, c(0, 6))
  skip_if_not(dir.exists(fashion_dir), "Fashion-MNIST files not installed")
  expect_identical(fashion_mnist(classes = c(0, 6), n = 400, downsample = 2,
                                 seed = 20261204), fashion_subset)
})

test_that("accuracy() is the fraction predict() gets right", {
  d <- simulate_sparse_linear(120, 6, k = 2, gap = 0.2, seed = 1)
  fit <- suppressWarnings(mirror_flow(d$x, d$y, progress = FALSE,
                                      control = flow_control(
                                        target_log_loss = -5)))
  expect_identical(accuracy(fit, d),
                   mean(predict(fit, d$x, type = "class") == d$y))
  expect_identical(accuracy(fit, d), 1)
  noisy <- suppressWarnings(simulate_sparse_linear(200, 6, k = 2, noise = 0.2,
                                                   seed = 2))
  a <- accuracy(fit, noisy)
  expect_identical(a, mean(predict(fit, noisy$x, type = "class") ==
                             noisy$y))
  expect_lt(a, 1)

  expect_error(accuracy(fit, simulate_xor(10, d = 5, seed = 1)),
               "'data' must have 6 columns, as the fit's inputs; it has 5")
  expect_error(accuracy(fit, d$x), "'data' must be a mirrorflow_data object")
  expect_error(accuracy(list(), d), "'fit' must be a mirror_flow fit")
  lab <- mirrorflow_data(d$x, factor(ifelse(d$y > 0, "p", "n")))
  expect_error(accuracy(fit, lab), "'data' has factor labels")
})

test_that("printing gives one line: source, size and balance", {
  expect_snapshot(print(simulate_sparse_linear(200, 20, k = 3, seed = 1)))
  expect_snapshot(print(mirrorflow_data(diag(3),
                                        factor(c("a", "b", "b")))))
})

test_that("generators refuse sizes that cannot fit in memory", {
  expect_error(simulate_sparse_linear(2^31 - 1, 1000, 2),
               "'n' times 'd' must be at most 1e9")
  expect_error(simulate_xor(100, 2^31 - 1), "'n' times 'd' must be at most")
  expect_error(simulate_relu_teacher(100, 3, 2^31 - 1), "'k' is too large")
})
