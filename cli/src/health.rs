//! Steal time from `/proc/stat`: the share of wall time the hypervisor gave to other guests.

/// Aggregate CPU counters (jiffies) of the `cpu` line.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTimes {
    total: u64,
    steal: u64,
}

impl CpuTimes {
    /// Reads `/proc/stat`; `None` where it is unavailable (not Linux).
    pub fn read() -> Option<CpuTimes> {
        let text = std::fs::read_to_string("/proc/stat").ok()?;
        parse(&text)
    }

    /// Steal fraction between `self` (earlier) and `later`.
    pub fn steal_fraction(&self, later: &CpuTimes) -> Option<f64> {
        let total = later.total.checked_sub(self.total)?;
        let steal = later.steal.checked_sub(self.steal)?;
        (total > 0).then(|| steal as f64 / total as f64)
    }
}

fn parse(text: &str) -> Option<CpuTimes> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal [guest guest_nice: already in user/nice]
    let total = v.iter().take(8).sum();
    Some(CpuTimes {
        total,
        steal: v.get(7).copied().unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steal_fraction_of_two_readings() {
        let a = parse("cpu  100 0 100 700 0 0 0 100 0 0\ncpu0 1 2 3\n").unwrap();
        let b = parse("cpu  200 0 200 1400 0 0 0 200 0 0\n").unwrap();
        assert_eq!(a.steal_fraction(&b), Some(0.1));
        assert_eq!(b.steal_fraction(&a), None);
    }
}
