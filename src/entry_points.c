/* The .Call entry points: each checks the types and lengths it is given,
 * builds the plain-C structures, calls a core and maps fault codes to R
 * errors. Nothing passed from R can crash the process through here. */

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <R.h>
#include <Rinternals.h>
#include <cli/progress.h>
#include "mirrorflow.h"
#include "entry_points.h"

static const double *real_arg(SEXP x, const char *name, R_xlen_t len)
{
  if (TYPEOF(x) != REALSXP) error("'%s' must be a double vector", name);
  if (len >= 0 && XLENGTH(x) != len)
    error("'%s' must have length %lld, not %lld", name, (long long) len,
          (long long) XLENGTH(x));
  return REAL(x);
}

/* Copies the initial parameters into dst: a double vector of length P, or
 * a list of double blocks whose lengths add up to P in order (a caller's
 * weight matrices, taken as they are rather than flattened in R first,
 * which for a wide net saves a parameter-sized copy). */
static void copy_params(SEXP th, const char *name, double *dst, int P)
{
  if (TYPEOF(th) != VECSXP) {
    memcpy(dst, real_arg(th, name, P), sizeof(double) * P);
    return;
  }
  R_xlen_t pos = 0, nb = XLENGTH(th);
  for (R_xlen_t b = 0; b < nb; b++) {
    SEXP blk = VECTOR_ELT(th, b);
    if (TYPEOF(blk) != REALSXP)
      error("'%s' block %lld must be a double vector or matrix", name,
            (long long) b + 1);
    R_xlen_t len = XLENGTH(blk);
    if (len > P - pos) pos = P + 1;   /* too many */
    if (pos > P) break;
    if (len > 0) memcpy(dst + pos, REAL(blk), sizeof(double) * len);
    pos += len;
  }
  if (pos != P) error("'%s' blocks must hold %d numbers in all", name, P);
}

static const int *int_arg(SEXP x, const char *name, R_xlen_t len)
{
  if (TYPEOF(x) != INTSXP) error("'%s' must be an integer vector", name);
  if (len >= 0 && XLENGTH(x) != len)
    error("'%s' must have length %lld, not %lld", name, (long long) len,
          (long long) XLENGTH(x));
  return INTEGER(x);
}

static void set_names(SEXP x, const char **nm, int n)
{
  SEXP s = PROTECT(allocVector(STRSXP, n));
  for (int i = 0; i < n; i++) SET_STRING_ELT(s, i, mkChar(nm[i]));
  setAttrib(x, R_NamesSymbol, s);
  UNPROTECT(1);
}

/* ---- maps ------------------------------------------------------------ */

static int custom_callback(void *ctx, int what, const double *in,
                           double *out, int n)
{
  SEXP fun = (SEXP) ctx;
  SEXP x = PROTECT(allocVector(REALSXP, n));
  if (n > 0) memcpy(REAL(x), in, sizeof(double) * n);
  SEXP w = PROTECT(ScalarInteger(what));
  SEXP call = PROTECT(lang3(fun, w, x));
  SEXP r = PROTECT(eval(call, R_GlobalEnv));
  int rc = MF_OK;
  if (TYPEOF(r) != REALSXP || XLENGTH(r) != n) rc = MF_ERR_CUSTOM;
  else if (n > 0) memcpy(out, REAL(r), sizeof(double) * n);
  UNPROTECT(4);
  return rc;
}

/* One map from a length-5 column (family, p, q, beta, horizon exponent) and
 * an R function for custom maps. */
static void parse_map(const double *col, SEXP fun, mf_map *m, const char *arg,
                      int need_fun)
{
  double fam = col[0];
  if (!(fam >= 0 && fam <= MF_CUSTOM) || fam != floor(fam))
    error("'%s' holds an unknown mirror-map family code", arg);
  m->family = (int) fam;
  m->p = col[1];
  m->q = col[2];
  m->beta = col[3];
  m->hexp = col[4];
  m->cb = NULL;
  m->ctx = NULL;
  switch (m->family) {
  case MF_PNORM:
    if (!(m->p > 1 && isfinite(m->p))) error("'%s': 'p' must exceed 1", arg);
    break;
  case MF_HYPENTROPY:
    if (!(m->beta > 0 && isfinite(m->beta)))
      error("'%s': 'beta' must be positive and finite", arg);
    break;
  case MF_POWERS:
    if (!(m->p > 1 && m->q > m->p && isfinite(m->q)))
      error("'%s': powers need 1 < p < q", arg);
    break;
  case MF_CUSTOM:
    if (need_fun && !isFunction(fun))
      error("'%s': a custom map needs a function", arg);
    if (!(m->hexp > 0)) error("'%s': custom horizon exponent must be > 0", arg);
    m->cb = need_fun ? custom_callback : NULL;
    m->ctx = need_fun ? (void *) fun : NULL;
    break;
  }
}

static mf_map *parse_maps(SEXP maps, SEXP custom, int L)
{
  const double *mp = real_arg(maps, "maps", 5 * (R_xlen_t) L);
  if (TYPEOF(custom) != VECSXP || XLENGTH(custom) != L)
    error("'custom' must be a list of length %d", L);
  mf_map *m = (mf_map *) R_alloc(L, sizeof(mf_map));
  for (int l = 0; l < L; l++) {
    SEXP f = VECTOR_ELT(custom, l);
    if (f != R_NilValue && !isFunction(f))
      error("'custom' must hold functions or NULL");
    parse_map(mp + 5 * l, f, m + l, "maps", 1);
  }
  return m;
}

SEXP mf_map_apply(SEXP map, SEXP fun, SEXP what, SEXP x)
{
  mf_map m;
  parse_map(real_arg(map, "map", 5), fun, &m, "map", 1);
  const int *w = int_arg(what, "what", 1);
  if (*w < 0 || *w > 3) error("'what' must be 0, 1, 2 or 3");
  const double *xx = real_arg(x, "x", -1);
  if (XLENGTH(x) > INT_MAX) error("'x' is too long");
  int n = (int) XLENGTH(x);
  SEXP out = PROTECT(allocVector(REALSXP, n));
  int rc = mf_map_eval(&m, *w, xx, REAL(out), n);
  if (rc) error("%s", mf_fault_message(rc));
  UNPROTECT(1);
  return out;
}

SEXP mf_gauge_vec(SEXP x, SEXP p)
{
  const double *xx = real_arg(x, "x", -1);
  const double *pp = real_arg(p, "p", 1);
  if (!(*pp >= 1)) error("'p' must be at least 1");
  if (XLENGTH(x) > INT_MAX) error("'x' is too long");
  return ScalarReal(mf_gauge(xx, (int) XLENGTH(x), *pp));
}

/* Gauge of x cut into consecutive blocks of the given lengths, block l with
 * lp exponent p[l] (Inf for the max norm): mf_gauge_mixed. */
SEXP mf_gauge_blocks(SEXP x, SEXP lengths, SEXP p)
{
  const double *xx = real_arg(x, "x", -1);
  const int *len = int_arg(lengths, "lengths", -1);
  R_xlen_t nb = XLENGTH(lengths);
  const double *pp = real_arg(p, "p", nb);
  if (nb < 1 || nb > MF_MAX_LAYERS)
    error("'lengths' must have 1 to %d blocks", MF_MAX_LAYERS);
  if (XLENGTH(x) > INT_MAX) error("'x' is too long");
  int *off = (int *) R_alloc(nb + 1, sizeof(int));
  off[0] = 0;
  for (R_xlen_t l = 0; l < nb; l++) {
    if (len[l] == NA_INTEGER || len[l] < 0)
      error("'lengths' must be non-negative integers");
    if (!(pp[l] >= 1)) error("'p' must be at least 1");
    if ((double) off[l] + len[l] > (double) XLENGTH(x))
      error("'lengths' must add up to the length of 'x'");
    off[l + 1] = off[l] + len[l];
  }
  if (off[nb] != XLENGTH(x))
    error("'lengths' must add up to the length of 'x'");
  for (R_xlen_t i = 0; i < XLENGTH(x); i++)
    if (isnan(xx[i])) return ScalarReal(NA_REAL);
  return ScalarReal(mf_gauge_mixed(xx, off, pp, (int) nb));
}

/* ---- networks -------------------------------------------------------- */

/* Fills net from netspec (type, activation, slope, nout, loss) and widths;
 * data pointers are left NULL. */
static void parse_net(SEXP netspec, SEXP widths, mf_net *net)
{
  const double *ns = real_arg(netspec, "netspec", 5);
  if (TYPEOF(widths) != INTSXP) error("'widths' must be an integer vector");
  R_xlen_t nw = XLENGTH(widths);
  const int *w = INTEGER(widths);
  memset(net, 0, sizeof(*net));
  if (!(ns[0] == MF_NET_DENSE || ns[0] == MF_NET_DIAGONAL))
    error("'netspec' has an unknown network type");
  net->type = (int) ns[0];
  if (!(ns[1] == MF_ACT_RELU || ns[1] == MF_ACT_LEAKY ||
        ns[1] == MF_ACT_LINEAR))
    error("'netspec' has an unknown activation");
  net->activation = (int) ns[1];
  if (!isfinite(ns[2])) error("'netspec' slope must be finite");
  net->slope = ns[2];
  if (!(ns[4] == MF_LOSS_EXP || ns[4] == MF_LOSS_LOGISTIC))
    error("'netspec' has an unknown loss");
  net->loss = (int) ns[4];
  if (nw < 2 || nw > MF_MAX_LAYERS + 1)
    error("'widths' must have between 2 and %d entries", MF_MAX_LAYERS + 1);
  for (R_xlen_t i = 0; i < nw; i++)
    if (w[i] == NA_INTEGER || w[i] < 1)
      error("'widths' must be positive integers");
  net->widths = w;
  int *off;
  double total = 0;
  if (net->type == MF_NET_DIAGONAL) {
    if (nw != 2 || w[1] != 1) error("a diagonal network has widths c(d, 1)");
    net->nlayers = 2;
    off = (int *) R_alloc(3, sizeof(int));
    off[0] = 0;
    off[1] = w[0];
    total = 2.0 * w[0];
    off[2] = (int) fmin(total, INT_MAX);
  } else {
    net->nlayers = (int) nw - 1;
    off = (int *) R_alloc(nw, sizeof(int));
    off[0] = 0;
    for (int l = 1; l < nw; l++) {
      total += (double) w[l] * w[l - 1];
      off[l] = (int) fmin(total, INT_MAX);
    }
  }
  if (total > INT_MAX / 16) error("the network has too many parameters");
  net->offset = off;
  net->nparam = (int) total;
  double nout = ns[3];
  int want = net->type == MF_NET_DIAGONAL ? 1 : w[nw - 1];
  if (nout != want) error("'netspec' output width must equal %d", want);
  net->nout = want;
}

/* The number of rows of x, the inputs as R stores an n x d matrix: a
 * matrix must have d columns, a plain vector a multiple of d entries. */
static R_xlen_t data_rows(SEXP x, R_xlen_t d, int allow_empty)
{
  real_arg(x, "x", -1);
  SEXP dim = getAttrib(x, R_DimSymbol);
  if (dim != R_NilValue &&
      (XLENGTH(dim) != 2 || INTEGER(dim)[1] != d))
    error("'x' must be a matrix with %lld columns", (long long) d);
  if ((!allow_empty && XLENGTH(x) == 0) || XLENGTH(x) % d != 0)
    error("'x' must hold a %snumber of rows of length %lld",
          allow_empty ? "" : "positive ", (long long) d);
  return XLENGTH(x) / d;
}

/* Attaches training data (x is n x d, used where it lies) and, if alloc,
 * the workspace; inplace lets the backward pass overwrite the
 * activations. */
static void attach_data(mf_net *net, SEXP x, SEXP yb, SEXP yc, int inplace,
                        int alloc)
{
  R_xlen_t d = net->widths[0];
  R_xlen_t n = data_rows(x, d, 0);
  if (n > INT_MAX / 4) error("'x' has too many rows");
  if ((double) n * net->nout > (double) INT_MAX / 4 ||
      (double) n * d > 1e12)
    error("'x' is too large");
  net->n = (int) n;
  net->x = REAL(x);
  net->inplace = inplace;
  /* the labels of the other kind must be empty, so that a call cannot pass
   * the wrong one unnoticed */
  if (net->nout == 1) {
    int_arg(yc, "yc", 0);
    net->yb = real_arg(yb, "yb", n);
    for (R_xlen_t i = 0; i < n; i++)
      if (!(net->yb[i] == 1 || net->yb[i] == -1))
        error("'yb' must hold labels -1 and 1");
  } else {
    real_arg(yb, "yb", 0);
    net->yc = int_arg(yc, "yc", n);
    for (R_xlen_t i = 0; i < n; i++)
      if (net->yc[i] == NA_INTEGER || net->yc[i] < 0 ||
          net->yc[i] >= net->nout)
        error("'yc' must hold class indices 0 to %d", net->nout - 1);
  }
  if (!alloc) return;
  size_t nd = mf_net_work_doubles(net);
  double *dw = (double *) R_alloc(nd, sizeof(double));
  int *iw = (int *) R_alloc(n, sizeof(int));
  mf_net_attach(net, dw, iw);
}

SEXP mf_net_evaluate(SEXP x, SEXP yb, SEXP yc, SEXP netspec, SEXP widths,
                     SEXP theta, SEXP inplace)
{
  mf_net net;
  parse_net(netspec, widths, &net);
  if (TYPEOF(inplace) != LGLSXP || XLENGTH(inplace) != 1 ||
      LOGICAL(inplace)[0] == NA_LOGICAL)
    error("'inplace' must be TRUE or FALSE");
  /* both back-propagations, the one of mirror descent and the one the
   * adaptive integrator uses, are reachable from here for the tests */
  attach_data(&net, x, yb, yc, LOGICAL(inplace)[0], 1);
  const double *th = real_arg(theta, "theta", net.nparam);
  int np = 0;
  SEXP g = PROTECT(allocVector(REALSXP, net.nparam)); np++;
  double logL = mf_net_eval(&net, th, REAL(g));
  SEXP q = PROTECT(allocVector(REALSXP, net.n)); np++;
  memcpy(REAL(q), net.q, sizeof(double) * net.n);
  SEXP f = PROTECT(allocMatrix(REALSXP, net.nout, net.n)); np++;
  memcpy(REAL(f), net.act, sizeof(double) * net.n * net.nout);
  SEXP out = PROTECT(allocVector(VECSXP, 4)); np++;
  SET_VECTOR_ELT(out, 0, ScalarReal(logL));
  SET_VECTOR_ELT(out, 1, g);
  SET_VECTOR_ELT(out, 2, q);
  SET_VECTOR_ELT(out, 3, f);
  const char *nm[] = {"log_loss", "gradient", "margins", "scores"};
  set_names(out, nm, 4);
  UNPROTECT(np);
  return out;
}

SEXP mf_net_predict(SEXP xs, SEXP netspec, SEXP widths, SEXP theta)
{
  mf_net net;
  parse_net(netspec, widths, &net);
  R_xlen_t d = net.widths[0];
  R_xlen_t n = data_rows(xs, d, 1);
  const double *x = REAL(xs);
  if (n > INT_MAX / 4 || (double) n * net.nout > (double) INT_MAX)
    error("'x' has too many rows");
  const double *th = real_arg(theta, "theta", net.nparam);
  int mw = mf_net_max_width(&net);
  size_t ns = net.type == MF_NET_DIAGONAL ? (size_t) d :
    2 * (size_t) mw * (size_t) n;
  double *scratch = (double *) R_alloc(ns > 0 ? ns : 1, sizeof(double));
  SEXP out = PROTECT(allocMatrix(REALSXP, net.nout, (int) n));
  if (n > 0) mf_net_scores(&net, th, x, (int) n, scratch, REAL(out));
  UNPROTECT(1);
  return out;
}

SEXP mf_net_balances(SEXP netspec, SEXP widths, SEXP maps, SEXP custom,
                     SEXP theta)
{
  mf_net net;
  parse_net(netspec, widths, &net);
  mf_map *m = parse_maps(maps, custom, net.nlayers);
  const double *th = real_arg(theta, "theta", net.nparam);
  int nh = mf_net_balance(&net, NULL, NULL, NULL, NULL, NULL);
  SEXP b = PROTECT(allocVector(REALSXP, nh));
  SEXP s = PROTECT(allocVector(REALSXP, nh));
  double *dw = (double *) R_alloc(net.nparam, sizeof(double));
  int rc = mf_net_balance(&net, m, th, REAL(b), REAL(s), dw);
  if (rc < 0) error("%s", mf_fault_message(-rc));
  SEXP out = PROTECT(allocVector(VECSXP, 2));
  SET_VECTOR_ELT(out, 0, b);
  SET_VECTOR_ELT(out, 1, s);
  UNPROTECT(3);
  return out;
}

SEXP mf_net_horizons(SEXP netspec, SEXP widths, SEXP maps, SEXP theta)
{
  mf_net net;
  parse_net(netspec, widths, &net);
  const double *mp = real_arg(maps, "maps", 5 * (R_xlen_t) net.nlayers);
  mf_map *m = (mf_map *) R_alloc(net.nlayers, sizeof(mf_map));
  for (int l = 0; l < net.nlayers; l++) {
    /* the gauge needs only the horizon exponent, never a custom function */
    parse_map(mp + 5 * l, R_NilValue, m + l, "maps", 0);
  }
  const double *th = real_arg(theta, "theta", net.nparam);
  SEXP layers = PROTECT(allocVector(REALSXP, net.nlayers));
  double tot = mf_net_horizon(&net, m, th, REAL(layers));
  SEXP out = PROTECT(allocVector(VECSXP, 2));
  SET_VECTOR_ELT(out, 0, ScalarReal(tot));
  SET_VECTOR_ELT(out, 1, layers);
  UNPROTECT(2);
  return out;
}

/* ---- flow ------------------------------------------------------------- */

typedef struct {
  SEXP bar;
} poll_ctx_t;

static void check_interrupt(void *dummy)
{
  R_CheckUserInterrupt();
}

static int poll_r(void *ctx, double fraction)
{
  poll_ctx_t *p = (poll_ctx_t *) ctx;
  if (p->bar != R_NilValue) cli_progress_set(p->bar, 1000 * fraction);
  /* an interrupt caught here ends the run with what it has */
  return !R_ToplevelExec(check_interrupt, NULL);
}

typedef struct {
  mf_net *net;
  const mf_map *maps;
  const mf_control *ctl;
  double *theta, *state, *heap;
  int *iwork;
  mf_result *res;
  poll_ctx_t *pc;
  int rc;
} run_t;

static SEXP run_flow(void *data)
{
  run_t *r = (run_t *) data;
  double *work = r->heap + mf_net_work_doubles(r->net);
  r->rc = mf_flow_run(r->net, r->maps, r->ctl, r->theta, r->state, work,
                      r->iwork, r->res, poll_r, r->pc);
  return R_NilValue;
}

static void free_run(void *data, Rboolean jump)
{
  run_t *r = (run_t *) data;
  (void) jump;
  free(r->heap);
  r->heap = NULL;
}

SEXP mf_flow(SEXP x, SEXP yb, SEXP yc, SEXP netspec, SEXP widths, SEXP maps,
             SEXP custom, SEXP theta0, SEXP control, SEXP progress)
{
  int np = 0;
  mf_net net;
  parse_net(netspec, widths, &net);
  mf_map *m = parse_maps(maps, custom, net.nlayers);
  const double *cv = real_arg(control, "control", 13);
  /* the adaptive integrator's Jacobian reads the activations after a
   * gradient evaluation; the other integrators never do */
  attach_data(&net, x, yb, yc, cv[0] != MF_INT_ADAPTIVE, 0);
  if (TYPEOF(progress) != LGLSXP || XLENGTH(progress) != 1)
    error("'progress' must be TRUE or FALSE");

  mf_control ctl;
  if (!(cv[0] == MF_INT_MD || cv[0] == MF_INT_LOSS_SCALED ||
        cv[0] == MF_INT_ADAPTIVE || cv[0] == MF_INT_PROXIMAL))
    error("'control' names an unknown integrator");
  ctl.integrator = (int) cv[0];
  if (ctl.integrator == MF_INT_PROXIMAL) {
    int custom = 0;
    for (int l = 0; l < net.nlayers; l++) custom |= m[l].family == MF_CUSTOM;
    int linear = net.type == MF_NET_DENSE && net.nlayers == 1;
    if (!(linear || net.type == MF_NET_DIAGONAL) || net.nout != 1 ||
        net.loss != MF_LOSS_EXP || custom)
      error("the proximal integrator needs a linear model with one output "
            "or a diagonal network, the exponential loss and built-in maps");
  }
  ctl.eta = cv[1];
  ctl.max_steps = cv[2];
  ctl.target_log_loss = cv[3];
  ctl.max_log_time = cv[4];
  ctl.time_limit = cv[5];
  ctl.rtol = cv[7];
  ctl.atol = cv[8];
  ctl.step_up = cv[9];
  ctl.step_down = cv[10];
  if (!(ctl.eta > 0 && isfinite(ctl.eta))) error("'eta' must be positive");
  if (!(ctl.max_steps >= 0)) error("'max_steps' must be non-negative");
  if (isnan(ctl.target_log_loss) || isnan(ctl.max_log_time) ||
      !(ctl.time_limit > 0))
    error("'control' limits must be numbers, 'time_limit' positive");
  if (!(cv[6] >= 2 && cv[6] <= 1e6)) error("'checkpoints' must be 2 to 1e6");
  ctl.checkpoints = (int) cv[6];
  if (!(ctl.rtol > 0 && ctl.atol > 0 && isfinite(ctl.rtol) &&
        isfinite(ctl.atol)))
    error("'rtol' and 'atol' must be positive");
  if (!(ctl.step_up >= 1 && ctl.step_down > 1 && isfinite(ctl.step_up) &&
        isfinite(ctl.step_down)))
    error("'step_up' must be at least 1 and 'step_down' above 1");
  ctl.keep_params = cv[11] != 0;
  if (!(cv[12] == MF_SCHEME_AUTO || cv[12] == MF_SCHEME_ROSENBROCK ||
        cv[12] == MF_SCHEME_DOPRI))
    error("'control' names an unknown adaptive scheme");
  ctl.scheme = (int) cv[12];

  int P = net.nparam, L = net.nlayers;
  int nh = mf_net_balance(&net, NULL, NULL, NULL, NULL, NULL);
  mf_result res;
  res.cap = 2 * ctl.checkpoints;
  res.ncol = MF_NCOL_FIXED + L;
  if (ctl.keep_params && (double) res.cap * P > 5e8)
    error("'keep_params' would store more than 5e8 numbers");
  res.rows = (double *) R_alloc((size_t) res.cap * res.ncol, sizeof(double));
  res.snaps = ctl.keep_params ?
    (double *) R_alloc((size_t) res.cap * P, sizeof(double)) : NULL;
  res.balance0 = (double *) R_alloc(nh > 0 ? nh : 1, sizeof(double));
  res.balance_scale0 = (double *) R_alloc(nh > 0 ? nh : 1, sizeof(double));
  res.step_size = ctl.eta;
  /* the adaptive Jacobian's point indices (n) or the proximal step's
   * pivots (P) */
  int *iwork = (int *) R_alloc(net.n > P ? net.n : P, sizeof(int));
  int *iwnet = (int *) R_alloc(net.n, sizeof(int));

  SEXP theta = PROTECT(allocVector(REALSXP, P)); np++;
  copy_params(theta0, "theta", REAL(theta), P);
  SEXP state = PROTECT(allocVector(REALSXP, P)); np++;

  poll_ctx_t pc = {R_NilValue};
  if (LOGICAL(progress)[0] == TRUE) {
    pc.bar = PROTECT(cli_progress_bar(1000, NULL)); np++;
  }
  /* The activations and the integrator's vectors, the bulk of a run's
   * memory, come from malloc and go back before the results are built:
   * R_alloc'd memory would stay resident until a later garbage collection
   * and add to the peak the weight matrices the R side builds next. */
  size_t nnet = mf_net_work_doubles(&net),
    nflow = mf_flow_work(&net, ctl.integrator);
  run_t run = {&net, m, &ctl, REAL(theta), REAL(state), NULL, iwork, &res,
               &pc, MF_OK};
  run.heap = (double *) malloc(sizeof(double) * (nnet + nflow));
  if (!run.heap)
    error("cannot allocate the %.0f MB a run needs",
          8.0 * (double) (nnet + nflow) / 1048576);
  mf_net_attach(&net, run.heap, iwnet);
  SEXP cont = PROTECT(R_MakeUnwindCont()); np++;
  /* an R error in a custom map's function frees the memory on its way */
  R_UnwindProtect(run_flow, &run, free_run, &run, cont);
  int rc = run.rc;
  if (pc.bar != R_NilValue) cli_progress_done(pc.bar);
  if (rc) error("mirror flow failed: %s", mf_fault_message(rc));

  SEXP traj = PROTECT(allocMatrix(REALSXP, res.nrow, res.ncol)); np++;
  for (int i = 0; i < res.nrow; i++)
    for (int j = 0; j < res.ncol; j++)
      REAL(traj)[i + (size_t) j * res.nrow] =
        res.rows[(size_t) i * res.ncol + j];
  SEXP snaps = R_NilValue;
  if (res.snaps) {
    snaps = PROTECT(allocMatrix(REALSXP, P, res.nrow)); np++;
    memcpy(REAL(snaps), res.snaps, sizeof(double) * P * res.nrow);
  }
  SEXP b0 = PROTECT(allocVector(REALSXP, nh)); np++;
  if (nh > 0) memcpy(REAL(b0), res.balance0, sizeof(double) * nh);

  const char *nm[] = {"theta", "state", "trajectory", "snapshots", "stop",
                      "steps", "evals", "rejected", "log_time", "tau",
                      "log_loss", "step_size", "elapsed", "balance0"};
  SEXP out = PROTECT(allocVector(VECSXP, 14)); np++;
  SET_VECTOR_ELT(out, 0, theta);
  SET_VECTOR_ELT(out, 1, state);
  SET_VECTOR_ELT(out, 2, traj);
  SET_VECTOR_ELT(out, 3, snaps);
  SET_VECTOR_ELT(out, 4, ScalarInteger(res.stop));
  SET_VECTOR_ELT(out, 5, ScalarReal(res.steps));
  SET_VECTOR_ELT(out, 6, ScalarReal(res.evals));
  SET_VECTOR_ELT(out, 7, ScalarReal(res.rejected));
  SET_VECTOR_ELT(out, 8, ScalarReal(res.log_time));
  SET_VECTOR_ELT(out, 9, ScalarReal(res.tau));
  SET_VECTOR_ELT(out, 10, ScalarReal(res.log_loss));
  SET_VECTOR_ELT(out, 11, ScalarReal(res.step_size));
  SET_VECTOR_ELT(out, 12, ScalarReal(res.elapsed));
  SET_VECTOR_ELT(out, 13, b0);
  set_names(out, nm, 14);
  UNPROTECT(np);
  return out;
}

/* ---- KKT residuals ---------------------------------------------------- */

/* Margins of all points and, for the near-active ones (q_i at most
 * (1 + rel_tol) q_min), their margin gradients, from one forward pass. */
SEXP mf_margin_grads(SEXP x, SEXP yb, SEXP yc, SEXP netspec, SEXP widths,
                     SEXP theta, SEXP rel_tol)
{
  int np = 0;
  mf_net net;
  parse_net(netspec, widths, &net);
  attach_data(&net, x, yb, yc, 1, 1);
  const double *th = real_arg(theta, "theta", net.nparam);
  const double *tol = real_arg(rel_tol, "rel_tol", 1);
  if (!(*tol >= 0 && isfinite(*tol)))
    error("'rel_tol' must be a non-negative number");
  mf_net_forward(&net, th);
  double qmin = INFINITY;
  for (int i = 0; i < net.n; i++) if (net.q[i] < qmin) qmin = net.q[i];
  if (!(qmin > 0))
    error("'theta' does not separate the data: smallest margin %g", qmin);
  int *ix = (int *) R_alloc(net.n, sizeof(int));
  int m = 0;
  for (int i = 0; i < net.n; i++)
    if (net.q[i] <= (1 + *tol) * qmin) ix[m++] = i;
  if ((double) m * net.nparam > 5e8)
    error("%d near-active points would need more than 5e8 gradient "
          "entries; lower 'rel_tol'", m);
  SEXP q = PROTECT(allocVector(REALSXP, net.n)); np++;
  memcpy(REAL(q), net.q, sizeof(double) * net.n);
  SEXP idx = PROTECT(allocVector(INTSXP, m)); np++;
  for (int s = 0; s < m; s++) INTEGER(idx)[s] = ix[s] + 1;
  int mw = mf_net_max_width(&net);
  if (net.widths[0] > mw) mw = net.widths[0];
  double *scratch = (double *) R_alloc(2 * (size_t) mw * (m > 0 ? m : 1),
                                       sizeof(double));
  SEXP G = PROTECT(allocMatrix(REALSXP, net.nparam, m)); np++;
  if (m > 0) mf_net_sample_grads(&net, th, ix, m, REAL(G), scratch);
  SEXP out = PROTECT(allocVector(VECSXP, 3)); np++;
  SET_VECTOR_ELT(out, 0, q);
  SET_VECTOR_ELT(out, 1, idx);
  SET_VECTOR_ELT(out, 2, G);
  const char *nm[] = {"margins", "idx", "grads"};
  set_names(out, nm, 3);
  UNPROTECT(np);
  return out;
}

SEXP mf_nnls(SEXP K, SEXP b)
{
  const double *bb = real_arg(b, "b", -1);
  R_xlen_t m = XLENGTH(b);
  if (m > 20000) error("'b' is too long for the dense NNLS");
  const double *KK = real_arg(K, "K", m * m);
  for (R_xlen_t i = 0; i < m * m; i++)
    if (!isfinite(KK[i])) error("'K' must be finite");
  for (R_xlen_t i = 0; i < m; i++)
    if (!isfinite(bb[i])) error("'b' must be finite");
  SEXP lam = PROTECT(allocVector(REALSXP, m));
  if (m > 0) {
    double *work = (double *) R_alloc((size_t) m * m + 4 * (size_t) m,
                                      sizeof(double));
    int *iwork = (int *) R_alloc(2 * (size_t) m, sizeof(int));
    int rc = mf_nnls_gram(KK, bb, (int) m, REAL(lam), work, iwork);
    if (rc) error("nonnegative least squares failed: %s",
                  mf_fault_message(rc));
  }
  UNPROTECT(1);
  return lam;
}

/* ---- sparsity indices ------------------------------------------------ */

SEXP mf_sparsity(SEXP x, SEXP by_row, SEXP threads)
{
  if (TYPEOF(x) != REALSXP) error("'x' must be a double matrix");
  SEXP dim = getAttrib(x, R_DimSymbol);
  if (TYPEOF(dim) != INTSXP || XLENGTH(dim) != 2)
    error("'x' must be a matrix");
  int n = INTEGER(dim)[0], m = INTEGER(dim)[1];
  if (TYPEOF(by_row) != LGLSXP || XLENGTH(by_row) != 1 ||
      LOGICAL(by_row)[0] == NA_LOGICAL)
    error("'by_row' must be TRUE or FALSE");
  if (TYPEOF(threads) != INTSXP || XLENGTH(threads) != 1 ||
      INTEGER(threads)[0] == NA_INTEGER || INTEGER(threads)[0] < 1 ||
      INTEGER(threads)[0] > 1024)
    error("'threads' must be a whole number from 1 to 1024");
  int nth = INTEGER(threads)[0];
  const double *aa = REAL(x);
  for (R_xlen_t i = 0; i < XLENGTH(x); i++)
    if (!isfinite(aa[i]))
      error("'x' must be finite; it has missing or infinite entries");
  int row = LOGICAL(by_row)[0], nvec = row ? n : m;

  SEXP out = PROTECT(allocVector(VECSXP, 4));
  int np = 1;
  double *col[4];
  for (int j = 0; j < 4; j++) {
    SET_VECTOR_ELT(out, j, allocVector(REALSXP, nvec));
    col[j] = REAL(VECTOR_ELT(out, j));
  }
  const char *nm[] = {"hoyer", "gini", "participation_ratio", "positive"};
  set_names(out, nm, 4);
  if (n > 0 && m > 0) {
    int len = row ? m : n;
    double *work = (double *) R_alloc((size_t) len * (nth +
                                                      MF_SPARSITY_BLOCK),
                                      sizeof(double));
    uint64_t *keys = (uint64_t *) R_alloc((size_t) 2 * len * nth,
                                          sizeof(uint64_t));
    mf_sparsity_indices(aa, n, m, row, nth, work, keys, col[0], col[1],
                        col[2], col[3]);
  } else {
    for (int v = 0; v < nvec; v++) {
      col[0][v] = col[1][v] = col[2][v] = NA_REAL;
      col[3][v] = 0;
    }
  }
  UNPROTECT(np);
  return out;
}

/* The products' layout (see mf_blas_layout() in network.c): `set` is
 * NA to read it, else 0 (copied transposes, dgemm), 1 ("T" handed to
 * dgemm) or 2 (copied transposes, the package's own kernel; 0 where this
 * build has none). Returns c(layout before the call, kernel), kernel
 * being 0 (none), 1 (SSE2) or 2 (AVX) as mf_gemm_kernel() says. */
SEXP mf_blas_mode(SEXP set)
{
  if (TYPEOF(set) != INTSXP || XLENGTH(set) != 1)
    error("'set' must be one integer: NA, 0, 1 or 2");
  int v = INTEGER(set)[0];
  if (v != NA_INTEGER && (v < 0 || v > 2))
    error("'set' must be NA, 0, 1 or 2, not %d", v);
  SEXP out = PROTECT(allocVector(INTSXP, 2));
  INTEGER(out)[0] = mf_blas_layout(v == NA_INTEGER ? -1 : v);
  INTEGER(out)[1] = mf_gemm_kernel();
  UNPROTECT(1);
  return out;
}

/* Rows and columns of a double matrix argument. */
static const double *real_matrix(SEXP x, const char *name, int *nr, int *nc)
{
  SEXP dim = getAttrib(x, R_DimSymbol);
  if (TYPEOF(x) != REALSXP || TYPEOF(dim) != INTSXP || XLENGTH(dim) != 2)
    error("'%s' must be a double matrix", name);
  *nr = INTEGER(dim)[0];
  *nc = INTEGER(dim)[1];
  return REAL(x);
}

/* The own product kernel by itself, for the tests: a copy of C whose
 * leading m x n block is op(A) %*% op(B) over k terms (plus that block of
 * C if accumulate), op(A) = t(A) where ta, op(B) = t(B) where tb (flags
 * = c(ta, tb, accumulate)), the three matrices' row counts as leading
 * dimensions, on instruction set isa (1 SSE2, 2 AVX). */
SEXP mf_gemm_check(SEXP A, SEXP B, SEXP C, SEXP mnk, SEXP flags, SEXP isa)
{
  int ar, ac, br, bc, cr, cc;
  const double *a = real_matrix(A, "A", &ar, &ac),
    *b = real_matrix(B, "B", &br, &bc), *c = real_matrix(C, "C", &cr, &cc);
  const int *s = int_arg(mnk, "mnk", 3);
  int m = s[0], n = s[1], k = s[2];
  if (m == NA_INTEGER || n == NA_INTEGER || k == NA_INTEGER ||
      m < 0 || n < 0 || k < 0)
    error("'mnk' must hold three counts of 0 or more");
  if (TYPEOF(flags) != LGLSXP || XLENGTH(flags) != 3 ||
      LOGICAL(flags)[0] == NA_LOGICAL || LOGICAL(flags)[1] == NA_LOGICAL ||
      LOGICAL(flags)[2] == NA_LOGICAL)
    error("'flags' must be three TRUE or FALSE (ta, tb, accumulate)");
  int ta = LOGICAL(flags)[0], tb = LOGICAL(flags)[1];
  /* rows and columns that op(A) and op(B) read */
  int am = ta ? ac : ar, ak = ta ? ar : ac, bk = tb ? bc : br,
    bn = tb ? br : bc;
  if (m > am || k > ak || k > bk || n > bn || m > cr || n > cc)
    error("'mnk' (%d, %d, %d) is larger than the matrices op(A) (%d x %d), "
          "op(B) (%d x %d), C (%d x %d)", m, n, k, am, ak, bk, bn, cr, cc);
  int set = asInteger(isa);
  if (TYPEOF(isa) != INTSXP || XLENGTH(isa) != 1 || set == NA_INTEGER ||
      set < 1 || set > 2)
    error("'isa' must be 1L (SSE2) or 2L (AVX)");
  if (set > mf_gemm_kernel())
    error("'isa' %d is not available here (the kernel has %d)", set,
          mf_gemm_kernel());
  SEXP out = PROTECT(duplicate(C));
  double *work = (double *) R_alloc(MF_GEMM_WORK, sizeof(double));
  mf_gemm_isa(set, ta, tb, m, n, k, a, ar > 0 ? ar : 1, b, br > 0 ? br : 1,
              LOGICAL(flags)[2], REAL(out), cr > 0 ? cr : 1, work);
  UNPROTECT(1);
  return out;
}

/* A %*% t(B) for double matrices A (n x k) and B (m x k), by the own
 * product kernel: R's `%*%` through the reference BLAS, bit for bit, at
 * its kernel's speed (hidden activations in feature_sparsity() and its
 * relatives). */
SEXP mf_matprod_tb(SEXP A, SEXP B)
{
  int ar, ac, br, bc;
  const double *a = real_matrix(A, "A", &ar, &ac),
    *b = real_matrix(B, "B", &br, &bc);
  if (ac != bc)
    error("'A' (%d columns) and 'B' (%d columns) must have as many columns",
          ac, bc);
  if (!mf_gemm_kernel())
    error("'A' %%*%% t('B') needs the product kernel, which this build lacks");
  SEXP out = PROTECT(allocMatrix(REALSXP, ar, br));
  double *work = (double *) R_alloc(MF_GEMM_WORK, sizeof(double));
  if (ar > 0 && br > 0)
    mf_gemm(0, 1, ar, br, ac, a, ar, b, br > 0 ? br : 1, 0, REAL(out), ar,
            work);
  UNPROTECT(1);
  return out;
}

/* beta * sinh(z) for a double vector z on the path isa (0L plain C, 1L
 * SSE2, 2L AVX2; see vmath.c): the tests compare the paths and measure
 * the error against libm. */
SEXP mf_sinh_check(SEXP z, SEXP beta, SEXP isa)
{
  const double *zz = real_arg(z, "z", -1);
  const double *b = real_arg(beta, "beta", 1);
  if (XLENGTH(z) > INT_MAX) error("'z' is too long");
  int set = asInteger(isa);
  if (TYPEOF(isa) != INTSXP || XLENGTH(isa) != 1 || set == NA_INTEGER ||
      set < 0 || set > 2)
    error("'isa' must be 0L (plain C), 1L (SSE2) or 2L (AVX2)");
  if (set > mf_vmath_isa())
    error("'isa' %d is not available here (at most %d)", set,
          mf_vmath_isa());
  int n = (int) XLENGTH(z);
  SEXP out = PROTECT(allocVector(REALSXP, n));
  mf_beta_sinh_isa(set, zz, *b, REAL(out), n);
  UNPROTECT(1);
  return out;
}

/* The path mf_beta_sinh_array() takes here: 0 plain C, 1 SSE2, 2 AVX2. */
SEXP mf_vmath_path(void)
{
  return ScalarInteger(mf_vmath_isa());
}
