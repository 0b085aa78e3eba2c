# Tests of R/network.R and the network entry points: gradients against
# finite differences and PyTorch autograd, margins and scores against a
# plain R forward pass, log-space losses, and bad input from R and .Call.

# ---- independent references written here ---------------------------------

flat <- function(w) unlist(lapply(w, as.vector), use.names = FALSE)

relist_like <- function(v, w) {
  pos <- 0
  for (k in seq_along(w)) {
    len <- length(w[[k]])
    w[[k]][] <- v[pos + seq_len(len)]
    pos <- pos + len
  }
  w
}

# Forward pass on the rows of x; also returns the hidden pre-activations.
ref_forward <- function(weights, x, activation = "linear", slope = 0) {
  s <- switch(activation,
              relu = function(z) z * (z > 0),
              leaky_relu = function(z) ifelse(z > 0, z, slope * z),
              linear = function(z) z)
  L <- length(weights)
  h <- x
  pre <- list()
  for (l in seq_len(L)) {
    z <- h %*% t(weights[[l]])
    if (l < L) {
      pre[[l]] <- z
      h <- s(z)
    }
  }
  list(scores = z, pre = pre)
}

ref_diagonal_scores <- function(weights, x) {
  x %*% (weights$u^2 - weights$v^2)
}

# Margins from an n x K score matrix; binary labels are -1/+1 numbers,
# multiclass labels a factor whose level j is score column j.
ref_margins <- function(scores, y) {
  if (ncol(scores) == 1) return(as.vector(y * scores[, 1]))
  cls <- as.integer(y)
  vapply(seq_len(nrow(scores)), function(i) {
    scores[i, cls[i]] - max(scores[i, -cls[i]])
  }, 0)
}

ref_log_loss <- function(q, loss) {
  if (loss == "exponential") {
    m <- max(-q)
    return(m + log(sum(exp(-q - m))))
  }
  log(sum(log1p(exp(-q))))
}

# A small problem whose hidden pre-activations all stay at least 1e-3 away
# from the ReLU kink and whose strongest wrong class is never near a tie,
# so that a finite difference sees a smooth function.
draw_problem <- function(widths, activation, slope = 0.2, n = 10) {
  K <- widths[length(widths)]
  net <- homogeneous_net(widths, activation, slope)
  for (try in 1:200) {
    x <- matrix(rnorm(n * widths[1]), n)
    y <- if (K == 1) {
      sample(rep(c(-1, 1), length.out = n))
    } else factor(sample(rep_len(seq_len(K), n)), levels = seq_len(K))
    w <- init_weights(net, 1)
    fw <- ref_forward(w, x, activation, slope)
    ok <- activation == "linear" ||
      all(vapply(fw$pre, function(z) min(abs(z)) > 1e-3, TRUE))
    if (K > 2) {
      cls <- as.integer(y)
      gap <- vapply(seq_len(n), function(i) {
        wrong <- sort(fw$scores[i, -cls[i]], decreasing = TRUE)
        wrong[1] - wrong[2]
      }, 0)
      ok <- ok && min(gap) > 1e-3
    }
    # a gradient that vanishes would let any comparison pass
    ok <- ok && sum(abs(network_loss(net, x, y, w)$gradient[[1]])) > 1e-2
    if (ok) return(list(net = net, x = x, y = y, weights = w))
  }
  stop("no smooth draw found")
}

# log Loss (exponential loss) and its gradient by back-propagation in plain
# R, for a leaky ReLU net: an oracle for problems too large to
# difference.
ref_loss_grad <- function(weights, x, y, slope) {
  L <- length(weights)
  H <- list(x)
  pre <- list()
  for (l in seq_len(L)) {
    z <- H[[l]] %*% t(weights[[l]])
    if (l < L) {
      pre[[l]] <- z
      H[[l + 1]] <- ifelse(z > 0, z, slope * z)
    }
  }
  n <- nrow(z)
  K <- ncol(z)
  if (K == 1) {
    q <- y * z[, 1]
  } else {
    cls <- cbind(seq_len(n), as.integer(y))
    riv <- cbind(seq_len(n), vapply(seq_len(n), function(i) {
      s <- z[i, ]
      s[cls[i, 2]] <- -Inf
      which.max(s)
    }, 1L))
    q <- z[cls] - z[riv]
  }
  m <- max(-q)
  ll <- m + log(sum(exp(-q - m)))
  w <- exp(-q - ll)
  D <- matrix(0, n, K)   # d log Loss / d scores
  if (K == 1) D[, 1] <- -w * y else {
    D[cls] <- -w
    D[riv] <- w
  }
  G <- vector("list", L)
  for (l in L:1) {
    G[[l]] <- crossprod(D, H[[l]])
    if (l > 1) D <- (D %*% weights[[l]]) * ifelse(pre[[l - 1]] > 0, 1, slope)
  }
  list(log_loss = ll, gradient = unlist(lapply(G, as.vector)))
}

fd_log_loss <- function(net, x, y, weights, loss, h = 1e-6) {
  th <- flat(weights)
  vapply(seq_along(th), function(k) {
    up <- th
    up[k] <- up[k] + h
    dn <- th
    dn[k] <- dn[k] - h
    lp <- network_loss(net, x, y, relist_like(up, weights), loss)$log_loss
    lm <- network_loss(net, x, y, relist_like(dn, weights), loss)$log_loss
    (lp - lm) / (2 * h)
  }, 0)
}

depths <- list(c(4, 1), c(4, 5, 1), c(4, 5, 3, 1), c(4, 3, 4, 2, 1))
activations <- c("relu", "leaky_relu", "linear")
losses <- c("exponential", "logistic")

# ---- 1. gradients against central finite differences ---------------------

test_that("the normalised gradient is the derivative of log_loss", {
  set.seed(101)
  for (act in activations) for (wd in depths) for (K in c(1, 3)) {
    widths <- wd
    widths[length(widths)] <- K
    pb <- draw_problem(widths, act)
    for (loss in losses) {
      r <- network_loss(pb$net, pb$x, pb$y, pb$weights, loss)
      fd <- fd_log_loss(pb$net, pb$x, pb$y, pb$weights, loss)
      expect_equal(flat(r$gradient), fd, tolerance = 1e-6,
                   label = sprintf("gradient %s %s %s", act,
                                   paste(widths, collapse = "-"), loss))
    }
    expect_identical(names(r$gradient), names(pb$weights))
    expect_identical(lapply(r$gradient, dim), lapply(pb$weights, dim))
  }
})

test_that("both back-propagations agree with plain R over many blocks", {
  # 600 points: the products run over blocks of 256 points, the last one
  # partial; the in-place pass (mirror descent, network_loss()) and the
  # one that keeps the activations (the adaptive integrator) both checked;
  # hidden widths above 256 take W^T in blocks of 256 rows, the last one
  # partial
  set.seed(108)
  ev <- mirrorflow:::C_mf_net_evaluate
  for (widths in list(c(6, 9, 1), c(6, 9, 7, 1), c(6, 9, 7, 3),
                      c(6, 300, 270, 1), c(5, 20, 530, 3))) {
    net <- homogeneous_net(widths, "leaky_relu", 0.1)
    K <- widths[length(widths)]
    x <- matrix(rnorm(600 * widths[1]), 600)
    y <- if (K == 1) sample(rep(c(-1, 1), 300)) else
      factor(sample(rep_len(seq_len(K), 600)), levels = seq_len(K))
    w <- init_weights(net, 1)
    lab <- mirrorflow:::encode_labels(y, net, 600)
    spec <- mirrorflow:::net_spec(net, "exponential")
    th <- flat(w)
    ref <- ref_loss_grad(w, x, y, 0.1)
    expect_gt(sum(abs(ref$gradient)), 1e-2)
    # every layout of the products (see ?blas_products)
    for (layout in c("copy", "direct", "kernel"))
      for (inplace in c(TRUE, FALSE)) {
      old <- blas_products(layout)
      r <- .Call(ev, x, lab$yb, lab$yc, spec, as.integer(widths), th,
                 inplace)
      blas_products(old)
      lab_case <- sprintf("%s, inplace %s, %s",
                          paste(widths, collapse = "-"), inplace, layout)
      expect_equal(r$log_loss, ref$log_loss, tolerance = 1e-12,
                   label = lab_case)
      expect_equal(r$gradient, ref$gradient, tolerance = 1e-11,
                   label = lab_case)
    }
  }
})

test_that("blas_products() reads, sets and restores the layout", {
  start <- blas_products()
  expect_true(start %in% c("copy", "direct", "kernel"))
  expect_identical(attr(start, "blas"), extSoftVersion()[["BLAS"]])
  expect_true(attr(start, "kernel") %in% c("none", "sse2", "avx"))
  old <- blas_products("direct")
  expect_identical(as.character(old), as.character(start))
  expect_identical(as.character(blas_products()), "direct")
  expect_identical(as.character(blas_products("copy")), "direct")
  expect_identical(as.character(blas_products()), "copy")
  blas_products("kernel")
  # without a kernel in the build, asking for it gives the copy layout
  expect_identical(as.character(blas_products()),
                   if (attr(start, "kernel") == "none") "copy" else "kernel")
  blas_products("auto")
  expect_identical(as.character(blas_products()),
                   mirrorflow:::blas_layout_for(extSoftVersion()[["BLAS"]]))
  blas_products(start)
  expect_identical(blas_products(), start)
  for (bad in list("fast", NA_character_, c("copy", "direct"), 1, TRUE))
    expect_error(blas_products(bad), "'layout'")
  expect_error(.Call(mirrorflow:::C_mf_blas_mode, "yes"), "'set'")
  expect_error(.Call(mirrorflow:::C_mf_blas_mode, TRUE), "'set'")
  expect_error(.Call(mirrorflow:::C_mf_blas_mode, c(0L, 1L)), "'set'")
  expect_error(.Call(mirrorflow:::C_mf_blas_mode, 3L), "'set'")
  expect_error(.Call(mirrorflow:::C_mf_blas_mode, -1L), "'set'")
  expect_identical(as.character(blas_products()), as.character(start))
  # the choice from the library's path
  lay <- mirrorflow:::blas_layout_for
  expect_equal(lay("/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0"),
               "kernel")
  expect_equal(lay("/usr/lib/R/lib/libRblas.so"), "kernel")
  expect_equal(lay(paste0("/usr/lib/x86_64-linux-gnu/openblas-pthread/",
                          "libblas.so.3")), "direct")
  expect_equal(lay("/usr/lib/x86_64-linux-gnu/libopenblas.so.0"), "direct")
  expect_equal(lay("/opt/intel/lib/libmkl_rt.so"), "direct")
  expect_equal(lay("/opt/fast/libblasfeo.so"), "copy")
  expect_equal(lay(""), "copy")
})

test_that("the own product kernel is op(A) %*% op(B) on every path", {
  kern <- attr(blas_products(), "kernel")
  skip_if(kern == "none", "this build has no product kernel (not x86-64)")
  g <- function(A, B, C, mnk, flags, isa)
    .Call(mirrorflow:::C_mf_gemm_check, A, B, C, as.integer(mnk), flags, isa)
  isas <- if (kern == "avx") 1:2 else 1L
  # The reference BLAS adds the terms in the kernel's order, so where R
  # uses it a product that does not accumulate is the same to the bit.
  ref_blas <- mirrorflow:::blas_layout_for(extSoftVersion()[["BLAS"]]) ==
    "kernel"
  op <- function(M, tr) if (tr) t(M) else M
  set.seed(131)
  # every remainder of the 8- and 4-row strips and of the 4-column tiles,
  # sums longer than one block of 256 terms, more rows than one of 128,
  # each operand as it is and transposed; the cases that fail each check
  # are collected by name
  off <- border <- bits <- character()
  for (m in c(1, 3, 4, 7, 8, 13, 130)) for (n in c(1, 3, 4, 9))
    for (k in c(0, 1, 5, 257)) for (isa in isas) for (acc in c(FALSE, TRUE))
      for (ta in c(FALSE, TRUE)) for (tb in c(FALSE, TRUE)) {
        # larger than the product: the leading dimensions are the row
        # counts, and entries outside the m x n block must stay
        A <- op(matrix(rnorm((m + 2) * (k + 1)), m + 2), ta)
        B <- op(matrix(rnorm((k + 1) * (n + 1)), k + 1), tb)
        C <- matrix(rnorm((m + 3) * (n + 1)), m + 3)
        r <- g(A, B, C, c(m, n, k), c(ta, tb, acc), isa)
        lab <- sprintf("m %d, n %d, k %d, isa %d, ta %s, tb %s, acc %s", m,
                       n, k, isa, ta, tb, acc)
        ab <- op(A, ta)[seq_len(m), seq_len(k), drop = FALSE] %*%
          op(B, tb)[seq_len(k), seq_len(n), drop = FALSE]
        want <- C
        want[seq_len(m), seq_len(n)] <- ab +
          if (acc) C[seq_len(m), seq_len(n)] else 0
        if (max(abs(r - want)) > 1e-13 * max(1, abs(want)))
          off <- c(off, lab)
        if (!identical(r[-seq_len(m), ], C[-seq_len(m), ]) ||
            !identical(r[, -seq_len(n)], C[, -seq_len(n)]))
          border <- c(border, lab)
        if (ref_blas && !acc &&
            !identical(r[seq_len(m), seq_len(n), drop = FALSE], ab))
          bits <- c(bits, lab)
      }
  expect_identical(off, character())
  expect_identical(border, character())
  expect_identical(bits, character())
  # the SSE2 and AVX paths do the same operations in the same order
  if (kern == "avx") {
    A <- matrix(rnorm(37 * 300), 37)
    B <- matrix(rnorm(300 * 11), 300)
    C <- matrix(rnorm(37 * 11), 37)
    for (acc in c(FALSE, TRUE))
      expect_identical(g(A, B, C, c(37, 11, 300), c(FALSE, FALSE, acc), 1L),
                       g(A, B, C, c(37, 11, 300), c(FALSE, FALSE, acc), 2L))
  }
  # the entry point refuses what it cannot use, by name
  A <- matrix(1, 2, 2)
  f0 <- c(FALSE, FALSE, FALSE)
  expect_error(g(1:4, A, A, c(2, 2, 2), f0, 1L), "'A'")
  expect_error(g(A, c(1, 2), A, c(2, 2, 2), f0, 1L), "'B'")
  expect_error(g(A, A, "x", c(2, 2, 2), f0, 1L), "'C'")
  expect_error(g(A, A, A, c(3, 2, 2), f0, 1L), "'mnk'.*larger")
  expect_error(g(matrix(1, 2, 3), A, A, c(2, 2, 3), c(TRUE, FALSE, FALSE),
                 1L), "'mnk'.*larger")
  expect_error(g(A, A, A, c(2, -1, 2), f0, 1L), "'mnk'")
  expect_error(g(A, A, A, c(2, NA, 2), f0, 1L), "'mnk'")
  expect_error(.Call(mirrorflow:::C_mf_gemm_check, A, A, A, c(2, 2, 2),
                     f0, 1L), "'mnk'")
  expect_error(g(A, A, A, c(2, 2, 2), c(FALSE, NA, FALSE), 1L), "'flags'")
  expect_error(g(A, A, A, c(2, 2, 2), FALSE, 1L), "'flags'")
  expect_error(g(A, A, A, c(2, 2, 2), f0, 3L), "'isa'")
  expect_error(g(A, A, A, c(2, 2, 2), f0, 1), "'isa'")
  if (kern == "sse2")
    expect_error(g(A, A, A, c(2, 2, 2), f0, 2L), "not available")
})

test_that("hidden activations take the kernel and keep R's numbers", {
  skip_if(attr(blas_products(), "kernel") == "none",
          "this build has no product kernel (not x86-64)")
  set.seed(132)
  h <- matrix(rnorm(300 * 37), 300, dimnames = list(paste0("p", 1:300)))
  w <- matrix(rnorm(19 * 37), 19)
  h[5, 3] <- NA
  h[7, 2] <- Inf
  old <- blas_products("kernel")
  on.exit(blas_products(old))
  got <- mirrorflow:::prod_tb(h, w)
  want <- h %*% t(w)
  expect_equal(got, want, tolerance = 1e-13)
  expect_identical(dimnames(got), dimnames(want))
  expect_identical(is.na(got), is.na(want))
  if (mirrorflow:::blas_layout_for(extSoftVersion()[["BLAS"]]) == "kernel")
    expect_identical(got, want)
  expect_identical(dim(mirrorflow:::prod_tb(h[, 0], w[, 0])), c(300L, 19L))
  expect_true(all(mirrorflow:::prod_tb(h[, 0], w[, 0]) == 0))
  expect_identical(dim(mirrorflow:::prod_tb(h[0, ], w)), c(0L, 19L))
  # feature_sparsity() through either layout
  net <- homogeneous_net(c(37, 19, 1), "relu")
  fit <- suppressWarnings(mirror_flow(h[-c(5, 7), ], sign(h[-c(5, 7), 1]),
                                      net = net, init = init_weights(net, 1),
                                      integrator = "md",
                                      control = flow_control(max_steps = 3),
                                      progress = FALSE))
  fk <- feature_sparsity(fit)
  blas_products("copy")
  expect_equal(feature_sparsity(fit), fk, tolerance = 1e-13)
  # the entry point refuses what it cannot use, by name
  mp <- function(a, b) .Call(mirrorflow:::C_mf_matprod_tb, a, b)
  expect_error(mp(1:4, w), "'A'")
  expect_error(mp(h, "w"), "'B'")
  expect_error(mp(h, t(w)), "'A'.*'B'.*columns")
})

test_that("a flow gives the same fit with every layout, to rounding", {
  set.seed(109)
  net <- homogeneous_net(c(7, 300, 20, 1), "relu")
  x <- matrix(rnorm(520 * 7), 520)
  y <- sign(x[, 1] + 0.2)
  w <- init_weights(net, 0.3)
  layouts <- c("copy", "direct", "kernel")
  fits <- lapply(layouts, function(layout) {
    old <- blas_products(layout)
    on.exit(blas_products(old))
    lapply(c("md", "adaptive"), function(integ) suppressWarnings(
      mirror_flow(x, y, net = net, init = w, integrator = integ,
                  map = mirror_map("hypentropy", beta = 0.1),
                  control = flow_control(max_steps = 40, eta = 1e-3),
                  progress = FALSE)))
  })
  for (i in 1:2) for (j in 2:3) {
    expect_equal(fits[[j]][[i]]$weights, fits[[1]][[i]]$weights,
                 tolerance = 1e-10, label = layouts[j])
    expect_equal(fits[[j]][[i]]$log_loss, fits[[1]][[i]]$log_loss,
                 tolerance = 1e-12, label = layouts[j])
    expect_equal(fits[[j]][[i]]$steps, 40)
  }
  # the copy and kernel layouts add the same terms in the same order, so
  # with the reference BLAS (and a kernel in the build) the fits are equal
  # to the bit
  if (mirrorflow:::blas_layout_for(extSoftVersion()[["BLAS"]]) == "kernel" &&
      attr(blas_products(), "kernel") != "none")
    for (i in 1:2) expect_identical(fits[[3]][[i]]$weights,
                                    fits[[1]][[i]]$weights)
})

test_that("the diagonal network's gradient is the derivative of log_loss", {
  set.seed(102)
  net <- diagonal_net(5)
  x <- matrix(rnorm(40), 8)
  y <- sample(rep(c(-1, 1), 4))
  w <- list(u = rnorm(5), v = rnorm(5))
  for (loss in losses) {
    r <- network_loss(net, x, y, w, loss)
    expect_equal(flat(r$gradient), fd_log_loss(net, x, y, w, loss),
                 tolerance = 1e-6, label = sprintf("diagonal %s", loss))
  }
  expect_identical(names(r$gradient), c("u", "v"))
  expect_length(r$gradient$u, 5)

  # at u = v = alpha the closed form is grad_u = 2 alpha c, grad_v = -2 alpha c
  # with c = -sum_i softmax(-q)_i y_i x_i and q = 0, so softmax = 1/n
  w0 <- init_weights(net, 0.3)
  r0 <- network_loss(net, x, y, w0)
  cvec <- -colSums(y * x) / nrow(x)
  expect_equal(r0$gradient$u, 2 * 0.3 * cvec, tolerance = 1e-12)
  expect_equal(r0$gradient$v, -2 * 0.3 * cvec, tolerance = 1e-12)
  expect_equal(r0$log_loss, log(nrow(x)), tolerance = 1e-14)
})

test_that("kinks and ties follow the documented conventions", {
  # x1 puts the hidden ReLU exactly at 0: its derivative counts as 0 (leaky:
  # the slope); x2 keeps it at 1. q = (0, -1) under both activations.
  x <- rbind(c(1, 1), c(1, 0))
  y <- c(1, -1)
  w <- list(W1 = matrix(c(1, -1), 1), W2 = matrix(1, 1, 1))
  s <- exp(c(0, 1)) / sum(exp(c(0, 1)))
  r <- network_loss(homogeneous_net(c(2, 1, 1)), x, y, w)
  expect_equal(r$margins, c(0, -1))
  expect_equal(r$gradient$W1, s[2] * matrix(c(1, 0), 1), tolerance = 1e-14)
  expect_equal(r$gradient$W2, matrix(s[2], 1, 1), tolerance = 1e-14)
  r <- network_loss(homogeneous_net(c(2, 1, 1), "leaky_relu", 0.2), x, y, w)
  expect_equal(r$gradient$W1, s[2] * matrix(c(1, 0), 1) -
                 s[1] * 0.2 * matrix(c(1, 1), 1),
               tolerance = 1e-14)

  # point 1 ties its two wrong classes: the first (class 2) is the rival
  net <- homogeneous_net(c(1, 3), "linear")
  xm <- matrix(c(1, -1), 2)
  ym <- factor(c(1, 2), levels = 1:3)
  r <- network_loss(net, xm, ym, list(W1 = matrix(c(0, 1, 1), 3)))
  expect_equal(r$margins, c(-1, -1))
  expect_equal(r$gradient$W1, matrix(c(-1, 1, 0), 3), tolerance = 1e-14)
})

# ---- 2. margins, scores and loss against a plain R forward pass ----------

test_that("margins, scores and log_loss match an R forward pass", {
  set.seed(201)
  for (act in activations) for (wd in depths) for (K in c(1, 2, 3)) {
    widths <- wd
    widths[length(widths)] <- K
    net <- homogeneous_net(widths, act, slope = 0.2)
    x <- matrix(rnorm(15 * widths[1]), 15)
    y <- if (K == 1) sample(rep(c(-1, 1), length.out = 15))
         else factor(sample(rep_len(seq_len(K), 15)), levels = seq_len(K))
    w <- init_weights(net, 1.5)
    ref <- ref_forward(w, x, act, 0.2)$scores
    q <- ref_margins(ref, y)
    for (loss in losses) {
      r <- network_loss(net, x, y, w, loss)
      lab <- sprintf("%s %s %s", act, paste(widths, collapse = "-"), loss)
      expect_equal(unname(r$scores), unname(ref), tolerance = 1e-13,
                   label = paste("scores", lab))
      expect_equal(r$margins, q, tolerance = 1e-13,
                   label = paste("margins", lab))
      expect_equal(r$log_loss, ref_log_loss(q, loss), tolerance = 1e-13,
                   label = paste("log_loss", lab))
    }
    expect_identical(dim(r$scores), c(15L, as.integer(K)))
  }

  net <- diagonal_net(6)
  x <- matrix(rnorm(60), 10)
  y <- sample(rep(c(-1, 1), 5))
  w <- list(u = rnorm(6), v = rnorm(6))
  r <- network_loss(net, x, y, w, "logistic")
  ref <- ref_diagonal_scores(w, x)
  expect_equal(as.vector(r$scores), as.vector(ref), tolerance = 1e-13)
  expect_equal(r$margins, ref_margins(ref, y), tolerance = 1e-13)
  expect_equal(r$log_loss, ref_log_loss(ref_margins(ref, y), "logistic"),
               tolerance = 1e-13)
})

test_that("logical, factor and numeric binary labels give the same result", {
  set.seed(202)
  net <- homogeneous_net(c(3, 4, 1))
  x <- matrix(rnorm(24), 8)
  yn <- rep(c(-1, 1), 4)
  w <- init_weights(net)
  r <- network_loss(net, x, yn, w)
  expect_equal(network_loss(net, x, yn > 0, w), r)
  # the second level is +1
  expect_equal(network_loss(net, x, factor(ifelse(yn > 0, "b", "a")), w), r)
  expect_equal(network_loss(net, as.data.frame(x), yn, w)$margins,
               r$margins)
})

# ---- 3. log space --------------------------------------------------------

# Points whose margins under w0 are the given targets: each row of x is
# moved along w0 until y_i <x_i, w0> hits its target.
margin_data <- function(w0, y, targets) {
  x <- matrix(rnorm(length(y) * length(w0)), length(y))
  shift <- (targets - y * drop(x %*% w0)) / sum(w0^2)
  x + (y * shift) %o% w0
}

softmax_neg <- function(q) {
  e <- exp(-(q - min(q)))
  e / sum(e)
}

test_that("a loss of exp(-1e4) stays exact in log space (linear model)", {
  set.seed(301)
  w0 <- rnorm(4)
  y <- sample(rep(c(-1, 1), 10))
  gaps <- c(0, 0.5, 1, 2, 4, runif(15, 5, 20))
  x <- margin_data(w0, y, 1 + gaps * 1e-4)
  net <- homogeneous_net(c(4, 1), "linear")
  w <- list(W1 = matrix(1e4 * w0, 1))
  q <- 1e4 * y * drop(x %*% w0)
  expect_equal(min(q), 1e4, tolerance = 1e-10)
  ref_log <- -min(q) + log(sum(exp(-(q - min(q)))))
  ref_grad <- -colSums(softmax_neg(q) * y * x)
  for (loss in losses) {
    r <- network_loss(net, x, y, w, loss)
    expect_true(is.finite(r$log_loss))
    expect_equal(r$log_loss, ref_log, tolerance = 1e-12, label = loss)
    expect_equal(r$log_loss + 1e4, ref_log + 1e4, tolerance = 1e-9,
                 label = paste("offset", loss))
    expect_true(all(is.finite(r$gradient$W1)))
    expect_equal(as.vector(r$gradient$W1), ref_grad, tolerance = 1e-8,
                 label = loss)
  }

  # the other end: a loss of about exp(+1e4), far beyond double range
  wn <- list(W1 = -w$W1)
  qn <- -q
  rn <- network_loss(net, x, y, wn)
  expect_true(is.finite(rn$log_loss))
  expect_equal(rn$log_loss, -min(qn) + log(sum(exp(-(qn - min(qn))))),
               tolerance = 1e-12)
  expect_equal(as.vector(rn$gradient$W1), -colSums(softmax_neg(qn) * y * x),
               tolerance = 1e-8)
  rl <- network_loss(net, x, y, wn, "logistic")
  # log(1 + e^{-q}) = -q + log1p(e^q) is about -q for these margins
  expect_equal(rl$log_loss, log(sum(-qn + log1p(exp(qn)))),
               tolerance = 1e-12)
  expect_equal(as.vector(rl$gradient$W1),
               -colSums(y * x / (1 + exp(qn))) / sum(-qn + log1p(exp(qn))),
               tolerance = 1e-10)
})

test_that("a loss of exp(-1e4) stays exact in log space (deeper nets)", {
  set.seed(302)
  # multiclass linear model: grad q_i = (e_{y_i} - e_{rival_i}) x_i^T
  K <- 3
  W <- matrix(rnorm(K * 4), K)
  x <- matrix(rnorm(40), 10)
  f0 <- x %*% t(W)
  y <- factor(max.col(f0), levels = 1:K)
  stopifnot(length(unique(y)) >= 2)
  c0 <- 1e4 / min(ref_margins(f0, y))
  f <- c0 * f0
  q <- ref_margins(f, y)
  rival <- vapply(seq_len(10), function(i) {
    o <- setdiff(1:K, as.integer(y)[i])
    o[which.max(f[i, o])]
  }, 1L)
  s <- softmax_neg(q)
  ref_grad <- matrix(0, K, 4)
  for (i in 1:10) {
    ref_grad[as.integer(y)[i], ] <- ref_grad[as.integer(y)[i], ] - s[i] * x[i, ]
    ref_grad[rival[i], ] <- ref_grad[rival[i], ] + s[i] * x[i, ]
  }
  r <- network_loss(homogeneous_net(c(4, K), "linear"), x, y,
                    list(W1 = c0 * W))
  expect_equal(min(q), 1e4, tolerance = 1e-12)
  expect_equal(r$log_loss, -min(q) + log(sum(exp(-(q - min(q))))),
               tolerance = 1e-12)
  expect_equal(r$gradient$W1, ref_grad, tolerance = 1e-8)

  # deep linear net f = W2 W1 x, each layer scaled by 100: q scales by 1e4
  W1 <- matrix(rnorm(12), 3)
  W2 <- matrix(rnorm(3), 1)
  w0 <- drop(W2 %*% W1)
  y <- sample(rep(c(-1, 1), 6))
  x <- margin_data(w0, y, 1 + c(0, 0.3, 1.5, runif(9, 3, 30)) * 1e-4)
  w <- list(W1 = 100 * W1, W2 = 100 * W2)
  q <- y * drop(x %*% (w$W2 %*% w$W1)[1, ])
  s <- softmax_neg(q)
  g1 <- -t(w$W2) %*% colSums(s * y * x)
  g2 <- -matrix(colSums(s * y * (x %*% t(w$W1))), 1)
  r <- network_loss(homogeneous_net(c(4, 3, 1), "linear"), x, y, w)
  expect_equal(min(r$margins), 1e4, tolerance = 1e-10)
  expect_equal(r$log_loss, -min(q) + log(sum(exp(-(q - min(q))))),
               tolerance = 1e-12)
  expect_equal(r$gradient$W1, g1, tolerance = 1e-8)
  expect_equal(r$gradient$W2, g2, tolerance = 1e-8)
})

# ---- 4. PyTorch autograd -------------------------------------------------

test_that("log_loss and gradient agree with PyTorch autograd", {
  skip_on_cran()
  if (!torch_available()) skip("torch not available")
  set.seed(401)
  cases <- list()
  p <- draw_problem(c(4, 6, 1), "relu", n = 12)
  for (loss in losses) cases[[length(cases) + 1]] <- c(p, loss = loss)
  p <- draw_problem(c(4, 5, 4, 3), "leaky_relu", slope = 0.2, n = 12)
  for (loss in losses) cases[[length(cases) + 1]] <- c(p, loss = loss)
  net <- diagonal_net(5)
  x <- matrix(rnorm(60), 12)
  d <- list(net = net, x = x, y = sample(rep(c(-1, 1), 6)),
            weights = list(u = rnorm(5), v = rnorm(5)))
  for (loss in losses) cases[[length(cases) + 1]] <- c(d, loss = loss)
  # the ReLU net again, labelled by its own signs and scaled so that the
  # smallest margin is 1000: a loss of exp(-1000), below double range
  big <- cases[[1]]
  f <- ref_forward(big$weights, big$x, "relu")$scores[, 1]
  big$y <- sign(f)
  stopifnot(length(unique(big$y)) == 2)
  big$weights <- lapply(big$weights, function(m) sqrt(1000 / min(abs(f))) * m)
  cases[[length(cases) + 1]] <- big

  ref <- torch_reference(cases)
  for (i in seq_along(cases)) {
    cs <- cases[[i]]
    r <- network_loss(cs$net, cs$x, cs$y, cs$weights, cs$loss)
    lab <- sprintf("case %d (%s, %s)", i, format(cs$net), cs$loss)
    expect_equal(r$log_loss, ref[[i]]$log_loss, tolerance = 1e-10,
                 label = paste("log_loss", lab))
    expect_equal(flat(r$gradient), ref[[i]]$gradient, tolerance = 1e-10,
                 label = paste("gradient", lab))
  }
  expect_lt(ref[[length(ref)]]$log_loss, -745)
})

# ---- 5. bad input from R -------------------------------------------------

test_that("bad data and labels give errors naming the argument", {
  set.seed(501)
  net <- homogeneous_net(c(3, 4, 1))
  x <- matrix(rnorm(18), 6)
  y <- rep(c(-1, 1), 3)
  w <- init_weights(net)
  for (bad in c(NA, NaN, Inf, -Inf)) {
    xb <- x
    xb[2, 3] <- bad
    expect_error(network_loss(net, xb, y, w), "'x' must be finite")
  }
  expect_error(network_loss(net, matrix("a", 6, 3), y, w), "'x'")
  expect_error(network_loss(net, list(1, 2), y, w), "'x'")
  expect_error(network_loss(net, x[, 1:2], y, w), "'x' has 2 columns")
  expect_error(network_loss(net, cbind(x, 1), y, w), "'x' has 4 columns")
  expect_error(network_loss(net, x[0, ], y[0], w), "'x'")

  expect_error(network_loss(net, x, y[-1], w), "'y'.*\\(6\\), not 5")
  expect_error(network_loss(net, x, c(y, 1), w), "'y'")
  expect_error(network_loss(net, x, rep(1, 6), w), "'y' has one class")
  expect_error(network_loss(net, x, rep(TRUE, 6), w), "'y'")
  expect_error(network_loss(net, x, factor(rep("a", 6)), w), "'y'")
  expect_error(network_loss(net, x, factor(rep(1:3, 2)), w),
               "'y' must have exactly two classes.*found 3")
  expect_error(network_loss(net, x, rep(0:1, 3), w), "'y'")
  expect_error(network_loss(net, x, c(NA, y[-1]), w), "'y'")

  net3 <- homogeneous_net(c(3, 4, 3))
  w3 <- init_weights(net3)
  expect_error(network_loss(net3, x, factor(rep(1:2, 3)), w3),
               "'y' must be a factor with 3 levels")
  expect_error(network_loss(net3, x, factor(rep(1:4, length.out = 6)), w3),
               "'y'")
  expect_error(network_loss(net3, x, factor(rep(1, 6), levels = 1:3), w3),
               "'y' has one class")

  expect_error(network_loss(list(widths = 3), x, y, w), "'net'")
  expect_error(network_loss(net, x, y, w, loss = "hinge"),
               "'loss' must be one of")
})

test_that("weights of the wrong shape are refused", {
  set.seed(502)
  net <- homogeneous_net(c(3, 4, 1))
  x <- matrix(rnorm(18), 6)
  y <- rep(c(-1, 1), 3)
  w <- init_weights(net)
  expect_error(network_loss(net, x, y, w[1]), "list of 2 weight matrices")
  expect_error(network_loss(net, x, y, c(w, w)), "list of 2 weight matrices")
  expect_error(network_loss(net, x, y, flat(w)), "list of 2 weight matrices")
  expect_error(network_loss(net, x, y, list(t(w$W1), w$W2)),
               "element 1 must be a 4 x 3 numeric matrix, not 3 x 4")
  expect_error(network_loss(net, x, y, list(w$W1, as.vector(w$W2))),
               "element 2 must be a 1 x 4 numeric matrix")
  expect_error(network_loss(net, x, y, list(w$W1, "a")), "element 2")
  wb <- w
  wb$W1[1, 1] <- NaN
  expect_error(network_loss(net, x, y, wb), "element 1 must be finite")

  dnet <- diagonal_net(3)
  expect_error(network_loss(dnet, x, y, list(u = 1:3)), "list of 2")
  expect_error(network_loss(dnet, x, y, list(u = rnorm(3), v = rnorm(4))),
               "element 2 must be a numeric vector of length 3")
  expect_error(network_loss(dnet, x, y, list(u = matrix(1, 3, 1),
                                             v = rnorm(3))),
               "element 1")
})

test_that("shape errors from network_loss() name its argument 'weights'", {
  # network_loss() has no argument 'init'; its messages must not send the
  # user looking for one
  set.seed(503)
  net <- homogeneous_net(c(3, 4, 1))
  x <- matrix(rnorm(18), 6)
  y <- rep(c(-1, 1), 3)
  w <- init_weights(net)
  msg <- function(expr) tryCatch(expr, error = conditionMessage)
  expect_match(msg(network_loss(net, x, y, w[1])), "'weights'")
  expect_match(msg(network_loss(net, x, y, list(t(w$W1), w$W2))),
               "'weights'")
})

test_that("bad networks and initialisations give errors naming them", {
  for (bad in list(c(4, 0, 1), c(4, 2.5, 1), 4, c(4, -1), c(4, NA, 1),
                   "4", NULL, c(4, Inf), list(4, 1), numeric(0), TRUE))
    expect_error(homogeneous_net(bad), "'widths'", label = deparse(bad))
  expect_error(homogeneous_net(rep(2, 70)), "'widths'.*64 weight layers")
  for (bad in list(1, 1.5, -0.1, NA, "a", c(0.1, 0.2), Inf))
    expect_error(homogeneous_net(c(3, 2, 1), "leaky_relu", slope = bad),
                 "'slope'", label = deparse(bad))
  expect_error(homogeneous_net(c(3, 1), "tanh"), "'activation' must be one of")
  for (bad in list(0, 2.5, -1, "a", NA, c(2, 3)))
    expect_error(diagonal_net(bad), "'d'", label = deparse(bad))

  net <- homogeneous_net(c(3, 4, 1))
  for (bad in list(0, -1, NA, "a", c(1, 2), Inf))
    expect_error(init_weights(net, bad), "'scale'", label = deparse(bad))
  expect_error(init_weights(list(1)), "'net'")

  # shapes and the stated standard deviation scale / sqrt(m_(l-1))
  set.seed(504)
  big <- homogeneous_net(c(400, 300, 50))
  w <- init_weights(big, 2)
  expect_identical(names(w), c("W1", "W2"))
  expect_identical(lapply(w, dim),
                   list(W1 = c(300L, 400L), W2 = c(50L, 300L)))
  expect_equal(sd(w$W1), 2 / sqrt(400), tolerance = 0.01)
  expect_equal(sd(w$W2), 2 / sqrt(300), tolerance = 0.03)
  expect_identical(init_weights(diagonal_net(3), 0.5),
                   list(u = rep(0.5, 3), v = rep(0.5, 3)))
})

# ---- 5. bad input straight into the entry points --------------------------

# Replaces argument `arg` of a valid call by each of `values`; every one
# must end in an R error, never in a crash.
expect_call_errors <- function(fun, args, arg, values) {
  for (v in values) {
    a <- args
    a[arg] <- list(v)
    expect_error(do.call(.Call, c(list(fun), unname(a))),
                 label = sprintf("%s = %s", arg,
                                 paste(deparse(v), collapse = "")))
  }
}

not_double <- list("a", NULL, list(1), TRUE, 1L, sum)

test_that("mf_net_evaluate refuses bad arguments with R errors", {
  ev <- mirrorflow:::C_mf_net_evaluate
  expect_error(.Call(ev, "a", 1, 1L, 1, 1L, 1))
  expect_error(.Call(ev, NULL, NULL, NULL, NULL, NULL, NULL))
  expect_error(.Call(ev, list(), list(), list(), list(), list(), list()))

  set.seed(505)
  x <- matrix(rnorm(24), 6)
  y <- rep(c(-1, 1), 3)
  th <- rnorm(15)
  args <- list(x = x, yb = y, yc = integer(0),
               netspec = c(0, 0, 0, 1, 0), widths = c(4L, 3L, 1L),
               theta = th, inplace = TRUE)
  good <- do.call(.Call, c(list(ev), unname(args)))
  net <- homogeneous_net(c(4, 3, 1))
  ref <- network_loss(net, x, y, relist_like(th, init_weights(net)))
  expect_equal(good$log_loss, ref$log_loss)
  expect_equal(good$gradient, flat(ref$gradient))

  expect_call_errors(ev, args, "x",
                     c(not_double, list(1:24, double(0), rnorm(23), t(x),
                                        array(x, c(6, 4, 1)))))
  # the inputs as R stores them, a vector of the same numbers alike
  expect_equal(do.call(.Call, c(list(ev), unname(
    replace(args, "x", list(as.vector(x))))))$log_loss, good$log_loss)
  expect_error(do.call(.Call, c(list(ev), unname(replace(args, "x",
                                                        list(t(x)))))),
               "'x' must be a matrix with 4 columns")
  expect_call_errors(ev, args, "yb",
                     c(not_double, list(c(1, -1), rep(0, 6), rep(NaN, 6),
                                        as.integer(y), c(y, 1))))
  expect_call_errors(ev, args, "netspec",
                     c(not_double, list(c(0, 0, 0, 1), c(2, 0, 0, 1, 0),
                                        c(0.5, 0, 0, 1, 0), c(0, 3, 0, 1, 0),
                                        c(0, 0, NaN, 1, 0), c(0, 0, Inf, 1, 0),
                                        c(0, 0, 0, 2, 0), c(0, 0, 0, NA, 0),
                                        c(0, 0, 0, 1, 2), c(0, 0, 0, 1, NaN),
                                        c(1, 0, 0, 1, 0), c(0, 0, 0, 1, 0, 0),
                                        c(0L, 0L, 0L, 1L, 0L))))
  expect_call_errors(ev, args, "widths",
                     list("a", NULL, list(4L, 3L, 1L), c(4, 3, 1), 4L,
                          integer(0), c(4L, 0L, 1L), c(4L, NA, 1L),
                          c(-4L, 3L, 1L), c(4L, 3L, 2L), c(5L, 3L, 1L),
                          c(4L, 100000L, 100000L, 1L), rep(1L, 70),
                          c(.Machine$integer.max, 1L)))
  expect_call_errors(ev, args, "theta",
                     c(not_double, list(th[-1], c(th, 1), double(0),
                                        as.integer(th))))
  expect_call_errors(ev, args, "inplace",
                     list("a", NULL, 1, NA, c(TRUE, FALSE), logical(0)))

  # multiclass: the class indices are checked
  mc <- args
  mc$yb <- double(0)
  mc$yc <- rep(0:2, 2)
  mc$netspec <- c(0, 1, 0.2, 3, 1)
  mc$widths <- c(4L, 3L, 3L)
  mc$theta <- rnorm(21)
  expect_type(do.call(.Call, c(list(ev), unname(mc)))$log_loss, "double")
  expect_call_errors(ev, mc, "yc",
                     list("a", NULL, list(0L), c(0, 1, 2, 0, 1, 2), 0:1,
                          rep(3L, 6), rep(-1L, 6), rep(NA_integer_, 6)))

  # diagonal: widths must be c(d, 1)
  dg <- args
  dg$netspec <- c(1, 2, 0, 1, 0)
  dg$widths <- c(4L, 1L)
  dg$theta <- rnorm(8)
  expect_type(do.call(.Call, c(list(ev), unname(dg)))$log_loss, "double")
  expect_call_errors(ev, dg, "widths", list(c(4L, 2L), c(4L, 1L, 1L)))
  expect_call_errors(ev, dg, "theta", list(rnorm(4), rnorm(9)))
  expect_call_errors(ev, dg, "netspec", list(c(1, 2, 0, 2, 0)))
})

test_that("mf_net_predict refuses bad arguments with R errors", {
  pr <- mirrorflow:::C_mf_net_predict
  expect_error(.Call(pr, "a", 1, 1L, 1))
  expect_error(.Call(pr, NULL, NULL, NULL, NULL))

  set.seed(506)
  x <- matrix(rnorm(20), 5)
  th <- rnorm(4 * 3 + 3 * 2)
  args <- list(x = x, netspec = c(0, 0, 0, 2, 0),
               widths = c(4L, 3L, 2L), theta = th)
  good <- do.call(.Call, c(list(pr), unname(args)))
  w <- relist_like(th, init_weights(homogeneous_net(c(4, 3, 2))))
  expect_equal(t(good), ref_forward(w, x, "relu")$scores, tolerance = 1e-13)
  expect_identical(dim(.Call(pr, double(0), c(0, 0, 0, 2, 0),
                             c(4L, 3L, 2L), th)), c(2L, 0L))

  expect_call_errors(pr, args, "x", c(not_double, list(1:20, rnorm(19),
                                                       t(x))))
  expect_call_errors(pr, args, "netspec",
                     c(not_double, list(c(0, 0, 0, 2), c(0, 0, 0, 1, 0),
                                        c(3, 0, 0, 2, 0), c(0, 9, 0, 2, 0),
                                        c(0, 0, 0, 2, 5))))
  expect_call_errors(pr, args, "widths",
                     list("a", NULL, c(4, 3, 2), 4L, c(4L, 0L, 2L),
                          c(4L, NA, 2L), c(3L, 3L, 2L),
                          c(4L, 100000L, 100000L, 2L)))
  expect_call_errors(pr, args, "theta",
                     c(not_double, list(th[-1], c(th, 0))))
})

test_that("mf_net_balances refuses bad arguments with R errors", {
  ba <- mirrorflow:::C_mf_net_balances
  expect_error(.Call(ba, "a", 1, 1L, 1, 1L))
  expect_error(.Call(ba, NULL, NULL, NULL, NULL, NULL))

  set.seed(507)
  th <- rnorm(4 * 3 + 3 * 1)
  euclid <- c(0, NA, NA, NA, 2)
  args <- list(netspec = c(0, 0, 0, 1, 0), widths = c(4L, 3L, 1L),
               maps = rep(euclid, 2), custom = list(NULL, NULL), theta = th)
  good <- do.call(.Call, c(list(ba), unname(args)))
  w <- relist_like(th, init_weights(homogeneous_net(c(4, 3, 1))))
  # Euclidean balance of hidden neuron j: (|w_in|^2 - |w_out|^2) / 2
  expect_equal(good[[1]], (rowSums(w$W1^2) - colSums(w$W2^2)) / 2,
               tolerance = 1e-14)
  expect_equal(good[[2]], (rowSums(w$W1^2) + colSums(w$W2^2)) / 2,
               tolerance = 1e-14)

  expect_call_errors(ba, args, "netspec", c(not_double, list(c(0, 0, 0, 1))))
  expect_call_errors(ba, args, "widths", list("a", NULL, c(4, 3, 1),
                                              c(4L, -3L, 1L)))
  expect_call_errors(ba, args, "maps",
                     c(not_double, list(euclid, rep(euclid, 3),
                                        c(euclid, 7, NA, NA, NA, 2),
                                        c(euclid, 1.5, NA, NA, NA, 2),
                                        c(euclid, 1, 1, NA, NA, 1),
                                        c(euclid, 2, NA, NA, 0, 1),
                                        c(euclid, 3, 2, 1, NA, 2),
                                        c(euclid, 5, NA, NA, NA, 2),
                                        c(euclid, NaN, NA, NA, NA, 2))))
  expect_call_errors(ba, args, "custom",
                     list(NULL, "a", list(NULL), list(NULL, NULL, NULL)))
  expect_call_errors(ba, args, "theta", c(not_double, list(th[-1])))

  # custom maps whose R function misbehaves: wrong type, wrong length, error
  cu <- args
  cu$maps <- c(euclid, 5, NA, NA, NA, 2)
  for (fun in list(function(what, x) "a", function(what, x) x[-1],
                   function(what, x) stop("custom failure"),
                   function(what, x) as.integer(x)))
    expect_error(do.call(.Call, c(list(ba), unname(
      replace(cu, "custom", list(list(NULL, fun)))))))
  ok <- replace(cu, "custom", list(list(NULL, function(what, x) x^2 / 2)))
  expect_equal(do.call(.Call, c(list(ba), unname(ok)))[[1]],
               (rowSums(w$W1^2) - colSums(w$W2^2)) / 2, tolerance = 1e-14)
})

test_that("mf_net_horizons refuses bad arguments with R errors", {
  ho <- mirrorflow:::C_mf_net_horizons
  expect_error(.Call(ho, "a", 1, 1L, 1))
  expect_error(.Call(ho, NULL, NULL, NULL, NULL))

  set.seed(508)
  th <- rnorm(4 * 3 + 3 * 1)
  euclid <- c(0, NA, NA, NA, 2)
  args <- list(netspec = c(0, 0, 0, 1, 0), widths = c(4L, 3L, 1L),
               maps = rep(euclid, 2), theta = th)
  good <- do.call(.Call, c(list(ho), unname(args)))
  expect_equal(good[[1]], sqrt(sum(th^2)), tolerance = 1e-13)
  expect_equal(good[[2]], c(sqrt(sum(th[1:12]^2)), sqrt(sum(th[13:15]^2))),
               tolerance = 1e-13)
  # mixed l2 / l3 gauge: the t with A_1 / t^2 + A_2 / t^3 = 1
  mixed <- replace(args, "maps", list(c(euclid, 1, 3, NA, NA, 3)))
  a1 <- sum(th[1:12]^2)
  a2 <- sum(abs(th[13:15])^3)
  t_ref <- uniroot(function(t) a1 / t^2 + a2 / t^3 - 1, c(1e-3, 1e3),
                   tol = 1e-14)$root
  expect_equal(do.call(.Call, c(list(ho), unname(mixed)))[[1]], t_ref,
               tolerance = 1e-9)

  expect_call_errors(ho, args, "netspec", c(not_double, list(c(0, 0, 0))))
  expect_call_errors(ho, args, "widths", list("a", NULL, c(4, 3, 1), 7L))
  expect_call_errors(ho, args, "maps",
                     c(not_double, list(euclid, c(euclid, 8, NA, NA, NA, 2),
                                        c(euclid, 1, 0.5, NA, NA, 1))))
  expect_call_errors(ho, args, "theta", c(not_double, list(th[-1])))
})
