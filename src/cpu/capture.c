/* capture.c — stage 2 of a capturable step on the CPU (common/capture.h): the backend's
 * memory is the host's, so the shared stage runs at once on the caller's thread. */
#include "cpu_backend.h"

optk_status optk_cpu_capture_prepare(optk_context *ctx, const optk_capture_params *params,
                                     optk_step_scalars *sc, optk_capture_area *area) {
    (void)ctx;
    optk_capture_prepare(params, sc, area);
    return OPTK_OK;
}
