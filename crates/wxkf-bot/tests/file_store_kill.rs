//! `FileCursorStore` survives `kill -9` in the middle of a stream of saves: the file is always a
//! whole old or new version, never torn.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use wxkf_bot::{CursorStore, FileCursorStore};

const CHILD_ENV: &str = "WXKF_BOT_KILL_TEST_FILE";

/// In the child process: save increasing cursors until killed. In the parent: does nothing.
#[tokio::test]
async fn child_saves_until_killed() {
    let Ok(path) = std::env::var(CHILD_ENV) else { return };
    let store = FileCursorStore::new(path);
    for n in 0u64.. {
        store.save("wkA", &format!("cursor-{n}")).await.unwrap();
        store.save("wkB", &format!("b-{n}")).await.unwrap();
    }
}

#[tokio::test]
async fn the_cursor_file_is_whole_after_kill_9() {
    let dir = std::env::temp_dir().join(format!("wxkf-bot-kill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cursors.json");
    let _ = std::fs::remove_file(&path);
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_saves_until_killed", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .spawn()
            .unwrap();
        // wait until the child is saving (slow machines start it late), then kill it mid-stream
        for _ in 0..500 {
            if path.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(50 + 70 * round)).await;
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("torn file: {e}: {text}"));
        let a = v["wkA"].as_str().unwrap();
        assert!(a.starts_with("cursor-"), "{text}");
        // a fresh store reads the same value
        let loaded = FileCursorStore::new(&path).load("wkA").await.unwrap();
        assert_eq!(loaded.as_deref(), Some(a));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
