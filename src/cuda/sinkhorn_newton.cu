/* sinkhorn_newton.cu — the CUDA side of the Newton phase of Sinkhorn-Newton-Sparse
 * (common/sinkhorn_newton.h): one block per problem runs all of that problem's Newton steps in
 * one launch, its plan and sparse structure in a workspace in global memory (a chunk of
 * problems at a time), with every sum in the header's order — warp 0 takes the lane sums, a
 * warp per row its row's, a thread per column its column's — so the bits are the CPU's.
 *
 * Every thread of a block follows the same control flow: the scalars that steer it (the dual
 * value, the error, CG's residual) come from lane_sum, which hands every thread one value. */
#include "cuda_check.cuh"
#include "sinkhorn_kernels.cuh"

#include "../common/sinkhorn_newton.h"

using namespace optk_cuda;
using optk_cuda::sinkhorn::warp_sum;

namespace {

constexpr int kBlock = 256;
constexpr int kBlockWarps = kBlock / 32;
constexpr unsigned kFull = 0xffffffffu;
/* Workspace per launch: problems are taken in chunks that fit. */
constexpr size_t kChunkBytes = size_t(512) << 20;

__device__ inline double warp_max(double v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) {
        const double other = __shfl_xor_sync(kFull, v, offset);
        v = other > v ? other : v;
    }
    return v;
}

/* One problem of the job, seen by its block. */
struct Problem {
    int64_t n, m, len;
    double eps;
    const float *a, *b;
    optk_sns_space w;
    double *slot; /* shared: the scalar lane_sum hands out */

    __device__ float weight_at(int64_t k) const { return k < n ? a[k] : b[k - n]; }

    /* term(k) summed over k < count in lane order by warp 0; every thread gets the sum.
     * Begins with a barrier (its inputs are written) and ends with one (the sum is read). */
    template <class Term> __device__ double lane_sum(int64_t count, Term term) const {
        __syncthreads();
        if (threadIdx.x < 32) {
            double s = 0.0;
            for (int64_t k = threadIdx.x; k < count; k += 32)
                s += term(k);
            s = warp_sum(s);
            if (threadIdx.x == 0) *slot = s;
        }
        __syncthreads();
        return *slot;
    }

    /* The largest of term(k) >= 0 over k < count (0 if none): exact in any order. */
    template <class Term> __device__ double lane_max(int64_t count, Term term) const {
        __syncthreads();
        if (threadIdx.x < 32) {
            double top = 0.0;
            for (int64_t k = threadIdx.x; k < count; k += 32)
                top = term(k) > top ? term(k) : top;
            top = warp_max(top);
            if (threadIdx.x == 0) *slot = top;
        }
        __syncthreads();
        return *slot;
    }

    /* The plan at x, its marginals, L(x) (returned) and the plan's mass. */
    __device__ double plan_and_dual(double *mass) const {
        const int warp = (int)threadIdx.x / 32, lane = (int)threadIdx.x % 32;
        const double *f = w.x, *g = w.x + n;
        __syncthreads();
        for (int64_t i = warp; i < n; i += kBlockWarps) {
            double s = 0.0;
            for (int64_t j = lane; j < m; j += 32) {
                const double v = optk_sns_entry(a[i], b[j], f[i], g[j], w.cost[i * m + j], eps);
                w.plan[i * m + j] = v;
                s += v;
            }
            s = warp_sum(s);
            if (lane == 0) w.marginal[i] = s;
        }
        __syncthreads();
        for (int64_t j = threadIdx.x; j < m; j += kBlock) {
            double s = 0.0;
            for (int64_t i = 0; i < n; ++i)
                s += w.plan[i * m + j];
            w.marginal[n + j] = s;
        }
        const double total = lane_sum(n, [&](int64_t i) { return w.marginal[i]; });
        *mass = total;
        const double linear =
            lane_sum(len, [&](int64_t k) { return optk_sns_linear_term(weight_at(k), w.x[k]); });
        return linear - eps * total;
    }

    __device__ double marginal_error() const {
        return lane_sum(
            len, [&](int64_t k) { return optk_sns_error_term(w.marginal[k], weight_at(k)); });
    }

    /* Row i's threshold (a warp): a bisection on t's bits, as the CPU's. */
    __device__ double row_threshold(int64_t i, int64_t keep) const {
        const int lane = (int)threadIdx.x % 32;
        const double *row = w.plan + i * m;
        double top = 0.0;
        for (int64_t j = lane; j < m; j += 32)
            top = row[j] > top ? row[j] : top;
        top = warp_max(top);
        uint64_t lo = 0, hi = optk_f64_bits(top);
        while (lo < hi) { /* the same lo, hi in every lane */
            const uint64_t mid = lo + (hi - lo + 1) / 2;
            const double t = optk_f64_from_bits(mid);
            unsigned count = 0;
            double s = 0.0;
            for (int64_t j = lane; j < m; j += 32) {
                const bool in = row[j] >= t;
                count += in;
                s += in ? row[j] : 0.0;
            }
            count = __reduce_add_sync(kFull, count);
            s = __shfl_sync(kFull, warp_sum(s), 0);
            if (optk_sns_threshold_ok((int64_t)count, s, keep, w.marginal[i]))
                lo = mid;
            else
                hi = mid - 1;
        }
        return optk_f64_from_bits(lo);
    }

    __device__ bool kept(int64_t i, int64_t j) const {
        return optk_sns_keep(w.plan[i * m + j], w.threshold[i], w.column_max[j]);
    }

    /* The sparsified plan block: kept columns per row (a warp each, ballots keep them in
     * column order) and kept rows per column (a thread each, in row order). */
    __device__ void sparsify() const {
        const int warp = (int)threadIdx.x / 32, lane = (int)threadIdx.x % 32;
        const int64_t keep = optk_sns_row_keep(n, m);
        __syncthreads();
        for (int64_t j = threadIdx.x; j < m; j += kBlock) {
            double top = w.plan[j];
            for (int64_t i = 1; i < n; ++i)
                top = w.plan[i * m + j] > top ? w.plan[i * m + j] : top;
            w.column_max[j] = top;
        }
        for (int64_t i = warp; i < n; i += kBlockWarps) {
            const double t = row_threshold(i, keep);
            if (lane == 0) w.threshold[i] = t;
        }
        __syncthreads();
        for (int64_t i = warp; i < n; i += kBlockWarps) { /* counts first, starts below */
            int32_t count = 0;
            for (int64_t j0 = 0; j0 < m; j0 += 32) {
                const int64_t j = j0 + lane;
                count += __popc(__ballot_sync(kFull, j < m && kept(i, j)));
            }
            if (lane == 0) w.row_start[i + 1] = count;
        }
        for (int64_t j = threadIdx.x; j < m; j += kBlock) {
            int32_t count = 0;
            for (int64_t i = 0; i < n; ++i)
                count += kept(i, j);
            w.col_start[j + 1] = count;
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            w.row_start[0] = 0;
            for (int64_t i = 0; i < n; ++i)
                w.row_start[i + 1] += w.row_start[i];
        } else if (threadIdx.x == 32) {
            w.col_start[0] = 0;
            for (int64_t j = 0; j < m; ++j)
                w.col_start[j + 1] += w.col_start[j];
        }
        __syncthreads();
        for (int64_t i = warp; i < n; i += kBlockWarps) {
            int32_t next = w.row_start[i];
            for (int64_t j0 = 0; j0 < m; j0 += 32) {
                const int64_t j = j0 + lane;
                const bool in = j < m && kept(i, j);
                const unsigned ballot = __ballot_sync(kFull, in);
                if (in) w.row_cols[next + __popc(ballot & ((1u << lane) - 1u))] = (int32_t)j;
                next += __popc(ballot);
            }
        }
        for (int64_t j = threadIdx.x; j < m; j += kBlock) {
            int32_t next = w.col_start[j];
            for (int64_t i = 0; i < n; ++i)
                if (kept(i, j)) w.col_rows[next++] = (int32_t)i;
        }
    }

    /* y = (H + delta I) x: a thread per row or column, its kept entries in order. */
    __device__ void hessian_times(double delta, const double *x, double *y) const {
        __syncthreads();
        for (int64_t k = threadIdx.x; k < len; k += kBlock) {
            double v = optk_sns_hessian_diagonal(w.marginal[k], x[k], delta, eps);
            if (k < n) {
                for (int32_t e = w.row_start[k]; e < w.row_start[k + 1]; ++e) {
                    const int64_t j = w.row_cols[e];
                    v += optk_sns_hessian_term(w.plan[k * m + j], x[n + j], eps);
                }
            } else {
                const int64_t j = k - n;
                for (int32_t e = w.col_start[j]; e < w.col_start[j + 1]; ++e) {
                    const int64_t i = w.col_rows[e];
                    v += optk_sns_hessian_term(w.plan[i * m + j], x[i], eps);
                }
            }
            y[k] = v;
        }
    }

    __device__ double dot(const double *x, const double *y) const {
        return lane_sum(len, [&](int64_t k) { return x[k] * y[k]; });
    }

    /* Conjugate gradients for (H + delta I) d = grad from d = 0. */
    __device__ void conjugate_gradients() const {
        const double delta =
            optk_sns_damping(lane_max(n, [&](int64_t i) { return w.marginal[i]; }), eps);
        for (int64_t k = threadIdx.x; k < len; k += kBlock)
            w.d[k] = 0.0, w.res[k] = w.grad[k], w.dir[k] = w.grad[k];
        double rr = dot(w.res, w.res);
        const double stop = optk_sns_cg_stop(rr);
        for (int it = 0; it < OPTK_SNS_CG_ITERATIONS && rr > stop; ++it) {
            hessian_times(delta, w.dir, w.hd);
            const double curvature = dot(w.dir, w.hd);
            if (!(curvature > 0.0)) break;
            const double alpha = rr / curvature;
            for (int64_t k = threadIdx.x; k < len; k += kBlock)
                w.d[k] += alpha * w.dir[k], w.res[k] -= alpha * w.hd[k];
            const double next = dot(w.res, w.res), beta = next / rr;
            for (int64_t k = threadIdx.x; k < len; k += kBlock)
                w.dir[k] = w.res[k] + beta * w.dir[k];
            rr = next;
        }
    }

    /* One plain Sinkhorn iteration in double: g (a thread per column, rows in order), then f
     * (a warp per row, lane order). */
    __device__ void sinkhorn_step() const {
        const int warp = (int)threadIdx.x / 32, lane = (int)threadIdx.x % 32;
        const float *c = w.cost;
        double *f = w.x, *g = w.x + n;
        __syncthreads();
        for (int64_t j = threadIdx.x; j < m; j += kBlock) {
            if (!(b[j] > 0.0f)) continue;
            double top = -OPTK_INF_D, sum = 0.0;
            for (int64_t i = 0; i < n; ++i)
                if (a[i] > 0.0f) top = fmax(top, f[i] - (double)c[i * m + j]);
            for (int64_t i = 0; i < n; ++i)
                if (a[i] > 0.0f) sum += optk_sns_lse_term(f[i] - (double)c[i * m + j], top, eps);
            g[j] = optk_sns_potential(b[j], top, sum, eps);
        }
        __syncthreads();
        for (int64_t i = warp; i < n; i += kBlockWarps) {
            if (!(a[i] > 0.0f)) continue; /* the whole warp */
            double top = -OPTK_INF_D;
            for (int64_t j = lane; j < m; j += 32)
                if (b[j] > 0.0f) top = fmax(top, g[j] - (double)c[i * m + j]);
            top = warp_max(top);
            double s = 0.0;
            for (int64_t j = lane; j < m; j += 32)
                if (b[j] > 0.0f) s += optk_sns_lse_term(g[j] - (double)c[i * m + j], top, eps);
            s = warp_sum(s);
            if (lane == 0) f[i] = optk_sns_potential(a[i], top, s, eps);
        }
    }

    /* Newton steps until the error is <= tol or `budget` iterations (the CPU's newton()). */
    __device__ int newton(double tol, int budget, double *error, double *mass) const {
        double dual = plan_and_dual(mass);
        double err = marginal_error();
        int steps = 0, fallback = 1;
        while (steps < budget && err > tol) {
            for (int64_t k = threadIdx.x; k < len; k += kBlock)
                w.grad[k] = optk_sns_gradient(weight_at(k), w.marginal[k]);
            sparsify();
            conjugate_gradients();
            const double slope = dot(w.grad, w.d);
            for (int64_t k = threadIdx.x; k < len; k += kBlock)
                w.trial[k] = w.x[k];
            const double t0 =
                optk_sns_first_step(lane_max(len, [&](int64_t k) { return fabs(w.d[k]); }), eps);
            bool accepted = false;
            for (double t = t0; t > OPTK_SNS_MIN_STEP * t0 && slope > 0.0 && !accepted; t *= 0.5) {
                for (int64_t k = threadIdx.x; k < len; k += kBlock)
                    w.x[k] = w.trial[k] + t * w.d[k];
                const double next = plan_and_dual(mass);
                accepted = isfinite(next) && next >= dual + OPTK_SNS_ARMIJO * t * slope;
                if (accepted) dual = next;
            }
            if (accepted) {
                steps += 1, fallback = 1;
            } else {
                for (int64_t k = threadIdx.x; k < len; k += kBlock)
                    w.x[k] = w.trial[k];
                const int burst = optk_sns_burst(fallback, budget - steps);
                for (int k = 0; k < burst; ++k)
                    sinkhorn_step();
                steps += burst, fallback = optk_sns_next_fallback(fallback);
                dual = plan_and_dual(mass);
            }
            err = marginal_error();
        }
        *error = err;
        return steps;
    }
};

/* Problems first + blockIdx.x of the job: a block each, its workspace at space + blockIdx.x
 * stride. */
__global__ void __launch_bounds__(kBlock)
    newton_kernel(const optk_sinkhorn_job job, const int32_t *warm, int64_t first, char *space,
                  size_t stride) {
    __shared__ double slot;
    const optk_ot_view &v = job.view;
    const int64_t p = first + blockIdx.x, n = v.n, m = v.m, B = job.batch;
    const Problem q = {n,
                       m,
                       n + m,
                       (double)(float)job.epsilon,
                       v.a + p * n,
                       v.b + p * m,
                       optk_sns_space_at(space + blockIdx.x * stride, n, m),
                       &slot};
    const optk_sns_space &w = q.w;
    for (int64_t e = threadIdx.x; e < n * m; e += kBlock)
        w.cost[e] = optk_ot_cost_at(&v, p, e / m, e % m);
    for (int64_t k = threadIdx.x; k < n + m; k += kBlock)
        w.x[k] = k < n ? (double)job.out.f[p * n + k] : (double)job.out.g[p * m + k - n];
    const int32_t done = warm[p];
    const int budget = !warm[2 * B + p] && job.max_iter > done ? job.max_iter - done : 0;
    double error = 0.0, mass = 0.0;
    const int steps = q.newton(job.tol, budget, &error, &mass);

    /* The outputs at the final x, as floats; the sums per row (a warp), then over the rows. */
    const optk_sinkhorn_outputs &o = job.out;
    const int warp = (int)threadIdx.x / 32, lane = (int)threadIdx.x % 32;
    __syncthreads();
    for (int64_t i = warp; i < n; i += kBlockWarps) {
        double cost = 0.0, fg = 0.0;
        for (int64_t j = lane; j < m; j += 32) {
            const double pij = w.plan[i * m + j];
            if (o.plan) o.plan[(p * n + i) * m + j] = (float)pij;
            cost += optk_sns_cost_term(pij, w.cost[i * m + j]);
            fg += optk_sns_fg_term(pij, w.x[i], w.x[n + j]);
        }
        cost = warp_sum(cost);
        fg = warp_sum(fg);
        if (lane == 0) w.trial[i] = cost, w.hd[i] = fg;
    }
    const double cost = q.lane_sum(n, [&](int64_t i) { return w.trial[i]; });
    const double fg = q.lane_sum(n, [&](int64_t i) { return w.hd[i]; });
    for (int64_t k = threadIdx.x; k < n + m; k += kBlock) {
        if (k < n)
            o.f[p * n + k] = q.a[k] > 0.0f ? (float)w.x[k] : -OPTK_INF_F;
        else
            o.g[p * m + k - n] = q.b[k - n] > 0.0f ? (float)w.x[k] : -OPTK_INF_F;
    }
    if (threadIdx.x == 0) {
        if (o.iterations) o.iterations[p] = done + steps;
        if (o.error) o.error[p] = (float)error;
        if (o.converged) o.converged[p] = error <= job.tol;
        if (o.cost) o.cost[p] = (float)cost;
        if (o.objective) o.objective[p] = (float)(fg - q.eps * mass);
    }
}

} // namespace

extern "C" optk_status optk_cuda_sinkhorn_newton(optk_context *ctx, const optk_sinkhorn_job *job,
                                                 const void *warm) {
    static const char op[] = "sinkhorn";
    optk_status s = enter(ctx, op);
    if (s != OPTK_OK) return s;
    const size_t stride = optk_sns_space_bytes(job->view.n, job->view.m);
    const int64_t fit = (int64_t)(kChunkBytes / stride);
    const int64_t chunk = fit < 1 ? 1 : (fit < job->batch ? fit : job->batch);
    /* Stream-ordered: the memory is the pool's again once the last chunk's kernel is done. */
    void *space = nullptr;
    cudaError_t err = cudaMallocAsync(&space, (size_t)chunk * stride, stream_of(ctx));
    if (err != cudaSuccess) return fail(ctx, err, op, "cudaMallocAsync (Newton workspace)");
    for (int64_t first = 0; first < job->batch && s == OPTK_OK; first += chunk) {
        const int64_t count = job->batch - first < chunk ? job->batch - first : chunk;
        newton_kernel<<<(unsigned)count, kBlock, 0, stream_of(ctx)>>>(
            *job, static_cast<const int32_t *>(warm), first, static_cast<char *>(space), stride);
        s = check_launch(ctx, op);
    }
    err = cudaFreeAsync(space, stream_of(ctx));
    if (s == OPTK_OK && err != cudaSuccess) return fail(ctx, err, op, "cudaFreeAsync");
    return s;
}
