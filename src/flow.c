/* Mirror-flow integrators in the dual coordinates: fixed-step mirror
 * descent, the loss-scaled schedule with roll-back, and an error-controlled
 * Dormand-Prince 5(4) pair on normalised time d tau = Loss dt. Also the
 * checkpoint buffer that keeps rows evenly spaced in log time. */

#include <math.h>
#include <string.h>
#include <time.h>
#include <float.h>
#define USE_FC_LEN_T
#include <R_ext/BLAS.h>
#include <R_ext/Lapack.h>
#include <R_ext/Utils.h>
#ifndef FCONE
#define FCONE
#endif
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
 * step along which log Loss is taken linear. Limitation: real time is
 * thereby exact only to second order in the step; a quadrature through the
 * stage values of log Loss would tighten it. */
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

/* Late in a run the error-controlled step grows until one step lowers the
 * log-loss by hundreds, and log time leaps with it; capping the fall per
 * step keeps states at every stretch of log time for the checkpoints, and
 * costs about |target| / MF_MAX_DLOGLOSS steps. */
#define MF_MAX_DLOGLOSS 5.0

/* See the stall test at the end of the loop of mf_flow_run(). */
#define MF_TINY_STEP 1e-9
#define MF_TINY_RUN 500

static double dlogloss_cap(double fall)
{
  return fall > 0 ? fmax(0.2, MF_MAX_DLOGLOSS / fall) : 5;
}

typedef struct {
  mf_net *net;
  const mf_map *maps;
  int P, L, nhid;
  double *bal, *bscale, *dwork, *lnorm;
} ctx_t;

/* Applies a per-layer map evaluation (mf_theta_from_state() or
 * mf_state_from_theta()) to every layer of a parameter vector. */
typedef int (*layer_map_fn)(const mf_map *, const double *, double *, int);

static int all_layers(const ctx_t *c, layer_map_fn f, const double *in,
                      double *out)
{
  for (int l = 0; l < c->L; l++) {
    int o = c->net->offset[l], len = c->net->offset[l + 1] - o;
    int rc = f(c->maps + l, in + o, out + o, len);
    if (rc) return rc;
  }
  return MF_OK;
}

static int all_state_to_theta(const ctx_t *c, const double *s, double *th)
{
  return all_layers(c, mf_theta_from_state, s, th);
}

static void all_state_add(const ctx_t *c, const double *s, const double *d,
                          double scale, double *out)
{
  for (int l = 0; l < c->L; l++) {
    int o = c->net->offset[l], len = c->net->offset[l + 1] - o;
    mf_state_add(c->maps + l, s + o, d + o, scale, out + o, len);
  }
}

static int all_theta_to_state(const ctx_t *c, const double *th, double *s)
{
  return all_layers(c, mf_state_from_theta, th, s);
}

/* state <- state + scale * d, by the same arithmetic as all_state_add()
 * (so bit for bit the trial state a step was evaluated at), through a
 * small buffer instead of a second state vector; also the largest
 * |state| before and the largest change, for the converged test. */
static void commit_step(const ctx_t *c, double *state, const double *d,
                        double scale, double *smax, double *dmax)
{
  enum { CHUNK = 256 };
  double buf[CHUNK], sm = 0, dm = 0;
  for (int l = 0; l < c->L; l++) {
    int e = c->net->offset[l + 1];
    for (int i = c->net->offset[l]; i < e; i += CHUNK) {
      int len = e - i < CHUNK ? e - i : CHUNK;
      mf_state_add(c->maps + l, state + i, d + i, scale, buf, len);
      for (int j = 0; j < len; j++) {
        double a = fabs(state[i + j]), b = fabs(buf[j] - state[i + j]);
        sm = a > sm ? a : sm;
        dm = b > dm ? b : dm;
        state[i + j] = buf[j];
      }
    }
  }
  *smax = sm;
  *dmax = dm;
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

int mf_flow_jacobian_rows(const mf_net *net)
{
  double cap = fmax(8, 1e7 / (double) net->nparam);
  return (int) fmin(fmin(net->n, 1024), cap);
}

#define JAC_CHUNK 512

/* Root-mean-square error of an embedded pair: the dual error of each
 * coordinate (for cosh, whose state is theta, mapped back through
 * 1 / cosh theta) against the larger of the coordinate's size before and
 * after the step and the root-mean-square size of its layer's state, so
 * that coordinates far smaller than their layer's (dead or shrinking
 * units) are followed to the layer's relative accuracy, not their own. */
static double error_norm(const ctx_t *c, const mf_control *ctl,
                         const double *s0, const double *s1,
                         const double *dual_err, const double *lscale)
{
  double err = 0;
  for (int l = 0; l < c->L; l++) {
    int o = c->net->offset[l], e = c->net->offset[l + 1];
    for (int i = o; i < e; i++) {
      double d = dual_err[i];
      if (c->maps[l].family == MF_COSH)
        d *= fabs(s1[i]) < 700 ? 1 / cosh(s1[i]) : 0;
      double sc = ctl->atol + ctl->rtol *
        fmax(fmax(fabs(s0[i]), fabs(s1[i])), lscale[l]);
      err += (d / sc) * (d / sc);
    }
  }
  return sqrt(err / c->P);
}

/* Step-size factors of a pair whose error scales as h^(1 / expo): after an
 * accepted step (at most 5, no growth right after a rejection, and the
 * log-loss cap), and after a rejected one. */
static double grow_factor(double err, double expo, int rejected_last,
                          double fall)
{
  double fac = err == 0 ? 5 : 0.9 * pow(err, -expo);
  fac = fmin(rejected_last ? 1 : 5, fmax(0.2, fac));
  return fmin(fac, dlogloss_cap(fall));
}

/* The Rosenbrock pair's ceiling on its step after a loss rise: the next
 * steps grow to at most ROS_CEIL times the step whose loss rose, and the
 * ceiling lifts by ROS_CEIL_LIFT per accepted step. Late in a run on a
 * ReLU net the pair's error estimate passes steps four times longer than
 * those whose loss falls (at rtol 0.1 it reads 0.003 to 0.02 on a step,
 * and the next, grown by the log-loss cap's factor of about 4, raises the
 * log-loss by 5 to 15), so without a memory of the rise it grows back
 * into it two steps later and loses one attempt in three. The factors
 * were picked over bench/late_phase.R's ReLU runs at rtol 0.1 to 0.001
 * (five initial weights, both schemes): 0.5 and 1.05 cut the evaluations
 * to log-loss -1000 by 35 % on pnorm(3) and 18 % on powers(2, 3), and by
 * 1 to 3 % on euclidean and hypentropy, at median Q-margin errors of the
 * same size; 0.5 and 1.1 did as well, within 1 %. On the explicit pair
 * the same ceiling kept "auto" from the rises that move it to this pair
 * (runs of 100,000 evaluations), so it is this pair's only. */
#define ROS_CEIL 0.5
#define ROS_CEIL_LIFT 1.05

static double ceiling_grow(double h, double fac, double *ceil)
{
  double hn = h * fac;
  if (fac > 1 && hn > *ceil) hn = fmax(h, *ceil);
  *ceil *= ROS_CEIL_LIFT;
  return hn;
}

static double shrink_factor(double err, double expo)
{
  double fac = isfinite(err) ? fmax(0.1, 0.9 * pow(err, -expo)) : 0.25;
  return fmin(fac, 0.9);
}

/* The proximal integrator runs on a linear model, whose Hessian it forms
 * from rows of x, and on a diagonal network. */
static int prox_linear(const mf_net *net)
{
  return net->type == MF_NET_DENSE && net->nlayers == 1;
}

size_t mf_flow_work(const mf_net *net, int integrator)
{
  size_t P = (size_t) net->nparam, n = (size_t) net->n;
  int nh = mf_net_balance(net, NULL, NULL, NULL, NULL, NULL);
  /* g; the stages (7 for the adaptive pair, the new gradient for the
   * loss-scaled schedule, none for mirror descent, which evaluates into
   * g); the adaptive pair's stage state; the trial theta; the adaptive
   * pair's D work (the trial theta otherwise); balance rows; layer norms */
  int adaptive = integrator == MF_INT_ADAPTIVE;
  size_t stages = adaptive ? 7 : integrator == MF_INT_MD ? 0 : 1;
  size_t base = (2 + stages + (adaptive ? 2 : 0)) * P + 4 * (size_t) nh +
    (size_t) net->nlayers;
  /* the proximal integrator: stage state, the Newton update, the error
   * estimate, J, a block of scaled rows for its Hessian and the last
   * step's start */
  if (integrator == MF_INT_PROXIMAL)
    return base + 4 * P + P * P + (size_t) MF_BP_BLOCK * P;
  if (!adaptive) return base;
  size_t nj = (size_t) mf_flow_jacobian_rows(net);
  int mw = mf_net_max_width(net);
  /* the adaptive pair's s5, theta5 and dsum, and the Rosenbrock Jacobian:
   * d theta / dz and its scratch, margin gradients, its Gram matrix and
   * factor, a chunk of scaled rows, small vectors, back-propagation
   * scratch, weights copy. Mirror descent and the loss-scaled schedule
   * need none of it, which for a wide net is most of the memory (a
   * 784-1024-1024-1 net: P x nj = 15 million doubles). */
  return base + 6 * P + P * nj + 2 * nj * nj + (size_t) JAC_CHUNK * nj +
    2 * nj + 2 * (size_t) (mw > net->widths[0] ? mw : net->widths[0]) * nj +
    n;
}

/* The Rosenbrock-W stage's Jacobian: d z'/d z = -C D with C the
 * Gauss-Newton part of the Hessian of log Loss, the covariance of the
 * margin gradients a_i under the loss weights w_i, and D = d theta / d z.
 * C = B B^T with columns b_i = sqrt(w_i) (a_i - abar) over the points
 * whose weight is not negligible; W^{-1} is applied by the Woodbury
 * identity through the SPD matrix I + gamma h B^T D B. The dropped second
 * derivatives of the margins and points of negligible weight make this a
 * W-method: the order of the pair does not rest on the Jacobian. */
typedef struct {
  int ns, nmax;
  int direct;     /* P < ns: factor I + gh C D itself, P x P, by LU */
  int *idx;
  double *B, *K0, *M, *chunk, *y, *dz, *bpscratch, *wcopy, *dscratch;
} jac_t;

static int jac_build(ctx_t *c, jac_t *J, const double *theta)
{
  mf_net *net = c->net;
  int n = net->n, P = c->P;
  double wmax = 0;
  for (int i = 0; i < n; i++) wmax = fmax(wmax, net->w[i]);
  double thr = 1e-14 * wmax;
  int count = 0;
  for (int i = 0; i < n; i++) if (net->w[i] >= thr) count++;
  if (count > J->nmax) {
    /* keep the nmax largest weights */
    memcpy(J->wcopy, net->w, sizeof(double) * n);
    rPsort(J->wcopy, n, n - J->nmax);
    thr = J->wcopy[n - J->nmax];
  }
  int ns = 0;
  for (int i = 0; i < n && ns < J->nmax; i++)
    if (net->w[i] >= thr) J->idx[ns++] = i;
  J->ns = ns;
  mf_net_sample_grads(net, theta, J->idx, ns, J->B, J->bpscratch);

  /* centre by abar = sum_S w_i a_i and weight by sqrt(w_i) */
  double *abar = J->dscratch;
  memset(abar, 0, sizeof(double) * P);
  for (int s = 0; s < ns; s++) {
    double w = net->w[J->idx[s]];
    const double *a = J->B + (size_t) s * P;
    for (int k = 0; k < P; k++) abar[k] += w * a[k];
  }
  for (int s = 0; s < ns; s++) {
    double sw = sqrt(net->w[J->idx[s]]);
    double *a = J->B + (size_t) s * P;
    for (int k = 0; k < P; k++) a[k] = sw * (a[k] - abar[k]);
  }

  /* D = d theta / d z, per block */
  for (int l = 0; l < c->L; l++) {
    int o = net->offset[l], len = net->offset[l + 1] - o;
    int rc = mf_map_dtheta_dz(c->maps + l, theta + o, J->dz + o, len,
                              J->dscratch);
    if (rc) return rc;
  }

  /* With fewer parameters than points (linear models) the P x P matrix
   * C = B B^T is the cheaper one to form and factor. */
  J->direct = P < ns;
  if (J->direct) {
    const double one = 1, zero = 0;
    F77_CALL(dsyrk)("U", "N", &P, &ns, &one, J->B, &P, &zero, J->K0, &P
                    FCONE FCONE);
    for (int j = 0; j < P; j++)
      for (int i = j + 1; i < P; i++)
        J->K0[i + (size_t) j * P] = J->K0[j + (size_t) i * P];
    return MF_OK;
  }

  /* K0 = B^T D B, accumulated over chunks of rows scaled by sqrt(D) */
  const double one = 1;
  double beta = 0;
  for (int r0 = 0; r0 < P; r0 += JAC_CHUNK) {
    int kr = P - r0 < JAC_CHUNK ? P - r0 : JAC_CHUNK;
    for (int s = 0; s < ns; s++)
      for (int r = 0; r < kr; r++)
        J->chunk[r + (size_t) s * kr] =
          sqrt(J->dz[r0 + r]) * J->B[(size_t) s * P + r0 + r];
    if (ns > 0)
      F77_CALL(dsyrk)("U", "T", &ns, &kr, &one, J->chunk, &kr, &beta, J->K0,
                      &ns FCONE FCONE);
    beta = 1;
  }
  return MF_OK;
}

/* Factors M = I + gh K0; returns 0 on success. */
static int jac_factor(jac_t *J, double gh, int P)
{
  int ns = J->ns, info = 0;
  if (ns == 0) return 0;
  if (J->direct) {
    /* M = I + gh C D, general: LU with pivots in idx (free after build) */
    for (int j = 0; j < P; j++)
      for (int i = 0; i < P; i++)
        J->M[i + (size_t) j * P] = gh * J->K0[i + (size_t) j * P] * J->dz[j] +
          (i == j ? 1 : 0);
    F77_CALL(dgetrf)(&P, &P, J->M, &P, J->idx, &info);
    return info;
  }
  for (int j = 0; j < ns; j++)
    for (int i = 0; i <= j; i++)
      J->M[i + (size_t) j * ns] = gh * J->K0[i + (size_t) j * ns] +
        (i == j ? 1 : 0);
  F77_CALL(dpotrf)("U", &ns, J->M, &ns, &info FCONE);
  return info;
}

/* out = (I + gh C D)^{-1} v. */
static void jac_solve(ctx_t *c, jac_t *J, double gh, const double *v,
                      double *out)
{
  int P = c->P, ns = J->ns, inc = 1, info = 0;
  const double one = 1, zero = 0;
  if (ns == 0) {
    memcpy(out, v, sizeof(double) * P);
    return;
  }
  if (J->direct) {
    memcpy(out, v, sizeof(double) * P);
    F77_CALL(dgetrs)("N", &P, &inc, J->M, &P, J->idx, out, &P, &info FCONE);
    return;
  }
  double *dv = J->dscratch;
  for (int k = 0; k < P; k++) dv[k] = J->dz[k] * v[k];
  F77_CALL(dgemv)("T", &P, &ns, &one, J->B, &P, dv, &inc, &zero, J->y, &inc
                  FCONE);
  F77_CALL(dpotrs)("U", &ns, &inc, J->M, &ns, J->y, &ns, &info FCONE);
  memcpy(out, v, sizeof(double) * P);
  double mgh = -gh;
  F77_CALL(dgemv)("N", &P, &ns, &mgh, J->B, &P, J->y, &inc, &one, out, &inc
                  FCONE);
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

/* ---- the proximal integrator ------------------------------------------
 * Implicit Euler in normalised time, phi'(x) = phi'(theta) - h grad log
 * Loss(x): the Bregman proximal step argmin_x D_phi(x, theta) + h log
 * Loss(x), for a linear model or a diagonal network with one output under
 * the exponential loss. On a linear model (log-sum-exp of linear
 * functions) the problem is strictly convex, so one solution for any h
 * and no stability bound on h. Written divided by h, with h carried by its
 * log and the cosh map's dual in log space (mf_scaled_dual_diff()), so
 * that h, tau and e^|theta| may pass the double range: a cosh run to
 * log-loss -10000 needs tau ~ e^30000. The solve is Newton on
 *   F(x) = (phi'(x) - phi'(theta)) / h + g(x),
 *   J = diag(phi''(x) / h) + sum_j w_j a_j a_j^T - g g^T + E,
 * a_j the gradient of point j's margin and E the margins' own second
 * derivatives, -sum_j w_j Hess q_j: zero on a linear model, diagonal on a
 * diagonal network (prox_diag_curv()). J is the Hessian of the problem,
 * factored by LAPACK's dpotrf. Coordinates whose curvature over h is
 * enormous are frozen by it to rounding; those far below it (the small
 * cosh coordinates, which the explicit and Rosenbrock pairs choke on) go
 * to their quasi-equilibrium g_i = 0 in one step. The local error is
 * estimated as J^{-1} (g(x) - g(theta)) / 2, h/2 times the change of the
 * vector field filtered through the implicit matrix.
 *
 * On a diagonal network E is indefinite (negative on coordinates that the
 * flow grows), and so is J once h times such a coordinate's rate exceeds
 * its curvature; J is then factored by LAPACK's dsytrf (prox_factor()).
 * Newton still converges quadratically to the root of F, and the step
 * grows with tau as on a linear model: cosh on a 20-feature diagonal net
 * reaches log-loss -1000 in 4199 evaluations and -10000 in 9923 (1.3 s),
 * where the adaptive pairs stall near -95. A ReLU network is not offered:
 * its kinks leave F without a root where the solution slides along one,
 * and Newton does not converge there. */
/* Newton on a diagonal network gives up once an update, from the fifth
 * on, is not PROX_RHO_MAX times shorter than the one before, unless the
 * update is already below PROX_ND_SMALL in the error norm: before
 * quadratic convergence sets in the updates may wobble (3.9e-7, then
 * 4.4e-7, then 3.6e-9 ...). */
#define PROX_RHO_MAX 0.9
#define PROX_ND_SMALL 1e-3
/* It takes an update this small in the error norm as converged: late on
 * cosh the updates of a converged solve jitter at 1e-10 to 1e-8 of it
 * (rounding in F, whose terms reach e^30), above 1e-12 of the largest
 * coordinate, and 30 such iterations ended as a failure. Looser values,
 * 1e-6 and 1e-4, let the loss rise over a step. */
#define PROX_ND_DONE 1e-8
/* A diagonal network's proximal step is rejected when it moves a
 * coordinate across 0, unless the coordinate is below PROX_FLIP_SMALL of
 * the root-mean-square coordinate on both sides (rounding moves those;
 * counting them stalled a cosh run at log-loss -24). */
#define PROX_FLIP_SMALL 1e-6

typedef struct {
  double *dx, *est, *J, *chunk;
  double *prev, prev_log_h;   /* the last accepted step's start and log h */
  int have_prev;
  int indef, *ipiv;           /* J factored by dsytrf, its pivots */
} prox_t;

/* The map of parameter i (its layer's, or block's). */
static const mf_map *param_map(const ctx_t *c, int i)
{
  int l = 0;
  while (l + 1 < c->L && i >= c->net->offset[l + 1]) l++;
  return c->maps + l;
}

/* Accumulates S = sum_j w_j x_j x_j^T over the rows of x into the upper
 * triangle of the d x d matrix at S (leading dimension lds), MF_BP_BLOCK
 * rows at a time. */
static void prox_xgram(const ctx_t *c, int d, double *S, int lds,
                       prox_t *W)
{
  const double one = 1, zero = 0;
  int n = c->net->n;
  const double *X = c->net->x, *w = c->net->w;
  for (int j0 = 0; j0 < n; j0 += MF_BP_BLOCK) {
    int nb = n - j0 < MF_BP_BLOCK ? n - j0 : MF_BP_BLOCK;
    for (int k = 0; k < d; k++)
      for (int i = 0; i < nb; i++)
        W->chunk[i + (size_t) k * nb] =
          sqrt(w[j0 + i]) * X[j0 + i + (size_t) k * n];
    F77_CALL(dsyrk)("U", "T", &d, &nb, &one, W->chunk, &nb,
                    j0 == 0 ? &zero : &one, S, &lds FCONE FCONE);
  }
}

/* Puts sum_j w_j a_j a_j^T, a_j the gradient of point j's margin, in the
 * upper triangle of J. On a linear model a_j is a row of x. On a diagonal
 * network a_j = 2 y_j (u * x_j, -v * x_j), so the sum is 4 s_a s_b
 * theta_a theta_b S[k(a), k(b)], s the sign of the block and k(a) the
 * feature of parameter a: one d x d product instead of a 2d x 2d one. S
 * goes to J's strictly lower left block (rows d to 2d - 1, columns 0 to
 * d - 1), which the upper triangle never reads. */
static void prox_gram(const ctx_t *c, const double *x, prox_t *W)
{
  int P = c->P;
  if (prox_linear(c->net)) {
    prox_xgram(c, P, W->J, P, W);
    return;
  }
  int d = c->net->widths[0];
  const double *S = W->J + d;
  prox_xgram(c, d, W->J + d, P, W);
  /* column b = (block of b) d + kb, rows a = (block of a) d + ka <= b */
  for (int bb = 0; bb < 2; bb++)
    for (int kb = 0; kb < d; kb++) {
      int b = bb * d + kb;
      double sb = bb ? -2 * x[b] : 2 * x[b];
      double *Jb = W->J + (size_t) b * P;
      for (int ab = 0; ab <= bb; ab++) {
        int kmax = ab < bb ? d - 1 : kb;
        for (int ka = 0; ka <= kmax; ka++) {
          int a = ab * d + ka;
          double sa = ab ? -2 * x[a] : 2 * x[a];
          double sab = ka <= kb ? S[ka + (size_t) kb * P] :
            S[kb + (size_t) ka * P];
          Jb[a] = sa * sb * sab;
        }
      }
    }
}

/* A diagonal network's margins are sums of c_ik theta_k^2, so the part of
 * the Hessian of log Loss that the Gauss-Newton matrix drops, minus the
 * weighted sum of the margins' Hessians, is diagonal: -2 sum_i w_i c_ik,
 * which is g_k / theta_k. Written to d; P entries. */
static void prox_diag_curv(const ctx_t *c, double *d)
{
  const mf_net *net = c->net;
  int n = net->n, dd = net->widths[0];
  for (int k = 0; k < dd; k++) {
    double s = 0;
    const double *xk = net->x + (size_t) k * n;
    for (int i = 0; i < n; i++) s += net->w[i] * net->yb[i] * xk[i];
    d[k] = -2 * s;
    d[dd + k] = 2 * s;
  }
}

/* Builds and factors J at x (whose evaluation left net->w and gx): by
 * Cholesky when it is positive definite, as on a linear model, and on a
 * diagonal network by LAPACK's symmetric indefinite factorisation
 * (Bunch-Kaufman) otherwise. J is then indefinite because of coordinates
 * near 0 whose margins' term is negative (an unstable mode of the flow
 * that h times its rate exceeds 1): implicit Euler still has its root
 * there, a saddle of the proximal objective in those coordinates, which
 * Newton with the whole J finds. Keeping only the nonnegative part of
 * E instead (tried) made Newton wander off along those coordinates, and
 * late on cosh nearly every solve failed so (20-feature diagonal net,
 * log-loss -740 reached in 20 s and hardly more in 120 s). */
static int prox_factor(const ctx_t *c, const double *x, const double *gx,
                       double log_h, prox_t *W)
{
  int P = c->P, info = 0;
  int diag = c->net->type == MF_NET_DIAGONAL;
  if (diag) prox_diag_curv(c, W->est);
  W->indef = 0;
  for (int pass = 0; pass < (diag ? 2 : 1); pass++) {
    prox_gram(c, x, W);
    for (int k = 0; k < P; k++) {
      for (int i = 0; i <= k; i++) W->J[i + (size_t) k * P] -= gx[i] * gx[k];
      W->J[k + (size_t) k * P] += (diag ? W->est[k] : 0) +
        mf_scaled_curv(param_map(c, k), x[k], log_h);
    }
    if (pass == 0) {
      F77_CALL(dpotrf)("U", &P, W->J, &P, &info FCONE);
    } else {
      /* the block of scaled rows is free once J is built */
      int lwork = MF_BP_BLOCK * P;
      F77_CALL(dsytrf)("U", &P, W->J, &P, W->ipiv, W->chunk, &lwork, &info
                       FCONE);
      W->indef = 1;
    }
    if (info == 0) return 1;
  }
  return 0;
}

/* v <- J^{-1} v with the factor of prox_factor(); 0 on a LAPACK error. */
static int prox_lin_solve(prox_t *W, int P, double *v)
{
  int one = 1, info = 0;
  if (W->indef)
    F77_CALL(dsytrs)("U", &P, &one, W->J, &P, W->ipiv, v, &P, &info FCONE);
  else
    F77_CALL(dpotrs)("U", &P, &one, W->J, &P, v, &P, &info FCONE);
  return info == 0;
}

static double rms_of(const double *v, int P)
{
  double s = 0;
  for (int i = 0; i < P; i++) s += v[i] * v[i];
  return sqrt(s / P);
}

/* Root-mean-square of v against atol + rtol times the larger of |theta|,
 * |x| and the root-mean-square of theta: the norm of the proximal step's
 * error estimate and of its Newton updates on a diagonal network. */
static double prox_norm(const mf_control *ctl, int P, const double *theta,
                        const double *x, const double *v)
{
  double rms = rms_of(theta, P), err = 0;
  for (int i = 0; i < P; i++) {
    double sc = ctl->atol + ctl->rtol *
      fmax(fmax(fabs(theta[i]), fabs(x[i])), rms);
    err += (v[i] / sc) * (v[i] / sc);
  }
  return sqrt(err / P);
}

/* A diagonal network's flow never moves a coordinate across 0 (its
 * gradient is proportional to the coordinate), but implicit Euler does
 * where h times the rate of an unstable mode exceeds 1: its root there has
 * the other sign and the mode is damped instead of grown. Over one such
 * step a near-zero coordinate that the flow regrows stays dead, and the
 * run follows another trajectory (cosh, 20 features: Q-margin 0.39409 at
 * log-loss -1000 at rtol 0.03 and 0.003, where rtol 0.1, 0.01 and 1e-8
 * and the adaptive pair agree on 0.39524). 1 if the step from theta to x
 * does so, and is to be rejected. */
static int prox_crosses_zero(const double *theta, const double *x, int P)
{
  double small = PROX_FLIP_SMALL * rms_of(theta, P);
  for (int i = 0; i < P; i++)
    if (x[i] * theta[i] < 0 && fmax(fabs(x[i]), fabs(theta[i])) > small)
      return 1;
  return 0;
}

/* Newton: 1 and x, gx = g(x), *newL on convergence (updates below 1e-12
 * of the largest coordinate, or on a diagonal network below PROX_ND_DONE
 * in the error norm), 0 if it fails in 30 iterations, J cannot be
 * factored, or a value is not finite. Each update is capped in
 * max norm at 2 + max |theta|. The start is theta moved on by the last
 * accepted step, scaled by the ratio of the steps up to 1: early, and on
 * maps whose coordinates move like h, the move is about proportional to
 * h; late on the cosh map, where the large coordinates move like log tau
 * and h keeps a steady ratio to tau, it is about the same from step to
 * step. On a cosh run to log-loss -2000 this took the evaluations per
 * step from 7.7 to 3.1. */
static int prox_solve(ctx_t *c, const mf_control *ctl, const double *theta,
                      const double *state,
                      double log_h, double *x, double *gx, double *newL,
                      prox_t *W, double *evals)
{
  int P = c->P, linear = prox_linear(c->net);
  double cap = 0, prev_nd = INFINITY;
  for (int i = 0; i < P; i++) cap = fmax(cap, fabs(theta[i]));
  cap += 2;
  memcpy(x, theta, sizeof(double) * P);
  if (W->have_prev) {
    double r = exp(fmin(0, log_h - W->prev_log_h));
    for (int i = 0; i < P; i++) x[i] += r * (theta[i] - W->prev[i]);
  }
  for (int it = 0; it < 30; it++) {
    int ok = evaluate(c, x, gx, newL);
    (*evals)++;
    if (!ok) return 0;
    for (int i = 0; i < P; i++)
      W->dx[i] = -(mf_scaled_dual_diff(param_map(c, i), x[i], theta[i],
                                       state[i], log_h) + gx[i]);
    if (!prox_factor(c, x, gx, log_h, W)) return 0;
    if (!prox_lin_solve(W, P, W->dx)) return 0;
    double s = 0, xm = 0;
    for (int i = 0; i < P; i++) s = fmax(s, fabs(W->dx[i]));
    if (!isfinite(s)) return 0;
    double f = s > cap ? cap / s : 1;
    for (int i = 0; i < P; i++) {
      x[i] += f * W->dx[i];
      xm = fmax(xm, fabs(x[i]));
    }
    int done = s <= 1e-12 * fmax(1, xm);
    if (!linear) {
      /* the problem need not be convex here: stop a solve that no longer
       * contracts instead of spending 30 evaluations on it */
      double nd = f * prox_norm(ctl, P, theta, x, W->dx);
      if (!isfinite(nd)) return 0;
      if (it >= 4 && nd >= PROX_RHO_MAX * prev_nd && nd > PROX_ND_SMALL)
        return 0;
      done |= nd <= PROX_ND_DONE;
      prev_nd = nd;
    }
    if (done) {
      ok = evaluate(c, x, gx, newL);
      (*evals)++;
      return ok;
    }
  }
  return 0;
}

/* The error estimate of an accepted solve, in the norm of error_norm(). */
static double prox_error(ctx_t *c, const mf_control *ctl,
                         const double *theta, const double *g,
                         const double *x, const double *gx, double log_h,
                         prox_t *W)
{
  int P = c->P;
  /* On a diagonal network the factor of the solve's last Newton update,
   * taken within PROX_ND_DONE of x in the error norm, serves (a fifth of the factorisations of a
   * late cosh run saved); the linear model factors J at x itself. */
  if (prox_linear(c->net) && !prox_factor(c, x, gx, log_h, W))
    return INFINITY;
  for (int i = 0; i < P; i++) W->est[i] = 0.5 * (gx[i] - g[i]);
  if (!prox_lin_solve(W, P, W->est)) return INFINITY;
  double err = prox_norm(ctl, P, theta, x, W->est);
  return isfinite(err) ? err : INFINITY;
}

int mf_flow_run(mf_net *net, const mf_map *maps, const mf_control *ctl,
                double *theta, double *state, double *work, int *iwork,
                mf_result *res, mf_poll poll, void *poll_ctx)
{
  int P = net->nparam, L = net->nlayers;
  int nh = mf_net_balance(net, NULL, NULL, NULL, NULL, NULL);
  /* laid out as mf_flow_work() counts it */
  int adaptive = ctl->integrator == MF_INT_ADAPTIVE;
  int md = ctl->integrator == MF_INT_MD;
  int prox = ctl->integrator == MF_INT_PROXIMAL;
  double *g = work, *kst = g + P,
    *ss = kst + (adaptive ? 7 : md ? 0 : 1) * (size_t) P,
    *sth = ss + (adaptive || prox ? P : 0), *dwork = sth + P,
    *bal = dwork + (adaptive ? P : 0), *bscale = bal + 2 * nh,
    *lnorm = bscale + 2 * nh, *s5 = NULL, *th5 = NULL, *dsum = NULL;
  /* Mirror descent and the loss-scaled schedule keep no trial state: the
   * trial theta is mapped in place from state + step, and an accepted
   * step adds the same step to the state (commit_step(), bit for bit the
   * trial state). The balance's map derivatives go to the trial theta
   * buffer, free whenever a balance is taken (at the start, before any
   * step, and at checkpoints, after the accepted theta has been copied
   * out). Mirror descent also evaluates the new gradient straight into g,
   * after the state has taken the step: it never steps again from the old
   * gradient. */
  if (!adaptive) dwork = sth;
  ctx_t c = {net, maps, P, L, nh, bal, bscale, dwork, lnorm};
  jac_t J;
  memset(&J, 0, sizeof J);
  if (adaptive) {
    s5 = lnorm + L;
    th5 = s5 + P;
    dsum = th5 + P;
    int mw = mf_net_max_width(net);
    if (net->widths[0] > mw) mw = net->widths[0];
    size_t nj = (size_t) mf_flow_jacobian_rows(net);
    double *p = dsum + P;
    J.nmax = (int) nj;
    J.ns = 0;
    J.idx = iwork;
    J.dz = p;
    p += P;
    J.dscratch = p;
    p += 2 * (size_t) P;
    J.B = p;
    p += (size_t) P * nj;
    J.K0 = p;
    p += nj * nj;
    J.M = p;
    p += nj * nj;
    J.chunk = p;
    p += (size_t) JAC_CHUNK * nj;
    J.y = p;
    p += 2 * nj;
    J.bpscratch = p;
    p += 2 * (size_t) mw * nj;
    J.wcopy = p;
  }
  /* Limitation: late cosh runs of the adaptive pairs stall (log-loss -95
   * at tau = e^313 on the built-in data, linear model); the proximal
   * integrator (above) takes linear models and diagonal networks to
   * -10000, but ReLU networks still stall. The cause is not the
   * double range: with h and tau carried by their logs (tried in an
   * earlier session, not kept) the run stalls at the same step.
   * At that point the small coordinates (|theta| 2 to 25, d theta / d z
   * = 1 / cosh theta from 0.3 down to 1e-11, against h ~ tau ~ e^300)
   * still have normalised gradients of 0.1 to 0.5, so they are far from
   * the quasi-equilibrium g_S = 0 the Rosenbrock W-stage drives them
   * to; as h -> 0 its Newton-like correction (gamma C D)^-1 F on them
   * does not vanish, and it raises the log-loss from -95 to -60, so every
   * step is rejected until h < 1e-15 tau. Cutting h back to 1 after five
   * rejections in a row (tried, not kept) lets the small coordinates
   * relax and the run go on, but the same failure returns every ~35
   * units of log tau (~950
   * steps for 11 units of log-loss), far too slow for log-loss -10000.
   * What would lift it for ReLU networks: a proximal step whose solve
   * handles the kinks (their sliding motion leaves its equation without
   * a root), with the margins' second derivatives in its Hessian as on
   * the diagonal network. */
  prox_t PW;
  memset(&PW, 0, sizeof PW);
  if (prox) {
    int custom = 0;
    for (int l = 0; l < L; l++) custom |= maps[l].family == MF_CUSTOM;
    if (net->nout != 1 || net->loss != MF_LOSS_EXP || custom ||
        !(prox_linear(net) || net->type == MF_NET_DIAGONAL))
      return MF_ERR_NONFINITE;   /* the entry point refuses these first */
    PW.dx = lnorm + L;
    PW.est = PW.dx + P;
    PW.J = PW.est + P;
    PW.chunk = PW.J + (size_t) P * P;
    PW.prev = PW.chunk + (size_t) MF_BP_BLOCK * P;
    PW.ipiv = iwork;   /* max(n, P) ints */
  }
  /* the proximal integrator's step and normalised time, by their logs */
  double log_h = log(ctl->eta), log_tau = -INFINITY;
  double lscale[MF_MAX_LAYERS];
  int jac_valid = 0;
  const double ros_gamma = 1 + 1 / M_SQRT2;
  /* "auto" starts with the explicit pair, which is cheaper per step and of
   * higher order, and moves to the Rosenbrock pair once Hairer's stiffness
   * test (h times the estimated spectral radius above 3.25, stages 6 and 7
   * both being at c = 1), or a rise of the loss on a step of small
   * estimated error, has held on 15 more steps than it failed on accepted
   * ones. A rise of the loss counts three times: the estimate of the
   * spectral radius is noisy, but the exact flow never raises the loss,
   * and a rise that the error estimate passed is the explicit pair at its
   * stability limit along a direction the estimate does not see. Counted
   * once, the explicit pair went on rejecting two steps in three at loose
   * tolerances: over bench/late_phase.R's ladder of tolerances on the
   * linear model and the diagonal net the evaluations to log-loss -1000
   * fell from 386,046 to 78,030 at the same Q-margin accuracy, and on the
   * 20-10-1 ReLU net at rtol 0.1 (five initial weights, euclidean map)
   * from 5,460 to 4,032. Counting a rise fifteen times (a switch at the
   * first) saved more there, but on a 100-32-1 ReLU net at rtol 1e-4,
   * where the Rosenbrock pair's Jacobian over 200 points is dear, it
   * halved the log time reached in five times the seconds. */
  int use_ros = ctl->scheme == MF_SCHEME_ROSENBROCK, stiff_count = 0;

  double t0 = now_seconds(), last_poll = t0;
  int rc;

  res->stop = MF_STOP_NONE;
  res->nrow = 0;
  res->steps = res->evals = res->rejected = 0;
  res->tau = 0;
  res->log_time = -INFINITY;

  rc = all_theta_to_state(&c, theta, state);
  if (rc) return rc;
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
  int rejected_last = 0, unchanged = 0, tiny_run = 0;
  double ros_ceil = INFINITY;   /* see ceiling_grow() */

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

    double newL, step_log_dt, dtau, smax = 0, dmax = 0;
    int accepted = 0, committed = 0;

    /* each layer's root-mean-square state size, for error_norm() */
    if (ctl->integrator == MF_INT_ADAPTIVE) {
      for (int l = 0; l < L; l++) {
        int o = net->offset[l], e = net->offset[l + 1];
        double acc = 0;
        for (int i = o; i < e; i++) acc += state[i] * state[i];
        lscale[l] = sqrt(acc / (e - o));
      }
    }

    if (md) {
      /* z <- z - eta grad Loss, with grad Loss = Loss * g */
      double a = -exp(log(ctl->eta) + logL);
      all_state_add(&c, state, g, a, sth);
      rc = all_state_to_theta(&c, sth, sth);
      if (rc) return rc;
      commit_step(&c, state, g, a, &smax, &dmax);
      if (!evaluate(&c, sth, g, &newL)) {
        /* back to the state of theta, the last finite point (through the
         * map, so to its rounding) */
        rc = all_theta_to_state(&c, theta, state);
        if (rc) return rc;
        res->stop = MF_STOP_NONFINITE;
        break;
      }
      res->evals++;
      dtau = ctl->eta * exp(logL);
      step_log_dt = log(ctl->eta);
      accepted = committed = 1;
      h = ctl->eta;
    } else if (ctl->integrator == MF_INT_LOSS_SCALED) {
      /* z <- z - h grad Loss / Loss; real time step h / Loss */
      all_state_add(&c, state, g, -h, sth);
      rc = all_state_to_theta(&c, sth, sth);
      if (rc) return rc;
      int ok = evaluate(&c, sth, kst, &newL);
      res->evals++;
      if (ok && newL < logL) {
        commit_step(&c, state, g, -h, &smax, &dmax);
        double *t = g;    /* the new gradient becomes the current one */
        g = kst;
        kst = t;
        accepted = committed = 1;
        dtau = h;
        step_log_dt = log(h) - logL;
      } else {
        h /= ctl->step_down;
        res->rejected++;
      }
    } else if (prox) {
      double err = INFINITY;
      int ok = prox_solve(&c, ctl, theta, state, log_h, sth, kst, &newL, &PW,
                          &res->evals);
      if (ok) err = prox_error(&c, ctl, theta, g, sth, kst, log_h, &PW);
      if (ok && net->type == MF_NET_DIAGONAL &&
          prox_crosses_zero(theta, sth, P))
        err = fmax(err, 2);
      /* the exact flow never raises the loss */
      if (ok && !(newL <= logL + 1e-12 * fmax(1, fabs(logL))))
        err = fmax(err, 2);
      if (ok && err <= 1) {
        rc = all_theta_to_state(&c, sth, ss);
        if (rc) return rc;
        memcpy(PW.prev, theta, sizeof(double) * P);
        PW.prev_log_h = log_h;
        PW.have_prev = 1;
        accepted = 1;
        dtau = 0;
        double fall = logL - newL;
        step_log_dt = log_h - logL + log_expm1_ratio(fall);
        log_tau = logaddexp(log_tau, log_h);
        res->step_size = exp(log_h);
        /* no stability bound: the step grows as the error allows, up to
         * 1000 times a step, within the log-loss cap */
        double fac = err == 0 ? 1e3 : 0.9 / sqrt(err);
        fac = fmin(rejected_last ? 1 : 1e3, fmax(0.2, fac));
        log_h += log(fmin(fac, fall > 0 ? dlogloss_cap(fall) : 1e3));
        rejected_last = 0;
      } else {
        log_h += log(shrink_factor(err, 0.5));
        res->rejected++;
        rejected_last = 1;
      }
    } else if (use_ros) {
      /* ROS2 (Verwer et al. 1999), second order for any W:
       *   W k1 = F(z),  W k2 = F(z + h k1) - 2 k1,
       *   z+ = z + h (3/2 k1 + 1/2 k2), error h/2 (k1 + k2),
       * with W = I - gamma h J. kst holds k1, k2, F and scratch. */
      double *k1 = kst, *k2 = kst + P, *F = kst + 2 * (size_t) P;
      double gh = ros_gamma * h;
      int ok = 1, loss_rose = 0;
      if (!jac_valid) {
        rc = jac_build(&c, &J, theta);
        if (rc) return rc;
        jac_valid = 1;
      }
      if (jac_factor(&J, gh, P)) ok = 0;
      double err = INFINITY;
      if (ok) {
        for (int i = 0; i < P; i++) F[i] = -g[i];
        jac_solve(&c, &J, gh, F, k1);
        all_state_add(&c, state, k1, h, ss);
        rc = all_state_to_theta(&c, ss, sth);
        if (rc) return rc;
        ok = evaluate(&c, sth, F, &newL);
        res->evals++;
      }
      if (ok) {
        for (int i = 0; i < P; i++) F[i] = -F[i] - 2 * k1[i];
        jac_solve(&c, &J, gh, F, k2);
        for (int i = 0; i < P; i++) dsum[i] = 1.5 * k1[i] + 0.5 * k2[i];
        all_state_add(&c, state, dsum, h, ss);
        rc = all_state_to_theta(&c, ss, sth);
        if (rc) return rc;
        /* Shampine's filter: the embedded difference of a stiff mode that
         * is not exactly at its quasi-equilibrium stays of the size of its
         * force over its rate however small h is; W^{-1} damps it */
        double *ev = kst + 3 * (size_t) P, *ef = kst + 4 * (size_t) P;
        for (int i = 0; i < P; i++) ev[i] = 0.5 * h * (k1[i] + k2[i]);
        jac_solve(&c, &J, gh, ev, ef);
        err = error_norm(&c, ctl, state, ss, ef, lscale);
        if (!all_finite(ss, P)) err = INFINITY;
        if (isfinite(err)) {
          ok = evaluate(&c, sth, kst, &newL);
          res->evals++;
          if (!ok) err = INFINITY;
          else if (newL > logL + 1e-12 * fmax(1, fabs(logL))) {
            loss_rose = err <= 1;
            err = fmax(err, 2);
          }
        }
      }
      if (ok && err <= 1) {
        accepted = 1;
        dtau = h;
        step_log_dt = log(h) - logL + log_expm1_ratio(logL - newL);
        double fac = grow_factor(err, 0.5, rejected_last, logL - newL);
        res->step_size = h;
        h = ceiling_grow(h, fac, &ros_ceil);
        rejected_last = 0;
        jac_valid = 0;
      } else {
        /* A rise of the loss on a step whose error estimate passed says
         * nothing of the step's size: the step crossed a kink or left the
         * region where the linearisation holds, and the estimate's factor
         * (0.64 at err = 2) took runs of five to eight rejections in a row
         * to get back below it on ReLU nets. A quarter of the step gets
         * there in one or two. */
        if (loss_rose) ros_ceil = fmin(ros_ceil, ROS_CEIL * h);
        h *= loss_rose ? 0.25 : shrink_factor(err, 0.5);
        res->rejected++;
        rejected_last = 1;
      }
    } else {
      /* Dormand-Prince stages; kst + i P holds k_i = -g(stage i), and
       * k_1 is the gradient already at hand (first same as last). */
      double *k1 = kst;
      for (int i = 0; i < P; i++) k1[i] = -g[i];
      int ok = 1, loss_rose = 0;
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
        for (int i = 0; i < P; i++) {
          double d = 0;
          for (int j = 0; j < 7; j++) d += DP_E[j] * kst[(size_t) j * P + i];
          dsum[i] = d * h;
        }
        err = error_norm(&c, ctl, state, s5, dsum, lscale);
        /* the exact flow never raises the loss */
        if (newL > logL + 1e-12 * fmax(1, fabs(logL))) {
          loss_rose = err <= 1;
          err = fmax(err, 2);
        }
      }
      /* The stiffness test runs on rejected steps too, and a step the
       * error estimate passes but whose loss rose counts as stiff: late
       * in a run at a loose tolerance the estimate allows errors in the
       * state that move the log-loss by more than one step lowers it (the
       * softmax over margins is stiff along directions the test on the
       * last stages does not see), and the explicit pair then rejects
       * two steps in three at h rho of 1 to 2 (a 20-10-1 linear net at
       * rtol 1e-2: 456,000 evaluations to log-loss -1000 against 430 for
       * the Rosenbrock pair). */
      if (ok && isfinite(err) && ctl->scheme == MF_SCHEME_AUTO) {
        double num = 0, den = 0;
        for (int i = 0; i < P; i++) {
          double dk = kst[(size_t) 6 * P + i] - kst[(size_t) 5 * P + i];
          double dy = 0;
          for (int j = 0; j < 6; j++)
            dy += (DP_A[6][j] - DP_A[5][j]) * kst[(size_t) j * P + i];
          num += dk * dk;
          den += dy * dy;
        }
        double hrho = den > 0 ? sqrt(num / den) : 0;
        if (hrho > 3.25 || loss_rose) {
          stiff_count += loss_rose ? 3 : 1;
          if (stiff_count >= 15) use_ros = 1;
        } else if (stiff_count > 0 && err <= 1) {
          stiff_count--;
        }
      }
      if (ok && err <= 1) {
        accepted = 1;
        dtau = h;
        step_log_dt = log(h) - logL + log_expm1_ratio(logL - newL);
        double fac = grow_factor(err, 0.2, rejected_last, logL - newL);
        /* move the accepted stage into place below; h for next step */
        memcpy(ss, s5, sizeof(double) * P);
        memcpy(sth, th5, sizeof(double) * P);
        for (int i = 0; i < P; i++) kst[i] = -kst[(size_t) 6 * P + i];
        res->step_size = h;
        h *= fac;
        rejected_last = 0;
      } else {
        h *= shrink_factor(err, 0.2);
        res->rejected++;
        rejected_last = 1;
      }
    }

    if (accepted) {
      /* On data the network cannot separate the flow settles at a finite
       * minimiser: the state stops changing to rounding while the step
       * grows. Twenty accepted steps in a row that move no coordinate by
       * more than 16 ulp of the largest one (rounding jitters small
       * coordinates by more than their own ulp) end the run as converged.
       * On separable data the state grows without bound and this cannot
       * hold for long. */
      if (!committed) {
        for (int i = 0; i < P; i++) {
          smax = fmax(smax, fabs(state[i]));
          dmax = fmax(dmax, fabs(ss[i] - state[i]));
        }
        memcpy(state, ss, sizeof(double) * P);
        memcpy(g, kst, sizeof(double) * P);
      }
      unchanged = dmax <= 16 * DBL_EPSILON * smax ? unchanged + 1 : 0;
      memcpy(theta, sth, sizeof(double) * P);
      logL = newL;
      res->steps++;
      if (prox) res->tau = exp(log_tau);   /* may pass the double range */
      else res->tau += dtau;
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
    if (unchanged >= 20) {
      res->stop = MF_STOP_CONVERGED;
      break;
    }
    /* Where the test above does not catch a settled flow (the state still
     * moving by rounding), tau grows geometrically; near the top of the
     * double range (after about 600 accepted steps on 80 XOR points)
     * steps would overflow and be rejected by the million, so the run
     * stops there as stalled. */
    int stalled = prox ?
      !(log_h > -690) || log_h < log(1e-15) + fmax(0, log_tau) :
      !(h > 1e-300) || !(res->tau < 1e300) ||
      (ctl->integrator != MF_INT_MD && h < 1e-15 * fmax(1, res->tau));
    /* The adaptive pairs can also crawl: on a ReLU net whose flow slides
     * along a kink (a unit that lowers a point's margin held at that
     * point's kink by the pull of the others), every step that crosses
     * raises the loss and is cut, and the run goes on at steps of 1e-11
     * of the normalised time until its time limit (a 20-10-1 net at rtol
     * 0.03 from one of five initial weights: 25,000 evaluations in 120 s
     * at log-loss 0.08). Steps below MF_TINY_STEP of the normalised time
     * (or of 1, before it reaches 1) for MF_TINY_RUN attempts in a row
     * stop the run as stalled. Healthy runs stay far above: over the
     * linear model, the diagonal and the 20-10-1 ReLU net of
     * bench/late_phase.R with four maps, at rtol 1e-8 (1e-4 on ReLU) and
     * 0.1, the smallest step at a checkpoint was 4.6e-6 of it. */
    if (adaptive) {
      tiny_run = h < MF_TINY_STEP * fmax(1, res->tau) ? tiny_run + 1 : 0;
      if (tiny_run >= MF_TINY_RUN) stalled = 1;
    }
    if (stalled) {
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
