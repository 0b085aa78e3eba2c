# tidy(), glance() and augment() for fits, checked against the fit's own
# trajectory, its weights and network_loss().

test_that("glance() is one row with the fit's final state", {
  data(sparse_teacher)
  fit <- mirror_flow(sparse_teacher$x, sparse_teacher$y,
                     map = mirror_map("pnorm", p = 3),
                     control = flow_control(target_log_loss = -10))
  g <- glance(fit)
  fin <- trajectory(fit)[nrow(trajectory(fit)), ]
  expect_equal(nrow(g), 1)
  expect_equal(g$log_loss, fin$log_loss)
  expect_equal(g$q_margin, fin$q_margin)
  expect_equal(g$horizon, "l3")
  expect_equal(g$steps, fit$steps)
  expect_equal(g$stop_reason, "target_log_loss")
  expect_equal(g$map, "pnorm(p = 3)")
  expect_false("test_accuracy" %in% names(g))
})

test_that("glance(newdata) reports held-out accuracy", {
  d <- simulate_sparse_linear(300, 10, 2, gap = 0.05, seed = 3)
  parts <- split_data(d, test = 0.3, seed = 4)
  fit <- mirror_flow(parts$train,
                     control = flow_control(target_log_loss = -20))
  g <- glance(fit, newdata = parts$test)
  pred <- predict(fit, parts$test$x, type = "class")
  expect_equal(g$test_accuracy, mean(pred == parts$test$y))
  expect_equal(g$test_accuracy, accuracy(fit, parts$test))
  expect_gt(g$test_accuracy, 0.9)
  g2 <- glance(fit, newdata = parts$test$x)
  expect_true(is.na(g2$test_accuracy))
  expect_error(glance(fit, newdata = parts$test$x[, 1:3]),
               "'newdata' must have 10 columns")
})

test_that("tidy() of a ReLU net lists neurons with norms, mass and balance", {
  set.seed(8)
  data(sparse_teacher)
  fit <- mirror_flow(sparse_teacher$x, sparse_teacher$y,
                     net = homogeneous_net(c(20, 7, 1)),
                     control = flow_control(target_log_loss = -3,
                                            rtol = 1e-4))
  td <- tidy(fit)
  w <- coef(fit)
  expect_equal(nrow(td), 7)
  expect_equal(td$norm_in, sqrt(rowSums(w$W1^2)))
  expect_equal(td$norm_out, abs(as.vector(w$W2)))
  expect_equal(td$mass, td$norm_in * td$norm_out)
  expect_equal(sum(td$mass_share), 1)
  # the euclidean balance is (|w_in|^2 - |w_out|^2) / 2
  expect_equal(td$balance_end, (td$norm_in^2 - td$norm_out^2) / 2,
               tolerance = 1e-10)
  expect_equal(td$active_rate,
               colMeans(sparse_teacher$x %*% t(w$W1) > 0))
})

test_that("tidy() of linear and diagonal models lists parameters", {
  data(sparse_teacher)
  lin <- mirror_flow(sparse_teacher$x, sparse_teacher$y,
                     control = flow_control(target_log_loss = -5))
  expect_equal(tidy(lin)$estimate, as.vector(coef(lin)$W1))
  dg <- mirror_flow(sparse_teacher$x, sparse_teacher$y,
                    net = diagonal_net(20), init_scale = 0.1,
                    control = flow_control(target_log_loss = -5))
  td <- tidy(dg)
  expect_equal(nrow(td), 40)
  expect_equal(td$effective[1:20], coef(dg)$u^2 - coef(dg)$v^2)
})

test_that("augment() margins and classes agree with network_loss()", {
  set.seed(9)
  data(sparse_teacher)
  net <- homogeneous_net(c(20, 6, 1))
  fit <- mirror_flow(sparse_teacher$x, sparse_teacher$y, net = net,
                     control = flow_control(target_log_loss = -3,
                                            rtol = 1e-4))
  a <- augment(fit)
  ev <- network_loss(net, sparse_teacher$x, sparse_teacher$y, coef(fit))
  expect_equal(a$.margin, ev$margins, tolerance = 1e-12)
  expect_equal(a$.fitted, as.vector(ev$scores), tolerance = 1e-12)
  expect_equal(a$.class, ifelse(ev$scores[, 1] > 0, 1, -1))
  expect_equal(a$.n_active,
               rowSums(sparse_teacher$x %*% t(coef(fit)$W1) > 0))
  expect_equal(names(a)[1:20], paste0("x", 1:20))
  # without labels the margin is unknown
  b <- augment(fit, newdata = sparse_teacher$x[1:5, ])
  expect_true(all(is.na(b$.margin)))
  expect_false(".label" %in% names(b))
})

test_that("augment() handles factor labels and K-class networks", {
  set.seed(10)
  x <- matrix(rnorm(90 * 2), 90)
  cls <- factor(c("a", "b", "c")[1 + (x[, 1] > 0) + (x[, 2] > 0.8)],
                levels = c("a", "b", "c"))
  net <- homogeneous_net(c(2, 3), "linear")
  fit <- suppressWarnings(mirror_flow(x, cls, net = net,
                    control = flow_control(target_log_loss = -2,
                                           max_steps = 2000)))
  a <- augment(fit)
  ev <- network_loss(net, x, cls, coef(fit))
  expect_equal(a$.margin, ev$margins, tolerance = 1e-12)
  expect_equal(a$.fitted, apply(ev$scores, 1, max), tolerance = 1e-12)
  expect_s3_class(a$.class, "factor")
  two <- factor(ifelse(x[, 1] > 0, "yes", "no"))
  fb <- mirror_flow(x, two, control = flow_control(target_log_loss = -5))
  ab <- augment(fb)
  expect_equal(ab$.margin, ifelse(two == "yes", 1, -1) * ab$.fitted)
  bad <- mirrorflow_data(x[1:4, ], factor(c("p", "q", "p", "q")))
  expect_error(augment(fb, bad), "labels that the fit was not trained on")
})

test_that("formula fits augment data frames with their response", {
  set.seed(12)
  df <- data.frame(a = rnorm(50), b = rnorm(50))
  df$lab <- ifelse(df$a - df$b > 0, 1, -1)
  fit <- mirror_flow(lab ~ a + b, data = df,
                     control = flow_control(target_log_loss = -5))
  au <- augment(fit, newdata = df[1:10, ])
  expect_equal(au$.label, df$lab[1:10])
  expect_equal(au$.margin, df$lab[1:10] * predict(fit, df[1:10, ]))
})
