# Tests of read_idx() (R/idx.R): files written here byte by byte for every
# type, plain and gzip, read back; damaged files refused by name; and the
# Fashion-MNIST files against a decompression done another way.

type_codes <- c(ubyte = 0x08, byte = 0x09, int16 = 0x0B, int32 = 0x0C,
                float32 = 0x0D, float64 = 0x0E)
type_sizes <- c(ubyte = 1, byte = 1, int16 = 2, int32 = 4, float32 = 4,
                float64 = 8)

# The values of `a` in row-major order (last index fastest), by explicit
# loops over the indices rather than by aperm(), so that the test does not
# share the reader's way of reordering.
row_major <- function(a) {
  d <- if (is.null(dim(a))) length(a) else dim(a)
  out <- vector(typeof(a), length(a))
  idx <- rep(1L, length(d))
  for (pos in seq_along(out)) {
    out[pos] <- if (length(d) == 1) a[idx] else
      do.call(`[`, c(list(a), as.list(idx)))
    k <- length(d)
    while (k >= 1) {
      idx[k] <- idx[k] + 1L
      if (idx[k] <= d[k]) break
      idx[k] <- 1L
      k <- k - 1
    }
  }
  out
}

# Writes `a` as an IDX file of the given type; `extra` raw bytes are
# appended and `cut` bytes taken off the end, to make damaged files.
write_idx <- function(a, type, gz = FALSE, extra = raw(0), cut = 0,
                      path = tempfile()) {
  d <- if (is.null(dim(a))) length(a) else dim(a)
  con <- rawConnection(raw(0), "wb")
  writeBin(as.raw(c(0, 0, type_codes[[type]], length(d))), con)
  writeBin(as.integer(d), con, size = 4, endian = "big")
  v <- row_major(a)
  if (type %in% c("float32", "float64")) {
    writeBin(as.double(v), con, size = type_sizes[[type]], endian = "big")
  } else {
    writeBin(as.integer(v), con, size = type_sizes[[type]], endian = "big")
  }
  bytes <- c(rawConnectionValue(con), extra)
  close(con)
  if (cut > 0) bytes <- bytes[seq_len(length(bytes) - cut)]
  out <- if (gz) gzfile(path, "wb") else file(path, "wb")
  writeBin(bytes, out)
  close(out)
  path
}

test_that("every type reads back as written, plain and gzip", {
  set.seed(1)
  cases <- list(
    list(type = "ubyte", a = array(sample(0:255, 2 * 3 * 4, TRUE),
                                   c(2, 3, 4))),
    list(type = "ubyte", a = sample(0:255, 17, TRUE)),
    list(type = "byte", a = matrix(sample(-128:127, 15, TRUE), 3, 5)),
    list(type = "int16", a = array(sample(-32768:32767, 24, TRUE),
                                   c(4, 3, 2))),
    list(type = "int32", a = array(c(.Machine$integer.max,
                                     -.Machine$integer.max,
                                     sample(-1e6:1e6, 22)), c(2, 3, 4))),
    list(type = "int32", a = c(-5L, 0L, 7L)),
    list(type = "float32", a = matrix(c(0.5, -2, 1024, 3.25, 0, -0.125), 2)),
    list(type = "float64", a = array(rnorm(2 * 2 * 3 * 2), c(2, 2, 3, 2))),
    list(type = "float64", a = c(pi, -exp(1), 1e-300, 1e300)))
  for (cs in cases) for (gz in c(FALSE, TRUE)) {
    f <- write_idx(cs$a, cs$type, gz = gz)
    got <- read_idx(f)
    want <- cs$a
    if (cs$type %in% c("float32", "float64")) storage.mode(want) <- "double"
    else storage.mode(want) <- "integer"
    expect_identical(got, want, label = sprintf("%s, gz = %s", cs$type, gz))
    unlink(f)
  }
})

test_that("image files index as img[i, row, column]", {
  # Image i has pixel value 60 i + 10 r + c at row r, column c (at most
  # 225, so one byte holds it).
  img <- array(0L, c(3, 4, 5))
  for (i in 1:3) for (r in 1:4) for (c in 1:5) img[i, r, c] <- 60L * i +
    10L * r + c
  f <- write_idx(img, "ubyte", gz = TRUE)
  got <- read_idx(f)
  expect_identical(dim(got), c(3L, 4L, 5L))
  expect_identical(got[2, 3, 4], 154L)
  expect_identical(got[3, , ], outer(10L * (1:4), 1:5, `+`) + 180L)
  unlink(f)
})

test_that("gzip is told by its magic bytes, not by the file name", {
  a <- matrix(1:6, 2)
  plain_gz <- write_idx(a, "int32", gz = FALSE,
                        path = tempfile(fileext = ".gz"))
  zipped <- write_idx(a, "int32", gz = TRUE, path = tempfile())
  expect_identical(read_idx(plain_gz), a)
  expect_identical(read_idx(zipped), a)
  unlink(c(plain_gz, zipped))
})

test_that("damaged and foreign files are refused with their name", {
  a <- array(1:24, c(2, 3, 4))
  for (gz in c(FALSE, TRUE)) {
    short <- write_idx(a, "ubyte", gz = gz, cut = 5)
    expect_error(read_idx(short), paste0("'", short, "' is truncated"),
                 fixed = TRUE)
    long <- write_idx(a, "ubyte", gz = gz, extra = as.raw(1:3))
    expect_error(read_idx(long), "has 3 bytes after the 2 x 3 x 4")
    head_only <- write_idx(a, "int32", gz = gz, cut = 24 * 4 + 6)
    expect_error(read_idx(head_only), "ends inside its header")
    unlink(c(short, long, head_only))
  }
  # A partial last element of a multi-byte type is still truncation.
  odd <- write_idx(c(1L, 2L), "int32", gz = TRUE, cut = 1)
  expect_error(read_idx(odd), "is truncated")

  foreign <- tempfile()
  writeLines("not an idx file", foreign)
  expect_error(read_idx(foreign), paste0("'", foreign,
                                         "' is not an IDX file"),
               fixed = TRUE)
  empty <- tempfile()
  file.create(empty)
  expect_error(read_idx(empty), "it is empty")
  bad_type <- tempfile()
  writeBin(as.raw(c(0, 0, 0x0A, 1, 0, 0, 0, 1, 5)), bad_type)
  expect_error(read_idx(bad_type), "IDX type code 0x0a")
  no_dims <- tempfile()
  writeBin(as.raw(c(0, 0, 8, 0)), no_dims)
  expect_error(read_idx(no_dims), "declares 0 dimensions")
  expect_error(read_idx(file.path(tempdir(), "no-such-file")),
               "'path' must name an existing file")
  expect_error(read_idx(tempdir()), "'path' must name an existing file")
  expect_error(read_idx(3), "'path' must be a single file name")
  unlink(c(odd, foreign, empty, bad_type, no_dims))
})

test_that("empty dimensions give empty arrays", {
  f <- tempfile()
  writeBin(as.raw(c(0, 0, 8, 2, 0, 0, 0, 0, 0, 0, 0, 3)), f)
  expect_identical(read_idx(f), array(integer(0), c(0L, 3L)))
  unlink(f)
})

fashion_dir <- "/usr/share/datasets/fashion-mnist"

test_that("the Fashion-MNIST training files read as published", {
  skip_if_not(dir.exists(fashion_dir), "Fashion-MNIST files not installed")
  labels <- read_idx(file.path(fashion_dir, "train-labels-idx1-ubyte.gz"))
  expect_identical(length(labels), 60000L)
  expect_identical(labels[1], 9L)
  expect_identical(as.vector(table(labels)), rep(6000L, 10))

  f <- file.path(fashion_dir, "train-images-idx3-ubyte.gz")
  img <- read_idx(f)
  expect_identical(dim(img), c(60000L, 28L, 28L))
  # An independent decompression: the whole file into memory, header by
  # hand, pixels of an image taken row by row.
  bytes <- memDecompress(readBin(f, "raw", file.size(f)), type = "gzip")
  expect_identical(length(bytes), 16L + 60000L * 784L)
  expect_identical(as.integer(bytes[1:4]), c(0L, 0L, 8L, 3L))
  for (i in c(1L, 2L, 60000L)) {
    px <- as.integer(bytes[16 + (i - 1) * 784 + 1:784])
    expect_identical(img[i, , ], matrix(px, 28, 28, byrow = TRUE))
  }
})
