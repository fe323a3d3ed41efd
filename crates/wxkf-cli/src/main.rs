//! `wxkf`: the command for WeChat Customer Service (WeCom Kf) operators. `doctor` and
//! `check-callback` find what is wrong with a setup; `token`, `accounts`, `servicers`, `send`,
//! `sync`, `state` and `errcode` call the Kf API from the shell; `verify-url`, `decrypt`, `encrypt`
//! and `keygen` handle callback crypto by hand. See the README.
//!
//! Exit status: 0 on success, 1 when the operation fails (a ✗ check, an error from WeCom, a
//! callback that does not verify or decrypt, a plaintext that is not UTF-8), 2 for usage errors
//! (clap's own, and inputs or secret files that cannot be read).
#![deny(missing_docs)]

mod api;
mod args;
mod callback_check;
mod check;
mod commands;
mod doctor;
mod gateway;
mod output;
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
