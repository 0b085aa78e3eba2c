# Package documentation and the native-routine registration.

#' mirrorflow: mirror flows on homogeneous neural networks
#'
#' Mirror descent and mirror flow for homogeneous networks without biases,
#' with a C core for the mirror maps, the networks and the integrators.
#' Start with [mirror_map()], [homogeneous_net()] and [mirror_flow()].
#'
#' @keywords internal
#' @useDynLib mirrorflow, .registration = TRUE, .fixes = "C_"
#' @importFrom stats coef predict
#' @importFrom cli cli_progress_bar
"_PACKAGE"
