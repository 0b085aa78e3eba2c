/* beta * sinh(z) over a whole array: the hypentropy map's inverse, which
 * every step of a flow applies to every parameter.
 *
 * Why: glibc's sinh costs about 15 ns a call (sinh, then expm1 inside
 * it), so on a 64-256-256-1 net (82,000 parameters) it took a fifth of a
 * mirror-descent step with the own product kernel and a third with
 * OpenBLAS (perf, 256 points). The loop here evaluates four (AVX2) or
 * two (SSE2) arguments at once without library calls.
 *
 * How: with a = |z|,
 *   a < 1:       the Taylor series a + a^3/3! + ... + a^19/19!, in Horner
 *                form in a^2 (the first term left out, 2e-20 relative at
 *                a = 1);
 *   1 <= a < 20: (E - 1/E) / 2, E = e^a = 2^k e^r, k the integer nearest
 *                a / log 2, r = a - k log 2 in two parts (Cody and Waite;
 *                |r| <= 0.347), e^r by its Taylor series to r^13 (the
 *                first term left out, 4e-18 relative), 2^k put together
 *                in the exponent bits. The subtraction loses at most a
 *                factor coth(1) = 1.31 of relative accuracy;
 *   otherwise:   (a >= 20, NaN) mf_beta_sinh() below: libm's exp, with
 *                care for overflow.
 * The result keeps z's sign and is multiplied by beta last, as
 * beta * sinh(z) would be. Against libm's sinh it is within 3 units in
 * the last place over the whole range (tests/testthat/test-mirror_map.R
 * measures it), where libm is within one.
 *
 * All three paths (AVX2, SSE2, plain C for the remainder and for other
 * processors) make the same operations in the same order, without fused
 * multiply-adds, so the result does not depend on which runs. The AVX2
 * path is compiled for AVX2 by a function attribute and taken only where
 * the processor supports it (the compiler's CPU test, once). */

#include <math.h>
#include <stdint.h>
#include <string.h>
#include "mirrorflow.h"

#if defined(__SSE2__) && (defined(__x86_64__) || defined(_M_X64))
#define MF_VSSE2 1
#include <emmintrin.h>
#if defined(__GNUC__)
#define MF_VAVX2 1
#include <immintrin.h>
#endif
#endif

/* 1 / k! for the odd k of the sinh series */
#define S3 (1.0 / 6.0)
#define S5 (1.0 / 120.0)
#define S7 (1.0 / 5040.0)
#define S9 (1.0 / 362880.0)
#define S11 (1.0 / 39916800.0)
#define S13 (1.0 / 6227020800.0)
#define S15 (1.0 / 1307674368000.0)
#define S17 (1.0 / 355687428096000.0)
#define S19 (1.0 / 121645100408832000.0)
/* 1 / k! for the exponential's series */
#define E2 (1.0 / 2.0)
#define E3 (1.0 / 6.0)
#define E4 (1.0 / 24.0)
#define E5 (1.0 / 120.0)
#define E6 (1.0 / 720.0)
#define E7 (1.0 / 5040.0)
#define E8 (1.0 / 40320.0)
#define E9 (1.0 / 362880.0)
#define E10 (1.0 / 3628800.0)
#define E11 (1.0 / 39916800.0)
#define E12 (1.0 / 479001600.0)
#define E13 (1.0 / 6227020800.0)
/* log 2 in two parts, the first with 21 trailing zero bits so that
 * k * LN2HI is exact for the k < 30 used here; 1 / log 2; 1.5 * 2^52,
 * whose addition rounds to an integer that lands in the low bits */
#define LN2HI 6.93147180369123816490e-01
#define LN2LO 1.90821492927058770002e-10
#define LOG2E 1.44269504088896338700e+00
#define SHIFT 6755399441055744.0

/* The reference for one argument, a = |z| in [0, 20): what every lane of
 * the vector paths computes. */
static double sinh_core(double a)
{
  double a2 = a * a;
  double p = S19;
  p = p * a2 + S17;
  p = p * a2 + S15;
  p = p * a2 + S13;
  p = p * a2 + S11;
  p = p * a2 + S9;
  p = p * a2 + S7;
  p = p * a2 + S5;
  p = p * a2 + S3;
  double small = a + a * (a2 * p);
  if (a < 1) return small;
  double t = a * LOG2E + SHIFT;
  double k = t - SHIFT;
  double r = (a - k * LN2HI) - k * LN2LO;
  double q = E13;
  q = q * r + E12;
  q = q * r + E11;
  q = q * r + E10;
  q = q * r + E9;
  q = q * r + E8;
  q = q * r + E7;
  q = q * r + E6;
  q = q * r + E5;
  q = q * r + E4;
  q = q * r + E3;
  q = q * r + E2;
  q = q * r + 1.0;
  q = q * r + 1.0;
  uint64_t bits;
  memcpy(&bits, &t, sizeof bits);
  bits = (bits + 1023) << 52;
  double scale;
  memcpy(&scale, &bits, sizeof scale);
  double E = q * scale;
  return 0.5 * (E - 1.0 / E);
}

/* beta * sinh(z) for one z: sinh_core() where it applies, else libm with
 * care for overflow (past a = 20 the e^-a term is below rounding). */
double mf_beta_sinh(double z, double beta)
{
  double a = fabs(z);
  if (a < 20) return beta * copysign(sinh_core(a), z);
  if (isnan(z)) return z * beta;
  double h = exp(0.5 * a);
  return copysign(((0.5 * beta * h) * h) * (1 - exp(-2 * a)), z);
}

#if MF_VSSE2
static int beta_sinh_sse2(const double *z, double beta, double *out, int n)
{
  const __m128d sgnmask = _mm_set1_pd(-0.0), one = _mm_set1_pd(1.0),
    half = _mm_set1_pd(0.5), shift = _mm_set1_pd(SHIFT),
    b = _mm_set1_pd(beta), lim = _mm_set1_pd(20.0);
  const __m128i bias = _mm_set1_epi64x(1023);
  int i = 0;
  for (; i + 2 <= n; i += 2) {
    __m128d x = _mm_loadu_pd(z + i);
    __m128d a = _mm_andnot_pd(sgnmask, x);
    /* a pair with a lane past the range (or NaN) goes to the scalar code */
    if (_mm_movemask_pd(_mm_cmplt_pd(a, lim)) != 3) {
      out[i] = mf_beta_sinh(z[i], beta);
      out[i + 1] = mf_beta_sinh(z[i + 1], beta);
      continue;
    }
    /* each half only where a lane needs it: the same operations per
     * lane either way */
    __m128d lt1 = _mm_cmplt_pd(a, one);
    int sm = _mm_movemask_pd(lt1);
    __m128d small = _mm_setzero_pd(), big = _mm_setzero_pd();
    if (sm) {
      __m128d a2 = _mm_mul_pd(a, a);
      __m128d p = _mm_set1_pd(S19);
#define H(c) p = _mm_add_pd(_mm_mul_pd(p, a2), _mm_set1_pd(c))
      H(S17); H(S15); H(S13); H(S11); H(S9); H(S7); H(S5); H(S3);
#undef H
      small = _mm_add_pd(a, _mm_mul_pd(a, _mm_mul_pd(a2, p)));
    }
    if (sm != 3) {
      __m128d t = _mm_add_pd(_mm_mul_pd(a, _mm_set1_pd(LOG2E)), shift);
      __m128d k = _mm_sub_pd(t, shift);
      __m128d r = _mm_sub_pd(
        _mm_sub_pd(a, _mm_mul_pd(k, _mm_set1_pd(LN2HI))),
        _mm_mul_pd(k, _mm_set1_pd(LN2LO)));
      __m128d q = _mm_set1_pd(E13);
#define H(c) q = _mm_add_pd(_mm_mul_pd(q, r), _mm_set1_pd(c))
      H(E12); H(E11); H(E10); H(E9); H(E8); H(E7); H(E6); H(E5); H(E4);
      H(E3); H(E2); H(1.0); H(1.0);
#undef H
      __m128i bits = _mm_slli_epi64(
        _mm_add_epi64(_mm_castpd_si128(t), bias), 52);
      __m128d E = _mm_mul_pd(q, _mm_castsi128_pd(bits));
      big = _mm_mul_pd(half, _mm_sub_pd(E, _mm_div_pd(one, E)));
    }
    __m128d s = _mm_or_pd(_mm_and_pd(lt1, small), _mm_andnot_pd(lt1, big));
    s = _mm_or_pd(s, _mm_and_pd(sgnmask, x));
    _mm_storeu_pd(out + i, _mm_mul_pd(b, s));
  }
  return i;
}
#endif

#if MF_VAVX2
__attribute__((target("avx2")))
static int beta_sinh_avx2(const double *z, double beta, double *out, int n)
{
  const __m256d sgnmask = _mm256_set1_pd(-0.0), one = _mm256_set1_pd(1.0),
    half = _mm256_set1_pd(0.5), shift = _mm256_set1_pd(SHIFT),
    b = _mm256_set1_pd(beta), lim = _mm256_set1_pd(20.0);
  const __m256i bias = _mm256_set1_epi64x(1023);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    __m256d x = _mm256_loadu_pd(z + i);
    __m256d a = _mm256_andnot_pd(sgnmask, x);
    if (_mm256_movemask_pd(_mm256_cmp_pd(a, lim, _CMP_LT_OQ)) != 15) {
      for (int j = i; j < i + 4; j++) out[j] = mf_beta_sinh(z[j], beta);
      continue;
    }
    __m256d lt1 = _mm256_cmp_pd(a, one, _CMP_LT_OQ);
    int sm = _mm256_movemask_pd(lt1);
    __m256d small = _mm256_setzero_pd(), big = _mm256_setzero_pd();
    if (sm) {
      __m256d a2 = _mm256_mul_pd(a, a);
      __m256d p = _mm256_set1_pd(S19);
#define H(c) p = _mm256_add_pd(_mm256_mul_pd(p, a2), _mm256_set1_pd(c))
      H(S17); H(S15); H(S13); H(S11); H(S9); H(S7); H(S5); H(S3);
#undef H
      small = _mm256_add_pd(a, _mm256_mul_pd(a, _mm256_mul_pd(a2, p)));
    }
    if (sm != 15) {
      __m256d t = _mm256_add_pd(_mm256_mul_pd(a, _mm256_set1_pd(LOG2E)),
                                shift);
      __m256d k = _mm256_sub_pd(t, shift);
      __m256d r = _mm256_sub_pd(
        _mm256_sub_pd(a, _mm256_mul_pd(k, _mm256_set1_pd(LN2HI))),
        _mm256_mul_pd(k, _mm256_set1_pd(LN2LO)));
      __m256d q = _mm256_set1_pd(E13);
#define H(c) q = _mm256_add_pd(_mm256_mul_pd(q, r), _mm256_set1_pd(c))
      H(E12); H(E11); H(E10); H(E9); H(E8); H(E7); H(E6); H(E5); H(E4);
      H(E3); H(E2); H(1.0); H(1.0);
#undef H
      __m256i bits = _mm256_slli_epi64(
        _mm256_add_epi64(_mm256_castpd_si256(t), bias), 52);
      __m256d E = _mm256_mul_pd(q, _mm256_castsi256_pd(bits));
      big = _mm256_mul_pd(half, _mm256_sub_pd(E, _mm256_div_pd(one, E)));
    }
    __m256d s = _mm256_blendv_pd(big, small, lt1);
    s = _mm256_or_pd(s, _mm256_and_pd(sgnmask, x));
    _mm256_storeu_pd(out + i, _mm256_mul_pd(b, s));
  }
  return i;
}
#endif

static int avx2_state = -1;

int mf_vmath_isa(void)
{
#if MF_VAVX2
  if (avx2_state < 0) {
    __builtin_cpu_init();
    avx2_state = __builtin_cpu_supports("avx2") ? 1 : 0;
  }
  return avx2_state ? 2 : 1;
#elif MF_VSSE2
  return 1;
#else
  return 0;
#endif
}

/* out[i] = beta * sinh(z[i]), i < n, on the given path (0 plain C, 1
 * SSE2, 2 AVX2; at most mf_vmath_isa()). The vector loops take whole
 * groups of 4 or 2, a group with an argument outside (-20, 20) through
 * mf_beta_sinh(); plain C takes the rest. out may be z. */
void mf_beta_sinh_isa(int isa, const double *z, double beta, double *out,
                      int n)
{
  int i = 0;
#if MF_VAVX2
  if (isa == 2) i = beta_sinh_avx2(z, beta, out, n);
#endif
#if MF_VSSE2
  if (isa == 1) i = beta_sinh_sse2(z, beta, out, n);
#endif
  for (; i < n; i++) out[i] = mf_beta_sinh(z[i], beta);
}

/* The same on the processor's best path. */
void mf_beta_sinh_array(const double *z, double beta, double *out, int n)
{
  mf_beta_sinh_isa(mf_vmath_isa(), z, beta, out, n);
}
