//! Crash-safe file writes: a file or folder is first written and synced under a temporary
//! name, then renamed into place and its parent folder synced. A process killed at any moment
//! (or a machine losing power) leaves either the old or the new version, never a mix.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{AlgoError, Result};

/// Forces a file's contents to disk.
///
/// # Errors
/// If it cannot be opened or synced.
pub fn sync_file(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| AlgoError::io(path, e))
}

/// Forces a folder's entries (names created, renamed or removed in it) to disk. A no-op where
/// folders cannot be opened for syncing (Windows).
///
/// # Errors
/// If the sync itself fails.
pub fn sync_dir(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        File::open(path)
            .and_then(|f| f.sync_all())
            .map_err(|e| AlgoError::io(path, e))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

/// The parent folder of `path` (`.` for a bare name).
pub fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes `bytes` to `path` atomically: a synced temporary sibling renamed over it, then the
/// folder synced.
///
/// # Errors
/// I/O errors (the temporary file is removed).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "file".into());
    let tmp = parent_of(path).join(format!(".{name}.tmp-{}", std::process::id()));
    let written = std::fs::write(&tmp, bytes)
        .and_then(|_| File::open(&tmp)?.sync_all())
        .and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(AlgoError::io(path, e));
    }
    sync_dir(&parent_of(path))
}

/// Puts the complete folder `tmp` (already synced) at `target`. A `target` that exists is
/// swapped out in one atomic step where the system offers it (Linux `renameat2` with
/// `RENAME_EXCHANGE`), so there is no moment without a `target`; elsewhere the old folder is
/// moved aside first. The old contents are then removed.
///
/// # Errors
/// I/O errors.
pub fn replace_dir(tmp: &Path, target: &Path) -> Result<()> {
    let parent = parent_of(target);
    if target.exists() {
        if !exchange(tmp, target) {
            let name = target
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let old = parent.join(format!(".{name}.old-{}", std::process::id()));
            std::fs::rename(target, &old).map_err(|e| AlgoError::io(target, e))?;
            std::fs::rename(tmp, target).map_err(|e| AlgoError::io(target, e))?;
            sync_dir(&parent)?;
            let _ = std::fs::remove_dir_all(&old);
            return Ok(());
        }
        // `tmp` now holds the old contents.
        sync_dir(&parent)?;
        let _ = std::fs::remove_dir_all(tmp);
    } else {
        std::fs::rename(tmp, target).map_err(|e| AlgoError::io(target, e))?;
    }
    sync_dir(&parent)
}

/// Atomically swaps two paths; false where the system cannot.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> bool {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let (Ok(ca), Ok(cb)) = (
        CString::new(a.as_os_str().as_bytes()),
        CString::new(b.as_os_str().as_bytes()),
    ) else {
        return false;
    };
    // SAFETY: both are valid NUL-terminated paths; renameat2 reads them and returns a status.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    rc == 0
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> bool {
    false
}

/// Syncs every file of a folder, then the folder itself.
///
/// # Errors
/// I/O errors.
pub fn sync_tree(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| AlgoError::io(dir, e))? {
        let entry = entry.map_err(|e| AlgoError::io(dir, e))?;
        let path = entry.path();
        if path.is_dir() {
            sync_tree(&path)?;
        } else {
            sync_file(&path)?;
        }
    }
    sync_dir(dir)
}

/// Removes leftovers of writers that were killed: `.NAME.tmp-PID` and `.NAME.old-PID`
/// entries in `dir` whose process is not this one.
pub fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let own = format!("-{}", std::process::id());
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let stale = name.starts_with('.')
            && (name.contains(".tmp-") || name.contains(".old-"))
            && !name.ends_with(&own);
        if stale {
            let path = entry.path();
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
}
