// Paged attention (flash-decoding style) and reshape_and_cache. Layouts: see
// kernels/src/paged_attention/mod.rs. Work decomposition: see plan.rs. No headers: NVRTC only.
//
// One CTA (128 threads) runs one work item: up to ROWS (query token, query head) rows of one
// sequence and KV head (all query heads of a GQA group for a decode step) over the keys
// kv_start..kv_end. The CTA is cut into NG = 128 / TG token groups of TG threads; a group owns
// one key/value row at a time, each thread VEC consecutive elements per chunk (16-byte loads for
// f16/bf16/f32 on the fast paths), NCH chunks per row. Every group streams its own tokens with
// U of them in flight, keeps its own online-softmax state (running max m, sum l, output acc in
// registers, in the log2 domain) and the groups are merged through shared memory at the end.
// A tile whose context was split over several items writes (m, l, acc) partials that
// `paged_attention_merge` combines.

#define NTHREADS 128
#define U 4
#define NEG_INF __int_as_float(0xff800000)

struct F32 { typedef float storage; };
struct F16 { typedef unsigned short storage; };
struct BF16 { typedef unsigned short storage; };

__device__ __forceinline__ float to_f32(F32, float x) { return x; }
__device__ __forceinline__ float to_f32(BF16, unsigned short x) {
    return __uint_as_float(((unsigned int)x) << 16);
}
__device__ __forceinline__ float to_f32(F16, unsigned short x) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(x));
    return f;
}

__device__ __forceinline__ unsigned short from_f32_bits(BF16, float x) {
    unsigned int u = __float_as_uint(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40u);  // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even
    return (unsigned short)(u >> 16);
}
__device__ __forceinline__ unsigned short from_f32_bits(F16, float x) {
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(x));
    return h;
}

// VEC elements starting at p, widened to f32. VEC * sizeof(storage) is 16 bytes on the fast
// paths (p is then 16-byte aligned: head_size is a multiple of VEC) or one element.
template <typename DT, int VEC>
__device__ __forceinline__ void load_vec(const typename DT::storage* p, float* v) {
    if constexpr (VEC == 1) {
        v[0] = to_f32(DT(), p[0]);
    } else if constexpr (sizeof(typename DT::storage) == 2) {
        const uint4 raw = *reinterpret_cast<const uint4*>(p);
        const unsigned int w[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            v[2 * i] = to_f32(DT(), (unsigned short)(w[i] & 0xffffu));
            v[2 * i + 1] = to_f32(DT(), (unsigned short)(w[i] >> 16));
        }
    } else {
        const float4 raw = *reinterpret_cast<const float4*>(p);
        v[0] = raw.x; v[1] = raw.y; v[2] = raw.z; v[3] = raw.w;
    }
}

struct Row {
    int q_off;  // offset of the row in query/out (elements)
    int lo;     // first attended key position
    int hi;     // one past the last attended key position
};

// tiles: 8 ints each {seq, kv_head, row_start, num_rows, splits, partial_base, kv_lo, kv_hi}
// items: 4 ints each {tile, kv_start, kv_end, split}
template <typename DT, int VEC, int TG, int NCH, int ROWS>
__device__ __forceinline__ void attention_item(
    float* __restrict__ out, const float* __restrict__ query,
    const typename DT::storage* __restrict__ key_cache,
    const typename DT::storage* __restrict__ value_cache,
    const unsigned int* __restrict__ query_start_loc, const unsigned int* __restrict__ context_lens,
    const int* __restrict__ block_tables, const int* __restrict__ tiles,
    const int* __restrict__ items, float* __restrict__ partial_acc, float* __restrict__ partial_ml,
    int num_heads, int num_kv_heads, int head_size, int block_size, int max_blocks_per_seq,
    float scale_log2, int window)
{
    typedef typename DT::storage S;
    constexpr int NG = NTHREADS / TG;
    constexpr int PER = NCH * VEC;  // elements per thread
    __shared__ float s_m[NG][ROWS];
    __shared__ float s_l[NG][ROWS];
    __shared__ float s_acc[NG][TG * PER];

    const int* item = items + 4 * blockIdx.x;
    const int* tile = tiles + 8 * item[0];
    const int seq = tile[0], kv_head = tile[1], row_start = tile[2], num_rows = tile[3];
    const int splits = tile[4], partial_base = tile[5];
    const int kv_start = item[1], kv_end = item[2], split = item[3];
    const int group = num_heads / num_kv_heads;
    const int q_first = (int)query_start_loc[seq];
    const int q_len = (int)query_start_loc[seq + 1] - q_first;
    const int ctx = (int)context_lens[seq];
    const int g = threadIdx.x / TG, lane = threadIdx.x % TG;

    Row rows[ROWS];
#pragma unroll
    for (int r = 0; r < ROWS; ++r) {
        if (r < num_rows) {
            const int rr = row_start + r;
            const int j = rr / group;
            const int head = kv_head * group + rr % group;
            const int pos = ctx - q_len + j;
            rows[r].q_off = ((q_first + j) * num_heads + head) * head_size;
            rows[r].lo = window > 0 ? max(0, pos + 1 - window) : 0;
            rows[r].hi = pos + 1;
        } else {
            rows[r].q_off = 0; rows[r].lo = 0; rows[r].hi = 0;  // padding row: attends nothing
        }
    }

    // Query slice of this thread, pre-scaled by scale * log2(e) (softmax runs on exp2).
    float q[ROWS][PER];
#pragma unroll
    for (int r = 0; r < ROWS; ++r)
#pragma unroll
        for (int c = 0; c < NCH; ++c)
#pragma unroll
            for (int v = 0; v < VEC; ++v) {
                const int e = (c * TG + lane) * VEC + v;
                q[r][c * VEC + v] = (r < num_rows && e < head_size)
                    ? query[rows[r].q_off + e] * scale_log2 : 0.0f;
            }

    float acc[ROWS][PER];
    float m[ROWS], l[ROWS];
#pragma unroll
    for (int r = 0; r < ROWS; ++r) {
        m[r] = NEG_INF; l[r] = 0.0f;
#pragma unroll
        for (int i = 0; i < PER; ++i) acc[r][i] = 0.0f;
    }

    const int* table = block_tables + (size_t)seq * max_blocks_per_seq;
    for (int base = kv_start; base < kv_end; base += NG * U) {
        float k[U][PER], v[U][PER];
        int p[U];
        bool valid[U];
        // Issue every load of the U tokens before any math (memory-level parallelism).
#pragma unroll
        for (int u = 0; u < U; ++u) {
            p[u] = base + g * U + u;
            valid[u] = p[u] < kv_end;
            size_t off = 0;
            if (valid[u]) {
                const int block = table[p[u] / block_size];
                off = (((size_t)block * num_kv_heads + kv_head) * block_size + p[u] % block_size)
                      * head_size;
            }
#pragma unroll
            for (int c = 0; c < NCH; ++c) {
                const int e = (c * TG + lane) * VEC;
                if (valid[u] && e < head_size) {
                    load_vec<DT, VEC>(key_cache + off + e, &k[u][c * VEC]);
                    load_vec<DT, VEC>(value_cache + off + e, &v[u][c * VEC]);
                } else {
#pragma unroll
                    for (int i = 0; i < VEC; ++i) { k[u][c * VEC + i] = 0.0f; v[u][c * VEC + i] = 0.0f; }
                }
            }
        }
        // Scores: per-thread partial dot products, reduced across the TG lanes of the group
        // (xor shuffles stay inside the group; every lane ends with the full sum).
        float s[U][ROWS];
#pragma unroll
        for (int u = 0; u < U; ++u)
#pragma unroll
            for (int r = 0; r < ROWS; ++r) {
                float d = 0.0f;
#pragma unroll
                for (int i = 0; i < PER; ++i) d = fmaf(q[r][i], k[u][i], d);
#pragma unroll
                for (int o = TG / 2; o > 0; o >>= 1) d += __shfl_xor_sync(0xffffffffu, d, o);
                const bool in = valid[u] && p[u] >= rows[r].lo && p[u] < rows[r].hi;
                s[u][r] = in ? d : NEG_INF;
            }
        // One online-softmax step per row over the U tokens, then V accumulation.
#pragma unroll
        for (int r = 0; r < ROWS; ++r) {
            float mx = s[0][r];
#pragma unroll
            for (int u = 1; u < U; ++u) mx = fmaxf(mx, s[u][r]);
            if (mx == NEG_INF) continue;  // no valid key for this row in these tokens
            const float m_new = fmaxf(m[r], mx);
            const float alpha = exp2f(m[r] - m_new);  // 0 when m[r] = -inf
            float pu[U];
            float sum = 0.0f;
#pragma unroll
            for (int u = 0; u < U; ++u) { pu[u] = exp2f(s[u][r] - m_new); sum += pu[u]; }
            l[r] = l[r] * alpha + sum;
            m[r] = m_new;
#pragma unroll
            for (int i = 0; i < PER; ++i) {
                float a = acc[r][i] * alpha;
#pragma unroll
                for (int u = 0; u < U; ++u) a = fmaf(pu[u], v[u][i], a);
                acc[r][i] = a;
            }
        }
    }

    // Merge the NG groups' states, one row at a time through shared memory.
    if (lane == 0) {
#pragma unroll
        for (int r = 0; r < ROWS; ++r) { s_m[g][r] = m[r]; s_l[g][r] = l[r]; }
    }
    __syncthreads();
#pragma unroll
    for (int r = 0; r < ROWS; ++r) {
        if (r >= num_rows) break;  // uniform across the CTA
        float big = NEG_INF;
        for (int h = 0; h < NG; ++h) big = fmaxf(big, s_m[h][r]);
        const float mine = big == NEG_INF ? 0.0f : exp2f(m[r] - big);
#pragma unroll
        for (int c = 0; c < NCH; ++c)
#pragma unroll
            for (int v = 0; v < VEC; ++v)
                s_acc[g][(c * TG + lane) * VEC + v] = acc[r][c * VEC + v] * mine;
        float total = 0.0f;
        for (int h = 0; h < NG; ++h)
            total += s_m[h][r] == NEG_INF ? 0.0f : s_l[h][r] * exp2f(s_m[h][r] - big);
        __syncthreads();
        const int prow = partial_base + split * num_rows + r;
        for (int e = threadIdx.x; e < head_size; e += NTHREADS) {
            float a = 0.0f;
            for (int h = 0; h < NG; ++h) a += s_acc[h][e];
            if (splits == 1) {
                out[rows[r].q_off + e] = total > 0.0f ? a / total : 0.0f;
            } else {
                partial_acc[(size_t)prow * head_size + e] = a;
            }
        }
        if (splits > 1 && threadIdx.x == 0) {
            partial_ml[2 * prow] = big;
            partial_ml[2 * prow + 1] = total;
        }
        __syncthreads();
    }
}

#define PA_ARGS(S)                                                                            \
    float* __restrict__ out, const float* __restrict__ query, const S* __restrict__ key_cache, \
    const S* __restrict__ value_cache, const unsigned int* __restrict__ query_start_loc,      \
    const unsigned int* __restrict__ context_lens, const int* __restrict__ block_tables,      \
    const int* __restrict__ tiles, const int* __restrict__ items,                             \
    float* __restrict__ partial_acc, float* __restrict__ partial_ml, int num_heads,           \
    int num_kv_heads, int head_size, int block_size, int max_blocks_per_seq, float scale_log2, \
    int window
#define PA_PASS                                                                               \
    out, query, key_cache, value_cache, query_start_loc, context_lens, block_tables, tiles,   \
    items, partial_acc, partial_ml, num_heads, num_kv_heads, head_size, block_size,           \
    max_blocks_per_seq, scale_log2, window

// Kernels by lane layout: `d{CAP}` serves every head size that is a multiple of 8 (f16/bf16) or
// 4 (f32) up to CAP with 16-byte loads (TG lanes × VEC elements × NCH chunks ≥ CAP; e.g. d80
// runs `d128` with 10 of 16 lanes busy); `generic` any head size ≤ 512, one element per lane.
#define PA_KERNEL(NAME, DT, S, VEC, TG, NCH, ROWS)                                            \
    extern "C" __global__ void __launch_bounds__(NTHREADS) NAME(PA_ARGS(S)) {                \
        attention_item<DT, VEC, TG, NCH, ROWS>(PA_PASS);                                      \
    }
#define PA_HALF(DTN, DT, ROWS)                                                                \
    PA_KERNEL(paged_attention_##DTN##_d64_r##ROWS, DT, unsigned short, 8, 8, 1, ROWS)        \
    PA_KERNEL(paged_attention_##DTN##_d128_r##ROWS, DT, unsigned short, 8, 16, 1, ROWS)      \
    PA_KERNEL(paged_attention_##DTN##_d256_r##ROWS, DT, unsigned short, 8, 32, 1, ROWS)
#define PA_F32(ROWS)                                                                          \
    PA_KERNEL(paged_attention_f32_d64_r##ROWS, F32, float, 4, 16, 1, ROWS)                   \
    PA_KERNEL(paged_attention_f32_d128_r##ROWS, F32, float, 4, 32, 1, ROWS)                  \
    PA_KERNEL(paged_attention_f32_d256_r##ROWS, F32, float, 4, 32, 2, ROWS)
#define PA_GENERIC(DTN, DT, S, ROWS)                                                          \
    PA_KERNEL(paged_attention_##DTN##_generic_r##ROWS, DT, S, 1, 32, 16, ROWS)

PA_HALF(bf16, BF16, 1)
PA_HALF(bf16, BF16, 4)
PA_HALF(bf16, BF16, 8)
PA_HALF(f16, F16, 1)
PA_HALF(f16, F16, 4)
PA_HALF(f16, F16, 8)
PA_F32(1)
PA_F32(4)
PA_F32(8)
PA_GENERIC(bf16, BF16, unsigned short, 1)
PA_GENERIC(bf16, BF16, unsigned short, 4)
PA_GENERIC(f16, F16, unsigned short, 1)
PA_GENERIC(f16, F16, unsigned short, 4)
PA_GENERIC(f32, F32, float, 1)
PA_GENERIC(f32, F32, float, 4)

// Combines the partial states of split tiles: one CTA per (split tile, row).
// split_tiles: indices into `tiles` of the tiles with splits > 1.
extern "C" __global__ void __launch_bounds__(NTHREADS) paged_attention_merge(
    float* __restrict__ out, const int* __restrict__ tiles, const int* __restrict__ split_tiles,
    const unsigned int* __restrict__ query_start_loc, const float* __restrict__ partial_acc,
    const float* __restrict__ partial_ml, int num_heads, int num_kv_heads, int head_size)
{
    const int* tile = tiles + 8 * split_tiles[blockIdx.x];
    const int seq = tile[0], kv_head = tile[1], row_start = tile[2], num_rows = tile[3];
    const int splits = tile[4], partial_base = tile[5];
    const int r = blockIdx.y;
    if (r >= num_rows) return;
    const int group = num_heads / num_kv_heads;
    const int rr = row_start + r;
    const int token = (int)query_start_loc[seq] + rr / group;
    const int head = kv_head * group + rr % group;
    float big = NEG_INF;
    for (int k = 0; k < splits; ++k) big = fmaxf(big, partial_ml[2 * (partial_base + k * num_rows + r)]);
    float total = 0.0f;
    for (int k = 0; k < splits; ++k) {
        const int prow = partial_base + k * num_rows + r;
        if (partial_ml[2 * prow] != NEG_INF) total += partial_ml[2 * prow + 1] * exp2f(partial_ml[2 * prow] - big);
    }
    const float inv = total > 0.0f ? 1.0f / total : 0.0f;
    float* dst = out + ((size_t)token * num_heads + head) * head_size;
    for (int e = threadIdx.x; e < head_size; e += NTHREADS) {
        float a = 0.0f;
        for (int k = 0; k < splits; ++k) {
            const int prow = partial_base + k * num_rows + r;
            const float mk = partial_ml[2 * prow];
            if (mk != NEG_INF) a += partial_acc[(size_t)prow * head_size + e] * exp2f(mk - big);
        }
        dst[e] = a * inv;
    }
}

// reshape_and_cache: one CTA per token; a negative slot (padding token) writes nothing.
template <typename DT>
__device__ __forceinline__ void store_elem(typename DT::storage* dst, float x);
template <>
__device__ __forceinline__ void store_elem<F32>(float* dst, float x) { *dst = x; }
template <>
__device__ __forceinline__ void store_elem<F16>(unsigned short* dst, float x) { *dst = from_f32_bits(F16(), x); }
template <>
__device__ __forceinline__ void store_elem<BF16>(unsigned short* dst, float x) { *dst = from_f32_bits(BF16(), x); }

template <typename DT>
__device__ __forceinline__ void reshape_and_cache_impl(
    const float* __restrict__ key, const float* __restrict__ value,
    typename DT::storage* __restrict__ key_cache, typename DT::storage* __restrict__ value_cache,
    const long long* __restrict__ slot_mapping, int num_kv_heads, int head_size, int block_size)
{
    const long long slot = slot_mapping[blockIdx.x];
    if (slot < 0) return;
    const long long block = slot / block_size, offset = slot % block_size;
    const int n = num_kv_heads * head_size;
    const size_t src = (size_t)blockIdx.x * n;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const int h = i / head_size, e = i % head_size;
        const size_t dst = (((size_t)block * num_kv_heads + h) * block_size + offset) * head_size + e;
        store_elem<DT>(key_cache + dst, key[src + i]);
        store_elem<DT>(value_cache + dst, value[src + i]);
    }
}

#define RAC(NAME, DT, S)                                                                      \
    extern "C" __global__ void NAME(const float* __restrict__ key,                            \
        const float* __restrict__ value, S* __restrict__ key_cache, S* __restrict__ value_cache, \
        const long long* __restrict__ slot_mapping, int num_kv_heads, int head_size,          \
        int block_size) {                                                                     \
        reshape_and_cache_impl<DT>(key, value, key_cache, value_cache, slot_mapping,          \
                                   num_kv_heads, head_size, block_size);                      \
    }
RAC(reshape_and_cache_f32, F32, float)
RAC(reshape_and_cache_f16, F16, unsigned short)
RAC(reshape_and_cache_bf16, BF16, unsigned short)
