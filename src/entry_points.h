/* The .Call entry points registered in init.c. */

#ifndef MIRRORFLOW_ENTRY_POINTS_H
#define MIRRORFLOW_ENTRY_POINTS_H

#include <Rinternals.h>

SEXP mf_map_apply(SEXP map, SEXP fun, SEXP what, SEXP x);
SEXP mf_gauge_vec(SEXP x, SEXP p);
SEXP mf_gauge_blocks(SEXP x, SEXP lengths, SEXP p);
SEXP mf_net_evaluate(SEXP x, SEXP yb, SEXP yc, SEXP netspec, SEXP widths,
                     SEXP theta, SEXP inplace);
SEXP mf_net_predict(SEXP x, SEXP netspec, SEXP widths, SEXP theta);
SEXP mf_net_balances(SEXP netspec, SEXP widths, SEXP maps, SEXP custom,
                     SEXP theta);
SEXP mf_net_horizons(SEXP netspec, SEXP widths, SEXP maps, SEXP theta);
SEXP mf_flow(SEXP x, SEXP yb, SEXP yc, SEXP netspec, SEXP widths, SEXP maps,
             SEXP custom, SEXP theta0, SEXP control, SEXP progress);
SEXP mf_max_margin(SEXP xs, SEXP kind, SEXP p, SEXP control);
SEXP mf_max_margin_newton(SEXP xs, SEXP p, SEXP w, SEXP lambda,
                          SEXP control);
SEXP mf_margin_grads(SEXP x, SEXP yb, SEXP yc, SEXP netspec, SEXP widths,
                     SEXP theta, SEXP rel_tol);
SEXP mf_nnls(SEXP K, SEXP b);
SEXP mf_sparsity(SEXP x, SEXP by_row, SEXP threads);
SEXP mf_blas_mode(SEXP set);
SEXP mf_gemm_check(SEXP A, SEXP B, SEXP C, SEXP mnk, SEXP flags, SEXP isa);
SEXP mf_matprod_tb(SEXP A, SEXP B);
SEXP mf_sinh_check(SEXP z, SEXP beta, SEXP isa);
SEXP mf_vmath_path(void);

#endif
