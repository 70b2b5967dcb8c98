//! dyno-engine: being written (KV cache block pool, prefix cache, scheduler).
