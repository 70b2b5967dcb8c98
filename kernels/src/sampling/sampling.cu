// Sampling: one CTA per row. Semantics, masses and the draw are defined in
// kernels/src/sampling/mod.rs and rng.rs; every float operation below that feeds a decision is
// the same IEEE operation as on the CPU (explicit __f*_rn intrinsics, so NVRTC cannot contract a
// multiply and an add into an FMA where the CPU rounds twice, and fmaf where the CPU fuses).
//
// Per row:
// 1. bias/penalties: the row is copied to a scratch row and the row's edits applied;
// 2. a checking pass: max, first raw NaN, first processed NaN/+inf;
// 3. greedy: the lowest index holding the max;
// 4. random: top-k and top-p by radix selection (8 bits a pass, 64-bit keys ordering the row as
//    "larger logit first, lower id on ties"; weights are counts or exact u32 masses), then the
//    draw: r = hi64(u * Z), found by warp-chunk sums and a warp scan in id order;
// 5. logprobs (when asked): log-softmax of the raw row in double, top-n by a count selection and
//    a rank sort.

#define THREADS 512
#define WARPS (THREADS / 32)
#define MAX_TOP 1024
#define PLAN_WORDS 12
#define OUT_WORDS 6

typedef unsigned int u32;
typedef unsigned long long u64;

// Plan words (see cuda.rs).
#define P_KIND 0      // 0 greedy, 1 random
#define P_SCALE 1     // f32 bits
#define P_TOP_K 2     // 0 = off
#define P_TOP_P 3     // f32 bits, 0 = off
#define P_MIN_T 4     // f32 bits (-inf = off)
#define P_DRAW_LO 5
#define P_DRAW_HI 6
#define P_EDIT_OFF 7
#define P_EDIT_CNT 8
#define P_SCRATCH 9   // scratch row index, 0xffffffff = none
#define P_LOGPROBS 10 // top-n, 0xffffffff = none

// Status codes (out word 1).
#define S_OK 0
#define S_NAN 1
#define S_BAD 2
#define S_NOTHING 3

__device__ __forceinline__ float neg_inf() { return __int_as_float(0xff800000); }
__device__ __forceinline__ float pos_inf() { return __int_as_float(0x7f800000); }

// rng::mass: trunc(p(f) * 2^(n + 28)) with n = rint(t), f = t - n, t clamped to >= -64.
__device__ __forceinline__ u32 mass(float t) {
    t = fmaxf(t, -64.0f);
    float n = rintf(t);
    float f = __fsub_rn(t, n);
    float p = 1.3381302e-3f;
    p = fmaf(p, f, 9.666368e-3f);
    p = fmaf(p, f, 5.550381e-2f);
    p = fmaf(p, f, 2.402235e-1f);
    p = fmaf(p, f, 6.931472e-1f);
    p = fmaf(p, f, 1.0f);
    return __float2uint_rz(scalbnf(p, (int)n + 28));
}

// Order key: larger = earlier in the row order (larger logit, lower id on ties).
__device__ __forceinline__ u64 order_key(float x, u32 id) {
    u32 b = __float_as_uint(__fadd_rn(x, 0.0f));
    u32 mono = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
    return ((u64)mono << 32) | (u64)(~id);
}

// ceil(p * z) exactly (rng::top_p_target).
__device__ u64 top_p_target(float p, u64 z) {
    u32 bits = __float_as_uint(p);
    u32 biased = (bits >> 23) & 0xff;
    u64 mant = biased == 0 ? (bits & 0x7fffff) : ((bits & 0x7fffff) | 0x800000);
    u32 shift = biased == 0 ? 149 : 150 - biased;
    u64 lo = mant * z;
    u64 hi = __umul64hi(mant, z);
    u64 q;
    bool rem;
    if (shift >= 128) {
        q = 0;
        rem = (lo | hi) != 0;
    } else if (shift >= 64) {
        u32 s = shift - 64;
        q = s == 0 ? hi : (hi >> s);
        rem = lo != 0 || (s != 0 && (hi & ((1ull << s) - 1)) != 0);
    } else {
        q = (lo >> shift) | (hi << (64 - shift));
        rem = (lo & ((1ull << shift) - 1)) != 0;
    }
    return q + (rem ? 1 : 0);
}

__device__ __forceinline__ u64 warp_sum(u64 v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}

// Block-wide sum of one u64 per thread (result valid in every thread).
__device__ u64 block_sum(u64 v) {
    __shared__ u64 part[WARPS];
    __shared__ u64 total;
    v = warp_sum(v);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) part[warp] = v;
    __syncthreads();
    if (threadIdx.x == 0) {
        u64 s = 0;
        for (int w = 0; w < WARPS; ++w) s += part[w];
        total = s;
    }
    __syncthreads();
    return total;
}

// Radix selection: the key K* of the element (among those with in(i)) at which the running
// weight, accumulated in decreasing key order, first reaches `target`; *cum = that running
// weight. Requires the total weight >= target.
template <class In, class Weight>
__device__ u64 radix_select(int V, In in, Weight weight, bool count_only, u64 target,
                            const float* x, u64* cum) {
    __shared__ u64 hist_w[256];
    __shared__ u32 hist_c[256];
    __shared__ u64 s_prefix, s_above, s_key, s_w;
    __shared__ u32 s_count;
    u64 prefix = 0, above = 0;
    for (int shift = 56; shift >= 0; shift -= 8) {
        for (int d = threadIdx.x; d < 256; d += blockDim.x) {
            hist_w[d] = 0;
            hist_c[d] = 0;
        }
        __syncthreads();
        for (int i = threadIdx.x; i < V; i += blockDim.x) {
            if (!in(i)) continue;
            u64 k = order_key(x[i], (u32)i);
            if (shift < 56 && (k >> (shift + 8)) != prefix) continue;
            u32 d = (u32)(k >> shift) & 255u;
            atomicAdd(&hist_c[d], 1u);
            if (!count_only) atomicAdd(&hist_w[d], weight(i));
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            u64 a = above;
            int chosen = 0;
            for (int d = 255; d >= 0; --d) {
                u64 w = count_only ? (u64)hist_c[d] : hist_w[d];
                if (a + w >= target) {
                    chosen = d;
                    break;
                }
                a += w;
            }
            s_above = a;
            s_prefix = (prefix << 8) | (u64)chosen;
            s_count = hist_c[chosen];
            s_w = count_only ? (u64)hist_c[chosen] : hist_w[chosen];
        }
        __syncthreads();
        prefix = s_prefix;
        above = s_above;
        if (shift == 0) {
            *cum = above + s_w;
            return prefix;
        }
        if (s_count == 1) {
            // One element left in the bucket: it is K*.
            for (int i = threadIdx.x; i < V; i += blockDim.x) {
                if (!in(i)) continue;
                u64 k = order_key(x[i], (u32)i);
                if ((k >> shift) == prefix) {
                    s_key = k;
                    s_w = count_only ? 1ull : weight(i);
                }
            }
            __syncthreads();
            *cum = above + s_w;
            u64 key = s_key;
            __syncthreads();
            return key;
        }
        __syncthreads();
    }
    return prefix;  // unreachable
}

// The first index (in id order) among those with in(i) whose running weight exceeds r.
template <class In, class Weight>
__device__ int draw_index(int V, In in, Weight weight, u64 r) {
    __shared__ u64 sums[WARPS];
    __shared__ int s_warp;
    __shared__ u64 s_before;
    __shared__ int s_index;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int chunk = (V + WARPS - 1) / WARPS;
    int begin = warp * chunk;
    int end = min(V, begin + chunk);
    u64 s = 0;
    for (int i = begin + lane; i < end; i += 32) s += in(i) ? weight(i) : 0ull;
    s = warp_sum(s);
    if (lane == 0) sums[warp] = s;
    __syncthreads();
    if (threadIdx.x == 0) {
        u64 before = 0;
        int w = WARPS - 1;
        for (int k = 0; k < WARPS; ++k) {
            if (before + sums[k] > r) {
                w = k;
                break;
            }
            before += sums[k];
        }
        s_warp = w;
        s_before = before;
        s_index = -1;
    }
    __syncthreads();
    if (warp == s_warp) {
        u64 run = s_before;
        int b = s_warp * chunk, e = min(V, b + chunk);
        for (int base = b; base < e; base += 32) {
            int i = base + lane;
            u64 w = (i < e && in(i)) ? weight(i) : 0ull;
            u64 incl = w;
            for (int o = 1; o < 32; o <<= 1) {
                u64 n = __shfl_up_sync(0xffffffffu, incl, o);
                if (lane >= o) incl += n;
            }
            u64 total = __shfl_sync(0xffffffffu, incl, 31);
            bool hit = w > 0 && run + incl > r && run + incl - w <= r;
            unsigned ballot = __ballot_sync(0xffffffffu, hit);
            if (ballot) {
                if (lane == __ffs(ballot) - 1) s_index = i;
                break;
            }
            run += total;
        }
    }
    __syncthreads();
    return s_index;
}

extern "C" __global__ void sample_rows(
    const float* __restrict__ logits,  // [rows, V]
    const u32* __restrict__ plans,     // [rows, PLAN_WORDS]
    const u32* __restrict__ edits,     // [n_edits, 4]: token, count, bias bits, flags
    float* __restrict__ scratch,       // [n_scratch_rows, V]
    const float* __restrict__ penalties,  // [rows, 3]: repetition, presence, frequency
    int V,
    int* __restrict__ out,             // [rows, OUT_WORDS]
    int* __restrict__ top_out,         // [rows, max_top, 2]
    int max_top)
{
    const int row = blockIdx.x;
    const u32* plan = plans + (size_t)row * PLAN_WORDS;
    const float* raw = logits + (size_t)row * V;
    int* o = out + (size_t)row * OUT_WORDS;

    // 1. Bias and penalties on a scratch copy.
    const float* x = raw;
    u32 scratch_row = plan[P_SCRATCH];
    if (scratch_row != 0xffffffffu) {
        float* xs = scratch + (size_t)scratch_row * V;
        for (int i = threadIdx.x; i < V; i += blockDim.x) xs[i] = raw[i];
        __syncthreads();
        float rep = penalties[row * 3 + 0];
        float presence = penalties[row * 3 + 1];
        float frequency = penalties[row * 3 + 2];
        u32 off = plan[P_EDIT_OFF], cnt = plan[P_EDIT_CNT];
        for (u32 e = threadIdx.x; e < cnt; e += blockDim.x) {
            const u32* ed = edits + (size_t)(off + e) * 4;
            u32 token = ed[0], count = ed[1], flags = ed[3];
            float bias = __uint_as_float(ed[2]);
            float v = xs[token];
            if (!(v == v) || v == neg_inf() || v == pos_inf()) continue;  // non-finite: unchanged
            if (flags & 1u) v = __fadd_rn(v, bias);
            if (flags & 2u) v = v > 0.0f ? __fdiv_rn(v, rep) : __fmul_rn(v, rep);
            if (count > 0) {
                v = __fsub_rn(v, __fmul_rn(frequency, (float)count));
                v = __fsub_rn(v, presence);
            }
            xs[token] = v;
        }
        __syncthreads();
        x = xs;
    }

    // 2. Checks and max.
    __shared__ int s_nan, s_bad;
    __shared__ float s_max;
    __shared__ u32 s_maxbits;
    if (threadIdx.x == 0) {
        s_nan = 0x7fffffff;
        s_bad = 0x7fffffff;
        s_maxbits = 0;
    }
    __syncthreads();
    float m = neg_inf();
    int nan_i = 0x7fffffff, bad_i = 0x7fffffff;
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
        float r = raw[i], v = x[i];
        if (!(r == r)) nan_i = min(nan_i, i);
        if (!(v == v) || v == pos_inf()) bad_i = min(bad_i, i);
        else m = fmaxf(m, v);
    }
    atomicMin(&s_nan, nan_i);
    atomicMin(&s_bad, bad_i);
    {
        u32 b = __float_as_uint(m);
        u32 mono = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
        atomicMax(&s_maxbits, mono);
    }
    __syncthreads();
    {
        u32 mono = s_maxbits;
        m = __uint_as_float((mono & 0x80000000u) ? (mono & 0x7fffffffu) : ~mono);
    }
    if (s_nan != 0x7fffffff || s_bad != 0x7fffffff) {
        if (threadIdx.x == 0) {
            bool nan = s_nan != 0x7fffffff;
            int t = nan ? s_nan : s_bad;
            o[0] = -1;
            o[1] = nan ? S_NAN : S_BAD;
            o[2] = t;
            o[3] = __float_as_int(raw[t]);
            o[4] = __float_as_int(x[t]);
        }
        return;
    }
    if (m == neg_inf()) {
        if (threadIdx.x == 0) {
            o[0] = -1;
            o[1] = S_NOTHING;
        }
        return;
    }

    // 3./4. The token.
    __shared__ int s_token;
    if (plan[P_KIND] == 0) {
        if (threadIdx.x == 0) s_token = 0x7fffffff;
        __syncthreads();
        int first = 0x7fffffff;
        for (int i = threadIdx.x; i < V; i += blockDim.x)
            if (x[i] == m) first = min(first, i);
        atomicMin(&s_token, first);
        __syncthreads();
    } else {
        const float scale = __uint_as_float(plan[P_SCALE]);
        const float min_t = __uint_as_float(plan[P_MIN_T]);
        const u32 top_k = plan[P_TOP_K];
        const float top_p = __uint_as_float(plan[P_TOP_P]);
        const u64 draw = ((u64)plan[P_DRAW_HI] << 32) | plan[P_DRAW_LO];
        auto t_of = [&](int i) { return __fmul_rn(__fsub_rn(x[i], m), scale); };
        auto in_r = [&](int i) { return x[i] > neg_inf() && t_of(i) >= min_t; };
        auto q_of = [&](int i) { return (u64)mass(t_of(i)); };
        // top-k: the k-th key of R, if R has more than k tokens.
        u64 k_key = 0;
        if (top_k != 0) {
            u64 c = 0;
            for (int i = threadIdx.x; i < V; i += blockDim.x) c += in_r(i) ? 1 : 0;
            u64 n_r = block_sum(c);
            if (n_r > top_k) {
                u64 cum;
                k_key = radix_select(V, in_r, q_of, true, (u64)top_k, x, &cum);
            }
        }
        auto in_rk = [&](int i) { return in_r(i) && order_key(x[i], (u32)i) >= k_key; };
        u64 z = 0;
        for (int i = threadIdx.x; i < V; i += blockDim.x) z += in_rk(i) ? q_of(i) : 0ull;
        z = block_sum(z);
        u64 p_key = 0;
        if (top_p != 0.0f) {
            u64 cum;
            p_key = radix_select(V, in_rk, q_of, false, top_p_target(top_p, z), x, &cum);
            z = cum;
        }
        auto in_s = [&](int i) { return in_rk(i) && order_key(x[i], (u32)i) >= p_key; };
        u64 r = __umul64hi(draw, z);
        int token = draw_index(V, in_s, q_of, r);
        if (threadIdx.x == 0) s_token = token;
        __syncthreads();
    }
    const int token = s_token;

    // 5. Logprobs of the raw row.
    u32 n_top = plan[P_LOGPROBS];
    if (n_top != 0xffffffffu) {
        __shared__ float s_rmax;
        __shared__ u32 s_rmaxbits;
        if (threadIdx.x == 0) s_rmaxbits = 0;
        __syncthreads();
        float rm = neg_inf();
        for (int i = threadIdx.x; i < V; i += blockDim.x) rm = fmaxf(rm, raw[i]);
        {
            u32 b = __float_as_uint(rm);
            atomicMax(&s_rmaxbits, (b & 0x80000000u) ? ~b : (b | 0x80000000u));
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            u32 mono = s_rmaxbits;
            s_rmax = __uint_as_float((mono & 0x80000000u) ? (mono & 0x7fffffffu) : ~mono);
        }
        __syncthreads();
        rm = s_rmax;
        __shared__ double s_part[WARPS];
        __shared__ double s_lse;
        double acc = 0.0;
        for (int i = threadIdx.x; i < V; i += blockDim.x) acc += exp((double)raw[i] - (double)rm);
        for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
        if ((threadIdx.x & 31) == 0) s_part[threadIdx.x >> 5] = acc;
        __syncthreads();
        if (threadIdx.x == 0) {
            double s = 0.0;
            for (int w = 0; w < WARPS; ++w) s += s_part[w];
            s_lse = log(s);
        }
        __syncthreads();
        const double lse = s_lse;
        if (threadIdx.x == 0)
            o[5] = __float_as_int((float)((double)raw[token] - (double)rm - lse));
        if (n_top > 0) {
            auto finite = [&](int i) { return raw[i] > neg_inf(); };
            auto one = [&](int) { return 1ull; };
            u64 c = 0;
            for (int i = threadIdx.x; i < V; i += blockDim.x) c += finite(i) ? 1 : 0;
            u64 n_finite = block_sum(c);
            u64 want = n_finite < n_top ? n_finite : n_top;
            u64 kth = 0;
            if (want > 0 && n_finite > want) {
                u64 cum;
                kth = radix_select(V, finite, one, true, want, raw, &cum);
            }
            __shared__ u64 keys[MAX_TOP];
            __shared__ int ids[MAX_TOP];
            __shared__ int s_n;
            if (threadIdx.x == 0) s_n = 0;
            __syncthreads();
            if (want > 0) {
                for (int i = threadIdx.x; i < V; i += blockDim.x) {
                    if (!finite(i)) continue;
                    u64 k = order_key(raw[i], (u32)i);
                    if (k >= kth) {
                        int slot = atomicAdd(&s_n, 1);
                        keys[slot] = k;
                        ids[slot] = i;
                    }
                }
            }
            __syncthreads();
            const int n = s_n;
            int* to = top_out + (size_t)row * max_top * 2;
            // Rank sort: keys are distinct.
            for (int j = threadIdx.x; j < n; j += blockDim.x) {
                int rank = 0;
                for (int k = 0; k < n; ++k) rank += keys[k] > keys[j] ? 1 : 0;
                int id = ids[j];
                to[2 * rank] = id;
                to[2 * rank + 1] = __float_as_int((float)((double)raw[id] - (double)rm - lse));
            }
            // Fewer finite tokens than asked: the -inf tokens follow, lowest ids first.
            if (threadIdx.x == 0) {
                int slot = n;
                for (int i = 0; i < V && slot < (int)n_top; ++i) {
                    if (raw[i] == neg_inf()) {
                        to[2 * slot] = i;
                        to[2 * slot + 1] = __float_as_int(neg_inf());
                        ++slot;
                    }
                }
            }
        }
    }
    if (threadIdx.x == 0) {
        o[0] = token;
        o[1] = S_OK;
    }
}
