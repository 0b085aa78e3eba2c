# Runs the testthat suite under R CMD check.
library(testthat)
library(mirrorflow)

test_check("mirrorflow")
