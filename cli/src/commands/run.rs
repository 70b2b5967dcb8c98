//! `dyno regress run`: build base and head, measure them in interleaved blocks (fresh processes,
//! ABBA order, a same-binary sentinel in every block), screen, confirm the suspects on fresh
//! blocks, report.

use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use dyno_regress::{
    Comparison, Observation, Report, ReportContext, SENTINEL_PREFIX, confirm, screen,
};
use dyno_stats::record::{
    GitInfo, HealthRecord, RunRecord, SCHEMA_VERSION, SampleSeries, Side, Unit,
};

use dyno_regress::BlockStatistic;
use dyno_regress::lockstep::SliceConfig;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::args::{Interleave, RunArgs, block_cpu};
use crate::bench_process::{BenchBinary, Filter, Timings, exact_any};
use crate::commands::judge_config;
use crate::git::{self, Checkout};
use crate::health::CpuTimes;
use crate::lockstep::{Block, LockstepChild};
use crate::schedule::{Slot, abba};
use crate::{compile, machine, output};

/// Raw measurements of one stage.
struct Stage {
    observations: Vec<Observation>,
    samples: Vec<SampleSeries>,
    health: HealthRecord,
}

impl Stage {
    /// Adds the blocks of a later look of the same stage (distinct block indices); the health
    /// keeps the worse steal time and every flag.
    fn absorb(&mut self, later: Stage) {
        self.observations.extend(later.observations);
        self.samples.extend(later.samples);
        self.health.steal_time_fraction = match (
            self.health.steal_time_fraction,
            later.health.steal_time_fraction,
        ) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.health.flags.extend(later.health.flags);
    }
}

/// What a stage measures.
#[derive(Clone)]
struct Plan<'a> {
    base: &'a BenchBinary,
    head: &'a BenchBinary,
    filter: Filter,
    /// The selected benchmark ids (either side), for lock-step blocks.
    ids: Vec<String>,
    sentinel: Option<&'a str>,
    timings: Timings,
    /// Lock-step slicing; `None`: one criterion process after another.
    lockstep: Option<SliceConfig>,
    /// Block value of a side's lock-step slices.
    statistic: BlockStatistic,
    /// CPUs the lock-step blocks are pinned to in turn (empty: not pinned).
    pin: Vec<usize>,
    scratch: &'a Path,
}

/// Runs the command; returns the exit code.
pub fn run(args: RunArgs) -> Result<i32> {
    let started = Instant::now();
    if args.blocks < 2 {
        bail!(
            "--blocks {} is too few; use at least 6 (8 by default)",
            args.blocks
        );
    }
    let (repo, root) = git::open()?;
    let work = args
        .work_dir
        .clone()
        .unwrap_or_else(|| root.join("target").join("dyno-regress"));
    let work = std::path::absolute(&work)?;
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let target = args
        .target_dir
        .clone()
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(Into::into))
        .unwrap_or_else(|| root.join("target"));
    let target = std::path::absolute(&target)?;
    let profile = machine::profile()?;
    let (config, remark) = judge_config(&args.judge, &profile, Some(&args.suite))?;

    let base_co = git::checkout(&repo, &args.base, &work, "base")?;
    let head_co = git::checkout(&repo, &args.head, &work, "head")?;
    let same = base_co.commit == head_co.commit && !base_co.dirty && !head_co.dirty;
    let base_exe = compile::bench_binary(&base_co.dir, &target, &args.suite, &[])?;
    let base_exe = compile::keep(
        &base_exe,
        &work.join("bin"),
        &format!("{}-base", args.suite),
    )?;
    let head_exe = if same {
        base_exe.clone()
    } else {
        let exe = compile::bench_binary(&head_co.dir, &target, &args.suite, &[])?;
        compile::keep(&exe, &work.join("bin"), &format!("{}-head", args.suite))?
    };
    let built = started.elapsed();
    tracing::info!(seconds = built.as_secs_f64(), "built both revisions");
    let base = BenchBinary {
        exe: base_exe,
        env: Vec::new(),
    };
    let head = BenchBinary {
        exe: head_exe,
        env: Vec::new(),
    };
    let scratch = work.join("criterion");
    let filter = Filter::Regex(args.bench.clone());
    let base_ids = base.list(&filter, &scratch.join("list"))?;
    let head_ids = head.list(&filter, &scratch.join("list"))?;
    if base_ids.is_empty() && head_ids.is_empty() {
        bail!(
            "no benchmark of suite `{}` matches {:?} on either side; list them with \
             `cargo bench -p dyno-benches --bench {} -- --list`",
            args.suite,
            args.bench.as_deref().unwrap_or(""),
            args.suite
        );
    }
    let sentinel = match &args.sentinel {
        Some(id) if base_ids.contains(id) => Some(id.clone()),
        Some(id) => bail!("sentinel `{id}` is not a benchmark of the base build"),
        None => base_ids.iter().find(|id| head_ids.contains(id)).cloned(),
    };
    let timings = if args.quick {
        Timings {
            warm_up_s: Some(args.warm_up_time.unwrap_or(0.1)),
            measurement_s: Some(args.measurement_time.unwrap_or(0.3)),
        }
    } else {
        Timings {
            warm_up_s: args.warm_up_time,
            measurement_s: args.measurement_time,
        }
    };
    let mut ids: Vec<String> = base_ids.iter().chain(&head_ids).cloned().collect();
    ids.sort();
    ids.dedup();
    let (lockstep, interleave_note) = interleave(&args, &base, &head)?;
    let plan = Plan {
        base: &base,
        head: &head,
        filter,
        ids,
        sentinel: sentinel.as_deref(),
        timings,
        lockstep,
        statistic: args.slices.statistic.into(),
        pin: args.slices.pin_cpus(),
        scratch: &scratch,
    };

    let screen_config = args.screen.config()?;
    tracing::info!(
        blocks = args.blocks,
        benchmarks = base_ids.len().max(head_ids.len()),
        "stage 1: screening"
    );
    // Stage 1, sequential: every benchmark gets `--blocks`, the ones that cannot be cleared yet
    // `--screen-step` more per look, up to `--max-screen-blocks`.
    let mut stage1 = measure(&plan, 0, args.blocks, args.seed)?;
    let mut next_block = args.blocks;
    let mut looks = 1u64;
    let screening = loop {
        let cmp1 = Comparison::from_observations(&stage1.observations, stage1.health.clone())?;
        let screening = screen(&cmp1, &config, &screen_config)?;
        if screening.pending.is_empty() {
            break screening;
        }
        let step = screen_config.step as u32;
        tracing::info!(pending = ?screening.pending, blocks = step, "stage 1: another look");
        let more = Plan {
            filter: Filter::Regex(Some(exact_any(&screening.pending))),
            ids: screening.pending.clone(),
            ..plan.clone()
        };
        let look = measure(&more, next_block, step, args.seed.wrapping_add(looks))?;
        stage1.absorb(look);
        next_block += step;
        looks += 1;
    };
    let screened = next_block;
    let mut samples = std::mem::take(&mut stage1.samples);
    let mut judgement = if screening.suspects.is_empty() {
        screening.judgement
    } else {
        let confirm_plan = screening.confirm_plan(&config, &screen_config)?;
        let k2 = confirm_plan.blocks as u32;
        tracing::info!(
            suspects = ?screening.suspects,
            blocks = k2,
            wanted = confirm_plan.wanted,
            "stage 2: confirming"
        );
        let plan2 = Plan {
            filter: Filter::Regex(Some(exact_any(&screening.suspects))),
            ids: screening.suspects.clone(),
            ..plan
        };
        let stage2 = measure(&plan2, screened, k2, args.seed.wrapping_add(1 << 32))?;
        let cmp2 = Comparison::from_observations(&stage2.observations, stage2.health)?;
        samples.extend(stage2.samples);
        let mut j = confirm(&screening, &cmp2, &config)?;
        j.notes.push(format!(
            "confirming stage: {k2} fresh blocks (the suspects' stage-1 spread asked for {}), \
             predicted power {:.0} % at a {:.1} % slowdown",
            confirm_plan.wanted,
            confirm_plan.power * 100.0,
            screen_config.effect_fraction * config.tau_floor * 100.0
        ));
        j
    };
    judgement.notes.push(format!(
        "screening: {looks} look(s), {screened} block index(es) used (first look {} blocks for \
         every benchmark, then {} more per look for those not yet cleared)",
        args.blocks, screen_config.step
    ));
    judgement.notes.push(remark);
    judgement.notes.push(interleave_note);
    if same {
        judgement.notes.push(format!(
            "base and head are the same commit ({}): one build measured on both sides (an A/A run)",
            git::short(&base_co.commit)
        ));
    }
    judgement.notes.push(format!(
        "wall time {:.0} s (builds {:.0} s); seed {}",
        started.elapsed().as_secs_f64(),
        built.as_secs_f64(),
        args.seed
    ));
    if let Some(path) = &args.record {
        let record = run_record(&args, &profile, &head_co, samples, &judgement.environment)?;
        output::write_file(path, &serde_json::to_vec_pretty(&record)?)?;
    }
    let context = ReportContext {
        title: "dyno regress run".into(),
        suite: Some(args.suite.clone()),
        base: Some(describe(&base_co)),
        head: Some(describe(&head_co)),
        profile: Some(profile.key()),
    };
    output::emit(&Report::new(judgement, context), &args.output)
}

fn describe(c: &Checkout) -> String {
    let dirty = if c.dirty {
        " + uncommitted changes"
    } else {
        ""
    };
    format!("{} ({}{dirty})", c.spec, git::short(&c.commit))
}

/// Lock-step when asked for, or (`auto`) when both builds speak it; the note says which.
fn interleave(
    args: &RunArgs,
    base: &BenchBinary,
    head: &BenchBinary,
) -> Result<(Option<SliceConfig>, String)> {
    let config = args.slices.config()?;
    if args.slices.interleave == Interleave::Process {
        return Ok((
            None,
            "blocks: one criterion process per side (--interleave process)".into(),
        ));
    }
    let mut missing = Vec::new();
    for (side, binary) in [("base", base), ("head", head)] {
        if !LockstepChild::probe(binary, side)? {
            missing.push(side);
        }
    }
    if missing.is_empty() {
        let cpus = args.slices.pin_cpus();
        let pinned = if cpus.is_empty() {
            "not pinned".to_string()
        } else {
            format!("each block's processes on one CPU, blocks taking CPUs {cpus:?} in turn")
        };
        let note = format!(
            "blocks: lock-step, {} rounds of {:.0} ms slices per benchmark and block; {pinned}",
            config.rounds,
            config.slice.as_secs_f64() * 1000.0
        );
        return Ok((Some(config), note));
    }
    if args.slices.interleave == Interleave::Lockstep {
        bail!(
            "--interleave lockstep: the {} build of suite `{}` has no lock-step mode (its bench \
             binary does not answer `{}`); use --interleave process or auto",
            missing.join(" and "),
            args.suite,
            dyno_regress::lockstep::FLAG
        );
    }
    Ok((
        None,
        if missing.len() == 2 {
            format!(
                "blocks: one criterion process per side, because neither build of suite `{}` has \
                 a lock-step mode",
                args.suite
            )
        } else {
            format!(
                "blocks: one criterion process per side, because the {} build has no lock-step mode",
                missing[0]
            )
        },
    ))
}

/// Measures blocks `first..first + count`, in lock-step or one process after another.
fn measure(plan: &Plan<'_>, first: u32, count: u32, seed: u64) -> Result<Stage> {
    match plan.lockstep {
        Some(config) => measure_lockstep(plan, &config, first, count, seed),
        None => measure_processes(plan, first, count, seed),
    }
}

/// Lock-step blocks: per block a fresh base, head and (with a sentinel) second base process,
/// all alive at once; every selected benchmark, in a shuffled order, gets `rounds` rounds of
/// one slice per process. The block value of a side is its median slice. The sentinel compares
/// the two base processes.
fn measure_lockstep(
    plan: &Plan<'_>,
    config: &SliceConfig,
    first: u32,
    count: u32,
    seed: u64,
) -> Result<Stage> {
    let before = CpuTimes::read();
    let statistic = plan.statistic;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut rec = Recorder::default();
    // One pair's block values: the base side, and the head side when it has the benchmark.
    let mut push = |id: String, block: u32, base: Vec<f64>, head: Option<Vec<f64>>| -> Result<()> {
        let unusable = || format!("block {block}, `{id}`: no usable slice");
        match head {
            Some(head) => {
                let (b, h) = statistic.pair(&base, &head).with_context(unusable)?;
                rec.push(id.clone(), Side::Base, block, b, base);
                rec.push(id, Side::Head, block, h, head);
            }
            None => {
                let b = statistic.of(&base).with_context(unusable)?;
                rec.push(id, Side::Base, block, b, base);
            }
        }
        Ok(())
    };
    for block in first..first + count {
        let block_start = Instant::now();
        let mut processes = vec![(plan.base, "base"), (plan.head, "head")];
        if plan.sentinel.is_some() {
            processes.push((plan.base, "sentinel"));
        }
        let mut children = Block::spawn(processes, block_cpu(&plan.pin, block))?;
        // The sentinel runs in every block, also when stage 2 re-measures other benchmarks.
        let mut order = plan.ids.clone();
        if let Some(id) = plan.sentinel
            && !order.iter().any(|x| x == id)
        {
            order.push(id.to_string());
        }
        order.shuffle(&mut rng);
        for id in &order {
            let judged = plan.ids.contains(id);
            let sentinel = plan.sentinel == Some(id.as_str());
            let mut procs: Vec<usize> = (0..2)
                .filter(|&i| children.has(i, id) && (judged || i == 0))
                .collect();
            if sentinel {
                procs.push(2);
            }
            let times = children
                .measure(&procs, id, config, &mut rng)
                .with_context(|| format!("block {block}, benchmark `{id}`"))?;
            let mut by_process: [Option<Vec<f64>>; 3] = Default::default();
            for (&p, values) in procs.iter().zip(times.times) {
                by_process[p] = Some(values);
            }
            let [base, head, second] = by_process;
            let base = base.with_context(|| format!("block {block}, `{id}`: no base slices"))?;
            if sentinel {
                push(
                    format!("{SENTINEL_PREFIX}{id}"),
                    block,
                    base.clone(),
                    second,
                )?;
            }
            if judged {
                push(id.clone(), block, base, head)?;
            }
        }
        children.quit()?;
        tracing::info!(
            block,
            seconds = block_start.elapsed().as_secs_f64(),
            "block done"
        );
    }
    Ok(rec.finish(before))
}

/// Process blocks: per block, base and head over every selected benchmark and two base-build
/// processes of the sentinel, in ABBA order.
fn measure_processes(plan: &Plan<'_>, first: u32, count: u32, seed: u64) -> Result<Stage> {
    let before = CpuTimes::read();
    let mut rec = Recorder::default();
    let order = abba(count, seed, plan.sentinel.is_some());
    for (k, slots) in order.iter().enumerate() {
        let block = first + k as u32;
        let block_start = Instant::now();
        for slot in slots {
            let (binary, filter, side, sentinel) = match slot {
                Slot::Base => (plan.base, plan.filter.clone(), Side::Base, false),
                Slot::Head => (plan.head, plan.filter.clone(), Side::Head, false),
                Slot::SentinelA | Slot::SentinelB => {
                    let id = plan.sentinel.expect("sentinel slots only with a sentinel");
                    let side = if *slot == Slot::SentinelA {
                        Side::Base
                    } else {
                        Side::Head
                    };
                    (plan.base, Filter::Exact(id.to_string()), side, true)
                }
            };
            let home = plan.scratch.join(format!("block-{block}-{slot:?}"));
            let results = binary.measure(&filter, plan.timings, &home)?;
            for b in results {
                let id = if sentinel {
                    format!("{SENTINEL_PREFIX}{}", b.id)
                } else {
                    b.id.clone()
                };
                let value = b.block_time_ns();
                rec.push(id, side, block, value, b.per_iteration_ns);
            }
            let _ = std::fs::remove_dir_all(&home);
        }
        tracing::info!(
            block,
            seconds = block_start.elapsed().as_secs_f64(),
            "block done"
        );
    }
    Ok(rec.finish(before))
}

/// A stage's observations and raw samples, as its blocks are measured.
#[derive(Default)]
struct Recorder {
    observations: Vec<Observation>,
    samples: Vec<SampleSeries>,
}

impl Recorder {
    /// One side's block value of a benchmark, with the samples it summarises.
    fn push(&mut self, id: String, side: Side, block: u32, value: f64, values: Vec<f64>) {
        self.observations
            .push(Observation::time_ns(&id, side, block, value));
        self.samples.push(SampleSeries {
            benchmark: id,
            metric: "time".into(),
            unit: Unit::Ns,
            side: Some(side),
            block: Some(block),
            values,
        });
    }

    /// The stage, with the machine's health since `before` (steal time).
    fn finish(self, before: Option<CpuTimes>) -> Stage {
        let steal = match (before, CpuTimes::read()) {
            (Some(a), Some(b)) => a.steal_fraction(&b),
            _ => None,
        };
        Stage {
            observations: self.observations,
            samples: self.samples,
            health: HealthRecord {
                steal_time_fraction: steal,
                flags: Vec::new(),
            },
        }
    }
}

fn run_record(
    args: &RunArgs,
    profile: &dyno_stats::record::MachineProfile,
    head: &Checkout,
    samples: Vec<SampleSeries>,
    env: &dyno_regress::Environment,
) -> Result<RunRecord> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Ok(RunRecord {
        schema_version: SCHEMA_VERSION,
        suite: args.suite.clone(),
        id: format!("regress-run-{now}-{}", git::short(&head.commit)),
        created_unix_s: now,
        machine: profile.clone(),
        git: GitInfo {
            commit: head.commit.clone(),
            dirty: head.dirty,
            branch: None,
            describe: None,
        },
        config: serde_json::json!({
            "command": "regress run",
            "base": args.base,
            "head": args.head,
            "bench": args.bench,
            "blocks": args.blocks,
            "quick": args.quick,
        }),
        seed: args.seed,
        health: HealthRecord {
            steal_time_fraction: env.steal_time_fraction,
            flags: env.flags.clone(),
        },
        samples,
    })
}
