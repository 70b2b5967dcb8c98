//! Prefix-cache counters, as vLLM reports them.

/// Prefix-cache counters since the manager was created. Token-weighted like vLLM's
/// `PrefixCacheStats`: `queries` and `hits` count tokens, not requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrefixCacheStats {
    /// Sequences admitted through a prefix lookup (a preempted sequence counts again when it
    /// comes back).
    pub lookups: u64,
    /// Tokens those sequences asked the cache for (their whole length).
    pub queries: u64,
    /// Tokens served from the cache.
    pub hits: u64,
    /// Cached blocks evicted to make room.
    pub evictions: u64,
}

impl PrefixCacheStats {
    /// `hits / queries`, or 0 before any query.
    pub fn hit_rate(&self) -> f64 {
        if self.queries == 0 {
            0.0
        } else {
            self.hits as f64 / self.queries as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_rate_is_token_weighted() {
        let stats = PrefixCacheStats {
            lookups: 2,
            queries: 40,
            hits: 10,
            evictions: 0,
        };
        assert_eq!(stats.hit_rate(), 0.25);
        assert_eq!(PrefixCacheStats::default().hit_rate(), 0.0);
    }
}
