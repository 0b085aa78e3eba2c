/* Sparsity indices of the vectors stored in a matrix: the Hoyer index, the
 * Gini index of Hurley and Rickard and the participation ratio, with the
 * count of positive entries, for each row or each column. */

#include <math.h>
#include <R.h>
#include <R_ext/Utils.h>
#include "mirrorflow.h"

/* Indices of one vector of absolute values c[0..N-1] (overwritten). Ratios
 * are taken after dividing by the largest entry, so no sum of squares can
 * overflow. The Gini index sorts only the nonzero entries: zeros take the
 * lowest ranks and add nothing to its sum. */
static void indices_one(double *c, int N, double *hoyer, double *gini,
                        double *pr)
{
  double mx = 0;
  for (int k = 0; k < N; k++) if (c[k] > mx) mx = c[k];
  if (!(mx > 0)) {
    *hoyer = *gini = *pr = NA_REAL;
    return;
  }

  double l1 = 0, l2sq = 0;
  int nz = 0;
  for (int k = 0; k < N; k++) {
    if (c[k] > 0) {
      double v = c[k] / mx;
      l1 += v;
      l2sq += v * v;
      c[nz++] = v;
    }
  }

  double rn = sqrt((double) N);
  *hoyer = N > 1 ? (rn - l1 / sqrt(l2sq)) / (rn - 1) : NA_REAL;
  if (N > 1) *hoyer = fmin(1.0, fmax(0.0, *hoyer));
  *pr = l1 * l1 / (N * l2sq);

  if (nz > 1) R_qsort(c, 1, (size_t) nz);
  double s = 0;
  int z = N - nz;
  for (int k = 0; k < nz; k++) {
    double rank = z + k + 1;
    s += c[k] * (N - rank + 0.5);
  }
  *gini = 1 - 2 * s / (l1 * N);
}

void mf_sparsity_indices(const double *a, int n, int m, int by_row,
                         double *work, double *hoyer, double *gini,
                         double *pr, double *npos)
{
  int nvec = by_row ? n : m, len = by_row ? m : n;
  for (int v = 0; v < nvec; v++) {
    int pos = 0;
    if (by_row) {
      for (int k = 0; k < len; k++) {
        double x = a[v + (size_t) k * n];
        work[k] = fabs(x);
        pos += x > 0;
      }
    } else {
      const double *col = a + (size_t) v * n;
      for (int k = 0; k < len; k++) {
        work[k] = fabs(col[k]);
        pos += col[k] > 0;
      }
    }
    npos[v] = pos;
    indices_one(work, len, hoyer + v, gini + v, pr + v);
    if (v % 1024 == 1023) R_CheckUserInterrupt();
  }
}
