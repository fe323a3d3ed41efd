//! `FileCursorStore` survives `kill -9` in the middle of a stream of saves: the file is always a
//! whole old or new version, never torn.
//!
//! The test starts this test binary again as a child (`--ignored --exact child_saves_until_killed`),
//! which saves increasing cursors until it is killed. The child entry is `#[ignore]`d, so a normal
//! run does not run it, and it fails when started without the test's settings.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use wxkf_bot::{CursorStore, FileCursorStore};

const CHILD_ENV: &str = "WXKF_BOT_KILL_TEST_FILE";
/// The child prints this once its first pair of saves is on disk (after libtest's "test … ").
const SAVING: &str = "wxkf-kill-test: saving";

fn number(value: &str, prefix: &str) -> u64 {
    value
        .strip_prefix(prefix)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not {prefix}N: {value:?}"))
}

/// Child mode only: continues from the cursor in the file and saves `wkA = cursor-N`, then
/// `wkB = b-N`, for N = 0, 1, 2, … until killed.
#[tokio::test]
#[ignore = "child mode of the_cursor_file_is_whole_after_kill_9, which starts it"]
async fn child_saves_until_killed() {
    let path = std::env::var(CHILD_ENV).unwrap_or_else(|_| {
        panic!("{CHILD_ENV} is not set: this is the child of the_cursor_file_is_whole_after_kill_9")
    });
    let store = FileCursorStore::new(path);
    let first = match store.load("wkA").await.unwrap() {
        Some(a) => number(&a, "cursor-") + 1,
        None => 0,
    };
    for n in first.. {
        store.save("wkA", &format!("cursor-{n}")).await.unwrap();
        store.save("wkB", &format!("b-{n}")).await.unwrap();
        if n == first {
            let mut out = std::io::stdout();
            writeln!(out, "{SAVING}").unwrap();
            out.flush().unwrap();
        }
    }
}

#[tokio::test]
async fn the_cursor_file_is_whole_after_kill_9() {
    let dir = std::env::temp_dir().join(format!("wxkf-bot-kill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cursors.json");
    let _ = std::fs::remove_file(&path);
    let mut last_a = None;
    for round in 0..3u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "child_saves_until_killed", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // wait until the child has saved (slow machines start it late), then kill it mid-stream
        let stdout = child.stdout.take().unwrap();
        let saving = tokio::task::spawn_blocking(move || {
            BufReader::new(stdout).lines().map_while(Result::ok).any(|line| line.contains(SAVING))
        });
        let saving = tokio::time::timeout(Duration::from_secs(60), saving).await;
        if !matches!(saving, Ok(Ok(true))) {
            // kill it first: the reader blocks until the child's stdout closes
            let _ = child.kill();
            let exit = child.wait();
            panic!("round {round}: the child never reported saving ({saving:?}; its exit: {exit:?})");
        }
        tokio::time::sleep(Duration::from_millis(50 + 70 * round)).await;
        assert!(child.try_wait().unwrap().is_none(), "round {round}: the child stopped before the kill");
        child.kill().unwrap(); // SIGKILL on Unix
        let status = child.wait().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), Some(9), "round {round}: {status}");
        }
        #[cfg(not(unix))]
        assert!(!status.success(), "round {round}: {status}");

        let text = std::fs::read_to_string(&path).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("torn file: {e}: {text}"));
        assert_eq!(v.as_object().map(|o| o.len()), Some(2), "exactly wkA and wkB: {text}");
        let a = number(v["wkA"].as_str().unwrap(), "cursor-");
        let b = number(v["wkB"].as_str().unwrap(), "b-");
        // saves reach the file in order (wkA n, wkB n, wkA n+1, …): a whole version has wkB at a or a-1
        assert!(
            b == a || b + 1 == a,
            "round {round}: wkA cursor-{a} with wkB b-{b} is no version the child wrote"
        );
        // this child saved past what the previous one left: the file shows this round's saves
        if let Some(previous) = last_a {
            assert!(
                a > previous,
                "round {round}: cursor-{a} is not past the previous round's cursor-{previous}"
            );
        }
        last_a = Some(a);
        // a fresh store reads the same values
        let fresh = FileCursorStore::new(&path);
        assert_eq!(fresh.load("wkA").await.unwrap(), Some(format!("cursor-{a}")));
        assert_eq!(fresh.load("wkB").await.unwrap(), Some(format!("b-{b}")));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
