# Argument checks shared by the exported functions: each error names the
# argument, says what was wanted and what was given.

describe <- function(x) {
  if (is.null(x)) return("NULL")
  if (is.function(x)) return("a function")
  if (is.environment(x)) return("an environment")
  cl <- class(x)[1]
  if (is.atomic(x) && length(x) == 1) {
    return(sprintf("%s %s", cl, format(x)))
  }
  sprintf("a %s of length %d", cl, length(x))
}

check_number <- function(x, arg, lower = -Inf, upper = Inf, strict = FALSE,
                         finite = TRUE, integer = FALSE) {
  if (!is.numeric(x) || length(x) != 1 || is.na(x))
    stop(sprintf("'%s' must be a single number, not %s", arg, describe(x)),
         call. = FALSE)
  if (finite && !is.finite(x))
    stop(sprintf("'%s' must be finite, not %s", arg, format(x)),
         call. = FALSE)
  bad <- if (strict) x <= lower else x < lower
  if (bad || x > upper) {
    rel <- if (strict) "greater than" else "at least"
    stop(sprintf("'%s' must be %s %s%s; got %s", arg, rel, format(lower),
                 if (is.finite(upper)) sprintf(" and at most %s",
                                               format(upper)) else "",
                 format(x)), call. = FALSE)
  }
  if (integer && x != round(x))
    stop(sprintf("'%s' must be a whole number, not %s", arg, format(x)),
         call. = FALSE)
  as.double(x)
}

check_flag <- function(x, arg) {
  if (!is.logical(x) || length(x) != 1 || is.na(x))
    stop(sprintf("'%s' must be TRUE or FALSE, not %s", arg, describe(x)),
         call. = FALSE)
  x
}

# A numeric matrix with finite entries, for x and newdata.
check_data_matrix <- function(x, arg) {
  if (is.data.frame(x)) {
    num <- vapply(x, is.numeric, TRUE)
    if (!all(num))
      stop(sprintf("'%s' must have numeric columns only; not numeric: %s",
                   arg, paste(names(x)[!num], collapse = ", ")),
           call. = FALSE)
    x <- as.matrix(x)
  }
  if (is.vector(x) && is.numeric(x)) x <- matrix(x, nrow = 1)
  if (!is.matrix(x) || !is.numeric(x))
    stop(sprintf("'%s' must be a numeric matrix, not %s", arg, describe(x)),
         call. = FALSE)
  if (nrow(x) == 0 || ncol(x) == 0)
    stop(sprintf("'%s' must have at least one row and one column", arg),
         call. = FALSE)
  # min() and max() first: no logical matrix the size of x unless something
  # is bad (and not range(), whose default method copies x with c())
  if (!all_finite_extremes(x)) {
    w <- which(!is.finite(x), arr.ind = TRUE)[1, ]
    stop(sprintf("'%s' must be finite; found %s at row %d, column %d", arg,
                 format(x[w[1], w[2]]), w[1], w[2]), call. = FALSE)
  }
  if (!is.double(x)) storage.mode(x) <- "double"
  x
}

# TRUE when the smallest and largest entries of a numeric array are finite,
# which holds exactly when all entries are; no copy of x is made.
all_finite_extremes <- function(x) {
  is.finite(suppressWarnings(min(x))) && is.finite(suppressWarnings(max(x)))
}

# match.arg() with an error that names the argument and what was given.
match_choice <- function(x, choices, arg) {
  if (identical(x, choices)) return(choices[1])
  if (!is.character(x) || length(x) != 1 || is.na(x) || !x %in% choices)
    stop(sprintf("'%s' must be one of %s, not %s", arg,
                 paste0('"', choices, '"', collapse = ", "),
                 if (is.character(x) && length(x) == 1)
                   sprintf('"%s"', x) else describe(x)), call. = FALSE)
  x
}
