# Max-margin directions of linear models: the problem min Q(w) subject to
# y_i <x_i, w> >= 1 for the l1, l2, lp and l-infinity gauges (the
# horizons of the built-in maps), solved in src/max_margin.c, with its KKT
# diagnostics.

gauge_codes <- c(l1 = 0L, l2 = 1L, linf = 2L, lp = 3L)

#' Max-margin direction for a gauge
#'
#' Solves exactly
#' \deqn{\min_w Q(w) \quad \text{subject to} \quad y_i \langle x_i, w
#'   \rangle \ge 1 \text{ for all } i,}
#' the problem whose solution direction a mirror flow with horizon `Q`
#' follows on linearly separable data (Pesme, Dragomir and Flammarion,
#' 2024).
#'
#' Every gauge is solved by one primal-dual interior-point method with
#' Mehrotra's predictor-corrector steps, written in C with LAPACK Cholesky
#' factorisations of a `d x d` Newton system:
#'
#' * `"l1"`: the linear program \eqn{\min \sum_k t_k} with
#'   \eqn{-t_k \le w_k \le t_k};
#' * `"linf"`: the linear program \eqn{\min t} with \eqn{-t \le w_k \le t};
#' * `"l2"`: the quadratic program \eqn{\min \|w\|_2^2 / 2};
#' * `"lp"`: the smooth program \eqn{\min \sum_k |w_k|^p / p}, same
#'   minimiser. For `p > 2` Newton works in `w`; for `p < 2`, where
#'   \eqn{|w|^p} has unbounded curvature at 0, it works in the dual
#'   coordinates \eqn{u = \mathrm{sign}(w) |w|^{p-1}}, where the map back
#'   \eqn{w = \mathrm{sign}(u) |u|^{q-1}}, \eqn{q = p / (p - 1)}, is twice
#'   continuously differentiable. Steps are backtracked on the residual of
#'   the centred KKT system.
#'
#' Data that are not linearly separable are detected by a Farkas
#' certificate: multipliers \eqn{\lambda \ge 0} with
#' \eqn{\sum_i \lambda_i y_i x_i = 0}, along which the interior-point
#' iterates of an infeasible problem diverge.
#'
#' @param x Numeric matrix of inputs, one row per point (`n x d`).
#' @param y Labels: `-1`/`+1`, logical (`TRUE` is `+1`) or a factor with two
#'   levels (the second is `+1`); length `n`, both classes present.
#' @param gauge `"l1"`, `"l2"`, `"linf"`, `"lp"` (with `p`) or a
#'   [mirror_map()], whose horizon exponent `horizon_p` picks the gauge
#'   (1: l1, 2: l2, `Inf`: l-infinity, otherwise lp). For a custom map this
#'   is the exponent the package estimated.
#' @param p The exponent for `gauge = "lp"`, a number above 1.
#' @param ... Not used; must be empty.
#' @param tol Convergence tolerance of the interior-point method on the
#'   scaled problem (primal and dual residuals, duality gap).
#' @param maxit Largest number of interior-point iterations (per solve; a
#'   working-set run makes one solve per round).
#' @param control A list of settings for large problems, all optional:
#'   * `working_set`: `TRUE` solves by constraint generation (below),
#'     `FALSE` runs the interior point on all `n` points at once, `NA`
#'     (the default) chooses the working set for `gauge = "lp"` when
#'     `n > 200` and `n` is larger than `initial`, and the full interior
#'     point otherwise (with few points, and for l1, l2 and l-infinity,
#'     where the rounds cost more than they save at 2000 x 784).
#'   * `initial`: size of the first working set (default `1.25 d`, at
#'     least 50, at most `n`).
#'   * `batch`: largest number of violated points added per round
#'     (default `max(50, d / 4)`).
#'   * `max_rounds`: largest number of rounds (default 50).
#'   * `polish`: `TRUE` (the default) finishes an lp working-set solve by
#'     Newton's method once the first round's interior point has found the
#'     support of the set's optimum (below); `FALSE` runs the interior
#'     point in every round.
#'
#'   With a working set, the interior point solves the problem on a subset
#'   `W` of the points (first the points of smallest margin under the l2
#'   solution, or under the mean of the rows \eqn{y_i x_i} for the l2
#'   problem itself), then checks all `n` constraints and adds the most
#'   violated ones to `W`, until none is violated by more than `tol`. The
#'   optimum on `W` is then the optimum of the full problem: it is feasible
#'   for all points, and no feasible point does better, since every point
#'   feasible for all constraints is feasible for those in `W`. Its
#'   multipliers, zero outside `W`, are those of the full problem. Each
#'   round is small, and the Newton systems, formed then in the
#'   multipliers (`|W| x |W|`, except for l-infinity), stay well
#'   conditioned.
#'
#'   For lp, the rounds after the first are Newton steps rather than
#'   interior-point solves (with `polish = TRUE`): the points active at the
#'   first round's optimum are taken as equalities, and Newton's method
#'   solves the stationarity condition \eqn{\mathrm{sign}(w_j)
#'   |w_j|^{p-1} = \sum_{i \in S} \lambda_i y_i x_{ij}} with
#'   \eqn{y_i \langle x_i, w \rangle = 1} on that set `S`, from the interior
#'   point's solution; points whose multiplier turns negative leave `S`,
#'   the most violated points outside join it, a few at a time, until
#'   neither is left. That is the KKT system of the full problem. Should
#'   Newton fail (a set without full row rank, for one), the interior point
#'   takes over again.
#'
#'   The option `mirrorflow.threads`, when set, gives the number of OpenMP
#'   threads that form the Newton matrices (by default one).
#' @return An object of class `max_margin`: `w` (the minimiser), `direction`
#'   (`w / Q(w)`), `margin` (`1 / Q(w)`, the largest margin of a unit-gauge
#'   direction), `active` (indices `i` with `y_i <x_i, w> - 1 <= active_tol`),
#'   `active_tol`, `multipliers` (\eqn{\lambda_i \ge 0} with
#'   \eqn{0 \in \partial Q(w) - \sum_i \lambda_i y_i x_i}), `gauge`, `p`, and
#'   the diagnostics `iterations`, `primal_infeasibility`
#'   (\eqn{\max_i \max(0, 1 - y_i \langle x_i, w\rangle)}), `stationarity`
#'   (largest violation of the stationarity condition, with the
#'   subdifferential of `Q` at `w` for l1 and l-infinity) and
#'   `complementarity` (\eqn{\sum_i \lambda_i (y_i \langle x_i, w \rangle -
#'   1)}), with `converged`, `rounds` (the working-set rounds of the final
#'   solve, Newton rounds included; 1 without a working set), `working_set`
#'   (the number of points in the last round's set; `n` without a working
#'   set) and `newton_steps` (the Newton steps of the lp polish; 0 when
#'   it was not taken). `iterations`
#'   counts the interior-point iterations of all rounds of the final solve,
#'   not those of the l2 presolve.
#' @examples
#' set.seed(1)
#' x <- matrix(rnorm(40 * 5), 40)
#' y <- sign(x[, 1] - x[, 2])
#' fit <- max_margin(x, y, gauge = "l1")
#' fit
#' max_margin(x, y, gauge = mirror_map("pnorm", p = 3))$direction
#' @export
max_margin <- function(x, y, gauge = "l2", p = NULL, ..., tol = 1e-11,
                       maxit = 200, control = list()) {
  if (...length() > 0)
    stop(sprintf("unused argument(s) in '...': %s",
                 paste(names(list(...)), collapse = ", ")), call. = FALSE)
  x <- check_data_matrix(x, "x")
  y <- check_binary_labels(y, nrow(x), "y")
  g <- resolve_gauge(gauge, p)
  tol <- check_number(tol, "tol", lower = 0, upper = 1e-2, strict = TRUE)
  maxit <- check_number(maxit, "maxit", lower = 1, upper = 1e5,
                        integer = TRUE)
  ctl <- mm_check_control(control, nrow(x), ncol(x))
  thr <- mm_threads()

  # The solver works on rows y_i x_i scaled to largest entry 1; the
  # solution of the original problem is w / scale.
  xs <- x * y
  scale <- max(abs(xs))
  if (scale == 0)
    stop("'x' must not be all zero: the data are not linearly separable",
         call. = FALSE)
  not_separable <- paste("the data are not linearly separable: no w has",
                         "y_i <x_i, w> >= 1 for all i")
  A <- xs / scale
  code <- gauge_codes[[g$kind]]
  pv <- as.double(if (is.null(g$p)) NA_real_ else g$p)
  ws <- mm_use_working_set(ctl, g$kind, nrow(A), ncol(A))
  ws2 <- mm_use_working_set(ctl, "l2", nrow(A), ncol(A))
  w2 <- NULL
  solve_rows <- function(s, kind = code, start = NULL, l2_tol = tol) {
    use <- if (kind == gauge_codes[["l2"]]) ws2 else ws
    if (kind == gauge_codes[["l2"]]) tol <- l2_tol
    if (!use) {
      r <- .Call(C_mf_max_margin, A * s, kind, pv, c(maxit, tol, 0, thr))
      r$rounds <- 1L
      r$size <- nrow(A)
      r$newton_steps <- 0
    } else {
      if (is.null(start)) start <- mm_initial_set(A, w2, ctl$initial)
      r <- mm_working_set(A, s, kind, pv, start, ctl, maxit, tol, thr)
    }
    r$s <- s
    r
  }
  # Every gauge shares the feasible set, and the l2 problem is the most
  # robust to solve: it settles separability, and its solution's size s
  # rescales the rows so that another gauge's solution is of order one,
  # which the interior point needs when margins are small or the problem
  # is large (the linear programs at 2000 x 784 converge only so). Here
  # the l2 problem is needed only for that scale and for a working set's
  # first set, and is solved to 1e-6. The
  # problem in v = w / s has rows s A. The smooth lp gauges are tried
  # unscaled first, where they are a little more accurate, unless a
  # working set is used: that needs the l2 solution for its first set.
  separable <- FALSE
  l2_scale <- function() {
    r2 <- solve_rows(1, gauge_codes[["l2"]], l2_tol = 1e-6)
    if (r2$status == 1L) stop(not_separable, call. = FALSE)
    # a w with y_i <x_i, w> > 0 for all i proves separability, however
    # loosely it solves the l2 problem
    separable <<- r2$status == 0L && min(A %*% r2$w) > 0
    if (separable) w2 <<- r2$w
    if (separable) sqrt(sum(r2$w^2)) else 1
  }
  if (g$kind == "l2") {
    res <- solve_rows(1)
  } else if (g$kind == "lp" && !ws) {
    res <- solve_rows(1)
    if (res$status != 0L) {
      s <- l2_scale()
      if (s != 1) {
        r <- solve_rows(s)
        if (r$status == 0L || res$status %in% c(1L, 3L, 4L)) res <- r
      }
    }
  } else {
    s <- l2_scale()
    res <- solve_rows(s)
    if (res$status != 0L && s != 1) {
      r <- solve_rows(1)
      if (r$status == 0L || res$status %in% c(1L, 3L, 4L)) res <- r
    }
  }
  s <- res$s
  if (res$status == 1L) stop(not_separable, call. = FALSE)
  # back to the rows A: w = s v; the multipliers of f = sum |w|^p / p
  # scale by s^p, those of a gauge (the linear programs) by s
  res$w <- res$w * s
  res$lambda <- res$lambda *
    (if (g$kind == "lp") s^g$p else if (g$kind == "l2") s^2 else s)
  w <- res$w / scale
  lam <- res$lambda
  qp <- mm_gauge_exponent(g)
  if (g$kind %in% c("l2", "lp")) {
    # the solver's multipliers belong to f = sum |w|^p / p; those of the
    # gauge itself are smaller by the factor Q(w)^(p - 1)
    lam <- lam / gauge_value(res$w, qp)^(qp - 1)
  }
  lam <- pmax(lam / scale, 0)

  margins <- drop(xs %*% w)
  if (isTRUE(res$round_limit)) {
    # the set's optimum violates points outside the set: scaled to
    # feasibility it is a separating direction, not the optimal one
    if (min(margins) <= 0)
      stop(sprintf(paste("max_margin() reached control$max_rounds = %d with",
                         "points still misclassified; raise it"),
                   ctl$max_rounds), call. = FALSE)
    w <- w / min(margins)
    margins <- drop(xs %*% w)
    warning(sprintf(paste("max_margin() reached control$max_rounds = %d",
                          "with points outside the working set still",
                          "violated: the direction is feasible, not",
                          "optimal"), ctl$max_rounds), call. = FALSE)
    res$status <- 0L
  }
  infeas <- max(0, 1 - margins)
  if (infeas > 0 && infeas < 1e-6) {
    # a last rounding-level infeasibility is removed by scaling, which
    # leaves the direction as it is
    w <- w / min(margins)
    margins <- drop(xs %*% w)
    infeas <- max(0, 1 - margins)
  }
  if (res$status != 0L) {
    if (!separable && (infeas > 1e-6 || res$status == 4L))
      stop(not_separable, call. = FALSE)
    if (infeas > 1e-6)
      stop(sprintf(paste("max_margin() found no feasible solution for the",
                         "%s gauge, although the data are separable (the l2",
                         "problem has one); try another 'tol' or 'maxit'"),
                   g$kind), call. = FALSE)
    warning(sprintf(paste("max_margin() stopped after %d interior-point",
                          "iterations before reaching 'tol' = %g"),
                    as.integer(res$diag[1]), tol), call. = FALSE)
  }
  Qw <- gauge_value(w, qp)
  active_tol <- 1e-6
  structure(list(
    w = w, direction = w / Qw, margin = 1 / Qw,
    active = which(margins - 1 <= active_tol), active_tol = active_tol,
    multipliers = lam, gauge = g$kind, p = qp,
    iterations = as.integer(res$diag[1]),
    rounds = as.integer(res$rounds), working_set = as.integer(res$size),
    newton_steps = as.integer(res$newton_steps),
    primal_infeasibility = infeas,
    stationarity = kkt_stationarity(w, drop(crossprod(xs, lam)), qp),
    complementarity = sum(lam * (margins - 1)),
    converged = res$status == 0L && !isTRUE(res$round_limit)
  ), class = "max_margin")
}

# Threads for the Gram matrices of the Newton systems: the option
# mirrorflow.threads when it is set, else 1. Unlike the sparsity indices
# the default stays at one thread: on this project's shared 2-core machine
# (both cores busy with other jobs) two threads gave no gain (l2 presolve
# at 2000 x 784: 7.8 s against 7.3 s).
mm_threads <- function() {
  if (is.null(getOption("mirrorflow.threads"))) return(1L)
  min(sparsity_threads(), 64L)
}

# The control list of max_margin() with its defaults filled in.
mm_check_control <- function(control, n, d) {
  if (!is.list(control) || (length(control) > 0 && is.null(names(control))))
    stop(sprintf("'control' must be a named list, not %s", describe(control)),
         call. = FALSE)
  known <- c("working_set", "initial", "batch", "max_rounds", "polish")
  bad <- setdiff(names(control), known)
  if (length(bad) > 0 || any(names(control) == ""))
    stop(sprintf("'control' has unknown setting(s) %s; known are %s",
                 paste(sQuote(bad, FALSE), collapse = ", "),
                 paste(known, collapse = ", ")), call. = FALSE)
  out <- list(working_set = NA, initial = max(50, ceiling(1.25 * d)),
              batch = max(50, ceiling(d / 4)), max_rounds = 50,
              polish = TRUE)
  if (!is.null(control$working_set)) {
    ws <- control$working_set
    if (!is.logical(ws) || length(ws) != 1)
      stop(sprintf("'control$working_set' must be TRUE, FALSE or NA, not %s",
                   describe(ws)), call. = FALSE)
    out$working_set <- ws
  }
  if (!is.null(control$polish)) {
    pl <- control$polish
    if (!is.logical(pl) || length(pl) != 1 || is.na(pl))
      stop(sprintf("'control$polish' must be TRUE or FALSE, not %s",
                   describe(pl)), call. = FALSE)
    out$polish <- pl
  }
  for (nm in c("initial", "batch", "max_rounds")) {
    if (!is.null(control[[nm]]))
      out[[nm]] <- check_number(control[[nm]], sprintf("control$%s", nm),
                                lower = 1, upper = 1e7, integer = TRUE)
  }
  out$initial <- min(out$initial, n)
  out
}

# Whether a solve for gauge `kind` uses the working set. Automatically
# only for lp with n > 200 points, more than the first set: at 2000 x 784
# it is what makes lp converge (the full d x d system loses its digits with
# nearly d constraints active), while for l2, l1 and l-infinity, which the
# full interior point solves there, the cold restart of each round cost
# more than the smaller systems saved (l2 36 s against 11 s, l1 33 s
# against 24 s, l-infinity 75 s against 24 s, each with 3 to 5 rounds).
mm_use_working_set <- function(ctl, kind, n, d) {
  if (!is.na(ctl$working_set)) return(ctl$working_set)
  kind == "lp" && n > 200 && n > ctl$initial
}

# The first working set: the points of smallest margin under w0 (the l2
# solution when there is one, else the mean of the rows).
mm_initial_set <- function(A, w0, size) {
  if (is.null(w0)) w0 <- colMeans(A)
  utils::head(order(drop(A %*% w0)), size)
}

# Constraint generation: solves on the rows `start` of s A, adds the most
# violated of the other rows, repeats. The result has the form of the
# entry point's, with lambda on all rows (zero outside the set), diag[1]
# the iterations of all rounds, and rounds and size.
mm_working_set <- function(A, s, code, pv, start, ctl, maxit, tol,
                           thr = 1L) {
  n <- nrow(A)
  W <- start
  its <- 0
  steps <- 0
  rounds <- 0L
  while (rounds < ctl$max_rounds) {
    rounds <- rounds + 1L
    # the multiplier form is smaller (|W| < d) or better conditioned (most
    # of W active); l-infinity needs the d x d form (src/max_margin.c)
    form <- if (code == gauge_codes[["linf"]] ||
                (code == gauge_codes[["l1"]] && length(W) >= ncol(A))) 1 else 2
    # Each round starts cold: a start from the last round's solution
    # (pushed into the interior by 1e-4 to 1e-1) took as many iterations.
    r <- .Call(C_mf_max_margin, A[W, , drop = FALSE] * s, code, pv,
               c(maxit, tol, form, thr))
    its <- its + r$diag[1]
    # a Farkas certificate on a subset of the points holds for all, so
    # status 1 (not separable) is final too
    if (r$status != 0L) break
    m <- drop(A %*% r$w) * s
    m[W] <- Inf
    viol <- which(m < 1 - tol)
    if (length(viol) == 0) break
    if (rounds == ctl$max_rounds) {
      r$status <- 2L
      r$round_limit <- TRUE
      break
    }
    if (code == gauge_codes[["lp"]] && ctl$polish) {
      pr <- mm_polish(A, s, pv, W, r, ctl, tol, ctl$max_rounds - rounds,
                      thr)
      steps <- steps + pr$steps
      if (!is.null(pr$W)) {
        W <- pr$W
        r$w <- pr$w
        r$lambda <- pr$lambda
        rounds <- rounds + pr$rounds
        break
      }
    }
    W <- c(W, utils::head(viol[order(m[viol])], ctl$batch))
  }
  lam <- numeric(n)
  lam[W] <- r$lambda
  r$lambda <- lam
  r$diag[1] <- its
  r$rounds <- rounds
  r$size <- length(W)
  r$newton_steps <- steps
  r
}

# Finishes a working-set solve for lp once the interior point has solved
# the problem on W and points outside W are violated: the support S of
# that solution is taken as equalities and Newton's method (src/
# max_margin.c) solves the KKT system on S from the interior point's
# (w, lambda); points with a negative multiplier leave S, violated points
# join it, until no multiplier is negative and no point is violated. That
# is the KKT system of the full problem, with zero multipliers off S, so
# the result is its optimum. A round here costs a few Newton steps with an
# |S| x |S| matrix, where a round of the interior point costs some 25.
# Returns list(W, w, lambda, rounds, steps), with W NULL (and the steps
# taken) when Newton fails (A_S without full row rank, no convergence), the
# dual value stops rising, the step budget is spent or the rounds run
# out, so that the interior point carries on.
# Limitation: a support of d points, or a set so close to d points that
# the missing support points do not fit beside the ones still to leave,
# leaves no room to add a point, and the interior point takes over (lp at
# p = 3 on 300 to 600 points in 40 to 150 dimensions, supports of d - 1 or
# d points); an exchange step that adds one point and drops another along
# the segment between their multipliers, as dual active-set QP methods
# do, would lift this.
mm_polish <- function(A, s, pv, W, r, ctl, tol, rounds_left, thr = 1L) {
  w <- r$w
  m <- drop(A %*% w) * s
  keep <- m[W] - 1 <= 1e-6
  S <- W[keep]
  lam <- r$lambda[keep]
  steps <- 0
  q <- pv / (pv - 1)
  best <- -Inf
  batch <- max(10, ceiling(ctl$batch / 10))
  # Newton steps on |S| rows cost about as much as interior-point
  # iterations on |W| rows: past four rounds' worth the polish gives up
  budget <- max(50, 4 * r$diag[1])
  # Newton on the set S from (w, lam), dropping points whose multiplier
  # turns negative until none does; NULL when Newton fails. With `ratio`
  # FALSE all negative points leave at once; with TRUE only those whose
  # multiplier reaches 0 first on the segment from the last multipliers
  # (all >= 0) to the new ones, as an active-set method does.
  solve_set <- function(S, lam, w, ratio) {
    repeat {
      if (length(S) == 0) return(NULL)
      nr <- .Call(C_mf_max_margin_newton, A[S, , drop = FALSE] * s, pv, w,
                  lam, c(50, tol, thr))
      steps <<- steps + nr$diag[1]
      if (nr$status != 0L) return(NULL)
      neg <- nr$lambda < 0
      if (!any(neg)) {
        # lam >= 0 is feasible for the dual, max sum(lam) - sum |u|^q / q
        # with u = A' lam, and here maximises it over multipliers on S
        u <- drop(crossprod(A[S, , drop = FALSE] * s, nr$lambda))
        return(list(S = S, w = nr$w, lam = nr$lambda,
                    dual = sum(nr$lambda) - sum(abs(u)^q) / q))
      }
      t <- rep(Inf, length(S))
      t[neg] <- lam[neg] / (lam[neg] - nr$lambda[neg])
      tmin <- if (ratio) min(t) else 1
      out <- t <= tmin + 1e-12
      lam <- pmax(lam + tmin * (nr$lambda - lam), 0)[!out]
      w <- w + tmin * (nr$w - w)
      S <- S[!out]
    }
  }
  for (k in seq_len(rounds_left)) {
    m[S] <- Inf
    viol <- which(m < 1 - tol)
    if (k > 1 && length(viol) == 0)
      return(list(W = S, w = w, lambda = lam, rounds = k - 1L,
                  steps = steps))
    # J is |S| x |S| and definite only for |S| <= d. Few points join at a
    # time: a large batch, most of whose points are not in the support,
    # sent the multipliers of half of S negative at 2000 x 784 (l3) and the
    # set then oscillated; batches of 20 took 10 rounds of 5 Newton steps.
    room <- ncol(A) - length(S)
    if (room < 1) break
    add <- utils::head(viol[order(m[viol])], min(batch, room))
    S1 <- c(S, add)
    lam1 <- c(lam, numeric(length(add)))
    # Dropping every negative point at once is fast where S is well inside
    # the support's size; near-square sets it can undo the work (adding 5
    # points to 145 of 150 sent 69 negative), which shows as a dual value
    # that fails to rise, and the round is redone with the ratio test.
    # Asking the dual value to rise from one set to the next also rules
    # out a cycle among sets.
    res <- solve_set(S1, lam1, w, FALSE)
    if (is.null(res) || res$dual <= best)
      res <- solve_set(S1, lam1, w, TRUE)
    if (is.null(res) || res$dual <= best || steps > budget) break
    S <- res$S
    lam <- res$lam
    w <- res$w
    best <- res$dual
    m <- drop(A %*% w) * s
  }
  list(W = NULL, steps = steps)
}

# Labels -1/+1 from numbers, logicals or a two-level factor.
check_binary_labels <- function(y, n, arg) {
  if (is.factor(y)) {
    if (nlevels(y) != 2)
      stop(sprintf("'%s' as a factor must have two levels, not %d", arg,
                   nlevels(y)), call. = FALSE)
    y <- ifelse(as.integer(y) == 2L, 1, -1)
  } else if (is.logical(y)) {
    y <- ifelse(y, 1, -1)
  } else if (!is.numeric(y)) {
    stop(sprintf("'%s' must hold labels -1/+1, logicals or a two-level %s",
                 arg, sprintf("factor, not %s", describe(y))), call. = FALSE)
  }
  if (length(y) != n)
    stop(sprintf("'%s' must have one label per row of 'x' (%d), not %d",
                 arg, n, length(y)), call. = FALSE)
  if (anyNA(y))
    stop(sprintf("'%s' must not contain missing values", arg), call. = FALSE)
  if (!all(y %in% c(-1, 1)))
    stop(sprintf("'%s' must hold only -1 and +1; found %s", arg,
                 format(y[!y %in% c(-1, 1)][1])), call. = FALSE)
  if (!(any(y == 1) && any(y == -1)))
    stop(sprintf("'%s' must contain both classes, -1 and +1", arg),
         call. = FALSE)
  as.double(y)
}

# The gauge as list(kind, p) from a name or a mirror map.
resolve_gauge <- function(gauge, p) {
  if (is_mirror_map(gauge)) {
    hp <- gauge$horizon_p
    if (!is.numeric(hp) || length(hp) != 1 || is.na(hp) || hp < 1)
      stop(sprintf(paste("'gauge' is a mirror map without a usable horizon",
                         "exponent (at least 1); got %s"), describe(hp)),
           call. = FALSE)
    if (hp == 1) return(list(kind = "l1", p = NULL))
    if (hp == 2) return(list(kind = "l2", p = NULL))
    if (is.infinite(hp)) return(list(kind = "linf", p = NULL))
    return(list(kind = "lp", p = hp))
  }
  kind <- match_choice(gauge, names(gauge_codes), "gauge")
  if (kind == "lp") {
    if (is.null(p)) stop("'p' is needed for gauge = \"lp\"", call. = FALSE)
    p <- check_number(p, "p", lower = 1, strict = TRUE)
    if (p == 2) return(list(kind = "l2", p = NULL))
    return(list(kind = "lp", p = p))
  }
  if (!is.null(p))
    stop(sprintf("'p' is only used with gauge = \"lp\", not \"%s\"", kind),
         call. = FALSE)
  list(kind = kind, p = NULL)
}

mm_gauge_exponent <- function(g) {
  switch(g$kind, l1 = 1, l2 = 2, linf = Inf, lp = g$p)
}

gauge_value <- function(w, p) {
  .Call(C_mf_gauge_vec, as.double(w), as.double(p))
}

# Largest violation of g in dQ(w), for g = sum_i lambda_i y_i x_i.
# Coordinates within 1e-7 (relative) of 0 (l1) or of the maximum (l-inf)
# count as zero or maximal.
kkt_stationarity <- function(w, g, p, zero_tol = 1e-7) {
  a <- max(abs(w))
  if (p == 1) {
    zero <- abs(w) <= zero_tol * a
    r <- c(abs(g[!zero] - sign(w[!zero])), pmax(abs(g[zero]) - 1, 0))
    return(max(r))
  }
  if (is.infinite(p)) {
    top <- abs(w) >= (1 - zero_tol) * a
    s <- sign(w[top]) * g[top]
    return(max(c(abs(g[!top]), pmax(-s, 0), abs(sum(s) - 1))))
  }
  grad <- sign(w) * (abs(w) / gauge_value(w, p))^(p - 1)
  max(abs(g - grad))
}

#' @export
format.max_margin <- function(x, ...) {
  c(sprintf("<max_margin> %s gauge, %d points in %d dimensions",
            horizon_label(x$p), length(x$multipliers), length(x$w)),
    sprintf("  margin %s, %d active constraints (slack <= %g)",
            format(x$margin, digits = 6), length(x$active), x$active_tol),
    sprintf(paste("  %d iterations%s; primal infeasibility %.2g,",
                  "stationarity %.2g, complementarity %.2g"),
            x$iterations, if (x$converged) "" else " (not converged)",
            x$primal_infeasibility, x$stationarity, x$complementarity))
}

#' @export
print.max_margin <- function(x, ...) {
  cat(format(x, ...), sep = "\n")
  invisible(x)
}
