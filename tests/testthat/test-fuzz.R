# A fast run of the surface fuzzer (tools/fuzz.R, in the source tree only):
# malformed arguments to every exported function and .Call entry point,
# each call in a child process, must never crash one.

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
})
