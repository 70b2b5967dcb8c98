//! dyno-mock: a ground-truth server for benchmark clients (work in progress).
