//! [`RedisCoordinator`], [`RedisDedupe`] and [`RedisBudgets`] against a real Redis server
//! (`REDIS_URL`, default `redis://127.0.0.1:6379`): the lease, mark, dedupe and budget rules
//! several instances rely on.
//!
//! With no server answering, each test prints a note and passes, unless `CI=true`: then it fails.

#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

mod support;

use redis::AsyncCommands;
use support::{redis, url};
use wxkf_bot::{
    Budget, BudgetStore, Coordinator, DedupeStore, LeaseAttempt, PendingPull, REPLY_WINDOW_SECS,
    RedisBudgets, RedisCoordinator, RedisDedupe,
};

async fn coordinator(test: &str) -> Option<(RedisCoordinator, redis::aio::ConnectionManager)> {
    let (conn, prefix) = redis(test).await?;
    Some((RedisCoordinator::from_connection(conn.clone()).with_prefix(prefix), conn))
}

const TTL: Duration = Duration::from_secs(30);

#[tokio::test]
async fn one_owner_at_a_time_and_only_the_owner_renews_or_releases() {
    let Some((c, _)) = coordinator("lease").await else { return };
    assert_eq!(c.try_lease("wk1", "a", TTL).await.unwrap(), LeaseAttempt::Acquired);
    match c.try_lease("wk1", "b", TTL).await.unwrap() {
        LeaseAttempt::Held { remaining } => {
            assert!(remaining > Duration::from_secs(25) && remaining <= TTL, "{remaining:?}")
        }
        other => panic!("b took a held lease: {other:?}"),
    }
    // another account is independent
    assert_eq!(c.try_lease("wk2", "b", TTL).await.unwrap(), LeaseAttempt::Acquired);
    assert!(!c.renew_lease("wk1", "b", TTL).await.unwrap(), "b renewed a's lease");
    assert!(!c.release_lease("wk1", "b").await.unwrap(), "b released a's lease");
    assert!(matches!(c.try_lease("wk1", "b", TTL).await.unwrap(), LeaseAttempt::Held { .. }));
    assert!(c.renew_lease("wk1", "a", TTL).await.unwrap());
    assert!(c.release_lease("wk1", "a").await.unwrap());
    assert!(!c.release_lease("wk1", "a").await.unwrap(), "released twice");
    assert_eq!(c.try_lease("wk1", "b", TTL).await.unwrap(), LeaseAttempt::Acquired);
}

#[tokio::test]
async fn a_lease_that_runs_out_is_taken_over_and_the_old_owner_cannot_renew_it() {
    let Some((c, _)) = coordinator("expiry").await else { return };
    let short = Duration::from_millis(200);
    assert_eq!(c.try_lease("wk1", "dead", short).await.unwrap(), LeaseAttempt::Acquired);
    match c.try_lease("wk1", "next", TTL).await.unwrap() {
        LeaseAttempt::Held { remaining } => assert!(remaining <= short),
        other => panic!("{other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(c.try_lease("wk1", "next", TTL).await.unwrap(), LeaseAttempt::Acquired);
    // the old owner wakes up: it must learn that it lost the lease and must not free the new one
    assert!(!c.renew_lease("wk1", "dead", TTL).await.unwrap());
    assert!(!c.release_lease("wk1", "dead").await.unwrap());
    assert!(matches!(c.try_lease("wk1", "third", TTL).await.unwrap(), LeaseAttempt::Held { .. }));
}

#[tokio::test]
async fn renewing_keeps_a_lease_past_its_first_ttl() {
    let Some((c, _)) = coordinator("renew").await else { return };
    let short = Duration::from_millis(300);
    assert_eq!(c.try_lease("wk1", "a", short).await.unwrap(), LeaseAttempt::Acquired);
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(c.renew_lease("wk1", "a", short).await.unwrap());
    }
    assert!(matches!(c.try_lease("wk1", "b", short).await.unwrap(), LeaseAttempt::Held { .. }));
}

#[tokio::test]
async fn marks_merge_and_are_cleared_only_if_unchanged() {
    let Some((c, _)) = coordinator("marks").await else { return };
    assert_eq!(c.pending("wk1").await.unwrap(), None);
    assert!(c.pending_accounts().await.unwrap().is_empty());

    c.mark_pending("wk1", &PendingPull::new("t1", 1_700_000_100, 1_700_000_101, "n1")).await.unwrap();
    let first = c.pending("wk1").await.unwrap().unwrap();
    assert_eq!(first, PendingPull::new("t1", 1_700_000_100, 1_700_000_101, "n1"));
    assert_eq!(c.pending_accounts().await.unwrap(), ["wk1"]);

    // a later callback: newest token and nonce, earliest create_time kept
    c.mark_pending("wk1", &PendingPull::new("t2", 1_700_000_200, 1_700_000_201, "n2")).await.unwrap();
    let second = c.pending("wk1").await.unwrap().unwrap();
    assert_eq!(second, PendingPull::new("t2", 1_700_000_100, 1_700_000_201, "n2"));
    // an unknown create_time (0) does not erase the known one; an earlier one replaces it
    c.mark_pending("wk1", &PendingPull::new("t3", 0, 1_700_000_300, "n3")).await.unwrap();
    assert_eq!(c.pending("wk1").await.unwrap().unwrap().create_time, 1_700_000_100);
    c.mark_pending("wk1", &PendingPull::new("t4", 1_700_000_050, 1_700_000_400, "n4")).await.unwrap();
    let fourth = c.pending("wk1").await.unwrap().unwrap();
    assert_eq!(fourth.create_time, 1_700_000_050);

    // the holder pulled for `second`; a newer mark came meanwhile, so it must pull again
    assert!(!c.clear_pending("wk1", &second).await.unwrap());
    assert_eq!(c.pending("wk1").await.unwrap().unwrap().nonce, "n4");
    assert_eq!(c.pending_accounts().await.unwrap(), ["wk1"]);
    assert!(c.clear_pending("wk1", &fourth).await.unwrap());
    assert_eq!(c.pending("wk1").await.unwrap(), None);
    assert!(c.pending_accounts().await.unwrap().is_empty());

    // the first create_time of a fresh mark is taken as is
    c.mark_pending("wk2", &PendingPull::new("t", 0, 5, "m")).await.unwrap();
    c.mark_pending("wk2", &PendingPull::new("t", 1_700_000_000, 6, "m2")).await.unwrap();
    assert_eq!(c.pending("wk2").await.unwrap().unwrap().create_time, 1_700_000_000);
}

#[tokio::test]
async fn keys_hold_no_secret_and_stay_under_the_prefix() {
    let Some((c, mut conn)) = coordinator("keys").await else { return };
    c.mark_pending("wk1", &PendingPull::new("tok", 1, 2, "n")).await.unwrap();
    assert_eq!(c.try_lease("wk1", "owner-1", TTL).await.unwrap(), LeaseAttempt::Acquired);
    let dedupe = RedisDedupe::from_connection(conn.clone()).with_prefix(c.prefix());
    dedupe.remember("wk1", "msg1", TTL).await.unwrap();
    let mut keys: Vec<String> = conn.keys(format!("{}*", c.prefix())).await.unwrap();
    keys.sort();
    let p = c.prefix();
    assert_eq!(
        keys,
        [
            format!("{p}lease:wk1"),
            format!("{p}pending"),
            format!("{p}pending:wk1"),
            format!("{p}seen:wk1:msg1")
        ]
    );
    let owner: String = conn.get(format!("{p}lease:wk1")).await.unwrap();
    assert_eq!(owner, "owner-1");
}

#[tokio::test]
async fn dedupe_is_shared_per_account_and_expires() {
    let Some((conn, prefix)) = redis("dedupe").await else { return };
    let a = RedisDedupe::from_connection(conn.clone()).with_prefix(&prefix);
    let b = RedisDedupe::connect(&url()).await.unwrap().with_prefix(&prefix);
    assert_eq!(a.seen("wk1", &[]).await.unwrap(), Vec::<bool>::new());
    assert_eq!(a.seen("wk1", &["m1"]).await.unwrap(), [false]);
    a.remember("wk1", "m1", TTL).await.unwrap();
    a.remember("wk1", "short", Duration::from_millis(150)).await.unwrap();
    assert_eq!(b.seen("wk1", &["m0", "m1", "short"]).await.unwrap(), [false, true, true]);
    assert_eq!(b.seen("wk2", &["m1"]).await.unwrap(), [false], "another account's msgid");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.seen("wk1", &["m1", "short"]).await.unwrap(), [true, false]);
    let other = RedisDedupe::from_connection(conn).with_prefix(format!("{prefix}x:"));
    assert_eq!(other.seen("wk1", &["m1"]).await.unwrap(), [false]);
}

#[tokio::test]
async fn budgets_are_shared_opened_by_customer_messages_and_never_overdrawn() {
    let Some((conn, prefix)) = redis("budget").await else { return };
    let a = RedisBudgets::from_connection(conn.clone()).with_prefix(&prefix);
    let b = RedisBudgets::connect(&url()).await.unwrap().with_prefix(&prefix);
    let secs = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    let now = secs * 1000;
    let window = secs + REPLY_WINDOW_SECS;

    // no customer message yet: the window is closed
    assert_eq!(a.get("wk1", "wm1", now).await.unwrap(), Budget::new(0, 0));
    assert_eq!(a.take("wk1", "wm1", 1, now).await.unwrap(), Err(Budget::new(0, 0)));

    // instance a pulls the customer's message; instance b sends: one budget
    a.customer_spoke("wk1", "wm1", secs, now).await.unwrap();
    assert_eq!(b.get("wk1", "wm1", now).await.unwrap(), Budget::new(5, window));
    assert_eq!(b.take("wk1", "wm1", 3, now).await.unwrap(), Ok(()));
    assert_eq!(a.take("wk1", "wm1", 3, now).await.unwrap(), Err(Budget::new(2, window)), "nothing taken");
    assert_eq!(a.take("wk1", "wm1", 2, now).await.unwrap(), Ok(()));
    assert_eq!(b.get("wk1", "wm1", now).await.unwrap().remaining, 0);
    // a failed send gives back what is in flight, nothing more
    b.give_back("wk1", "wm1", 1).await.unwrap();
    assert_eq!(a.get("wk1", "wm1", now).await.unwrap().remaining, 1);
    b.give_back("wk1", "wm1", 9).await.unwrap();
    assert_eq!(a.get("wk1", "wm1", now).await.unwrap().remaining, 5);

    // five go out; a new message in the same second, pulled after they did, renews the five
    a.take("wk1", "wm1", 5, now + 1).await.unwrap().unwrap();
    b.sent("wk1", "wm1", 5, now + 2).await.unwrap();
    b.customer_spoke("wk1", "wm1", secs, now + 3).await.unwrap();
    assert_eq!(a.get("wk1", "wm1", now + 4).await.unwrap().remaining, 5);
    // four go out; one of them, and one still in flight, may have crossed the next message
    a.take("wk1", "wm1", 4, now + 5).await.unwrap().unwrap();
    a.sent("wk1", "wm1", 3, now + 6).await.unwrap();
    a.sent("wk1", "wm1", 1, now + 8).await.unwrap();
    a.take("wk1", "wm1", 1, now + 9).await.unwrap().unwrap();
    b.customer_spoke("wk1", "wm1", secs, now + 7).await.unwrap();
    assert_eq!(a.get("wk1", "wm1", now + 10).await.unwrap(), Budget::new(3, window));
    // an older message changes nothing
    b.customer_spoke("wk1", "wm1", secs - 10, now + 10).await.unwrap();
    assert_eq!(a.get("wk1", "wm1", now + 10).await.unwrap(), Budget::new(3, window));
    // a send in flight for over five minutes (its instance died) counts as completed then
    let stale = now + 9 + 5 * 60 * 1000;
    b.customer_spoke("wk1", "wm1", secs + 1, stale - 1).await.unwrap();
    assert_eq!(a.get("wk1", "wm1", stale).await.unwrap(), Budget::new(4, window + 1));
    b.customer_spoke("wk1", "wm1", secs + 2, stale + 1).await.unwrap();
    assert_eq!(a.get("wk1", "wm1", stale + 2).await.unwrap(), Budget::new(5, window + 2));
    // past the window: closed, whatever is left
    let end = (window + 2) * 1000;
    assert_eq!(a.take("wk1", "wm1", 1, end).await.unwrap(), Err(Budget::new(0, window + 2)));
    assert_eq!(a.get("wk1", "wm1", end).await.unwrap().remaining, 0);
    // other customers and accounts are apart
    assert_eq!(a.get("wk1", "wm2", now).await.unwrap(), Budget::new(0, 0));
    assert_eq!(a.get("wk2", "wm1", now).await.unwrap(), Budget::new(0, 0));
}

#[tokio::test]
async fn concurrent_takes_never_hand_out_more_than_five() {
    let Some((conn, prefix)) = redis("budget_race").await else { return };
    let secs = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    let now = secs * 1000;
    let store = RedisBudgets::from_connection(conn).with_prefix(&prefix);
    store.customer_spoke("wk1", "wm1", secs, now).await.unwrap();
    let takes: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.take("wk1", "wm1", 1, now).await.unwrap().is_ok() })
        })
        .collect();
    let mut granted = 0;
    for t in takes {
        granted += usize::from(t.await.unwrap());
    }
    assert_eq!(granted, 5);
}

#[tokio::test]
async fn a_budget_key_expires_with_its_window() {
    let Some((mut conn, prefix)) = redis("budget_ttl").await else { return };
    let store = RedisBudgets::from_connection(conn.clone()).with_prefix(&prefix);
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    store.customer_spoke("wk1", "wm1", now, now * 1000).await.unwrap();
    let ttl: i64 = conn.ttl(format!("{prefix}budget:wk1:wm1")).await.unwrap();
    let window = i64::try_from(REPLY_WINDOW_SECS).unwrap();
    assert!(ttl > window - 10 && ttl <= window, "ttl {ttl}");
    // a message older than the window opens nothing and leaves no key
    store.customer_spoke("wk1", "wm-old", now - REPLY_WINDOW_SECS - 5, 0).await.unwrap();
    let exists: bool = conn.exists(format!("{prefix}budget:wk1:wm-old")).await.unwrap();
    assert!(!exists);
}
