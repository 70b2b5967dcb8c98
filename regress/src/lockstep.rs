//! Lock-step slices: how a gate block measures two (or more) builds *at the same time*.
//!
//! Measuring base in one process and then head in the next pairs two stretches of time that can
//! be seconds apart; a slow spell of the machine (a neighbour VM, a frequency step) that covers
//! one of them and not the other moves that block's ratio by 3–20 % on our 2-core runners. In
//! lock-step mode every process of a block stays alive, waiting on its stdin, and the driver
//! hands out short **slices** (a fixed iteration count, about 10 ms of work) in turn: one round
//! gives every process one slice of the same benchmark, in a random order, and a block has
//! `rounds` of them. A slow spell now covers neighbouring slices of both builds alike, and the
//! block statistic (the median slice of each side) shrugs off the rounds it hit.
//!
//! This module is the pure part, shared by the two ends:
//! - the wire protocol ([`Request`], [`Reply`]; one line each over the child's stdin/stdout),
//! - the child's loop [`serve`], which a bench binary runs when started with [`FLAG`],
//! - the driver's schedule [`measure`] over any [`Slicer`] (the CLI implements it with child
//!   processes; tests with closures).
//!
//! # Protocol (version 1)
//! ```text
//! child:  dyno-lockstep 1          (hello: the binary speaks this protocol)
//! child:  bench <id>               (one line per benchmark, in index order)
//! child:  ready
//! driver: run <index> <iters>      (run benchmark <index> for <iters> iterations)
//! child:  ns <nanoseconds>         (the slice's wall time)
//! driver: quit                     (or end of input: the child exits 0)
//! child:  error <message>          (instead of `ns` when the request is bad)
//! ```
//! A binary that does not know [`FLAG`] (an older revision) fails or prints something else
//! first; the driver then falls back to one process per side and block.

use std::io::{BufRead, Write};
use std::time::Duration;

use rand::Rng;
use rand::seq::SliceRandom;

/// The command-line flag that starts a bench binary as a lock-step child.
pub const FLAG: &str = "--dyno-lockstep";

/// The child's first line.
pub const HELLO: &str = "dyno-lockstep 1";

/// A driver request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Run benchmark `bench` (its index in the child's list) for `iters` iterations.
    Run {
        /// Index into the benchmark list the child announced.
        bench: usize,
        /// Iterations of the slice (at least 1).
        iters: u64,
    },
    /// Exit.
    Quit,
}

impl Request {
    /// The request as one protocol line (with its newline).
    pub fn to_line(&self) -> String {
        match self {
            Request::Run { bench, iters } => format!("run {bench} {iters}\n"),
            Request::Quit => "quit\n".into(),
        }
    }

    /// Parses one line; the error says what was wrong.
    pub fn parse(line: &str) -> Result<Request, String> {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("quit") => Ok(Request::Quit),
            Some("run") => {
                let bench = words.next().and_then(|w| w.parse().ok());
                let iters = words.next().and_then(|w| w.parse().ok());
                match (bench, iters, words.next()) {
                    (Some(bench), Some(iters), None) if iters > 0 => {
                        Ok(Request::Run { bench, iters })
                    }
                    _ => Err(format!(
                        "bad request {line:?}: expected `run <index> <iters>` with iters ≥ 1"
                    )),
                }
            }
            _ => Err(format!(
                "unknown request {line:?}: expected `run <index> <iters>` or `quit`"
            )),
        }
    }
}

/// A child reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The protocol hello ([`HELLO`]).
    Hello,
    /// One benchmark id of the list.
    Bench(String),
    /// The list is complete.
    Ready,
    /// A slice took this many nanoseconds.
    Ns(u64),
    /// The request was refused.
    Error(String),
}

impl Reply {
    /// The reply as one protocol line (with its newline).
    pub fn to_line(&self) -> String {
        match self {
            Reply::Hello => format!("{HELLO}\n"),
            Reply::Bench(id) => format!("bench {id}\n"),
            Reply::Ready => "ready\n".into(),
            Reply::Ns(ns) => format!("ns {ns}\n"),
            Reply::Error(m) => format!("error {}\n", m.replace('\n', " ")),
        }
    }

    /// Parses one line; `None` for anything that is not a reply of this protocol.
    pub fn parse(line: &str) -> Option<Reply> {
        let line = line.trim_end_matches(['\n', '\r']);
        if line == HELLO {
            return Some(Reply::Hello);
        }
        if line == "ready" {
            return Some(Reply::Ready);
        }
        let (word, rest) = line.split_once(' ')?;
        match word {
            "bench" if !rest.is_empty() => Some(Reply::Bench(rest.to_string())),
            "ns" => rest.parse().ok().map(Reply::Ns),
            "error" => Some(Reply::Error(rest.to_string())),
            _ => None,
        }
    }
}

/// One benchmark of a lock-step child: runs `iters` iterations and returns their wall time.
pub type SliceFn<'a> = Box<dyn FnMut(u64) -> Duration + 'a>;

/// The child's side: announces `benches`, then answers requests from `input` until `quit` or
/// end of input. IO errors end the loop (the driver is gone).
pub fn serve(
    benches: &mut [(String, SliceFn<'_>)],
    input: impl BufRead,
    mut output: impl Write,
) -> std::io::Result<()> {
    output.write_all(Reply::Hello.to_line().as_bytes())?;
    for (id, _) in benches.iter() {
        output.write_all(Reply::Bench(id.clone()).to_line().as_bytes())?;
    }
    output.write_all(Reply::Ready.to_line().as_bytes())?;
    output.flush()?;
    for line in input.lines() {
        let line = line?;
        let reply = match Request::parse(&line) {
            Ok(Request::Quit) => break,
            Ok(Request::Run { bench, iters }) => match benches.get_mut(bench) {
                Some((_, run)) => Reply::Ns(run(iters).as_nanos().min(u128::from(u64::MAX)) as u64),
                None => Reply::Error(format!(
                    "benchmark index {bench} out of range (0..{})",
                    benches.len()
                )),
            },
            Err(message) => Reply::Error(message),
        };
        output.write_all(reply.to_line().as_bytes())?;
        output.flush()?;
    }
    Ok(())
}

/// How a benchmark is sliced.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SliceConfig {
    /// Target wall time of one slice (default 10 ms): long against the timer and the process
    /// switch, short against the machine's slow spells.
    pub slice: Duration,
    /// Slices every process runs before the measured rounds (default 2): caches, branch
    /// predictors and the CPU clock settle.
    pub warm_up_slices: u32,
    /// Measured rounds (default 15): each gives every process one slice.
    pub rounds: u32,
}

impl Default for SliceConfig {
    fn default() -> Self {
        SliceConfig {
            slice: Duration::from_millis(10),
            warm_up_slices: 2,
            rounds: 15,
        }
    }
}

/// Runs slices on the processes of a block.
pub trait Slicer {
    /// The error of one slice (a dead child, a protocol error).
    type Error;
    /// Runs `iters` iterations of `bench` on process `process`; returns the wall time in ns.
    fn slice(&mut self, process: usize, bench: &str, iters: u64) -> Result<u64, Self::Error>;
}

/// Per-iteration times of one benchmark in lock-step: `times[i][r]` is process
/// `processes[i]`'s time per iteration (ns) in round `r`.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceTimes {
    /// Iterations per slice (the same on every process, so every slice does the same work).
    pub iters: u64,
    /// One series per process, in the order of `processes`.
    pub times: Vec<Vec<f64>>,
}

/// Measures `bench` on `processes` in lock-step.
///
/// The iteration count is sized on the first process (doubling from 1 until a slice takes a
/// quarter of the target, then scaled to the target) and used on all of them; then every
/// process runs the warm-up slices, then `rounds` rounds in which each process runs one slice,
/// in an order shuffled per round.
pub fn measure<S: Slicer>(
    slicer: &mut S,
    processes: &[usize],
    bench: &str,
    config: &SliceConfig,
    rng: &mut impl Rng,
) -> Result<SliceTimes, S::Error> {
    let Some(&first) = processes.first() else {
        return Ok(SliceTimes {
            iters: 0,
            times: Vec::new(),
        });
    };
    let target = config.slice.as_nanos().max(1) as f64;
    let mut iters: u64 = 1;
    loop {
        let ns = slicer.slice(first, bench, iters)?.max(1) as f64;
        if ns * 4.0 >= target || iters >= 1 << 40 {
            iters = ((iters as f64 * target / ns).round() as u64).max(1);
            break;
        }
        iters *= 2;
    }
    for _ in 0..config.warm_up_slices {
        for &p in processes {
            slicer.slice(p, bench, iters)?;
        }
    }
    let mut times = vec![Vec::with_capacity(config.rounds as usize); processes.len()];
    let mut order: Vec<usize> = (0..processes.len()).collect();
    for _ in 0..config.rounds {
        order.shuffle(rng);
        for &i in &order {
            let ns = slicer.slice(processes[i], bench, iters)?;
            times[i].push(ns as f64 / iters as f64);
        }
    }
    Ok(SliceTimes { iters, times })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn requests_and_replies_round_trip() {
        for r in [
            Request::Run {
                bench: 3,
                iters: 1200,
            },
            Request::Quit,
        ] {
            assert_eq!(Request::parse(&r.to_line()), Ok(r));
        }
        for r in [
            Reply::Hello,
            Reply::Bench("gate/cpu/x 1".into()),
            Reply::Ready,
            Reply::Ns(12_345),
            Reply::Error("bad".into()),
        ] {
            assert_eq!(Reply::parse(&r.to_line()), Some(r));
        }
        assert!(Request::parse("run 1 0").is_err());
        assert!(
            Request::parse("run x 5")
                .unwrap_err()
                .contains("run <index> <iters>")
        );
        assert!(Request::parse("go").is_err());
        // criterion's own output is not a reply: the driver falls back
        assert_eq!(Reply::parse("Benchmarking gate/x: Warming up"), None);
    }

    #[test]
    fn serve_answers_runs_and_refuses_bad_requests() {
        let mut calls = Vec::new();
        {
            let mut benches: Vec<(String, SliceFn<'_>)> = vec![(
                "a".into(),
                Box::new(|iters| {
                    calls.push(iters);
                    Duration::from_nanos(7 * iters)
                }),
            )];
            let input = "run 0 10\nrun 1 5\nbogus\nrun 0 3\nquit\nrun 0 99\n";
            let mut out = Vec::new();
            serve(&mut benches, input.as_bytes(), &mut out).unwrap();
            let replies: Vec<Reply> = String::from_utf8(out)
                .unwrap()
                .lines()
                .map(|l| Reply::parse(l).unwrap())
                .collect();
            assert_eq!(
                replies[..3],
                [Reply::Hello, Reply::Bench("a".into()), Reply::Ready]
            );
            assert_eq!(replies[3], Reply::Ns(70));
            assert!(matches!(&replies[4], Reply::Error(m) if m.contains("out of range")));
            assert!(matches!(&replies[5], Reply::Error(m) if m.contains("unknown request")));
            assert_eq!(replies[6], Reply::Ns(21));
            assert_eq!(replies.len(), 7, "nothing after quit");
        }
        assert_eq!(calls, [10, 3]);
    }

    /// Processes whose per-iteration cost is fixed, on a machine that is slow in a given
    /// stretch of time (counted in slices).
    struct Fake {
        cost: Vec<f64>,
        clock: u64,
        slow: std::ops::Range<u64>,
        log: Vec<(usize, u64)>,
    }

    impl Slicer for Fake {
        type Error = String;
        fn slice(&mut self, p: usize, _: &str, iters: u64) -> Result<u64, String> {
            self.log.push((p, iters));
            self.clock += 1;
            let factor = if self.slow.contains(&self.clock) {
                1.2
            } else {
                1.0
            };
            Ok((self.cost[p] * iters as f64 * factor) as u64)
        }
    }

    #[test]
    fn measure_sizes_slices_and_interleaves_rounds() {
        let mut fake = Fake {
            cost: vec![1000.0, 1030.0],
            clock: 0,
            slow: 0..0,
            log: Vec::new(),
        };
        let config = SliceConfig::default();
        let mut rng = StdRng::seed_from_u64(1);
        let t = measure(&mut fake, &[0, 1], "x", &config, &mut rng).unwrap();
        // 10 ms of 1 µs iterations
        assert!((9_000..=11_000).contains(&t.iters), "{}", t.iters);
        assert_eq!(t.times.len(), 2);
        assert!(t.times.iter().all(|s| s.len() == 15));
        assert!((t.times[1][0] / t.times[0][0] - 1.03).abs() < 1e-3);
        // after sizing and warm-up, each round runs both processes once
        let measured = &fake.log[fake.log.len() - 30..];
        for pair in measured.chunks(2) {
            let mut ps: Vec<usize> = pair.iter().map(|x| x.0).collect();
            ps.sort_unstable();
            assert_eq!(ps, [0, 1]);
            assert!(pair.iter().all(|x| x.1 == t.iters));
        }
        // both orders occur
        let firsts: HashMap<usize, usize> =
            measured.chunks(2).fold(HashMap::new(), |mut m, pair| {
                *m.entry(pair[0].0).or_default() += 1;
                m
            });
        assert_eq!(firsts.len(), 2, "{firsts:?}");
    }

    #[test]
    fn a_slow_spell_hits_both_sides_and_the_median_ignores_it() {
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let mut fake = Fake {
            cost: vec![1000.0, 1000.0],
            clock: 0,
            // a 20 % slow spell over six consecutive slices of the measured rounds
            slow: 30..36,
            log: Vec::new(),
        };
        let mut rng = StdRng::seed_from_u64(2);
        let t = measure(&mut fake, &[0, 1], "x", &SliceConfig::default(), &mut rng).unwrap();
        let ratio = median(t.times[1].clone()) / median(t.times[0].clone());
        assert!((ratio - 1.0).abs() < 1e-6, "{ratio}");
        assert!(t.times.iter().flatten().any(|&x| x > 1100.0));
    }
}
