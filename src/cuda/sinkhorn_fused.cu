/* sinkhorn_fused.cu — the on-chip Sinkhorn solver for small problems: one block per problem
 * holds its weights, potentials and cost (or its points) in shared memory and runs every
 * iteration, its checks and its stop in one launch; many problems run side by side.
 *
 * It does the streaming solver's arithmetic in the streaming solver's order — a thread per
 * column over the rows in index order for the g update, a warp per row merged by the same
 * shuffle tree for the f update, the column error terms summed by the same block tree — so
 * the two give the same bits, and the choice between them is only a matter of speed.
 */
#include "sinkhorn_kernels.cuh"

using namespace optk_cuda;
using namespace optk_cuda::sinkhorn;

namespace {

constexpr int64_t kMostEntries = 256 * 256; /* n m of the largest problem solved on-chip */

struct FusedArgs {
    optk_ot_view v; /* global memory */
    double epsilon, epsilon_start, epsilon_decay, tol, rho;
    int max_iter, check_every, warm_start, log_domain_only;
    optk_sinkhorn_outputs out;
};

/* Bytes of shared memory one problem needs: a, f, u (n), b, g, g_next, v (m), the cost or
 * the points, and the reduction's doubles. */
size_t shared_bytes(const optk_ot_view &v) {
    const size_t n = (size_t)v.n, m = (size_t)v.m;
    const size_t cost = v.cost == 0 ? n * m : (n + m) * (size_t)v.dim;
    return (3 * n + 4 * m + cost) * sizeof(float) + kThreads * sizeof(double);
}

__global__ void __launch_bounds__(kThreads) fused_kernel(const FusedArgs args) {
    extern __shared__ double dynamic[];
    double *reduce = dynamic;
    float *a = reinterpret_cast<float *>(dynamic + kThreads);
    const int64_t n = args.v.n, m = args.v.m, p = blockIdx.x;
    float *f = a + n, *u = f + n, *b = u + n, *g = b + m, *g_next = g + m, *vs = g_next + m;
    float *data = vs + m;
    __shared__ int unsafe;
    const int tid = (int)threadIdx.x, lane = tid % 32, warp = tid / 32;

    /* The problem, on chip: a view of it with problem index 0. */
    optk_ot_view v = args.v;
    const size_t data_floats = v.cost == 0 ? (size_t)(n * m) : (size_t)((n + m) * v.dim);
    const float *src = v.cost == 0 ? v.c + p * n * m : v.x + p * n * v.dim;
    for (size_t k = tid; k < data_floats; k += kThreads) {
        const size_t split = (size_t)(n * v.dim); /* points: x then y */
        data[k] = v.cost == 0 || k < split ? src[k] : v.y[p * m * v.dim + (int64_t)(k - split)];
    }
    for (int64_t i = tid; i < n; i += kThreads) {
        a[i] = v.a[p * n + i];
        f[i] = args.warm_start ? args.out.f[p * n + i] : 0.0f;
    }
    for (int64_t j = tid; j < m; j += kThreads) {
        b[j] = v.b[p * m + j];
        g[j] = args.warm_start ? args.out.g[p * m + j] : 0.0f;
    }
    v.a = a, v.b = b;
    v.c = v.cost == 0 ? data : nullptr;
    v.x = v.cost == 0 ? nullptr : data;
    v.y = v.cost == 0 ? nullptr : data + n * v.dim;
    __syncthreads();

    /* The g update from f into out; with want_error, the error against g (all threads). */
    auto column = [&](float eps, float tau, float *out, bool want_error) -> double {
        double terms = 0.0;
        for (int64_t j = tid; j < m; j += kThreads) {
            optk_lse l = optk_lse_empty();
            for (int64_t i = 0; i < n; ++i) {
                if (a[i] != 0.0f) optk_lse_push(&l, f[i] - optk_ot_cost_at(&v, 0, i, j), eps);
            }
            const float next = optk_potential(b[j], l, eps, tau);
            if (want_error) terms += optk_error_term(b[j], g[j], next, eps);
            out[j] = next;
        }
        __syncthreads();
        return want_error ? block_sum(terms, reduce) : 0.0;
    };

    const float target = (float)args.epsilon;
    double schedule = args.epsilon_start > args.epsilon ? args.epsilon_start : args.epsilon;
    double error = 0.0;
    bool g_ready = false, converged = false;
    int it = 0;

    /* len log-domain iterations. */
    auto log_block = [&](int len, float eps, float tau) {
        for (int k = 0; k < len; ++k) {
            if (g_ready) {
                for (int64_t j = tid; j < m; j += kThreads)
                    g[j] = g_next[j];
                __syncthreads();
            } else {
                column(eps, tau, g, false);
            }
            for (int64_t i = warp; i < n; i += kThreads / 32) {
                optk_lse l = optk_lse_empty();
                for (int64_t j = lane; j < m; j += 32) {
                    if (b[j] != 0.0f) optk_lse_push(&l, g[j] - optk_ot_cost_at(&v, 0, i, j), eps);
                }
                l = warp_merge(l, eps);
                if (lane == 0) f[i] = optk_potential(a[i], l, eps, tau);
            }
            __syncthreads();
            g_ready = false;
        }
    };
    /* len kernel-domain iterations (common/sinkhorn.h); false (f, g untouched) if unsafe. */
    auto kernel_block = [&](int len, float eps, float tau) -> bool {
        if (tid == 0) unsafe = 0;
        for (int64_t i = tid; i < n; i += kThreads)
            u[i] = 1.0f;
        __syncthreads();
        for (int k = 0; k < len; ++k) {
            int bad = 0;
            for (int64_t j = tid; j < m; j += kThreads)
                vs[j] = kernel_column(v, 0, j, a, f, g[j], u, b[j], eps, tau, &bad);
            if (bad) atomicOr(&unsafe, 1);
            __syncthreads();
            for (int64_t i = warp; i < n; i += kThreads / 32) {
                const double sum = kernel_row_sum(v, 0, i, a[i], f[i], g, vs, lane, eps);
                if (lane == 0) {
                    int row_bad = 0;
                    u[i] = optk_scaling_tau(a[i], sum, tau, f[i], eps, &row_bad);
                    if (row_bad) atomicOr(&unsafe, 1);
                }
            }
            __syncthreads();
        }
        const bool safe = unsafe == 0;
        __syncthreads(); /* every thread has read it */
        if (!safe) return false;
        for (int64_t i = tid; i < n; i += kThreads)
            f[i] = optk_absorb(f[i], u[i], eps);
        for (int64_t j = tid; j < m; j += kThreads)
            g[j] = optk_absorb(g[j], vs[j], eps);
        __syncthreads();
        return true;
    };

    while (it < args.max_iter && !converged) { /* blocks between checks, as the CPU's */
        if (it > 0 && schedule > args.epsilon) {
            schedule *= args.epsilon_decay; /* the next stage of epsilon-scaling */
        }
        const int len =
            args.check_every < args.max_iter - it ? args.check_every : args.max_iter - it;
        const float eps = (float)(schedule > args.epsilon ? schedule : args.epsilon);
        const float tau = optk_sinkhorn_tau(args.rho, eps);
        if (optk_sinkhorn_kernel_block(n, m, args.log_domain_only) && kernel_block(len, eps, tau))
            g_ready = false;
        else
            log_block(len, eps, tau);
        it += len;
        if (it % args.check_every == 0 && eps == target) {
            error = column(eps, tau, g_next, true);
            g_ready = true;
            converged = error <= args.tol;
        }
    }
    if (!g_ready) {
        error = column(target, optk_sinkhorn_tau(args.rho, target), g_next, true);
        converged = error <= args.tol;
    }

    for (int64_t i = tid; i < n; i += kThreads)
        args.out.f[p * n + i] = f[i];
    for (int64_t j = tid; j < m; j += kThreads)
        args.out.g[p * m + j] = g[j];
    if (tid == 0) {
        if (args.out.iterations) args.out.iterations[p] = it;
        if (args.out.error) args.out.error[p] = (float)error;
        if (args.out.converged) args.out.converged[p] = converged ? 1 : 0;
    }
    /* The plan's sums, as the streaming solver's finish. */
    const int64_t entries = n * m;
    double c_sum = 0.0, fg = 0.0, mass = 0.0;
    for (int64_t e = tid; e < entries; e += kThreads) {
        const int64_t i = e / m, j = e % m;
        const float c = optk_ot_cost_at(&v, 0, i, j);
        const float pij = optk_plan_entry(f[i], g[j], c, target);
        if (args.out.plan) args.out.plan[p * entries + e] = pij;
        if (pij == 0.0f) continue;
        c_sum += (double)pij * c;
        fg += (double)pij * ((double)f[i] + g[j]);
        mass += pij;
    }
    c_sum = block_sum(c_sum, reduce);
    fg = block_sum(fg, reduce);
    mass = block_sum(mass, reduce);
    if (tid == 0) {
        if (args.out.cost) args.out.cost[p] = (float)c_sum;
        if (args.out.objective) args.out.objective[p] = (float)(fg - (double)target * mass);
    }
}

} // namespace

namespace optk_cuda {
namespace sinkhorn {

bool fused_fits(optk_context *ctx, const optk_sinkhorn_job *job) {
    if (job->view.n * job->view.m > kMostEntries) return false;
    int most = 0;
    if (cudaDeviceGetAttribute(&most, cudaDevAttrMaxSharedMemoryPerBlockOptin, ctx->device) !=
        cudaSuccess) {
        cudaGetLastError(); /* clear it: the streaming solver will do */
        return false;
    }
    /* + the kernel's static shared memory (the unsafe flag), rounded up generously. */
    return shared_bytes(job->view) + 64 <= (size_t)most && job->batch < (int64_t)1 << 31;
}

optk_status solve_fused(optk_context *ctx, const optk_sinkhorn_job *job) {
    static const char op[] = "sinkhorn";
    const size_t bytes = shared_bytes(job->view);
    cudaError_t err =
        cudaFuncSetAttribute(fused_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
    if (err != cudaSuccess) return fail(ctx, err, op, "cudaFuncSetAttribute");
    const FusedArgs args = {job->view,
                            job->epsilon,
                            job->epsilon_start,
                            job->epsilon_decay,
                            job->tol,
                            job->rho,
                            job->max_iter,
                            job->check_every,
                            job->warm_start ? 1 : 0,
                            job->log_domain_only ? 1 : 0,
                            job->out};
    fused_kernel<<<(unsigned)job->batch, kThreads, bytes, stream_of(ctx)>>>(args);
    return check_launch(ctx, op);
}

} // namespace sinkhorn
} // namespace optk_cuda
