//! What the CLI test files share: the built `wxkf` binary started with none of the test's own
//! `WXKF_*` variables, what one run of it did, and temporary files. Each file keeps its own
//! `impl Output` assertions (`ok`, `fails`), which differ on purpose: `cli.rs` wants a silent
//! stderr on success, `operator.rs` reads both streams.

#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Every variable the binary reads, removed before a run so the test's environment cannot leak in.
const WXKF_VARS: &[&str] = &[
    "WXKF_TOKEN",
    "WXKF_ENCODING_AES_KEY",
    "WXKF_CORP_ID",
    "WXKF_APP_SECRET",
    "WXKF_BASE_URL",
    "WXKF_GATEWAY_API_TOKEN",
];

/// What one run of the binary did.
#[derive(Debug)]
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The binary with `args` and exactly the `WXKF_*` variables of `env`; stdin empty, stdout and
/// stderr piped.
pub fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wxkf"));
    cmd.args(args);
    for var in WXKF_VARS {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied()).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// Runs `cmd` to its end, writing `stdin` to it first if given (blocking).
pub fn run(mut cmd: Command, stdin: Option<&[u8]>) -> Output {
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("the wxkf binary starts");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        // a wxkf that fails before reading stdin closes the pipe; that is its answer, not a test error
        if let Err(e) = pipe.write_all(input) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "writing stdin: {e}");
        }
    }
    let out = child.wait_with_output().expect("wxkf finishes");
    Output {
        status: out.status.code().expect("wxkf exits normally, not by a signal"),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// Writes `contents` to a file of the test target's temporary folder, unique to this process.
pub fn temp_file(name: &str, contents: &[u8]) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-{name}", std::process::id()));
    std::fs::write(&path, contents).expect("the temp file is writable");
    path
}
