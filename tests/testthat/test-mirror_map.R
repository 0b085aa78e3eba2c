# Tests of the mirror maps (R/mirror_map.R, src/mirror_maps.c): round trips,
# the closed forms of the potentials and the horizon gauges documented in
# ?mirror_map, extreme arguments, printing, and the checks on bad input.

# Elementwise relative error; where the reference is 0 the absolute error,
# and an infinite reference is met only by the same infinity.
rel_err <- function(got, want) {
  got <- as.vector(got)
  want <- as.vector(want)
  err <- abs(got - want) / abs(want)
  zero <- !is.na(want) & want == 0
  err[zero] <- abs(got[zero])
  inf <- !is.na(want) & is.infinite(want)
  err[inf] <- ifelse(!is.na(got[inf]) & got[inf] == want[inf], 0, Inf)
  err
}

# Every element within tol in relative terms; the failure names the worst
# element with both values in full.
expect_rel <- function(got, want, tol, label = "value") {
  if (length(got) != length(want)) {
    return(expect(FALSE, sprintf("%s: length %d, reference length %d",
                                 label, length(got), length(want))))
  }
  err <- rel_err(got, want)
  bad <- is.na(err) | err > tol
  i <- if (any(is.na(err))) which(is.na(err))[1] else which.max(err)
  expect(!any(bad), sprintf(paste("%s: relative error %.3g exceeds %.3g at",
                                   "element %d (got %.17g, want %.17g)"),
                             label, err[i], tol, i, as.vector(got)[i],
                             as.vector(want)[i]))
  invisible(got)
}

map_name <- function(m) format(m)[1]

# Both signs and 0, |theta| log-spaced over 1e-8 .. 1e8.
theta_grid <- local({
  g <- 10^seq(-8, 8, by = 0.125)
  c(-rev(g), 0, g)
})

pnorm_ps <- c(1.1, 1.5, 2, 3, 7)
hyp_betas <- c(1e-6, 1e-3, 0.1, 1, 10)
powers_pqs <- list(c(1.5, 3), c(2, 3), c(1.1, 8))

builtin_maps <- function() {
  c(list(mirror_map("euclidean")),
    lapply(pnorm_ps, function(p) mirror_map("pnorm", p = p)),
    lapply(hyp_betas, function(b) mirror_map("hypentropy", beta = b)),
    lapply(powers_pqs, function(pq) mirror_map("powers", p = pq[1],
                                               q = pq[2])),
    list(mirror_map("cosh")))
}

# The real root of x^3 + x = z in the hyperbolic form of Cardano's formula,
# accurate in relative terms for tiny and huge z alike.
cubic_root <- function(z) 2 / sqrt(3) * sinh(asinh(1.5 * sqrt(3) * z) / 3)

quartic_map <- function(with_inverse) {
  mirror_map("custom",
             potential = function(x) x^4 / 4 + x^2 / 2,
             gradient = function(x) x^3 + x,
             inverse = if (with_inverse) cubic_root else NULL,
             name = "quartic")
}

# ---- 1. round trips ----------------------------------------------------

test_that("mirror_inverse undoes mirror for the finite-range families", {
  for (m in builtin_maps()) {
    if (m$family == "cosh") next
    expect_rel(mirror_inverse(m, mirror(m, theta_grid)), theta_grid, 1e-12,
               map_name(m))
    expect_identical(mirror_inverse(m, mirror(m, 0)), 0)
  }
})

test_that("the cosh round trip holds wherever sinh is a finite double", {
  m <- mirror_map("cosh")
  th <- theta_grid[abs(theta_grid) <= 700]
  expect_rel(mirror_inverse(m, mirror(m, th)), th, 1e-12, "cosh")
  expect_rel(mirror_inverse(m, mirror(m, c(-710, 710))), c(-710, 710), 1e-14,
             "cosh at 710")

  # sinh(1e8) is far beyond the largest double: the true value is Inf.
  expect_identical(mirror(m, c(1e8, -1e8)), c(Inf, -Inf))
  expect_identical(mirror(m, 711), Inf)
})

test_that("custom maps round-trip with and without a user inverse", {
  for (inv in c(TRUE, FALSE)) {
    m <- quartic_map(inv)
    z <- mirror(m, theta_grid)
    expect_rel(z, theta_grid^3 + theta_grid, 1e-15, "quartic mirror")
    expect_rel(mirror_inverse(m, z), theta_grid, 1e-12,
               sprintf("quartic, user inverse %s", inv))
  }

  # The numerical solve must match the closed-form built-in inverses.
  hyp <- mirror_map("custom", potential = function(x)
    x * asinh(x) - sqrt(1 + x^2) + 1, gradient = asinh, name = "hyp")
  z <- mirror(hyp, theta_grid)
  expect_rel(mirror_inverse(hyp, z), theta_grid, 1e-12, "custom asinh")
  expect_rel(mirror_inverse(hyp, z),
             mirror_inverse(mirror_map("hypentropy", beta = 1), z), 1e-12,
             "custom asinh vs hypentropy")

  cube <- mirror_map("custom", potential = function(x) abs(x)^3 / 3,
                     gradient = function(x) sign(x) * x^2, name = "cube")
  expect_rel(mirror_inverse(cube, mirror(cube, theta_grid)), theta_grid,
             1e-12, "custom |x|^3/3")
})

test_that("the numerical inverse of a custom map is exact near 0 too", {
  # gradient(0) = 0, so 0 maps to 0; x^3 + x = z has its root at z (1 - z^2
  # + ...) for tiny z, which the numerical solve must find in relative terms.
  m <- quartic_map(FALSE)
  expect_identical(mirror_inverse(m, 0), 0)
  z <- c(1e-300, 1e-200, 1e-120, 1e-95, 1e-60, 1e-30, 1e-12)
  expect_rel(mirror_inverse(m, z), z, 1e-12, "quartic, tiny z")
  expect_rel(mirror_inverse(m, -z), -z, 1e-12, "quartic, tiny -z")
})

# ---- 2. closed forms -----------------------------------------------------

# The closed forms of ?mirror_map written in R. sqrt(x^2 + b^2) - b is
# rewritten as x^2 / (sqrt(x^2 + b^2) + b), the same number without the
# cancellation.
theory <- list(
  euclidean = list(
    phi = function(m, x) x^2 / 2,
    dphi = function(m, x) x,
    inv = function(m, z) z,
    bal = function(m, x) x^2 / 2),
  pnorm = list(
    phi = function(m, x) abs(x)^m$p / m$p,
    dphi = function(m, x) sign(x) * abs(x)^(m$p - 1),
    inv = function(m, z) sign(z) * abs(z)^(1 / (m$p - 1)),
    bal = function(m, x) (1 - 1 / m$p) * abs(x)^m$p),
  hypentropy = list(
    phi = function(m, x) x * asinh(x / m$beta) -
      x^2 / (sqrt(x^2 + m$beta^2) + m$beta),
    dphi = function(m, x) asinh(x / m$beta),
    inv = function(m, z) m$beta * sinh(z),
    bal = function(m, x) x^2 / (sqrt(x^2 + m$beta^2) + m$beta)),
  powers = list(
    phi = function(m, x) abs(x)^m$p / m$p + abs(x)^m$q / m$q,
    dphi = function(m, x) sign(x) * (abs(x)^(m$p - 1) + abs(x)^(m$q - 1)),
    inv = NULL,
    bal = function(m, x) (1 - 1 / m$p) * abs(x)^m$p +
      (1 - 1 / m$q) * abs(x)^m$q),
  cosh = list(
    phi = function(m, x) cosh(x) - 1,
    dphi = function(m, x) sinh(x),
    inv = function(m, z) asinh(z),
    bal = function(m, x) x * sinh(x) - cosh(x) + 1)
)

x_moderate <- c(-9.5, -3, -1.25, -0.6, 0.3, 0.7, 1, 2.2, 4.5, 12)
z_moderate <- c(-20, -4.5, -1, -0.35, 0.2, 0.8, 1.5, 3, 7.25, 15)

test_that("potential, mirror, inverse and balance follow the closed forms", {
  for (m in builtin_maps()) {
    f <- theory[[m$family]]
    nm <- map_name(m)
    expect_rel(potential(m, x_moderate), f$phi(m, x_moderate), 1e-13,
               paste(nm, "potential"))
    expect_rel(mirror(m, x_moderate), f$dphi(m, x_moderate), 1e-13,
               paste(nm, "mirror"))
    expect_rel(balance(m, x_moderate), f$bal(m, x_moderate), 1e-13,
               paste(nm, "balance"))
    if (!is.null(f$inv))
      expect_rel(mirror_inverse(m, z_moderate), f$inv(m, z_moderate), 1e-13,
                 paste(nm, "inverse"))
  }
})

test_that("the powers inverse matches closed forms where they exist", {
  z <- c(-10^seq(300, -300, by = -2.5), 0, 10^seq(-300, 300, by = 2.5))

  # q = 2 p - 1 makes z = |x|^(p-1) + |x|^(2(p-1)) a quadratic in
  # |x|^(p-1), solved without cancellation as 2 z / (1 + sqrt(1 + 4 z)).
  quad <- function(z) 2 * abs(z) / (1 + sqrt(1 + 4 * abs(z)))
  m <- mirror_map("powers", p = 2, q = 3)
  expect_rel(mirror_inverse(m, z), sign(z) * quad(z), 1e-14, "powers(2, 3)")
  m <- mirror_map("powers", p = 1.5, q = 2)
  zz <- z[abs(z) > 1e-150]
  expect_rel(mirror_inverse(m, zz), sign(zz) * quad(zz)^2, 1e-14,
             "powers(1.5, 2)")

  # p = 2, q = 4: z = x + x^3, the cubic of cubic_root(). The reference
  # carries the rounding of asinh near 700, some 1e-14 relative.
  m <- mirror_map("powers", p = 2, q = 4)
  expect_rel(mirror_inverse(m, z), cubic_root(z), 1e-13, "powers(2, 4)")
})

test_that("balance is x mirror(x) - potential(x)", {
  x <- c(-8, -2.5, -1, -0.4, 0.3, 0.9, 1.7, 3.3, 6, 11.5)
  for (m in c(builtin_maps(), list(quartic_map(FALSE)))) {
    expect_rel(balance(m, x), x * mirror(m, x) - potential(m, x), 1e-13,
               paste(map_name(m), "balance identity"))
  }
})

test_that("mirror is the derivative of the potential", {
  # Richardson-extrapolated central differences: error O(h^4).
  x <- c(-6, -2.5, -1.1, -0.45, 0.35, 0.8, 1.6, 3.2, 5)
  for (m in c(builtin_maps(), list(quartic_map(FALSE)))) {
    h <- 1e-3 * abs(x)
    d1 <- (potential(m, x + h) - potential(m, x - h)) / (2 * h)
    d2 <- (potential(m, x + h / 2) - potential(m, x - h / 2)) / h
    expect_rel(mirror(m, x), (4 * d2 - d1) / 3, 1e-8,
               paste(map_name(m), "derivative"))
  }
})

test_that("mirror_inverse is increasing", {
  wide <- c(-10^seq(300, -300, by = -1), 0, 10^seq(-300, 300, by = 1))
  close <- seq(-50, 50, by = 0.25)
  for (m in c(builtin_maps(), list(quartic_map(FALSE)))) {
    # Comparisons rather than diff(), which turns Inf - Inf into NaN.
    w <- mirror_inverse(m, wide)
    expect_true(all(w[-1] >= w[-length(w)]), label = map_name(m))
    cl <- mirror_inverse(m, close)
    expect_true(all(cl[-1] > cl[-length(cl)]), label = map_name(m))
  }
})

test_that("the evaluators keep the shape and names of their input", {
  m <- mirror_map("hypentropy", beta = 0.5)
  x <- matrix(c(-2, 0, 0.5, 3, 1e-3, 7), 2,
              dimnames = list(c("a", "b"), c("u", "v", "w")))
  for (f in list(potential, mirror, mirror_inverse, balance)) {
    v <- f(m, x)
    expect_identical(dim(v), dim(x))
    expect_identical(dimnames(v), dimnames(x))
  }
  expect_identical(names(mirror(m, c(s = 1, t = 2))), c("s", "t"))
  expect_identical(mirror(m, numeric(0)), numeric(0))
  expect_identical(mirror(m, 1:3), mirror(m, c(1, 2, 3)))
})

# ---- 3. extreme arguments ------------------------------------------------

test_that("the hyperbolic-entropy inverse stays finite past sinh's range", {
  # 0.1 sinh(700) = 0.05 e^700; e^350 squared keeps the reference within a
  # few ulps, where exp(700 + log(0.1) - log(2)) carries the rounding of
  # its argument.
  m <- mirror_map("hypentropy", beta = 0.1)
  expect_rel(mirror_inverse(m, 700), 0.05 * exp(350)^2, 1e-13,
             "beta 0.1, z 700")
  expect_rel(mirror_inverse(m, 700), exp(700 + log(0.1) - log(2)), 1e-13,
             "beta 0.1, z 700, log form")
  expect_rel(mirror_inverse(m, -700), -0.05 * exp(350)^2, 1e-13,
             "beta 0.1, z -700")

  # 1e-6 sinh(720) ~ 2.5e306. The log form exp(z + log(beta) - log 2)
  # rounds an argument near 705, an error up to ~1e-13 relative.
  m <- mirror_map("hypentropy", beta = 1e-6)
  expect_rel(mirror_inverse(m, 720), (5e-7 * exp(360)) * exp(360), 2e-13,
             "beta 1e-6, z 720")

  # With beta = 1 the edge of the double range: sinh(710.4) ~ 1.67e308 is
  # finite, sinh(711) is not.
  m <- mirror_map("hypentropy", beta = 1)
  expect_rel(mirror_inverse(m, 710.4), (exp(355.2) / 2) * exp(355.2), 2e-13,
             "beta 1, z 710.4")
  expect_identical(mirror_inverse(m, c(711, -711)), c(Inf, -Inf))
})

test_that("the vector beta * sinh is libm's to 3 ulps on every path", {
  vs <- function(z, isa, beta = 1)
    .Call(mirrorflow:::C_mf_sinh_check, z, beta, as.integer(isa))
  top <- mirrorflow:::vmath_isa()
  set.seed(7)
  # both sides of the switch at |z| = 1 and of the vector range's end at
  # 20, tiny and subnormal arguments, past sinh's range, the specials; a
  # length that leaves a remainder after groups of 2 and of 4
  z <- c(runif(20001, -25, 25), runif(20000, -1.1, 1.1),
         c(-1, 1) * 10^runif(2000, -320, 1.3), 0, -0, 1, -1,
         1 - 2^-53, 1 + 2^-52, 20, -20, 20 - 2^-48, 710.4, 711, -711, Inf,
         -Inf, NaN, NA, 5e-324)
  ref <- sinh(z)
  for (isa in 0:top) {
    r <- vs(z, isa)
    fin <- is.finite(ref)
    expect_identical(r[!fin], ref[!fin])
    ulp <- pmax(2^(floor(log2(abs(ref[fin]))) - 52), 2^-1074)
    err <- abs(r[fin] - ref[fin]) / ulp
    expect_lte(max(err), 3)
    # zeros keep their sign
    expect_identical(1 / r[z == 0 & !is.na(z)], c(Inf, -Inf))
    # the other paths make the same operations in the same order
    expect_identical(r, vs(z, 0L))
    # beta multiplies last, as beta * sinh(z) would (past |z| = 20 the
    # product is formed so that it cannot overflow early)
    inside <- !is.na(z) & abs(z) < 20
    expect_identical(vs(z, isa, 0.1)[inside], 0.1 * r[inside])
  }
  # the map's inverse goes through the same code
  m <- mirror_map("hypentropy", beta = 0.1)
  expect_identical(mirror_inverse(m, z[1:5000]), vs(z[1:5000], top, 0.1))
  expect_error(vs("a", 0L), "'z'")
  expect_error(vs(1, 0L, c(1, 2)), "'beta'")
  expect_error(vs(1, 0L, 1L), "'beta'")
  expect_error(vs(1, 3L), "'isa'")
  expect_error(.Call(mirrorflow:::C_mf_sinh_check, 1, 1, 0), "'isa'")
  expect_error(vs(1, NA_integer_), "'isa'")
})

test_that("hyperbolic entropy is finite at 1e300", {
  for (b in c(1e-10, 1e-6, 1, 1e3)) {
    m <- mirror_map("hypentropy", beta = b)
    # asinh(r) = log(2 r) + O(r^-2): exact in double for r >= 1e150.
    lz <- log(2) + log(1e300) - log(b)
    expect_rel(mirror(m, 1e300), lz, 1e-15, sprintf("mirror, beta %g", b))
    expect_rel(mirror(m, -1e300), -lz, 1e-15, sprintf("mirror, beta %g", b))
    # phi = x (asinh(x/b) - 1) + b + O(b^2/x); D = x - b + O(b^2/x).
    expect_rel(potential(m, 1e300), 1e300 * (lz - 1), 1e-14,
               sprintf("potential, beta %g", b))
    expect_rel(balance(m, c(-1e300, 1e300)), c(1e300, 1e300), 1e-15,
               sprintf("balance, beta %g", b))
  }
  m <- mirror_map("hypentropy", beta = 1)
  expect_rel(mirror(m, 1e300), asinh(1e300), 1e-15, "asinh(1e300)")
})

test_that("cosh is finite up to the edge of the double range", {
  m <- mirror_map("cosh")
  # cosh(709) - 1 and sinh(709) are e^709 / 2 to far below an ulp.
  expect_rel(potential(m, 709), exp(709) / 2, 1e-14, "potential(709)")
  expect_rel(mirror(m, c(-709, 709)), c(-1, 1) * exp(709) / 2, 1e-14,
             "mirror(709)")
  expect_rel(potential(m, 710.4), (exp(355.2) / 2) * exp(355.2), 1e-13,
             "potential(710.4)")
  expect_rel(mirror(m, 710.4), (exp(355.2) / 2) * exp(355.2), 1e-13,
             "mirror(710.4)")
  expect_identical(potential(m, c(-711, 711)), c(Inf, Inf))

  # D(x) = ((x - 1) e^x + 2 - (x + 1) e^-x) / 2 exceeds the largest double
  # between 703 and 704.
  x <- c(20, 35.5, 100, 250.25, 500, 650, 700, 703)
  ref <- (x - 1) / 2 * exp(x) + 1 - (x + 1) / 2 * exp(-x)
  expect_rel(balance(m, x), ref, 2e-13, "balance, large x")
  expect_rel(balance(m, -x), ref, 2e-13, "balance, large -x")
  expect_identical(balance(m, c(704, 1e8)), c(Inf, Inf))

  expect_rel(mirror_inverse(m, c(-1e300, 1e300)),
             c(-1, 1) * (log(2) + log(1e300)), 1e-15, "asinh(1e300)")
  expect_rel(mirror_inverse(m, .Machine$double.xmax),
             log(2) + log(.Machine$double.xmax), 1e-15, "asinh(max double)")
})

test_that("tiny arguments keep their relative accuracy", {
  x <- c(1e-300, 1e-200, 1e-100, 1e-20, 1e-10)
  m <- mirror_map("cosh")
  expect_rel(mirror(m, x), x, 1e-15, "sinh(tiny)")
  expect_rel(mirror_inverse(m, -x), -x, 1e-15, "asinh(tiny)")
  expect_rel(potential(m, 1e-10), 5e-21, 1e-15, "cosh(1e-10) - 1")
  expect_rel(balance(m, 1e-5), 1e-10 / 2 + 1e-20 / 8, 1e-14, "D(1e-5)")
  expect_rel(balance(m, 1e-150), 5e-301, 1e-15, "D(1e-150)")

  for (b in c(1e-3, 1, 10)) {
    m <- mirror_map("hypentropy", beta = b)
    expect_rel(mirror(m, x * b), x, 1e-15, sprintf("asinh tiny, beta %g", b))
    expect_rel(mirror_inverse(m, x), b * x, 1e-15,
               sprintf("beta sinh tiny, beta %g", b))
  }

  # For x << beta, D = x^2/(2b) - x^4/(8b^3) + O(x^6) and
  # phi = x^2/(2b) - x^4/(24b^3) + O(x^6): series independent of the
  # closed forms.
  for (b in c(1e-3, 1, 10)) {
    m <- mirror_map("hypentropy", beta = b)
    x <- b * c(1e-150, 1e-40, 1e-10, 1e-5, 1e-4)
    expect_rel(balance(m, x), x^2 / (2 * b) - x^4 / (8 * b^3), 1e-14,
               sprintf("hypentropy D, x << beta = %g", b))
    expect_rel(balance(m, x), x^2 / (sqrt(x^2 + b^2) + b), 1e-15,
               sprintf("hypentropy D stable form, beta %g", b))
    expect_rel(potential(m, x), x^2 / (2 * b) - x^4 / (24 * b^3), 1e-14,
               sprintf("hypentropy phi, x << beta = %g", b))
  }

  m <- mirror_map("pnorm", p = 3)
  expect_rel(mirror_inverse(m, 1e-300), 1e-150, 1e-15, "pnorm 3 inverse")
  expect_rel(potential(mirror_map("euclidean"), 1e-150), 5e-301, 1e-15,
             "x^2/2 at 1e-150")
})

test_that("the cosh balance is accurate in relative terms on (0, 20)", {
  # x sinh x - 2 sinh(x/2)^2 cancels at most a factor 2 (D ~ x^2/2 against
  # x sinh x ~ x^2); below 1e-3 the Taylor series to x^8 is exact.
  m <- mirror_map("cosh")
  x <- 10^seq(-6, log10(20), length.out = 241)
  ref <- ifelse(x < 1e-3, x^2 / 2 + x^4 / 8 + x^6 / 144 + x^8 / 5760,
                x * sinh(x) - 2 * sinh(x / 2)^2)
  expect_rel(balance(m, x), ref, 1e-14, "cosh balance on (0, 20)")
  expect_rel(balance(m, -x), ref, 1e-14, "cosh balance on (-20, 0)")
})

# ---- 4. powers inverse ---------------------------------------------------

test_that("the powers inverse solves z = |x|^(p-1) + |x|^(q-1) fully", {
  z <- 10^seq(-300, 300, by = 0.25)
  for (pq in c(powers_pqs, list(c(1.5, 2), c(2, 4), c(1.01, 1.02),
                                c(3, 40)))) {
    m <- mirror_map("powers", p = pq[1], q = pq[2])
    x <- mirror_inverse(m, z)
    expect_true(all(x >= 0))
    # Where x is a normal double (not underflowed) and finite.
    ok <- is.finite(x) & x > 1e-290
    expect_gt(sum(ok), 30)
    expect_rel(mirror(m, x[ok]), z[ok], 1e-13,
               sprintf("powers(%g, %g)", pq[1], pq[2]))
    expect_rel(mirror_inverse(m, -z[ok]), -x[ok], 0,
               sprintf("powers(%g, %g) odd", pq[1], pq[2]))
  }
})

# ---- 5. horizon ----------------------------------------------------------

lp_norm <- function(v, p) {
  if (is.infinite(p)) return(max(abs(v)))
  sum(abs(v)^p)^(1 / p)
}

test_that("each family carries the horizon exponent of its closed form", {
  expect_identical(mirror_map("euclidean")$horizon_p, 2)
  for (p in pnorm_ps)
    expect_identical(mirror_map("pnorm", p = p)$horizon_p, p)
  for (b in hyp_betas)
    expect_identical(mirror_map("hypentropy", beta = b)$horizon_p, 1)
  for (pq in powers_pqs)
    expect_identical(mirror_map("powers", p = pq[1], q = pq[2])$horizon_p,
                     pq[2])
  expect_identical(mirror_map("cosh")$horizon_p, Inf)
})

test_that("horizon is the lp norm of the horizon exponent", {
  set.seed(20240603)
  vs <- lapply(c(1, 2, 7, 50, 200), function(n) rnorm(n) * 10^runif(n, -3, 3))
  for (m in builtin_maps()) {
    got <- vapply(vs, function(v) horizon(m, v), 0)
    want <- vapply(vs, lp_norm, 0, p = m$horizon_p)
    expect_rel(got, want, 1e-13, paste(map_name(m), "gauge"))
    expect_identical(horizon(m, matrix(vs[[3]], 1)), horizon(m, vs[[3]]))
    expect_identical(c(horizon(m, numeric(0)), horizon(m, c(0, -0))), c(0, 0))
  }
})

test_that("horizon is positively 1-homogeneous, even at extreme scales", {
  set.seed(7)
  v <- rnorm(20)
  for (m in builtin_maps()) {
    h <- horizon(m, v)
    cc <- c(1e-200, 1e-3, 3.7, 1e200)
    expect_rel(vapply(cc, function(c1) horizon(m, c1 * v), 0), cc * h, 1e-14,
               paste(map_name(m), "scaled"))
    expect_rel(horizon(m, -v), h, 1e-15, paste(map_name(m), "symmetry"))
  }
})

test_that("horizon of a list with mixed exponents solves its equation", {
  set.seed(11)
  a <- rnorm(6)
  b <- rnorm(9) * 3
  m2 <- mirror_map("pnorm", p = 2)
  m3 <- mirror_map("pnorm", p = 3)

  # Root t of sum(|a|^2) / t^2 + sum(|b|^3) / t^3 = 1, solved in log t.
  f <- function(s) log(sum(a^2) * exp(-2 * s) + sum(abs(b)^3) * exp(-3 * s))
  s <- uniroot(f, c(-10, 10), tol = 1e-15)$root
  expect_rel(horizon(list(m2, m3), list(a, b)), exp(s), 1e-12, "l2 + l3")
  expect_rel(horizon(list(m2, m3), list(a * 1e250, b * 1e250)),
             exp(s) * 1e250, 1e-12, "l2 + l3 at 1e250")

  # An l1 block and an l2 block: A1 / t + A2 / t^2 = 1, a quadratic.
  hyp <- mirror_map("hypentropy", beta = 0.3)
  A1 <- sum(abs(a))
  A2 <- sum(b^2)
  expect_rel(horizon(list(hyp, m2), list(a, b)),
             (A1 + sqrt(A1^2 + 4 * A2)) / 2, 1e-13, "l1 + l2")

  # An l-infinity block only bounds the result from below.
  ch <- mirror_map("cosh")
  expect_rel(horizon(list(m2, ch), list(a, b)),
             max(sqrt(sum(a^2)), max(abs(b))), 1e-14, "l2 + l-infinity")
  expect_rel(horizon(list(m2, ch), list(a, b / 100)), sqrt(sum(a^2)), 1e-14,
             "l2 + small l-infinity")

  # One map for all blocks is the gauge of the concatenation.
  expect_rel(horizon(m3, list(a, b)), lp_norm(c(a, b), 3), 1e-14, "l3 list")
  expect_rel(horizon(list(m3, m3), list(a, b)), lp_norm(c(a, b), 3), 1e-14,
             "l3 list of maps")
})

test_that("horizon of many mixed blocks solves its equation", {
  # Three unit l1 blocks and one unit l2 block: 3 / t + 1 / t^2 = 1; and
  # five unit blocks with exponents 1.1 .. 1.5 against a uniroot solve.
  hyp <- mirror_map("hypentropy", beta = 1)
  m2 <- mirror_map("pnorm", p = 2)
  expect_rel(horizon(list(hyp, hyp, hyp, m2), list(1, 1, 1, 1)),
             (3 + sqrt(13)) / 2, 1e-13, "three l1 blocks + l2")
  ps <- c(1.1, 1.2, 1.3, 1.4, 1.5)
  f <- function(s) log(sum(exp(-ps * s)))
  s <- uniroot(f, c(0, 10), tol = 1e-15)$root
  maps <- lapply(ps, function(p) mirror_map("pnorm", p = p))
  expect_rel(horizon(maps, as.list(rep(1, 5))), exp(s), 1e-12,
             "five unit blocks")
})

test_that("custom maps get the horizon exponent of their growth", {
  m <- mirror_map("custom", potential = function(x) abs(x)^3 / 3,
                  gradient = function(x) sign(x) * x^2)
  expect_identical(m$horizon_p, 3)
  set.seed(3)
  v <- rnorm(12)
  expect_rel(horizon(m, v), lp_norm(v, 3), 1e-13, "custom l3 gauge")

  # THEORY: a sum of powers takes the horizon of its highest power.
  m <- mirror_map("custom", potential = function(x) x^2 / 2 + abs(x)^3 / 3,
                  gradient = function(x) x + sign(x) * x^2)
  expect_identical(m$horizon_p, 3)
  expect_identical(quartic_map(FALSE)$horizon_p, 4)

  m <- mirror_map("custom",
                  potential = function(x) x * asinh(x) - sqrt(1 + x^2) + 1,
                  gradient = asinh)
  expect_identical(m$horizon_p, 1)
})

test_that("a custom cosh potential gets the l-infinity horizon", {
  # cosh(x) - 1 overflows at |x| ~ 710, inside the range the growth is
  # probed on; super-polynomial growth is exactly the l-infinity case.
  m <- mirror_map("custom", potential = function(x) cosh(x) - 1,
                  gradient = sinh, name = "cosh")
  expect_identical(m$horizon_p, Inf)
  expect_rel(mirror_inverse(m, mirror(m, c(-3, 0.5, 20))), c(-3, 0.5, 20),
             1e-12, "custom cosh round trip")
})

test_that("horizon does not turn missing values into numbers", {
  # Either an error or NA is acceptable; a finite gauge is not.
  na_or_error <- function(expr) {
    v <- tryCatch(expr, error = function(e) NA_real_)
    length(v) == 1 && is.na(v)
  }
  for (m in list(mirror_map("pnorm", p = 2), mirror_map("cosh"))) {
    expect_true(na_or_error(horizon(m, NaN)),
                label = paste(map_name(m), "of NaN is NA"))
    expect_true(na_or_error(horizon(m, c(NA, 1))),
                label = paste(map_name(m), "of c(NA, 1) is NA"))
  }
})

# ---- 6. printing ---------------------------------------------------------

test_that("print output is stable", {
  expect_snapshot(print(mirror_map("hypentropy", beta = 0.1)))
  expect_snapshot(print(mirror_map("pnorm", p = 3)))
  expect_snapshot(print(mirror_map("powers", p = 1.5, q = 3)))
  expect_snapshot(print(mirror_map("cosh")))
  expect_snapshot(mirror_map("powers", p = 3, q = 2), error = TRUE)
})

test_that("print names the family, its parameters and its horizon", {
  expect_output(print(mirror_map("hypentropy", beta = 0.1)),
                "hypentropy.*beta = 0\\.1.*horizon l1")
  expect_output(print(mirror_map("pnorm", p = 3)), "pnorm.*p = 3.*horizon l3")
  expect_output(print(mirror_map("powers", p = 1.5, q = 3)),
                "powers.*p = 1\\.5.*q = 3.*horizon l3")
  expect_output(print(mirror_map("cosh")), "cosh.*horizon l-infinity")
  expect_output(print(mirror_map("euclidean")), "euclidean.*horizon l2")
  expect_output(print(quartic_map(FALSE)), "quartic.*horizon l4")
  m <- mirror_map("cosh")
  out <- capture.output(v <- withVisible(print(m)))
  expect_identical(out, format(m))
  expect_false(v$visible)
  expect_identical(v$value, m)
})

# ---- 7. bad input --------------------------------------------------------

test_that("bad parameters give errors that name the argument", {
  expect_error(mirror_map("pnorm", p = 1), "'p'")
  expect_error(mirror_map("pnorm", p = 0.5), "'p'")
  expect_error(mirror_map("pnorm"), "'p'")
  expect_error(mirror_map("pnorm", p = "a"), "'p'")
  expect_error(mirror_map("pnorm", p = c(2, 3)), "'p'")
  expect_error(mirror_map("pnorm", p = Inf), "'p'")
  expect_error(mirror_map("hypentropy", beta = 0), "'beta'")
  expect_error(mirror_map("hypentropy", beta = -1), "'beta'")
  expect_error(mirror_map("hypentropy", beta = NA_real_), "'beta'")
  expect_error(mirror_map("powers", p = 2, q = 2), "'q'")
  expect_error(mirror_map("powers", p = 3, q = 2), "'q'")
  expect_error(mirror_map("powers", p = 1, q = 2), "'p'")
  expect_error(mirror_map("powers", p = 2), "'q'")
})

test_that("an unknown family is an error that names 'family'", {
  expect_error(mirror_map("no-such-family"), "hypentropy")
  expect_error(mirror_map("no-such-family"), "'family'")
})

test_that("evaluators reject non-numeric input and non-maps", {
  m <- mirror_map("euclidean")
  expect_error(mirror(m, "a"), "'theta'.*numeric")
  expect_error(potential(m, list(1)), "'theta'.*numeric")
  expect_error(balance(m, TRUE), "'theta'.*numeric")
  expect_error(mirror_inverse(m, "1"), "'z'.*numeric")
  expect_error(horizon(m, "a"), "'theta'.*numeric")
  expect_error(mirror("euclidean", 1), "'map'.*mirror_map")
  expect_error(horizon(list(m, m), list(1, 2, 3)), "'map'")
  expect_error(horizon(list(m, "x"), list(1, 2)), "'map'")
  expect_error(horizon(m, list(1, "a")), "element 2 of 'theta'")
})

test_that("custom maps reject bad functions with a message that says so", {
  sq <- function(x) x^2 / 2
  expect_error(mirror_map("custom", potential = 1, gradient = identity),
               "'potential'")
  expect_error(mirror_map("custom", potential = sq, gradient = "x"),
               "'gradient'")
  expect_error(mirror_map("custom", potential = sq, gradient = identity,
                          inverse = 3), "'inverse'")
  expect_error(mirror_map("custom", potential = sq,
                          gradient = function(x) ifelse(x > 1, Inf, x)),
               "gradient.*non-finite")
  expect_error(mirror_map("custom", potential = sq,
                          gradient = function(x) rep(NaN, length(x))),
               "gradient.*non-finite")
  expect_error(mirror_map("custom", potential = sq,
                          gradient = function(x) x[-1]),
               "gradient.*as long as its input")
  expect_error(mirror_map("custom", potential = sq,
                          gradient = function(x) as.character(x)),
               "gradient.*numeric")
  expect_error(mirror_map("custom", potential = function(x) 0,
                          gradient = identity), "potential.*as long")
  expect_error(mirror_map("custom", potential = sq, gradient = function(x) -x),
               "gradient.*increasing")
  expect_error(mirror_map("custom", potential = sq,
                          gradient = function(x) rep(1, length(x))),
               "gradient.*increasing")
})

test_that("a gradient that falls between the probe points is rejected", {
  # sin increases at -2, -0.5, 0, 0.5 and 2 but is no gradient of a convex
  # potential.
  expect_error(mirror_map("custom", potential = function(x) 1 - cos(x),
                          gradient = sin), "increasing")
})

test_that("the map entry point refuses bad arguments without crashing", {
  apply_c <- function(...) .Call(mirrorflow:::C_mf_map_apply, ...)
  code <- c(0, NA, NA, NA, 2)
  expect_identical(apply_c(code, NULL, 1L, c(-1, 2.5)), c(-1, 2.5))
  expect_identical(apply_c(code, NULL, 0L, numeric(0)), numeric(0))

  expect_error(apply_c("a", NULL, 0L, 1), "'map'")
  expect_error(apply_c(NULL, NULL, 0L, 1), "'map'")
  expect_error(apply_c(c(1, 2), NULL, 0L, 1), "'map'.*length 5")
  expect_error(apply_c(c(0L, 0L, 0L, 0L, 2L), NULL, 0L, 1), "'map'")
  for (fam in c(9, -1, 1.5, NA, Inf, 6)) {
    expect_error(apply_c(c(fam, 2, 3, 1, 2), NULL, 0L, 1), "family",
                 label = paste("family code", fam))
  }
  expect_error(apply_c(c(1, 1, NA, NA, 1), NULL, 0L, 1), "'p'")
  expect_error(apply_c(c(1, NA, NA, NA, 1), NULL, 0L, 1), "'p'")
  expect_error(apply_c(c(2, NA, NA, 0, 1), NULL, 0L, 1), "'beta'")
  expect_error(apply_c(c(2, NA, NA, NaN, 1), NULL, 0L, 1), "'beta'")
  expect_error(apply_c(c(3, 2, 2, NA, 2), NULL, 0L, 1), "powers")
  expect_error(apply_c(c(3, 2, NA, NA, 2), NULL, 0L, 1), "powers")

  expect_error(apply_c(code, NULL, 7L, 1), "'what'")
  expect_error(apply_c(code, NULL, -1L, 1), "'what'")
  expect_error(apply_c(code, NULL, NA_integer_, 1), "'what'")
  expect_error(apply_c(code, NULL, 1, 1), "'what'")
  expect_error(apply_c(code, NULL, "a", 1), "'what'")
  expect_error(apply_c(code, NULL, c(1L, 2L), 1), "'what'")
  expect_error(apply_c(code, NULL, NULL, 1), "'what'")

  expect_error(apply_c(code, NULL, 0L, list(1)), "'x'")
  expect_error(apply_c(code, NULL, 0L, NULL), "'x'")
  expect_error(apply_c(code, NULL, 0L, "a"), "'x'")
  expect_error(apply_c(code, NULL, 0L, 1L), "'x'")

  # Custom maps: the function is called as fun(what, x).
  cc <- c(5, NA, NA, NA, 2)
  expect_identical(apply_c(cc, function(w, x) x * (w + 1), 2L, c(1, 2)),
                   c(3, 6))
  expect_error(apply_c(cc, NULL, 0L, 1), "function")
  expect_error(apply_c(cc, "f", 0L, 1), "function")
  expect_error(apply_c(c(5, NA, NA, NA, NA), function(w, x) x, 0L, 1),
               "horizon")
  expect_error(apply_c(cc, function(w, x) "a", 0L, 1), "custom")
  expect_error(apply_c(cc, function(w, x) x[-1], 0L, c(1, 2)), "custom")
  expect_error(apply_c(cc, function(w, x) NULL, 0L, 1), "custom")
  expect_error(apply_c(cc, function(w, x) as.integer(x), 0L, 1), "custom")
  expect_error(apply_c(cc, function(w, x) stop("boom"), 0L, 1), "boom")
})

test_that("the gauge entry point refuses bad arguments without crashing", {
  gauge_c <- function(...) .Call(mirrorflow:::C_mf_gauge_vec, ...)
  expect_identical(gauge_c(c(3, -4), 2), 5)
  expect_identical(gauge_c(c(3, -4), Inf), 4)
  expect_identical(gauge_c(numeric(0), 2), 0)

  expect_error(gauge_c("a", 2), "'x'")
  expect_error(gauge_c(list(1), 2), "'x'")
  expect_error(gauge_c(NULL, 2), "'x'")
  expect_error(gauge_c(1L, 2), "'x'")
  expect_error(gauge_c(1, "a"), "'p'")
  expect_error(gauge_c(1, c(1, 2)), "'p'")
  expect_error(gauge_c(1, numeric(0)), "'p'")
  expect_error(gauge_c(1, 0.5), "'p'")
  expect_error(gauge_c(1, NA_real_), "'p'")
  expect_error(gauge_c(1, NULL), "'p'")
  expect_error(gauge_c(1, 2L), "'p'")
})
