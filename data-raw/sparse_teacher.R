# Makes data/sparse_teacher.rda: 200 separable points in 20 dimensions from
# a 3-sparse linear teacher, with a margin gap of 0.1. Run from the package
# root: Rscript data-raw/sparse_teacher.R
set.seed(20261203)
d <- 20
teacher <- c(1, -1, 0.5, rep(0, d - 3))
teacher <- teacher / sqrt(sum(teacher^2))
x <- matrix(rnorm(600 * d), ncol = d)
s <- drop(x %*% teacher)
keep <- which(abs(s) >= 0.1)[1:200]
x <- x[keep, ]
y <- ifelse(s[keep] > 0, 1, -1)
sparse_teacher <- list(x = x, y = y, teacher = teacher)
save(sparse_teacher, file = "data/sparse_teacher.rda", compress = "xz")
