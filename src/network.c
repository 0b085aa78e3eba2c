/* Homogeneous networks without biases: forward pass, margins, losses in log
 * space, back-propagated normalised gradients, balance quantities and
 * horizon gauges. All batched over the training points with BLAS dgemm. */

#define USE_FC_LEN_T
#include <math.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <R_ext/BLAS.h>
#ifndef FCONE
#define FCONE
#endif
#include "mirrorflow.h"

int mf_net_max_width(const mf_net *net)
{
  /* a diagonal net's "layers" are its u and v blocks of length d */
  if (net->type == MF_NET_DIAGONAL) return net->widths[0];
  int mx = 0;
  for (int l = 1; l <= net->nlayers; l++)
    if (net->widths[l] > mx) mx = net->widths[l];
  return mx;
}

/* How the products are formed (see the comment above tscr_wt()):
 * MF_LAYOUT_COPY, the transposes are copied into tscr and every product
 * is a "N", "N" dgemm call; MF_LAYOUT_DIRECT, dgemm is handed "T" and does
 * it itself, one call per product where the layout allows;
 * MF_LAYOUT_KERNEL, the calls of the direct layout, made to the package's
 * own kernel (gemm.c), which transposes while it packs. Set once per
 * session from R (blas_products()), by default from the BLAS R loaded.
 * blas_direct: the products are whole calls with "T" (direct or kernel
 * layout). */
static int blas_layout = MF_LAYOUT_COPY;
static int blas_direct = 0;

int mf_blas_layout(int set)
{
  int old = blas_layout;
  if (set == MF_LAYOUT_KERNEL && !mf_gemm_kernel()) set = MF_LAYOUT_COPY;
  if (set >= MF_LAYOUT_COPY && set <= MF_LAYOUT_KERNEL) blas_layout = set;
  blas_direct = blas_layout != MF_LAYOUT_COPY;
  return old;
}

/* C (m x n) = op(A) op(B), plus C if accumulate: the own kernel in the
 * kernel layout, given its work (a training run's gwork), else dgemm. */
static void gemm(double *work, const char *ta, const char *tb, int m, int n,
                 int k, const double *A, int lda, const double *B, int ldb,
                 int accumulate, double *C, int ldc)
{
  if (blas_layout == MF_LAYOUT_KERNEL && work) {
    mf_gemm(*ta == 'T', *tb == 'T', m, n, k, A, lda, B, ldb, accumulate, C,
            ldc, work);
    return;
  }
  const double one = 1, zero = 0;
  F77_CALL(dgemm)(ta, tb, &m, &n, &k, &one, A, &lda, B, &ldb,
                  accumulate ? &one : &zero, C, &ldc FCONE FCONE);
}

/* Points per block of the blocked products and in-place deltas. */
static size_t bp_block(const mf_net *net)
{
  return (size_t) (net->n < MF_BP_BLOCK ? net->n : MF_BP_BLOCK);
}

/* Back-propagated errors: in place, nout x n and a block of max width;
 * else two buffers of max width x n. */
static size_t delta_doubles(const mf_net *net)
{
  size_t n = (size_t) net->n, mw = (size_t) mf_net_max_width(net);
  return net->inplace ? (size_t) net->nout * n + mw * bp_block(net) :
    2 * mw * n;
}

/* In the copy and kernel layouts the products run as "N", "N" calls
 * only (dgemm's, or the own kernel's, which has no other form): an
 * unblocked (reference) BLAS runs A B^T and A^T B 1.5 to 2 times slower
 * than A B at these sizes, because it walks B^T, or A^T, across its
 * leading dimension. The transposed operands are formed in tscr: a block
 * of MF_BP_BLOCK inputs or hidden columns at a time, and MF_BP_BLOCK rows
 * of W_l^T of one layer l >= 2. The copies cost O(size) against the
 * products' O(size x width). A packing BLAS such as OpenBLAS transposes
 * while it packs, so for it the copies are pure cost (8 % of a step), and
 * so are the extra calls of the blocks; the direct layout hands it "T"
 * and whole products instead. tscr keeps its size either way. This is the
 * offset of the W_l^T rows in tscr, after the block of transposed
 * columns. */
static size_t tscr_wt(const mf_net *net)
{
  size_t mx = (size_t) mf_net_max_width(net);
  if ((size_t) net->widths[0] > mx) mx = (size_t) net->widths[0];
  return bp_block(net) * mx;
}

/* tscr, then the own kernel's packed block (gwork) */
static size_t tscr_doubles(const mf_net *net)
{
  if (net->type == MF_NET_DIAGONAL) return 0;
  size_t wt = 0;
  for (int l = 2; l <= net->nlayers; l++) {
    size_t mi = (size_t) net->widths[l - 1];
    if (mi > MF_BP_BLOCK) mi = MF_BP_BLOCK;
    size_t sz = (size_t) net->widths[l] * mi;
    if (sz > wt) wt = sz;
  }
  return tscr_wt(net) + wt + MF_GEMM_WORK;
}

/* dst (cols x rows, leading dimension ldd) = the transpose of src
 * (rows x cols, leading dimension lds), in tiles that stay in cache. */
static void transpose(const double *src, int lds, int rows, int cols,
                      double *dst, int ldd)
{
  const int T = 32;
  for (int c0 = 0; c0 < cols; c0 += T) {
    int c1 = c0 + T < cols ? c0 + T : cols;
    for (int r0 = 0; r0 < rows; r0 += T) {
      int r1 = r0 + T < rows ? r0 + T : rows;
      for (int c = c0; c < c1; c++)
        for (int r = r0; r < r1; r++)
          dst[c + (size_t) r * ldd] = src[r + (size_t) c * lds];
    }
  }
}

size_t mf_net_work_doubles(const mf_net *net)
{
  size_t n = (size_t) net->n;
  if (net->type == MF_NET_DIAGONAL) {
    size_t d = (size_t) net->widths[0];
    return n + 2 * d + n + 2 * n;   /* out, w-vector and c, delta, q and w */
  }
  size_t hid = 0;
  for (int l = 1; l < net->nlayers; l++) hid += (size_t) net->widths[l] * n;
  return (size_t) net->nout * n + hid + delta_doubles(net) +
    tscr_doubles(net) + 2 * n;
}

void mf_net_attach(mf_net *net, double *dwork, int *iwork)
{
  size_t n = (size_t) net->n;
  double *p = dwork;
  net->act = p;
  p += (size_t) net->nout * n;
  net->hid = p;
  if (net->type == MF_NET_DIAGONAL) {
    p += 2 * (size_t) net->widths[0];
    net->delta = p;
    p += n;
  } else {
    for (int l = 1; l < net->nlayers; l++) p += (size_t) net->widths[l] * n;
    net->delta = p;
    p += delta_doubles(net);
  }
  net->tscr = p;
  net->wt = net->type == MF_NET_DIAGONAL ? NULL : p + tscr_wt(net);
  p += tscr_doubles(net);
  net->gwork = net->type == MF_NET_DIAGONAL ? NULL : p - MF_GEMM_WORK;
  net->q = p;
  p += n;
  net->w = p;
  net->rival = iwork;
}

int mf_net_degree(const mf_net *net)
{
  return net->type == MF_NET_DIAGONAL ? 2 : net->nlayers;
}

/* The activation and its slope are applied with SSE2 selects where the
 * compiler has them (every x86-64 one): the sign of a hidden unit's input
 * is close to a coin flip, so a branch around a store mispredicts half
 * the time, and gcc at -O2 does not turn these loops into selects itself
 * (they could trap on a signalling NaN). A branch-free loop ran 8 to 10
 * times faster on this machine. The values are bit for bit those of the
 * plain loops below, which do the remainder and other targets: max(0, a)
 * as "0 > a ? 0 : a" keeps NaN and -0, and a comparison with NaN is
 * false. */
static void activate(const mf_net *net, double *a, size_t len)
{
  size_t i = 0;
  double s = net->slope;
  if (net->activation == MF_ACT_RELU) {
#ifdef __SSE2__
    __m128d z = _mm_setzero_pd();
    for (; i + 2 <= len; i += 2)
      _mm_storeu_pd(a + i, _mm_max_pd(z, _mm_loadu_pd(a + i)));
#endif
    for (; i < len; i++) a[i] = 0 > a[i] ? 0 : a[i];
  } else if (net->activation == MF_ACT_LEAKY) {
#ifdef __SSE2__
    __m128d z = _mm_setzero_pd(), sv = _mm_set1_pd(s);
    for (; i + 2 <= len; i += 2) {
      __m128d v = _mm_loadu_pd(a + i), neg = _mm_cmplt_pd(v, z);
      _mm_storeu_pd(a + i, _mm_or_pd(_mm_and_pd(neg, _mm_mul_pd(v, sv)),
                                     _mm_andnot_pd(neg, v)));
    }
#endif
    for (; i < len; i++) a[i] = a[i] < 0 ? a[i] * s : a[i];
  }
}

/* d *= s'(a) where h = s(a): the derivative of the activation read off its
 * output (positive exactly where a is), 0 or the leaky slope at the kink. */
static void activation_slope(const mf_net *net, const double *h, double *d,
                             size_t len)
{
  size_t i = 0;
  double s = net->slope;
  if (net->activation == MF_ACT_RELU) {
#ifdef __SSE2__
    __m128d z = _mm_setzero_pd();
    for (; i + 2 <= len; i += 2) {
      __m128d pos = _mm_cmpgt_pd(_mm_loadu_pd(h + i), z);
      _mm_storeu_pd(d + i, _mm_and_pd(pos, _mm_loadu_pd(d + i)));
    }
#endif
    for (; i < len; i++) d[i] = h[i] > 0 ? d[i] : 0;
  } else if (net->activation == MF_ACT_LEAKY) {
#ifdef __SSE2__
    __m128d z = _mm_setzero_pd(), sv = _mm_set1_pd(s);
    for (; i + 2 <= len; i += 2) {
      __m128d v = _mm_loadu_pd(d + i),
        pos = _mm_cmpgt_pd(_mm_loadu_pd(h + i), z);
      _mm_storeu_pd(d + i, _mm_or_pd(_mm_and_pd(pos, v),
                                     _mm_andnot_pd(pos, _mm_mul_pd(v, sv))));
    }
#endif
    for (; i < len; i++) d[i] = h[i] > 0 ? d[i] : d[i] * s;
  }
}

/* out (nout x nnew) = network scores of the rows of x (nnew x d, leading
 * dimension nnew); hidden layers go to hid_store, or through scratch,
 * which then holds two buffers of max width x nnew. */
static void forward_dense(const mf_net *net, const double *theta,
                          const double *x, int nnew, double *hid_store,
                          double *scratch, double *tscr, double *gwork,
                          double *out)
{
  const double *in = x;
  int mw = mf_net_max_width(net);
  for (int l = 1; l <= net->nlayers; l++) {
    int mo = net->widths[l], mi = net->widths[l - 1];
    const double *W = theta + net->offset[l - 1];
    double *dst;
    if (l == net->nlayers) dst = out;
    else if (hid_store) {
      dst = hid_store;
      hid_store += (size_t) mo * nnew;
    } else dst = scratch + (size_t) ((l - 1) % 2) * mw * nnew;
    /* W_1 X^T from X as R stores it, through blocks of X^T where there
     * is room for them (training), else as "N", "T" (new data) */
    if (l == 1 && tscr && !blas_direct) {
      for (int j0 = 0; j0 < nnew; j0 += MF_BP_BLOCK) {
        int nb = nnew - j0 < MF_BP_BLOCK ? nnew - j0 : MF_BP_BLOCK;
        transpose(in + j0, nnew, nb, mi, tscr, mi);
        gemm(gwork, "N", "N", mo, nb, mi, W, mo, tscr, mi, 0,
             dst + (size_t) j0 * mo, mo);
      }
    } else if (l == 1)
      gemm(gwork, "N", "T", mo, nnew, mi, W, mo, in, nnew, 0, dst, mo);
    else
      gemm(gwork, "N", "N", mo, nnew, mi, W, mo, in, mi, 0, dst, mo);
    if (l < net->nlayers) activate(net, dst, (size_t) mo * nnew);
    in = dst;
  }
}

static void forward_diagonal(const mf_net *net, const double *theta,
                             const double *x, int nnew, double *wvec,
                             double *out)
{
  int d = net->widths[0], inc = 1;
  const double one = 1, zero = 0;
  const double *u = theta, *v = theta + d;
  for (int k = 0; k < d; k++) wvec[k] = u[k] * u[k] - v[k] * v[k];
  F77_CALL(dgemv)("N", &nnew, &d, &one, x, &nnew, wvec, &inc, &zero, out,
                  &inc FCONE);
}

static void margins(mf_net *net)
{
  int n = net->n, K = net->nout;
  if (K == 1) {
    for (int i = 0; i < n; i++) net->q[i] = net->yb[i] * net->act[i];
    return;
  }
  for (int i = 0; i < n; i++) {
    const double *f = net->act + (size_t) i * K;
    int c = net->yc[i], r = -1;
    double best = -INFINITY;
    for (int j = 0; j < K; j++) {
      if (j == c) continue;
      if (r < 0 || f[j] > best) {
        best = f[j];
        r = j;
      }
    }
    net->rival[i] = r;
    net->q[i] = f[c] - best;
  }
}

void mf_net_forward(mf_net *net, const double *theta)
{
  if (net->type == MF_NET_DIAGONAL)
    forward_diagonal(net, theta, net->x, net->n, net->hid, net->act);
  else
    forward_dense(net, theta, net->x, net->n, net->hid, NULL, net->tscr,
                  net->gwork, net->act);
  margins(net);
}

void mf_net_scores(const mf_net *net, const double *theta, const double *x,
                   int nnew, double *scratch, double *out)
{
  if (net->type == MF_NET_DIAGONAL)
    forward_diagonal(net, theta, x, nnew, scratch, out);
  else
    forward_dense(net, theta, x, nnew, NULL, scratch, NULL, NULL, out);
}

static double softplus(double x)
{
  return fmax(x, 0) + log1p(exp(-fabs(x)));
}

/* log(log(1 + exp(-q))), the log of the logistic loss, for any q. */
static double log_logistic(double q)
{
  if (q > 30) return -q - 0.5 * exp(-q);
  return log(softplus(-q));
}

double mf_loss_weights(mf_net *net)
{
  int n = net->n;
  double *w = net->w, m = -INFINITY;
  for (int i = 0; i < n; i++) {
    w[i] = net->loss == MF_LOSS_EXP ? -net->q[i] : log_logistic(net->q[i]);
    if (w[i] > m) m = w[i];
  }
  if (!isfinite(m)) {
    for (int i = 0; i < n; i++) w[i] = NAN;
    return m;
  }
  double s = 0;
  for (int i = 0; i < n; i++) s += exp(w[i] - m);
  double logL = m + log(s);
  for (int i = 0; i < n; i++) {
    /* -l'(q) / Loss: e^{-q} / Loss, or sigmoid(-q) / Loss */
    double lw = net->loss == MF_LOSS_EXP ? w[i] : -softplus(net->q[i]);
    w[i] = exp(lw - logL);
  }
  return logL;
}

/* gW (mo x mi) = dl (mo x n) H^T for H (mi x n): a sum over blocks of
 * points, each block of H transposed first, so that every product is
 * "N", "N". */
static void grad_dl_ht(const mf_net *net, const double *dl, int mo,
                       const double *H, int mi, double *gW)
{
  int n = net->n;
  if (blas_direct) {
    gemm(net->gwork, "N", "T", mo, mi, n, dl, mo, H, mi, 0, gW, mo);
    return;
  }
  for (int j0 = 0; j0 < n; j0 += MF_BP_BLOCK) {
    int nb = n - j0 < MF_BP_BLOCK ? n - j0 : MF_BP_BLOCK;
    transpose(H + (size_t) j0 * mi, mi, mi, nb, net->tscr, nb);
    gemm(net->gwork, "N", "N", mo, mi, nb, dl + (size_t) j0 * mo, mo,
         net->tscr, nb, j0 > 0, gW, mo);
  }
}

/* dn = s'(H) * (W^T dl) for one layer going down, W mo x mi, dl mo x n.
 * W^T is formed MF_BP_BLOCK of its rows at a time (the transpose of a
 * block of W's columns), so that its room is MF_BP_BLOCK x mo, not a whole
 * layer. With dn == NULL the result is written over H (mi x n) itself, a
 * block of rows and MF_BP_BLOCK points at a time through the block
 * buffer, each entry of H read for the slope just before it is
 * replaced. */
static void backprop(const mf_net *net, const double *W, int mo, int mi,
                     const double *dl, double *H, double *block, double *dn)
{
  int n = net->n;
  double *Wt = net->wt;
  if (dn && blas_direct) {
    gemm(net->gwork, "T", "N", mi, n, mo, W, mo, dl, mo, 0, dn, mi);
    activation_slope(net, H, dn, (size_t) mi * n);
    return;
  }
  for (int i0 = 0; i0 < mi; i0 += MF_BP_BLOCK) {
    int c = mi - i0 < MF_BP_BLOCK ? mi - i0 : MF_BP_BLOCK;
    /* with blas_direct, the block of W's columns is the "T" operand */
    const double *Wb = W + (size_t) i0 * mo;
    int ldw = mo;
    const char *tw = "T";
    if (!blas_direct) {
      transpose(Wb, mo, mo, c, Wt, c);
      Wb = Wt;
      ldw = c;
      tw = "N";
    }
    if (dn) {
      /* (dn with blas_direct returned above) */
      gemm(net->gwork, "N", "N", c, n, mo, Wb, ldw, dl, mo, 0, dn + i0, mi);
      continue;
    }
    for (int j0 = 0; j0 < n; j0 += MF_BP_BLOCK) {
      int nb = n - j0 < MF_BP_BLOCK ? n - j0 : MF_BP_BLOCK;
      gemm(net->gwork, tw, "N", c, nb, mo, Wb, ldw, dl + (size_t) j0 * mo,
           mo, 0, block, c);
      for (int j = 0; j < nb; j++) {
        double *h = H + (size_t) (j0 + j) * mi + i0, *b = block +
          (size_t) j * c;
        activation_slope(net, h, b, (size_t) c);
        memcpy(h, b, sizeof(double) * c);
      }
    }
  }
  if (dn) activation_slope(net, H, dn, (size_t) mi * n);
}

void mf_net_backward(mf_net *net, const double *theta, double *g)
{
  const double one = 1, zero = 0;
  int n = net->n, K = net->nout, L = net->nlayers;

  if (net->type == MF_NET_DIAGONAL) {
    int d = net->widths[0], inc = 1;
    double *dF = net->delta, *c = net->hid + d;
    for (int i = 0; i < n; i++) dF[i] = -net->w[i] * net->yb[i];
    F77_CALL(dgemv)("T", &n, &d, &one, net->x, &n, dF, &inc, &zero, c, &inc
                    FCONE);
    for (int k = 0; k < d; k++) {
      g[k] = 2 * theta[k] * c[k];
      g[d + k] = -2 * theta[d + k] * c[k];
    }
    return;
  }

  int mw = mf_net_max_width(net);
  /* in place: dl, K x n, then the block; else two buffers of mw x n */
  double *dl = net->delta,
    *dn = net->inplace ? NULL : net->delta + (size_t) mw * n,
    *block = net->inplace ? net->delta + (size_t) K * n : NULL;
  memset(dl, 0, sizeof(double) * (size_t) K * n);
  if (K == 1) {
    for (int i = 0; i < n; i++) dl[i] = -net->w[i] * net->yb[i];
  } else {
    for (int i = 0; i < n; i++) {
      dl[(size_t) i * K + net->yc[i]] = -net->w[i];
      dl[(size_t) i * K + net->rival[i]] = net->w[i];
    }
  }

  /* hidden post-activations of layer l live at hid_off[l] */
  size_t hid_off[MF_MAX_LAYERS + 1];
  hid_off[1] = 0;
  for (int l = 2; l < L; l++)
    hid_off[l] = hid_off[l - 1] + (size_t) net->widths[l - 1] * n;

  for (int l = L; l >= 1; l--) {
    int mo = net->widths[l], mi = net->widths[l - 1];
    double *gW = g + net->offset[l - 1];
    if (l == 1) {
      /* delta_1 X with X stored by rows: a plain "N", "N" product */
      gemm(net->gwork, "N", "N", mo, mi, n, dl, mo, net->x, n, 0, gW, mo);
      break;
    }
    double *in = net->hid + hid_off[l - 1];
    const double *W = theta + net->offset[l - 1];
    grad_dl_ht(net, dl, mo, in, mi, gW);
    if (net->inplace) {
      backprop(net, W, mo, mi, dl, in, block, NULL);
      dl = in;
      continue;
    }
    backprop(net, W, mo, mi, dl, in, NULL, dn);
    double *t = dl;
    dl = dn;
    dn = t;
  }
}

double mf_net_eval(mf_net *net, const double *theta, double *g)
{
  mf_net_forward(net, theta);
  double logL = mf_loss_weights(net);
  mf_net_backward(net, theta, g);
  return logL;
}

int mf_net_balance(const mf_net *net, const mf_map *maps, const double *theta,
                   double *out, double *scale, double *dwork)
{
  if (net->type == MF_NET_DIAGONAL) return 0;
  int L = net->nlayers, count = 0;
  for (int l = 1; l < L; l++) count += net->widths[l];
  if (!out) return count;

  for (int l = 0; l < L; l++) {
    int len = net->offset[l + 1] - net->offset[l];
    int rc = mf_map_eval(maps + l, 3, theta + net->offset[l],
                         dwork + net->offset[l], len);
    if (rc) return -rc;
  }
  int j = 0;
  for (int l = 1; l < L; l++) {
    int ml = net->widths[l], mprev = net->widths[l - 1],
      mnext = net->widths[l + 1];
    const double *Din = dwork + net->offset[l - 1];
    const double *Dout = dwork + net->offset[l];
    for (int r = 0; r < ml; r++, j++) {
      double sin = 0, sout = 0;
      for (int c = 0; c < mprev; c++) sin += Din[r + (size_t) c * ml];
      for (int c = 0; c < mnext; c++) sout += Dout[c + (size_t) r * mnext];
      out[j] = sin - sout;
      scale[j] = sin + sout;
    }
  }
  return count;
}

/* Limitation: with different horizons per layer the gauge is that of the
 * sum of the layers' horizon functions, which is the horizon only when the
 * layers' potentials grow alike; normalising each layer's sublevel sets by
 * its own growth would lift it. */
double mf_net_horizon(const mf_net *net, const mf_map *maps,
                      const double *theta, double *layer_out)
{
  int L = net->nlayers;
  double p[MF_MAX_LAYERS];
  for (int l = 0; l < L; l++) {
    p[l] = mf_horizon_exponent(maps + l);
    if (layer_out)
      layer_out[l] = mf_gauge(theta + net->offset[l],
                              net->offset[l + 1] - net->offset[l], p[l]);
  }
  return mf_gauge_mixed(theta, net->offset, p, L);
}

void mf_net_sample_grads(const mf_net *net, const double *theta,
                         const int *idx, int ns, double *A, double *dwork)
{
  size_t P = (size_t) net->nparam;
  int K = net->nout, L = net->nlayers;

  if (net->type == MF_NET_DIAGONAL) {
    int d = net->widths[0];
    const double *u = theta, *v = theta + d;
    for (int s = 0; s < ns; s++) {
      int i = idx[s];
      const double *x = net->x + i;
      size_t n = (size_t) net->n;
      double y = net->yb[i], *a = A + (size_t) s * P;
      for (int k = 0; k < d; k++) {
        a[k] = 2 * y * u[k] * x[k * n];
        a[d + k] = -2 * y * v[k] * x[k * n];
      }
    }
    return;
  }

  const double one = 1, zero = 0;
  int mw = mf_net_max_width(net);
  double *dl = dwork, *dn = dwork + (size_t) mw * ns;
  memset(dl, 0, sizeof(double) * (size_t) K * ns);
  for (int s = 0; s < ns; s++) {
    int i = idx[s];
    if (K == 1) dl[s] = net->yb[i];
    else {
      dl[(size_t) s * K + net->yc[i]] = 1;
      dl[(size_t) s * K + net->rival[i]] = -1;
    }
  }
  size_t hid_off[MF_MAX_LAYERS + 1];
  hid_off[1] = 0;
  for (int l = 2; l < L; l++)
    hid_off[l] = hid_off[l - 1] + (size_t) net->widths[l - 1] * net->n;

  for (int l = L; l >= 1; l--) {
    int mo = net->widths[l], mi = net->widths[l - 1];
    /* the inputs are rows of x (stride n), the hidden layers columns */
    const double *H = l == 1 ? net->x : net->hid + hid_off[l - 1];
    size_t col = l == 1 ? 1 : (size_t) mi, stride = l == 1 ? net->n : 1;
    /* block l of column s: delta_l[, s] outer H_{l-1}[, idx[s]] */
    for (int s = 0; s < ns; s++) {
      const double *h = H + (size_t) idx[s] * col, *dd = dl + (size_t) s * mo;
      double *a = A + (size_t) s * P + net->offset[l - 1];
      for (int c = 0; c < mi; c++) {
        double hc = h[c * stride];
        double *ac = a + (size_t) c * mo;
        for (int r = 0; r < mo; r++) ac[r] = dd[r] * hc;
      }
    }
    if (l == 1) break;
    const double *W = theta + net->offset[l - 1];
    F77_CALL(dgemm)("T", "N", &mi, &ns, &mo, &one, W, &mo, dl, &mo, &zero, dn,
                    &mi FCONE FCONE);
    for (int s = 0; s < ns; s++)
      activation_slope(net, H + (size_t) idx[s] * mi, dn + (size_t) s * mi,
                       (size_t) mi);
    double *t = dl;
    dl = dn;
    dn = t;
  }
}
