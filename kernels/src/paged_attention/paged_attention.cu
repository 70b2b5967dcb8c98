extern "C" __global__ void paged_attention_placeholder() {}
