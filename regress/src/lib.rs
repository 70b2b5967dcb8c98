//! dyno-regress: being written (importers, judge, baselines, reports).
