/* Registration of mirrorflow's .Call entry points, with their argument
 * counts; dynamic symbol lookup is off so only these are reachable. */

#include <R.h>
#include <Rinternals.h>
#include <R_ext/Rdynload.h>
#include <R_ext/Visibility.h>
#include "entry_points.h"

#define CALLDEF(name, n) {#name, (DL_FUNC) &name, n}

static const R_CallMethodDef call_methods[] = {
  CALLDEF(mf_map_apply, 4),
  CALLDEF(mf_gauge_vec, 2),
  CALLDEF(mf_gauge_blocks, 3),
  CALLDEF(mf_net_evaluate, 7),
  CALLDEF(mf_net_predict, 4),
  CALLDEF(mf_net_balances, 5),
  CALLDEF(mf_net_horizons, 4),
  CALLDEF(mf_flow, 10),
  CALLDEF(mf_max_margin, 4),
  CALLDEF(mf_max_margin_newton, 5),
  CALLDEF(mf_margin_grads, 7),
  CALLDEF(mf_nnls, 2),
  CALLDEF(mf_sparsity, 3),
  CALLDEF(mf_blas_mode, 1),
  CALLDEF(mf_gemm_check, 6),
  CALLDEF(mf_matprod_tb, 2),
  CALLDEF(mf_sinh_check, 3),
  CALLDEF(mf_vmath_path, 0),
  {NULL, NULL, 0}
};

void attribute_visible R_init_mirrorflow(DllInfo *dll)
{
  R_registerRoutines(dll, NULL, call_methods, NULL, NULL);
  R_useDynamicSymbols(dll, FALSE);
  R_forceSymbols(dll, TRUE);
}
