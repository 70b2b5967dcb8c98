//! Lock-step bench children: the processes of one gate block, all alive at once, taking turns
//! at short slices ([`dyno_regress::lockstep`] has the protocol and the schedule).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use anyhow::{Context, Result, bail};
use dyno_regress::lockstep::{FLAG, Reply, Request, SliceConfig, SliceTimes, Slicer, measure};
use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::unistd::Pid;
use rand::Rng;

use crate::bench_process::BenchBinary;

/// One lock-step child process.
pub struct LockstepChild {
    name: String,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// Its stderr: an anonymous file, read back only when it dies (a pipe nobody reads would
    /// block a child that writes more than the pipe holds).
    stderr: File,
    /// The benchmark ids it announced, in index order.
    pub ids: Vec<String>,
}

impl LockstepChild {
    /// Starts `binary` as a lock-step child; `Ok(None)` when it does not speak the protocol
    /// (a revision from before lock-step mode).
    pub fn spawn(binary: &BenchBinary, name: &str) -> Result<Option<LockstepChild>> {
        let stderr = tempfile::tempfile().context("creating a file for a bench child's stderr")?;
        let mut cmd = Command::new(&binary.exe);
        cmd.arg(FLAG)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr.try_clone()?);
        for (k, v) in &binary.env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", binary.exe.display()))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        if Reply::parse(&line) != Some(Reply::Hello) {
            let _ = child.kill();
            let _ = child.wait();
            tracing::debug!(exe = %binary.exe.display(), first_line = line.trim(), "no lock-step mode");
            return Ok(None);
        }
        let mut ids = Vec::new();
        loop {
            line.clear();
            if stdout.read_line(&mut line)? == 0 {
                bail!(
                    "lock-step child {name} ({}) ended before `ready`",
                    binary.exe.display()
                );
            }
            match Reply::parse(&line) {
                Some(Reply::Bench(id)) => ids.push(id),
                Some(Reply::Ready) => break,
                _ => bail!(
                    "lock-step child {name} ({}) sent {:?} while listing its benchmarks",
                    binary.exe.display(),
                    line.trim()
                ),
            }
        }
        Ok(Some(LockstepChild {
            name: name.to_string(),
            child,
            stdin,
            stdout,
            stderr,
            ids,
        }))
    }

    /// Whether `binary` speaks the lock-step protocol (starts it once and ends it).
    pub fn probe(binary: &BenchBinary, name: &str) -> Result<bool> {
        match LockstepChild::spawn(binary, name)? {
            Some(child) => {
                child.quit()?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Runs `iters` iterations of `bench`; the slice's wall time in ns.
    fn run(&mut self, bench: &str, iters: u64) -> Result<u64> {
        let Some(index) = self.ids.iter().position(|id| id == bench) else {
            bail!("lock-step child {} has no benchmark `{bench}`", self.name);
        };
        self.stdin
            .write_all(
                Request::Run {
                    bench: index,
                    iters,
                }
                .to_line()
                .as_bytes(),
            )
            .and_then(|()| self.stdin.flush())
            .with_context(|| format!("lock-step child {} is gone", self.name))?;
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            let _ = self.child.wait();
            let mut err = String::new();
            if self.stderr.rewind().is_ok() {
                let _ = self.stderr.read_to_string(&mut err);
            }
            bail!(
                "lock-step child {} died running `{bench}`: {}",
                self.name,
                err.lines().rev().take(10).collect::<Vec<_>>().join(" | ")
            );
        }
        match Reply::parse(&line) {
            Some(Reply::Ns(ns)) => Ok(ns),
            Some(Reply::Error(m)) => bail!("lock-step child {} refused `{bench}`: {m}", self.name),
            _ => bail!(
                "lock-step child {} answered {:?} to a run request",
                self.name,
                line.trim()
            ),
        }
    }

    /// Asks the child to exit and waits for it.
    pub fn quit(mut self) -> Result<()> {
        let _ = self.stdin.write_all(Request::Quit.to_line().as_bytes());
        drop(self.stdin);
        let status = self.child.wait()?;
        if !status.success() {
            bail!("lock-step child {} exited with {status}", self.name);
        }
        Ok(())
    }
}

/// The children of one block.
pub struct Block(pub Vec<LockstepChild>);

impl Slicer for Block {
    type Error = anyhow::Error;
    fn slice(&mut self, process: usize, bench: &str, iters: u64) -> Result<u64> {
        self.0[process].run(bench, iters)
    }
}

impl Block {
    /// Starts one lock-step child per `(binary, name)`, all alive at once; fails when one of
    /// them does not speak the protocol (callers [`LockstepChild::probe`] first).
    ///
    /// With `cpu`, every child is confined to that one CPU (they inherit the mask of the thread
    /// that starts them): the children take turns, so they lose no time to each other, and a
    /// CPU whose sibling hyperthread is busy with a neighbour slows base and head alike
    /// instead of whichever side the scheduler happened to put there.
    pub fn spawn<'a>(
        processes: impl IntoIterator<Item = (&'a BenchBinary, &'a str)>,
        cpu: Option<usize>,
    ) -> Result<Block> {
        let _pinned = cpu.map(PinnedThread::new).transpose()?;
        let mut children = Vec::new();
        for (binary, name) in processes {
            children.push(LockstepChild::spawn(binary, name)?.with_context(|| {
                format!(
                    "{name} ({}) has no lock-step mode any more",
                    binary.exe.display()
                )
            })?);
        }
        Ok(Block(children))
    }

    /// Measures `bench` on the children `processes` (indices into the block) in lock-step.
    pub fn measure(
        &mut self,
        processes: &[usize],
        bench: &str,
        config: &SliceConfig,
        rng: &mut impl Rng,
    ) -> Result<SliceTimes> {
        measure(self, processes, bench, config, rng)
    }

    /// Whether child `i` has `bench`.
    pub fn has(&self, i: usize, bench: &str) -> bool {
        self.0[i].ids.iter().any(|id| id == bench)
    }

    /// Ends every child.
    pub fn quit(self) -> Result<()> {
        for c in self.0 {
            c.quit()?;
        }
        Ok(())
    }
}

/// The CPUs this process may run on, in increasing order (empty when the kernel does not say).
pub fn allowed_cpus() -> Vec<usize> {
    let Ok(set) = sched_getaffinity(Pid::from_raw(0)) else {
        return Vec::new();
    };
    (0..CpuSet::count())
        .filter(|&c| set.is_set(c).unwrap_or(false))
        .collect()
}

/// The calling thread confined to one CPU until dropped, when its previous mask comes back.
struct PinnedThread(CpuSet);

impl PinnedThread {
    fn new(cpu: usize) -> Result<PinnedThread> {
        let before =
            sched_getaffinity(Pid::from_raw(0)).context("reading this thread's CPU mask")?;
        let mut one = CpuSet::new();
        one.set(cpu)
            .with_context(|| format!("CPU {cpu} is beyond the kernel's CPU set"))?;
        sched_setaffinity(Pid::from_raw(0), &one).with_context(|| {
            format!("pinning lock-step children to CPU {cpu} (run with --no-pin if the machine forbids it)")
        })?;
        Ok(PinnedThread(before))
    }
}

impl Drop for PinnedThread {
    fn drop(&mut self) {
        if let Err(e) = sched_setaffinity(Pid::from_raw(0), &self.0) {
            tracing::warn!(error = %e, "could not restore the driver thread's CPU mask");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn script(dir: &Path, name: &str, body: &str) -> BenchBinary {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        BenchBinary {
            exe: path,
            env: vec![("COST".into(), "7".into())],
        }
    }

    /// A child in shell: one benchmark, `$COST` ns per iteration.
    const CHILD: &str = r#"echo "dyno-lockstep 1"; echo "bench gate/a"; echo ready
while read cmd idx iters; do
  case "$cmd" in
    run) echo "ns $((iters * COST))";;
    quit) exit 0;;
  esac
done"#;

    #[test]
    fn a_protocol_child_is_measured_and_quits() {
        let dir = tempfile::tempdir().unwrap();
        let bin = script(dir.path(), "child", CHILD);
        let a = LockstepChild::spawn(&bin, "a")
            .unwrap()
            .expect("speaks lock-step");
        let b = LockstepChild::spawn(&bin, "b")
            .unwrap()
            .expect("speaks lock-step");
        assert_eq!(a.ids, ["gate/a"]);
        let mut block = Block(vec![a, b]);
        assert!(block.has(0, "gate/a") && !block.has(1, "gate/x"));
        let config = SliceConfig {
            slice: std::time::Duration::from_micros(70),
            warm_up_slices: 1,
            rounds: 5,
        };
        let t = block
            .measure(&[0, 1], "gate/a", &config, &mut StdRng::seed_from_u64(1))
            .unwrap();
        assert_eq!(t.iters, 10_000, "70 µs of 7 ns iterations");
        assert_eq!(t.times, vec![vec![7.0; 5]; 2]);
        let err = block.slice(0, "gate/x", 1).unwrap_err().to_string();
        assert!(err.contains("no benchmark `gate/x`"), "{err}");
        block.quit().unwrap();
    }

    #[test]
    fn a_binary_without_lock_step_mode_is_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let old = script(
            dir.path(),
            "old",
            "echo \"error: unexpected argument '$1' found\" >&2; exit 2",
        );
        assert!(LockstepChild::spawn(&old, "base").unwrap().is_none());
        let chatty = script(dir.path(), "chatty", "echo 'Benchmarking gate/a'; sleep 5");
        assert!(LockstepChild::spawn(&chatty, "base").unwrap().is_none());
    }

    #[test]
    fn a_child_that_dies_is_an_error_with_its_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let bin = script(
            dir.path(),
            "dies",
            "echo 'dyno-lockstep 1'; echo 'bench gate/a'; echo ready; read x; echo 'kernel panicked' >&2; exit 101",
        );
        let mut block = Block(vec![LockstepChild::spawn(&bin, "head").unwrap().unwrap()]);
        let err = format!("{:#}", block.slice(0, "gate/a", 5).unwrap_err());
        assert!(err.contains("died running `gate/a`"), "{err}");
        assert!(err.contains("kernel panicked"), "{err}");
    }
}
