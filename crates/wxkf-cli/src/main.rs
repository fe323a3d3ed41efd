//! `wxkf`: verify, decrypt and encrypt WeCom / WeChat Customer Service callbacks from the shell,
//! and generate callback credentials. See the README for usage with the official test vectors.
//!
//! Exit status: 0 on success, 1 when the operation fails (a callback that does not verify or
//! decrypt, a plaintext that is not UTF-8), 2 for usage errors (clap's own, and inputs that cannot
//! be read).
#![deny(missing_docs)]

mod api;
mod args;
mod callback_check;
mod commands;
mod doctor;
mod secrets;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match commands::run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}
