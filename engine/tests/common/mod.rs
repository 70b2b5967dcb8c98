//! Helpers shared by the engine's integration tests.

use std::path::PathBuf;

/// `$DYNO_SHARED_DATA`, else `../shared/data` beside the workspace root. The directory is
/// required: a missing one fails the test instead of skipping it.
pub fn shared_data() -> PathBuf {
    let dir = std::env::var_os("DYNO_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data"))
        });
    assert!(
        dir.is_dir(),
        "shared test data not found at {}: check out ../shared beside the workspace or set DYNO_SHARED_DATA",
        dir.display()
    );
    dir
}
