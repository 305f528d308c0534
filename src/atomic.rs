//! Crash-safe file replacement.

use std::io::Write;
use std::path::Path;

/// Replaces `path` with `bytes` so that after a crash or power cut the file
/// holds either its old or its new content: write a temporary file beside it,
/// fsync it, rename it over `path`, fsync the directory.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("no file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        // A full disk must not leave the temporary file behind.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
