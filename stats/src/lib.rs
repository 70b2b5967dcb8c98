//! dyno-stats: being written (summaries, bootstrap, Wilcoxon, Mann-Whitney, Welch, BH, run records).
