//! What the simulator's test files share: the real `wxkf_client::Client` pointed at a simulator,
//! a simulator with one account and such a client, and the errcode of a call expected to fail.
//!
//! Not a public helper of `wxkf-sim`: the simulator does not depend on `wxkf-client` (any HTTP
//! client in any language talks to it), and these few lines are test glue.

#![allow(dead_code, unreachable_pub)]

use wxkf_client::{Client, ClientBuilder, Error, RetryPolicy};
use wxkf_sim::{Sim, SimHandle};

/// A client builder with `sim`'s corp id, secret and base URL.
pub fn builder(sim: &SimHandle) -> ClientBuilder {
    Client::builder(sim.corp_id(), sim.secret()).base_url(sim.base_url())
}

/// A client of `sim` with `retry`.
pub fn client_for(sim: &SimHandle, retry: RetryPolicy) -> Client {
    builder(sim).retry_policy(retry).build().unwrap_or_else(|e| panic!("client: {e}"))
}

/// A simulator with the one account `kf` named `name`, and a client of it that never retries
/// (so each call is one request the test can count).
pub async fn start(kf: &str, name: &str) -> (SimHandle, Client) {
    let sim = Sim::builder().account(kf, name).start().await.unwrap_or_else(|e| panic!("start: {e}"));
    let client = client_for(&sim, RetryPolicy::none());
    (sim, client)
}

/// The errcode of a call that must fail with an API error.
pub fn errcode<T: std::fmt::Debug>(r: Result<T, Error>) -> i64 {
    match r {
        Err(e) => e.errcode().unwrap_or_else(|| panic!("not an API error: {e}")),
        Ok(v) => panic!("expected an API error, got {v:?}"),
    }
}
