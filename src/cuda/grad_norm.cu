/* grad_norm.cu — the sum of squares of every gradient on CUDA, deterministic: each block sums
 * one tile in double with a fixed thread assignment and a fixed shared-memory tree, writes its
 * partial to the context's workspace, and one block then reduces the partials in a fixed
 * order. The same bits on every run; the CPU's order differs, so the two agree to ~1e-15.
 * A capturable step leaves the sum in device memory (no wait), with partials it owns. */
#include "multi_tensor.cuh"

using namespace optk_cuda;

namespace {

/* Sum of v over the block, as a fixed tree; every thread gets it. */
__device__ double block_sum(double v) {
    __shared__ double buf[kThreads];
    buf[threadIdx.x] = v;
    __syncthreads();
    for (int stride = kThreads / 2; stride > 0; stride /= 2) {
        if ((int)threadIdx.x < stride) buf[threadIdx.x] += buf[threadIdx.x + stride];
        __syncthreads();
    }
    return buf[0];
}

__global__ void __launch_bounds__(kThreads)
    tile_sum_squares_kernel(const __grid_constant__ TensorBatch<1> batch, double *partials,
                            const int grad_dtype) {
    const int t = find_tensor(batch, (int)blockIdx.x);
    const int64_t base = (int64_t)(blockIdx.x - batch.tile_begin[t]) * kTile;
    const int64_t remaining = batch.numel[t] - base;
    const int n = remaining < kTile ? (int)remaining : kTile;
    const void *g = batch.ptr[0][t]; /* the piece's start, in grad_dtype elements */
    double acc = 0.0;
    for (int i = (int)threadIdx.x; i < n; i += kThreads) {
        const double v = (double)load_grad(g, base + i, grad_dtype);
        acc += v * v;
    }
    const double total = block_sum(acc);
    if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

__global__ void __launch_bounds__(kThreads)
    sum_partials_kernel(const double *partials, int64_t n, double *out) {
    double acc = 0.0;
    for (int64_t i = threadIdx.x; i < n; i += kThreads)
        acc += partials[i];
    const double total = block_sum(acc);
    if (threadIdx.x == 0) *out = total;
}

} // namespace

/* Tiles of kTile elements the list is cut into: one partial sum each. */
static int64_t tiles_of(const optk_param_tensor *tensors, int count) {
    int64_t tiles = 0;
    for (int t = 0; t < count; ++t)
        tiles += (tensors[t].numel + kTile - 1) / kTile;
    return tiles;
}

/* Enqueues the sum into *out (device memory), partials holding one double per tile. */
static optk_status enqueue_sum_squares(optk_context *ctx, const char *op,
                                       const optk_param_tensor *tensors, int count,
                                       optk_dtype grad_dtype, double *out, double *partials) {
    const int64_t size = (int64_t)optk_dtype_size(grad_dtype);
    auto fill = [size](TensorBatch<1> &b, int c, const optk_param_tensor &x, int64_t offset) {
        const char *start = static_cast<const char *>(x.grad) + offset * size;
        b.ptr[0][c] = reinterpret_cast<float *>(const_cast<char *>(start));
    };
    auto run = [&](const TensorBatch<1> &b, int64_t first_tile) -> optk_status {
        const unsigned grid = (unsigned)b.tile_begin[b.count];
        tile_sum_squares_kernel<<<grid, kThreads, 0, stream_of(ctx)>>>(b, partials + first_tile,
                                                                       (int)grad_dtype);
        return check_launch(ctx, op);
    };
    optk_status s = for_each_batch<1>(tensors, count, fill, run);
    if (s != OPTK_OK) return s;
    sum_partials_kernel<<<1, kThreads, 0, stream_of(ctx)>>>(partials, tiles_of(tensors, count),
                                                            out);
    return check_launch(ctx, op);
}

extern "C" optk_status optk_cuda_grad_sum_squares(optk_context *ctx,
                                                  const optk_param_tensor *tensors, int count,
                                                  optk_dtype grad_dtype, double *out) {
    static const char op[] = "grad_norm";
    optk_status s = enter(ctx, op);
    if (s != OPTK_OK) return s;
    const int64_t tiles = tiles_of(tensors, count);
    void *scratch = nullptr;
    if ((s = optk_cuda_workspace(ctx, (size_t)(tiles + 1) * sizeof(double), &scratch)) != OPTK_OK) {
        return s;
    }
    double *partials = static_cast<double *>(scratch), *result = partials + tiles;
    s = enqueue_sum_squares(ctx, op, tensors, count, grad_dtype, result, partials);
    if (s != OPTK_OK) return s;
    cudaError_t err =
        cudaMemcpyAsync(out, result, sizeof(double), cudaMemcpyDeviceToHost, stream_of(ctx));
    if (err == cudaSuccess) err = cudaStreamSynchronize(stream_of(ctx));
    return err == cudaSuccess ? OPTK_OK : fail(ctx, err, op, "reading the norm back");
}

extern "C" optk_status optk_cuda_grad_sum_squares_to(optk_context *ctx,
                                                     const optk_param_tensor *tensors, int count,
                                                     optk_dtype grad_dtype, double *out,
                                                     double *partials) {
    static const char op[] = "optimizer_step_capturable";
    optk_status s = enter(ctx, op);
    return s == OPTK_OK ? enqueue_sum_squares(ctx, op, tensors, count, grad_dtype, out, partials)
                        : s;
}
