//! `wxkf dead-letters`: the dead letters of a running wxkf-gateway, through its HTTP API
//! (`GET /v1/dead-letters`, `POST /v1/dead-letters/{id}/replay`, `DELETE /v1/dead-letters/{id}`).

use crate::args::{DeadLetterAction, DeadLettersArgs};
use crate::output::{Failure, print_line, usage};
use clap::error::ErrorKind;
use serde_json::Value;

/// Runs `wxkf dead-letters`.
pub(crate) async fn dead_letters(args: DeadLettersArgs) -> Result<(), Failure> {
    let Some(gateway) = args.gateway.as_deref().map(|g| g.trim_end_matches('/').to_owned()) else {
        return Err(usage(
            "dead-letters",
            ErrorKind::MissingRequiredArgument,
            "--gateway URL is required (or WXKF_GATEWAY_URL)",
        ));
    };
    let Some(token) = args.token.filter(|t| !t.is_empty()) else {
        return Err(usage(
            "dead-letters",
            ErrorKind::MissingRequiredArgument,
            "the gateway's API token is required: set WXKF_GATEWAY_API_TOKEN (or --token)",
        ));
    };
    let http =
        reqwest::Client::builder().timeout(std::time::Duration::from_secs(120)).build().map_err(|e| {
            Failure::Message { message: format!("cannot build the HTTP client: {e}"), hint: String::new() }
        })?;
    let (method, url) = match &args.action {
        DeadLetterAction::List { .. } => (reqwest::Method::GET, format!("{gateway}/v1/dead-letters")),
        DeadLetterAction::Replay { id } => {
            (reqwest::Method::POST, format!("{gateway}/v1/dead-letters/{}/replay", encode(id)))
        }
        DeadLetterAction::Discard { id } => {
            (reqwest::Method::DELETE, format!("{gateway}/v1/dead-letters/{}", encode(id)))
        }
    };
    let response =
        http.request(method, &url).bearer_auth(&token).send().await.map_err(|e| Failure::Message {
            message: format!("cannot reach the gateway at {gateway}: {e}"),
            hint: "check --gateway (the gateway's server.listen address) and that it runs".to_owned(),
        })?;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    let said = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(300).collect());
    match (status, &args.action) {
        (401, _) => Err(Failure::Message {
            message: "the gateway refused the token (401)".to_owned(),
            hint: "WXKF_GATEWAY_API_TOKEN (or --token) must be the gateway's server.api_token".to_owned(),
        }),
        (404, DeadLetterAction::Replay { id } | DeadLetterAction::Discard { id }) => Err(Failure::Message {
            message: format!("no dead letter {id} (replayed, discarded or expired)"),
            hint: "`wxkf dead-letters list` shows the kept ones".to_owned(),
        }),
        (200, DeadLetterAction::List { json: true }) => print_line(body.trim()),
        (200, DeadLetterAction::List { json: false }) => print_list(&body),
        (200, DeadLetterAction::Replay { id }) => {
            print_line(&format!("replayed {id}: the customer was answered"))
        }
        (204, DeadLetterAction::Discard { id }) => print_line(&format!("discarded {id}")),
        (502, DeadLetterAction::Replay { id }) => Err(Failure::Message {
            message: format!("the replay of {id} failed again: {said}"),
            hint: "it is kept with one more attempt; fix the backend and replay it again, or discard it"
                .to_owned(),
        }),
        (status, _) => Err(Failure::Message {
            message: format!("the gateway answered HTTP {status}: {said}"),
            hint: "see the gateway's log".to_owned(),
        }),
    }
}

/// An id as one path segment.
fn encode(id: &str) -> String {
    id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect()
}

fn print_list(body: &str) -> Result<(), Failure> {
    let list: Vec<Value> = serde_json::from_str(body).map_err(|e| Failure::Message {
        message: format!("the gateway's answer is not a JSON array: {e}"),
        hint: "is --gateway a wxkf-gateway?".to_owned(),
    })?;
    if list.is_empty() {
        return print_line("no dead letters");
    }
    print_line(
        "ID                                   ACCOUNT              REASON             ATTEMPTS  AT          ERROR",
    )?;
    for d in &list {
        let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let n = |k: &str| d.get(k).and_then(Value::as_u64).unwrap_or(0);
        let error: String = s("error").chars().take(80).collect();
        print_line(&format!(
            "{:<36} {:<20} {:<18} {:<9} {:<11} {}",
            s("id"),
            s("open_kfid"),
            s("reason"),
            n("attempts"),
            n("at"),
            error
        ))?;
    }
    Ok(())
}
