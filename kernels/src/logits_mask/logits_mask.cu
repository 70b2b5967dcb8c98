// Logits mask: one thread per 32-bit mask word; an all-ones word costs one load and nothing else.
// Layout: see kernels/src/logits_mask/mod.rs.

extern "C" __global__ void apply_logits_mask_f32(
    float* __restrict__ logits,          // [num_rows, vocab]
    const unsigned int* __restrict__ mask, // [num_mask_rows, words]
    const unsigned int* __restrict__ rows, // [num_mask_rows] or nullptr (identity)
    int vocab,
    int words)
{
    const int mrow = blockIdx.y;
    const int w = blockIdx.x * blockDim.x + threadIdx.x;
    if (w >= words) return;
    const unsigned int word = mask[(size_t)mrow * words + w];
    if (word == 0xffffffffu) return;
    const size_t row = rows ? (size_t)rows[mrow] : (size_t)mrow;
    float* out = logits + row * (size_t)vocab + (size_t)w * 32;
    const int n = min(32, vocab - w * 32);
    const float neg_inf = __int_as_float(0xff800000);
    if (n == 32 && (vocab & 3) == 0) {
        float4* out4 = reinterpret_cast<float4*>(out);
        #pragma unroll
        for (int q = 0; q < 8; ++q) {
            const unsigned int nib = (word >> (4 * q)) & 0xfu;
            if (nib == 0xfu) continue;
            if (nib == 0u) {
                out4[q] = make_float4(neg_inf, neg_inf, neg_inf, neg_inf);
            } else {
                float4 v = out4[q];
                if (!(nib & 1u)) v.x = neg_inf;
                if (!(nib & 2u)) v.y = neg_inf;
                if (!(nib & 4u)) v.z = neg_inf;
                if (!(nib & 8u)) v.w = neg_inf;
                out4[q] = v;
            }
        }
    } else {
        for (int i = 0; i < n; ++i) {
            if (!((word >> i) & 1u)) out[i] = neg_inf;
        }
    }
}
