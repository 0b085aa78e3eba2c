# Homogeneous networks without biases: fully connected nets and diagonal
# linear nets, their parameter layout, initialisation and evaluation of the
# loss, margins and normalised gradient through the C core.

activation_codes <- c(relu = 0, leaky_relu = 1, linear = 2)
loss_codes <- c(exponential = 0, logistic = 1)

#' Homogeneous networks
#'
#' `homogeneous_net()` describes a fully connected network without biases,
#' \eqn{f(\theta; x) = W_L s(W_{L-1} s(\cdots s(W_1 x)))}, with a positively
#' 1-homogeneous activation \eqn{s}; the network is \eqn{L}-homogeneous in
#' its parameters. `diagonal_net()` describes the diagonal linear network
#' \eqn{f = \langle u \odot u - v \odot v, x\rangle}, which is
#' 2-homogeneous.
#'
#' An output width of 1 makes a binary classifier (labels \eqn{\pm 1} or a
#' two-level factor, margin \eqn{y f}); an output width \eqn{K \ge 2} makes a
#' \eqn{K}-class classifier with margin \eqn{f_y - \max_{j \ne y} f_j}.
#'
#' @param widths Integer vector `c(d, m_1, ..., m_L)`: input dimension,
#'   hidden widths and output width. `c(d, 1)` is a linear model.
#' @param activation `"relu"`, `"leaky_relu"` or `"linear"`.
#' @param slope Slope of the leaky ReLU on negative inputs, in `[0, 1)`.
#' @param d Input dimension of the diagonal network.
#' @return An object of class `homogeneous_net`.
#' @examples
#' homogeneous_net(c(784, 200, 1), activation = "relu")
#' homogeneous_net(c(20, 16, 16, 3), activation = "leaky_relu", slope = 0.1)
#' diagonal_net(30)
#' @export
homogeneous_net <- function(widths, activation = c("relu", "leaky_relu",
                                                   "linear"),
                            slope = 0.01) {
  activation <- match_choice(activation, c("relu", "leaky_relu", "linear"),
                             "activation")
  if (!is.numeric(widths) || length(widths) < 2 || anyNA(widths) ||
      any(widths < 1) || any(widths != round(widths)) ||
      any(widths > .Machine$integer.max))
    stop(sprintf(paste("'widths' must be a vector of at least two positive",
                       "whole numbers c(d, m_1, ..., m_L), not %s"),
                 describe(widths)), call. = FALSE)
  if (length(widths) > 65)
    stop(sprintf("'widths' allows at most 64 weight layers; got %d",
                 length(widths) - 1), call. = FALSE)
  slope <- if (activation == "leaky_relu") {
    check_number(slope, "slope", lower = 0, upper = 1)
  } else 0
  if (activation == "leaky_relu" && slope >= 1)
    stop("'slope' must be below 1 for a leaky ReLU", call. = FALSE)
  widths <- as.integer(widths)
  nparam <- sum(as.double(widths[-1]) * widths[-length(widths)])
  if (nparam > .Machine$integer.max / 16)
    stop(sprintf("the network has %g parameters, more than mirrorflow handles",
                 nparam), call. = FALSE)
  structure(list(type = "dense", widths = widths, activation = activation,
                 slope = slope, nlayers = length(widths) - 1L,
                 degree = length(widths) - 1L, nparam = nparam,
                 nout = widths[length(widths)]),
            class = "homogeneous_net")
}

#' @rdname homogeneous_net
#' @export
diagonal_net <- function(d) {
  d <- check_number(d, "d", lower = 1, integer = TRUE)
  structure(list(type = "diagonal", widths = as.integer(c(d, 1)),
                 activation = "linear", slope = 0, nlayers = 2L,
                 degree = 2L, nparam = 2 * d, nout = 1L),
            class = "homogeneous_net")
}

#' @export
format.homogeneous_net <- function(x, ...) {
  if (x$type == "diagonal")
    return(sprintf("<homogeneous_net> diagonal linear, w = u*u - v*v, d = %d",
                   x$widths[1]))
  act <- if (x$activation == "leaky_relu")
    sprintf("leaky_relu(slope = %g)", x$slope) else x$activation
  sprintf("<homogeneous_net> %s %s, %d-homogeneous, %s parameters", act,
          paste(x$widths, collapse = "-"), x$degree,
          format(x$nparam, big.mark = ","))
}

#' @export
print.homogeneous_net <- function(x, ...) {
  cat(format(x, ...), sep = "\n")
  invisible(x)
}

check_net <- function(net) {
  if (!inherits(net, "homogeneous_net"))
    stop(sprintf(paste("'net' must be a homogeneous_net (see",
                       "homogeneous_net() or diagonal_net()), not %s"),
                 describe(net)), call. = FALSE)
  net
}

net_spec <- function(net, loss = "exponential") {
  c(if (net$type == "diagonal") 1 else 0,
    activation_codes[[net$activation]], net$slope, net$nout,
    loss_codes[[loss]])
}

# Shapes of the parameter blocks, in the order of the flat vector.
block_dims <- function(net) {
  if (net$type == "diagonal") {
    d <- net$widths[1]
    return(list(u = d, v = d))
  }
  w <- net$widths
  lapply(seq_len(net$nlayers), function(l) c(w[l + 1], w[l]))
}

block_names <- function(net) {
  if (net$type == "diagonal") c("u", "v") else paste0("W", seq_len(net$nlayers))
}

# Flat parameter vector <-> list of weight matrices.
unflatten <- function(net, theta) {
  dims <- block_dims(net)
  out <- vector("list", length(dims))
  pos <- 0
  for (l in seq_along(dims)) {
    len <- prod(dims[[l]])
    v <- theta[pos + seq_len(len)]
    if (length(dims[[l]]) == 2) dim(v) <- dims[[l]]   # no second copy
    out[[l]] <- v
    pos <- pos + len
  }
  names(out) <- block_names(net)
  out
}

flatten_init <- function(net, init, arg = "init") {
  check_init(net, init, arg)
  # unlist() of double matrices copies once; as.double() on each first
  # would copy every block twice
  theta <- unlist(init, use.names = FALSE)
  if (!is.double(theta)) theta <- as.double(theta)
  theta
}

# Stops unless init is a list of finite numeric blocks of the net's shapes.
check_init <- function(net, init, arg = "init") {
  dims <- block_dims(net)
  if (!is.list(init) || length(init) != length(dims))
    stop(sprintf("'%s' must be a list of %d weight %s, one per layer",
                 arg, length(dims), if (net$type == "diagonal") "vectors (u, v)"
                 else "matrices"), call. = FALSE)
  for (l in seq_along(dims)) {
    b <- init[[l]]
    want <- dims[[l]]
    got <- if (is.null(dim(b))) length(b) else dim(b)
    if (!is.numeric(b) || length(got) != length(want) || any(got != want))
      stop(sprintf("'%s' element %d must be %s, not %s", arg, l,
                   if (length(want) == 2)
                     sprintf("a %d x %d numeric matrix", want[1], want[2])
                   else sprintf("a numeric vector of length %d", want),
                   if (is.numeric(b)) paste(got, collapse = " x ")
                   else describe(b)), call. = FALSE)
    # no logical copy of a large block, nor range()'s copy of it
    if (!all_finite_extremes(b))
      stop(sprintf("'%s' element %d must be finite", arg, l), call. = FALSE)
  }
  invisible(init)
}

# The blocks of a checked init list as unflatten() would give them, but
# sharing the caller's memory wherever a block is already a plain double
# array of the right shape (a wide net's weights are then not copied).
init_blocks <- function(net, init) {
  dims <- block_dims(net)
  out <- vector("list", length(dims))
  for (l in seq_along(dims)) {
    b <- init[[l]]
    if (!is.double(b)) storage.mode(b) <- "double"
    want <- if (length(dims[[l]]) == 2) list(dim = as.integer(dims[[l]]))
    if (!identical(attributes(b), want)) attributes(b) <- want
    out[[l]] <- b
  }
  names(out) <- block_names(net)
  out
}

#' Initial weights
#'
#' Gaussian initialisation drawn from R's random-number generator, so
#' `set.seed()` reproduces it: entries of \eqn{W_l} are independent normal
#' with standard deviation `scale / sqrt(m_(l-1))`. A diagonal network
#' starts at \eqn{u = v = } `scale` in every coordinate, the setting in
#' which gradient flow on it equals a hyperbolic-entropy mirror flow.
#'
#' @param net A [homogeneous_net()].
#' @param scale Positive initialisation scale.
#' @return A list of weight matrices (`W1`, ..., `WL`), or of `u` and `v`.
#' @examples
#' set.seed(1)
#' str(init_weights(homogeneous_net(c(5, 3, 1)), scale = 0.5))
#' @export
init_weights <- function(net, scale = 1) {
  check_net(net)
  scale <- check_number(scale, "scale", lower = 0, strict = TRUE)
  if (net$type == "diagonal") {
    d <- net$widths[1]
    return(list(u = rep(scale, d), v = rep(scale, d)))
  }
  dims <- block_dims(net)
  out <- lapply(dims, function(dm) {
    w <- stats::rnorm(dm[1] * dm[2], sd = scale / sqrt(dm[2]))
    dim(w) <- dm    # matrix() would leave a second copy of a wide layer
    w
  })
  names(out) <- block_names(net)
  out
}

# Labels -> what the C core wants: +-1 doubles for binary nets, 0-based
# class indices for K-class nets, with the levels kept for predictions.
encode_labels <- function(y, net, n) {
  if (length(y) != n)
    stop(sprintf("'y' must have one label per row of 'x' (%d), not %d", n,
                 length(y)), call. = FALSE)
  if (anyNA(y)) stop("'y' must not contain missing labels", call. = FALSE)
  K <- net$nout
  if (K == 1) {
    if (is.factor(y) || is.character(y) || is.logical(y)) {
      f <- if (is.logical(y)) factor(y, levels = c(FALSE, TRUE))
           else droplevels(as.factor(y))
      if (nlevels(f) != 2 || length(unique(f)) != 2)
        stop(sprintf(paste("'y' must have exactly two classes for a network",
                           "with output width 1; found %d"),
                     length(unique(f))), call. = FALSE)
      return(list(yb = ifelse(as.integer(f) == 2L, 1, -1), yc = integer(0),
                  levels = levels(f)))
    }
    if (!is.numeric(y) || !all(y %in% c(-1, 1)))
      stop(paste("'y' must be labels -1 and +1, a logical or a two-level",
                 "factor for a network with output width 1"), call. = FALSE)
    if (length(unique(y)) != 2)
      stop("'y' has one class only; a classifier needs both -1 and +1",
           call. = FALSE)
    return(list(yb = as.double(y), yc = integer(0), levels = c(-1, 1)))
  }
  f <- as.factor(y)
  if (nlevels(f) != K)
    stop(sprintf(paste("'y' must be a factor with %d levels to match the",
                       "output width %d; it has %d"), K, K, nlevels(f)),
         call. = FALSE)
  if (length(unique(f)) < 2)
    stop("'y' has one class only; a classifier needs at least two",
         call. = FALSE)
  list(yb = double(0), yc = as.integer(f) - 1L, levels = levels(f))
}

#' Loss, margins and gradient of a network
#'
#' Evaluates the empirical loss \eqn{\sum_i \ell(q_i)} of a network at
#' given weights, in log space, with the margins \eqn{q_i} and the gradient.
#' The gradient is returned normalised, \eqn{\nabla Loss / Loss}, which
#' never underflows; multiply by `exp(log_loss)` for the plain gradient.
#'
#' At a ReLU kink the derivative of the activation is taken as 0 (leaky
#' ReLU: the negative slope); for the multiclass margin the first of tied
#' strongest wrong classes is used.
#'
#' @param net A [homogeneous_net()].
#' @param x Numeric matrix, one row per point.
#' @param y Labels (see [mirror_flow()]).
#' @param weights A list of weight matrices as from [init_weights()].
#' @param loss `"exponential"` or `"logistic"`.
#' @return A list with `log_loss`, `gradient` (a list shaped like
#'   `weights`), `margins` and `scores` (an `n` by output-width matrix).
#' @examples
#' set.seed(2)
#' net <- homogeneous_net(c(3, 4, 1))
#' x <- matrix(rnorm(30), 10)
#' y <- sign(x[, 1])
#' str(network_loss(net, x, y, init_weights(net)))
#' @export
network_loss <- function(net, x, y, weights,
                         loss = c("exponential", "logistic")) {
  check_net(net)
  loss <- match_choice(loss, c("exponential", "logistic"), "loss")
  x <- check_data_matrix(x, "x")
  if (ncol(x) != net$widths[1])
    stop(sprintf("'x' has %d columns but the network's input width is %d",
                 ncol(x), net$widths[1]), call. = FALSE)
  lab <- encode_labels(y, net, nrow(x))
  theta <- flatten_init(net, weights, "weights")
  r <- .Call(C_mf_net_evaluate, x, lab$yb, lab$yc, net_spec(net, loss),
             net$widths, theta, TRUE)
  list(log_loss = r$log_loss, gradient = unflatten(net, r$gradient),
       margins = r$margins, scores = t(r$scores))
}
