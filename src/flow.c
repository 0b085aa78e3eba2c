/* Mirror-flow integrators in the dual coordinates: fixed-step mirror
 * descent, the loss-scaled schedule with roll-back, and an error-controlled
 * Dormand-Prince 5(4) pair on normalised time d tau = Loss dt. Also the
 * checkpoint buffer that keeps rows evenly spaced in log time. */

#include <math.h>
#include <string.h>
#include <time.h>
#include "mirrorflow.h"

static double now_seconds(void)
{
#ifdef CLOCK_MONOTONIC
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
#else
  return (double) time(NULL);
#endif
}

static double logaddexp(double a, double b)
{
  if (a == -INFINITY) return b;
  if (b == -INFINITY) return a;
  double m = fmax(a, b);
  return m + log1p(exp(-fabs(a - b)));
}

/* log of (e^x - 1) / x, for the time integral of exp(-log Loss) over a
 * step along which log Loss is taken linear. */
static double log_expm1_ratio(double x)
{
  double a = fabs(x);
  if (a < 1e-4) return x / 2 + x * x / 24;
  if (x > 0) return x + log(-expm1(-x)) - log(x);
  return log(-expm1(x)) - log(-x);
}

/* log(1 / (e^Loss - 1)), Lyu and Li's smoothed-margin numerator for the
 * logistic loss; -log Loss for the exponential one. */
static double smoothed_numerator(int loss, double logL)
{
  if (loss == MF_LOSS_EXP) return -logL;
  if (logL < -20) return -logL - 0.5 * exp(logL);
  return -log(expm1(exp(logL)));
}

typedef struct {
  mf_net *net;
  const mf_map *maps;
  int P, L, nhid;
  double *bal, *bscale, *dwork, *lnorm;
} ctx_t;

static int all_state_to_theta(const ctx_t *c, const double *s, double *th)
{
  for (int l = 0; l < c->L; l++) {
    int o = c->net->offset[l], len = c->net->offset[l + 1] - o;
    int rc = mf_theta_from_state(c->maps + l, s + o, th + o, len);
    if (rc) return rc;
  }
  return MF_OK;
}

static void all_state_add(const ctx_t *c, const double *s, const double *d,
                          double scale, double *out)
{
  for (int l = 0; l < c->L; l++) {
    int o = c->net->offset[l], len = c->net->offset[l + 1] - o;
    mf_state_add(c->maps + l, s + o, d + o, scale, out + o, len);
  }
}

static int all_finite(const double *x, int n)
{
  for (int i = 0; i < n; i++) if (!isfinite(x[i])) return 0;
  return 1;
}

/* Evaluates log Loss and the normalised gradient at theta; returns 0 and
 * leaves *logL non-finite if anything is not finite. */
static int evaluate(ctx_t *c, const double *theta, double *g, double *logL)
{
  if (!all_finite(theta, c->P)) {
    *logL = NAN;
    return 0;
  }
  *logL = mf_net_eval(c->net, theta, g);
  if (isnan(*logL) || !all_finite(g, c->P)) {
    *logL = NAN;
    return 0;
  }
  return 1;
}

/* Fills one trajectory row from theta and the margins currently in net->q
 * (those of theta). */
static int fill_row(ctx_t *c, const double *theta, double logL, double step,
                    double log_time, double tau, double evals, double h,
                    double *row)
{
  mf_net *net = c->net;
  int n = net->n, deg = mf_net_degree(net);
  double qmin = INFINITY, acc = 0;
  for (int i = 0; i < n; i++) {
    if (net->q[i] < qmin) qmin = net->q[i];
    if (net->q[i] > 0) acc += 1;
  }
  double Q = mf_net_horizon(net, c->maps, theta, c->lnorm);
  double QL = pow(Q, deg);
  row[MF_COL_STEP] = step;
  row[MF_COL_LOG_TIME] = log_time;
  row[MF_COL_TAU] = tau;
  row[MF_COL_LOG_LOSS] = logL;
  row[MF_COL_QMIN] = qmin;
  row[MF_COL_HORIZON] = Q;
  row[MF_COL_QMARGIN] = qmin / QL;
  row[MF_COL_SMOOTHED] = smoothed_numerator(net->loss, logL) / QL;
  row[MF_COL_ACCURACY] = acc / n;
  row[MF_COL_EVALS] = evals;
  row[MF_COL_STEP_SIZE] = h;
  double drift = NAN;
  if (c->nhid > 0) {
    int rc = mf_net_balance(net, c->maps, theta, c->bal, c->bscale, c->dwork);
    if (rc < 0) return -rc;
    drift = 0;
    for (int j = 0; j < c->nhid; j++) {
      double b0 = c->bal[c->nhid + j], s0 = c->bscale[c->nhid + j];
      double sc = fmax(fmax(c->bscale[j], s0), 1e-300);
      double dj = fabs(c->bal[j] - b0) / sc;
      if (dj > drift) drift = dj;
    }
  }
  row[MF_COL_DRIFT] = drift;
  for (int l = 0; l < c->L; l++) row[MF_NCOL_FIXED + l] = c->lnorm[l];
  return MF_OK;
}

/* Checkpoint buffer: a row is kept once log time has moved on by the
 * current spacing; a full buffer drops every other row and doubles the
 * spacing, so rows stay evenly spaced in log time whatever the run's
 * length. */
typedef struct {
  mf_result *res;
  int P;
  double spacing, last;
} ckpt_t;

static void ckpt_thin(ckpt_t *k)
{
  mf_result *r = k->res;
  int keep = 0;
  for (int i = 0; i < r->nrow; i += 2, keep++) {
    if (keep == i) continue;
    memcpy(r->rows + (size_t) keep * r->ncol, r->rows + (size_t) i * r->ncol,
           sizeof(double) * r->ncol);
    if (r->snaps)
      memcpy(r->snaps + (size_t) keep * k->P, r->snaps + (size_t) i * k->P,
             sizeof(double) * k->P);
  }
  r->nrow = keep;
  k->spacing *= 2;
}

static int ckpt_due(const ckpt_t *k, double log_time)
{
  return k->res->nrow == 0 || log_time >= k->last + k->spacing;
}

static int ckpt_add(ckpt_t *k, ctx_t *c, const double *theta, double logL,
                    double step, double log_time, double tau, double evals,
                    double h)
{
  mf_result *r = k->res;
  if (r->nrow == r->cap) ckpt_thin(k);
  double *row = r->rows + (size_t) r->nrow * r->ncol;
  int rc = fill_row(c, theta, logL, step, log_time, tau, evals, h, row);
  if (rc) return rc;
  if (r->snaps)
    memcpy(r->snaps + (size_t) r->nrow * k->P, theta,
           sizeof(double) * k->P);
  r->nrow++;
  k->last = log_time;
  return MF_OK;
}

size_t mf_flow_work(const mf_net *net)
{
  size_t P = (size_t) net->nparam;
  int nh = mf_net_balance(net, NULL, NULL, NULL, NULL, NULL);
  /* g, 7 stages, stage state and theta, s5, theta5, dsum, D work */
  return 14 * P + 4 * (size_t) nh + (size_t) net->nlayers;
}

/* Dormand-Prince 5(4) tableau. */
static const double DP_A[7][6] = {
  {0, 0, 0, 0, 0, 0},
  {1.0 / 5, 0, 0, 0, 0, 0},
  {3.0 / 40, 9.0 / 40, 0, 0, 0, 0},
  {44.0 / 45, -56.0 / 15, 32.0 / 9, 0, 0, 0},
  {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729, 0, 0},
  {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656,
   0},
  {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84}
};
static const double DP_E[7] = {
  71.0 / 57600, 0, -71.0 / 16695, 71.0 / 1920, -17253.0 / 339200,
  22.0 / 525, -1.0 / 40
};

int mf_flow_run(mf_net *net, const mf_map *maps, const mf_control *ctl,
                double *theta, double *state, double *work, mf_result *res,
                mf_poll poll, void *poll_ctx)
{
  int P = net->nparam, L = net->nlayers;
  int nh = mf_net_balance(net, NULL, NULL, NULL, NULL, NULL);
  double *g = work, *kst = g + P, *ss = kst + 7 * (size_t) P,
    *sth = ss + P, *s5 = sth + P, *th5 = s5 + P, *dsum = th5 + P,
    *dwork = dsum + P, *bal = dwork + P, *bscale = bal + 2 * nh,
    *lnorm = bscale + 2 * nh;
  ctx_t c = {net, maps, P, L, nh, bal, bscale, dwork, lnorm};
  double t0 = now_seconds(), last_poll = t0;
  int rc;

  res->stop = MF_STOP_NONE;
  res->nrow = 0;
  res->steps = res->evals = res->rejected = 0;
  res->tau = 0;
  res->log_time = -INFINITY;

  for (int l = 0; l < L; l++) {
    int o = net->offset[l], len = net->offset[l + 1] - o;
    rc = mf_state_from_theta(maps + l, theta + o, state + o, len);
    if (rc) return rc;
  }
  if (!all_finite(state, P)) return MF_ERR_NONFINITE;
  rc = all_state_to_theta(&c, state, theta);
  if (rc) return rc;
  if (nh > 0) {
    rc = mf_net_balance(net, maps, theta, bal + nh, bscale + nh, dwork);
    if (rc < 0) return -rc;
    memcpy(res->balance0, bal + nh, sizeof(double) * nh);
    memcpy(res->balance_scale0, bscale + nh, sizeof(double) * nh);
  }

  double logL;
  if (!evaluate(&c, theta, g, &logL)) return MF_ERR_NONFINITE;
  res->evals = 1;
  double logL0 = logL, h = ctl->eta;
  ckpt_t ck = {res, P, 0.05, -INFINITY};
  int rejected_last = 0;

  for (;;) {
    /* limits */
    double elapsed = now_seconds() - t0;
    if (logL <= ctl->target_log_loss) res->stop = MF_STOP_TARGET;
    else if (res->steps >= ctl->max_steps) res->stop = MF_STOP_MAX_STEPS;
    else if (res->log_time >= ctl->max_log_time)
      res->stop = MF_STOP_MAX_LOG_TIME;
    else if (elapsed >= ctl->time_limit) res->stop = MF_STOP_TIME_LIMIT;
    if (res->stop) break;
    if (poll && elapsed - (last_poll - t0) >= 0.1) {
      last_poll = now_seconds();
      double f = res->steps / ctl->max_steps;
      if (isfinite(ctl->target_log_loss) && logL0 > ctl->target_log_loss)
        f = fmax(f, (logL0 - logL) / (logL0 - ctl->target_log_loss));
      if (isfinite(ctl->time_limit)) f = fmax(f, elapsed / ctl->time_limit);
      if (poll(poll_ctx, fmin(f, 1))) {
        res->stop = MF_STOP_INTERRUPT;
        break;
      }
    }

    double newL, step_log_dt, dtau;
    int accepted = 0;

    if (ctl->integrator == MF_INT_MD) {
      /* z <- z - eta grad Loss, with grad Loss = Loss * g */
      all_state_add(&c, state, g, -exp(log(ctl->eta) + logL), ss);
      rc = all_state_to_theta(&c, ss, sth);
      if (rc) return rc;
      if (!evaluate(&c, sth, kst, &newL)) {
        res->stop = MF_STOP_NONFINITE;
        break;
      }
      res->evals++;
      dtau = ctl->eta * exp(logL);
      step_log_dt = log(ctl->eta);
      accepted = 1;
      h = ctl->eta;
    } else if (ctl->integrator == MF_INT_LOSS_SCALED) {
      /* z <- z - h grad Loss / Loss; real time step h / Loss */
      all_state_add(&c, state, g, -h, ss);
      rc = all_state_to_theta(&c, ss, sth);
      if (rc) return rc;
      int ok = evaluate(&c, sth, kst, &newL);
      res->evals++;
      if (ok && newL < logL) {
        accepted = 1;
        dtau = h;
        step_log_dt = log(h) - logL;
      } else {
        h /= ctl->step_down;
        res->rejected++;
      }
    } else {
      /* Dormand-Prince stages; kst + i P holds k_i = -g(stage i), and
       * k_1 is the gradient already at hand (first same as last). */
      double *k1 = kst;
      for (int i = 0; i < P; i++) k1[i] = -g[i];
      int ok = 1;
      for (int st = 1; st < 7 && ok; st++) {
        memset(dsum, 0, sizeof(double) * P);
        for (int j = 0; j < st; j++) {
          double a = DP_A[st][j];
          if (a == 0) continue;
          const double *kj = kst + (size_t) j * P;
          for (int i = 0; i < P; i++) dsum[i] += a * kj[i];
        }
        double *out = st == 6 ? s5 : ss;
        double *tho = st == 6 ? th5 : sth;
        all_state_add(&c, state, dsum, h, out);
        rc = all_state_to_theta(&c, out, tho);
        if (rc) return rc;
        double *kk = kst + (size_t) st * P;
        ok = evaluate(&c, tho, kk, &newL);
        res->evals++;
        for (int i = 0; i < P && ok; i++) kk[i] = -kk[i];
      }
      double err = INFINITY;
      if (ok) {
        /* error of the embedded pair, in the integration state */
        err = 0;
        for (int l = 0; l < L; l++) {
          int o = net->offset[l], e = net->offset[l + 1];
          for (int i = o; i < e; i++) {
            double d = 0;
            for (int j = 0; j < 7; j++) d += DP_E[j] * kst[(size_t) j * P + i];
            d *= h;
            if (maps[l].family == MF_COSH) {
              /* the state is theta: map the dual error back through
               * 1 / cosh(theta) */
              double a = fabs(s5[i]);
              d *= a < 700 ? 1 / cosh(s5[i]) : 0;
            }
            double sc = ctl->atol +
              ctl->rtol * fmax(fabs(state[i]), fabs(s5[i]));
            double r = d / sc;
            err += r * r;
          }
        }
        err = sqrt(err / P);
        /* the exact flow never raises the loss */
        if (newL > logL + 1e-12 * fmax(1, fabs(logL))) err = fmax(err, 2);
      }
      if (ok && err <= 1) {
        accepted = 1;
        dtau = h;
        step_log_dt = log(h) - logL + log_expm1_ratio(logL - newL);
        double fac = err == 0 ? 5 : 0.9 * pow(err, -0.2);
        fac = fmin(rejected_last ? 1 : 5, fmax(0.2, fac));
        /* move the accepted stage into place below; h for next step */
        memcpy(ss, s5, sizeof(double) * P);
        memcpy(sth, th5, sizeof(double) * P);
        for (int i = 0; i < P; i++) kst[i] = -kst[(size_t) 6 * P + i];
        res->step_size = h;
        h *= fac;
        rejected_last = 0;
      } else {
        double fac = isfinite(err) ? fmax(0.1, 0.9 * pow(err, -0.2)) : 0.25;
        h *= fmin(fac, 0.9);
        res->rejected++;
        rejected_last = 1;
      }
    }

    if (accepted) {
      memcpy(state, ss, sizeof(double) * P);
      memcpy(theta, sth, sizeof(double) * P);
      memcpy(g, kst, sizeof(double) * P);
      logL = newL;
      res->steps++;
      res->tau += dtau;
      if (ctl->integrator == MF_INT_MD) {
        res->log_time = log(res->steps) + log(ctl->eta);
        res->step_size = h;
      } else {
        if (ctl->integrator == MF_INT_LOSS_SCALED) {
          res->step_size = h;
          h *= ctl->step_up;
        }
        res->log_time = logaddexp(res->log_time, step_log_dt);
      }
      /* the margins in net->q are those of the last evaluation: for md and
       * loss_scaled that is the new point; for the adaptive pair stage 7
       * is evaluated at the new point too */
      if (ckpt_due(&ck, res->log_time)) {
        rc = ckpt_add(&ck, &c, theta, logL, res->steps, res->log_time,
                      res->tau, res->evals, res->step_size);
        if (rc) return rc;
      }
    }
    if (!(h > 1e-300) || (ctl->integrator != MF_INT_MD &&
                          h < 1e-15 * fmax(1, res->tau))) {
      res->stop = MF_STOP_STALLED;
      break;
    }
  }

  /* the last state always closes the trajectory; re-evaluate so that the
   * margins match it */
  if (!evaluate(&c, theta, g, &logL)) return MF_ERR_NONFINITE;
  res->evals++;
  int have_last = res->nrow > 0 &&
    res->rows[(size_t) (res->nrow - 1) * res->ncol + MF_COL_STEP] ==
    res->steps;
  if (!have_last) {
    ck.spacing = 0;
    rc = ckpt_add(&ck, &c, theta, logL, res->steps, res->log_time, res->tau,
                  res->evals, res->step_size);
    if (rc) return rc;
  }
  res->log_loss = logL;
  res->elapsed = now_seconds() - t0;
  return MF_OK;
}
