/* The package's own kernel for C = op(A) op(B) (+ C), op a matrix or its
 * transpose, all column-major: the "kernel" layout of the products (see
 * mf_blas_layout() in network.c and ?blas_products).
 *
 * Why: the reference BLAS that R ships and Debian installs by default
 * forms dgemm as a column of axpy updates, loading and storing C once per
 * term of the sum, and runs at 3.8 to 4.8 Gflop/s on the development
 * machine whatever the sizes. Holding a 4 x 4 (SSE2) or 8 x 4 (AVX) tile
 * of C in registers through the whole sum, with A copied into blocks that
 * stay in cache, runs the same products 2 to 3 (SSE2) and 4 to 6 (AVX)
 * times faster there (bench/gemm_kernel.R).
 *
 * What it computes: every entry as the reference BLAS does, bit for bit,
 * for finite inputs. Each c_ij starts from 0 (or from C's own entry when
 * accumulating) and adds a_il * b_lj for l = 0, 1, ..., k - 1 in that
 * order, each product rounded and then added: the vector instructions
 * multiply and add separately (no fused multiply-add, which would round
 * once and change the last bits), the blocks over l carry the partial sum
 * through C itself, and the AVX and SSE2 paths do the same operations on
 * different numbers of lanes. So a fit does not depend on which path the
 * processor takes, and equals the fit with the reference BLAS.
 *
 * The AVX path is compiled for AVX by a function attribute and taken
 * only where the processor and the operating system support it (checked
 * once, by the compiler's CPU test); everything else is SSE2, which every
 * x86-64 processor has. Elsewhere (no SSE2) the products go to dgemm.
 *
 * Limitation: without fused multiply-adds, the kernel runs at about half
 * of what an optimised BLAS (OpenBLAS) reaches at large sizes, which is why a packing BLAS keeps the "direct" layout; an FMA
 * path would close much of that at the price of results that differ from
 * the reference BLAS in the last bits. */

#define USE_FC_LEN_T
#include <stddef.h>
#include <R_ext/BLAS.h>
#ifndef FCONE
#define FCONE
#endif
#include "mirrorflow.h"

#if defined(__SSE2__) && (defined(__x86_64__) || defined(_M_X64))
#define MF_HAVE_KERNEL 1
#include <emmintrin.h>
#if defined(__GNUC__)
#define MF_HAVE_AVX 1
#include <immintrin.h>
#endif
#else
#define MF_HAVE_KERNEL 0
#endif

/* Rows of A and terms of the sum per cache block (MF_GEMM_MC and
 * MF_GEMM_KC in mirrorflow.h): a 128 x 256 block of A (256 KB, packed into
 * the caller's work) stays in the level-2 cache while every column of B
 * passes. */
#define KC MF_GEMM_KC
#define MC MF_GEMM_MC

#if MF_HAVE_KERNEL

/* The micro-kernels: a tile of C (rows of a strip of packed A, whose
 * terms are lda apart, against 4 or 1 columns of B) summed over kb terms;
 * B's entry (l, j) is b[l * rs + j * cs], so that B can be read as it is
 * or transposed; load: start from C's entries, else from 0. */

static void k4x4_sse(int kb, const double *a, int lda, const double *b,
                     ptrdiff_t rs, ptrdiff_t cs, int load, double *c,
                     int ldc)
{
  const double *b0 = b, *b1 = b + cs, *b2 = b1 + cs, *b3 = b2 + cs;
  double *c0 = c, *c1 = c + ldc, *c2 = c1 + ldc, *c3 = c2 + ldc;
  __m128d z = _mm_setzero_pd();
  __m128d x0 = load ? _mm_loadu_pd(c0) : z,
    y0 = load ? _mm_loadu_pd(c0 + 2) : z,
    x1 = load ? _mm_loadu_pd(c1) : z, y1 = load ? _mm_loadu_pd(c1 + 2) : z,
    x2 = load ? _mm_loadu_pd(c2) : z, y2 = load ? _mm_loadu_pd(c2 + 2) : z,
    x3 = load ? _mm_loadu_pd(c3) : z, y3 = load ? _mm_loadu_pd(c3 + 2) : z;
  for (int l = 0; l < kb; l++, a += lda, b0 += rs, b1 += rs, b2 += rs,
         b3 += rs) {
    __m128d lo = _mm_loadu_pd(a), hi = _mm_loadu_pd(a + 2), s;
    s = _mm_set1_pd(*b0);
    x0 = _mm_add_pd(x0, _mm_mul_pd(lo, s));
    y0 = _mm_add_pd(y0, _mm_mul_pd(hi, s));
    s = _mm_set1_pd(*b1);
    x1 = _mm_add_pd(x1, _mm_mul_pd(lo, s));
    y1 = _mm_add_pd(y1, _mm_mul_pd(hi, s));
    s = _mm_set1_pd(*b2);
    x2 = _mm_add_pd(x2, _mm_mul_pd(lo, s));
    y2 = _mm_add_pd(y2, _mm_mul_pd(hi, s));
    s = _mm_set1_pd(*b3);
    x3 = _mm_add_pd(x3, _mm_mul_pd(lo, s));
    y3 = _mm_add_pd(y3, _mm_mul_pd(hi, s));
  }
  _mm_storeu_pd(c0, x0);
  _mm_storeu_pd(c0 + 2, y0);
  _mm_storeu_pd(c1, x1);
  _mm_storeu_pd(c1 + 2, y1);
  _mm_storeu_pd(c2, x2);
  _mm_storeu_pd(c2 + 2, y2);
  _mm_storeu_pd(c3, x3);
  _mm_storeu_pd(c3 + 2, y3);
}

static void k4x1_sse(int kb, const double *a, int lda, const double *b,
                     ptrdiff_t rs, int load, double *c)
{
  __m128d z = _mm_setzero_pd();
  __m128d x = load ? _mm_loadu_pd(c) : z, y = load ? _mm_loadu_pd(c + 2) : z;
  for (int l = 0; l < kb; l++, a += lda, b += rs) {
    __m128d s = _mm_set1_pd(*b);
    x = _mm_add_pd(x, _mm_mul_pd(_mm_loadu_pd(a), s));
    y = _mm_add_pd(y, _mm_mul_pd(_mm_loadu_pd(a + 2), s));
  }
  _mm_storeu_pd(c, x);
  _mm_storeu_pd(c + 2, y);
}

/* One row of C against nr <= 4 columns: nr independent sums. */
static void k1xn(int nr, int kb, const double *a, int lda, const double *b,
                 ptrdiff_t rs, ptrdiff_t cs, int load, double *c, int ldc)
{
  double s[4];
  for (int j = 0; j < nr; j++) s[j] = load ? c[(size_t) j * ldc] : 0;
  for (int l = 0; l < kb; l++, a += lda, b += rs) {
    double al = *a;
    for (int j = 0; j < nr; j++) s[j] += al * b[j * cs];
  }
  for (int j = 0; j < nr; j++) c[(size_t) j * ldc] = s[j];
}

#if MF_HAVE_AVX
__attribute__((target("avx")))
static void k8x4_avx(int kb, const double *a, int lda, const double *b,
                     ptrdiff_t rs, ptrdiff_t cs, int load, double *c,
                     int ldc)
{
  const double *b0 = b, *b1 = b + cs, *b2 = b1 + cs, *b3 = b2 + cs;
  double *c0 = c, *c1 = c + ldc, *c2 = c1 + ldc, *c3 = c2 + ldc;
  __m256d z = _mm256_setzero_pd();
  __m256d x0 = load ? _mm256_loadu_pd(c0) : z,
    y0 = load ? _mm256_loadu_pd(c0 + 4) : z,
    x1 = load ? _mm256_loadu_pd(c1) : z,
    y1 = load ? _mm256_loadu_pd(c1 + 4) : z,
    x2 = load ? _mm256_loadu_pd(c2) : z,
    y2 = load ? _mm256_loadu_pd(c2 + 4) : z,
    x3 = load ? _mm256_loadu_pd(c3) : z,
    y3 = load ? _mm256_loadu_pd(c3 + 4) : z;
  for (int l = 0; l < kb; l++, a += lda, b0 += rs, b1 += rs, b2 += rs,
         b3 += rs) {
    __m256d lo = _mm256_loadu_pd(a), hi = _mm256_loadu_pd(a + 4), s;
    s = _mm256_broadcast_sd(b0);
    x0 = _mm256_add_pd(x0, _mm256_mul_pd(lo, s));
    y0 = _mm256_add_pd(y0, _mm256_mul_pd(hi, s));
    s = _mm256_broadcast_sd(b1);
    x1 = _mm256_add_pd(x1, _mm256_mul_pd(lo, s));
    y1 = _mm256_add_pd(y1, _mm256_mul_pd(hi, s));
    s = _mm256_broadcast_sd(b2);
    x2 = _mm256_add_pd(x2, _mm256_mul_pd(lo, s));
    y2 = _mm256_add_pd(y2, _mm256_mul_pd(hi, s));
    s = _mm256_broadcast_sd(b3);
    x3 = _mm256_add_pd(x3, _mm256_mul_pd(lo, s));
    y3 = _mm256_add_pd(y3, _mm256_mul_pd(hi, s));
  }
  _mm256_storeu_pd(c0, x0);
  _mm256_storeu_pd(c0 + 4, y0);
  _mm256_storeu_pd(c1, x1);
  _mm256_storeu_pd(c1 + 4, y1);
  _mm256_storeu_pd(c2, x2);
  _mm256_storeu_pd(c2 + 4, y2);
  _mm256_storeu_pd(c3, x3);
  _mm256_storeu_pd(c3 + 4, y3);
}

__attribute__((target("avx")))
static void k8x1_avx(int kb, const double *a, int lda, const double *b,
                     ptrdiff_t rs, int load, double *c)
{
  __m256d z = _mm256_setzero_pd();
  __m256d x = load ? _mm256_loadu_pd(c) : z,
    y = load ? _mm256_loadu_pd(c + 4) : z;
  for (int l = 0; l < kb; l++, a += lda, b += rs) {
    __m256d s = _mm256_broadcast_sd(b);
    x = _mm256_add_pd(x, _mm256_mul_pd(_mm256_loadu_pd(a), s));
    y = _mm256_add_pd(y, _mm256_mul_pd(_mm256_loadu_pd(a + 4), s));
  }
  _mm256_storeu_pd(c, x);
  _mm256_storeu_pd(c + 4, y);
}
#endif

/* -1 not yet checked, 0 SSE2 only, 1 AVX */
static int avx_state = -1;

static int use_avx(void)
{
  if (avx_state < 0) {
#if MF_HAVE_AVX
    __builtin_cpu_init();
    avx_state = __builtin_cpu_supports("avx") ? 1 : 0;
#else
    avx_state = 0;
#endif
  }
  return avx_state;
}

/* Height of the strip of rows starting rem rows before the end of a
 * block: 8 (AVX) or 4 while there are that many, then single rows. */
static int strip_height(int avx, int rem)
{
  return avx && rem >= 8 ? 8 : rem >= 4 ? 4 : 1;
}

/* Copies the mb x kb block of A (of its transpose if ta, A then being
 * kb x mb) into ap as consecutive strips of rows, each strip kb columns of
 * its hs rows, so that the kernels read A in order. Without it, a leading
 * dimension that is a multiple of a cache way (1024 doubles, say) maps a
 * strip's 256 columns to a handful of cache sets, which it thrashes; and
 * a transposed A costs no separate copy. */
static void pack_a(int avx, int ta, int mb, int kb, const double *A,
                   int lda, double *ap)
{
  for (int i = 0; i < mb;) {
    int hs = strip_height(avx, mb - i);
    if (ta) {
      for (int r = 0; r < hs; r++) {
        const double *a = A + (size_t) (i + r) * lda;
        for (int l = 0; l < kb; l++) ap[(size_t) l * hs + r] = a[l];
      }
      ap += (size_t) hs * kb;
    } else {
      const double *a = A + i;
      for (int l = 0; l < kb; l++, a += lda, ap += hs)
        for (int r = 0; r < hs; r++) ap[r] = a[r];
    }
    i += hs;
  }
}

/* mb rows of A (a block of at most MC, packed by pack_a()) against all
 * n columns of B, kb terms of the sum; B's entry (l, j) at
 * B[l * rs + j * cs]. */
static void row_block(int avx, int mb, int n, int kb, const double *ap,
                      const double *B, ptrdiff_t rs, ptrdiff_t cs, int load,
                      double *C, int ldc)
{
  for (int j = 0; j < n;) {
    int nr = n - j >= 4 ? 4 : 1;
    const double *b = B + j * cs, *a = ap;
    double *c = C + (size_t) j * ldc;
    for (int i = 0; i < mb;) {
      int hs = strip_height(avx, mb - i);
      if (nr == 4) {
#if MF_HAVE_AVX
        if (hs == 8) k8x4_avx(kb, a, 8, b, rs, cs, load, c + i, ldc);
#endif
        if (hs == 4) k4x4_sse(kb, a, 4, b, rs, cs, load, c + i, ldc);
        if (hs == 1) k1xn(4, kb, a, 1, b, rs, cs, load, c + i, ldc);
      } else {
#if MF_HAVE_AVX
        if (hs == 8) k8x1_avx(kb, a, 8, b, rs, load, c + i);
#endif
        if (hs == 4) k4x1_sse(kb, a, 4, b, rs, load, c + i);
        if (hs == 1) k1xn(1, kb, a, 1, b, rs, cs, load, c + i, ldc);
      }
      a += (size_t) hs * kb;
      i += hs;
    }
    j += nr;
  }
}

#endif /* MF_HAVE_KERNEL */

int mf_gemm_kernel(void)
{
#if MF_HAVE_KERNEL
  return use_avx() ? 2 : 1;
#else
  return 0;
#endif
}

/* The product on the instruction set isa (1 SSE2, 2 AVX; the caller
 * checks it is there): mf_gemm() with the processor's best, and the
 * tests with each. */
void mf_gemm_isa(int isa, int ta, int tb, int m, int n, int k,
                 const double *A, int lda, const double *B, int ldb,
                 int accumulate, double *C, int ldc, double *work)
{
  if (m <= 0 || n <= 0) return;
#if MF_HAVE_KERNEL
  if (k <= 0) {
    if (!accumulate)
      for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) C[i + (size_t) j * ldc] = 0;
    return;
  }
  int avx = isa == 2;
  /* B's entry (l, j): B[l + j ldb], or B[j + l ldb] transposed */
  ptrdiff_t rs = tb ? ldb : 1, cs = tb ? 1 : ldb;
  for (int p0 = 0; p0 < k; p0 += KC) {
    int kb = k - p0 < KC ? k - p0 : KC;
    int load = accumulate || p0 > 0;
    for (int i0 = 0; i0 < m; i0 += MC) {
      int mb = m - i0 < MC ? m - i0 : MC;
      const double *a = ta ? A + p0 + (size_t) i0 * lda :
        A + i0 + (size_t) p0 * lda;
      pack_a(avx, ta, mb, kb, a, lda, work);
      row_block(avx, mb, n, kb, work, B + p0 * rs, rs, cs, load, C + i0,
                ldc);
    }
  }
#else
  const double one = 1, zero = 0;
  (void) isa;
  (void) work;
  F77_CALL(dgemm)(ta ? "T" : "N", tb ? "T" : "N", &m, &n, &k, &one, A, &lda,
                  B, &ldb, accumulate ? &one : &zero, C, &ldc FCONE FCONE);
#endif
}

void mf_gemm(int ta, int tb, int m, int n, int k, const double *A, int lda,
             const double *B, int ldb, int accumulate, double *C, int ldc,
             double *work)
{
  mf_gemm_isa(mf_gemm_kernel(), ta, tb, m, n, k, A, lda, B, ldb, accumulate,
              C, ldc, work);
}
