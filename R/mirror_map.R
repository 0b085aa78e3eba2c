# Mirror maps: construction, the vectorised evaluators (potential, mirror,
# inverse, balance, horizon gauge) and, for custom maps, the numerical
# inverse and the estimated horizon.

family_codes <- c(euclidean = 0, pnorm = 1, hypentropy = 2, powers = 3,
                  cosh = 4, custom = 5)

#' Mirror maps
#'
#' A mirror map is given by a separable, strictly convex potential
#' \eqn{R(\theta) = \sum_k \phi(\theta_k)}. `mirror_map()` builds one of the
#' built-in families or a custom one; the evaluators apply it
#' coordinatewise.
#'
#' | family | \eqn{\phi(x)} | horizon |
#' |---|---|---|
#' | `"euclidean"` | \eqn{x^2/2} | l2 |
#' | `"pnorm"` | \eqn{|x|^p/p}, `p > 1` | lp |
#' | `"hypentropy"` | hyperbolic entropy, `beta > 0` (below) | l1 |
#' | `"powers"` | \eqn{|x|^p/p + |x|^q/q}, `1 < p < q` | lq |
#' | `"cosh"` | \eqn{\cosh(x) - 1} | l-infinity |
#' | `"custom"` | user functions | estimated |
#'
#' The hyperbolic entropy is \eqn{\phi(x) = x\,\mathrm{asinh}(x/\beta) -
#' \sqrt{x^2+\beta^2} + \beta}.
#'
#' The horizon is the gauge of the limit of the normalised sublevel sets of
#' the potential (Pesme, Dragomir and Flammarion, 2024); on separable data
#' the direction of a mirror flow is a max-margin direction for it.
#'
#' All evaluators are finite wherever the true value is a finite double:
#' the hyperbolic-entropy inverse \eqn{\beta\sinh(z)} and the cosh map are
#' evaluated in log form where needed. The powers family has no closed-form
#' inverse; it is solved by a safeguarded monotone Newton iteration to full
#' double precision.
#'
#' @param family One of `"euclidean"`, `"pnorm"`, `"hypentropy"`,
#'   `"powers"`, `"cosh"` or `"custom"`.
#' @param p,q Exponents: `p > 1` for `"pnorm"`; `1 < p < q` for `"powers"`.
#' @param beta Scale of the hyperbolic entropy, `beta > 0`.
#' @param potential,gradient,inverse For `family = "custom"`: vectorised R
#'   functions for \eqn{\phi}, \eqn{\phi'} (strictly increasing) and
#'   optionally \eqn{(\phi')^{-1}}. Without `inverse`, a safeguarded Newton
#'   solve on `gradient` is used.
#' @param name A label for a custom map.
#' @return An object of class `mirror_map`.
#' @seealso [potential()] and the other evaluators; [mirror_flow()].
#' @examples
#' m <- mirror_map("hypentropy", beta = 0.1)
#' m
#' mirror_inverse(m, mirror(m, c(-2, 0, 1e-3, 5)))
#' mirror_inverse(m, 700)          # finite: beta * sinh(700)
#' horizon(mirror_map("cosh"), c(3, -4))
#' @export
mirror_map <- function(family = c("euclidean", "pnorm", "hypentropy",
                                  "powers", "cosh", "custom"),
                       p = NULL, q = NULL, beta = NULL,
                       potential = NULL, gradient = NULL, inverse = NULL,
                       name = "custom") {
  families <- names(family_codes)
  if (!is.character(family) || length(family) < 1 || anyNA(family))
    stop(sprintf("'family' must be one of %s, not %s",
                 paste0('"', families, '"', collapse = ", "),
                 describe(family)), call. = FALSE)
  if (length(family) > 1) family <- family[1]
  if (!family %in% families)
    stop(sprintf("'family' must be one of %s, not \"%s\"",
                 paste0('"', families, '"', collapse = ", "), family),
         call. = FALSE)
  pv <- NA_real_
  qv <- NA_real_
  bv <- NA_real_
  fun <- NULL
  hz <- NULL
  if (family == "pnorm") {
    if (is.null(p)) stop("'p' is needed for the pnorm map", call. = FALSE)
    pv <- check_number(p, "p", lower = 1, strict = TRUE)
  } else if (family == "hypentropy") {
    bv <- if (is.null(beta)) 1 else check_number(beta, "beta", lower = 0,
                                                 strict = TRUE)
  } else if (family == "powers") {
    if (is.null(p) || is.null(q))
      stop("'p' and 'q' are needed for the powers map", call. = FALSE)
    pv <- check_number(p, "p", lower = 1, strict = TRUE)
    qv <- check_number(q, "q")
    if (!(qv > pv))
      stop(sprintf("'q' must exceed 'p' for the powers map; got p = %g, q = %g",
                   pv, qv), call. = FALSE)
  } else if (family == "custom") {
    fun <- custom_map_function(potential, gradient, inverse)
    hz <- estimate_horizon(potential, gradient)
  }
  code <- c(family_codes[[family]], pv, qv, bv, NA_real_)
  out <- structure(list(family = family, p = pv, q = qv, beta = bv,
                        name = if (family == "custom") name else family,
                        code = code, fun = fun, horizon_estimate = hz),
                   class = "mirror_map")
  out$horizon_p <- horizon_exponent(out)
  out$code[5] <- out$horizon_p
  out
}

horizon_exponent <- function(map) {
  switch(map$family,
         euclidean = 2, pnorm = map$p, hypentropy = 1, powers = map$q,
         cosh = Inf, custom = map$horizon_estimate$exponent)
}

horizon_label <- function(p) {
  if (is.infinite(p)) "l-infinity" else sprintf("l%s", format(p, digits = 4))
}

map_label <- function(map) {
  switch(map$family,
         euclidean = "euclidean",
         pnorm = sprintf("pnorm(p = %s)", format(map$p, digits = 4)),
         hypentropy = sprintf("hypentropy(beta = %s)",
                              format(map$beta, digits = 4)),
         powers = sprintf("powers(p = %s, q = %s)", format(map$p, digits = 4),
                          format(map$q, digits = 4)),
         cosh = "cosh",
         custom = sprintf("custom '%s'", map$name))
}

#' @export
format.mirror_map <- function(x, ...) {
  hz <- horizon_label(x$horizon_p)
  lines <- sprintf("<mirror_map> %s, horizon %s", map_label(x), hz)
  if (x$family == "custom") {
    lines <- c(lines, sprintf(
      "  horizon estimated numerically from the growth exponent %s",
      format(x$horizon_estimate$alpha, digits = 4)))
  }
  lines
}

#' @export
print.mirror_map <- function(x, ...) {
  cat(format(x, ...), sep = "\n")
  invisible(x)
}

is_mirror_map <- function(x) inherits(x, "mirror_map")

check_map <- function(map, arg = "map") {
  if (!is_mirror_map(map))
    stop(sprintf("'%s' must be a mirror_map (see mirror_map()), not %s",
                 arg, describe(map)), call. = FALSE)
  map
}

apply_map <- function(map, what, x, arg) {
  check_map(map)
  if (!is.numeric(x))
    stop(sprintf("'%s' must be numeric, not %s", arg, describe(x)),
         call. = FALSE)
  d <- attributes(x)
  v <- .Call(C_mf_map_apply, map$code, map$fun, as.integer(what),
             as.double(x))
  attributes(v) <- d
  v
}

#' Evaluate a mirror map
#'
#' Coordinatewise evaluators of a [mirror_map()]: the potential
#' \eqn{\phi}, the mirror \eqn{\phi'} (gradient of the potential), its
#' inverse \eqn{(\phi')^{-1}}, the balance function
#' \eqn{D(x) = x\phi'(x) - \phi(x)} (the convex conjugate at the dual
#' point, whose per-neuron sums the mirror flow conserves) and the horizon
#' gauge of a whole parameter vector.
#'
#' @param map A `mirror_map`. For `horizon()`, a list of maps, one per
#'   element of a list `theta`, is accepted too.
#' @param theta Numeric parameters (any shape; the shape is kept). For
#'   `horizon()`, also a list of numeric arrays such as [coef()] of a fit.
#' @param z Numeric dual coordinates.
#' @return A numeric array like the input; `horizon()` returns one number.
#' @examples
#' m <- mirror_map("powers", p = 2, q = 3)
#' th <- c(-3, 0.5, 10)
#' all.equal(mirror_inverse(m, mirror(m, th)), th)
#' balance(m, th)
#' horizon(m, th)      # the l3 norm
#' @name map_evaluators
NULL

#' @rdname map_evaluators
#' @export
potential <- function(map, theta) apply_map(map, 0L, theta, "theta")

#' @rdname map_evaluators
#' @export
mirror <- function(map, theta) apply_map(map, 1L, theta, "theta")

#' @rdname map_evaluators
#' @export
mirror_inverse <- function(map, z) apply_map(map, 2L, z, "z")

#' @rdname map_evaluators
#' @export
balance <- function(map, theta) apply_map(map, 3L, theta, "theta")

#' @rdname map_evaluators
#' @export
horizon <- function(map, theta) {
  if (is.list(theta) && !is.data.frame(theta)) {
    maps <- if (is_mirror_map(map)) rep(list(map), length(theta)) else map
    if (!is.list(maps) || length(maps) != length(theta))
      stop(sprintf(paste("'map' must be a mirror_map or a list of %d maps,",
                         "one per element of 'theta'"), length(theta)),
           call. = FALSE)
    for (i in seq_along(maps)) check_map(maps[[i]], "map")
    for (i in seq_along(theta))
      if (!is.numeric(theta[[i]]))
        stop(sprintf("element %d of 'theta' must be numeric", i),
             call. = FALSE)
    p <- vapply(maps, function(m) m$horizon_p, 0)
    if (any(vapply(theta, anyNA, TRUE))) return(NA_real_)
    return(gauge_mixed(lapply(theta, as.double), p))
  }
  check_map(map)
  if (!is.numeric(theta))
    stop(sprintf("'theta' must be numeric, not %s", describe(theta)),
         call. = FALSE)
  .Call(C_mf_gauge_vec, as.double(theta), as.double(map$horizon_p))
}

# Gauge of {u : sum_l sum_k |u_lk|^p_l <= 1}, the horizon of a potential
# whose blocks have different lp horizons (p = Inf: max norm); computed by
# the same C routine as the trajectory's horizon column.
gauge_mixed <- function(blocks, p) {
  .Call(C_mf_gauge_blocks, as.double(unlist(blocks, use.names = FALSE)),
        as.integer(lengths(blocks)), as.double(p))
}

# ---- custom maps ------------------------------------------------------

check_custom_values <- function(v, x, what) {
  if (!is.numeric(v) || length(v) != length(x))
    stop(sprintf(paste("the custom map's %s must return a numeric vector",
                       "as long as its input (%d), not %s"),
                 what, length(x), describe(v)), call. = FALSE)
  bad <- is.finite(x) & !is.finite(v)
  if (any(bad))
    stop(sprintf("the custom map's %s returned non-finite values, e.g. at %g",
                 what, x[which(bad)[1]]), call. = FALSE)
  as.double(v)
}

# The closure handed to the C core: what = 0 potential, 1 mirror,
# 2 inverse, 3 balance.
custom_map_function <- function(potential, gradient, inverse) {
  if (!is.function(potential))
    stop("'potential' must be a function for a custom map", call. = FALSE)
  if (!is.function(gradient))
    stop("'gradient' must be a function for a custom map", call. = FALSE)
  if (!is.null(inverse) && !is.function(inverse))
    stop("'inverse' must be a function or NULL", call. = FALSE)
  phi <- function(x) check_custom_values(potential(x), x, "potential")
  dphi <- function(x) check_custom_values(gradient(x), x, "gradient")
  probe <- c(-2, -0.5, 0, 0.5, 2)
  g <- dphi(probe)
  phi(probe)
  grid <- sort(unique(c(-10^seq(-6, 6, by = 0.25), 0,
                        10^seq(-6, 6, by = 0.25),
                        seq(-10, 10, by = 0.05))))
  gg <- suppressWarnings(gradient(grid))
  ok <- is.finite(gg)
  if (any(diff(gg[ok]) <= 0))
    stop(paste("the custom map's gradient must be strictly increasing; it",
               "is not on a probe grid over [-1e6, 1e6]"), call. = FALSE)
  inv <- if (is.null(inverse)) {
    function(z) monotone_inverse(dphi, z)
  } else {
    function(z) check_custom_values(inverse(z), z, "inverse")
  }
  function(what, x) {
    switch(what + 1L,
           phi(x),
           dphi(x),
           inv(x),
           x * dphi(x) - phi(x))
  }
}

# Solves gradient(theta) = z for a strictly increasing gradient,
# vectorised: bracket by doubling, then Newton steps with a difference
# quotient, replaced by the regula-falsi point of the bracket whenever
# Newton would leave it, and by a bisection (geometric where the bracket
# spans orders of magnitude on one side of zero) whenever the bracket has
# not halved; stops when the bracket is a few ulps wide.
monotone_inverse <- function(grad, z) {
  out <- rep(NA_real_, length(z))
  ok <- is.finite(z)
  zz <- z[ok]
  if (!length(zz)) return(out)
  g0 <- grad(rep(0, length(zz)))
  up <- zz >= g0
  lo <- ifelse(up, 0, -1)
  hi <- ifelse(up, 1, 0)
  for (i in 1:2100) {
    need_hi <- up & grad(hi) < zz
    need_lo <- !up & grad(lo) > zz
    if (!any(need_hi | need_lo)) break
    lo[need_hi] <- hi[need_hi]
    hi[need_hi] <- 2 * hi[need_hi]
    hi[need_lo] <- lo[need_lo]
    lo[need_lo] <- 2 * lo[need_lo]
    if (any(!is.finite(c(lo, hi))))
      stop("the custom map's inverse could not bracket a dual value",
           call. = FALSE)
  }
  glo <- grad(lo) - zz
  ghi <- grad(hi) - zz
  x <- ifelse(glo == 0, lo, ifelse(ghi == 0, hi, (lo + hi) / 2))
  done <- glo == 0 | ghi == 0
  eps <- .Machine$double.eps
  tiny <- 2.2250738585072014e-308
  for (i in 1:400) {
    if (all(done)) break
    width <- hi - lo
    gx <- grad(x) - zz
    done <- done | gx == 0
    lo <- ifelse(gx < 0 & !done, x, lo)
    hi <- ifelse(gx > 0 & !done, x, hi)
    h <- pmax(abs(x) * 1e-7, 1e-300)
    slope <- (grad(x + h) - grad(x - h)) / (2 * h)
    nx <- x - gx / slope
    # bisect where Newton leaves the bracket or has not halved it; a
    # bracket on one side of zero spanning orders of magnitude is halved
    # in log scale, zero counting as the smallest normal double
    bad <- !is.finite(nx) | nx <= lo | nx >= hi | (hi - lo) > width / 2
    alo <- pmax(abs(lo), tiny)
    ahi <- pmax(abs(hi), tiny)
    geo <- (lo >= 0 & ahi > 16 * alo) | (hi <= 0 & alo > 16 * ahi)
    mid <- ifelse(geo, ifelse(hi > 0, sqrt(alo) * sqrt(ahi),
                              -sqrt(alo) * sqrt(ahi)), (lo + hi) / 2)
    nx[bad] <- mid[bad]
    done <- done | (hi - lo) <= 4 * eps * pmax(abs(lo), abs(hi))
    x <- ifelse(done, x, nx)
  }
  out[ok] <- x
  out
}

# Horizon of a custom potential from its growth at infinity: the local
# exponent e(r) = r phi'(r) / phi(r) is fitted as a + b / log(r) over
# r = 1e2 .. 1e12 (exact for powers, and for x log x up to O(1/log(r)^2)).
# An exponent still climbing past 50, or a potential that overflows where
# no power below 50 would, means super-polynomial growth: an l-infinity
# horizon. Both signs are probed; the larger growth is taken. A growth
# exponent below 1 is not the growth of a superlinear potential.
estimate_horizon <- function(potential, gradient) {
  r <- 10^seq(2, 12, by = 0.5)
  est <- function(sgn) {
    x <- sgn * r
    ph <- suppressWarnings(as.double(potential(x)))
    dp <- suppressWarnings(as.double(gradient(x)))
    e <- x * dp / ph
    keep <- is.finite(e) & is.finite(ph) & ph > 0
    over <- !is.finite(ph) | !is.finite(dp)
    if (any(over) && min(r[over]) < 1e6) return(Inf)
    if (sum(keep) < 3) return(Inf)
    e <- e[keep]
    if (max(e) > 50 && e[length(e)] > e[1]) return(Inf)
    lr <- log(r[keep])
    stats::coef(stats::lm(e ~ I(1 / lr)))[[1]]
  }
  alpha <- max(est(1), est(-1))
  if (!(alpha >= 0.98))
    stop(sprintf(paste("the custom potential must grow at least linearly at",
                       "infinity; its estimated growth exponent is %.4g"),
                 alpha), call. = FALSE)
  p <- alpha
  if (is.finite(p) && abs(p - round(p)) < 0.02) p <- round(p)
  if (is.finite(p) && p < 1) p <- 1
  list(alpha = alpha, exponent = p)
}
