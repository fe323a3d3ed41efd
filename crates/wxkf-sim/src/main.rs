//! `wxkf-sim`: run the WeCom Kf simulator on a port, optionally play a scenario file or chat as a
//! customer in the terminal. See the crate README.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tokio::io::{AsyncBufReadExt, BufReader};
use wxkf_sim::scenario::{Scenario, describe};
use wxkf_sim::{Sim, SimHandle};

/// A local WeCom Kf (微信客服) simulator.
#[derive(Debug, Parser)]
#[command(name = "wxkf-sim", version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8787", env = "WXKF_SIM_LISTEN")]
    listen: SocketAddr,
    /// The simulated corp's CorpID.
    #[arg(long, default_value = "wwsimcorp", env = "WXKF_CORP_ID")]
    corp_id: String,
    /// The secret gettoken accepts.
    #[arg(long, default_value = "sim-secret", env = "WXKF_SECRET")]
    secret: String,
    /// Where to push kf_msg_or_event callbacks (needs --token and --aes-key).
    #[arg(long, env = "WXKF_CALLBACK_URL", requires_all = ["token", "aes_key"])]
    callback_url: Option<String>,
    /// The callback Token.
    #[arg(long, env = "WXKF_CALLBACK_TOKEN")]
    token: Option<String>,
    /// The callback EncodingAESKey (43 characters).
    #[arg(long, env = "WXKF_ENCODING_AES_KEY")]
    aes_key: Option<String>,
    /// Play this scenario (.json or .toml), then exit with its result (unless --interactive).
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Chat as a customer in the terminal.
    #[arg(long)]
    interactive: bool,
    /// The Kf account of the interactive customer.
    #[arg(long, default_value = "wkSIMDEMO")]
    open_kfid: String,
    /// The interactive customer's external_userid.
    #[arg(long, default_value = "wmSIMCUSTOMER")]
    customer: String,
    /// sync_msg calls without a token allowed per account per minute (0: no limit).
    #[arg(long, default_value_t = wxkf_sim::TokenlessSyncLimit::DEFAULT_CALLS)]
    tokenless_sync_per_minute: u32,
    /// Retry callbacks answered with a non-2xx HTTP status too (WeCom does not).
    #[arg(long)]
    retry_on_status: bool,
    /// Give each new session to a receiving servicer at once (state 3).
    #[arg(long)]
    auto_assign: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let mut builder = Sim::builder()
        .corp_id(&args.corp_id)
        .secret(&args.secret)
        .listen(args.listen)
        .retry_on_status(args.retry_on_status)
        .auto_assign(args.auto_assign);
    builder = match args.tokenless_sync_per_minute {
        0 => builder.no_tokenless_sync_limit(),
        calls => builder.tokenless_sync_limit(calls, Duration::from_secs(60)),
    };
    if let (Some(url), Some(token), Some(key)) = (&args.callback_url, &args.token, &args.aes_key) {
        builder = builder.callback(url, token, key);
    }
    let sim = match builder.start().await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("wxkf-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("wxkf-sim: WeCom Kf API at {} (corp {}, secret {})", sim.base_url(), args.corp_id, args.secret);
    if args.callback_url.is_none() {
        eprintln!("wxkf-sim: no --callback-url: customers' messages are only visible through sync_msg");
    }
    if let Some(path) = &args.scenario {
        let result = match Scenario::load(path) {
            Ok(s) => s.run_with(&sim, |line| println!("{line}")).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(report) => {
                println!("scenario passed: {} steps, {} messages sent", report.steps, report.sent.len())
            }
            Err(e) => {
                eprintln!("wxkf-sim: {e}");
                if !args.interactive {
                    return ExitCode::FAILURE;
                }
            }
        }
        if !args.interactive {
            return ExitCode::SUCCESS;
        }
    }
    if args.interactive {
        interactive(&sim, &args.open_kfid, &args.customer).await;
    } else {
        let _ = tokio::signal::ctrl_c().await;
    }
    sim.shutdown();
    ExitCode::SUCCESS
}

const HELP: &str = "type a message and press Enter; commands: /enter  /image  /advance SECS  /revoke  /quit";

async fn interactive(sim: &SimHandle, open_kfid: &str, external_userid: &str) {
    let customer = sim.customer(open_kfid, external_userid);
    println!("You are {external_userid} talking to {open_kfid}. {HELP}");
    let watcher = {
        let sim = sim.clone();
        tokio::spawn(async move {
            let mut seen = sim.sent().len();
            loop {
                let sent = sim.wait_for_sent(seen + 1, Duration::from_secs(3600)).await;
                for m in &sent[seen.min(sent.len())..] {
                    println!("bot -> {}: {}", m.touser, describe(m));
                }
                seen = sent.len();
            }
        })
    };
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let line = line.trim();
        let mut words = line.split_whitespace();
        match words.next() {
            None => {}
            Some("/quit") => break,
            Some("/enter") => {
                let code = customer.enter();
                println!("(entered{})", if code.is_some() { "; welcome code issued" } else { "" });
            }
            Some("/image") => {
                customer.send_image((0..2048u32).map(|n| (n % 251) as u8).collect::<Vec<u8>>());
            }
            Some("/advance") => match words.next().and_then(|s| s.parse::<u64>().ok()) {
                Some(secs) => {
                    sim.advance(Duration::from_secs(secs));
                    println!("(clock advanced {secs} s)");
                }
                None => println!("usage: /advance SECS"),
            },
            Some("/revoke") => {
                sim.revoke_tokens();
                println!("(access tokens revoked)");
            }
            Some(cmd) if cmd.starts_with('/') => println!("{HELP}"),
            Some(_) => {
                customer.say(line);
            }
        }
    }
    watcher.abort();
}
