//! Shared by the Redis tests: the server (`REDIS_URL`, default `redis://127.0.0.1:6379`) and a key
//! prefix of their own per test and run.

#![allow(dead_code, clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

pub(crate) fn url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A connection and a prefix no other test (or earlier run) uses, or `None` when no Redis
/// answers outside CI.
pub(crate) async fn redis(test: &str) -> Option<(redis::aio::ConnectionManager, String)> {
    let url = url();
    let connect = async {
        let client = redis::Client::open(url.as_str())?;
        redis::aio::ConnectionManager::new(client).await
    };
    let why = match tokio::time::timeout(Duration::from_secs(3), connect).await {
        Ok(Ok(conn)) => {
            let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos();
            return Some((conn, format!("wxkf-test:{test}:{}:{nanos}:", std::process::id())));
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => "connect timed out".to_owned(),
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true but no Redis server answers at {url} ({why}); start redis-server or set REDIS_URL");
    }
    eprintln!("note: skipping {test}: no Redis server at {url} ({why})");
    None
}
