//! The per-step token budget (`--max-num-batched-tokens`).

/// Tokens still available this step. Taking more than remains is a scheduler bug and panics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenBudget {
    remaining: usize,
}

impl TokenBudget {
    /// A fresh budget of `max_num_batched_tokens`.
    pub fn new(max_num_batched_tokens: usize) -> Self {
        Self {
            remaining: max_num_batched_tokens,
        }
    }

    /// Tokens left.
    pub fn remaining(&self) -> usize {
        self.remaining
    }

    /// Whether nothing is left.
    pub fn is_exhausted(&self) -> bool {
        self.remaining == 0
    }

    /// Spends `n` tokens.
    ///
    /// # Panics
    /// If `n` exceeds what remains.
    pub fn take(&mut self, n: usize) {
        self.remaining = self
            .remaining
            .checked_sub(n)
            .expect("scheduler overspent its token budget");
    }

    /// Gives back `n` tokens (a sequence scheduled earlier in the step was preempted).
    pub fn refund(&mut self, n: usize) {
        self.remaining += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_and_refund() {
        let mut b = TokenBudget::new(10);
        b.take(10);
        assert!(b.is_exhausted());
        b.refund(3);
        assert_eq!(b.remaining(), 3);
    }

    #[test]
    #[should_panic(expected = "overspent")]
    fn overspend_panics() {
        TokenBudget::new(1).take(2);
    }
}
