/* sinkhorn.cu — batched log-domain Sinkhorn on CUDA, with the arithmetic of
 * src/common/sinkhorn.h.
 *
 * Two solvers share the kernels' element code:
 *  - streaming (any size): per iteration one launch for the g update (a thread per column,
 *    the rows in index order: the cost is read row by row across the threads, coalesced,
 *    eight rows' loads in flight, and each column's sum runs in the CPU's order) and one
 *    for the f update (half a warp per row, its 16 lanes over the columns, merged by a fixed
 *    shuffle tree); every check_every iterations the next g update also yields each column's error
 *    term, one block per problem sums them in a fixed order and retires the problems that
 *    converged, and the host reads how many are still running (its only synchronisation); a
 *    block of iterations between checks runs in the kernel domain (common/sinkhorn.h: a
 *    thread per column and a warp per row again, the kernel entries recomputed, so no n x m
 *    workspace), the problems it failed for rerun in the log domain; a self problem's
 *    iterations are the symmetric update instead (a g update and an average);
 *  - on-chip (small problems, sinkhorn_fused.cu): one block per problem — or on sm_90 a
 *    thread-block cluster, where one block's shared memory is too small — runs every
 *    iteration in one launch.
 * Deterministic: no atomics in any sum.
 */
#include "cuda_check.cuh"
#include "sinkhorn_kernels.cuh"

#include <climits>

using namespace optk_cuda;
using namespace optk_cuda::sinkhorn;

namespace {

/* The g update of every column of every running problem: a thread per column, the rows in
 * index order (the CPU's order). With terms, also the column's error term against g. */
__global__ void __launch_bounds__(kThreads)
    column_kernel(const optk_ot_view v, int64_t tiles, const int *active, const float *f,
                  const float *g, float *g_out, double *terms, float eps, float tau) {
    const int64_t p = blockIdx.x / tiles;
    const int64_t j = (blockIdx.x % tiles) * kThreads + threadIdx.x;
    if (j >= v.m || !active[p]) return;
    const float *a = v.a + p * v.n, *fp = f + p * v.n;
    optk_lse l = optk_lse_empty();
    lse_push_in_order(
        &l, 0, v.n, 1, a, fp, [&](int64_t i) { return optk_ot_cost_at(&v, p, i, j); }, eps);
    const float bj = v.b[p * v.m + j];
    const float next = optk_potential(bj, l, eps, tau);
    if (terms) terms[p * v.m + j] = optk_error_term(bj, g[p * v.m + j], next, eps);
    g_out[p * v.m + j] = next;
}

/* The f update of every row of every running problem: kLseLanes lanes a row, kRowsPerWarp
 * rows a warp. A warp's rows may lie in two problems, and the last warp's second row past
 * the end: such a row's lanes push nothing and write nothing, but take part in the shuffles. */
__global__ void __launch_bounds__(kWarps * 32)
    row_kernel(const optk_ot_view v, int64_t rows, const int *active, const float *g, float *f,
               float eps, float tau) {
    const int64_t first = ((int64_t)blockIdx.x * kWarps + threadIdx.x / 32) * kRowsPerWarp;
    if (first >= rows) return; /* the whole warp */
    const int lane = (int)(threadIdx.x % 32), sub = lane % kLseLanes;
    const int64_t r = first + lane / kLseLanes;
    const int64_t p = r / v.n, i = r % v.n;
    const bool live = r < rows && active[p];
    optk_lse l = optk_lse_empty();
    if (live) {
        lse_push_in_order(
            &l, sub, v.m, kLseLanes, v.b + p * v.m, g + p * v.m,
            [&](int64_t j) { return optk_ot_cost_at(&v, p, i, j); }, eps);
    }
    l = row_merge(l, eps);
    if (live && sub == 0) f[r] = optk_potential(v.a[r], l, eps, tau);
}

/* ---- Kernel-domain blocks (common/sinkhorn.h) ---------------------------------------- */

/* A block's start for every running problem: u = 1, not unsafe. */
__global__ void __launch_bounds__(kThreads)
    kernel_start_kernel(int64_t n, int64_t batch, const int *active, float *u, int *unsafe) {
    const int64_t e = (int64_t)blockIdx.x * kThreads + threadIdx.x;
    if (e < batch) unsafe[e] = 0;
    if (e < batch * n && active[e / n]) u[e] = 1.0f;
}

/* v_j for every column of every running problem still safe: a thread per column. */
__global__ void __launch_bounds__(kThreads)
    kernel_columns_kernel(const optk_ot_view v, int64_t tiles, const int *active, const float *f,
                          const float *g, const float *u, float *vs, int *unsafe, float eps,
                          float tau) {
    const int64_t p = blockIdx.x / tiles;
    const int64_t j = (blockIdx.x % tiles) * kThreads + threadIdx.x;
    if (j >= v.m || !active[p] || unsafe[p]) return;
    int bad = 0;
    vs[p * v.m + j] = kernel_column(ViewCost{v, p}, v.n, j, v.a + p * v.n, f + p * v.n,
                                    g[p * v.m + j], u + p * v.n, v.b[p * v.m + j], eps, tau, &bad);
    if (bad) unsafe[p] = 1; /* any thread may: they all write 1 */
}

/* u_i for every row of every running problem: a warp per row. */
__global__ void __launch_bounds__(kWarps * 32)
    kernel_rows_kernel(const optk_ot_view v, int64_t rows, const int *active, const float *f,
                       const float *g, const float *vs, float *u, int *unsafe, float eps,
                       float tau) {
    const int64_t r = (int64_t)blockIdx.x * kWarps + threadIdx.x / 32;
    const int lane = (int)(threadIdx.x % 32);
    if (r >= rows) return; /* the whole warp */
    const int64_t p = r / v.n, i = r % v.n;
    /* Not unsafe[p]: another warp may set it meanwhile, and the lanes must agree (shuffles).
     * An unsafe block's results are dropped anyway. */
    if (!active[p]) return;
    const double sum =
        kernel_row_sum(ViewCost{v, p}, v.m, i, v.a[r], f[r], g + p * v.m, vs + p * v.m, lane, eps);
    if (lane != 0) return;
    int bad = 0;
    u[r] = optk_scaling_tau(v.a[r], sum, tau, f[r], eps, &bad);
    if (bad) unsafe[p] = 1;
}

/* The symmetric update's scalings of every running problem: u <- sqrt(u v) (plain: u <- v,
 * a cold start's first), a thread per point. */
__global__ void __launch_bounds__(kThreads)
    kernel_symmetric_kernel(int64_t n, int64_t tiles, const int *active, const float *vs, float *u,
                            int plain) {
    const int64_t p = blockIdx.x / tiles;
    const int64_t j = (blockIdx.x % tiles) * kThreads + threadIdx.x;
    if (j >= n || !active[p]) return;
    const int64_t e = p * n + j;
    u[e] = plain ? vs[e] : optk_symmetric_scaling(u[e], vs[e]);
}

/* The block's end: a safe problem's potentials absorb its scalings (symmetric: f absorbs u and
 * g = f); an unsafe one is marked in redo (its potentials untouched) for the log-domain rerun.
 * One block per problem. */
__global__ void __launch_bounds__(kThreads)
    kernel_end_kernel(int64_t n, int64_t m, const int *active, const int *unsafe, const float *u,
                      const float *vs, float *f, float *g, int *redo, float eps, int symmetric) {
    const int64_t p = blockIdx.x;
    const bool safe = active[p] && !unsafe[p];
    if (threadIdx.x == 0) redo[p] = active[p] && unsafe[p];
    if (!safe) return;
    for (int64_t i = threadIdx.x; i < n; i += kThreads) {
        const float next = optk_absorb(f[p * n + i], u[p * n + i], eps);
        f[p * n + i] = next;
        if (symmetric) g[p * n + i] = next;
    }
    for (int64_t j = threadIdx.x; j < m && !symmetric; j += kThreads)
        g[p * m + j] = optk_absorb(g[p * m + j], vs[p * m + j], eps);
}

/* g = g_next for the running problems (a check computed the next g update already). */
__global__ void __launch_bounds__(kThreads)
    copy_active_kernel(int64_t m, int64_t tiles, const int *active, const float *g_next, float *g) {
    const int64_t p = blockIdx.x / tiles;
    const int64_t j = (blockIdx.x % tiles) * kThreads + threadIdx.x;
    if (j < m && active[p]) g[p * m + j] = g_next[p * m + j];
}

/* The symmetric update's average (common/sinkhorn.h) for the running problems:
 * f <- (f + T(f)) / 2 with T(f) in t (plain: f <- T(f), a cold start's first), and g = f. */
__global__ void __launch_bounds__(kThreads)
    symmetric_kernel(int64_t m, int64_t tiles, const int *active, const float *t, float *f,
                     float *g, int plain) {
    const int64_t p = blockIdx.x / tiles;
    const int64_t j = (blockIdx.x % tiles) * kThreads + threadIdx.x;
    if (j >= m || !active[p]) return;
    const float next = plain ? t[p * m + j] : optk_symmetric_average(f[p * m + j], t[p * m + j]);
    f[p * m + j] = next;
    g[p * m + j] = next;
}

__global__ void start_kernel(int64_t batch, int *active, int *iterations, int *converged,
                             int *running) {
    const int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (p == 0) *running = (int)batch;
    if (p >= batch) return;
    active[p] = 1;
    iterations[p] = 0;
    converged[p] = 0;
}

/* One block per problem: its error (the column terms summed in a fixed tree); a problem
 * whose error is <= tol, or every running one when `last`, stops here. */
__global__ void __launch_bounds__(kThreads)
    error_kernel(int64_t m, int *active, const double *terms, double tol, int iterations_done,
                 int last, float *error, int *converged, int *iterations, int *running) {
    __shared__ double shared[kThreads];
    const int64_t p = blockIdx.x;
    if (!active[p]) return; /* the same for the whole block */
    double x = 0.0;
    for (int64_t j = threadIdx.x; j < m; j += kThreads)
        x += terms[p * m + j];
    const double e = block_sum(x, shared);
    if (threadIdx.x != 0) return;
    error[p] = (float)e;
    const int done = e <= tol;
    if (done || last) {
        active[p] = 0;
        converged[p] = done;
        iterations[p] = iterations_done;
        atomicSub(running, 1);
    }
}

/* One block per problem: the plan entries (when plan != NULL), <P, C> and
 * <P, C> - eps H(P) = sum P (f + g) - eps sum P, summed in a fixed tree. */
__global__ void __launch_bounds__(kThreads)
    finish_kernel(const optk_ot_view v, const float *f, const float *g, float eps, float *cost,
                  float *objective, float *plan) {
    __shared__ double shared[kThreads];
    const int64_t p = blockIdx.x, entries = v.n * v.m;
    double c_sum = 0.0, fg = 0.0, mass = 0.0;
    for (int64_t e = threadIdx.x; e < entries; e += kThreads) {
        const int64_t i = e / v.m, j = e % v.m;
        const float c = optk_ot_cost_at(&v, p, i, j);
        const float fi = f[p * v.n + i], gj = g[p * v.m + j];
        const float pij = optk_plan_entry(fi, gj, c, eps);
        if (plan) plan[p * entries + e] = pij;
        if (pij == 0.0f) continue;
        c_sum += (double)pij * c;
        fg += (double)pij * ((double)fi + gj);
        mass += pij;
    }
    c_sum = block_sum(c_sum, shared);
    fg = block_sum(fg, shared);
    mass = block_sum(mass, shared);
    if (threadIdx.x != 0) return;
    if (cost) cost[p] = (float)c_sum;
    if (objective) objective[p] = (float)(fg - (double)eps * mass);
}

/* One block per row of weights: the first row with a negative or non-finite weight goes to
 * found[0], the first whose weights sum to 0 to found[1]. */
__global__ void __launch_bounds__(kThreads)
    weights_kernel(const float *w, int64_t rows, int64_t cols, long long *found) {
    __shared__ double shared[kThreads];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        double sum = 0.0, bad = 0.0;
        for (int64_t k = threadIdx.x; k < cols; k += kThreads) {
            const float x = w[r * cols + k];
            if (!(x >= 0.0f && x <= 3.4028234663852886e38f)) bad = 1.0;
            sum += x >= 0.0f ? x : 0.0f;
        }
        sum = block_sum(sum, shared);
        bad = block_sum(bad, shared);
        if (threadIdx.x == 0) {
            if (bad > 0.0) {
                atomicMin(&found[0], (long long)r);
            } else if (sum == 0.0) {
                atomicMin(&found[1], (long long)r);
            }
        }
    }
}

/* Device scratch of one solve. */
struct Scratch {
    int *active;       /* batch: 1 while the problem runs */
    int *iterations;   /* batch */
    float *error;      /* batch */
    int *converged;    /* batch */
    int *running;      /* 1: how many problems still run */
    float *g_next;     /* batch x m: the g update a check computed */
    double *err_terms; /* batch x m */
    float *u, *v;      /* batch x n, batch x m: a kernel-domain block's scalings */
    int *unsafe;       /* batch: the block left the float range */
    int *redo;         /* batch: running and unsafe: rerun the block in the log domain */
};

size_t align_up(size_t x) {
    return (x + 255) / 256 * 256;
}

optk_status get_scratch(optk_context *ctx, const optk_sinkhorn_job *job, Scratch *s) {
    const size_t B = (size_t)job->batch, n = (size_t)job->view.n, m = (size_t)job->view.m;
    enum { kParts = 11 };
    const size_t sizes[kParts] = {B * 4,     B * 4,     B * 4,     B * 4, 4,    B * m * 4,
                                  B * m * 8, B * n * 4, B * m * 4, B * 4, B * 4};
    size_t total = 0;
    for (size_t k : sizes)
        total += align_up(k);
    void *base = nullptr;
    optk_status st = optk_cuda_workspace(ctx, total, &base);
    if (st != OPTK_OK) return st;
    char *at = static_cast<char *>(base);
    void *parts[kParts];
    for (int k = 0; k < kParts; ++k) {
        parts[k] = at;
        at += align_up(sizes[k]);
    }
    *s = Scratch{static_cast<int *>(parts[0]),    static_cast<int *>(parts[1]),
                 static_cast<float *>(parts[2]),  static_cast<int *>(parts[3]),
                 static_cast<int *>(parts[4]),    static_cast<float *>(parts[5]),
                 static_cast<double *>(parts[6]), static_cast<float *>(parts[7]),
                 static_cast<float *>(parts[8]),  static_cast<int *>(parts[9]),
                 static_cast<int *>(parts[10])};
    return OPTK_OK;
}

/* The streaming solver: the host runs the iterations, the kernels the problems. */
optk_status solve_streaming(optk_context *ctx, const optk_sinkhorn_job *job, const Scratch &s) {
    static const char op[] = "sinkhorn";
    const optk_ot_view &v = job->view;
    const int64_t B = job->batch;
    cudaStream_t stream = stream_of(ctx);
    const int64_t column_tiles = (v.m + kThreads - 1) / kThreads;
    const unsigned column_grid = (unsigned)(B * column_tiles);
    const unsigned row_grid = blocks_for(B * v.n, kWarps); /* a warp a row */
    const unsigned lse_row_grid = blocks_for(B * v.n, kWarps * kRowsPerWarp);
    const float target = (float)job->epsilon;
    float *f = job->out.f, *g = job->out.g;

    /* The g update from f (into g_out) of the problems in mask, with the error terms against
     * g when terms != NULL. */
    auto column = [&](const int *mask, float eps, float *g_out, double *terms) {
        column_kernel<<<column_grid, kThreads, 0, stream>>>(
            v, column_tiles, mask, f, g, g_out, terms, eps, optk_sinkhorn_tau(job->rho, eps));
    };
    auto reduce = [&](int iterations_done, bool last) {
        error_kernel<<<(unsigned)B, kThreads, 0, stream>>>(v.m, s.active, s.err_terms, job->tol,
                                                           iterations_done, last ? 1 : 0, s.error,
                                                           s.converged, s.iterations, s.running);
    };
    /* len log-domain iterations of the problems in mask; g_ready as the CPU's. */
    auto log_block = [&](const int *mask, int len, float eps, float tau, bool g_ready_now) {
        for (int k = 0; k < len; ++k) {
            if (g_ready_now) {
                copy_active_kernel<<<column_grid, kThreads, 0, stream>>>(v.m, column_tiles, mask,
                                                                         s.g_next, g);
            } else {
                column(mask, eps, g, nullptr);
            }
            row_kernel<<<lse_row_grid, kWarps * 32, 0, stream>>>(v, B * v.n, mask, g, f, eps, tau);
            g_ready_now = false;
        }
    };
    /* len symmetric iterations of the problems in mask (a self problem: n = m); cold: the
     * first is f <- T(f), as the CPU's. */
    auto symmetric_block = [&](const int *mask, int len, float eps, bool g_ready_now, bool cold) {
        for (int k = 0; k < len; ++k) {
            if (!g_ready_now) column(mask, eps, s.g_next, nullptr);
            symmetric_kernel<<<column_grid, kThreads, 0, stream>>>(
                v.m, column_tiles, mask, s.g_next, f, g, cold && k == 0 ? 1 : 0);
            g_ready_now = false;
        }
    };
    /* len kernel-domain iterations of every running problem — alternating, or for a self
     * problem symmetric: K absorbed with f on both sides (g, a warm start's, is not read),
     * u <- sqrt(u v) after each column pass — as the CPU's; the problems that turn out unsafe
     * run the block again in the log domain (the launches return at once when none does). */
    auto kernel_block = [&](int len, float eps, float tau, bool g_ready_now, bool cold) {
        const bool symmetric = job->symmetric;
        const float *g0 = symmetric ? f : g; /* the column potentials K is absorbed with */
        kernel_start_kernel<<<blocks_for(B * v.n, kThreads), kThreads, 0, stream>>>(
            v.n, B, s.active, s.u, s.unsafe);
        for (int k = 0; k < len; ++k) {
            kernel_columns_kernel<<<column_grid, kThreads, 0, stream>>>(
                v, column_tiles, s.active, f, g0, s.u, s.v, s.unsafe, eps, tau);
            if (symmetric) {
                kernel_symmetric_kernel<<<column_grid, kThreads, 0, stream>>>(
                    v.n, column_tiles, s.active, s.v, s.u, cold && k == 0 ? 1 : 0);
            } else {
                kernel_rows_kernel<<<row_grid, kWarps * 32, 0, stream>>>(
                    v, B * v.n, s.active, f, g, s.v, s.u, s.unsafe, eps, tau);
            }
        }
        kernel_end_kernel<<<(unsigned)B, kThreads, 0, stream>>>(
            v.n, v.m, s.active, s.unsafe, s.u, s.v, f, g, s.redo, eps, symmetric ? 1 : 0);
        if (symmetric)
            symmetric_block(s.redo, len, eps, g_ready_now, cold);
        else
            log_block(s.redo, len, eps, tau, g_ready_now);
    };

    start_kernel<<<blocks_for(B, kThreads), kThreads, 0, stream>>>(B, s.active, s.iterations,
                                                                   s.converged, s.running);
    if (!job->warm_start) {
        cudaMemsetAsync(f, 0, (size_t)(B * v.n) * sizeof(float), stream);
        cudaMemsetAsync(g, 0, (size_t)(B * v.m) * sizeof(float), stream);
    }
    bool g_ready = false;
    int it = 0;
    while (it < job->max_iter) { /* blocks of iterations between checks, as the CPU's */
        const int len =
            job->check_every < job->max_iter - it ? job->check_every : job->max_iter - it;
        const float eps = optk_sinkhorn_epsilon(job->epsilon, job->epsilon_start,
                                                job->epsilon_decay, it / job->check_every);
        const float tau = optk_sinkhorn_tau(job->rho, eps);
        const bool cold = it == 0 && !job->warm_start;
        if (optk_sinkhorn_kernel_block(v.n, v.m, job->log_domain_only))
            kernel_block(len, eps, tau, g_ready, cold);
        else if (job->symmetric)
            symmetric_block(s.active, len, eps, g_ready, cold);
        else
            log_block(s.active, len, eps, tau, g_ready);
        g_ready = false;
        it += len;
        if (it % job->check_every == 0 && eps == target) {
            column(s.active, eps, s.g_next, s.err_terms);
            reduce(it, it == job->max_iter);
            g_ready = true;
            int running = 0;
            cudaError_t err = cudaMemcpyAsync(&running, s.running, sizeof running,
                                              cudaMemcpyDeviceToHost, stream);
            if (err == cudaSuccess) err = cudaStreamSynchronize(stream);
            if (err != cudaSuccess) return fail(ctx, err, op, "reading the running count");
            if (running == 0) break;
        }
    }
    if (!g_ready) { /* the last iteration was not a check: measure where it stopped */
        column(s.active, target, s.g_next, s.err_terms);
        reduce(it, true);
    } else if (it == job->max_iter) {
        /* The last check was the last iteration: reduce() already recorded it as the end. */
    }
    finish_kernel<<<(unsigned)B, kThreads, 0, stream>>>(v, f, g, target, job->out.cost,
                                                        job->out.objective, job->out.plan);
    const size_t bytes = (size_t)B * 4;
    cudaError_t err = cudaGetLastError();
    if (err == cudaSuccess && job->out.iterations) {
        err = cudaMemcpyAsync(job->out.iterations, s.iterations, bytes, cudaMemcpyDeviceToDevice,
                              stream);
    }
    if (err == cudaSuccess && job->out.error) {
        err = cudaMemcpyAsync(job->out.error, s.error, bytes, cudaMemcpyDeviceToDevice, stream);
    }
    if (err == cudaSuccess && job->out.converged) {
        err = cudaMemcpyAsync(job->out.converged, s.converged, bytes, cudaMemcpyDeviceToDevice,
                              stream);
    }
    return err == cudaSuccess ? OPTK_OK : fail(ctx, err, op, "a kernel or copy");
}

} // namespace

extern "C" optk_status optk_cuda_sinkhorn(optk_context *ctx, const optk_sinkhorn_job *job) {
    static const char op[] = "sinkhorn";
    optk_status st = enter(ctx, op);
    if (st != OPTK_OK) return st;
    if (job->batch * job->view.n / kWarps >= INT_MAX ||
        job->batch * ((job->view.m + kThreads - 1) / kThreads) >= INT_MAX) {
        return optk_fail(ctx, OPTK_ERR_UNSUPPORTED, "%s: batch x n = %lld rows is beyond one grid",
                         op, (long long)(job->batch * job->view.n));
    }
    /* The on-chip kernel runs the alternating updates only. */
    const int blocks = job->placement == OPTK_SINKHORN_PLACE_STREAMING || job->symmetric
                           ? 0
                           : fused_blocks(ctx, job);
    if (blocks > 0) return solve_fused(ctx, job, blocks);
    Scratch s;
    st = get_scratch(ctx, job, &s);
    if (st != OPTK_OK) return st;
    return solve_streaming(ctx, job, s);
}

extern "C" optk_status optk_cuda_ot_weights_check(optk_context *ctx, const float *w, int64_t rows,
                                                  int64_t cols, int64_t *bad_row, int *why) {
    static const char op[] = "sinkhorn";
    optk_status st = enter(ctx, op);
    if (st != OPTK_OK) return st;
    long long *found = nullptr; /* [0]: first row with a bad value, [1]: first with sum 0 */
    st = optk_cuda_workspace(ctx, 2 * sizeof(long long), reinterpret_cast<void **>(&found));
    if (st != OPTK_OK) return st;
    cudaStream_t stream = stream_of(ctx);
    const long long none[2] = {LLONG_MAX, LLONG_MAX};
    long long got[2] = {LLONG_MAX, LLONG_MAX};
    cudaError_t err = cudaMemcpyAsync(found, none, sizeof none, cudaMemcpyHostToDevice, stream);
    if (err == cudaSuccess) {
        weights_kernel<<<(unsigned)(rows < INT_MAX ? rows : INT_MAX), kThreads, 0, stream>>>(
            w, rows, cols, found);
        err = cudaGetLastError();
    }
    if (err == cudaSuccess) {
        err = cudaMemcpyAsync(got, found, sizeof got, cudaMemcpyDeviceToHost, stream);
    }
    if (err == cudaSuccess) err = cudaStreamSynchronize(stream);
    if (err != cudaSuccess) return fail(ctx, err, op, "checking the weights");
    const long long first = got[0] < got[1] ? got[0] : got[1];
    *bad_row = first == LLONG_MAX ? -1 : (int64_t)first;
    *why = got[0] == first ? 0 : 1;
    return OPTK_OK;
}
