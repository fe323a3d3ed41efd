//! Load scenarios of the bot runtime against the built-in simulator, with the figures printed
//! (docs/benchmarks.md, "wxkf-bot runtime"). The bot is wxkf-bot behind `wxkf_axum::bot_router`
//! with the real client; every customer message reaches it as a signed, encrypted callback.
//!
//! ```sh
//! cargo run --release --example load                 # all three scenarios
//! cargo run --release --example load -- concurrency  # 20 customers x 1 s handler, 100 x 2 s
//! cargo run --release --example load -- throughput   # 1,000 customers x 5 messages, 3 rounds
//! cargo run --release --example load -- memory       # the bot in its own process, 10 rounds, RSS
//! cargo run --release --example load -- crowd --customers 10000 --handler-ms 5000
//! ```
//!
//! `crowd` (issue 19): the bot in its own process on the durable embedded store, with a handler
//! that sleeps `--handler-ms` (an LLM call) and `max_concurrent_handlers` and
//! `max_in_flight_per_account` raised to the number of customers (at least 10,000); every one of
//! `--customers` customers writes one message at once. It prints the time from the first
//! customer's message to the last answer, the bot process's peak RSS (`VmHWM`) and live heap
//! (while the crowd waits and after), and this process's (the simulator's) own peak RSS.
//!
//! `memory` prints, after each round, the bot process's resident set (RSS) and its live heap: the
//! bytes allocated and not yet freed, counted by this example's global allocator (`cap`, one
//! atomic add per allocation). A live heap that stays level while RSS creeps up is freed memory
//! the system allocator keeps, not memory the bot holds.
//!
//! `memory` takes `--rounds=N` (default 10) and `--dedupe-capacity=N` (the memory store's
//! `BotConfig::dedupe_capacity`, default 200 000: set it below the messages of the run to see the
//! memory of everything but the remembered msgids); `WXKF_LOAD_WRAP=heaptrack` runs the bot
//! process under that profiler (or any command that takes a program and its arguments). Add `--data-dir` to keep the bot's state in the durable embedded store (a temporary
//! directory) instead of memory. `memory` runs the bot as a child process (this example, started
//! again with `--serve-bot`) so that its resident set is not mixed with the simulator's, which
//! keeps every message and send.

#[path = "../crates/wxkf-sim/benches/load/mod.rs"]
mod load;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use load::Store;
use wxkf_axum::bot::{BotConfig, HandlerError, ReplyContext, handler_fn};
use wxkf_types::message::Message;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The system allocator, counting the bytes allocated and not yet freed (the live heap).
#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

#[tokio::main]
async fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--serve-bot") {
        return serve_bot().await;
    }
    let data_dir = args.iter().any(|a| a == "--data-dir");
    // `--rounds=N`: rounds of the memory scenario (default 10: ten times the throughput load)
    let rounds = args
        .iter()
        .find_map(|a| a.strip_prefix("--rounds="))
        .map(|n| n.parse::<usize>().map_err(|_| format!("--rounds takes a number, got {n:?}")))
        .transpose()?
        .unwrap_or(10);
    // `--dedupe-capacity=N`: the memory store's BotConfig::dedupe_capacity in the memory scenario
    let dedupe_capacity = args
        .iter()
        .find_map(|a| a.strip_prefix("--dedupe-capacity="))
        .map(|n| n.parse::<usize>().map_err(|_| format!("--dedupe-capacity takes a number, got {n:?}")))
        .transpose()?;
    let store = || -> Store {
        if data_dir {
            let dir = std::env::temp_dir().join(format!("wxkf-load-{}-{}", std::process::id(), load_nonce()));
            Store::Dir(dir)
        } else {
            Store::Memory
        }
    };
    let which = args.iter().find(|a| !a.starts_with("--")).map(String::as_str).unwrap_or("all");
    println!("store: {}", if data_dir { "data_dir (durable embedded store)" } else { "memory" });
    if matches!(which, "all" | "concurrency") {
        concurrency(20, Duration::from_secs(1), &store()).await?;
        concurrency(100, Duration::from_secs(2), &store()).await?;
    }
    if matches!(which, "all" | "throughput") {
        throughput(1_000, 5, 3, &store()).await?;
    }
    if which == "crowd" {
        let flag = |name: &str| -> Res<Option<u64>> {
            let eq = format!("{name}=");
            let value = args
                .iter()
                .position(|a| a == name)
                .and_then(|i| args.get(i + 1).cloned())
                .or_else(|| args.iter().find_map(|a| a.strip_prefix(eq.as_str()).map(str::to_owned)));
            value
                .map(|v| v.parse::<u64>().map_err(|_| format!("{name} takes a number, got {v:?}").into()))
                .transpose()
        };
        let customers = flag("--customers")?.unwrap_or(10_000) as usize;
        let handler_ms = flag("--handler-ms")?.unwrap_or(5_000);
        return crowd(customers, Duration::from_millis(handler_ms)).await;
    }
    if matches!(which, "all" | "memory") {
        memory(1_000, 5, rounds, data_dir, dedupe_capacity).await?;
    }
    Ok(())
}

fn load_nonce() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// `customers` customers write one message each at once to a handler that takes `work`.
async fn concurrency(customers: usize, work: Duration, store: &Store) -> Res<()> {
    let (sim, list) = load::start_sim(customers).await;
    let handler = handler_fn(move |ctx: ReplyContext, _msg: Message| async move {
        tokio::time::sleep(work).await;
        ctx.reply_text("done").await?;
        Ok::<(), HandlerError>(())
    });
    let bot = load::start_bot(&sim, store, handler).await;
    let took = load::round(&sim, &list, 1, 1, Duration::from_secs(600))
        .await
        .ok_or("not every customer was answered")?;
    println!(
        "concurrency: {customers} customers, {work:?} handler: all answered after {:.2} s",
        took.as_secs_f64()
    );
    bot.stop().await;
    sim.shutdown();
    cleanup(store);
    Ok(())
}

/// `rounds` rounds of `customers` customers x `per_customer` messages to the echo bot.
async fn throughput(customers: usize, per_customer: usize, rounds: usize, store: &Store) -> Res<()> {
    let (sim, list) = load::start_sim(customers).await;
    let bot = load::start_bot(&sim, store, load::echo()).await;
    let n = customers * per_customer;
    for r in 1..=rounds {
        let took = load::round(&sim, &list, per_customer, r, Duration::from_secs(600))
            .await
            .ok_or("not every message was answered")?;
        println!(
            "throughput: round {r}: {customers} customers x {per_customer} messages = {n} answered in {:.2} s: {:.0} messages/s",
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64()
        );
    }
    bot.stop().await;
    sim.shutdown();
    cleanup(store);
    Ok(())
}

/// The echo bot in a child process; `rounds` rounds of the throughput load, the child's RSS after
/// each.
async fn memory(
    customers: usize,
    per_customer: usize,
    rounds: usize,
    data_dir: bool,
    dedupe_capacity: Option<usize>,
) -> Res<()> {
    let (sim, list) = load::start_sim(customers).await;
    let (token, key) = wxkf_crypto::generate_credentials()?;
    let dir = std::env::temp_dir().join(format!("wxkf-load-child-{}-{}", std::process::id(), load_nonce()));
    // `WXKF_LOAD_WRAP=heaptrack` runs the bot under a profiler (any command that takes the
    // program and its arguments)
    let mut cmd = match std::env::var("WXKF_LOAD_WRAP") {
        Ok(wrap) if !wrap.is_empty() => {
            let mut c = Command::new(wrap);
            c.arg(std::env::current_exe()?);
            c
        }
        _ => Command::new(std::env::current_exe()?),
    };
    if let Some(n) = dedupe_capacity {
        cmd.env("WXKF_LOAD_DEDUPE_CAPACITY", n.to_string());
    }
    cmd.arg("--serve-bot")
        .env("WXKF_CORP_ID", sim.corp_id())
        .env("WXKF_APP_SECRET", sim.secret())
        .env("WXKF_BASE_URL", sim.base_url())
        .env("WXKF_TOKEN", token.expose_secret())
        .env("WXKF_ENCODING_AES_KEY", key.expose_secret())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    if data_dir {
        cmd.env("WXKF_DATA_DIR", &dir);
    } else {
        cmd.env_remove("WXKF_DATA_DIR");
    }
    let mut child = cmd.spawn()?;
    let pid = child.id().to_string();
    // the callback URL is the child's first line that is one (a wrapper may print before it)
    let mut lines = BufReader::new(child.stdout.take().ok_or("no child stdout")?).lines();
    let url = loop {
        match lines.next() {
            Some(line) => {
                let line = line?;
                if line.starts_with("http://") {
                    break line;
                }
            }
            None => return Err("the bot process ended before serving".into()),
        }
    };
    sim.set_callback(url.trim(), token.expose_secret(), key.expose_secret())?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss = || load::rss_kib_of(&pid).unwrap_or(0);
    println!("memory: bot process {pid}, RSS after start: {} KiB", rss());
    let mut to_child = child.stdin.take().ok_or("no child stdin")?;
    // the bot process's live heap: it answers `heap` on its stdin with a line `HEAP <KiB>`
    let mut live_heap = move || -> Res<String> {
        use std::io::Write;
        writeln!(to_child, "heap")?;
        loop {
            let line = lines.next().ok_or("the bot process ended")??;
            if let Some(kib) = line.strip_prefix("HEAP ") {
                return Ok(kib.trim().to_owned());
            }
        }
    };
    let n = customers * per_customer;
    let started = Instant::now();
    for r in 1..=rounds {
        let took = load::round(&sim, &list, per_customer, r, Duration::from_secs(600))
            .await
            .ok_or("not every message was answered")?;
        // let the bot's last cursor save and dedupe write land before reading its RSS
        tokio::time::sleep(Duration::from_millis(300)).await;
        let resident = rss();
        let heap = live_heap()?;
        // mostly the keep-alive connections of the simulator's callback client (Linux only)
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count);
        println!(
            "memory: round {r:2}: {n} messages in {:.2} s ({:.0}/s), {} answered so far, bot RSS {resident} KiB, live heap {heap} KiB, open files {fds}",
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64(),
            n * r,
        );
    }
    println!("memory: {} messages in {:.1} s", n * rounds, started.elapsed().as_secs_f64());
    drop(live_heap); // the child shuts down when its stdin closes
    let _ = child.wait();
    sim.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Child mode: the echo bot, configured by the environment, serving until stdin closes.
async fn serve_bot() -> Res<()> {
    let var = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
    let crowd_ms = std::env::var("WXKF_LOAD_HANDLER_MS").ok().and_then(|n| n.parse::<u64>().ok());
    let store = match std::env::var_os("WXKF_DATA_DIR") {
        Some(d) => Store::Dir(d.into()),
        None => Store::Memory,
    };
    let mut config = BotConfig::default();
    if let Ok(n) = std::env::var("WXKF_LOAD_DEDUPE_CAPACITY") {
        config.dedupe_capacity =
            n.parse().map_err(|_| format!("WXKF_LOAD_DEDUPE_CAPACITY: not a number: {n:?}"))?;
    }
    let creds = load::Credentials {
        corp_id: var("WXKF_CORP_ID")?,
        secret: var("WXKF_APP_SECRET")?,
        base_url: var("WXKF_BASE_URL")?,
        token: var("WXKF_TOKEN")?,
        aes_key: var("WXKF_ENCODING_AES_KEY")?,
    };
    if let Ok(n) = std::env::var("WXKF_LOAD_LIMITS") {
        let n = n.parse().map_err(|_| format!("WXKF_LOAD_LIMITS: not a number: {n:?}"))?;
        config.max_concurrent_handlers = n;
        config.max_in_flight_per_account = n;
    }
    let (bot, url) = match crowd_ms {
        // crowd: a handler that takes `ms` (an LLM call), then answers
        Some(ms) => {
            let work = Duration::from_millis(ms);
            let handler = handler_fn(move |ctx: ReplyContext, _msg: Message| async move {
                tokio::time::sleep(work).await;
                ctx.reply_text("done").await?;
                Ok::<(), HandlerError>(())
            });
            load::serve_bot(handler, &creds, &store, config).await
        }
        None => load::serve_bot(load::echo(), &creds, &store, config).await,
    };
    println!("{url}");
    // answers the parent's `heap` questions until it closes stdin
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        while std::io::stdin().read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            if line.trim() == "heap" {
                println!("HEAP {}", ALLOCATOR.allocated() / 1024);
            }
            line.clear();
        }
    })
    .await?;
    bot.stop().await;
    Ok(())
}

/// A process's peak resident set in KiB (`VmHWM` of /proc/`pid`/status; Linux only).
fn peak_rss_kib_of(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `customers` customers write one message each at once to a bot process whose handler takes
/// `work`, on the durable store, with the handler and in-flight limits raised for the crowd.
async fn crowd(customers: usize, work: Duration) -> Res<()> {
    // `WXKF_LOAD_CALLBACK_CONCURRENCY=N`: at most N callback requests in flight (0: no limit)
    let slots = std::env::var("WXKF_LOAD_CALLBACK_CONCURRENCY").ok().and_then(|n| n.parse::<usize>().ok());
    let builder = match slots {
        Some(0) => wxkf_sim::Sim::builder(),
        Some(n) => wxkf_sim::Sim::builder().callback_concurrency(n),
        None => wxkf_sim::Sim::builder().callback_concurrency(64),
    };
    println!(
        "crowd: simulator callback concurrency: {}",
        slots.map_or("64".to_owned(), |n| if n == 0 { "no limit".to_owned() } else { n.to_string() })
    );
    let (sim, list) = load::start_sim_with(customers, builder).await;
    let (token, key) = wxkf_crypto::generate_credentials()?;
    let dir = std::env::temp_dir().join(format!("wxkf-load-crowd-{}-{}", std::process::id(), load_nonce()));
    let limits = customers.max(10_000);
    let mut child = Command::new(std::env::current_exe()?)
        .arg("--serve-bot")
        .env("WXKF_CORP_ID", sim.corp_id())
        .env("WXKF_APP_SECRET", sim.secret())
        .env("WXKF_BASE_URL", sim.base_url())
        .env("WXKF_TOKEN", token.expose_secret())
        .env("WXKF_ENCODING_AES_KEY", key.expose_secret())
        .env("WXKF_DATA_DIR", &dir)
        .env("WXKF_LOAD_HANDLER_MS", work.as_millis().to_string())
        .env("WXKF_LOAD_LIMITS", limits.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let pid = child.id().to_string();
    let mut lines = BufReader::new(child.stdout.take().ok_or("no child stdout")?).lines();
    let url = loop {
        let line = lines.next().ok_or("the bot process ended before serving")??;
        if line.starts_with("http://") {
            break line;
        }
    };
    sim.set_callback(url.trim(), token.expose_secret(), key.expose_secret())?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut to_child = child.stdin.take().ok_or("no child stdin")?;
    let mut live_heap = move || -> Res<String> {
        use std::io::Write;
        writeln!(to_child, "heap")?;
        loop {
            let line = lines.next().ok_or("the bot process ended")??;
            if let Some(kib) = line.strip_prefix("HEAP ") {
                return Ok(kib.trim().to_owned());
            }
        }
    };
    let idle_rss = load::rss_kib_of(&pid).unwrap_or(0);
    let idle_heap = live_heap()?;
    let sim_before = load::rss_kib().unwrap_or(0);
    let start = Instant::now();
    // `WXKF_LOAD_TIMELINE=1`: every 100 ms, the sync_msg pulls and answers so far
    let timeline = std::env::var("WXKF_LOAD_TIMELINE").is_ok_and(|v| v == "1").then(|| {
        let sim = sim.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                eprintln!(
                    "timeline {:>5.1} s: sync_msg {:>4}, callbacks {:>6}, answered {:>6}",
                    start.elapsed().as_secs_f64(),
                    sim.call_count("/cgi-bin/kf/sync_msg"),
                    sim.callbacks().len(),
                    sim.sent_count()
                );
            }
        })
    });
    for c in &list {
        c.say("hello");
    }
    let wrote = start.elapsed();
    // half way through the handlers' time every conversation is waiting or running
    tokio::time::sleep((work / 2).saturating_sub(wrote)).await;
    let waiting_heap = live_heap()?;
    let waiting_rss = load::rss_kib_of(&pid).unwrap_or(0);
    let answered = load::wait_for_count(&sim, customers, Duration::from_secs(600)).await;
    let last = start.elapsed();
    if let Some(t) = timeline {
        t.abort();
    }
    if !answered {
        return Err(format!("only {} of {customers} customers were answered", sim.sent_count()).into());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after_heap = live_heap()?;
    let peak = peak_rss_kib_of(&pid).unwrap_or(0);
    let sim_peak = peak_rss_kib_of("self").unwrap_or(0);
    println!(
        "crowd: {customers} customers, {work:?} handler, limits {limits}: written in {:.2} s, last answer {:.2} s after the first message",
        wrote.as_secs_f64(),
        last.as_secs_f64()
    );
    println!(
        "crowd: bot process {pid}: peak RSS {} MiB (idle {} MiB, while waiting {} MiB); live heap idle {idle_heap} KiB, while waiting {waiting_heap} KiB, after {after_heap} KiB",
        peak / 1024,
        idle_rss / 1024,
        waiting_rss / 1024
    );
    println!(
        "crowd: simulator process (this one): peak RSS {} MiB (before the crowd {} MiB)",
        sim_peak / 1024,
        sim_before / 1024
    );
    drop(live_heap);
    let _ = child.wait();
    sim.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn cleanup(store: &Store) {
    if let Store::Dir(dir) = store {
        let _ = std::fs::remove_dir_all(dir);
    }
}
