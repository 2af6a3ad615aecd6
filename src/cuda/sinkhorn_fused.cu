/* sinkhorn_fused.cu — the on-chip Sinkhorn solver for small problems: a team per problem (one
 * block, or a thread-block cluster when one block's shared memory is too small:
 * sinkhorn_team.cuh) holds its weights, potentials and cost (or its points) in shared memory
 * and runs every iteration, its checks and its stop in one launch; many problems run side by
 * side.
 *
 * It does the streaming solver's arithmetic in the streaming solver's order — a thread per
 * column over the rows in index order for the g update, half a warp per row merged by the
 * same shuffle tree for the f update, the column error terms summed by the same block tree — so
 * the two give the same bits, and the choice between them is only a matter of speed.
 */
#include "sinkhorn_team.cuh"

#include <type_traits>

using namespace optk_cuda;
using namespace optk_cuda::sinkhorn;

namespace {

constexpr int64_t kMostEntries = 256 * 256; /* n m of the largest problem solved on-chip */
constexpr int kAhead = 4;                   /* visit_in_order's look-ahead over shared memory */

struct FusedArgs {
    optk_ot_view v; /* global memory */
    double epsilon, epsilon_start, epsilon_decay, tol, rho;
    int max_iter, check_every, warm_start, log_domain_only;
    optk_sinkhorn_outputs out;
};

/* Register budgets: one block holds a small problem, and four blocks an SM (64 registers a
 * thread) keep more problems in flight; a cluster's block holds a slice of a problem too
 * large for one block's shared memory, so few fit an SM anyway, and without the explicit
 * minimum of one ptxas capped it at 80 registers and spilled (ptxas -v, sm_90). */
template <bool kCluster>
__global__ void __launch_bounds__(kThreads, kCluster ? 1 : 4) fused_kernel(const FusedArgs args) {
    using Cost = std::conditional_t<kCluster, TableCost, ViewCost>;
    const Team<kCluster> team;
    const unsigned rank = team.rank(), blocks = team.size();
    const int64_t n = args.v.n, m = args.v.m, dim = args.v.dim, p = blockIdx.x / blocks;
    const Layout lay = layout_of(args.v, (int)blocks);
    extern __shared__ double dynamic[];
    char *base = reinterpret_cast<char *>(dynamic);
    double *reduce = dynamic, *terms = reinterpret_cast<double *>(base + lay.terms);
    const float **row_table = reinterpret_cast<const float **>(base + lay.row_table);
    const float **col_table = reinterpret_cast<const float **>(base + lay.col_table);
    float *a = reinterpret_cast<float *>(base + lay.floats);
    float *f = a + n, *u = f + n, *b = u + n, *g = b + m, *g_next = g + m, *vs = g_next + m;
    float *data = reinterpret_cast<float *>(base + lay.slice);
    __shared__ int unsafe;
    int *const team_unsafe = team.of(&unsafe, 0); /* the team's flag: block 0's */
    const int tid = (int)threadIdx.x, lane = tid % 32, warp = tid / 32;

    /* This block's rows (f updates) and columns (g updates); one block: all of them. */
    const int64_t row0 = rank * lay.rows_per, col0 = rank * lay.cols_per;
    const int64_t row1 = row0 + lay.rows_per < n ? row0 + lay.rows_per : n;
    const int64_t col1 = col0 + lay.cols_per < m ? col0 + lay.cols_per : m;

    /* The problem's slice, on chip: dense rows [row0, row1), or x of those rows then y of
     * columns [col0, col1) (the y block starts after rows_per rows). */
    if (args.v.cost == 0) {
        const float *src = args.v.c + (p * n + row0) * m;
        for (int64_t k = tid; k < (row1 - row0) * m; k += kThreads)
            data[k] = src[k];
    } else {
        const float *x = args.v.x + (p * n + row0) * dim, *y = args.v.y + (p * m + col0) * dim;
        float *y_slice = data + lay.rows_per * dim;
        for (int64_t k = tid; k < (row1 - row0) * dim; k += kThreads)
            data[k] = x[k];
        for (int64_t k = tid; k < (col1 - col0) * dim; k += kThreads)
            y_slice[k] = y[k];
    }
    for (int64_t i = tid; i < n; i += kThreads) {
        a[i] = args.v.a[p * n + i];
        f[i] = args.warm_start ? args.out.f[p * n + i] : 0.0f;
    }
    for (int64_t j = tid; j < m; j += kThreads) {
        b[j] = args.v.b[p * m + j];
        g[j] = args.warm_start ? args.out.g[p * m + j] : 0.0f;
    }
    Cost cost;
    if constexpr (kCluster) {
        const int64_t row_floats = args.v.cost == 0 ? m : dim;
        for (int64_t i = tid; i < n; i += kThreads) {
            const unsigned q = (unsigned)(i / lay.rows_per);
            row_table[i] = team.of(data, q) + (i - q * lay.rows_per) * row_floats;
        }
        if (args.v.cost != 0) {
            for (int64_t j = tid; j < m; j += kThreads) {
                const unsigned q = (unsigned)(j / lay.cols_per);
                col_table[j] = team.of(data + lay.rows_per * dim, q) + (j - q * lay.cols_per) * dim;
            }
        }
        cost = TableCost{row_table, col_table, dim, args.v.cost};
    } else {
        optk_ot_view local = args.v; /* problem index 0 */
        local.c = args.v.cost == 0 ? data : nullptr;
        local.x = args.v.cost == 0 ? nullptr : data;
        local.y = args.v.cost == 0 ? nullptr : data + n * dim;
        cost = ViewCost{local, 0};
    }
    team.sync(); /* every slice loaded before any block reads another's */

    /* A value this block computed, into every block's copy. */
    auto put = [&](float *array, int64_t k, float value) {
        for (unsigned q = 0; q < blocks; ++q)
            team.of(array, q)[k] = value;
    };

    /* The g update from f into out for this block's columns; with want_error, the error
     * against g (every thread of every block gets the same total). */
    auto column = [&](float eps, float tau, float *out, bool want_error) -> double {
        double sum = 0.0;
        for (int64_t j = col0 + tid; j < col1; j += kThreads) {
            optk_lse l = optk_lse_empty();
            lse_push_in_order<kAhead>(
                &l, 0, n, 1, a, f, [&](int64_t i) { return cost(i, j); }, eps);
            const float next = optk_potential(b[j], l, eps, tau);
            if (want_error) {
                const double term = optk_error_term(b[j], g[j], next, eps);
                if constexpr (kCluster) {
                    for (unsigned q = 0; q < blocks; ++q)
                        team.of(terms, q)[j] = term;
                } else {
                    sum += term;
                }
            }
            put(out, j, next);
        }
        team.sync();
        if (!want_error) return 0.0;
        if constexpr (kCluster) { /* the one block's partials: column j in thread j % kThreads */
            for (int64_t j = tid; j < m; j += kThreads)
                sum += terms[j];
        }
        return block_sum(sum, reduce);
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
                team.sync();
            } else {
                column(eps, tau, g, false);
            }
            /* kRowsPerWarp rows a warp (the loop's test is the warp's: every lane shuffles). */
            for (int64_t i0 = row0 + warp * kRowsPerWarp; i0 < row1; i0 += kWarps * kRowsPerWarp) {
                const int64_t i = i0 + lane / kLseLanes;
                const bool live = i < row1;
                optk_lse l = optk_lse_empty();
                if (live) {
                    lse_push_in_order<kAhead>(
                        &l, lane % kLseLanes, m, kLseLanes, b, g,
                        [&](int64_t j) { return cost(i, j); }, eps);
                }
                l = row_merge(l, eps);
                if (live && lane % kLseLanes == 0) put(f, i, optk_potential(a[i], l, eps, tau));
            }
            team.sync();
            g_ready = false;
        }
    };
    /* len kernel-domain iterations (common/sinkhorn.h); false (f, g untouched) if unsafe. */
    auto kernel_block = [&](int len, float eps, float tau) -> bool {
        if (tid == 0 && rank == 0) *team_unsafe = 0;
        for (int64_t i = tid; i < n; i += kThreads)
            u[i] = 1.0f;
        team.sync();
        for (int k = 0; k < len; ++k) {
            int bad = 0;
            for (int64_t j = col0 + tid; j < col1; j += kThreads)
                put(vs, j, kernel_column<kAhead>(cost, n, j, a, f, g[j], u, b[j], eps, tau, &bad));
            if (bad) atomicOr(team_unsafe, 1);
            team.sync();
            for (int64_t i = row0 + warp; i < row1; i += kWarps) {
                const double sum = kernel_row_sum<kAhead>(cost, m, i, a[i], f[i], g, vs, lane, eps);
                if (lane == 0) {
                    int row_bad = 0;
                    put(u, i, optk_scaling_tau(a[i], sum, tau, f[i], eps, &row_bad));
                    if (row_bad) atomicOr(team_unsafe, 1);
                }
            }
            team.sync();
        }
        const bool safe = *team_unsafe == 0;
        team.sync(); /* every thread has read it */
        if (!safe) return false;
        for (int64_t i = tid; i < n; i += kThreads)
            f[i] = optk_absorb(f[i], u[i], eps);
        for (int64_t j = tid; j < m; j += kThreads)
            g[j] = optk_absorb(g[j], vs[j], eps);
        team.sync(); /* absorbed everywhere before another block writes f or g */
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

    /* The outputs and the plan's sums, as the streaming solver's finish: block 0 alone (the
     * sums' order is one block's), reading the other blocks' slices. */
    if (rank == 0) {
        for (int64_t i = tid; i < n; i += kThreads)
            args.out.f[p * n + i] = f[i];
        for (int64_t j = tid; j < m; j += kThreads)
            args.out.g[p * m + j] = g[j];
        if (tid == 0) {
            if (args.out.iterations) args.out.iterations[p] = it;
            if (args.out.error) args.out.error[p] = (float)error;
            if (args.out.converged) args.out.converged[p] = converged ? 1 : 0;
        }
        const int64_t entries = n * m;
        double c_sum = 0.0, fg = 0.0, mass = 0.0;
        for (int64_t e = tid; e < entries; e += kThreads) {
            const int64_t i = e / m, j = e % m;
            const float c = cost(i, j);
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
    team.sync(); /* every slice stays until block 0 has read it */
}

FusedArgs fused_args(const optk_sinkhorn_job *job) {
    return FusedArgs{job->view,
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
}

/* A cluster launch of `blocks` blocks per problem. */
cudaLaunchConfig_t cluster_config(const optk_sinkhorn_job *job, int blocks, size_t bytes,
                                  cudaStream_t stream, cudaLaunchAttribute *shape) {
    shape->id = cudaLaunchAttributeClusterDimension;
    shape->val.clusterDim.x = (unsigned)blocks;
    shape->val.clusterDim.y = 1;
    shape->val.clusterDim.z = 1;
    cudaLaunchConfig_t config = {};
    config.gridDim = dim3((unsigned)(job->batch * blocks));
    config.blockDim = dim3(kThreads);
    config.dynamicSmemBytes = bytes;
    config.stream = stream;
    config.attrs = shape;
    config.numAttrs = 1;
    return config;
}

/* Whether a cluster of `blocks` can hold one of the job's problems on this device. */
bool cluster_fits(optk_context *ctx, const optk_sinkhorn_job *job, int blocks, size_t most) {
    const size_t bytes = layout_of(job->view, blocks).bytes;
    if (bytes + 64 > most) return false;
    if (cudaFuncSetAttribute(fused_kernel<true>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             (int)bytes) != cudaSuccess) {
        return false;
    }
    cudaLaunchAttribute shape;
    const cudaLaunchConfig_t config = cluster_config(job, blocks, bytes, stream_of(ctx), &shape);
    int clusters = 0;
    return cudaOccupancyMaxActiveClusters(&clusters, fused_kernel<true>, &config) == cudaSuccess &&
           clusters > 0;
}

} // namespace

namespace optk_cuda {
namespace sinkhorn {

int fused_blocks(optk_context *ctx, const optk_sinkhorn_job *job) {
    if (job->view.n * job->view.m > kMostEntries || job->batch * kMostTeamBlocks >= (int64_t)1
                                                                                        << 31) {
        return 0;
    }
    const auto *device = static_cast<const optk_cuda_state *>(ctx->backend_data);
    const size_t most = device->shared_optin;
    /* + the kernel's static shared memory (the unsafe flag), rounded up generously. */
    if (layout_of(job->view, 1).bytes + 64 <= most) return 1;
    if (job->placement == OPTK_SINKHORN_PLACE_ONE_BLOCK || device->compute_major < 9) return 0;
    cudaFuncAttributes binary; /* clusters also need the kernel compiled for sm_90+ */
    if (cudaFuncGetAttributes(&binary, fused_kernel<true>) != cudaSuccess ||
        binary.ptxVersion < 90) {
        cudaGetLastError(); /* clear it: the streaming solver will do */
        return 0;
    }
    for (int blocks = 2; blocks <= kMostTeamBlocks; blocks *= 2) {
        if (cluster_fits(ctx, job, blocks, most)) return blocks;
    }
    cudaGetLastError(); /* a failed query is not the solve's error */
    return 0;
}

optk_status solve_fused(optk_context *ctx, const optk_sinkhorn_job *job, int blocks) {
    static const char op[] = "sinkhorn";
    const size_t bytes = layout_of(job->view, blocks).bytes;
    const FusedArgs args = fused_args(job);
    if (blocks == 1) {
        cudaError_t err = cudaFuncSetAttribute(
            fused_kernel<false>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
        if (err != cudaSuccess) return fail(ctx, err, op, "cudaFuncSetAttribute");
        fused_kernel<false><<<(unsigned)job->batch, kThreads, bytes, stream_of(ctx)>>>(args);
        return check_launch(ctx, op);
    }
    cudaLaunchAttribute shape;
    const cudaLaunchConfig_t config = cluster_config(job, blocks, bytes, stream_of(ctx), &shape);
    cudaError_t err = cudaFuncSetAttribute(fused_kernel<true>,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
    if (err == cudaSuccess) err = cudaLaunchKernelEx(&config, fused_kernel<true>, args);
    return err == cudaSuccess ? OPTK_OK : fail(ctx, err, op, "cluster launch");
}

} // namespace sinkhorn
} // namespace optk_cuda
