/* capture.cu — stage 2 of a capturable step on CUDA (common/capture.h): one thread runs the
 * shared stage on the device, so the step's scalars come from what device memory holds when
 * the stream (or a replayed graph) gets there. */
#include "cuda_check.cuh"

using namespace optk_cuda;

namespace {

__global__ void capture_prepare_kernel(const __grid_constant__ optk_capture_params params,
                                       optk_step_scalars *sc, optk_capture_area *area) {
    optk_capture_prepare(&params, sc, area);
}

} // namespace

extern "C" optk_status optk_cuda_capture_prepare(optk_context *ctx,
                                                 const optk_capture_params *params,
                                                 optk_step_scalars *sc, optk_capture_area *area) {
    static const char op[] = "optimizer_step_capturable";
    optk_status s = enter(ctx, op);
    if (s != OPTK_OK) return s;
    capture_prepare_kernel<<<1, 1, 0, stream_of(ctx)>>>(*params, sc, area);
    return check_launch(ctx, op);
}
