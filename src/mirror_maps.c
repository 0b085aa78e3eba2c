/* Mirror maps: potential phi, mirror phi', inverse (phi')^{-1}, balance
 * D(x) = x phi'(x) - phi(x) and curvature phi'' for each built-in family,
 * written so that every finite true value comes out finite. */

#include <math.h>
#include <float.h>
#include "mirrorflow.h"

#define LOG_DBL_MAX 709.782712893384

const char *mf_fault_message(int code)
{
  switch (code) {
  case MF_OK: return "no fault";
  case MF_ERR_NONFINITE: return "a non-finite value arose";
  case MF_ERR_CUSTOM: return "a custom mirror-map function failed";
  case MF_ERR_NEWTON: return "the Newton solve for the inverse map failed";
  case MF_ERR_LAPACK: return "a LAPACK routine reported failure";
  default: return "unknown fault";
  }
}

static double sgn(double x)
{
  return (x > 0) - (x < 0);
}

/* asinh(x / beta) without overflow of x / beta. */
static double asinh_scaled(double x, double beta)
{
  double r = x / beta;
  if (isfinite(r) && fabs(r) < 1e150) return asinh(r);
  return sgn(x) * (M_LN2 + log(fabs(x)) - log(beta));
}

/* Inverse of x -> x^a + x^b on x >= 0 (0 < a < b) at value v >= 0: Newton
 * on the convex increasing F(s) = log(e^{as} + e^{bs}) - log v, started to
 * the right of the root so the iterates decrease monotonically onto it,
 * then polished by Newton in x itself. */
static double powers_solve(double a, double b, double v)
{
  if (v == 0) return 0;
  if (!isfinite(v)) return v;
  if (b == 2 * a && v < 1e300) {
    /* u = x^a solves u + u^2 = v: its positive root in the form without
     * cancellation, one Newton step in x where a = 1 (powers(2, 3), ten
     * times cheaper than the search below) */
    double u = 2 * v / (1 + sqrt(1 + 4 * v));
    if (a != 1) return pow(u, 1 / a);
    double nx = u - (u + u * u - v) / (1 + 2 * u);
    return nx > 0 ? nx : u;
  }
  double c = log(v);
  /* max(as, bs) = c here, so F >= 0: the start is right of the root. */
  double s = c >= 0 ? c / b : c / a;
  for (int it = 0; it < 200; it++) {
    double ea = a * s, eb = b * s, m = fmax(ea, eb);
    double F = m + log(exp(ea - m) + exp(eb - m)) - c;
    double wb = 1 / (1 + exp(ea - eb));            /* weight of the b term */
    double dF = a + (b - a) * wb;
    double step = F / dF;
    if (!(step > 0)) break;                         /* at or left of root */
    s -= step;
    if (step <= 4 * DBL_EPSILON * fmax(1, fabs(s))) break;
  }
  double x = exp(s);
  if (!isfinite(x) || x == 0) return x;
  for (int it = 0; it < 3; it++) {
    double xa = pow(x, a), xb = pow(x, b);
    double g = xa + xb - v, dg = (a * xa + b * xb) / x;
    if (!isfinite(g) || !(dg > 0)) break;
    double nx = x - g / dg;
    if (!(nx > 0)) break;
    if (fabs(nx - x) <= DBL_EPSILON * x) { x = nx; break; }
    x = nx;
  }
  return x;
}

double mf_phi(const mf_map *m, double x)
{
  double a = fabs(x);
  switch (m->family) {
  case MF_EUCLIDEAN: return 0.5 * x * x;
  case MF_PNORM: return pow(a, m->p) / m->p;
  case MF_HYPENTROPY: {
    double h = hypot(x, m->beta);
    return x * asinh_scaled(x, m->beta) - a * (a / (h + m->beta));
  }
  case MF_POWERS: return pow(a, m->p) / m->p + pow(a, m->q) / m->q;
  case MF_COSH: {
    double s = sinh(0.5 * x);
    return 2 * s * s;
  }
  }
  return NAN;
}

double mf_dphi(const mf_map *m, double x)
{
  double a = fabs(x);
  switch (m->family) {
  case MF_EUCLIDEAN: return x;
  case MF_PNORM: return sgn(x) * pow(a, m->p - 1);
  case MF_HYPENTROPY: return asinh_scaled(x, m->beta);
  case MF_POWERS: return sgn(x) * (pow(a, m->p - 1) + pow(a, m->q - 1));
  case MF_COSH: return sinh(x);
  }
  return NAN;
}

double mf_inv(const mf_map *m, double z)
{
  double a = fabs(z);
  switch (m->family) {
  case MF_EUCLIDEAN: return z;
  case MF_PNORM:
    /* p = 3, the common case: sqrt, correctly rounded, at a third of pow's
     * cost */
    return sgn(z) * (m->p == 3 ? sqrt(a) : pow(a, 1 / (m->p - 1)));
  case MF_HYPENTROPY: return mf_beta_sinh(z, m->beta);
  case MF_POWERS: return sgn(z) * powers_solve(m->p - 1, m->q - 1, a);
  case MF_COSH: return asinh(z);
  }
  return NAN;
}

double mf_bal(const mf_map *m, double x)
{
  double a = fabs(x);
  switch (m->family) {
  case MF_EUCLIDEAN: return 0.5 * x * x;
  case MF_PNORM: return (1 - 1 / m->p) * pow(a, m->p);
  case MF_HYPENTROPY: return a * (a / (hypot(x, m->beta) + m->beta));
  case MF_POWERS:
    return (1 - 1 / m->p) * pow(a, m->p) + (1 - 1 / m->q) * pow(a, m->q);
  case MF_COSH: {
    if (a < 1e-3) {
      double x2 = a * a;
      return x2 * (0.5 + x2 * (0.125 + x2 / 144));
    }
    /* cosh - 1 = 2 sinh^2(x/2) avoids the cancellation of cosh near 1 */
    if (a < 20) {
      double s = sinh(0.5 * a);
      return a * sinh(a) - 2 * s * s;
    }
    double h = exp(0.5 * a);
    return (0.5 * (a - 1) * h) * h + 1;
  }
  }
  return NAN;
}

double mf_curv(const mf_map *m, double x)
{
  double a = fabs(x);
  switch (m->family) {
  case MF_EUCLIDEAN: return 1;
  case MF_PNORM: return (m->p - 1) * pow(a, m->p - 2);
  case MF_HYPENTROPY: return 1 / hypot(x, m->beta);
  case MF_POWERS:
    return (m->p - 1) * pow(a, m->p - 2) + (m->q - 1) * pow(a, m->q - 2);
  case MF_COSH: return cosh(x);
  }
  return NAN;
}

double mf_horizon_exponent(const mf_map *m)
{
  switch (m->family) {
  case MF_EUCLIDEAN: return 2;
  case MF_PNORM: return m->p;
  case MF_HYPENTROPY: return 1;
  case MF_POWERS: return m->q;
  case MF_COSH: return INFINITY;
  default: return m->hexp;
  }
}

int mf_map_eval(const mf_map *m, int what, const double *in, double *out,
                int n)
{
  if (m->family == MF_CUSTOM) return m->cb(m->ctx, what, in, out, n);
  switch (what) {
  case 0: for (int i = 0; i < n; i++) out[i] = mf_phi(m, in[i]); break;
  case 1: for (int i = 0; i < n; i++) out[i] = mf_dphi(m, in[i]); break;
  case 2:
    if (m->family == MF_HYPENTROPY) mf_beta_sinh_array(in, m->beta, out, n);
    else for (int i = 0; i < n; i++) out[i] = mf_inv(m, in[i]);
    break;
  case 3: for (int i = 0; i < n; i++) out[i] = mf_bal(m, in[i]); break;
  default: return MF_ERR_NONFINITE;
  }
  return MF_OK;
}

int mf_map_dtheta_dz(const mf_map *m, const double *theta, double *out, int n,
                     double *scratch)
{
  if (m->family != MF_CUSTOM) {
    for (int i = 0; i < n; i++) {
      double c = mf_curv(m, theta[i]);
      double v = 1 / c;
      out[i] = isnan(v) ? 0 : fmin(v, 1e300);
    }
    return MF_OK;
  }
  double *lo = scratch, *hi = scratch + n;
  for (int i = 0; i < n; i++) {
    double e = 1e-6 * fmax(fabs(theta[i]), 1e-3);
    lo[i] = theta[i] - e;
    hi[i] = theta[i] + e;
  }
  int rc = m->cb(m->ctx, 1, lo, out, n);
  if (rc) return rc;
  rc = m->cb(m->ctx, 1, hi, lo, n);
  if (rc) return rc;
  for (int i = 0; i < n; i++) {
    /* lo now holds phi'(theta + e), out phi'(theta - e), hi theta + e */
    double c = (lo[i] - out[i]) / (2 * (hi[i] - theta[i]));
    double v = 1 / c;
    out[i] = (isnan(v) || v < 0) ? 0 : fmin(v, 1e300);
  }
  return MF_OK;
}

int mf_state_from_theta(const mf_map *m, const double *theta, double *s,
                        int n)
{
  if (m->family == MF_COSH) {
    for (int i = 0; i < n; i++) s[i] = theta[i];
    return MF_OK;
  }
  return mf_map_eval(m, 1, theta, s, n);
}

int mf_theta_from_state(const mf_map *m, const double *s, double *theta,
                        int n)
{
  if (m->family == MF_COSH) {
    for (int i = 0; i < n; i++) theta[i] = s[i];
    return MF_OK;
  }
  return mf_map_eval(m, 2, s, theta, n);
}

/* asinh(sinh(t) + d): the cosh-map dual step taken on theta directly. Past
 * |t| = 700 sinh(t) ~ sign(t) e^|t| / 2 and asinh(w) ~ sign(w) log(2|w|) to
 * far below double precision, so the step is a log1p of the relative change
 * of the dual variable. */
static double cosh_dual_add(double t, double d)
{
  double a = fabs(t);
  if (a < 700) return asinh(mf_beta_sinh(t, 1) + d);
  double r = sgn(t) * d * 2 * exp(-a);
  if (r > -0.5) return sgn(t) * (a + log1p(r));
  if (a < 709) return asinh(sinh(t) + d);
  return NAN;
}

void mf_state_add(const mf_map *m, const double *s, const double *delta,
                  double scale, double *out, int n)
{
  if (m->family == MF_COSH) {
    for (int i = 0; i < n; i++) out[i] = cosh_dual_add(s[i], scale * delta[i]);
    return;
  }
  for (int i = 0; i < n; i++) out[i] = s[i] + scale * delta[i];
}

/* sum_i (|x_i| / mx)^p, with the l1 and l2 horizons (hypentropy,
 * euclidean) spared pow(), which costs tens of ns a coordinate at every
 * checkpoint of a wide net. */
static double power_sum(const double *x, int n, double mx, double p)
{
  double acc = 0;
  if (p == 1) {
    for (int i = 0; i < n; i++) acc += fabs(x[i]) / mx;
  } else if (p == 2) {
    for (int i = 0; i < n; i++) {
      double r = x[i] / mx;
      acc += r * r;
    }
  } else {
    for (int i = 0; i < n; i++) acc += pow(fabs(x[i]) / mx, p);
  }
  return acc;
}

double mf_gauge(const double *x, int n, double p)
{
  double mx = 0;
  for (int i = 0; i < n; i++) {
    if (isnan(x[i])) return NAN;
    mx = fmax(mx, fabs(x[i]));
  }
  if (mx == 0 || !isfinite(mx) || isinf(p)) return mx;
  double acc = power_sum(x, n, mx, p);
  return mx * (p == 1 ? acc : p == 2 ? sqrt(acc) : pow(acc, 1 / p));
}

/* Gauge of {u : sum_l sum_{k in block l} |u_k|^{p_l} <= 1} (blocks with
 * p_l = Inf contribute the constraint max |u_k| <= 1): the root t of the
 * decreasing sum_l A_l t^{-p_l} = 1, found by Newton on its logarithm, a
 * convex function of log t, started to the left of the root. */
double mf_gauge_mixed(const double *x, const int *offset, const double *p,
                      int nblocks)
{
  double mx = 0, minf = 0;
  int nfin = 0, same = 1;
  for (int l = 0; l < nblocks; l++) {
    for (int k = offset[l]; k < offset[l + 1]; k++) {
      mx = fmax(mx, fabs(x[k]));
      if (isinf(p[l])) minf = fmax(minf, fabs(x[k]));
    }
    if (!isinf(p[l])) {
      if (nfin > 0 && p[l] != p[0]) same = 0;
      nfin++;
    }
  }
  if (mx == 0 || !isfinite(mx)) return mx;
  if (nfin == 0) return minf;

  /* Limitation: at most MF_MAX_LAYERS blocks (R enforces the same depth
   * limit); a caller-provided workspace would lift it. */
  double logA[MF_MAX_LAYERS];
  double A[MF_MAX_LAYERS];
  int nb = nblocks > MF_MAX_LAYERS ? MF_MAX_LAYERS : nblocks;
  double u0 = -INFINITY, pcommon = 0;
  for (int l = 0; l < nb; l++) {
    A[l] = 0;
    if (isinf(p[l])) continue;
    A[l] = power_sum(x + offset[l], offset[l + 1] - offset[l], mx, p[l]);
    logA[l] = log(A[l]);
    if (A[l] > 0) u0 = fmax(u0, logA[l] / p[l]);
    pcommon = p[l];
  }
  double troot;
  if (same) {
    double tot = 0;
    for (int l = 0; l < nb; l++) if (!isinf(p[l])) tot += A[l];
    troot = pow(tot, 1 / pcommon);
  } else {
    double u = u0;
    for (int it = 0; it < 200; it++) {
      double m = -INFINITY;
      for (int l = 0; l < nb; l++)
        if (!isinf(p[l]) && A[l] > 0) m = fmax(m, logA[l] - p[l] * u);
      double S = 0, dS = 0;
      for (int l = 0; l < nb; l++) {
        if (isinf(p[l]) || A[l] == 0) continue;
        double e = exp(logA[l] - p[l] * u - m);
        S += e;
        dS -= p[l] * e;
      }
      double F = m + log(S), dF = dS / S;
      double step = -F / dF;
      if (!(step > 0)) break;
      u += step;
      if (step <= 4 * DBL_EPSILON * fmax(1, fabs(u))) break;
    }
    troot = exp(u);
  }
  return mx * fmax(troot, minf / mx);
}

/* (sinh x) e^{-M} for M >= |x|, without overflow. */
static double sinh_scaled(double x, double M)
{
  return 0.5 * (exp(x - M) - exp(-x - M));
}

static double cap_1e300(double v)
{
  return v > 1e300 ? 1e300 : v < -1e300 ? -1e300 : v;
}

double mf_scaled_dual_diff(const mf_map *m, double x, double x0, double z0,
                           double log_h)
{
  if (m->family == MF_COSH) {
    double M = fmax(fabs(x), fabs(x0));
    double d = sinh_scaled(x, M) - sinh_scaled(x0, M);
    return cap_1e300(d * exp(fmin(M - log_h, 690)));
  }
  return cap_1e300((mf_dphi(m, x) - z0) * exp(fmin(-log_h, 690)));
}

double mf_scaled_curv(const mf_map *m, double x, double log_h)
{
  if (m->family == MF_COSH) {
    double a = fabs(x);
    return cap_1e300(0.5 * (1 + exp(-2 * a)) * exp(fmin(a - log_h, 690)));
  }
  double c = mf_curv(m, x);
  if (isnan(c)) return 1e300;
  return cap_1e300(c * exp(fmin(-log_h, 690)));
}
