/* Max-margin problems min Q(w) s.t. y_i <x_i, w> >= 1 for the l1, l2, lp
 * and l-infinity gauges: one primal-dual interior-point core (Mehrotra
 * predictor-corrector) on plain arrays, and its .Call wrapper at the end. */

#include <math.h>
#include <string.h>
#include <float.h>
#define USE_FC_LEN_T
#include <R.h>
#include <Rinternals.h>
#include <R_ext/BLAS.h>
#include <R_ext/Lapack.h>
#include <R_ext/Utils.h>
#ifndef FCONE
#define FCONE
#endif
#ifdef _OPENMP
#include <omp.h>
#endif
#include "mirrorflow.h"
#include "entry_points.h"

/* Gauge kinds; the integer codes are shared with R/max_margin.R. */
enum { MM_L1 = 0, MM_L2 = 1, MM_LINF = 2, MM_LP = 3 };

/* Outcomes of the core. */
enum { MM_OK = 0, MM_NOT_SEPARABLE = 1, MM_MAXIT = 2, MM_LAPACK = 3,
       MM_NONFINITE = 4, MM_STALLED = 5 };

typedef struct {
  int n, d, kind, maxit;
  double p, q;        /* exponent and its conjugate (lp, l2) */
  int uparam;         /* smooth gauges: iterate on u = grad f(w) (p <= 2) */
  const double *A;    /* n x d, row i = y_i x_i / scale */
  double tol;
  /* iterates; t, s1, s2, al, be only for the linear programs */
  double *w, *u, *t, *s, *lam, *s1, *s2, *al, *be;
  /* residuals and directions */
  double *rd, *rt, *rp, *rp1, *rp2;
  double *dw, *du, *dt, *ds, *dlam, *ds1, *ds2, *dal, *dbe;
  double *daff_s, *daff_lam, *daff_s1, *daff_s2, *daff_al, *daff_be;
  double *g, *h;      /* curvature factors of the smooth objective */
  double *B, *M, *rhs, *tmpn, *tmpd, *cvec;
  int mt;             /* length of t: d (l1), 1 (linf), 0 (smooth) */
  int dual;           /* Newton system in the n multipliers, not in w */
  double *kinv, *evec, *tmpn2, *tmpd2;  /* for the n x n form */
  double egam;        /* l-infinity: weight of the rank-one part of K^-1 */
  double *extra;      /* for gram() with threads; may be NULL */
} ipm_t;

/* Newton matrix forms: the d x d form in w, or the n x n form in the
 * multipliers; MM_FORM_AUTO takes the smaller. */
enum { MM_FORM_AUTO = 0, MM_FORM_PRIMAL = 1, MM_FORM_DUAL = 2 };

static size_t mm_work_doubles(int n, int d, int dual)
{
  size_t m = dual ? (size_t) n * n : (size_t) d * d;
  return (size_t) n * d + m + 40 * ((size_t) n + d) + 16;
}

static double *take(double **pool, size_t len)
{
  double *out = *pool;
  *pool += len;
  return out;
}

static void setup(ipm_t *P, double *work)
{
  int n = P->n, d = P->d;
  double *pool = work;
  /* every vector starts defined: the first convergence test reads A' lam
   * from tmpd before any step has written it */
  memset(work, 0, sizeof(double) * mm_work_doubles(n, d, P->dual));
  P->w = take(&pool, d); P->u = take(&pool, d); P->t = take(&pool, d);
  P->s = take(&pool, n); P->lam = take(&pool, n);
  P->s1 = take(&pool, d); P->s2 = take(&pool, d);
  P->al = take(&pool, d); P->be = take(&pool, d);
  P->rd = take(&pool, d); P->rt = take(&pool, d); P->rp = take(&pool, n);
  P->rp1 = take(&pool, d); P->rp2 = take(&pool, d);
  P->dw = take(&pool, d); P->du = take(&pool, d); P->dt = take(&pool, d);
  P->ds = take(&pool, n); P->dlam = take(&pool, n);
  P->ds1 = take(&pool, d); P->ds2 = take(&pool, d);
  P->dal = take(&pool, d); P->dbe = take(&pool, d);
  P->daff_s = take(&pool, n); P->daff_lam = take(&pool, n);
  P->daff_s1 = take(&pool, d); P->daff_s2 = take(&pool, d);
  P->daff_al = take(&pool, d); P->daff_be = take(&pool, d);
  P->g = take(&pool, d); P->h = take(&pool, d);
  P->rhs = take(&pool, d); P->tmpn = take(&pool, n); P->tmpd = take(&pool, d);
  P->cvec = take(&pool, d);
  P->kinv = take(&pool, d); P->evec = take(&pool, d);
  P->tmpd2 = take(&pool, d); P->tmpn2 = take(&pool, n);
  P->B = take(&pool, (size_t) n * d);
  P->M = take(&pool, P->dual ? (size_t) n * n : (size_t) d * d);
}

/* Threads for the Gram matrices below, set by each entry point from its
 * control vector before any solve. */
static int mm_threads = 1;

/* The upper triangle of M = B' B ("T": B is k x m) or M = B B' ("N": B is
 * m x k), m x m with leading dimension m, from B with leading dimension
 * ldb. With several threads the sum over k is cut into one slice each:
 * slice 0 goes to M, the others to their own m x m blocks of `extra`
 * ((threads - 1) m^2 doubles), added to M at the end. With reference BLAS
 * this product is most of an iteration's time, and the slices share no
 * memory that is written. */
static void gram(const char *trans, int m, int k, const double *B, int ldb,
                 double *M, double *extra, int threads)
{
  double one = 1, zero = 0;
  if (threads > k / 64) threads = k / 64;
  threads = mf_omp_threads(threads);
  if (threads < 2 || extra == NULL) {
    F77_CALL(dsyrk)("U", trans, &m, &k, &one, B, &ldb, &zero, M, &m
                    FCONE FCONE);
    return;
  }
  int tr = trans[0] == 'T';
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static)
#endif
  for (int t = 0; t < threads; t++) {
    int k0 = (int) ((long long) k * t / threads);
    int kt = (int) ((long long) k * (t + 1) / threads) - k0;
    const double *Bt = tr ? B + k0 : B + (size_t) k0 * ldb;
    double *Mt = t == 0 ? M : extra + (size_t) (t - 1) * m * m;
    double o = 1, z = 0;
    F77_CALL(dsyrk)("U", trans, &m, &kt, &o, Bt, &ldb, &z, Mt, &m
                    FCONE FCONE);
  }
  for (int t = 1; t < threads; t++) {
    const double *E = extra + (size_t) (t - 1) * m * m;
    for (int j = 0; j < m; j++) {
      size_t c = (size_t) j * m;
      for (int i = 0; i <= j; i++) M[i + c] += E[i + c];
    }
  }
}

/* out = A v (n) or A' v (d). */
static void amul(const ipm_t *P, const double *v, double *out)
{
  int inc = 1;
  double one = 1, zero = 0;
  F77_CALL(dgemv)("N", &P->n, &P->d, &one, P->A, &P->n, v, &inc, &zero, out,
                  &inc FCONE);
}

static void atmul(const ipm_t *P, const double *v, double *out)
{
  int inc = 1;
  double one = 1, zero = 0;
  F77_CALL(dgemv)("T", &P->n, &P->d, &one, P->A, &P->n, v, &inc, &zero, out,
                  &inc FCONE);
}

static double sgn(double x)
{
  return (x > 0) - (x < 0);
}

/* Smooth gauges, objective f(w) = (1/p) sum |w_k|^p. With u-param (p <= 2)
 * the iterate is u and w = grad f*(u) = sign(u) |u|^(q-1), whose derivative
 * g = (q-1)|u|^(q-2) is bounded because q >= 2; with w-param (p > 2) the
 * curvature h = (p-1)|w|^(p-2) is bounded instead. Either way Newton sees a
 * twice continuously differentiable system. */
static void smooth_update(ipm_t *P)
{
  int d = P->d;
  if (P->uparam) {
    for (int k = 0; k < d; k++) {
      double a = fabs(P->u[k]);
      P->w[k] = P->q == 2 ? P->u[k] : sgn(P->u[k]) * pow(a, P->q - 1);
      P->g[k] = P->q == 2 ? 1 : (P->q - 1) * pow(a, P->q - 2);
    }
  } else {
    double hmax = 0;
    for (int k = 0; k < d; k++) {
      double a = fabs(P->w[k]);
      P->u[k] = sgn(P->w[k]) * pow(a, P->p - 1);
      P->h[k] = (P->p - 1) * pow(a, P->p - 2);
      if (P->h[k] > hmax) hmax = P->h[k];
    }
    /* The curvature vanishes at w_k = 0 for p > 2; a floor far below the
     * others keeps the Newton matrix definite and moves only the step. */
    double floor_h = 1e-14 * (hmax > 0 ? hmax : 1);
    for (int k = 0; k < d; k++)
      if (P->h[k] < floor_h) P->h[k] = floor_h;
  }
}

/* Residuals of the KKT system at the current iterate. */
static void residuals(ipm_t *P)
{
  int n = P->n, d = P->d;
  atmul(P, P->lam, P->tmpd);
  amul(P, P->w, P->rp);
  for (int i = 0; i < n; i++) P->rp[i] -= 1 + P->s[i];
  if (P->mt == 0) {
    for (int k = 0; k < d; k++) P->rd[k] = P->u[k] - P->tmpd[k];
    return;
  }
  double tsum = 0;
  for (int k = 0; k < d; k++) {
    double tk = P->mt == 1 ? P->t[0] : P->t[k];
    P->rd[k] = -P->tmpd[k] + P->al[k] - P->be[k];
    P->rp1[k] = tk - P->w[k] - P->s1[k];
    P->rp2[k] = tk + P->w[k] - P->s2[k];
    if (P->mt == P->d) P->rt[k] = 1 - P->al[k] - P->be[k];
    tsum += P->al[k] + P->be[k];
  }
  if (P->mt == 1) P->rt[0] = 1 - tsum;
}

/* The reduced Newton system in w is (K + A' W A) dw = r, with W = lam / s
 * and K the curvature of the objective block after the bounds (and t) are
 * eliminated: diagonal, or diagonal less a rank one for l-infinity.
 * factor_dual() factors instead the n x n matrix N = W^-1 + A K^-1 A', and
 * solve_dual() recovers dw = K^-1 (r - A' v) from N v = A K^-1 r. Besides
 * being smaller when n < d, N stays well conditioned near the solution
 * when the active constraints are nearly d in number: there A' W A has
 * eigenvalues of order 1 / mu on the active rows' span and none on its
 * complement, which costs the d x d form most of its digits, while N
 * carries the rows' own conditioning on the active block and a dominant
 * diagonal s / lam on the others. */
static int factor_dual(ipm_t *P)
{
  int n = P->n, d = P->d, info = 0, inc = 1;
  double tau = 0, schur = 0;
  for (int k = 0; k < d; k++) {
    if (P->mt == 0) {
      P->kinv[k] = P->uparam ? P->g[k] : 1 / P->h[k];
      continue;
    }
    double D1 = P->al[k] / P->s1[k], D2 = P->be[k] / P->s2[k];
    if (P->mt == d) {
      P->kinv[k] = (D1 + D2) / (4 * D1 * D2);
    } else {
      P->kinv[k] = 1 / (D1 + D2);
      P->cvec[k] = D2 - D1;
      P->evec[k] = P->kinv[k] * P->cvec[k];
      tau += D1 + D2;
      /* tau - c' diag(D1 + D2)^-1 c, summed without the cancellation */
      schur += 4 * D1 * D2 / (D1 + D2);
    }
  }
  for (int k = 0; k < d; k++) {
    double ck = sqrt(P->kinv[k]);
    const double *a = P->A + (size_t) k * n;
    double *b = P->B + (size_t) k * n;
    for (int i = 0; i < n; i++) b[i] = a[i] * ck;
  }
  gram("N", n, d, P->B, n, P->M, P->extra, mm_threads);
  if (P->mt == 1) {
    /* Sherman-Morrison: K^-1 = Dinv + e e' / schur with e = Dinv c */
    P->h[0] = tau;
    P->egam = 1 / schur;
    amul(P, P->evec, P->tmpn);
    F77_CALL(dsyr)("U", &n, &P->egam, P->tmpn, &inc, P->M, &n FCONE);
  }
  for (int i = 0; i < n; i++) P->M[i + (size_t) i * n] += P->s[i] / P->lam[i];
  F77_CALL(dpotrf)("U", &n, P->M, &n, &info FCONE);
  return info;
}

/* out = K^-1 v */
static void kinv_apply(const ipm_t *P, const double *v, double *out)
{
  double ev = 0;
  for (int k = 0; k < P->d; k++) {
    out[k] = P->kinv[k] * v[k];
    ev += P->evec[k] * v[k];
  }
  if (P->mt == 1)
    for (int k = 0; k < P->d; k++) out[k] += P->egam * ev * P->evec[k];
}

/* The n x n solve, given r0, the part of the reduced right-hand side r
 * that does not come through A' (r = A' gvec + r0). The multipliers' step
 * comes out of N directly, N dlam = W^-1 gvec - A K^-1 r0 with W^-1 gvec
 * = -(cs / lam + rp), and dw = K^-1 (A' dlam + r0): no large quantity
 * cancels, where recovering dlam from A dw would amplify the rounding of
 * dw by lam / s. */
static int solve_dual(ipm_t *P, const double *cs)
{
  int n = P->n, d = P->d, inc = 1, info = 0;
  kinv_apply(P, P->rhs, P->tmpd2);
  amul(P, P->tmpd2, P->tmpn2);
  for (int i = 0; i < n; i++)
    P->dlam[i] = -(cs[i] / P->lam[i] + P->rp[i]) - P->tmpn2[i];
  F77_CALL(dpotrs)("U", &n, &inc, P->M, &n, P->dlam, &n, &info FCONE);
  if (info != 0) return info;
  atmul(P, P->dlam, P->tmpd2);
  for (int k = 0; k < d; k++) P->tmpd2[k] += P->rhs[k];
  kinv_apply(P, P->tmpd2, P->dw);
  return 0;
}

/* Builds and factors the reduced Newton matrix in w (or u): d x d, or the
 * n x n form of factor_dual(). */
static int factor(ipm_t *P)
{
  if (P->dual) return factor_dual(P);
  int n = P->n, d = P->d, info = 0;
  for (int i = 0; i < n; i++) P->tmpn[i] = sqrt(P->lam[i] / P->s[i]);
  for (int k = 0; k < d; k++) {
    double ck = (P->mt == 0 && P->uparam) ? sqrt(P->g[k]) : 1;
    const double *a = P->A + (size_t) k * n;
    double *b = P->B + (size_t) k * n;
    for (int i = 0; i < n; i++) b[i] = P->tmpn[i] * a[i] * ck;
  }
  gram("T", d, n, P->B, n, P->M, P->extra, mm_threads);
  double tau = 0;
  for (int k = 0; k < d; k++) {
    double diag;
    if (P->mt == 0) {
      diag = P->uparam ? 1 : P->h[k];
    } else {
      double D1 = P->al[k] / P->s1[k], D2 = P->be[k] / P->s2[k];
      if (P->mt == d) {
        diag = 4 * D1 * D2 / (D1 + D2);
      } else {
        diag = D1 + D2;
        P->cvec[k] = D2 - D1;
        tau += D1 + D2;
      }
    }
    P->M[k + (size_t) k * d] += diag;
  }
  if (P->mt == 1) {
    /* eliminating the scalar t leaves a rank-one downdate, still definite
     * as a Schur complement of a definite matrix */
    double a = -1 / tau;
    int inc = 1;
    F77_CALL(dsyr)("U", &d, &a, P->cvec, &inc, P->M, &d FCONE);
    P->h[0] = tau;  /* h is free for the linear programs */
  }
  F77_CALL(dpotrf)("U", &d, P->M, &d, &info FCONE);
  return info;
}

/* One Newton solve for complementarity targets rc = lam s - (sigma mu -
 * corrections) given in tmp arrays: cs (n), c1, c2 (d). Fills the step. */
static int solve(ipm_t *P, const double *cs, const double *c1,
                 const double *c2)
{
  int n = P->n, d = P->d, inc = 1, info = 0;
  /* gvec_i = -(cs_i + lam_i rp_i) / s_i */
  for (int i = 0; i < n; i++)
    P->tmpn[i] = -(cs[i] + P->lam[i] * P->rp[i]) / P->s[i];
  if (P->dual)
    memset(P->rhs, 0, sizeof(double) * d);
  else
    atmul(P, P->tmpn, P->rhs);
  double rho = 0;
  for (int k = 0; k < d; k++) {
    if (P->mt == 0) {
      P->rhs[k] -= P->rd[k];
      continue;
    }
    double D1 = P->al[k] / P->s1[k], D2 = P->be[k] / P->s2[k];
    double g1 = -(c1[k] + P->al[k] * P->rp1[k]) / P->s1[k];
    double g2 = -(c2[k] + P->be[k] * P->rp2[k]) / P->s2[k];
    P->dal[k] = g1;  /* kept until the back substitution */
    P->dbe[k] = g2;
    P->rhs[k] += -P->rd[k] - g1 + g2;
    if (P->mt == d) {
      double r = g1 + g2 - P->rt[k];
      P->rhs[k] -= (D2 - D1) * r / (D1 + D2);
    } else {
      rho += g1 + g2;
    }
  }
  if (P->mt == 1) {
    rho -= P->rt[0];
    for (int k = 0; k < d; k++) P->rhs[k] -= P->cvec[k] * rho / P->h[0];
  }
  int usc = P->mt == 0 && P->uparam;
  if (P->dual) {
    info = solve_dual(P, cs);
    if (info != 0) return info;
  } else {
    if (usc)
      for (int k = 0; k < d; k++) P->rhs[k] *= sqrt(P->g[k]);
    memcpy(P->dw, P->rhs, sizeof(double) * d);
    F77_CALL(dpotrs)("U", &d, &inc, P->M, &d, P->dw, &d, &info FCONE);
    if (info != 0) return info;
    if (usc)
      for (int k = 0; k < d; k++) P->dw[k] *= sqrt(P->g[k]);
  }

  /* back substitution */
  amul(P, P->dw, P->ds);
  for (int i = 0; i < n; i++) {
    P->ds[i] += P->rp[i];
    if (!P->dual)
      P->dlam[i] = P->tmpn[i] - P->lam[i] / P->s[i] * (P->ds[i] - P->rp[i]);
  }
  if (P->mt == 0) {
    if (usc) {
      /* du = -rd + A' dlam */
      atmul(P, P->dlam, P->du);
      for (int k = 0; k < d; k++) P->du[k] -= P->rd[k];
    }
    return 0;
  }
  double cdw = 0;
  if (P->mt == 1)
    for (int k = 0; k < d; k++) cdw += P->cvec[k] * P->dw[k];
  for (int k = 0; k < d; k++) {
    double D1 = P->al[k] / P->s1[k], D2 = P->be[k] / P->s2[k];
    double dtk;
    if (P->mt == d) {
      dtk = (P->dal[k] + P->dbe[k] - P->rt[k] - (D2 - D1) * P->dw[k]) /
        (D1 + D2);
      P->dt[k] = dtk;
    } else {
      dtk = (rho - cdw) / P->h[0];
      P->dt[0] = dtk;
    }
    P->ds1[k] = dtk - P->dw[k] + P->rp1[k];
    P->ds2[k] = dtk + P->dw[k] + P->rp2[k];
    P->dal[k] = P->dal[k] - D1 * (dtk - P->dw[k]);
    P->dbe[k] = P->dbe[k] - D2 * (dtk + P->dw[k]);
  }
  return 0;
}

/* Largest step in (0, 1] keeping v + a dv >= 0, for len entries. */
static double max_step(const double *v, const double *dv, int len, double a)
{
  for (int i = 0; i < len; i++)
    if (dv[i] < 0 && -v[i] / dv[i] < a) a = -v[i] / dv[i];
  return a;
}

static double step_bound(const ipm_t *P)
{
  double a = 1;
  a = max_step(P->s, P->ds, P->n, a);
  a = max_step(P->lam, P->dlam, P->n, a);
  if (P->mt > 0) {
    a = max_step(P->s1, P->ds1, P->d, a);
    a = max_step(P->s2, P->ds2, P->d, a);
    a = max_step(P->al, P->dal, P->d, a);
    a = max_step(P->be, P->dbe, P->d, a);
  }
  return a;
}

static int npairs(const ipm_t *P)
{
  return P->n + (P->mt > 0 ? 2 * P->d : 0);
}

static double mu_after(const ipm_t *P, double a)
{
  double sum = 0;
  for (int i = 0; i < P->n; i++)
    sum += (P->s[i] + a * P->ds[i]) * (P->lam[i] + a * P->dlam[i]);
  if (P->mt > 0)
    for (int k = 0; k < P->d; k++)
      sum += (P->s1[k] + a * P->ds1[k]) * (P->al[k] + a * P->dal[k]) +
        (P->s2[k] + a * P->ds2[k]) * (P->be[k] + a * P->dbe[k]);
  return sum / npairs(P);
}

static double inf_norm(const double *v, int len)
{
  double m = 0;
  for (int i = 0; i < len; i++) if (fabs(v[i]) > m) m = fabs(v[i]);
  return m;
}

static void axpy(double *y, const double *x, double a, int len)
{
  for (int i = 0; i < len; i++) y[i] += a * x[i];
}

/* Squared residual of the system centred at target mu, for the line search
 * of the nonlinear (lp) case. */
static double merit(ipm_t *P, double target)
{
  residuals(P);
  double m = 0;
  for (int k = 0; k < P->d; k++) m += P->rd[k] * P->rd[k];
  for (int i = 0; i < P->n; i++) {
    double c = P->lam[i] * P->s[i] - target;
    m += P->rp[i] * P->rp[i] + c * c;
  }
  return m;
}

/* Solves the problem for rows A (n x d, already signed and scaled). On
 * return w holds the minimiser and lam the multipliers of f (smooth) or of
 * the gauge (linear programs); diag receives iterations, primal and dual
 * residuals and mu. Returns an MM_ outcome. */
static int mm_solve(int n, int d, const double *A, int kind, double p,
                    int maxit, double tol, int dual, double *w, double *lam,
                    double *diag, double *work, double *extra)
{
  ipm_t P;
  memset(&P, 0, sizeof(P));
  P.n = n; P.d = d; P.A = A; P.kind = kind; P.maxit = maxit; P.tol = tol;
  P.dual = dual;
  P.extra = extra;
  P.p = kind == MM_L2 ? 2 : p;
  P.q = P.p / (P.p - 1);
  P.uparam = P.p < 2;
  P.mt = kind == MM_L1 ? d : (kind == MM_LINF ? 1 : 0);
  setup(&P, work);

  /* start: infeasible in the constraints, interior in the bounds */
  for (int i = 0; i < n; i++) { P.s[i] = 1; P.lam[i] = 1; }
  for (int k = 0; k < d; k++) {
    P.w[k] = 0; P.u[k] = 0; P.t[k] = 1;
    P.s1[k] = P.s2[k] = 1;
    P.al[k] = P.be[k] = P.mt == 1 ? 0.5 / d : 0.5;
  }
  if (P.mt == 0) {
    if (!P.uparam) {
      /* start on the stationarity manifold w = grad f*(A' 1 / n) */
      for (int i = 0; i < n; i++) P.tmpn[i] = 1.0 / n;
      atmul(&P, P.tmpn, P.tmpd);
      for (int k = 0; k < d; k++)
        P.w[k] = sgn(P.tmpd[k]) * pow(fabs(P.tmpd[k]), P.q - 1);
    }
    smooth_update(&P);
  }

  if (P.mt > 0) atmul(&P, P.lam, P.tmpd);
  double *ccs = P.daff_s, *cc1 = P.daff_s1, *cc2 = P.daff_s2;
  double *xs = (double *) R_alloc(n, sizeof(double));
  double *x1 = (double *) R_alloc(d, sizeof(double));
  double *x2 = (double *) R_alloc(d, sizeof(double));
  double *save = (double *) R_alloc(2 * (size_t) n + 8 * (size_t) d,
                                    sizeof(double));
  int status = MM_MAXIT, it;
  double rpn = 0, rdn = 0, mu = 0;
  for (it = 0; it < maxit; it++) {
    if (it % 5 == 0) R_CheckUserInterrupt();
    residuals(&P);
    mu = mu_after(&P, 0);
    /* primal infeasibility of w itself: the slacks may lag behind it */
    rpn = 0;
    for (int i = 0; i < n; i++)
      if (-(P.rp[i] + P.s[i]) > rpn) rpn = -(P.rp[i] + P.s[i]);
    rdn = inf_norm(P.rd, d);
    double lsum = 0;
    for (int i = 0; i < n; i++) lsum += P.lam[i];
    if (P.mt > 0) {
      for (int k = 0; k < d; k++)
        rpn = fmax(rpn, fmax(-(P.rp1[k] + P.s1[k]), -(P.rp2[k] + P.s2[k])));
      rdn = fmax(rdn, inf_norm(P.rt, P.mt));
    }
    /* the gap npairs * mu bounds the objective error; relative to sum lam,
     * which is the size of the optimal objective */
    double dscale = 1 + inf_norm(P.tmpd, d);
    double worst = fmax(rpn, fmax(rdn / dscale, npairs(&P) * mu /
                                  (1 + lsum)));
    if (worst <= tol) {
      status = MM_OK;
      break;
    }
    /* A Farkas certificate: lam >= 0 with A' lam = 0 and sum lam > 0 shows
     * that y_i <x_i, w> >= 1 has no solution. The iterates of an
     * infeasible problem run off along it. */
    atmul(&P, P.lam, P.tmpd);
    if (lsum > 1e6 && inf_norm(P.tmpd, d) <= 1e-9 * lsum) {
      status = MM_NOT_SEPARABLE;
      break;
    }
    if (!isfinite(mu) || !isfinite(rpn) || !isfinite(rdn)) {
      status = MM_NONFINITE;
      break;
    }

    /* Near the solution lam / s spans many orders of magnitude and the
     * factorisation can break down in rounding; the iterate is then as
     * good as this method gets, and R judges it by its KKT residuals. */
    if (factor(&P) != 0) {
      status = it == 0 ? MM_LAPACK : (worst <= 1e3 * tol ? MM_OK :
                                      MM_STALLED);
      break;
    }
    /* predictor */
    for (int i = 0; i < n; i++) xs[i] = P.lam[i] * P.s[i];
    for (int k = 0; k < d; k++) {
      x1[k] = P.al[k] * P.s1[k];
      x2[k] = P.be[k] * P.s2[k];
    }
    if (solve(&P, xs, x1, x2) != 0) return MM_LAPACK;
    double aff = step_bound(&P);
    double mu_aff = mu_after(&P, aff);
    double sigma = pow(mu_aff / mu, 3);
    if (sigma > 1) sigma = 1;
    /* corrector: target sigma mu plus the second-order term */
    /* For lp the second-order term is dropped, so that the step is the
     * Newton step of the centred system and descends its residual. */
    double soc = (P.mt == 0 && P.p != 2) ? 0 : 1;
    for (int i = 0; i < n; i++)
      ccs[i] = xs[i] - sigma * mu + soc * P.ds[i] * P.dlam[i];
    for (int k = 0; k < d; k++) {
      cc1[k] = x1[k] - sigma * mu + P.ds1[k] * P.dal[k];
      cc2[k] = x2[k] - sigma * mu + P.ds2[k] * P.dbe[k];
    }
    if (solve(&P, ccs, cc1, cc2) != 0) return MM_LAPACK;
    double a = step_bound(&P);
    a = a < 1 ? 0.995 * a : 1;
    if (a < 1e-10) {
      status = worst <= 1e3 * tol ? MM_OK : MM_STALLED;
      break;
    }

    /* Close to the solution Newton converges by itself, and the merit no
     * longer resolves rounding, so the line search is for the early phase */
    int nonlinear = P.mt == 0 && P.p != 2 && worst > 1e-6;
    double m0 = 0;
    if (nonlinear) {
      m0 = merit(&P, sigma * mu);
      memcpy(save, P.s, sizeof(double) * n);
      memcpy(save + n, P.lam, sizeof(double) * n);
      memcpy(save + 2 * n, P.w, sizeof(double) * d);
      memcpy(save + 2 * n + d, P.u, sizeof(double) * d);
    }
    for (int ls = 0; ; ls++) {
      axpy(P.s, P.ds, a, n);
      axpy(P.lam, P.dlam, a, n);
      if (P.mt == 0) {
        if (P.uparam) axpy(P.u, P.du, a, d);
        else axpy(P.w, P.dw, a, d);
        smooth_update(&P);
      } else {
        axpy(P.w, P.dw, a, d);
        axpy(P.t, P.dt, a, P.mt);
        axpy(P.s1, P.ds1, a, d);
        axpy(P.s2, P.ds2, a, d);
        axpy(P.al, P.dal, a, d);
        axpy(P.be, P.dbe, a, d);
      }
      if (!nonlinear || ls >= 40) break;
      /* Newton on the nonlinear map can overshoot far from the solution;
       * backtrack on the centred residual */
      double m1 = merit(&P, sigma * mu);
      if (m1 <= (1 - 1e-4 * a) * m0) break;
      memcpy(P.s, save, sizeof(double) * n);
      memcpy(P.lam, save + n, sizeof(double) * n);
      memcpy(P.w, save + 2 * n, sizeof(double) * d);
      memcpy(P.u, save + 2 * n + d, sizeof(double) * d);
      a *= 0.5;
    }
  }
  memcpy(w, P.w, sizeof(double) * d);
  memcpy(lam, P.lam, sizeof(double) * n);
  diag[0] = it;
  diag[1] = rpn;
  diag[2] = rdn;
  diag[3] = mu;
  return status;
}

/* ---- Active-set Newton polish for lp --------------------------------- */

/* Given a set S of m rows taken as equalities, Newton's method on the KKT
 * system of min f(w) s.t. A_S w = 1, f = (1/p) sum |w_k|^p:
 *   u(w) = A_S' lam,  A_S w = 1,  u(w) = sign(w) |w|^(p-1).
 * Eliminating dw leaves the m x m matrix J = A_S C A_S' with C = dw/du,
 * the same curvature the interior point uses: for p < 2 the iterate is lam
 * alone (u = A_S' lam exactly, w = grad f*(u), C = (q-1)|u|^(q-2) bounded);
 * for p > 2 it is (w, lam) with C = 1 / h(w), h floored as in
 * smooth_update(). A backtracking search on the squared residual keeps
 * the early steps from overshooting. Returns MM_OK when the residuals
 * (rows: |A_S w - 1|; stationarity relative to 1 + |A_S' lam|) are below
 * tol, MM_LAPACK when J is not definite (A_S without full row rank),
 * MM_MAXIT or MM_STALLED otherwise. */
typedef struct {
  int m, d, uparam;
  double p, q;
  const double *A;        /* m x d */
  double *w, *u, *lam, *c, *rd, *rp;
} newton_t;

static void nt_update(newton_t *N)
{
  int d = N->d;
  if (N->uparam) {
    int inc = 1;
    double one = 1, zero = 0;
    F77_CALL(dgemv)("T", &N->m, &d, &one, N->A, &N->m, N->lam, &inc, &zero,
                    N->u, &inc FCONE);
    for (int k = 0; k < d; k++) {
      double a = fabs(N->u[k]);
      N->w[k] = sgn(N->u[k]) * pow(a, N->q - 1);
      N->c[k] = (N->q - 1) * pow(a, N->q - 2);
    }
    return;
  }
  double hmax = 0;
  for (int k = 0; k < d; k++) {
    double a = fabs(N->w[k]);
    N->u[k] = sgn(N->w[k]) * pow(a, N->p - 1);
    N->c[k] = (N->p - 1) * pow(a, N->p - 2);
    if (N->c[k] > hmax) hmax = N->c[k];
  }
  double floor_h = 1e-14 * (hmax > 0 ? hmax : 1);
  for (int k = 0; k < d; k++) N->c[k] = 1 / fmax(N->c[k], floor_h);
}

/* Residuals rp = A_S w - 1 and rd = u - A_S' lam (zero for p < 2); returns
 * their squared norm, and the scaled infinity norms in *rpn, *rdn. */
static double nt_residuals(newton_t *N, double *rpn, double *rdn)
{
  int m = N->m, d = N->d, inc = 1;
  double one = 1, zero = 0, r = 0, lmax = 0;
  F77_CALL(dgemv)("N", &m, &d, &one, N->A, &m, N->w, &inc, &zero, N->rp,
                  &inc FCONE);
  *rpn = 0;
  for (int i = 0; i < m; i++) {
    N->rp[i] -= 1;
    r += N->rp[i] * N->rp[i];
    *rpn = fmax(*rpn, fabs(N->rp[i]));
  }
  *rdn = 0;
  if (N->uparam) {
    memset(N->rd, 0, sizeof(double) * d);
    return r;
  }
  F77_CALL(dgemv)("T", &m, &d, &one, N->A, &m, N->lam, &inc, &zero, N->rd,
                  &inc FCONE);
  for (int k = 0; k < d; k++) {
    lmax = fmax(lmax, fabs(N->rd[k]));
    N->rd[k] = N->u[k] - N->rd[k];
    r += N->rd[k] * N->rd[k];
    *rdn = fmax(*rdn, fabs(N->rd[k]));
  }
  *rdn /= 1 + lmax;
  return r;
}

static int mm_newton(int m, int d, const double *A, double p, int maxit,
                     double tol, double *w, double *lam, double *diag)
{
  newton_t N;
  N.m = m; N.d = d; N.A = A; N.p = p; N.q = p / (p - 1);
  N.uparam = p < 2;
  N.w = w; N.lam = lam;
  N.u = (double *) R_alloc(d, sizeof(double));
  N.c = (double *) R_alloc(d, sizeof(double));
  N.rd = (double *) R_alloc(d, sizeof(double));
  N.rp = (double *) R_alloc(m, sizeof(double));
  double *B = (double *) R_alloc((size_t) m * d, sizeof(double));
  double *J = (double *) R_alloc((size_t) m * m, sizeof(double));
  double *dlam = (double *) R_alloc(m, sizeof(double));
  double *dw = (double *) R_alloc(d, sizeof(double));
  double *tmp = (double *) R_alloc(d, sizeof(double));
  double *w0 = (double *) R_alloc(d, sizeof(double));
  double *l0 = (double *) R_alloc(m, sizeof(double));
  double *extra = mm_threads > 1 ?
    (double *) R_alloc((size_t) (mm_threads - 1) * m * m, sizeof(double)) :
    NULL;
  int inc = 1, info = 0, status = MM_MAXIT, it;
  double one = 1, zero = 0, rpn = 0, rdn = 0;

  nt_update(&N);
  double r0 = nt_residuals(&N, &rpn, &rdn);
  for (it = 0; it < maxit; it++) {
    R_CheckUserInterrupt();
    if (!isfinite(r0)) {
      status = MM_NONFINITE;
      break;
    }
    if (rpn <= tol && rdn <= tol) {
      status = MM_OK;
      break;
    }

    /* J = A_S C A_S' through B = A_S C^(1/2) */
    for (int k = 0; k < d; k++) {
      double ck = sqrt(N.c[k]);
      const double *a = A + (size_t) k * m;
      double *b = B + (size_t) k * m;
      for (int i = 0; i < m; i++) b[i] = a[i] * ck;
    }
    gram("N", m, d, B, m, J, extra, mm_threads);
    F77_CALL(dpotrf)("U", &m, J, &m, &info FCONE);
    if (info != 0) {
      status = MM_LAPACK;
      break;
    }
    /* J dlam = A_S C rd - rp; dw = C (A_S' dlam - rd) */
    for (int k = 0; k < d; k++) tmp[k] = N.c[k] * N.rd[k];
    F77_CALL(dgemv)("N", &m, &d, &one, A, &m, tmp, &inc, &zero, dlam, &inc
                    FCONE);
    for (int i = 0; i < m; i++) dlam[i] -= N.rp[i];
    F77_CALL(dpotrs)("U", &m, &inc, J, &m, dlam, &m, &info FCONE);
    if (info != 0) {
      status = MM_LAPACK;
      break;
    }
    F77_CALL(dgemv)("T", &m, &d, &one, A, &m, dlam, &inc, &zero, dw, &inc
                    FCONE);
    for (int k = 0; k < d; k++) dw[k] = N.c[k] * (dw[k] - N.rd[k]);

    memcpy(w0, w, sizeof(double) * d);
    memcpy(l0, lam, sizeof(double) * m);
    double a = 1, r1 = r0;
    int ls;
    for (ls = 0; ls < 40; ls++) {
      for (int i = 0; i < m; i++) lam[i] = l0[i] + a * dlam[i];
      if (!N.uparam)
        for (int k = 0; k < d; k++) w[k] = w0[k] + a * dw[k];
      nt_update(&N);
      r1 = nt_residuals(&N, &rpn, &rdn);
      if (r1 <= (1 - 1e-4 * a) * r0) break;
      a *= 0.5;
    }
    if (ls == 40) {
      /* no decrease left to resolve: rounding level, or a failed model */
      memcpy(w, w0, sizeof(double) * d);
      memcpy(lam, l0, sizeof(double) * m);
      nt_update(&N);
      r0 = nt_residuals(&N, &rpn, &rdn);
      status = (rpn <= 1e3 * tol && rdn <= 1e3 * tol) ? MM_OK : MM_STALLED;
      break;
    }
    r0 = r1;
  }
  diag[0] = it;
  diag[1] = rpn;
  diag[2] = rdn;
  return status;
}

/* ---- .Call wrappers -------------------------------------------------- */

/* Argument checks and the result list shared by the two wrappers. */

static const double *rows_arg(SEXP xs, int *n, int *d)
{
  if (TYPEOF(xs) != REALSXP || !isMatrix(xs))
    error("'xs' must be a double matrix");
  SEXP dim = getAttrib(xs, R_DimSymbol);
  *n = INTEGER(dim)[0];
  *d = INTEGER(dim)[1];
  if (*n < 1 || *d < 1) error("'xs' must have at least one row and column");
  return REAL(xs);
}

static void finite_arg(const double *x, R_xlen_t len, const char *name)
{
  for (R_xlen_t i = 0; i < len; i++)
    if (!isfinite(x[i])) error("'%s' must be finite", name);
}

/* control = (maxit, tol, ...) of length 2 to maxlen. */
static void iteration_control(SEXP control, int maxlen, double *maxit,
                              double *tol)
{
  if (TYPEOF(control) != REALSXP || XLENGTH(control) < 2 ||
      XLENGTH(control) > maxlen)
    error("'control' must be a double vector of length 2 to %d", maxlen);
  *maxit = REAL(control)[0];
  *tol = REAL(control)[1];
  if (!(*maxit >= 1 && *maxit <= 1e5)) error("'maxit' must be 1 to 1e5");
  if (!(*tol > 0 && *tol < 1)) error("'tol' must be in (0, 1)");
}

static int thread_count(double thr)
{
  if (!(thr >= 1 && thr <= 64 && thr == floor(thr)))
    error("'threads' must be a whole number from 1 to 64");
  return (int) thr;
}

/* list(w, lambda, diag, status); the three vectors are protected by the
 * caller. */
static SEXP solver_result(SEXP w, SEXP lam, SEXP diag, int status)
{
  SEXP out = PROTECT(allocVector(VECSXP, 4));
  SET_VECTOR_ELT(out, 0, w);
  SET_VECTOR_ELT(out, 1, lam);
  SET_VECTOR_ELT(out, 2, diag);
  SET_VECTOR_ELT(out, 3, ScalarInteger(status));
  SEXP nm = PROTECT(allocVector(STRSXP, 4));
  const char *names[] = {"w", "lambda", "diag", "status"};
  for (int i = 0; i < 4; i++) SET_STRING_ELT(nm, i, mkChar(names[i]));
  setAttrib(out, R_NamesSymbol, nm);
  UNPROTECT(2);
  return out;
}

/* mf_max_margin(xs, kind, p, control): xs is the n x d matrix of rows
 * y_i x_i; control = (maxit, tol), (maxit, tol, form) with form an
 * MM_FORM_ code (default MM_FORM_AUTO) or (maxit, tol, form, threads),
 * threads for gram() (default 1). Returns list(w, lambda, diag,
 * status) with lambda the multipliers of the solver's objective. */
SEXP mf_max_margin(SEXP xs, SEXP kind, SEXP p, SEXP control)
{
  int np = 0, n, d;
  const double *A = rows_arg(xs, &n, &d);
  if ((double) n * d > 2e8 || (double) d * d > 2e8)
    error("'xs' is too large for the dense interior-point solver");
  finite_arg(A, XLENGTH(xs), "xs");
  if (TYPEOF(kind) != INTSXP || XLENGTH(kind) != 1)
    error("'kind' must be a single integer");
  int k = INTEGER(kind)[0];
  if (k != MM_L1 && k != MM_L2 && k != MM_LINF && k != MM_LP)
    error("'kind' must be 0 (l1), 1 (l2), 2 (linf) or 3 (lp)");
  if (TYPEOF(p) != REALSXP || XLENGTH(p) != 1)
    error("'p' must be a single double");
  double pv = REAL(p)[0];
  if (k == MM_LP && !(pv > 1 && isfinite(pv)))
    error("'p' must be finite and greater than 1");
  double maxit, tol;
  iteration_control(control, 4, &maxit, &tol);
  double form = XLENGTH(control) >= 3 ? REAL(control)[2] : MM_FORM_AUTO;
  int thr = thread_count(XLENGTH(control) == 4 ? REAL(control)[3] : 1);
  if (form != MM_FORM_AUTO && form != MM_FORM_PRIMAL && form != MM_FORM_DUAL)
    error("'form' must be 0 (auto), 1 (d x d) or 2 (n x n)");
  /* Limitation: for l-infinity the n x n form loses digits in the rank-one
   * part of K^-1 (t is eliminated first and K is nearly singular along
   * the top coordinates), and stalls where the d x d form converges, so
   * the automatic choice keeps d x d there; a bordered system that keeps
   * t as an unknown would lift this. */
  int dual = form == MM_FORM_DUAL ||
    (form == MM_FORM_AUTO && n < d && k != MM_LINF);
  if (dual && (double) n * n > 2e8)
    error("'xs' has too many rows for the n x n Newton system");

  double *work = (double *) R_alloc(mm_work_doubles(n, d, dual),
                                    sizeof(double));
  mm_threads = thr;
  size_t side = dual ? (size_t) n : (size_t) d;
  double *extra = mm_threads > 1 ?
    (double *) R_alloc((size_t) (mm_threads - 1) * side * side,
                       sizeof(double)) : NULL;
  SEXP w = PROTECT(allocVector(REALSXP, d)); np++;
  SEXP lam = PROTECT(allocVector(REALSXP, n)); np++;
  SEXP diag = PROTECT(allocVector(REALSXP, 4)); np++;
  int st = mm_solve(n, d, A, k, pv, (int) maxit, tol, dual, REAL(w),
                    REAL(lam), REAL(diag), work, extra);
  if (st == MM_LAPACK)
    error("the Cholesky factorisation of the Newton system failed");
  SEXP out = solver_result(w, lam, diag, st);
  UNPROTECT(np);
  return out;
}

SEXP mf_max_margin_newton(SEXP xs, SEXP p, SEXP w, SEXP lambda,
                          SEXP control)
{
  int np = 0, m, d;
  const double *A = rows_arg(xs, &m, &d);
  if ((double) m * d > 2e8 || (double) m * m > 2e8)
    error("'xs' is too large for the dense Newton solver");
  finite_arg(A, XLENGTH(xs), "xs");
  if (TYPEOF(p) != REALSXP || XLENGTH(p) != 1)
    error("'p' must be a single double");
  double pv = REAL(p)[0];
  if (!(pv > 1 && isfinite(pv) && pv != 2))
    error("'p' must be finite, greater than 1 and not 2");
  if (TYPEOF(w) != REALSXP || XLENGTH(w) != d)
    error("'w' must be a double vector with one entry per column of 'xs'");
  if (TYPEOF(lambda) != REALSXP || XLENGTH(lambda) != m)
    error("'lambda' must be a double vector with one entry per row of 'xs'");
  finite_arg(REAL(w), d, "w");
  finite_arg(REAL(lambda), m, "lambda");
  double maxit, tol;
  iteration_control(control, 3, &maxit, &tol);
  mm_threads = thread_count(XLENGTH(control) == 3 ? REAL(control)[2] : 1);

  SEXP wo = PROTECT(duplicate(w)); np++;
  SEXP lo = PROTECT(duplicate(lambda)); np++;
  SEXP diag = PROTECT(allocVector(REALSXP, 3)); np++;
  int st = mm_newton(m, d, A, pv, (int) maxit, tol, REAL(wo), REAL(lo),
                     REAL(diag));
  SEXP out = solver_result(wo, lo, diag, st);
  UNPROTECT(np);
  return out;
}
