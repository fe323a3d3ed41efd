//! [`LocalStore`]: the three store traits with the meaning of the in-memory stores, persistence
//! across a reopen, expiry and sweeping of msgids, atomic budget takes, the file lock against a
//! second process, and `kill -9` in the middle of a stream of commits.
//!
//! Tests that need a second process re-run this test binary on the same test with an environment
//! variable (`CHILD_ENV`) that selects what the child does; without it the test is the parent and
//! asserts.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wxkf_bot::{
    Budget, BudgetStore, CursorStore, DedupeStore, FileCursorStore, LocalStore, REPLIES_PER_WINDOW,
    REPLY_WINDOW_SECS,
};

/// Selects the child's part: `open` (try to open `CHILD_DIR`), `env-open` (LocalStore::from_env),
/// `writer` (commit in a loop until killed).
const CHILD_ENV: &str = "WXKF_LOCAL_STORE_TEST_CHILD";
const CHILD_DIR: &str = "WXKF_LOCAL_STORE_TEST_DIR";
const CHILD_ROUND: &str = "WXKF_LOCAL_STORE_TEST_ROUND";

const THREE_DAYS: Duration = Duration::from_secs(3 * 24 * 3600);

/// A directory of its own per test and run (removed first if an earlier run left it).
fn fresh_dir(test: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "wxkf-local-store-{test}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// This test binary, re-run on `test` only, in child mode `mode`.
fn child(test: &str, mode: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"]).env(CHILD_ENV, mode);
    cmd
}

/// What follows `prefix` on the lines of a child's stdout that have it (libtest may have printed
/// the test's name before it on the same line).
fn lines_with(stdout: &[u8], prefix: &str) -> Vec<String> {
    String::from_utf8_lossy(stdout).lines().filter_map(|l| after(l, prefix)).map(str::to_owned).collect()
}

fn after<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    line.find(prefix).map(|i| &line[i + prefix.len()..])
}

/// Child part `open` / `env-open`: report on stdout how opening went.
fn child_open(mode: &str) {
    let opened = match mode {
        "env-open" => LocalStore::from_env(),
        _ => LocalStore::open(std::env::var(CHILD_DIR).unwrap()),
    };
    match opened {
        Ok(store) => println!("OPEN-OK {}", store.path().display()),
        Err(e) => println!("OPEN-ERR {:?} {e}", e.kind()),
    }
}

#[tokio::test]
async fn cursors_are_kept_per_open_kfid_and_survive_a_reopen() {
    let dir = fresh_dir("cursors");
    let store = LocalStore::open(&dir).unwrap();
    assert_eq!(store.path(), dir.join("wxkf-bot.redb"));
    assert!(store.path().is_file());
    assert_eq!(store.load("wk1").await.unwrap(), None);
    store.save("wk1", "c1").await.unwrap();
    store.save("wk2", "x").await.unwrap();
    // a clone shares the database
    store.clone().save("wk1", "c2").await.unwrap();
    assert_eq!(store.load("wk1").await.unwrap().as_deref(), Some("c2"));
    drop(store);

    let store = LocalStore::open(&dir).unwrap();
    assert_eq!(store.load("wk1").await.unwrap().as_deref(), Some("c2"));
    assert_eq!(store.load("wk2").await.unwrap().as_deref(), Some("x"));
    assert_eq!(store.load("wk3").await.unwrap(), None);
    // the accounts the runtime pulls once at start
    let mut accounts = store.accounts().await.unwrap();
    accounts.sort();
    assert_eq!(accounts, ["wk1", "wk2"]);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn open_creates_missing_directories() {
    let dir = fresh_dir("nested").join("a").join("b");
    let store = LocalStore::open(&dir).unwrap();
    store.save("wk1", "c1").await.unwrap();
    assert!(dir.join("wxkf-bot.redb").is_file());
    drop(store);
    std::fs::remove_dir_all(dir.parent().unwrap().parent().unwrap()).unwrap();
}

#[tokio::test]
async fn open_errors_name_the_path() {
    let dir = fresh_dir("open-errors");
    std::fs::create_dir_all(&dir).unwrap();
    // a file where the data directory should be
    let file = dir.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let err = LocalStore::open(file.join("data")).unwrap_err();
    assert!(err.to_string().starts_with("cannot create the data directory"), "{err}");
    assert!(err.to_string().contains(&file.join("data").display().to_string()), "{err}");
    // a state file that is not a database
    let damaged = dir.join("damaged");
    std::fs::create_dir_all(&damaged).unwrap();
    std::fs::write(damaged.join("wxkf-bot.redb"), vec![0x5a; 64 * 1024]).unwrap();
    let err = LocalStore::open(&damaged).unwrap_err();
    assert!(err.to_string().starts_with("cannot open the bot's state in"), "{err}");
    assert!(err.to_string().contains("move it away if it is damaged"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn debug_shows_the_path_and_no_contents() {
    let dir = fresh_dir("debug");
    let store = LocalStore::open(&dir).unwrap();
    store.save("wkSECRETKF", "SECRETCURSOR").await.unwrap();
    let shown = format!("{store:?}");
    assert!(shown.contains("wxkf-bot.redb"), "{shown}");
    assert!(!shown.contains("SECRET"), "{shown}");
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn importing_a_file_cursor_store_copies_its_cursors_and_never_moves_one_back() {
    let dir = fresh_dir("import");
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("wxkf-cursors.json");
    let old = FileCursorStore::new(&json);
    old.save("wk1", "file-c1").await.unwrap();
    old.save("wk2", "file-c2").await.unwrap();

    let store = LocalStore::open(dir.join("data")).unwrap();
    store.save("wk2", "newer").await.unwrap();
    assert_eq!(store.import_cursors_file(&json).await.unwrap(), 1);
    assert_eq!(store.load("wk1").await.unwrap().as_deref(), Some("file-c1"));
    assert_eq!(store.load("wk2").await.unwrap().as_deref(), Some("newer"), "an existing cursor is kept");
    // a second run copies nothing
    store.save("wk1", "moved-on").await.unwrap();
    assert_eq!(store.import_cursors_file(&json).await.unwrap(), 0);
    assert_eq!(store.load("wk1").await.unwrap().as_deref(), Some("moved-on"));

    let missing = store.import_cursors_file(dir.join("nope.json")).await.unwrap_err();
    assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    let bad = dir.join("bad.json");
    std::fs::write(&bad, br#"{"wk9": 1}"#).unwrap();
    let err = store.import_cursors_file(&bad).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(err.to_string().contains("not a cursor file of FileCursorStore"), "{err}");
    assert_eq!(store.load("wk9").await.unwrap(), None);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn handled_msgids_are_seen_per_open_kfid_in_order_and_survive_a_reopen() {
    let dir = fresh_dir("dedupe");
    let store = LocalStore::open(&dir).unwrap();
    assert_eq!(store.seen("wk1", &["m1", "m2"]).await.unwrap(), [false, false]);
    assert_eq!(store.seen("wk1", &[]).await.unwrap(), Vec::<bool>::new());
    store.remember_many("wk1", &["m1", "m3"], THREE_DAYS).await.unwrap();
    store.remember("wk1", "m4", THREE_DAYS).await.unwrap();
    store.remember_many("wk1", &[], THREE_DAYS).await.unwrap();
    assert_eq!(store.seen("wk1", &["m4", "m2", "m1", "m3"]).await.unwrap(), [true, false, true, true]);
    // the same msgid of another account is another message
    assert_eq!(store.seen("wk2", &["m1"]).await.unwrap(), [false]);
    drop(store);

    let store = LocalStore::open(&dir).unwrap();
    assert_eq!(store.seen("wk1", &["m1", "m2", "m3", "m4"]).await.unwrap(), [true, false, true, true]);
    assert_eq!(store.handled_count().await.unwrap(), 3);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn an_expired_msgid_is_not_seen_and_a_longer_ttl_wins() {
    let dir = fresh_dir("expiry");
    let store = LocalStore::open(&dir).unwrap();
    let short = Duration::from_millis(300);
    store.remember_many("wk1", &["short", "extended", "kept"], short).await.unwrap();
    store.remember("wk1", "extended", THREE_DAYS).await.unwrap();
    store.remember("wk1", "kept", THREE_DAYS).await.unwrap();
    // remembering again with a shorter ttl does not shorten it ("for at least ttl")
    store.remember("wk1", "kept", short).await.unwrap();
    assert_eq!(store.seen("wk1", &["short", "extended", "kept"]).await.unwrap(), [true, true, true]);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(store.seen("wk1", &["short", "extended", "kept"]).await.unwrap(), [false, true, true]);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn expired_msgids_are_swept_a_bounded_number_per_commit() {
    let dir = fresh_dir("sweep");
    let store = LocalStore::open(&dir).unwrap();
    let per_commit = LocalStore::SWEEP_MSGIDS_PER_COMMIT as u64;
    assert_eq!(per_commit, 1024);
    let ids: Vec<String> = (0..2500).map(|i| format!("old{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    // long enough to outlast the commit that writes them (slow in debug builds)
    store.remember_many("wk1", &refs, Duration::from_secs(2)).await.unwrap();
    assert_eq!(store.handled_count().await.unwrap(), 2500);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // still stored (nothing committed since they expired) but not seen
    assert_eq!(store.handled_count().await.unwrap(), 2500);
    assert_eq!(store.seen("wk1", &["old0"]).await.unwrap(), [false]);
    // every commit removes up to 1024 of them, whatever it writes
    store.remember("wk1", "new0", THREE_DAYS).await.unwrap();
    assert_eq!(store.handled_count().await.unwrap(), 2500 - per_commit + 1);
    store.save("wk1", "a cursor commit sweeps too").await.unwrap();
    assert_eq!(store.handled_count().await.unwrap(), 2500 - 2 * per_commit + 1);
    store.remember("wk1", "new1", THREE_DAYS).await.unwrap();
    assert_eq!(store.handled_count().await.unwrap(), 2);
    assert_eq!(store.seen("wk1", &["new0", "new1", "old2499"]).await.unwrap(), [true, true, false]);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_budget_opens_renews_and_refuses_like_memory_budgets() {
    let dir = fresh_dir("budget");
    let store = LocalStore::open(&dir).unwrap();
    let t0 = now_secs() - 1000;
    let now = (t0 + 10) * 1000;
    let end = t0 + REPLY_WINDOW_SECS;
    // no customer message yet: nothing to take
    assert_eq!(store.take("wk", "wm", 1, now).await.unwrap(), Err(Budget::new(0, 0)));
    assert_eq!(store.get("wk", "wm", now).await.unwrap(), Budget::new(0, 0));

    store.customer_spoke("wk", "wm", t0, t0 * 1000).await.unwrap();
    assert_eq!(store.get("wk", "wm", now).await.unwrap(), Budget::new(REPLIES_PER_WINDOW, end));
    store.take("wk", "wm", 3, now).await.unwrap().unwrap();
    // too few left: nothing taken, the budget as it is
    assert_eq!(store.take("wk", "wm", 3, now).await.unwrap(), Err(Budget::new(2, end)));
    assert_eq!(store.get("wk", "wm", now).await.unwrap(), Budget::new(2, end));
    store.take("wk", "wm", 2, now).await.unwrap().unwrap();
    assert_eq!(store.get("wk", "wm", now).await.unwrap().remaining, 0);
    assert_eq!(store.take("wk", "wm", 1, now).await.unwrap(), Err(Budget::new(0, end)));
    // another customer of the same account has a budget of their own
    assert_eq!(store.get("wk", "other", now).await.unwrap(), Budget::new(0, 0));

    // the window closes 48 hours after the customer's message
    assert_eq!(store.get("wk", "wm", end * 1000).await.unwrap(), Budget::new(0, end));
    store.customer_spoke("wk", "closed", t0, t0 * 1000).await.unwrap();
    assert!(store.take("wk", "closed", 1, end * 1000).await.unwrap().is_err_and(|b| b.expires_at <= end));

    // the five sends reach WeCom; a newer customer message, pulled after they did, renews the
    // five replies; an older one does not
    store.sent("wk", "wm", 5, now + 1).await.unwrap();
    store.customer_spoke("wk", "wm", t0 + 200, now + 2).await.unwrap();
    store.take("wk", "wm", 1, now + 3).await.unwrap().unwrap();
    store.customer_spoke("wk", "wm", t0 + 150, now + 4).await.unwrap();
    assert_eq!(store.get("wk", "wm", now + 5).await.unwrap(), Budget::new(4, end + 200));
    // sends that may have crossed the next message count against it: one went out after its
    // since_ms, one is still in flight
    store.sent("wk", "wm", 1, now + 6).await.unwrap();
    store.take("wk", "wm", 1, now + 7).await.unwrap().unwrap();
    store.customer_spoke("wk", "wm", t0 + 200, now + 5).await.unwrap();
    assert_eq!(store.get("wk", "wm", now + 8).await.unwrap(), Budget::new(3, end + 200));

    // give_back returns what is in flight only; on a customer without a window it does nothing
    store.give_back("wk", "wm", u32::MAX).await.unwrap();
    assert_eq!(store.get("wk", "wm", now + 8).await.unwrap().remaining, 4);
    store.give_back("wk", "nobody", 3).await.unwrap();
    assert_eq!(store.get("wk", "nobody", now).await.unwrap(), Budget::new(0, 0));

    // send_time comes from the network: the largest one does not overflow
    store.customer_spoke("wk", "far", u64::MAX, now).await.unwrap();
    assert_eq!(store.get("wk", "far", now).await.unwrap(), Budget::new(5, u64::MAX));

    // `sent` is queued with the next commit, not waited for: a write after it sees it
    store.take("wk", "wm", 1, now + 9).await.unwrap().unwrap();
    store.sent("wk", "wm", 1, now + 10).await.unwrap();
    store.customer_spoke("wk", "wm", t0 + 201, now + 11).await.unwrap();
    assert_eq!(store.get("wk", "wm", now + 12).await.unwrap(), Budget::new(5, end + 201));

    // budgets survive a reopen; a send in flight when the process died counts as completed at
    // the reopen (whatever of it reached WeCom did so before), not as in flight for minutes
    store.take("wk", "wm", 1, now + 13).await.unwrap().unwrap();
    drop(store);
    let reopened_at = now_secs() * 1000;
    let store = LocalStore::open(&dir).unwrap();
    assert_eq!(store.get("wk", "wm", now + 14).await.unwrap(), Budget::new(4, end + 201));
    store.customer_spoke("wk", "wm", t0 + 202, reopened_at + 2_000).await.unwrap();
    assert_eq!(store.get("wk", "wm", reopened_at + 3_000).await.unwrap(), Budget::new(5, end + 202));
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn closed_windows_are_swept() {
    let dir = fresh_dir("budget-sweep");
    let store = LocalStore::open(&dir).unwrap();
    let now = now_secs();
    // a window that closed long ago; the next commit removes it
    store.customer_spoke("wk", "gone", now - REPLY_WINDOW_SECS - 10, 0).await.unwrap();
    store.customer_spoke("wk", "open", now, 0).await.unwrap();
    assert_eq!(
        store.get("wk", "gone", now * 1000).await.unwrap(),
        Budget::new(0, 0),
        "forgotten, not just closed"
    );
    assert_eq!(store.get("wk", "open", now * 1000).await.unwrap(), Budget::new(5, now + REPLY_WINDOW_SECS));
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_takes_never_both_get_the_last_send() {
    let dir = fresh_dir("take-race");
    let store = LocalStore::open(&dir).unwrap();
    let secs = now_secs();
    let now = secs * 1000;
    for round in 0..5u64 {
        let customer = format!("wm{round}");
        store.customer_spoke("wk", &customer, secs, 0).await.unwrap();
        // 20 takes of one send race for five sends
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let store = store.clone();
            let customer = customer.clone();
            tasks.push(tokio::spawn(async move { store.take("wk", &customer, 1, now).await.unwrap() }));
        }
        let mut granted = 0;
        for task in tasks {
            if task.await.unwrap().is_ok() {
                granted += 1;
            }
        }
        assert_eq!(granted, REPLIES_PER_WINDOW, "round {round}");
        assert_eq!(store.get("wk", &customer, now).await.unwrap().remaining, 0);

        // all or nothing: of two takes of three from five, exactly one succeeds (the five went
        // out before the customer's next message)
        store.sent("wk", &customer, 5, now).await.unwrap();
        store.customer_spoke("wk", &customer, secs, now + 1).await.unwrap();
        let (a, b) = tokio::join!(
            tokio::spawn({
                let store = store.clone();
                let customer = customer.clone();
                async move { store.take("wk", &customer, 3, now).await.unwrap() }
            }),
            tokio::spawn({
                let store = store.clone();
                let customer = customer.clone();
                async move { store.take("wk", &customer, 3, now).await.unwrap() }
            }),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(a.is_ok() != b.is_ok(), "round {round}: {a:?} {b:?}");
        let refused = a.err().or(b.err()).unwrap();
        assert_eq!(refused.remaining, 2);
        assert_eq!(store.get("wk", &customer, now).await.unwrap().remaining, 2);
    }
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn remember_many_writes_its_whole_batch_in_one_commit() {
    let dir = fresh_dir("one-commit");
    let store = LocalStore::open(&dir).unwrap();
    assert_eq!(store.commits(), 0);
    let ids: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    store.remember_many("wk1", &refs, THREE_DAYS).await.unwrap();
    assert_eq!(store.commits(), 1);
    store.remember("wk1", "one more", THREE_DAYS).await.unwrap();
    assert_eq!(store.commits(), 2);
    assert_eq!(store.handled_count().await.unwrap(), 301);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_are_all_committed_sharing_commits() {
    let dir = fresh_dir("group");
    let store = LocalStore::open(&dir).unwrap();
    let mut tasks = Vec::new();
    for t in 0..50 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let msgid = format!("t{t}-m{i}");
                store.remember_many("wk1", &[msgid.as_str()], THREE_DAYS).await.unwrap();
                store.save(&format!("wk-{t}"), &format!("c{i}")).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // 1,000 writes from 50 writers at once: those that wait meanwhile share the next commit
    assert!(store.commits() < 500, "{} commits for 1000 writes", store.commits());
    drop(store);
    let store = LocalStore::open(&dir).unwrap();
    assert_eq!(store.handled_count().await.unwrap(), 500);
    for t in 0..50 {
        assert_eq!(store.load(&format!("wk-{t}")).await.unwrap().as_deref(), Some("c9"));
        let ids: Vec<String> = (0..10).map(|i| format!("t{t}-m{i}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        assert!(store.seen("wk1", &refs).await.unwrap().into_iter().all(|s| s));
    }
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_second_open_of_the_same_directory_fails_with_a_clear_error() {
    if let Ok(mode) = std::env::var(CHILD_ENV) {
        return child_open(&mode);
    }
    let dir = fresh_dir("locked");
    let store = LocalStore::open(&dir).unwrap();
    store.save("wk1", "c1").await.unwrap();

    // another process
    let out = child("a_second_open_of_the_same_directory_fails_with_a_clear_error", "open")
        .env(CHILD_DIR, &dir)
        .output()
        .unwrap();
    let reports = lines_with(&out.stdout, "OPEN-");
    assert_eq!(reports.len(), 1, "{}", String::from_utf8_lossy(&out.stdout));
    let report = &reports[0];
    assert!(report.starts_with("ERR WouldBlock "), "{report}");
    assert!(report.contains(&dir.join("wxkf-bot.redb").display().to_string()), "{report}");
    assert!(report.contains("is in use by another process"), "{report}");
    assert!(
        report.contains("stop the other bot instance, or give this one its own data directory"),
        "{report}"
    );

    // and this one
    let err = LocalStore::open(&dir).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    assert!(err.to_string().contains("is in use by another process"), "{err}");

    // the first store is unharmed, and once it is closed another process opens the file
    assert_eq!(store.load("wk1").await.unwrap().as_deref(), Some("c1"));
    drop(store);
    let out = child("a_second_open_of_the_same_directory_fails_with_a_clear_error", "open")
        .env(CHILD_DIR, &dir)
        .output()
        .unwrap();
    assert_eq!(lines_with(&out.stdout, "OPEN-"), [format!("OK {}", dir.join("wxkf-bot.redb").display())]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn from_env_opens_wxkf_data_dir_and_names_it_when_unset() {
    if let Ok(mode) = std::env::var(CHILD_ENV) {
        return child_open(&mode);
    }
    let test = "from_env_opens_wxkf_data_dir_and_names_it_when_unset";
    let out = child(test, "env-open").env_remove("WXKF_DATA_DIR").output().unwrap();
    let reports = lines_with(&out.stdout, "OPEN-");
    assert_eq!(reports.len(), 1, "{}", String::from_utf8_lossy(&out.stdout));
    assert!(reports[0].starts_with("ERR NotFound WXKF_DATA_DIR is not set"), "{}", reports[0]);

    let out = child(test, "env-open").env("WXKF_DATA_DIR", "").output().unwrap();
    assert!(lines_with(&out.stdout, "OPEN-")[0].starts_with("ERR NotFound WXKF_DATA_DIR is not set"));

    let dir = fresh_dir("env");
    let out = child(test, "env-open").env("WXKF_DATA_DIR", &dir).output().unwrap();
    assert_eq!(lines_with(&out.stdout, "OPEN-"), [format!("OK {}", dir.join("wxkf-bot.redb").display())]);
    assert!(dir.join("wxkf-bot.redb").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Child part `writer`: four tasks commit cursors and msgids as fast as they can and print each
/// one once its call returned `Ok`, until the process is killed.
async fn child_writer(dir: &Path, round: u64) {
    let store = LocalStore::open(dir).unwrap();
    let mut tasks = Vec::new();
    for k in 0..4u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0u64.. {
                // increasing across rounds, so the parent can tell newer from older
                let n = round * 1_000_000_000 + i;
                let line = if k % 2 == 0 {
                    let open_kfid = format!("wk{k}");
                    store.save(&open_kfid, &n.to_string()).await.unwrap();
                    format!("CURSOR {open_kfid} {n}\n")
                } else {
                    let (a, b) = (format!("m{k}-{n}-a"), format!("m{k}-{n}-b"));
                    store.remember_many("wk1", &[a.as_str(), b.as_str()], THREE_DAYS).await.unwrap();
                    format!("MSGIDS {a} {b}\n")
                };
                let mut out = std::io::stdout().lock();
                out.write_all(line.as_bytes()).unwrap();
                out.flush().unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_write_keeps_every_reported_commit_and_the_file_opens() {
    if std::env::var(CHILD_ENV).as_deref() == Ok("writer") {
        let dir = PathBuf::from(std::env::var(CHILD_DIR).unwrap());
        let round = std::env::var(CHILD_ROUND).unwrap().parse().unwrap();
        return child_writer(&dir, round).await;
    }
    let dir = fresh_dir("kill9");
    let mut last_cursor: HashMap<String, u64> = HashMap::new();
    let mut msgids: Vec<String> = Vec::new();
    for round in 0..3u64 {
        let mut proc = child("kill_9_mid_write_keeps_every_reported_commit_and_the_file_opens", "writer")
            .env(CHILD_DIR, &dir)
            .env(CHILD_ROUND, round.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = proc.stdout.take().unwrap();
        let want = 200 + 150 * round as usize;
        // read until `want` commits were reported, kill the writer in the middle of its stream,
        // then read what it reported before it died
        let lines = tokio::task::spawn_blocking(move || {
            let mut lines = Vec::new();
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let mut killed = false;
            while reader.read_line(&mut line).unwrap() > 0 {
                if let Some(report) = after(&line, "CURSOR ").map(|r| format!("CURSOR {r}")) {
                    lines.push(report.trim_end().to_owned());
                } else if let Some(report) = after(&line, "MSGIDS ").map(|r| format!("MSGIDS {r}")) {
                    lines.push(report.trim_end().to_owned());
                }
                line.clear();
                if !killed && lines.len() >= want {
                    proc.kill().unwrap(); // SIGKILL on Unix
                    killed = true;
                }
            }
            let status = proc.wait().unwrap();
            (lines, killed, status)
        })
        .await
        .unwrap();
        let (lines, killed, status) = lines;
        assert!(
            killed,
            "round {round}: the writer stopped by itself ({status:?}) after {} commits",
            lines.len()
        );
        assert!(!status.success(), "round {round}: {status:?}");
        assert!(lines.len() >= want);
        let mut cursors_this_round = 0;
        for line in &lines {
            let parts: Vec<&str> = line.split(' ').collect();
            match parts[..] {
                ["CURSOR", open_kfid, n] => {
                    let n: u64 = n.parse().unwrap();
                    let last = last_cursor.entry(open_kfid.to_owned()).or_insert(0);
                    *last = (*last).max(n);
                    cursors_this_round += 1;
                }
                ["MSGIDS", a, b] => msgids.extend([a.to_owned(), b.to_owned()]),
                _ => panic!("unexpected line {line:?}"),
            }
        }
        assert!(cursors_this_round > 0 && !msgids.is_empty(), "round {round}: both kinds were written");

        // the file opens cleanly and holds every commit the writer reported
        let store = LocalStore::open(&dir).unwrap();
        for (open_kfid, last) in &last_cursor {
            let saved: u64 = store.load(open_kfid).await.unwrap().unwrap().parse().unwrap();
            // the writer may have committed one more than it could report
            assert!(saved >= *last, "round {round}: {open_kfid} at {saved}, {last} was reported");
            assert!(
                saved / 1_000_000_000 == round,
                "round {round}: {open_kfid} at {saved} is from this round"
            );
        }
        let refs: Vec<&str> = msgids.iter().map(String::as_str).collect();
        let seen = store.seen("wk1", &refs).await.unwrap();
        let lost: Vec<&str> = refs.iter().zip(&seen).filter(|(_, s)| !**s).map(|(m, _)| *m).collect();
        assert!(lost.is_empty(), "round {round}: reported but lost: {lost:?}");
        // and takes new writes
        store.save("wk-after", &round.to_string()).await.unwrap();
        assert_eq!(store.load("wk-after").await.unwrap(), Some(round.to_string()));
        drop(store);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
