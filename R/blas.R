# How the C core hands its matrix products to the BLAS: with the
# transposed operands copied first ("copy", right for the reference BLAS,
# which runs the transposed forms of dgemm 1.5 to 2 times slower), or with
# "T" passed to dgemm and whole products in one call ("direct", right for
# a packing BLAS such as OpenBLAS, MKL or BLIS, which transposes while it
# packs). The layout is chosen when the package loads, from the BLAS that
# R has loaded.

#' How the matrix products are handed to the BLAS
#'
#' The C core's products with a transposed operand (the inputs in the
#' first layer, the activations in the gradient, the weights in the
#' backward pass) can be formed in two ways. `"copy"` copies the
#' transposed operand, a block at a time, so that every call is
#' `dgemm("N", "N")`: the reference BLAS walks a transposed operand across
#' its leading dimension and runs such products 1.5 to 2 times slower, so
#' the copies pay for themselves there. `"direct"` hands `"T"` to `dgemm`
#' and makes each product one call: a packing BLAS (OpenBLAS, MKL, BLIS)
#' transposes for free while it packs its blocks, and for it the copies
#' and the extra calls are pure cost.
#'
#' When the package loads it picks `"direct"` if the shared object that
#' provides `dgemm` (from [extSoftVersion()]) is named like one of those
#' libraries, and `"copy"` otherwise. The option `mirrorflow.blas_products`
#' (`"copy"`, `"direct"` or `"auto"`), if set before loading, overrides
#' that, and failing it the environment variable
#' `MIRRORFLOW_BLAS_PRODUCTS` (which reaches child processes too). The
#' two layouts compute the same sums, in the same order with the reference
#' BLAS (whose fits are identical either way) and possibly in another
#' order with other libraries, whose fits then agree to rounding.
#'
#' @param layout `NULL` to read the layout; `"copy"`, `"direct"` or
#'   `"auto"` (the choice from the loaded BLAS) to set it for the session.
#' @return The layout in force before the call, `"copy"` or `"direct"`;
#'   invisibly when setting. Its attribute `blas` is the path of the BLAS.
#' @examples
#' blas_products()
#' old <- blas_products("direct")
#' blas_products(old)
#' @export
blas_products <- function(layout = NULL) {
  if (!is.null(layout)) {
    if (!is.character(layout) || length(layout) != 1L || is.na(layout) ||
        !layout %in% c("copy", "direct", "auto"))
      stop(sprintf(paste("'layout' must be NULL, \"copy\", \"direct\" or",
                         "\"auto\", not %s"), describe(layout)),
           call. = FALSE)
    if (layout == "auto") layout <- blas_layout_for(blas_path())
  }
  old <- .Call(C_mf_blas_mode,
               if (is.null(layout)) NA else identical(layout, "direct"))
  res <- structure(if (old) "direct" else "copy", blas = blas_path())
  if (is.null(layout)) res else invisible(res)
}

blas_path <- function() {
  p <- tryCatch(extSoftVersion()[["BLAS"]], error = function(e) "")
  if (is.null(p) || is.na(p)) "" else p
}

# "direct" for the packing BLAS libraries, "copy" for the reference BLAS
# and for anything not recognised (copying costs a packing BLAS some
# 8 % of a step; "T" costs the reference BLAS 50 to 100 %).
blas_layout_for <- function(path) {
  packs <- "openblas|mkl|blis|atlas|accelerate|veclib|armpl"
  if (grepl(packs, basename(dirname(path)), ignore.case = TRUE) ||
      grepl(packs, basename(path), ignore.case = TRUE)) "direct" else "copy"
}

.onLoad <- function(libname, pkgname) {
  opt <- getOption("mirrorflow.blas_products",
                   Sys.getenv("MIRRORFLOW_BLAS_PRODUCTS", "auto"))
  if (!is.character(opt) || length(opt) != 1L ||
      !opt %in% c("copy", "direct", "auto")) opt <- "auto"
  try(blas_products(opt), silent = TRUE)
  invisible()
}
