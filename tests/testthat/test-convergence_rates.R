# Tests of convergence_rates(): exact power laws planted in a trajectory,
# and the gradient-flow rates on a linear model.

planted_fit <- function(log_time, log_loss, horizon, q_margin) {
  data(sparse_teacher, package = "mirrorflow")
  fit <- mirror_flow(sparse_teacher$x, sparse_teacher$y, progress = FALSE,
                     control = flow_control(target_log_loss = -5))
  tr <- fit$trajectory[rep(1, length(log_time)), ]
  tr$log_time <- log_time
  tr$log_loss <- log_loss
  tr$horizon <- horizon
  tr$q_margin <- q_margin
  fit$trajectory <- tr
  fit
}

test_that("planted power laws come back exactly", {
  lt <- seq(2, 50, length.out = 40)
  fit <- planted_fit(lt, log_loss = 3 - 2 * lt - 1.5 * log(lt),
                     horizon = 7 * lt^0.25, q_margin = 0.3 - 2 * lt^-0.5)
  cr <- convergence_rates(fit, window = c(10, 50), reference = 0.3)
  get <- function(q, law) cr$exponent[cr$quantity == q & cr$law == law]
  expect_equal(get("loss", "t"), -2 - 1.5 * stats::coef(stats::lm(
    log(lt[lt >= 10]) ~ lt[lt >= 10]))[[2]], tolerance = 1e-10)
  expect_equal(get("horizon_norm", "log t"), 0.25, tolerance = 1e-10)
  expect_equal(get("margin_gap", "log t"), -0.5, tolerance = 1e-10)
  expect_equal(cr$n[1], sum(lt >= 10))
  # the euclidean map carries the gradient-flow exponents (L = 1 here)
  expect_equal(cr$theory[cr$quantity == "loss" & cr$law == "t"], -1)
  expect_equal(cr$theory[cr$quantity == "horizon_norm" &
                           cr$law == "log t"], 1)
  expect_equal(attr(cr, "window"), c(10, 50))
  expect_error(convergence_rates(fit, window = c(49, 50)), "at least 4")
  expect_error(convergence_rates(fit, window = 2), "'window'")
  expect_error(convergence_rates(fit, reference = "a"), "'reference'")
})

test_that("gradient flow on a linear model shows its known rates", {
  data(sparse_teacher, package = "mirrorflow")
  fit <- mirror_flow(sparse_teacher$x, sparse_teacher$y, progress = FALSE,
                     control = flow_control(target_log_loss = -400))
  cr <- convergence_rates(fit)
  get <- function(q, law) cr[cr$quantity == q & cr$law == law, ]
  expect_equal(get("loss", "t")$exponent, -1, tolerance = 1e-3)
  expect_equal(get("horizon_norm", "log t")$exponent, 1, tolerance = 0.02)
  expect_true(all(is.finite(cr$std_error)))
})
