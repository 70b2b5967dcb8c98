//! `dyno regress calibrate`: record A/A, A/A′ and injected-slowdown blocks of the `gate` suite
//! on this machine, then replay the decision rule and criterion's rule on them
//! ([`dyno_regress::calibrate`]).

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use dyno_regress::calibrate::{
    CALIBRATION_SCHEMA_VERSION, CalibrationData, Condition, ProcessRun, ReplayConfig, noise, replay,
};
use dyno_regress::{JudgeConfig, MissingPolicy};
use dyno_stats::record::HealthRecord;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use dyno_regress::lockstep::SliceConfig;

use crate::args::{CalibrateArgs, Interleave, block_cpu};
use crate::bench_process::{BenchBinary, Filter, Timings};
use crate::health::CpuTimes;
use crate::lockstep::{Block, LockstepChild};
use crate::{compile, git, machine, output};

/// The suite calibration measures (it has the slowdown knobs).
const SUITE: &str = "gate";

/// Runs the command; returns 0 (calibration has no verdict).
pub fn run(args: CalibrateArgs) -> Result<i32> {
    let mut data = match &args.replay {
        Some(path) => read_data(path)?,
        None => record(&args)?,
    };
    let screen_blocks = args.screen_blocks;
    let statistic = args.slices.statistic.into();
    // The noise a gate run sees once screening has all its blocks.
    data.noise = noise(&data, "Aprime", args.screen.max_screen_blocks, statistic);
    output::write_file(&args.out, &serde_json::to_vec_pretty(&data)?)?;
    let config = ReplayConfig {
        family: args.family,
        replications: if args.quick {
            args.replications.min(100)
        } else {
            args.replications
        },
        screen_blocks,
        seed: args.seed,
        judge: JudgeConfig {
            q: args.judge.q,
            tau_floor: args.judge.tau_floor,
            missing: MissingPolicy::Report,
            ..JudgeConfig::default()
        },
        statistic,
        screen: args.screen.config()?,
        ..ReplayConfig::default()
    };
    let started = Instant::now();
    let calibration = replay(&data, &data.noise, &config)?;
    let seconds: f64 = data.runs.iter().map(|r| r.seconds).sum();
    let blocks = data.runs.iter().map(|r| r.block).max().map_or(0, |b| b + 1);
    let mut table = format!(
        "Machine: {} ({} logical cores, kernel {}, {}); commit {}; recorded {} (unix {}); {} blocks × {} \
         processes, {:.0} s of bench processes; benchmarks: {}.\n\n",
        data.machine.cpu_model,
        data.machine.logical_cores,
        data.machine.kernel,
        data.machine.toolchain,
        git::short(&data.commit),
        data.settings["date"].as_str().unwrap_or("?"),
        data.created_unix_s,
        blocks,
        data.runs.iter().filter(|r| r.block == 0).count(),
        seconds,
        calibration
            .benchmarks
            .iter()
            .map(|b| format!("`{b}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(steal) = data.health.steal_time_fraction {
        table.push_str(&format!(
            "Steal time during recording: {:.2} %.\n\n",
            steal * 100.0
        ));
    }
    table.push_str(&calibration.to_markdown());
    output::write_file(&args.table, table.as_bytes())?;
    let mut json = args.out.clone();
    json.set_extension("replay.json");
    output::write_file(&json, &serde_json::to_vec_pretty(&calibration)?)?;
    println!("{table}");
    eprintln!(
        "raw data: {}; replay: {} ({:.0} s); table: {}",
        args.out.display(),
        json.display(),
        started.elapsed().as_secs_f64(),
        args.table.display()
    );
    Ok(0)
}

fn read_data(path: &std::path::Path) -> Result<CalibrationData> {
    let data: CalibrationData =
        dyno_stats::record::read_versioned(path, "calibration data", CALIBRATION_SCHEMA_VERSION)?;
    Ok(data)
}

/// One kind of bench process of a block.
struct Process {
    name: String,
    binary: BenchBinary,
}

fn record(args: &CalibrateArgs) -> Result<CalibrationData> {
    let started = Instant::now();
    let (repo, root) = git::open()?;
    let work = args
        .work_dir
        .clone()
        .unwrap_or_else(|| root.join("target").join("dyno-regress"));
    let work = std::path::absolute(&work)?;
    let target = args
        .target_dir
        .clone()
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(Into::into))
        .unwrap_or_else(|| root.join("target"));
    let target = std::path::absolute(&target)?;
    let bin = work.join("bin");
    let here = git::checkout(&repo, git::WORKTREE, &work, "calibrate")?;
    let profile = machine::profile()?;

    // Builds: the slowdown compiled in first, then the plain build (so the checkout's last
    // build is the plain one), then a second build of the same code at another path (A′).
    let mut builds: Vec<(String, std::path::PathBuf)> = Vec::new();
    if args.compiled_slowdown > 0.0 {
        let exe = compile::bench_binary(
            &here.dir,
            &target,
            SUITE,
            &[(
                "DYNO_BENCH_INJECT_SLOWDOWN_BUILD",
                args.compiled_slowdown.to_string(),
            )],
        )?;
        builds.push((
            format!("built-{}", args.compiled_slowdown),
            compile::keep(&exe, &bin, "calibrate-built")?,
        ));
    }
    let exe = compile::bench_binary(&here.dir, &target, SUITE, &[])?;
    let a = compile::keep(&exe, &bin, "calibrate-a")?;
    let copy = work.join("worktrees").join("calibrate-copy");
    git::copy_tree(&here.dir, &copy)?;
    let exe = compile::bench_binary(&copy, &target, SUITE, &[])?;
    let aprime = compile::keep(&exe, &bin, "calibrate-aprime")?;
    let build_s = started.elapsed().as_secs_f64();
    tracing::info!(seconds = build_s, "calibration builds done");

    let plain = |exe: &std::path::Path| BenchBinary {
        exe: exe.to_path_buf(),
        env: Vec::new(),
    };
    let mut processes = vec![
        Process {
            name: "A".into(),
            binary: plain(&a),
        },
        Process {
            name: "A2".into(),
            binary: plain(&a),
        },
        Process {
            name: "Aprime".into(),
            binary: plain(&aprime),
        },
    ];
    let mut conditions = vec![
        Condition {
            name: "A/A (same binary)".into(),
            process: "A2".into(),
            slowdown: 0.0,
        },
        Condition {
            name: "A/A′ (second build, other path)".into(),
            process: "Aprime".into(),
            slowdown: 0.0,
        },
    ];
    for &s in &args.slowdowns {
        if !(s.is_finite() && s > 0.0) {
            bail!("--slowdowns: {s} must be a positive fraction, e.g. 0.02");
        }
        let name = format!("inject-{s}");
        processes.push(Process {
            name: name.clone(),
            binary: BenchBinary {
                exe: a.clone(),
                env: vec![("DYNO_BENCH_INJECT_SLOWDOWN".into(), s.to_string())],
            },
        });
        conditions.push(Condition {
            name: format!("+{:.0} % (run-time knob)", s * 100.0),
            process: name,
            slowdown: s,
        });
    }
    for (name, exe) in builds {
        processes.push(Process {
            name: name.clone(),
            binary: plain(&exe),
        });
        conditions.push(Condition {
            name: format!(
                "+{:.0} % (compiled in, second build)",
                args.compiled_slowdown * 100.0
            ),
            process: name,
            slowdown: args.compiled_slowdown,
        });
    }

    let blocks = if args.quick {
        args.blocks.min(20)
    } else {
        args.blocks
    };
    let timings = Timings {
        warm_up_s: Some(0.1),
        measurement_s: Some(if args.quick { 0.2 } else { 0.3 }),
    };
    let filter = Filter::Regex(args.bench.clone());
    let scratch = work.join("criterion-calibrate");
    let lockstep = if args.slices.interleave == Interleave::Process {
        None
    } else {
        let ids = processes[0].binary.list(&filter, &scratch.join("list"))?;
        if LockstepChild::probe(&processes[0].binary, "A")? {
            Some((args.slices.config()?, ids))
        } else if args.slices.interleave == Interleave::Lockstep {
            bail!("--interleave lockstep: this build's `gate` bench has no lock-step mode")
        } else {
            None
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let mut data = CalibrationData {
        schema_version: CALIBRATION_SCHEMA_VERSION,
        machine: profile,
        commit: here.commit.clone(),
        created_unix_s: now,
        settings: serde_json::json!({
            "suite": SUITE,
            "bench": args.bench,
            "blocks": blocks,
            "timings": timings,
            "interleave": if lockstep.is_some() { "lockstep" } else { "process" },
            "slices": lockstep.as_ref().map(|(c, _)| c),
            "dirty": here.dirty,
            "date": date,
            "build_seconds": build_s,
            "a_prime": "the same sources copied to another path and built again (different crate metadata hashes, so different symbol names and code layout)",
        }),
        seed: args.seed,
        reference: "A".into(),
        sentinel: "A2".into(),
        conditions,
        health: HealthRecord::default(),
        runs: Vec::new(),
        noise: BTreeMap::new(),
    };
    let mut rng = StdRng::seed_from_u64(args.seed);
    let before = CpuTimes::read();
    let mut order: Vec<usize> = (0..processes.len()).collect();
    let cpus = args.slices.pin_cpus();
    let cpu = |block| block_cpu(&cpus, block);
    for block in 0..blocks {
        let block_start = Instant::now();
        match &lockstep {
            Some((config, ids)) => {
                data.runs.extend(lockstep_block(
                    &processes,
                    ids,
                    config,
                    block,
                    cpu(block),
                    &mut rng,
                )?);
            }
            None => {
                order.shuffle(&mut rng);
                for &i in &order {
                    let p = &processes[i];
                    let t = Instant::now();
                    let home = scratch.join(&p.name);
                    let results = p
                        .binary
                        .measure(&filter, timings, &home)
                        .with_context(|| format!("block {block}, process {}", p.name))?;
                    data.runs.push(ProcessRun {
                        block,
                        process: p.name.clone(),
                        seconds: t.elapsed().as_secs_f64(),
                        benchmarks: results
                            .into_iter()
                            .map(|b| (b.id, b.per_iteration_ns))
                            .collect(),
                    });
                }
            }
        }
        if let (Some(a), Some(b)) = (before, CpuTimes::read()) {
            data.health.steal_time_fraction = a.steal_fraction(&b);
        }
        // Keep what was measured so far, in case the run is interrupted.
        output::write_file(&args.out, &serde_json::to_vec_pretty(&data)?)?;
        tracing::info!(
            block,
            seconds = block_start.elapsed().as_secs_f64(),
            total = started.elapsed().as_secs_f64(),
            "calibration block done"
        );
    }
    Ok(data)
}

/// One lock-step calibration block: every process alive at once, each benchmark (in a shuffled
/// order) sliced over all of them; one [`ProcessRun`] per process, its samples the slices.
fn lockstep_block(
    processes: &[Process],
    ids: &[String],
    config: &SliceConfig,
    block: u32,
    cpu: Option<usize>,
    rng: &mut StdRng,
) -> Result<Vec<ProcessRun>> {
    let started = Instant::now();
    let mut children = Block::spawn(processes.iter().map(|p| (&p.binary, p.name.as_str())), cpu)?;
    let mut runs: Vec<ProcessRun> = processes
        .iter()
        .map(|p| ProcessRun {
            block,
            process: p.name.clone(),
            seconds: 0.0,
            benchmarks: BTreeMap::new(),
        })
        .collect();
    let all: Vec<usize> = (0..processes.len()).collect();
    let mut order = ids.to_vec();
    order.shuffle(rng);
    for id in &order {
        let times = children
            .measure(&all, id, config, rng)
            .with_context(|| format!("block {block}, benchmark `{id}`"))?;
        for (run, values) in runs.iter_mut().zip(times.times) {
            run.benchmarks.insert(id.clone(), values);
        }
    }
    children.quit()?;
    let share = started.elapsed().as_secs_f64() / processes.len() as f64;
    for run in &mut runs {
        run.seconds = share;
    }
    Ok(runs)
}
