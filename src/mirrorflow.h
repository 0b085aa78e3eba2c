/* Shared declarations of mirrorflow's C core: mirror maps, homogeneous
 * networks, losses and the flow integrators. The cores take plain pointers
 * and sizes; only the *_call.c wrappers and init.c touch SEXPs. */

#ifndef MIRRORFLOW_H
#define MIRRORFLOW_H

#include <stddef.h>
#include <stdint.h>

/* Deepest network the core handles (weight layers). */
#define MF_MAX_LAYERS 64

/* Mirror-map families; the integer codes are shared with R/mirror_map.R. */
enum {
  MF_EUCLIDEAN = 0,
  MF_PNORM = 1,
  MF_HYPENTROPY = 2,
  MF_POWERS = 3,
  MF_COSH = 4,
  MF_CUSTOM = 5
};

/* A custom map evaluates through a callback: what = 0 potential, 1 mirror,
 * 2 inverse, 3 balance. The callback writes n values into out and returns 0,
 * or a nonzero fault code. */
typedef int (*mf_callback)(void *ctx, int what, const double *in, double *out,
                           int n);

typedef struct {
  int family;
  double p, q, beta;
  double hexp;     /* horizon exponent: lp with p = hexp, Inf for l-inf */
  mf_callback cb;
  void *ctx;
} mf_map;

/* Fault codes returned by the cores; mf_fault_message() turns them into
 * text for the wrappers. */
enum {
  MF_OK = 0,
  MF_ERR_NONFINITE = 1,
  MF_ERR_CUSTOM = 2,
  MF_ERR_NEWTON = 3,
  MF_ERR_LAPACK = 4
};

const char *mf_fault_message(int code);

/* Scalar map functions (built-in families; custom maps go through the
 * array versions). mf_curv is phi''. */
double mf_phi(const mf_map *m, double x);
double mf_dphi(const mf_map *m, double x);
double mf_inv(const mf_map *m, double z);
double mf_bal(const mf_map *m, double x);
double mf_curv(const mf_map *m, double x);

/* Array versions: what = 0 potential, 1 mirror, 2 inverse, 3 balance. */
int mf_map_eval(const mf_map *m, int what, const double *in, double *out,
                int n);
/* d theta / d z = 1 / phi''(theta), capped to [0, 1e300]; custom maps by a
 * central difference of their mirror. scratch holds 2 n doubles. */
int mf_map_dtheta_dz(const mf_map *m, const double *theta, double *out, int n,
                     double *scratch);

/* Integration state. For every family except cosh the state is the dual
 * variable z = phi'(theta); for cosh it is theta itself, because
 * sinh(theta) overflows long before a flow is over. */
int mf_state_from_theta(const mf_map *m, const double *theta, double *s,
                        int n);
int mf_theta_from_state(const mf_map *m, const double *s, double *theta,
                        int n);
/* out = state of (dual(s) + delta). */
void mf_state_add(const mf_map *m, const double *s, const double *delta,
                  double scale, double *out, int n);

/* Horizon of a built-in family: exponent p of its lp gauge, +Inf for
 * l-infinity; custom maps carry the exponent R estimated in hexp. */
double mf_horizon_exponent(const mf_map *m);
/* For the proximal integrator, with h = exp(log_h): (phi'(x) - z0) / h,
 * z0 = phi'(x0), and phi''(x) / h, finite for every x, x0 and log_h
 * (cosh in log space; where the true value passes 1e300, 1e300 with its
 * sign). */
double mf_scaled_dual_diff(const mf_map *m, double x, double x0, double z0,
                           double log_h);
double mf_scaled_curv(const mf_map *m, double x, double log_h);

/* ---- networks ------------------------------------------------------- */

enum { MF_ACT_RELU = 0, MF_ACT_LEAKY = 1, MF_ACT_LINEAR = 2 };
enum { MF_NET_DENSE = 0, MF_NET_DIAGONAL = 1 };
enum { MF_LOSS_EXP = 0, MF_LOSS_LOGISTIC = 1 };

typedef struct {
  int type;        /* MF_NET_DENSE or MF_NET_DIAGONAL */
  int nlayers;     /* weight layers L (2 for the diagonal net) */
  const int *widths; /* nlayers + 1 entries: d, m_1, ..., m_L */
  int activation;
  double slope;    /* leaky ReLU slope */
  int n;           /* training points */
  int nout;        /* output width K (1 = binary) */
  const double *x;  /* n x d, the inputs as rows, as R stores a matrix */
  const double *yb; /* binary labels +-1, length n (binary nets) */
  const int *yc;   /* class index 0..K-1, length n (multiclass nets) */
  int loss;
  /* parameter layout */
  int nparam;
  int *offset;     /* nlayers + 1 offsets into theta */
  /* workspace, allocated once per run */
  int inplace;     /* back-propagate over hid, which backward then spoils */
  double *act;     /* the scores, nout * n */
  double *hid;     /* post-activations of hidden layers, sum_{l<L} m_l * n */
  double *delta;   /* back-propagated errors: in place, nout * n and a
                    * block of max width * MF_BP_BLOCK; else two buffers of
                    * max width * n */
  double *tscr;    /* transposed blocks for the products (see network.c) */
  double *wt;      /* within tscr: room for MF_BP_BLOCK rows of a W^T */
  double *gwork;   /* the own product kernel's packed block (dense nets) */
  double *q;       /* margins, n */
  double *w;       /* normalised loss weights, n */
  int *rival;      /* multiclass: index of the strongest wrong class */
} mf_net;

/* Columns (points) per block when deltas are back-propagated in place. */
#define MF_BP_BLOCK 256

/* Sizes the workspace needs, in doubles and ints; net->inplace chosen. */
size_t mf_net_work_doubles(const mf_net *net);
void mf_net_attach(mf_net *net, double *dwork, int *iwork);

/* Forward pass and margins. */
void mf_net_forward(mf_net *net, const double *theta);
/* Scores of new inputs (x is n_new x d), written to out (nout x n_new). */
void mf_net_scores(const mf_net *net, const double *theta, const double *x,
                   int nnew, double *act_scratch, double *out);
/* log Loss and the normalised weights w_i = -l'(q_i) / Loss, from net->q. */
double mf_loss_weights(mf_net *net);
/* Normalised gradient g = grad Loss / Loss, after forward + loss_weights.
 * With net->inplace the hidden activations are overwritten by deltas. */
void mf_net_backward(mf_net *net, const double *theta, double *g);
/* All three: returns log Loss. */
double mf_net_eval(mf_net *net, const double *theta, double *g);

/* Margin gradients grad q_i at theta for the ns points in idx, written as
 * the columns of A (nparam x ns). Uses the forward state of the last
 * mf_net_forward() at the same theta (not spoilt by an in-place
 * backward since); dwork holds 2 * max width * ns. */
void mf_net_sample_grads(const mf_net *net, const double *theta,
                         const int *idx, int ns, double *A, double *dwork);

/* Largest layer width (d for a diagonal net). */
int mf_net_max_width(const mf_net *net);
/* The products' layout (see network.c): MF_LAYOUT_COPY, _DIRECT or
 * _KERNEL; set < 0 only reads it. Returns the value before the call. */
#define MF_LAYOUT_COPY 0
#define MF_LAYOUT_DIRECT 1
#define MF_LAYOUT_KERNEL 2
int mf_blas_layout(int set);
/* The package's own product kernel (gemm.c): C (m x n) = op(A) (m x k)
 * op(B) (k x n), plus C if accumulate, op the transpose where ta or tb
 * is set, as dgemm with alpha 1 and beta 0 or 1; the reference BLAS's
 * sums, bit for bit. work holds MF_GEMM_WORK doubles (a packed block of
 * A). */
#define MF_GEMM_MC 128
#define MF_GEMM_KC 256
#define MF_GEMM_WORK (MF_GEMM_MC * MF_GEMM_KC)
void mf_gemm(int ta, int tb, int m, int n, int k, const double *A, int lda,
             const double *B, int ldb, int accumulate, double *C, int ldc,
             double *work);
/* Which kernel this build and processor run: 0 none (dgemm), 1 SSE2,
 * 2 AVX. */
int mf_gemm_kernel(void);
/* mf_gemm() on a given instruction set isa <= mf_gemm_kernel(). */
void mf_gemm_isa(int isa, int ta, int tb, int m, int n, int k,
                 const double *A, int lda, const double *B, int ldb,
                 int accumulate, double *C, int ldc, double *work);
/* beta * sinh(z) (vmath.c): the hypentropy map's inverse, within 3 units
 * in the last place of libm's and the same on every path. */
double mf_beta_sinh(double z, double beta);
/* ... over an array on the processor's best path; out may be z. */
void mf_beta_sinh_array(const double *z, double beta, double *out, int n);
/* Which path: 0 plain C, 1 SSE2, 2 AVX2. */
int mf_vmath_isa(void);
/* ... on a given path isa <= mf_vmath_isa(). */
void mf_beta_sinh_isa(int isa, const double *z, double beta, double *out,
                      int n);
/* The OpenMP threads to use for `requested`: 1 in a process forked from
 * the one that first used several (see sparsity.c). */
int mf_omp_threads(int requested);

/* Homogeneity degree of the network. */
int mf_net_degree(const mf_net *net);

/* Hidden-neuron balance quantities, one per hidden neuron. maps holds one
 * map per layer. Returns the number of hidden neurons; out may be NULL to
 * ask for the count only. Also fills scale (same length) with the summed
 * balance function over the neuron's weights, for relative drift. */
int mf_net_balance(const mf_net *net, const mf_map *maps, const double *theta,
                   double *out, double *scale, double *dwork);

/* Horizon gauge of theta with one map per layer; per-layer gauges go to
 * layer_out (may be NULL). */
double mf_net_horizon(const mf_net *net, const mf_map *maps,
                      const double *theta, double *layer_out);

/* Gauge of a vector for a single lp exponent (p = Inf: max norm). */
double mf_gauge(const double *x, int n, double p);
/* Gauge of a vector split into blocks with their own exponents. */
double mf_gauge_mixed(const double *x, const int *offset, const double *p,
                      int nblocks);

/* ---- flow integration ----------------------------------------------- */

enum { MF_INT_MD = 0, MF_INT_LOSS_SCALED = 1, MF_INT_ADAPTIVE = 2,
       MF_INT_PROXIMAL = 3 };
enum { MF_SCHEME_AUTO = 0, MF_SCHEME_ROSENBROCK = 1, MF_SCHEME_DOPRI = 2 };

/* Stop reasons; the integer codes are shared with R/mirror_flow.R. */
enum {
  MF_STOP_NONE = 0,
  MF_STOP_TARGET = 1,
  MF_STOP_MAX_STEPS = 2,
  MF_STOP_MAX_LOG_TIME = 3,
  MF_STOP_TIME_LIMIT = 4,
  MF_STOP_INTERRUPT = 5,
  MF_STOP_STALLED = 6,
  MF_STOP_NONFINITE = 7,
  MF_STOP_CONVERGED = 8
};

typedef struct {
  int integrator;
  double eta;             /* md: real-time step; others: first tau step */
  double max_steps;
  double target_log_loss;
  double max_log_time;
  double time_limit;      /* seconds */
  int checkpoints;
  double rtol, atol;      /* adaptive error tolerances */
  double step_up, step_down; /* loss-scaled schedule factors */
  int keep_params;
  int scheme;             /* adaptive: MF_SCHEME_AUTO, _ROSENBROCK, _DOPRI */
} mf_control;

/* Columns of a trajectory row, in order. Per-layer horizon norms follow. */
enum {
  MF_COL_STEP, MF_COL_LOG_TIME, MF_COL_TAU, MF_COL_LOG_LOSS, MF_COL_QMIN,
  MF_COL_HORIZON, MF_COL_QMARGIN, MF_COL_SMOOTHED, MF_COL_ACCURACY,
  MF_COL_EVALS, MF_COL_DRIFT, MF_COL_STEP_SIZE, MF_NCOL_FIXED
};

/* Poll: called a few times a second with the fraction done; returns 1 to
 * stop the run (an interrupt). */
typedef int (*mf_poll)(void *ctx, double fraction);

typedef struct {
  /* trajectory buffer: cap rows of ncol, row-major; snapshots cap x nparam */
  int cap, nrow, ncol;
  double *rows;
  double *snaps;
  double *balance0;       /* initial balance per hidden neuron */
  double *balance_scale0;
  /* final state */
  int stop;
  double steps, evals, rejected;
  double log_time, tau, log_loss, step_size, elapsed;
} mf_result;

/* Runs the flow from theta (overwritten with the final parameters; state
 * receives the final integration state). work must hold mf_flow_work()
 * doubles (for ctl->integrator), iwork n ints. Returns a fault code:
 * MF_OK when the run itself went well, whatever made it stop. */
size_t mf_flow_work(const mf_net *net, int integrator);
/* Largest number of points the Rosenbrock Jacobian keeps. */
int mf_flow_jacobian_rows(const mf_net *net);
int mf_flow_run(mf_net *net, const mf_map *maps, const mf_control *ctl,
                double *theta, double *state, double *work, int *iwork,
                mf_result *res, mf_poll poll, void *poll_ctx);

/* ---- KKT residuals --------------------------------------------------- */

/* min |s - G lambda|^2 over lambda >= 0, from K = G^T G (m x m) and
 * b = G^T s; work holds m * m + 4 m doubles, iwork 2 m ints. */
int mf_nnls_gram(const double *K, const double *b, int m, double *lambda,
                 double *work, int *iwork);

/* Sparsity indices of each row (by_row = 1) or each column of an n x m
 * column-major matrix: Hoyer, Gini (Hurley-Rickard) and participation
 * ratio of the absolute values, NA for an all-zero vector (Hoyer also for
 * length 1), and the count of positive entries. work holds
 * (nthreads + MF_SPARSITY_BLOCK) times the vector length, keys 2 nthreads
 * times. */
#define MF_SPARSITY_BLOCK 256
void mf_sparsity_indices(const double *a, int n, int m, int by_row,
                         int nthreads, double *work, uint64_t *keys,
                         double *hoyer, double *gini, double *pr,
                         double *npos);

#endif
