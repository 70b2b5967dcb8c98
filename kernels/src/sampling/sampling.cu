extern "C" __global__ void sampling_placeholder() {}
