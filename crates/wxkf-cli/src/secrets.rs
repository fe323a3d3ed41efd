//! Where a secret comes from: a `--*-file`, the environment, or a flag (which is visible in the
//! process list, so using one prints a warning).

use std::io::Write;
use std::path::Path;

/// One secret's three possible sources, named for messages.
pub(crate) struct Source<'a> {
    /// The flag that carries the value itself, e.g. `--secret`.
    pub(crate) flag: &'a str,
    /// Its value, if given.
    pub(crate) value: Option<String>,
    /// The flag that names a file, e.g. `--secret-file`.
    pub(crate) file_flag: &'a str,
    /// That file, if given.
    pub(crate) file: Option<&'a Path>,
    /// The environment variable read when neither flag is given.
    pub(crate) env: &'a str,
}

/// Why a secret could not be read (a usage error: exit 2).
pub(crate) struct Unreadable(pub(crate) String);

/// The secret from the flag (with a warning on stderr), else the file (first line, without its line
/// ending), else the environment; `None` when none of them has it.
pub(crate) fn resolve(source: Source<'_>) -> Result<Option<String>, Unreadable> {
    if let Some(value) = source.value {
        let _ = writeln!(
            std::io::stderr(),
            "warning: {} puts the secret in the process list and the shell history; prefer {} or {} FILE",
            source.flag,
            source.env,
            source.file_flag
        );
        return Ok(Some(value));
    }
    if let Some(path) = source.file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Unreadable(format!("cannot read {} {path:?}: {e}", source.file_flag)))?;
        // a file written by `echo` ends with a newline that is no part of the secret
        let first = text.lines().next().unwrap_or("");
        return Ok(Some(first.to_owned()));
    }
    Ok(std::env::var(source.env).ok())
}
