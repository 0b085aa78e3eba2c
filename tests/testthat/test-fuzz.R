# A fast run of the surface fuzzer (tools/fuzz.R, in the source tree only):
# malformed arguments to every exported function and .Call entry point,
# each call in a child process, must never crash one, and every error
# must name the argument that was wrong.

test_that("1000 malformed calls crash nothing", {
  skip_on_cran()
  script <- normalizePath(file.path("..", "..", "tools", "fuzz.R"),
                          mustWork = FALSE)
  skip_if_not(file.exists(script), "tools/fuzz.R is not in this tree")
  skip_if_not_installed("callr")
  rscript <- file.path(R.home("bin"), "Rscript")
  out <- system2(rscript, c(shQuote(script), "1000", "7"), stdout = TRUE,
                 stderr = TRUE, env = paste0("R_LIBS=", .libPaths()[1]))
  expect_true(any(grepl("^1000 calls fuzzed, 0 crashes$", out)),
              label = paste(out, collapse = "\n"))
  # every error says which argument was wrong
  counts <- regmatches(out, regexec("^(\\d+) errors, (\\d+) of them naming",
                                    out))
  counts <- Filter(length, counts)[[1]]
  expect_gt(as.integer(counts[2]), 500)
  expect_equal(counts[3], counts[2], label = paste(out, collapse = "\n"))
})
