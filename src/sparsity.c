/* Sparsity indices of the vectors stored in a matrix: the Hoyer index, the
 * Gini index of Hurley and Rickard and the participation ratio, with the
 * count of positive entries, for each row or each column. */

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <R.h>
#include <R_ext/Utils.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(_OPENMP) && !defined(_WIN32)
#include <sys/types.h>
#include <unistd.h>
#endif
#include "mirrorflow.h"

/* OpenMP's thread pool does not survive fork(): a process forked after its
 * parent ran a parallel region (parallel::mcparallel(), future's multicore
 * plan, reproduce_paper(cores = 2)) hangs in its own next one. So the
 * process that first asks for more than one thread is remembered, and any
 * other (a fork of it, which inherits the memory) runs its regions on one
 * thread, which needs no pool. The sparsity indices do not depend on the
 * number of threads; max_margin()'s Gram products agree to rounding. */
int mf_omp_threads(int requested)
{
  if (requested <= 1) return 1;
#if defined(_OPENMP) && !defined(_WIN32)
  static pid_t owner = 0;
  pid_t me = getpid();
  if (owner == 0) owner = me;
  else if (owner != me) return 1;
#endif
  return requested;
}

/* Ascending sort of n positive doubles. Their bit patterns, read as
 * unsigned 64-bit integers, order like the numbers, so a least-significant-
 * digit radix sort (8 bits a pass, skipping digits all keys share) sorts
 * them in a few linear passes; short vectors go to R's quicksort. key and
 * tmp hold n each. */
static void sort_positive(double *v, uint64_t *key, uint64_t *tmp, int n)
{
  if (n < 256) {
    if (n > 1) R_qsort(v, 1, (size_t) n);
    return;
  }
  size_t count[8][256];
  memset(count, 0, sizeof count);
  for (int i = 0; i < n; i++) {
    uint64_t k;
    memcpy(&k, v + i, sizeof k);
    key[i] = k;
    for (int p = 0; p < 8; p++) count[p][(k >> (8 * p)) & 255]++;
  }
  uint64_t *src = key, *dst = tmp;
  for (int p = 0; p < 8; p++) {
    size_t *c = count[p];
    if (c[(src[0] >> (8 * p)) & 255] == (size_t) n) continue;
    size_t sum = 0;
    for (int b = 0; b < 256; b++) {
      size_t t = c[b];
      c[b] = sum;
      sum += t;
    }
    for (int i = 0; i < n; i++) dst[c[(src[i] >> (8 * p)) & 255]++] = src[i];
    uint64_t *t = src;
    src = dst;
    dst = t;
  }
  for (int i = 0; i < n; i++) memcpy(v + i, src + i, sizeof(double));
}

/* Indices of one vector of absolute values c[0..N-1] (overwritten). Ratios
 * are taken after dividing by the largest entry, so no sum of squares can
 * overflow. The Gini index sorts only the nonzero entries: zeros take the
 * lowest ranks and add nothing to its sum. */
static void indices_one(double *c, uint64_t *key, uint64_t *tmp, int N,
                        double *hoyer, double *gini, double *pr)
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

  sort_positive(c, key, tmp, nz);
  double s = 0;
  int z = N - nz;
  for (int k = 0; k < nz; k++) {
    double rank = z + k + 1;
    s += c[k] * (N - rank + 0.5);
  }
  *gini = 1 - 2 * s / (l1 * N);
}

/* Vectors are independent, so blocks of them are shared out over threads;
 * each thread gathers into its own stretch of work. Rows are first copied
 * block by block into row-major order (reading each column's stretch in
 * one run), so no thread strides through memory. Nothing of R runs inside
 * the parallel region: the interrupt check sits between blocks. */
void mf_sparsity_indices(const double *a, int n, int m, int by_row,
                         int nthreads, double *work, uint64_t *keys,
                         double *hoyer, double *gini, double *pr,
                         double *npos)
{
  int nvec = by_row ? n : m, len = by_row ? m : n;
  const int block = MF_SPARSITY_BLOCK;
  double *rows = work + (size_t) nthreads * len;
  nthreads = mf_omp_threads(nthreads);
  for (int v0 = 0; v0 < nvec; v0 += block) {
    int v1 = v0 + block < nvec ? v0 + block : nvec;
    if (by_row) {
      for (int k = 0; k < len; k++) {
        const double *col = a + (size_t) k * n;
        for (int v = v0; v < v1; v++)
          rows[(size_t) (v - v0) * len + k] = col[v];
      }
    }
#ifdef _OPENMP
#pragma omp parallel for num_threads(nthreads) schedule(static)
#endif
    for (int v = v0; v < v1; v++) {
      int t = 0;
#ifdef _OPENMP
      t = omp_get_thread_num();
#endif
      double *c = work + (size_t) t * len;
      uint64_t *key = keys + (size_t) 2 * t * len, *tmp = key + len;
      const double *src = by_row ? rows + (size_t) (v - v0) * len
                                 : a + (size_t) v * n;
      int pos = 0;
      for (int k = 0; k < len; k++) {
        c[k] = fabs(src[k]);
        pos += src[k] > 0;
      }
      npos[v] = pos;
      indices_one(c, key, tmp, len, hoyer + v, gini + v, pr + v);
    }
    R_CheckUserInterrupt();
  }
}
