# How the C core forms its matrix products: with the transposed operands
# copied first and dgemm("N", "N") ("copy"), whole products in the
# package's own kernel ("kernel", right for the reference BLAS, which it
# outruns with the same sums), or with "T" passed to dgemm and whole
# products in one call ("direct", right for a packing BLAS such as
# OpenBLAS, MKL or BLIS, which transposes while it packs). The layout is
# chosen when the package loads, from the BLAS that R has loaded.

#' How the matrix products are formed
#'
#' The C core's matrix products, several of them with a transposed
#' operand (the inputs in the first layer, the activations in the
#' gradient, the weights in the backward pass), can be formed in three
#' ways.
#'
#' * `"copy"` copies the transposed operand, a block at a time, so that
#'   every call is `dgemm("N", "N")`: the reference BLAS walks a transposed
#'   operand across its leading dimension and runs such products 1.5 to 2
#'   times slower, so the copies pay for themselves there.
#' * `"kernel"` forms every product, transposed operands included, with
#'   the package's own kernel instead of `dgemm`, one call per product:
#'   it holds a tile of the result in vector registers (AVX where the
#'   processor has it, else SSE2), copies blocks of the left operand into
#'   cache-sized strips (transposing them on the way where needed), and
#'   runs 4 to 6 times faster than the reference BLAS on this package's
#'   sizes with AVX (2 to 3 times with SSE2). It adds the terms of each
#'   sum in the reference BLAS's order, one rounded product and one
#'   rounded addition at a time (no fused multiply-add), so its fits equal
#'   the reference BLAS's bit for bit on finite data, on either
#'   instruction set. It is available on x86-64 builds; elsewhere setting
#'   it gives `"copy"`.
#' * `"direct"` hands `"T"` to `dgemm` and makes each product one call: a
#'   packing BLAS (OpenBLAS, MKL, BLIS) transposes for free while it packs
#'   its blocks, and for it the copies and the extra calls are pure cost.
#'   Such a library is also faster than the own kernel (single-threaded
#'   OpenBLAS 1.1 to 2.3 times on this package's sizes).
#'
#' When the package loads it picks `"direct"` if the shared object that
#' provides `dgemm` (from [extSoftVersion()]) is named like one of the
#' packing libraries, `"kernel"` if it is named like the reference BLAS
#' (`libblas` or R's own `libRblas`), and `"copy"` for anything else. The
#' option `mirrorflow.blas_products` (`"copy"`, `"direct"`, `"kernel"` or
#' `"auto"`), if set before loading, overrides that, and failing it the
#' environment variable `MIRRORFLOW_BLAS_PRODUCTS` (which reaches child
#' processes too). With the reference BLAS, the three layouts compute the
#' same sums in the same order and give identical fits; with other
#' libraries the order may differ, and fits then agree to rounding.
#'
#' Only the products of a flow's gradient evaluations take the chosen
#' layout; scores of new data, margin gradients and the integrators'
#' linear algebra always use the BLAS and LAPACK.
#'
#' @param layout `NULL` to read the layout; `"copy"`, `"direct"`,
#'   `"kernel"` or `"auto"` (the choice from the loaded BLAS) to set it for
#'   the session.
#' @return The layout in force before the call, `"copy"`, `"direct"` or
#'   `"kernel"`; invisibly when setting. Its attribute `blas` is the path of
#'   the BLAS, and `kernel` the instruction set the own kernel uses on this
#'   processor: `"avx"`, `"sse2"` or `"none"` (not in this build).
#' @examples
#' blas_products()
#' old <- blas_products("direct")
#' blas_products(old)
#' @export
blas_products <- function(layout = NULL) {
  codes <- c("copy", "direct", "kernel")
  if (!is.null(layout)) {
    if (!is.character(layout) || length(layout) != 1L || is.na(layout) ||
        !layout %in% c(codes, "auto"))
      stop(sprintf(paste("'layout' must be NULL, \"copy\", \"direct\",",
                         "\"kernel\" or \"auto\", not %s"),
                   describe(layout)), call. = FALSE)
    if (layout == "auto") layout <- blas_layout_for(blas_path())
  }
  set <- if (is.null(layout)) NA_integer_ else match(layout, codes) - 1L
  old <- .Call(C_mf_blas_mode, set)
  res <- structure(codes[old[1L] + 1L], blas = blas_path(),
                   kernel = c("none", "sse2", "avx")[old[2L] + 1L])
  if (is.null(layout)) res else invisible(res)
}

blas_path <- function() {
  p <- tryCatch(extSoftVersion()[["BLAS"]], error = function(e) "")
  if (is.null(p) || is.na(p)) "" else p
}

# "direct" for the packing BLAS libraries (copying costs them some 8 % of
# a step), "kernel" for the reference BLAS (Debian's libblas under a
# "blas" directory, R's own libRblas: the own kernel is 4 to 6 times
# faster and gives the same sums), "copy" for anything not recognised
# ("T" costs an unblocked BLAS 50 to 100 %, and an unknown library may be
# faster than the own kernel).
blas_layout_for <- function(path) {
  packs <- "openblas|mkl|blis|atlas|accelerate|veclib|armpl"
  if (grepl(packs, basename(dirname(path)), ignore.case = TRUE) ||
      grepl(packs, basename(path), ignore.case = TRUE)) return("direct")
  if (grepl("^libR?blas([.]|$)", basename(path))) "kernel" else "copy"
}

# The path of the package's vector beta * sinh (the hypentropy map's
# inverse, src/vmath.c): 0 plain C, 1 SSE2, 2 AVX2.
vmath_isa <- function() .Call(C_mf_vmath_path)

.onLoad <- function(libname, pkgname) {
  opt <- getOption("mirrorflow.blas_products",
                   Sys.getenv("MIRRORFLOW_BLAS_PRODUCTS", "auto"))
  if (!is.character(opt) || length(opt) != 1L ||
      !opt %in% c("copy", "direct", "kernel", "auto")) opt <- "auto"
  try(blas_products(opt), silent = TRUE)
  invisible()
}
