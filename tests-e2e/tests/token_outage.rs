//! A `gettoken` outage against the simulator's injected errors (issue 15): concurrent first calls
//! share one token fetch, with its retries and its error, so an outage costs one retry sequence
//! however many callers wait, and every caller is answered when that sequence ends.
//!
//! The wait is bounded by structure, not by the clock: every caller's call is under way before the
//! first `gettoken` is sent (a barrier in the token store's first read), each caller notes how many
//! `gettoken` calls the simulator had seen when it was answered, and all of them must have seen the
//! whole sequence and nothing after it.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Barrier;
use wxkf_client::{
    AccessToken, CachedToken, Client, Error, MemoryTokenStore, RetryPolicy, TokenKey, TokenStore,
};
use wxkf_sim::{Fault, FaultRule, Sim, SimHandle};
use wxkf_types::account::AccountListRequest;

const CALLERS: usize = 200;
const GETTOKEN: &str = "/cgi-bin/gettoken";
const ACCOUNT_LIST: &str = "/cgi-bin/kf/account/list";

/// A memory store whose first `CALLERS` reads wait for each other, so that every caller has begun
/// its call (and looked for a token) before any of them can fetch one.
#[derive(Debug)]
struct StartLine {
    inner: MemoryTokenStore,
    reads: AtomicUsize,
    barrier: Barrier,
}

impl StartLine {
    fn new() -> Arc<Self> {
        Arc::new(StartLine {
            inner: MemoryTokenStore::new(),
            reads: AtomicUsize::new(0),
            barrier: Barrier::new(CALLERS),
        })
    }
}

#[async_trait::async_trait]
impl TokenStore for StartLine {
    async fn get(&self, key: &TokenKey) -> std::io::Result<Option<CachedToken>> {
        if self.reads.fetch_add(1, Ordering::SeqCst) < CALLERS {
            self.barrier.wait().await;
        }
        self.inner.get(key).await
    }

    async fn put_if_newer(&self, key: &TokenKey, token: CachedToken) -> std::io::Result<bool> {
        self.inner.put_if_newer(key, token).await
    }

    async fn remove_if(&self, key: &TokenKey, token: &AccessToken) -> std::io::Result<bool> {
        self.inner.remove_if(key, token).await
    }
}

/// The default retry budget (3 retries: at most 4 `gettoken` calls) with short waits.
fn policy() -> RetryPolicy {
    RetryPolicy::default().with_backoff(Duration::from_millis(5), Duration::from_millis(20))
}

async fn start() -> (SimHandle, Client) {
    let sim = Sim::builder().start().await.unwrap();
    let client = Client::builder(sim.corp_id(), sim.secret())
        .base_url(sim.base_url())
        .retry_policy(policy())
        .token_store(StartLine::new())
        .build()
        .unwrap();
    (sim, client)
}

/// `CALLERS` concurrent first calls; each result comes with the number of `gettoken` calls the
/// simulator had answered when that caller was answered.
async fn first_calls(sim: &SimHandle, client: &Client) -> Vec<(Result<(), Error>, usize)> {
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (sim, client) = (sim.clone(), client.clone());
            tokio::spawn(async move {
                let result = client.execute(&AccountListRequest::new()).await.map(drop);
                (result, sim.call_count(GETTOKEN))
            })
        })
        .collect();
    let mut results = Vec::with_capacity(CALLERS);
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_costs_one_retry_sequence_and_every_caller_gets_its_error() {
    let (sim, client) = start().await;
    sim.inject(FaultRule::new(Fault::Errcode(-1)).path(GETTOKEN));

    let results = first_calls(&sim, &client).await;

    let calls = sim.call_count(GETTOKEN);
    assert_eq!(calls, 4, "one sequence: the first try and the policy's 3 retries, for all {CALLERS} callers");
    for (result, seen) in &results {
        let err = result.as_ref().unwrap_err();
        assert_eq!(err.errcode(), Some(-1), "every caller gets the sequence's error: {err}");
        assert!(err.to_string().contains("-1"), "the errcode is in the message: {err}");
        assert_eq!(*seen, calls, "answered after the whole sequence and before any other gettoken");
    }
    assert_eq!(sim.call_count(ACCOUNT_LIST), 0, "no call went out without a token");

    // The failure is not kept: once WeCom answers again, the next call fetches a token and succeeds.
    sim.clear_faults();
    client.execute(&AccountListRequest::new()).await.unwrap();
    assert_eq!(sim.call_count(GETTOKEN), calls + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_costs_one_gettoken_for_every_waiting_caller() {
    let (sim, client) = start().await;
    sim.inject(FaultRule::new(Fault::Errcode(40001)).path(GETTOKEN));

    let results = first_calls(&sim, &client).await;

    assert_eq!(sim.call_count(GETTOKEN), 1, "40001 is not retried, and the one answer is shared");
    for (result, seen) in &results {
        let err = result.as_ref().unwrap_err();
        assert_eq!(err.errcode(), Some(40001), "{err}");
        assert!(err.is_permanent(), "a wrong secret never succeeds on retry: {err}");
        assert_eq!(*seen, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_outage_is_ridden_out_by_one_sequence_for_everyone() {
    let (sim, client) = start().await;
    sim.inject(FaultRule::new(Fault::Errcode(-1)).path(GETTOKEN).times(2));

    let results = first_calls(&sim, &client).await;

    assert_eq!(sim.call_count(GETTOKEN), 3, "two failures, then the token");
    for (result, seen) in &results {
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(*seen, 3);
    }
    assert_eq!(sim.call_count(ACCOUNT_LIST), CALLERS);
}
