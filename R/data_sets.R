# The data object shared by the package (`mirrorflow_data`), the synthetic
# teachers that make such objects, splitting, relabelling, row scaling and
# test-set accuracy.

# The object ----------------------------------------------------------------

#' Data sets for mirror flows
#'
#' `mirrorflow_data()` bundles inputs, labels and a record of how they were
#' made into the object that the package's generators, [split_data()],
#' [binary_labels()] and [fashion_mnist()] return and [accuracy()] takes.
#'
#' The object is a list with
#' * `x`: a double matrix, one row per point, with column names (`x1`,
#'   `x2`, ... unless given);
#' * `y`: the labels, numeric -1 and +1 for binary data or a factor for
#'   data with several classes;
#' * `info`: a list saying how the data were made; for the generators at
#'   least `source`, `seed` and every argument, for teachers also their
#'   parameters.
#'
#' The number of points is `length(data$y)`. `as.data.frame()` gives the
#' columns of `x` followed by a column `y`.
#'
#' @param x A numeric matrix with one row per point, or a data frame of
#'   numeric columns. For `format()`, `print()` and `as.data.frame()`: a
#'   `mirrorflow_data` object.
#' @param y Labels, one per row of `x`: numeric -1/+1 or a factor.
#' @param info A list recording how the data were made.
#' @param row.names,optional Passed to [as.data.frame()].
#' @param ... Unused.
#' @return `mirrorflow_data()`: an object of class `mirrorflow_data`.
#'   `is_mirrorflow_data()`: `TRUE` or `FALSE`.
#' @examples
#' d <- mirrorflow_data(matrix(c(1, 2, -1, -2), 2), c(1, -1),
#'                      info = list(source = "by hand"))
#' d
#' as.data.frame(d)
#' @export
mirrorflow_data <- function(x, y, info = list()) {
  x <- check_data_matrix(x, "x")
  if (is.null(colnames(x))) colnames(x) <- paste0("x", seq_len(ncol(x)))
  if (anyNA(colnames(x)) || any(colnames(x) == ""))
    stop("'x' must have a name for every column or none at all",
         call. = FALSE)
  if (is.factor(y)) {
    if (anyNA(y))
      stop(sprintf("'y' must have no missing labels; found %d",
                   sum(is.na(y))), call. = FALSE)
  } else if (is.numeric(y)) {
    bad <- is.na(y) | !(y %in% c(-1, 1))
    if (any(bad))
      stop(sprintf(paste("'y' must be -1/+1 labels or a factor; found %s",
                         "at position %d"), format(y[which(bad)[1]]),
                   which(bad)[1]), call. = FALSE)
    y <- as.double(y)
  } else {
    stop(sprintf("'y' must be numeric -1/+1 labels or a factor, not %s",
                 describe(y)), call. = FALSE)
  }
  if (length(y) != nrow(x))
    stop(sprintf("'y' must have one label per row of 'x' (%d), not %d",
                 nrow(x), length(y)), call. = FALSE)
  if (!is.list(info) || is.data.frame(info))
    stop(sprintf("'info' must be a list, not %s", describe(info)),
         call. = FALSE)
  names(y) <- NULL
  rownames(x) <- NULL
  structure(list(x = x, y = y, info = info), class = "mirrorflow_data")
}

#' @rdname mirrorflow_data
#' @export
is_mirrorflow_data <- function(x) inherits(x, "mirrorflow_data")

#' @rdname mirrorflow_data
#' @export
format.mirrorflow_data <- function(x, ...) {
  src <- x$info$source
  if (is.null(src)) src <- "unknown source"
  counts <- if (is.factor(x$y)) table(x$y) else
    c("+1" = sum(x$y > 0), "-1" = sum(x$y < 0))
  sprintf("<mirrorflow_data> %s: n = %d, d = %d; %s", src, length(x$y),
          ncol(x$x), paste(sprintf("%s: %d", names(counts), counts),
                           collapse = ", "))
}

#' @rdname mirrorflow_data
#' @export
print.mirrorflow_data <- function(x, ...) {
  cat(format(x, ...), sep = "\n")
  invisible(x)
}

#' @rdname mirrorflow_data
#' @export
as.data.frame.mirrorflow_data <- function(x, row.names = NULL,
                                          optional = FALSE, ...) {
  if ("y" %in% colnames(x$x))
    stop("'x' has a column named 'y', which would clash with the labels",
         call. = FALSE)
  df <- as.data.frame(x$x, row.names = row.names, optional = optional)
  df$y <- x$y
  df
}

# Rows `i` of a data set, labels and record kept in step.
subset_rows <- function(data, i) {
  data$x <- data$x[i, , drop = FALSE]
  rownames(data$x) <- NULL
  data$y <- data$y[i]
  data
}

check_data_set <- function(data, arg = "data") {
  if (!is_mirrorflow_data(data))
    stop(sprintf("'%s' must be a mirrorflow_data object, not %s", arg,
                 describe(data)), call. = FALSE)
  data
}

# Random numbers ------------------------------------------------------------

# A seed for the record: the one given, or one drawn from the session's
# stream, so that set.seed() before a call without a seed still makes the
# same data and info$seed can make them again.
resolve_seed <- function(seed) {
  if (is.null(seed)) return(sample.int(.Machine$integer.max, 1))
  as.integer(check_number(seed, "seed", integer = TRUE,
                          lower = -.Machine$integer.max,
                          upper = .Machine$integer.max))
}

# Evaluates `expr` and puts the session's generator back as it was (or
# absent, if it was), so that nothing mirrorflow does moves the user's own
# stream.
keep_session_rng <- function(expr) {
  genv <- globalenv()
  had <- exists(".Random.seed", envir = genv, inherits = FALSE)
  if (had) old <- get(".Random.seed", envir = genv, inherits = FALSE)
  on.exit({
    if (had) {
      assign(".Random.seed", old, envir = genv)
    } else if (exists(".Random.seed", envir = genv, inherits = FALSE)) {
      rm(".Random.seed", envir = genv)
    }
  })
  expr
}

# Evaluates `expr` from set.seed(seed), leaving the session's generator as
# it was. The kind is fixed so that a seed means the same data whatever
# generator the session has chosen.
with_seed <- function(seed, expr) {
  keep_session_rng({
    set.seed(seed, kind = "Mersenne-Twister", normal.kind = "Inversion",
             sample.kind = "Rejection")
    expr
  })
}

# Synthetic teachers ---------------------------------------------------------

check_generator_args <- function(n, d, gap, noise) {
  check_number(n, "n", lower = 1, integer = TRUE)
  check_number(d, "d", lower = 1, integer = TRUE)
  if (n * d > 1e9)
    stop(sprintf(paste("'n' times 'd' must be at most 1e9 (8 GB of inputs);",
                       "got n = %s, d = %s"), format(n), format(d)),
         call. = FALSE)
  check_number(gap, "gap", lower = 0)
  if (!is.numeric(noise) || length(noise) != 1 || is.na(noise) ||
      noise < 0 || noise >= 0.5)
    stop(sprintf("'noise' must be a fraction in [0, 0.5), not %s",
                 describe(noise)), call. = FALSE)
  invisible(TRUE)
}

# Draws points until `n` of them lie at least `gap` from the teacher's
# boundary (and none on it), in batches sized by the acceptance rate seen
# so far. A gap that almost no point clears would loop for ever, so the
# draws are capped at 100 n + 10,000. `dropped` counts the points looked
# at and refused before the n-th kept one.
draw_with_gap <- function(n, d, draw, score, gap) {
  max_draws <- 100 * n + 10000
  xs <- list()
  ss <- list()
  kept <- 0
  drawn <- 0
  looked <- 0
  while (kept < n) {
    if (drawn >= max_draws)
      stop(sprintf(paste("'gap' = %s is too large: of %s points drawn only",
                         "%d lay at least 'gap' from the teacher's",
                         "boundary, and %d are needed"), format(gap),
                   format(drawn, big.mark = ","), kept, n), call. = FALSE)
    rate <- if (drawn == 0) 1 else max(kept / drawn, 0.01)
    m <- min(ceiling(1.1 * (n - kept) / rate) + 10, max_draws - drawn)
    # A wide input and a low acceptance rate would ask for gigabytes at
    # once; about 10 million numbers a batch is plenty.
    m <- min(m, max(1000, floor(1e7 / d)))
    x <- draw(m)
    s <- score(x)
    ok <- which(abs(s) >= gap & s != 0)
    if (length(ok) > n - kept) {
      ok <- ok[seq_len(n - kept)]
      looked <- drawn + ok[length(ok)]
    } else {
      looked <- drawn + m
    }
    xs[[length(xs) + 1]] <- x[ok, , drop = FALSE]
    ss[[length(ss) + 1]] <- s[ok]
    kept <- kept + length(ok)
    drawn <- drawn + m
  }
  list(x = do.call(rbind, xs), score = unlist(ss),
       dropped = as.integer(looked - n))
}

# Labels from the scores, exactly round(noise * n) of them flipped, and
# the separability record with its warning: the part the three
# generators share.
teacher_set <- function(g, noise, info, what) {
  y <- ifelse(g$score > 0, 1, -1)
  m <- round(noise * length(y))
  flipped <- if (m > 0) sort(sample.int(length(y), m)) else integer(0)
  y[flipped] <- -y[flipped]
  separable <- all(y * g$score > 0)
  info$dropped <- g$dropped
  info$flipped <- flipped
  info$n_flipped <- length(flipped)
  info$separable_by_teacher <- separable
  if (!separable)
    warning(sprintf(paste("the labels are not separable by the %s: 'noise'",
                          "flipped %d of the %d labels"), what,
                    length(flipped), length(y)), call. = FALSE)
  x <- g$x
  colnames(x) <- paste0("x", seq_len(ncol(x)))
  mirrorflow_data(x, y, info)
}

#' Simulate data from a teacher
#'
#' Three synthetic binary data sets with a known rule, for experiments on
#' the implicit bias of mirror flows: a sparse linear teacher, a two-layer
#' ReLU teacher and Gaussian clusters labelled by XOR.
#'
#' * `simulate_sparse_linear()`: standard normal inputs in \eqn{d}
#'   dimensions and a teacher \eqn{w} with `k` nonzero coordinates at
#'   random positions, of random signs and equal size, scaled to unit
#'   \eqn{\ell_2} norm. The score is \eqn{\langle w, x\rangle}.
#' * `simulate_relu_teacher()`: standard normal inputs and the teacher
#'   \eqn{f(x) = \sum_j a_j \max(0, \langle w_j, x\rangle)} with `k` hidden
#'   units, \eqn{w_j} random directions of unit \eqn{\ell_2} norm (rows of
#'   `info$W1`) and output weights \eqn{a_j} alternating +1, -1, ...
#'   (`info$a`), so that both classes occur. The score is \eqn{f(x)}.
#' * `simulate_xor()`: four Gaussian clusters of spread `sd` centred at
#'   \eqn{(\pm\mu, \pm\mu)} in the first two coordinates, one chosen at
#'   random for each point; the other \eqn{d - 2} coordinates are
#'   independent \eqn{N(0, sd^2)} noise. The rule is
#'   \eqn{\mathrm{sign}(x_1 x_2)}: +1 in the quadrants where both
#'   coordinates have the same sign. The score is the signed distance to
#'   the rule's boundary, \eqn{\mathrm{sign}(x_1 x_2) \min(|x_1|, |x_2|)}.
#'
#' The label of a point is the sign of its score. Points whose score is
#' smaller than `gap` in absolute value (and points exactly on the
#' boundary) are dropped and new ones drawn until `n` are kept; the
#' number dropped is `info$dropped`. If even 100 n + 10,000 draws do not
#' give `n` points, the gap is refused with an error. Then exactly
#' `round(noise * n)` labels, at random positions (`info$flipped`), are
#' flipped. When that leaves labels the teacher does not reproduce, a
#' warning says so; `info$separable_by_teacher` records it either way.
#'
#' With a `seed`, the data are drawn from `set.seed(seed)` (Mersenne
#' Twister, inversion, rejection sampling, whatever the session uses) and
#' the session's random-number state is left exactly as it was. Without
#' one, a seed is drawn from the session's generator and recorded in
#' `info$seed`, so that either way the set can be made again.
#'
#' @param n Number of points.
#' @param d Input dimension.
#' @param k Number of nonzero teacher coordinates (`simulate_sparse_linear`,
#'   at most `d`) or of hidden units (`simulate_relu_teacher`, at least 2).
#' @param gap Smallest absolute score a kept point may have.
#' @param noise Fraction of labels flipped, in \[0, 0.5).
#' @param seed A whole number, or `NULL`.
#' @param sd Spread of the XOR clusters and of the noise coordinates.
#' @param mu Distance of the XOR cluster centres from the axes.
#' @return A [mirrorflow_data()] object. `info` holds `source`, `seed`, the
#'   arguments, the teacher (`teacher` for the linear one; `W1` and `a`
#'   for the ReLU one; `rule` for XOR), `dropped`, `flipped`, `n_flipped`
#'   and `separable_by_teacher`.
#' @examples
#' simulate_sparse_linear(200, 20, k = 3, gap = 0.1, seed = 1)
#' relu <- simulate_relu_teacher(200, 10, k = 4, seed = 2)
#' relu$info$a
#' xor <- simulate_xor(400, d = 5, noise = 0.05, seed = 3)
#' xor$info$n_flipped
#' @name simulate_teacher
NULL

#' @rdname simulate_teacher
#' @export
simulate_sparse_linear <- function(n, d, k, gap = 0, noise = 0,
                                   seed = NULL) {
  check_generator_args(n, d, gap, noise)
  check_number(k, "k", lower = 1, upper = d, integer = TRUE)
  seed <- resolve_seed(seed)
  with_seed(seed, {
    teacher <- numeric(d)
    teacher[sample.int(d, k)] <- sample(c(-1, 1), k, replace = TRUE)
    teacher <- teacher / sqrt(k)
    g <- draw_with_gap(n, d, function(m) matrix(stats::rnorm(m * d), m, d),
                       function(x) drop(x %*% teacher), gap)
    info <- list(source = "sparse_linear", seed = seed, n = n, d = d, k = k,
                 gap = gap, noise = noise, teacher = teacher)
    teacher_set(g, noise, info, "teacher")
  })
}

#' @rdname simulate_teacher
#' @export
simulate_relu_teacher <- function(n, d, k, gap = 0, noise = 0,
                                  seed = NULL) {
  check_generator_args(n, d, gap, noise)
  check_number(k, "k", lower = 1, integer = TRUE)
  if (k < 2)
    stop(sprintf(paste("'k' must be at least 2, so that output weights of",
                       "both signs (and both classes) occur; got %s"),
                 format(k)), call. = FALSE)
  if (k * max(n, d) > 1e9)
    stop(sprintf(paste("'k' is too large: k times the larger of n and d is",
                       "%g, more than the 1e9 values a teacher may hold"),
                 k * max(n, d)), call. = FALSE)
  seed <- resolve_seed(seed)
  with_seed(seed, {
    W1 <- matrix(stats::rnorm(k * d), k, d)
    W1 <- W1 / sqrt(rowSums(W1^2))
    a <- rep_len(c(1, -1), k)
    score <- function(x) drop(pmax(x %*% t(W1), 0) %*% a)
    g <- draw_with_gap(n, d, function(m) matrix(stats::rnorm(m * d), m, d),
                       score, gap)
    info <- list(source = "relu_teacher", seed = seed, n = n, d = d, k = k,
                 gap = gap, noise = noise, W1 = W1, a = a)
    teacher_set(g, noise, info, "ReLU teacher")
  })
}

#' @rdname simulate_teacher
#' @export
simulate_xor <- function(n, d = 2, sd = 0.3, gap = 0, noise = 0,
                         seed = NULL, mu = 1) {
  check_generator_args(n, d, gap, noise)
  if (d < 2)
    stop(sprintf("'d' must be at least 2 for XOR, not %s", format(d)),
         call. = FALSE)
  check_number(sd, "sd", lower = 0, strict = TRUE)
  check_number(mu, "mu", lower = 0, strict = TRUE)
  seed <- resolve_seed(seed)
  with_seed(seed, {
    draw <- function(m) {
      x <- matrix(stats::rnorm(m * d, sd = sd), m, d)
      x[, 1] <- x[, 1] + mu * sample(c(-1, 1), m, replace = TRUE)
      x[, 2] <- x[, 2] + mu * sample(c(-1, 1), m, replace = TRUE)
      x
    }
    score <- function(x) sign(x[, 1] * x[, 2]) * pmin(abs(x[, 1]),
                                                      abs(x[, 2]))
    g <- draw_with_gap(n, d, draw, score, gap)
    info <- list(source = "xor_clusters", seed = seed, n = n, d = d, sd = sd,
                 mu = mu, gap = gap, noise = noise,
                 rule = "sign(x1 * x2)")
    teacher_set(g, noise, info, "XOR rule")
  })
}

# Splitting, relabelling, scaling -------------------------------------------

#' Split a data set into training and test parts
#'
#' Draws a fraction `test` of the points for a test set, within each class
#' separately when `stratify` is `TRUE` (so that both parts keep the class
#' balance up to rounding), and keeps the rest for training. Both parts
#' keep the order of the points in `data`.
#'
#' @param data A [mirrorflow_data()] object.
#' @param test Fraction of the points for the test set, in (0, 1).
#' @param seed A whole number, or `NULL`; as for [simulate_sparse_linear()],
#'   the session's random-number state is left as it was.
#' @param stratify Split each class separately.
#' @return A list of two `mirrorflow_data` objects, `train` and `test`.
#'   Each has `info$split`: the part, `test`, `seed`, `stratify` and
#'   `index`, the rows of `data` it holds.
#' @examples
#' d <- simulate_sparse_linear(100, 5, k = 2, seed = 1)
#' parts <- split_data(d, test = 0.2, seed = 2)
#' parts$test
#' @export
split_data <- function(data, test = 0.25, seed = NULL, stratify = TRUE) {
  check_data_set(data)
  check_number(test, "test", lower = 0, upper = 1, strict = TRUE)
  if (test >= 1)
    stop(sprintf("'test' must be a fraction below 1, not %s", format(test)),
         call. = FALSE)
  stratify <- check_flag(stratify, "stratify")
  n <- length(data$y)
  seed <- resolve_seed(seed)

  groups <- if (stratify) split(seq_len(n), as.character(data$y)) else
    list(seq_len(n))
  idx <- with_seed(seed, unlist(lapply(groups, function(g) {
    m <- round(test * length(g))
    # sample() on a single number would draw from 1:g.
    g[sample.int(length(g), m)]
  }), use.names = FALSE))
  idx <- sort(idx)
  if (length(idx) == 0 || length(idx) == n)
    stop(sprintf(paste("'test' = %s leaves %s set empty for these %d",
                       "points"), format(test),
                 if (length(idx) == 0) "the test" else "the training", n),
         call. = FALSE)
  rest <- setdiff(seq_len(n), idx)
  part <- function(i, name) {
    p <- subset_rows(data, i)
    p$info$split <- list(part = name, test = test, seed = seed,
                         stratify = stratify, index = i)
    p
  }
  list(train = part(rest, "train"), test = part(idx, "test"))
}

#' Turn classes into binary labels
#'
#' Keeps the points of the classes in `positive` and `negative` of a data
#' set with several classes and labels them +1 and -1.
#'
#' Classes are named by their factor levels, or by number: for data from
#' [fashion_mnist()] by the Fashion-MNIST class codes 0 to 9 recorded in
#' `info$classes`, otherwise by position among the levels.
#'
#' @param data A [mirrorflow_data()] object with factor labels.
#' @param positive Classes labelled +1.
#' @param negative Classes labelled -1; by default every other class.
#' @return A `mirrorflow_data` object with -1/+1 labels and the class
#'   names in `info$positive` and `info$negative`.
#' @examples
#' x <- matrix(rnorm(30), 10)
#' d <- mirrorflow_data(x, factor(rep(c("a", "b", "c"), length.out = 10)))
#' binary_labels(d, "a")
#' binary_labels(d, "a", negative = "c")$y
#' @export
binary_labels <- function(data, positive, negative = NULL) {
  check_data_set(data)
  if (!is.factor(data$y))
    stop("'data' must have factor labels; its labels are already -1/+1",
         call. = FALSE)
  present <- levels(droplevels(data$y))
  pos <- class_names_of(positive, data, "positive")
  neg <- if (is.null(negative)) setdiff(present, pos) else
    class_names_of(negative, data, "negative")
  both <- intersect(pos, neg)
  if (length(both) > 0)
    stop(sprintf(paste("'positive' and 'negative' must not share classes;",
                       "both hold %s"),
                 paste(both, collapse = ", ")), call. = FALSE)
  if (length(neg) == 0)
    stop(sprintf("'negative' is empty: 'data' has no class besides %s",
                 paste(pos, collapse = ", ")), call. = FALSE)

  lab <- as.character(data$y)
  keep <- which(lab %in% c(pos, neg))
  out <- subset_rows(data, keep)
  out$y <- ifelse(lab[keep] %in% pos, 1, -1)
  out$info$positive <- pos
  out$info$negative <- neg
  out$info$binary_index <- keep
  out
}

# Class names for classes given by level or by number, each checked to
# have points in `data`.
class_names_of <- function(cls, data, arg) {
  lv <- levels(data$y)
  present <- levels(droplevels(data$y))
  if (is.numeric(cls) && length(cls) > 0 && !anyNA(cls)) {
    codes <- data$info$classes
    if (!is.null(codes) && !is.null(data$info$class_names)) {
      at <- match(cls, codes)
      if (anyNA(at))
        stop(sprintf(paste("'%s' class %s is not present in 'data', whose",
                           "classes are %s"),
                     arg, format(cls[is.na(at)][1]),
                     paste(codes, collapse = ", ")), call. = FALSE)
      nm <- data$info$class_names[at]
    } else {
      if (any(cls != round(cls)) || any(cls < 1) || any(cls > length(lv)))
        stop(sprintf(paste("'%s' must give classes by name or by position",
                           "1 to %d, not %s"), arg, length(lv),
                     format(cls[1])), call. = FALSE)
      nm <- lv[cls]
    }
  } else if (is.character(cls) && length(cls) > 0 && !anyNA(cls)) {
    nm <- cls
  } else {
    stop(sprintf("'%s' must name one or more classes, not %s", arg,
                 describe(cls)), call. = FALSE)
  }
  missing <- setdiff(nm, present)
  if (length(missing) > 0)
    stop(sprintf(paste("'%s' class \"%s\" is not present in 'data', whose",
                       "classes are %s"),
                 arg, missing[1], paste0('"', present, '"', collapse = ", ")),
         call. = FALSE)
  unique(nm)
}

#' Scale every point to unit length
#'
#' Divides each row of `data$x` by its \eqn{\ell_2} norm. A row of zeros
#' has no direction and is left as it is; how many there were is recorded
#' in `info$zero_rows`.
#'
#' @param data A [mirrorflow_data()] object.
#' @return `data` with unit-norm rows and `info$normalize` set to `TRUE`.
#' @examples
#' data(fashion_subset)
#' range(rowSums(normalize_rows(fashion_subset)$x^2))
#' @export
normalize_rows <- function(data) {
  check_data_set(data)
  data$x <- unit_rows(data$x)
  data$info$normalize <- TRUE
  data$info$zero_rows <- attr(data$x, "zero_rows")
  attr(data$x, "zero_rows") <- NULL
  data
}

unit_rows <- function(x) {
  r <- sqrt(rowSums(x^2))
  zero <- r == 0
  r[zero] <- 1
  x <- x / r
  attr(x, "zero_rows") <- sum(zero)
  x
}

#' Accuracy of a fit on a data set
#'
#' The fraction of the points of `data` whose class the fit predicts
#' correctly, with `predict(fit, data$x, type = "class")`.
#'
#' @param fit A `mirror_flow` fit from [mirror_flow()].
#' @param data A [mirrorflow_data()] object with as many columns as the
#'   fit's network has inputs, and labels of the kind it was fitted to.
#' @return A number between 0 and 1.
#' @examples
#' parts <- split_data(simulate_sparse_linear(200, 10, k = 2, seed = 1),
#'                     seed = 2)
#' fit <- mirror_flow(parts$train$x, parts$train$y,
#'                    control = flow_control(target_log_loss = -10))
#' accuracy(fit, parts$test)
#' @export
accuracy <- function(fit, data) {
  if (!inherits(fit, "mirror_flow"))
    stop(sprintf("'fit' must be a mirror_flow fit, not %s", describe(fit)),
         call. = FALSE)
  check_data_set(data)
  if (ncol(data$x) != fit$net$widths[1])
    stop(sprintf("'data' must have %d columns, as the fit's inputs; it has %d",
                 fit$net$widths[1], ncol(data$x)), call. = FALSE)
  pred <- stats::predict(fit, data$x, type = "class")
  if (is.logical(pred)) pred <- ifelse(pred, 1, -1)
  if (is.factor(pred) != is.factor(data$y))
    stop(sprintf(paste("'data' has %s labels but 'fit' predicts %s labels;",
                       "use binary_labels() or refit"),
                 if (is.factor(data$y)) "factor" else "-1/+1",
                 if (is.factor(pred)) "factor" else "-1/+1"), call. = FALSE)
  mean(as.character(pred) == as.character(data$y))
}

# Fashion-MNIST ---------------------------------------------------------------

fashion_classes <- c("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                     "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

how_to_get_fashion <- paste("install the Debian package dataset-fashion-mnist",
                            "(apt-get install dataset-fashion-mnist), or pass",
                            "'path' to a directory holding the IDX files")

# The image or label file of a split, under any of the names the MNIST
# family goes by: gzip-compressed as distributed, or unpacked by hand
# (some unpackers turn "-idx3-" into ".idx3-").
idx_file <- function(path, prefix, kind, ndim) {
  stems <- c(sprintf("%s-%s-idx%d-ubyte", prefix, kind, ndim),
             sprintf("%s-%s.idx%d-ubyte", prefix, kind, ndim))
  cand <- file.path(path, c(paste0(stems, ".gz"), stems))
  hit <- cand[file.exists(cand)]
  if (length(hit) == 0)
    stop(sprintf("'path' has no file %s (nor one unpacked); %s",
                 basename(cand[1]), how_to_get_fashion), call. = FALSE)
  hit[1]
}

#' Fashion-MNIST images as a data set
#'
#' Reads the images and labels of one split of Fashion-MNIST (or of any
#' directory of MNIST-family IDX files) with [read_idx()], keeps the
#' chosen classes, optionally a balanced subsample of them, averages
#' blocks of pixels to make the images smaller, and returns them with
#' pixels scaled to \[0, 1\] as a [mirrorflow_data()] object.
#'
#' Class codes and names: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress,
#' 4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot.
#'
#' Labels: for two classes, numeric +1 for `classes[1]` and -1 for
#' `classes[2]`; for more, a factor whose levels are the class names in the
#' order of `classes`. Use [binary_labels()] to make other binary
#' problems from a multiclass set.
#'
#' Pixels: an image of side \eqn{s} becomes \eqn{s / f} by \eqn{s / f} by
#' averaging each `downsample` by `downsample` block (\eqn{f}), is divided
#' by 255 and is flattened row by row into the columns `p1`, `p2`, ...,
#' so that pixel (row \eqn{r}, column \eqn{c}) of the smaller image is
#' column \eqn{(r - 1) s / f + c}. With `normalize = TRUE` each row is
#' then scaled to unit \eqn{\ell_2} norm as by [normalize_rows()].
#'
#' @param path Directory holding the IDX files, gzip-compressed
#'   (`train-images-idx3-ubyte.gz` and so on) or not.
#' @param split `"train"` (60,000 images) or `"test"` (10,000).
#' @param classes Class codes, two or more of 0 to 9.
#' @param n Number of points, split as evenly as possible over the classes
#'   (the first classes get one more when `n` does not divide); `NULL`
#'   keeps every image of the classes.
#' @param downsample Side of the pixel blocks averaged, a whole number
#'   dividing the image side.
#' @param normalize Scale each point to unit \eqn{\ell_2} norm.
#' @param seed A whole number, or `NULL`, for the subsample; the session's
#'   random-number state is left as it was.
#' @return A `mirrorflow_data` object. `info` holds `source`
#'   (`"fashion_mnist"`), `path`, `split`, `classes`, `class_names`, `n`,
#'   `downsample`, `normalize`, `seed`, `side` (of the images returned),
#'   `original_side`, `index` (the position of each point in the IDX files)
#'   and, with `normalize`, `zero_rows`.
#' @section Limitation:
#' The class names are Fashion-MNIST's; for other MNIST-family files they
#' are just labels for the codes 0 to 9.
#' @examples
#' \donttest{
#' if (dir.exists("/usr/share/datasets/fashion-mnist")) {
#'   shirts <- fashion_mnist(classes = c(0, 6), n = 200, downsample = 2,
#'                           seed = 1)
#'   shirts
#'   image(matrix(shirts$x[1, ], 14, byrow = TRUE)[14:1, ],
#'         col = grey.colors(256, 1, 0))
#' }
#' }
#' @export
fashion_mnist <- function(path = "/usr/share/datasets/fashion-mnist",
                          split = c("train", "test"), classes = c(0, 6),
                          n = NULL, downsample = 1, normalize = FALSE,
                          seed = NULL) {
  if (!is.character(path) || length(path) != 1 || is.na(path))
    stop(sprintf("'path' must be a single directory name, not %s",
                 describe(path)), call. = FALSE)
  split <- match_choice(split, c("train", "test"), "split")
  if (!is.numeric(classes) || length(classes) < 2 || anyNA(classes) ||
      any(classes != round(classes)) || any(classes < 0 | classes > 9))
    stop(sprintf(paste("'classes' must be two or more class codes from 0",
                       "to 9, not %s"),
                 describe(classes)), call. = FALSE)
  if (anyDuplicated(classes))
    stop(sprintf("'classes' must not repeat a class; got %s",
                 paste(classes, collapse = ", ")), call. = FALSE)
  if (!is.null(n)) n <- check_number(n, "n", lower = length(classes),
                                     integer = TRUE)
  downsample <- check_number(downsample, "downsample", lower = 1,
                             integer = TRUE)
  normalize <- check_flag(normalize, "normalize")
  if (!dir.exists(path))
    stop(sprintf("'path' = '%s' is not a directory; %s", path,
                 how_to_get_fashion), call. = FALSE)

  prefix <- if (split == "train") "train" else "t10k"
  labels <- read_idx(idx_file(path, prefix, "labels", 1))
  by_class <- lapply(classes, function(k) which(labels == k))
  avail <- lengths(by_class)
  if (any(avail == 0))
    stop(sprintf("'classes' holds %s, which has no image in the %s split",
                 classes[avail == 0][1], split), call. = FALSE)
  seed <- if (is.null(n)) NULL else resolve_seed(seed)
  if (!is.null(n)) {
    want <- rep(n %/% length(classes), length(classes)) +
      (seq_along(classes) <= n %% length(classes))
    short <- which(want > avail)
    if (length(short) > 0)
      stop(sprintf(paste("'n' = %d asks for %d images of class %d, but the",
                         "%s split has %d"), n, want[short[1]],
                   classes[short[1]], split, avail[short[1]]),
           call. = FALSE)
    by_class <- with_seed(seed, Map(function(i, m) i[sort(sample.int(
      length(i), m))], by_class, want))
  }
  index <- sort(unlist(by_class))

  img <- read_idx_raw(idx_file(path, prefix, "images", 3))
  side <- img$dims[2]
  if (length(img$dims) != 3 || img$dims[3] != side)
    stop(sprintf("the image file in '%s' must hold square images; it has %s",
                 path, paste(img$dims, collapse = " x ")), call. = FALSE)
  if (img$dims[1] != length(labels))
    stop(sprintf(paste("the image and label files in '%s' disagree: %d",
                       "images, %d labels"),
                 path, img$dims[1], length(labels)), call. = FALSE)
  if (side %% downsample != 0)
    stop(sprintf("'downsample' must divide the image side %d; got %s", side,
                 format(downsample)), call. = FALSE)

  # In the file each image runs row by row, so one image per column of this
  # matrix is already the row-wise flattening.
  pix <- matrix(img$data, nrow = side * side)[, index, drop = FALSE]
  storage.mode(pix) <- "double"
  small <- as.integer(side %/% downsample)
  if (downsample > 1) {
    # Split the column and row of a pixel into (within block, block) and
    # average over both within-block indices.
    f <- downsample
    a <- array(pix, c(f, small, f, small, length(index)))
    a <- aperm(a, c(1, 3, 2, 4, 5))
    pix <- matrix(colSums(a, dims = 2) / f^2, nrow = small * small)
  }
  x <- t(pix) / 255
  colnames(x) <- paste0("p", seq_len(ncol(x)))
  zero_rows <- NULL
  if (normalize) {
    x <- unit_rows(x)
    zero_rows <- attr(x, "zero_rows")
    attr(x, "zero_rows") <- NULL
  }

  # Limitation: the names are Fashion-MNIST's whatever directory the files
  # came from; an argument for the names would serve MNIST, KMNIST and the
  # rest.
  names_all <- fashion_classes[classes + 1]
  lab <- labels[index]
  y <- if (length(classes) == 2) ifelse(lab == classes[1], 1, -1) else
    factor(names_all[match(lab, classes)], levels = names_all)
  info <- list(source = "fashion_mnist", path = path, split = split,
               classes = classes, class_names = names_all,
               n = length(index), downsample = downsample,
               normalize = normalize, seed = seed, side = small,
               original_side = side, index = index)
  if (normalize) info$zero_rows <- zero_rows
  mirrorflow_data(x, y, info)
}
