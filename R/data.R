# Documentation of the data shipped with the package.

#' A sparse linear teacher
#'
#' A small separable binary data set for examples and tests: 200 points in
#' 20 dimensions, standard normal inputs, labels given by the sign of a
#' linear teacher with 3 nonzero coordinates; points closer than 0.1 to
#' the teacher's boundary (in the teacher's unit-l2 margin) were dropped
#' before the 200 were kept. Made by the script `data-raw/sparse_teacher.R`
#' of the source repository, with `set.seed(20261203)`.
#'
#' @format A list with `x` (a 200 by 20 numeric matrix), `y` (labels
#'   -1 and +1) and `teacher` (the teacher's weight vector).
#' @source Simulated by the package authors.
"sparse_teacher"
