//! Shared by the Redis tests: the server (`REDIS_URL`, default `redis://127.0.0.1:6379`) and a key
//! prefix of their own per test and run.
//!
//! No Redis answering is a test failure. `WXKF_SKIP_REDIS=1` skips the Redis tests on purpose (they
//! print a note and pass without connecting); CI never sets it.

#![allow(dead_code, clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

/// The variable that skips the Redis tests on purpose, when set to `1`.
pub(crate) const SKIP_VAR: &str = "WXKF_SKIP_REDIS";

pub(crate) fn url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Whether the Redis tests are skipped on purpose (`WXKF_SKIP_REDIS=1`); says so on stderr.
pub(crate) fn skipped(test: &str) -> bool {
    let skip = std::env::var(SKIP_VAR).as_deref() == Ok("1");
    if skip {
        eprintln!("note: {test} skipped: {SKIP_VAR}=1");
    }
    skip
}

/// A connection and a prefix no other test (or earlier run) uses; `None` only when skipped with
/// `WXKF_SKIP_REDIS=1`. Panics when no Redis answers within 3 s.
pub(crate) async fn redis(test: &str) -> Option<(redis::aio::ConnectionManager, String)> {
    if skipped(test) {
        return None;
    }
    Some(redis_at(&url(), test).await)
}

/// A connection to the Redis at `url` and a prefix of the test's own. Panics when no Redis
/// answers within 3 s.
pub(crate) async fn redis_at(url: &str, test: &str) -> (redis::aio::ConnectionManager, String) {
    let connect = async {
        let client = redis::Client::open(url)?;
        redis::aio::ConnectionManager::new(client).await
    };
    let why = match tokio::time::timeout(Duration::from_secs(3), connect).await {
        Ok(Ok(conn)) => {
            let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos();
            return (conn, format!("wxkf-test:{test}:{}:{nanos}:", std::process::id()));
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => "connect timed out".to_owned(),
    };
    panic!(
        "no Redis server answers at {url} ({why}): start one (`redis-server --save '' --port 6379`) or point \
         REDIS_URL at one; to skip the Redis tests on purpose set {SKIP_VAR}=1"
    );
}

/// Without a server the Redis tests fail rather than pass: what `redis` does when `WXKF_SKIP_REDIS`
/// is not set (port 1 on localhost has no Redis).
#[tokio::test]
#[should_panic(expected = "no Redis server answers at redis://127.0.0.1:1")]
async fn no_redis_server_is_a_failure_not_a_skip() {
    redis_at("redis://127.0.0.1:1", "no_server").await;
}
