//! How a subcommand's failure is reported, usage errors, and printing to stdout: shared by
//! every subcommand module, so none of them imports another's dispatcher.

use crate::args::Cli;
use clap::CommandFactory;
use clap::error::ErrorKind;
use std::io::{self, Write};
use wxkf_crypto::Error;

/// Why a subcommand did not succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The crypto refused: exit 1, with the official code, the hint and perhaps a diagnosis.
    Crypto {
        /// What failed.
        error: Error,
        /// What trying the other half of the check found out, if it was tried.
        note: Option<String>,
    },
    /// Another runtime failure: exit 1.
    Other {
        /// What failed.
        message: String,
        /// What to check.
        hint: &'static str,
    },
    /// Another runtime failure with a hint made at run time: exit 1.
    Message {
        /// What failed.
        message: String,
        /// What to do.
        hint: String,
    },
    /// WeCom answered with an error, or could not be reached: exit 1.
    Api(wxkf_client::Error),
    /// The command already printed what failed (doctor, check-callback): exit 1.
    Reported,
    /// The command line asked for something that cannot be done: exit 2, like clap's own errors.
    Usage(clap::Error),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::Crypto { error, note: None }
    }
}

impl Failure {
    /// Prints the failure to stderr and returns the exit status. Nothing here holds the Token or
    /// the key: `wxkf_crypto::Error` never carries them.
    pub(crate) fn report(self) -> std::process::ExitCode {
        let text = match self {
            Failure::Crypto { error, note } => {
                let mut text = format!("error: {error} (code {})\nhint: {}\n", error.code(), error.hint());
                if let Some(note) = note {
                    text.push_str(&format!("note: {note}\n"));
                }
                text
            }
            Failure::Other { message, hint } => format!("error: {message}\nhint: {hint}\n"),
            Failure::Message { message, hint } => format!("error: {message}\nhint: {hint}\n"),
            Failure::Api(error) => api_error_text(&error),
            Failure::Reported => return std::process::ExitCode::FAILURE,
            Failure::Usage(error) => {
                // clap formats it (with the usage line) and knows its exit status
                let _ = error.print();
                return std::process::ExitCode::from(2);
            }
        };
        let _ = io::stderr().write_all(text.as_bytes());
        std::process::ExitCode::FAILURE
    }
}

/// A client error with its cause chain (never a secret: wxkf-client strips URLs and tokens), and
/// where to read more about an errcode.
fn api_error_text(error: &wxkf_client::Error) -> String {
    let mut text = format!("error: {error}\n");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!("caused by: {cause}\n"));
        source = cause.source();
    }
    match error.errcode() {
        Some(code) => text.push_str(&format!("hint: `wxkf errcode {code}` explains the code\n")),
        None if error.is_timeout() => {
            text.push_str("hint: WeCom did not answer in time; check the network\n")
        }
        None => text.push_str("hint: check WXKF_BASE_URL (or --base-url) and the network\n"),
    }
    text
}

/// A usage error formatted by clap with the subcommand's usage line.
pub(crate) fn usage(subcommand: &str, kind: ErrorKind, message: impl std::fmt::Display) -> Failure {
    let mut root = Cli::command();
    root.build();
    let error = match root.find_subcommand_mut(subcommand) {
        Some(sub) => sub.error(kind, message),
        None => root.error(kind, message),
    };
    Failure::Usage(error)
}

/// Writes `text` and one newline to stdout.
pub(crate) fn print_line(text: &str) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush()).map_err(
        |e| Failure::Other {
            message: format!("cannot write to stdout: {e}"),
            hint: "check where the output is redirected",
        },
    )
}
