//! Revisions to measure: git worktrees (through `git2`) kept under the work directory, so a
//! later run only rewrites the files that changed and cargo rebuilds incrementally.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use git2::{Repository, StatusOptions, WorktreeAddOptions, build::CheckoutBuilder};

/// The special revision name for the current checkout, uncommitted changes included.
pub const WORKTREE: &str = "WORKTREE";

/// A source tree ready to build.
#[derive(Debug, Clone)]
pub struct Checkout {
    /// The revision as the user named it.
    pub spec: String,
    /// Directory holding the sources.
    pub dir: PathBuf,
    /// Full commit hash (of `HEAD` for [`WORKTREE`]).
    pub commit: String,
    /// Whether the tree has uncommitted changes (only for [`WORKTREE`]).
    pub dirty: bool,
}

/// The repository around the current directory and its working directory.
pub fn open() -> Result<(Repository, PathBuf)> {
    let repo = Repository::discover(".")
        .context("`dyno regress` must run inside the dyno git repository")?;
    let root = repo
        .workdir()
        .context("the repository is bare; run inside a checkout")?
        .to_path_buf();
    Ok((repo, root))
}

/// Checks out `spec` for `side` (`base`, `head`, ...) into `<work>/worktrees/<side>`, reusing
/// the worktree of an earlier run. [`WORKTREE`] uses the current checkout in place.
pub fn checkout(repo: &Repository, spec: &str, work: &Path, side: &str) -> Result<Checkout> {
    if spec == WORKTREE {
        let root = repo.workdir().context("bare repository")?.to_path_buf();
        let head = repo.head()?.peel_to_commit()?.id().to_string();
        let mut opts = StatusOptions::new();
        opts.include_untracked(true).include_ignored(false);
        let dirty = !repo.statuses(Some(&mut opts))?.is_empty();
        return Ok(Checkout {
            spec: spec.into(),
            dir: root,
            commit: head,
            dirty,
        });
    }
    let commit = repo
        .revparse_single(spec)
        .and_then(|o| o.peel_to_commit())
        .with_context(|| format!("`{spec}` does not name a commit of this repository"))?;
    let oid = commit.id();
    let name = format!("dyno-regress-{side}");
    let dir = work.join("worktrees").join(side);
    let wt_repo = match Repository::open(&dir) {
        Ok(r) if r.is_worktree() => r,
        _ => {
            if let Ok(stale) = repo.find_worktree(&name) {
                let mut prune = git2::WorktreePruneOptions::new();
                prune.valid(true).working_tree(true);
                stale
                    .prune(Some(&mut prune))
                    .with_context(|| format!("pruning the stale worktree `{name}`"))?;
            }
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("removing {}", dir.display()))?;
            }
            std::fs::create_dir_all(dir.parent().expect("has a parent"))?;
            // libgit2 checks a worktree out on a branch; use a temporary one, then detach.
            let branch_name = format!("dyno-regress/{side}");
            let mut branch = repo.branch(&branch_name, &commit, true)?;
            let wt = {
                let mut opts = WorktreeAddOptions::new();
                opts.reference(Some(branch.get()));
                repo.worktree(&name, &dir, Some(&opts)).with_context(|| {
                    format!("adding a worktree for `{spec}` at {}", dir.display())
                })?
            };
            let r = Repository::open_from_worktree(&wt)?;
            r.set_head_detached(oid)?;
            branch.delete()?;
            r
        }
    };
    wt_repo.set_head_detached(oid)?;
    wt_repo
        .checkout_head(Some(CheckoutBuilder::new().force().remove_untracked(false)))
        .with_context(|| format!("checking out `{spec}` in {}", dir.display()))?;
    Ok(Checkout {
        spec: spec.into(),
        dir,
        commit: oid.to_string(),
        dirty: false,
    })
}

/// Short form of a commit hash for reports.
pub fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

/// Copies a source tree (everything except `target/`, `.git` and hidden top-level entries),
/// for a second build of the same code at another path (A/A′ calibration).
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fn walk(from: &Path, to: &Path, top: bool) -> Result<()> {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            let name = entry.file_name();
            let skip = name == ".git"
                || (top && (name == "target" || name.to_string_lossy().starts_with('.')));
            if skip {
                continue;
            }
            let ty = entry.file_type()?;
            let dest = to.join(&name);
            if ty.is_dir() {
                walk(&entry.path(), &dest, false)?;
            } else if ty.is_file() {
                let same = std::fs::read(&dest).ok() == Some(std::fs::read(entry.path())?);
                if !same {
                    std::fs::copy(entry.path(), &dest)?;
                }
            }
        }
        Ok(())
    }
    if to.starts_with(from) && !to.starts_with(from.join("target")) {
        bail!("{} lies inside the tree it copies", to.display());
    }
    walk(from, to, true).with_context(|| format!("copying {} to {}", from.display(), to.display()))
}
