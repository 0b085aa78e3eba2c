/* Nonnegative least squares for the KKT stationarity residual: Lawson and
 * Hanson's active-set method on the Gram form, min |s - G lambda| over
 * lambda >= 0 given K = G^T G and b = G^T s, with LAPACK Cholesky solves on
 * the passive set. */

#define USE_FC_LEN_T
#include <math.h>
#include <string.h>
#include <R_ext/Lapack.h>
#ifndef FCONE
#define FCONE
#endif
#include "mirrorflow.h"

/* Solves K_PP z_P = b_P for the passive indices; work holds m * m + m. */
static int passive_solve(const double *K, const double *b, int m,
                         const int *pas, int np, double *z, double *work)
{
  double *A = work, *r = work + (size_t) np * np;
  double tr = 0;
  for (int a = 0; a < np; a++) tr += K[pas[a] + (size_t) pas[a] * m];
  for (int attempt = 0; attempt < 3; attempt++) {
    /* a ridge of rounding size only if the passive columns are dependent */
    double ridge = attempt == 0 ? 0 : tr * pow(1e-14, 1.0 / attempt);
    for (int a = 0; a < np; a++) {
      r[a] = b[pas[a]];
      for (int c = 0; c < np; c++)
        A[a + (size_t) c * np] = K[pas[a] + (size_t) pas[c] * m] +
          (a == c ? ridge : 0);
    }
    int info = 0, one = 1;
    F77_CALL(dpotrf)("U", &np, A, &np, &info FCONE);
    if (info != 0) continue;
    F77_CALL(dpotrs)("U", &np, &one, A, &np, r, &np, &info FCONE);
    if (info != 0) return MF_ERR_LAPACK;
    for (int a = 0; a < np; a++) z[pas[a]] = r[a];
    return MF_OK;
  }
  return MF_ERR_LAPACK;
}

int mf_nnls_gram(const double *K, const double *b, int m, double *lambda,
                 double *work, int *iwork)
{
  int *pas = iwork, *in = iwork + m, np = 0;
  double *w = work, *z = work + m, *sw = work + 2 * (size_t) m;
  double bmax = 0;
  for (int j = 0; j < m; j++) {
    lambda[j] = 0;
    in[j] = 0;
    bmax = fmax(bmax, fabs(b[j]));
  }
  double tol = 1e-13 * fmax(bmax, 1e-300);
  for (int outer = 0; outer < 3 * m + 10; outer++) {
    for (int j = 0; j < m; j++) {
      double s = b[j];
      for (int k = 0; k < m; k++) s -= K[j + (size_t) k * m] * lambda[k];
      w[j] = s;
    }
    int best = -1;
    for (int j = 0; j < m; j++)
      if (!in[j] && w[j] > tol && (best < 0 || w[j] > w[best])) best = j;
    if (best < 0) break;
    in[best] = 1;
    pas[np++] = best;
    for (int inner = 0; inner < 3 * m + 10; inner++) {
      for (int j = 0; j < m; j++) z[j] = 0;
      int rc = passive_solve(K, b, m, pas, np, z, sw);
      if (rc) return rc;
      int feasible = 1;
      for (int a = 0; a < np; a++) if (z[pas[a]] <= 0) feasible = 0;
      if (feasible) {
        for (int j = 0; j < m; j++) lambda[j] = z[j];
        break;
      }
      double alpha = 1;
      for (int a = 0; a < np; a++) {
        int j = pas[a];
        if (z[j] <= 0) {
          double t = lambda[j] / (lambda[j] - z[j]);
          if (t < alpha) alpha = t;
        }
      }
      for (int a = 0; a < np; a++) {
        int j = pas[a];
        lambda[j] += alpha * (z[j] - lambda[j]);
      }
      int keep = 0;
      for (int a = 0; a < np; a++) {
        int j = pas[a];
        if (lambda[j] > 1e-15 * fmax(1, fabs(z[j]))) pas[keep++] = j;
        else {
          lambda[j] = 0;
          in[j] = 0;
        }
      }
      np = keep;
      if (np == 0) break;
    }
  }
  return MF_OK;
}
