//! A test's scratch folder under the system temp dir: fresh, removed when the test passes,
//! kept when it fails (its path is in the failure message, to look at).

use std::path::{Path, PathBuf};

/// The folder `<temp>/<prefix>-<pid>-<name>`, removed on drop unless the thread is
/// panicking.
pub struct Scratch(PathBuf);

impl Scratch {
    /// The folder's path, with nothing there: what an earlier process of the same id left
    /// is removed, and the folder is not created.
    pub fn new(prefix: &str, name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}
