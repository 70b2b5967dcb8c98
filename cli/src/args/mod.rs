//! Command-line arguments (clap derive), grouped by concern. Each `*Args` struct is converted
//! once into what the libraries take, in the command that owns it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub mod bench;
pub mod bench_serve;
pub mod compare;
pub mod engine;
pub mod mock;
pub mod serve;

pub use bench::{BenchArgs, BenchCommand, GenerateArgs};

/// dyno: LLM inference kernels, engine and their benchmarks.
#[derive(Debug, Parser)]
#[command(name = "dyno", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Options of every command.
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// Options of every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More log output on stderr (-v: info from libraries too, -vv: debug). `DYNO_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Benchmarks of the in-process engine (`throughput`, `latency`).
    Bench(BenchArgs),
    /// Generate a completion of one prompt with the in-process engine.
    Generate(GenerateArgs),
    /// Serve the engine over an OpenAI-compatible HTTP API.
    Serve(serve::ServeArgs),
    /// A ground-truth server that streams tokens on an exact schedule (for checking clients).
    MockServer(mock::MockServerArgs),
    /// The performance regression gate (exit 0 pass, 1 regression, 2 error, 3 inconclusive).
    Regress(RegressArgs),
}

/// `dyno regress`.
#[derive(Debug, Args)]
pub struct RegressArgs {
    /// Which gate command.
    #[command(subcommand)]
    pub command: RegressCommand,
}

/// `dyno regress <command>`.
#[derive(Debug, Subcommand)]
pub enum RegressCommand {
    /// Build two revisions, measure them in interleaved blocks and judge (the PR gate).
    Run(RunArgs),
    /// Judge data measured elsewhere: paired CSV, two run records or two criterion trees.
    Check(CheckArgs),
    /// Show or update the committed per-machine baselines.
    Baseline(BaselineArgs),
    /// Measure this machine's false-fail rate and power (A/A, A/A′, injected slowdowns).
    Calibrate(CalibrateArgs),
}

/// How the processes of a gate block take turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Interleave {
    /// Lock-step when every build of the run supports it, else one process after another.
    Auto,
    /// All processes of a block alive at once, taking turns at short slices of each benchmark
    /// (a slow spell of the machine hits every side alike).
    Lockstep,
    /// One criterion process after another (what revisions without lock-step mode support).
    Process,
}

/// Lock-step slicing (see `dyno_regress::lockstep`).
#[derive(Debug, Clone, Args)]
pub struct SliceArgs {
    /// How the builds of a block take turns.
    #[arg(long, value_enum, default_value_t = Interleave::Auto)]
    pub interleave: Interleave,
    /// Lock-step: the wall time of one slice, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10.0)]
    pub slice_ms: f64,
    /// Lock-step: measured rounds per benchmark and block (each round: one slice per process).
    #[arg(long, default_value_t = 15)]
    pub rounds: u32,
    /// Block value of a side's lock-step slices (and, in calibration replays, of any
    /// process's samples): `paired` (the median of the per-round head/base ratios, the
    /// steadiest on this machine: docs/regression-gate.md), `median`, or `min` (the fastest).
    #[arg(long, value_enum, default_value_t = Statistic::Paired)]
    pub statistic: Statistic,
    /// Lock-step: leave a block's processes to the scheduler instead of confining them all
    /// to one CPU (the blocks take the allowed CPUs in turn).
    #[arg(long)]
    pub no_pin: bool,
}

impl SliceArgs {
    /// The CPUs lock-step blocks are pinned to in turn (block `k` on `cpus[k % len]`); empty
    /// with `--no-pin` or when the kernel does not tell this process's CPUs.
    pub fn pin_cpus(&self) -> Vec<usize> {
        if self.no_pin {
            Vec::new()
        } else {
            crate::lockstep::allowed_cpus()
        }
    }
}

/// The CPU of block `block` among `cpus` (see [`SliceArgs::pin_cpus`]).
pub fn block_cpu(cpus: &[usize], block: u32) -> Option<usize> {
    (!cpus.is_empty()).then(|| cpus[block as usize % cpus.len()])
}

/// Sequential screening and the size of the confirming stage (see `dyno_regress::screen`).
#[derive(Debug, Clone, Args)]
pub struct ScreenArgs {
    /// Screening blocks added per look for the benchmarks stage 1 cannot clear yet.
    #[arg(long, value_name = "BLOCKS", default_value_t = 8)]
    pub screen_step: usize,
    /// Most screening blocks per benchmark; what is still not cleared then is a suspect.
    #[arg(long, value_name = "BLOCKS", default_value_t = 32)]
    pub max_screen_blocks: usize,
    /// Most confirming blocks, whatever the suspects' spread asks for.
    #[arg(long, value_name = "BLOCKS", default_value_t = 64)]
    pub max_confirm_blocks: usize,
    /// Power at the slowdown the gate is built to catch (2 τ) that the confirming stage is
    /// sized for.
    #[arg(long, default_value_t = 0.95)]
    pub power: f64,
    /// One-sided confidence of the upper bound that clears a benchmark in stage 1.
    #[arg(long, default_value_t = 0.99)]
    pub clear_level: f64,
    /// The slowdown, as a multiple of τ, that stage 1 must rule out to clear a benchmark
    /// (its upper bound below it) and that stage 2 is sized to catch.
    #[arg(long, value_name = "TIMES_TAU", default_value_t = 1.5)]
    pub detect: f64,
}

impl ScreenArgs {
    /// The library's screening rule, checked.
    pub fn config(&self) -> anyhow::Result<dyno_regress::ScreenConfig> {
        let config = dyno_regress::ScreenConfig {
            step: self.screen_step,
            max_blocks: self.max_screen_blocks,
            max_confirm_blocks: self.max_confirm_blocks,
            power: self.power,
            clear_level: self.clear_level,
            effect_fraction: self.detect,
            ..dyno_regress::ScreenConfig::default()
        };
        config.validate()?;
        Ok(config)
    }
}

/// `--statistic`: see [`dyno_regress::BlockStatistic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Statistic {
    /// The median sample.
    Median,
    /// The fastest sample.
    Min,
    /// The median of the per-round head/base ratios (lock-step slices only).
    Paired,
}

impl From<Statistic> for dyno_regress::BlockStatistic {
    fn from(s: Statistic) -> Self {
        match s {
            Statistic::Median => dyno_regress::BlockStatistic::Median,
            Statistic::Min => dyno_regress::BlockStatistic::Min,
            Statistic::Paired => dyno_regress::BlockStatistic::Paired,
        }
    }
}

impl SliceArgs {
    /// The slicing of the library, checked.
    pub fn config(&self) -> anyhow::Result<dyno_regress::lockstep::SliceConfig> {
        if !(self.slice_ms.is_finite() && (0.1..=1000.0).contains(&self.slice_ms)) {
            anyhow::bail!(
                "--slice-ms {} is out of range: it must be 0.1 to 1000 ms (10 by default)",
                self.slice_ms
            );
        }
        if self.rounds < 3 {
            anyhow::bail!(
                "--rounds {} is too few for a median; use at least 5 (15 by default)",
                self.rounds
            );
        }
        Ok(dyno_regress::lockstep::SliceConfig {
            slice: std::time::Duration::from_secs_f64(self.slice_ms / 1000.0),
            rounds: self.rounds,
            ..Default::default()
        })
    }
}

/// The decision rule's knobs (defaults of issue 5 §2).
#[derive(Debug, Clone, Args)]
pub struct JudgeArgs {
    /// Benjamini–Hochberg false discovery rate across the run's benchmarks.
    #[arg(long, default_value_t = 0.01)]
    pub q: f64,
    /// Smallest practical threshold τ, as a fraction (0.01 = 1 %).
    #[arg(long, default_value_t = 0.01)]
    pub tau_floor: f64,
    /// Committed baselines (calibrated noise per benchmark sets τ = max(τ floor, 2 σ)).
    #[arg(long, default_value = "baselines")]
    pub baselines: PathBuf,
    /// A benchmark measured on one side only makes the run inconclusive (default: a `missing` row).
    #[arg(long)]
    pub strict_missing: bool,
}

/// Where reports go besides stdout.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Write the JSON report here (atomically).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Write the markdown report here (atomically).
    #[arg(long, value_name = "PATH")]
    pub markdown: Option<PathBuf>,
    /// Do not append the markdown report to `$GITHUB_STEP_SUMMARY` even when it is set.
    #[arg(long)]
    pub no_step_summary: bool,
}

/// `dyno regress run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Base revision (e.g. the merge base), or `WORKTREE` for the current checkout as it is.
    #[arg(long, value_name = "REF")]
    pub base: String,
    /// Head revision (e.g. `HEAD`), or `WORKTREE` for the current checkout as it is.
    #[arg(long, value_name = "REF")]
    pub head: String,
    /// Criterion filter (a regex on benchmark ids); default: every benchmark of the suite.
    #[arg(long, value_name = "FILTER")]
    pub bench: Option<String>,
    /// Bench binary of `dyno-benches` to run: `kernels` (the kernels suite) or `gate` (fast).
    #[arg(long, default_value = "kernels")]
    pub suite: String,
    /// Stage-1 blocks of the first look; benchmarks that cannot be cleared get
    /// `--screen-step` more per look, and stage 2 re-measures the suspects with as many fresh
    /// blocks as their spread needs.
    #[arg(long, default_value_t = 8)]
    pub blocks: u32,
    /// Short criterion timings per process (0.1 s warm-up, 0.3 s measurement).
    #[arg(long)]
    pub quick: bool,
    /// Criterion warm-up time per benchmark and process, in seconds.
    #[arg(long, value_name = "SECONDS")]
    pub warm_up_time: Option<f64>,
    /// Criterion measurement time per benchmark and process, in seconds.
    #[arg(long, value_name = "SECONDS")]
    pub measurement_time: Option<f64>,
    /// Sentinel benchmark id (same-binary A-vs-A control); default: the first benchmark.
    #[arg(long, value_name = "ID")]
    pub sentinel: Option<String>,
    /// Seed of the block order.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where the worktrees and bench scratch live (kept between runs, so checkouts rewrite only
    /// changed files); default `<repo>/target/dyno-regress`.
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Cargo target directory shared by both revisions (dependencies compile once and stay
    /// compiled); default: the workspace's own `target/`.
    #[arg(long, value_name = "DIR")]
    pub target_dir: Option<PathBuf>,
    /// Also write the raw block data as a dyno run record (input of `check --records`,
    /// `baseline update --from`).
    #[arg(long, value_name = "PATH")]
    pub record: Option<PathBuf>,
    /// Lock-step slicing.
    #[command(flatten)]
    pub slices: SliceArgs,
    /// Sequential screening and confirming-stage size.
    #[command(flatten)]
    pub screen: ScreenArgs,
    /// Decision rule.
    #[command(flatten)]
    pub judge: JudgeArgs,
    /// Report files.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `dyno regress check`: exactly one input.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("input").required(true).multiple(false)))]
pub struct CheckArgs {
    /// Paired blocks as `benchmark,side,block,value[,metric]` CSV.
    #[arg(long, value_name = "FILE", group = "input")]
    pub csv: Option<PathBuf>,
    /// Two dyno run records, base then head (or one A/B record).
    #[arg(long, value_name = "FILE", num_args = 1..=2, group = "input")]
    pub records: Vec<PathBuf>,
    /// Two criterion output trees, base then head. Each is one block, or holds one tree per
    /// block in `block-<n>/` subdirectories.
    #[arg(long, value_names = ["BASE_DIR", "HEAD_DIR"], num_args = 2, group = "input")]
    pub criterion: Vec<PathBuf>,
    /// Criterion slot to read (`new`, or a `--save-baseline` name).
    #[arg(long, default_value = "new")]
    pub slot: String,
    /// Suite of the data: its baseline supplies the calibrated noise.
    #[arg(long)]
    pub suite: Option<String>,
    /// Decision rule.
    #[command(flatten)]
    pub judge: JudgeArgs,
    /// Report files.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `dyno regress baseline`.
#[derive(Debug, Args)]
pub struct BaselineArgs {
    /// Which baseline command.
    #[command(subcommand)]
    pub command: BaselineCommand,
}

/// `dyno regress baseline <command>`.
#[derive(Debug, Subcommand)]
pub enum BaselineCommand {
    /// Record a baseline from a run record (and, with `--tag`, a release in the history).
    Update(BaselineUpdateArgs),
    /// Print this machine's profile and its baseline.
    Show(BaselineShowArgs),
}

/// `dyno regress baseline update`.
#[derive(Debug, Args)]
pub struct BaselineUpdateArgs {
    /// A dyno run record (single revision, or the head side of an A/B record).
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// Release tag to record, e.g. `v0.3.0`.
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// A calibration file (`dyno regress calibrate --out`): its A/A′ noise sets τ per benchmark.
    #[arg(long, value_name = "FILE")]
    pub noise: Option<PathBuf>,
    /// Baselines directory.
    #[arg(long, default_value = "baselines")]
    pub baselines: PathBuf,
    /// Record it even if the record's machine profile is not this machine's.
    #[arg(long)]
    pub allow_other_machine: bool,
}

/// `dyno regress baseline show`.
#[derive(Debug, Args)]
pub struct BaselineShowArgs {
    /// Suite.
    #[arg(long, default_value = "kernels")]
    pub suite: String,
    /// Baselines directory.
    #[arg(long, default_value = "baselines")]
    pub baselines: PathBuf,
}

/// `dyno regress calibrate`.
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// Blocks to record (each block runs every condition once, in random order).
    #[arg(long, default_value_t = 48)]
    pub blocks: u32,
    /// A short run (12 blocks, short timings): checks the machinery, not the numbers.
    #[arg(long)]
    pub quick: bool,
    /// Criterion filter on the `gate` suite's benchmark ids.
    #[arg(long, value_name = "FILTER")]
    pub bench: Option<String>,
    /// Injected slowdowns (run-time knob), as fractions.
    #[arg(long, value_delimiter = ',', default_values_t = [0.01, 0.02, 0.05, 0.10])]
    pub slowdowns: Vec<f64>,
    /// Slowdown compiled into a second build (compile-time constant); 0 to skip that build.
    #[arg(long, default_value_t = 0.02)]
    pub compiled_slowdown: f64,
    /// Synthetic family size for the per-PR rates (benchmarks resampled from the recorded ones).
    #[arg(long, default_value_t = 50)]
    pub family: usize,
    /// Replications of the replay.
    #[arg(long, default_value_t = 400)]
    pub replications: usize,
    /// Stage-1 blocks of the replayed gate's first look.
    #[arg(long, default_value_t = 8)]
    pub screen_blocks: usize,
    /// Seed of block order and replay.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Re-analyse a raw file written earlier instead of measuring.
    #[arg(long, value_name = "FILE")]
    pub replay: Option<PathBuf>,
    /// Raw block data (JSON) goes here.
    #[arg(long, default_value = "target/dyno-calibrate/raw.json")]
    pub out: PathBuf,
    /// The markdown table goes here.
    #[arg(long, default_value = "target/dyno-calibrate/table.md")]
    pub table: PathBuf,
    /// Work directory (copies, scratch); default `<repo>/target/dyno-regress`.
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Cargo target directory; default: the workspace's own `target/`.
    #[arg(long, value_name = "DIR")]
    pub target_dir: Option<PathBuf>,
    /// Lock-step slicing.
    #[command(flatten)]
    pub slices: SliceArgs,
    /// Sequential screening and confirming-stage size.
    #[command(flatten)]
    pub screen: ScreenArgs,
    /// Decision rule.
    #[command(flatten)]
    pub judge: JudgeArgs,
}
