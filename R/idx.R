# read_idx(): the IDX format of MNIST and its relatives (Fashion-MNIST,
# KMNIST, EMNIST), plain or gzip-compressed, checked byte for byte against
# its header.

# IDX type codes: R storage, bytes per element and signedness.
idx_types <- list(
  "8" = list(name = "unsigned byte", what = "integer", size = 1L,
             signed = FALSE),
  "9" = list(name = "signed byte", what = "integer", size = 1L,
             signed = TRUE),
  "11" = list(name = "int16", what = "integer", size = 2L, signed = TRUE),
  "12" = list(name = "int32", what = "integer", size = 4L, signed = TRUE),
  "13" = list(name = "float32", what = "double", size = 4L, signed = TRUE),
  "14" = list(name = "float64", what = "double", size = 8L, signed = TRUE))

#' Read an IDX file
#'
#' Reads a file in the IDX format of the MNIST family of data sets: two
#' zero bytes, a type code (`0x08` unsigned byte, `0x09` signed byte,
#' `0x0B` 16-bit integer, `0x0C` 32-bit integer, `0x0D` 32-bit float,
#' `0x0E` 64-bit float), the number of dimensions, the dimensions as
#' big-endian 32-bit integers and then the data, big-endian, in row-major
#' order. The file may be gzip-compressed; this is recognised by its
#' first two bytes, whatever its name.
#'
#' The header is checked against the file: a file that does not start
#' like an IDX file, that ends before the data the header announces, or
#' that goes on after them is refused with an error naming the file.
#'
#' @param path Path to the file.
#' @return For a one-dimensional file a vector; otherwise an array with the
#'   dimensions of the header in the same order, indexed the way the file
#'   reads: for an image file of dimensions \eqn{N \times 28 \times 28},
#'   `img[i, , ]` is image `i` as a 28 by 28 matrix whose rows are the
#'   image's rows. Integer types give an integer vector or array, float
#'   types a double one.
#' @examples
#' # A 2 by 3 unsigned-byte IDX file written by hand.
#' f <- tempfile()
#' writeBin(as.raw(c(0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1:6)), f)
#' read_idx(f)
#' unlink(f)
#'
#' \donttest{
#' imgs <- "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
#' if (file.exists(imgs)) {
#'   x <- read_idx(imgs)
#'   dim(x)
#'   image(t(x[1, 28:1, ]), col = grey.colors(256, 1, 0))
#' }
#' }
#' @export
read_idx <- function(path) {
  if (!is.character(path) || length(path) != 1 || is.na(path))
    stop(sprintf("'path' must be a single file name, not %s",
                 describe(path)), call. = FALSE)
  raw <- read_idx_raw(path)
  dims <- raw$dims
  v <- raw$data
  if (is.raw(v) && length(dims) == 1) return(as.integer(v))
  if (length(dims) == 1) return(v)

  # The file runs along the last dimension fastest. Rather than one aperm()
  # of the whole array, transpose the (item, rest) matrix and reorder the
  # columns of the rest: both steps move contiguous memory, which is about
  # twice as fast as aperm() on 60000 images.
  rest <- dims[-1]
  m <- t(matrix(v, nrow = prod(rest)))
  if (length(rest) > 1) {
    perm <- aperm(array(seq_len(prod(rest)), rev(rest)),
                  rev(seq_along(rest)))
    m <- m[, as.vector(perm), drop = FALSE]
  }
  if (is.raw(m)) storage.mode(m) <- "integer"
  dim(m) <- dims
  m
}

# The header and the data of an IDX file in the file's own (row-major)
# order, checked against each other; fashion_mnist() uses this form
# directly because it wants the images flattened row by row. Unsigned
# bytes come back as a raw vector, everything else as R values.
read_idx_raw <- function(path) {
  if (!file.exists(path) || dir.exists(path))
    stop(sprintf("'path' must name an existing file; '%s' does not exist",
                 path), call. = FALSE)
  con <- file(path, "rb")
  start <- readBin(con, "raw", 2)
  close(con)
  gz <- identical(start, as.raw(c(0x1f, 0x8b)))
  con <- if (gz) gzfile(path, "rb") else file(path, "rb")
  on.exit(close(con))

  # A damaged gzip stream makes the connection warn or fail part way; say
  # which file it was rather than pass on zlib's words alone.
  read_bytes <- function(n) {
    tryCatch(readBin(con, "raw", n),
             warning = function(w) corrupt(path, conditionMessage(w)),
             error = function(e) corrupt(path, conditionMessage(e)))
  }

  magic <- read_bytes(4)
  if (length(magic) < 4 || magic[1] != 0 || magic[2] != 0)
    stop(sprintf(paste("'%s' is not an IDX file: it starts with %s, not",
                       "with two zero bytes"), path,
                 if (length(magic) == 0) "nothing (it is empty)" else
                   paste(format(magic), collapse = " ")), call. = FALSE)
  type <- idx_types[[as.character(as.integer(magic[3]))]]
  if (is.null(type))
    stop(sprintf(paste("'%s' has IDX type code 0x%s; known codes are 08,",
                       "09, 0B, 0C, 0D and 0E"), path, format(magic[3])),
         call. = FALSE)
  ndim <- as.integer(magic[4])
  if (ndim < 1)
    stop(sprintf("'%s' declares 0 dimensions; an IDX file needs at least 1",
                 path), call. = FALSE)

  hdr <- read_bytes(4 * ndim)
  if (length(hdr) < 4 * ndim)
    stop(sprintf(paste("'%s' is truncated: it ends inside its header, which",
                       "declares %d dimensions"), path, ndim), call. = FALSE)
  # Dimensions are unsigned 32-bit; read the bytes as such so that a value
  # of 2^31 or more comes out as itself rather than as a negative number.
  b <- matrix(as.double(as.integer(hdr)), nrow = 4)
  dims <- colSums(b * c(2^24, 2^16, 2^8, 1))
  n_elem <- prod(dims)
  n_bytes <- n_elem * type$size
  # Limitation: R's readBin() reads at most 2^31 - 1 bytes in one call;
  # files larger than that would need a loop over chunks.
  if (n_bytes > .Machine$integer.max)
    stop(sprintf(paste("'%s' declares %s elements of %d bytes, more than",
                       "read_idx() reads in one go"), path,
                 format(n_elem, big.mark = ","), type$size), call. = FALSE)

  # For a plain file the size is known before reading anything.
  expect <- 4 + 4 * ndim + n_bytes
  if (!gz) {
    have <- file.size(path)
    if (have < expect) truncated(path, dims, type, expect, have, FALSE)
    if (have > expect) trailing(path, dims, type, expect, have - expect)
  }
  # Limitation: readBin() sets aside room for all the announced bytes before
  # it reads, so a gzip file whose header lies about its size costs up to
  # 2 GB of memory before its truncation shows; reading in chunks would
  # bound that at the price of one more copy of the data.
  data <- read_bytes(n_bytes)
  if (length(data) < n_bytes)
    truncated(path, dims, type, expect, 4 + 4 * ndim + length(data), gz)
  extra <- read_bytes(1)
  if (length(extra) > 0) {
    more <- 1
    repeat {
      chunk <- read_bytes(65536)
      if (length(chunk) == 0) break
      more <- more + length(chunk)
    }
    trailing(path, dims, type, expect, more)
  }

  # Unsigned bytes stay raw here: moving them about before the conversion
  # to integer moves a quarter of the memory.
  values <- if (type$size == 1 && !type$signed) data else
    readBin(data, type$what, n = n_elem, size = type$size,
            signed = type$signed, endian = "big")
  list(dims = as.integer(dims), type = type$name, data = values)
}

corrupt <- function(path, why) {
  stop(sprintf("'%s' could not be decompressed: %s", path, why),
       call. = FALSE)
}

truncated <- function(path, dims, type, expect, have, gz) {
  stop(sprintf(paste("'%s' is truncated: its header announces %s %s values",
                     "(%s bytes in all) but the %sfile holds %s bytes"),
               path, paste(dims, collapse = " x "), type$name,
               format(expect, big.mark = ","),
               if (gz) "decompressed " else "",
               format(have, big.mark = ",")), call. = FALSE)
}

trailing <- function(path, dims, type, expect, extra) {
  stop(sprintf(paste("'%s' has %s byte%s after the %s %s values its header",
                     "announces (%s bytes in all); it is not a single IDX",
                     "file"), path, format(extra, big.mark = ","),
               if (extra == 1) "" else "s",
               paste(dims, collapse = " x "), type$name,
               format(expect, big.mark = ",")), call. = FALSE)
}
