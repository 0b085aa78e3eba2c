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

#' Shirts and T-shirts from Fashion-MNIST
#'
#' A small image data set on which the two classes are hard to tell apart:
#' 400 images from the training split of Fashion-MNIST, 200 of class 0
#' (T-shirt/top, labelled +1) and 200 of class 6 (Shirt, labelled -1),
#' averaged over 2 by 2 blocks to 14 by 14 pixels and scaled to \[0, 1\].
#' The rows are not scaled to unit norm; [normalize_rows()] does that.
#'
#' Made by the script `data-raw/fashion_subset.R` of the source repository
#' as `fashion_mnist(classes = c(0, 6), n = 400, downsample = 2,
#' seed = 20261204)` from the files of the Debian package
#' dataset-fashion-mnist; `info` records the call and, in `info$index`,
#' the position of each image among the 60,000 training images.
#'
#' @format A [mirrorflow_data()] object: `x`, a 400 by 196 matrix whose
#'   column `p((r - 1) * 14 + c)` is the pixel in row `r` and column `c`
#'   (so `matrix(x[i, ], 14, byrow = TRUE)` is image `i`); `y`, labels +1
#'   (T-shirt/top) and -1 (Shirt); `info`, as from [fashion_mnist()].
#' @source Fashion-MNIST by Zalando Research,
#'   <https://github.com/zalandoresearch/fashion-mnist>, as packaged in the
#'   Debian package dataset-fashion-mnist. Released under the MIT licence,
#'   Copyright 2017 Zalando SE: permission is granted to use, copy, modify
#'   and distribute it provided the copyright and permission notice are
#'   kept. Xiao, H., Rasul, K. and Vollgraf, R. (2017). Fashion-MNIST: a
#'   novel image dataset for benchmarking machine learning algorithms.
#'   arXiv:1708.07747.
#' @examples
#' data(fashion_subset)
#' fashion_subset
#' unit <- normalize_rows(fashion_subset)
#' image(matrix(unit$x[1, ], 14, byrow = TRUE)[14:1, ],
#'       col = grey.colors(256, 1, 0))
"fashion_subset"
