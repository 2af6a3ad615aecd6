/* multi_tensor.cuh — the CUDA side of the one multi-tensor machinery.
 *
 * A list of tensors is cut into tiles of kTile elements; one thread block updates one tile.
 * The tensor list travels as a kernel parameter (up to ~32 KB since CUDA 12.1 on sm_70+),
 * so hundreds of tensors go in one launch with no host-to-device copy and no workspace —
 * which also keeps a step capturable in a CUDA graph. A block finds its tensor by binary
 * search over the tiles' prefix sums.
 *
 * Inside a tile, when every buffer of the tensor is aligned to a 4-element vector and the
 * tile is full, each thread moves kUnroll vectors of four elements of every buffer (float4,
 * or four bf16/fp16 values in 8 bytes; all loads first, so they are in flight together);
 * otherwise (a tensor's last tile, or misaligned buffers) threads take one element at a
 * time. Every element is computed by the shared rule from src/common/,
 * the same function the CPU backend runs.
 *
 * A rule plugs in as a struct (element_rules.cu makes one per line of src/common/rules.h):
 *   struct Rule { using Consts = ...; static constexpr bool kReadsGrad = ...;
 *                 __device__ static void apply(const Consts &, float &p, float g, float *s); };
 * and the kernel is instantiated per state layout: kStates buffers, the first kWritten
 * stored back. Rules that read no gradient (the Schedule-Free swap) leave grad unread.
 */
#ifndef OPTK_CUDA_MULTI_TENSOR_CUH
#define OPTK_CUDA_MULTI_TENSOR_CUH

#include "cuda_check.cuh"
#include "mixed_precision.cuh"

#include <climits>
#include <cstdint>

namespace optk_cuda {

constexpr int kThreads = 256;
constexpr int kUnroll = 2;
constexpr int kTile = kThreads * 4 * kUnroll; /* elements per block */
constexpr int kMaxParamBytes = 32000;         /* below the 32,764-byte limit, room for Consts */
static_assert(kTile == OPTK_CUDA_TILE, "cuda_backend.h tells the dispatch layer the tile size");

/* One launch's worth of tensors: kBuffers pointers per tensor (param, grad, states). */
template <int kBuffers> struct TensorBatch {
    static constexpr int kMaxTensors =
        (kMaxParamBytes - 512) /
        (int)(2 * sizeof(int64_t) + 2 * sizeof(int) + kBuffers * sizeof(void *));
    int count;
    int tile_begin[kMaxTensors + 1]; /* tiles before tensor t; [count] = all tiles */
    int64_t numel[kMaxTensors];
    int64_t first_element[kMaxTensors]; /* where the piece starts in its tensor */
    int tensor_index[kMaxTensors];      /* the piece's tensor within the launch's list */
    float *ptr[kBuffers][kMaxTensors];  /* fp32 buffers at the piece's start (a bf16/fp16
                                           parameter or gradient: at its tensor's start) */
};

/* The tensor whose tiles contain `tile`: the last t with tile_begin[t] <= tile. */
template <int kBuffers>
__device__ __forceinline__ int find_tensor(const TensorBatch<kBuffers> &batch, int tile) {
    int lo = 0, hi = batch.count - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (batch.tile_begin[mid] <= tile)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* Buffers per tensor: param, grad, the states, and with mixed precision the master copy. */
template <int kStates, bool kMixed> constexpr int buffers_of() {
    return 2 + kStates + (kMixed ? 1 : 0);
}

/* Rule over four elements: parameters p, gradients g (unscaled and clipped here), and the
 * states s[j] of the same four elements. */
template <class Rule, int kStates, int kWritten>
__device__ __forceinline__ void apply4(const typename Rule::Consts &k, float4 &p, const float4 &g,
                                       float4 (&s)[kStates > 0 ? kStates : 1], float unscale,
                                       float clip) {
    float *pe = &p.x;
    const float *ge = &g.x;
#pragma unroll
    for (int lane = 0; lane < 4; ++lane) {
        float se[OPTK_MAX_STATE] = {}; /* rules may store past the layout */
#pragma unroll
        for (int j = 0; j < kStates; ++j)
            se[j] = (&s[j].x)[lane];
        Rule::apply(k, pe[lane], Rule::kReadsGrad ? (ge[lane] * unscale) * clip : 0.0f, se);
#pragma unroll
        for (int j = 0; j < kWritten; ++j)
            (&s[j].x)[lane] = se[j];
    }
}

/* A full tile, four elements per access of every buffer: thread t takes elements
 * 4 (u kThreads + t) .. + 3 of the tile for u < kUnroll, all loads first (so they are in
 * flight together). load_param(i) and load_grad(i) give the four parameters and gradients
 * from tile element i, store_param(i, p) writes the parameters back; s[j]: state j at the
 * tile's start. */
template <class Rule, int kStates, int kWritten, class LoadParam, class LoadGrad, class StoreParam>
__device__ __forceinline__ void
vector_tile(const typename Rule::Consts &k, float unscale, float clip,
            float *const (&s)[kStates > 0 ? kStates : 1], const LoadParam &load_param,
            const LoadGrad &load_grad, const StoreParam &store_param) {
    float4 pv[kUnroll], gv[kUnroll], sv[kUnroll][kStates > 0 ? kStates : 1];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
        const int i = (u * kThreads + (int)threadIdx.x) * 4;
        pv[u] = load_param(i);
        if constexpr (Rule::kReadsGrad)
            gv[u] = load_grad(i);
        else
            gv[u] = float4{};
#pragma unroll
        for (int j = 0; j < kStates; ++j)
            sv[u][j] = load_float4(s[j], i);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
        apply4<Rule, kStates, kWritten>(k, pv[u], gv[u], sv[u], unscale, clip);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
        const int i = (u * kThreads + (int)threadIdx.x) * 4;
        store_param(i, pv[u]);
#pragma unroll
        for (int j = 0; j < kWritten; ++j)
            store_float4(s[j], i, sv[u][j]);
    }
}

template <class Rule, int kStates, int kWritten, bool kMixed>
__global__ void __launch_bounds__(kThreads)
    multi_tensor_kernel(const __grid_constant__ TensorBatch<buffers_of<kStates, kMixed>()> batch,
                        const typename Rule::Consts k_arg, const float unscale_arg,
                        const float clip_arg, const Precision m_arg,
                        const optk_group_step *device_step) {
    constexpr bool kReadsGrad = Rule::kReadsGrad;
    /* A capturable step's scalars are read now, from device memory (see common/capture.h). */
    typename Rule::Consts k = k_arg;
    float unscale = unscale_arg, clip = clip_arg;
    Precision m = m_arg;
    if (device_step) {
        if (device_step->skip) return;
        k = *reinterpret_cast<const typename Rule::Consts *>(&device_step->k);
        unscale = device_step->unscale;
        clip = device_step->clip;
        m.sr_stream = device_step->sr_stream;
    }
    const int t = find_tensor(batch, (int)blockIdx.x);
    const int64_t base = (int64_t)(blockIdx.x - batch.tile_begin[t]) * kTile;
    const int64_t remaining = batch.numel[t] - base;
    const int n = remaining < kTile ? (int)remaining : kTile;

    if constexpr (kMixed) { /* any dtype; param, grad and master at the tensor's start */
        const int64_t at = batch.first_element[t] + base; /* element index in the tensor */
        void *param = batch.ptr[0][t];
        const void *grad = batch.ptr[1][t];
        float *master = batch.ptr[2 + kStates][t];
        float *states[kStates > 0 ? kStates : 1];
        uintptr_t off =
            vector_misalignment(param, at, m.precision == OPTK_PRECISION_F32 ? 4 : 2) |
            (kReadsGrad ? vector_misalignment(grad, at, m.grad_dtype == OPTK_F32 ? 4 : 2) : 0u) |
            (m.precision == OPTK_PRECISION_MASTER ? vector_misalignment(master, at, 4) : 0u);
#pragma unroll
        for (int j = 0; j < kStates; ++j) {
            states[j] = batch.ptr[2 + j][t] + base;
            off |= vector_misalignment(states[j], 0, 4);
        }
        if (n == kTile && off == 0) { /* at: a multiple of kTile, so of a Philox block's 8 */
            vector_tile<Rule, kStates, kWritten>(
                k, unscale, clip, states,
                [&](int i) { return load_param4(param, master, at + i, m); },
                [&](int i) { return load_grad4(grad, at + i, m.grad_dtype); },
                [&](int i, float4 v) {
                    store_param4(param, master, at + i, v, m, at + i, batch.tensor_index[t]);
                });
            return;
        }
        for (int i = (int)threadIdx.x; i < n; i += kThreads) {
            float se[OPTK_MAX_STATE] = {};
#pragma unroll
            for (int j = 0; j < kStates; ++j)
                se[j] = batch.ptr[2 + j][t][base + i];
            float pe = load_param(param, master, at + i, m);
            const float g =
                kReadsGrad ? (load_grad(grad, at + i, m.grad_dtype) * unscale) * clip : 0.0f;
            Rule::apply(k, pe, g, se);
            store_param(param, master, at + i, pe, m, at + i, batch.tensor_index[t]);
#pragma unroll
            for (int j = 0; j < kWritten; ++j)
                batch.ptr[2 + j][t][base + i] = se[j];
        }
        return;
    }

    float *p = batch.ptr[0][t] + base;
    const float *g = kReadsGrad ? batch.ptr[1][t] + base : nullptr;
    float *s[kStates > 0 ? kStates : 1];
    uintptr_t any_bits = (uintptr_t)p | (kReadsGrad ? (uintptr_t)g : 0u);
#pragma unroll
    for (int j = 0; j < kStates; ++j) {
        s[j] = batch.ptr[2 + j][t] + base;
        any_bits |= (uintptr_t)s[j];
    }

    if (n == kTile && (any_bits & 15u) == 0) {
        vector_tile<Rule, kStates, kWritten>(
            k, unscale, clip, s, [&](int i) { return load_float4(p, i); },
            [&](int i) { return load_float4(g, i); },
            [&](int i, float4 v) { store_float4(p, i, v); });
    } else {
        for (int i = (int)threadIdx.x; i < n; i += kThreads) {
            float pe = p[i];
            float se[OPTK_MAX_STATE] = {}; /* rules may store past the layout */
#pragma unroll
            for (int j = 0; j < kStates; ++j)
                se[j] = s[j][i];
            Rule::apply(k, pe, kReadsGrad ? (g[i] * unscale) * clip : 0.0f, se);
            p[i] = pe;
#pragma unroll
            for (int j = 0; j < kWritten; ++j)
                s[j][i] = se[j];
        }
    }
}

/* Cuts a tensor list into batches that fit one launch's parameter space (a few hundred
 * tensors) and grid (2^31 - 1 tiles): a tensor too large for one grid is cut into pieces.
 * fill(batch, c, tensor, offset) sets the pointers of piece c; run(batch, first_tile) launches
 * a batch whose first tile is first_tile of the whole list. */
template <int kBuffers, class Fill, class Run>
optk_status for_each_batch(const optk_param_tensor *tensors, int count, Fill fill, Run run) {
    using Batch = TensorBatch<kBuffers>;
    Batch batch;
    batch.count = 0;
    batch.tile_begin[0] = 0;
    int64_t first_tile = 0;
    auto flush = [&]() -> optk_status {
        if (batch.count == 0) return OPTK_OK;
        optk_status s = run(batch, first_tile);
        first_tile += batch.tile_begin[batch.count];
        batch.count = 0;
        return s;
    };
    for (int t = 0; t < count; ++t) {
        const optk_param_tensor &x = tensors[t];
        int64_t offset = 0;
        while (offset < x.numel) {
            const int64_t tiles_left = INT_MAX - (int64_t)batch.tile_begin[batch.count];
            if (batch.count == Batch::kMaxTensors || tiles_left < 1) {
                optk_status s = flush();
                if (s != OPTK_OK) return s;
                continue;
            }
            int64_t take = x.numel - offset;
            if ((take + kTile - 1) / kTile > tiles_left) take = tiles_left * kTile;
            const int c = batch.count;
            batch.numel[c] = take;
            batch.first_element[c] = offset;
            batch.tensor_index[c] = t;
            fill(batch, c, x, offset);
            batch.tile_begin[c + 1] = batch.tile_begin[c] + (int)((take + kTile - 1) / kTile);
            batch.count = c + 1;
            offset += take;
        }
    }
    return flush();
}

/* Runs Rule over every element of every tensor, in as few launches as the parameter space
 * allows (one for a few hundred tensors). The tensors were validated by the dispatch layer. */
template <class Rule, int kStates, int kWritten, bool kMixed>
optk_status multi_tensor_apply(optk_context *ctx, const char *op, const typename Rule::Consts &k,
                               const optk_element_launch *l) {
    constexpr int kBuffers = buffers_of<kStates, kMixed>();
    using Batch = TensorBatch<kBuffers>;
    static_assert(sizeof(Batch) + sizeof(typename Rule::Consts) + 8 + sizeof(Precision) +
                          sizeof(void *) <=
                      32764,
                  "kernel parameters exceed CUDA's 32,764-byte limit");
    optk_status s = enter(ctx, op);
    if (s != OPTK_OK) return s;
    auto fill = [](Batch &b, int c, const optk_param_tensor &x, int64_t offset) {
        /* fp32 path: every pointer at the piece's start. Mixed path: param, grad and master
         * at the tensor's start (their element size varies); the kernel adds the offset. */
        const int64_t o = kMixed ? 0 : offset;
        b.ptr[0][c] = static_cast<float *>(x.param) + o;
        b.ptr[1][c] = Rule::kReadsGrad ? const_cast<float *>(static_cast<const float *>(x.grad)) + o
                                       : nullptr;
        for (int j = 0; j < kStates; ++j)
            b.ptr[2 + j][c] = x.state[j] + offset;
        if constexpr (kMixed) b.ptr[kBuffers - 1][c] = x.master;
    };
    const Precision m = precision_of(l);
    auto run = [&](const Batch &b, int64_t) -> optk_status {
        const unsigned grid = (unsigned)b.tile_begin[b.count];
        multi_tensor_kernel<Rule, kStates, kWritten, kMixed><<<grid, kThreads, 0, stream_of(ctx)>>>(
            b, k, l->grad_unscale, l->grad_clip, m, l->device_step);
        return check_launch(ctx, op);
    };
    return for_each_batch<kBuffers>(l->tensors, l->count, fill, run);
}

} // namespace optk_cuda

#endif /* OPTK_CUDA_MULTI_TENSOR_CUH */
