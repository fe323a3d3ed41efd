//! `type = "dify"`: Dify's `POST {base_url}/chat-messages` in blocking mode, with each
//! customer's `conversation_id` kept in the gateway's durable state.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;
use wxkf_bot::{HandlerError, ReplyContext, Turn, async_trait};

use super::Backend;
use crate::config::{DifyConfig, Secret};
use crate::metrics::Outcome;
use crate::shared::Shared;

/// A chat-messages call that failed (retried by the runtime).
#[derive(Debug, thiserror::Error)]
#[error("Dify backend {backend} failed: {detail}; check its base_url and api_key")]
pub(crate) struct DifyError {
    backend: String,
    detail: String,
}

#[derive(Deserialize)]
struct ChatAnswer {
    #[serde(default)]
    answer: String,
    #[serde(default)]
    conversation_id: String,
}

/// A Dify app.
pub(crate) struct Dify {
    name: String,
    url: String,
    api_key: Secret,
    http: reqwest::Client,
}

impl std::fmt::Debug for Dify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dify").field("name", &self.name).field("url", &self.url).finish_non_exhaustive()
    }
}

impl Dify {
    pub(crate) fn new(name: &str, c: &DifyConfig, api_key: Secret) -> Result<Self, reqwest::Error> {
        Ok(Dify {
            name: name.to_owned(),
            url: format!("{}/chat-messages", c.base_url.trim_end_matches('/')),
            api_key,
            http: reqwest::Client::builder().timeout(Duration::from_secs(c.timeout_s)).build()?,
        })
    }
}

#[async_trait]
impl Backend for Dify {
    async fn turn(&self, shared: &Shared, ctx: &ReplyContext, turn: &Turn) -> Result<(), HandlerError> {
        let query = turn.text();
        if query.trim().is_empty() {
            ctx.reply_text_fit("目前只能看懂文字消息，请用文字描述您的问题。").await?;
            return Ok(());
        }
        let (kfid, user) = (ctx.open_kfid(), ctx.external_userid());
        let conversation = shared.state.conversation_id(&self.name, kfid, user).await?.unwrap_or_default();
        let err = |detail: String| DifyError { backend: self.name.clone(), detail };
        let started = Instant::now();
        let result = async {
            let resp = self
                .http
                .post(&self.url)
                .bearer_auth(self.api_key.expose())
                .json(&json!({
                    "inputs": {},
                    "query": query,
                    "response_mode": "blocking",
                    "conversation_id": conversation,
                    "user": format!("{kfid}:{user}"),
                }))
                .send()
                .await
                .map_err(|e| err(crate::shared::chain(&e.without_url())))?;
            let status = resp.status();
            if !status.is_success() {
                return Err(err(format!("HTTP {status}")));
            }
            let a: ChatAnswer = resp.json().await.map_err(|e| err(crate::shared::chain(&e.without_url())))?;
            if a.answer.trim().is_empty() {
                return Err(err("the answer is empty".to_owned()));
            }
            Ok(a)
        }
        .await;
        shared.metrics.latency(&self.name, started.elapsed());
        shared.metrics.delivery(
            &self.name,
            "turn",
            if result.is_ok() { Outcome::Ok } else { Outcome::Retried },
        );
        let answer = result?;
        if !answer.conversation_id.is_empty() && answer.conversation_id != conversation {
            shared.state.set_conversation_id(&self.name, kfid, user, &answer.conversation_id).await?;
        }
        let delivery = ctx.reply_text_fit(&answer.answer).await?;
        shared.metrics.replies("sent", u64::from(delivery.sent));
        Ok(())
    }
}
