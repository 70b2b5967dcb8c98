//! Reports of a judgement: JSON (machine-readable, round-trips) and markdown (for a PR comment
//! or `$GITHUB_STEP_SUMMARY`). Both show each benchmark's change with its interval, the verdict,
//! the threshold, the sentinels and the environment health.

mod markdown;

use serde::{Deserialize, Serialize};

use dyno_stats::StatsError;

use crate::error::Result;
use crate::verdict::Judgement;

/// The report schema version this build writes.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// Where the judged data came from (all optional, shown when present).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportContext {
    /// Title line, e.g. `dyno regress`.
    pub title: String,
    /// Suite name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suite: Option<String>,
    /// Base revision (commit or ref).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// Head revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// Machine profile key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// A judgement with its context, ready to render.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Always [`REPORT_SCHEMA_VERSION`] for reports this build writes.
    pub schema_version: u32,
    /// Exit code of the judgement (0, 1 or 3).
    pub exit_code: i32,
    /// Where the data came from.
    pub context: ReportContext,
    /// The judgement.
    pub judgement: Judgement,
}

impl Report {
    /// Wraps a judgement.
    pub fn new(judgement: Judgement, context: ReportContext) -> Report {
        Report {
            schema_version: REPORT_SCHEMA_VERSION,
            exit_code: judgement.exit_code(),
            context,
            judgement,
        }
    }

    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> Result<String> {
        let mut s = serde_json::to_string_pretty(self).map_err(|source| StatsError::Serialize {
            what: "report",
            source,
        })?;
        s.push('\n');
        Ok(s)
    }

    /// GitHub-flavoured markdown.
    pub fn to_markdown(&self) -> String {
        markdown::render(self)
    }
}
