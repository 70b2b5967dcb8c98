//! Importers: the only code besides [`crate::baseline`] that touches files. Each turns an
//! external format into [`Observation`](crate::Observation)s, from which
//! [`Comparison::from_observations`](crate::Comparison::from_observations) builds the judge's input.
//!
//! - [`criterion`]: `target/criterion/**/<slot>/{benchmark,estimates,sample}.json` of one
//!   criterion run (one block of one side).
//! - [`record`]: dyno [`RunRecord`](dyno_stats::record::RunRecord) files (an A/B run, or one
//!   file per side).
//! - [`csv`]: plain `benchmark,side,block,value[,metric]` text.

pub mod criterion;
pub mod csv;
pub mod record;
