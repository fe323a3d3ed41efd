//! `type = "openai"`: any OpenAI-compatible `POST {base_url}/chat/completions`, with the last
//! `history` turns of each customer kept in the gateway's durable state.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;
use wxkf_bot::{HandlerError, ReplyContext, Turn, async_trait};

use super::Backend;
use crate::config::{OpenAiConfig, Secret};
use crate::metrics::Outcome;
use crate::shared::Shared;
use crate::state::ChatMessage;

/// A chat-completions call that failed (retried by the runtime).
#[derive(Debug, thiserror::Error)]
#[error("chat-completions backend {backend} failed: {detail}; check its base_url, api_key and model")]
pub(crate) struct ModelError {
    backend: String,
    detail: String,
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChatMessage,
}

/// An OpenAI-compatible backend.
pub(crate) struct OpenAi {
    name: String,
    url: String,
    api_key: Secret,
    model: String,
    system_prompt: Option<String>,
    history: usize,
    http: reqwest::Client,
}

impl std::fmt::Debug for OpenAi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAi")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl OpenAi {
    pub(crate) fn new(name: &str, c: &OpenAiConfig, api_key: Secret) -> Result<Self, reqwest::Error> {
        Ok(OpenAi {
            name: name.to_owned(),
            url: format!("{}/chat/completions", c.base_url.trim_end_matches('/')),
            api_key,
            model: c.model.clone(),
            system_prompt: c.system_prompt.clone().filter(|p| !p.is_empty()),
            history: c.history,
            http: reqwest::Client::builder().timeout(Duration::from_secs(c.timeout_s)).build()?,
        })
    }

    async fn complete(&self, shared: &Shared, messages: &[ChatMessage]) -> Result<String, ModelError> {
        let err = |detail: String| ModelError { backend: self.name.clone(), detail };
        let started = Instant::now();
        let result = async {
            let resp = self
                .http
                .post(&self.url)
                .bearer_auth(self.api_key.expose())
                .json(&json!({"model": self.model, "messages": messages}))
                .send()
                .await
                .map_err(|e| err(crate::shared::chain(&e.without_url())))?;
            let status = resp.status();
            if !status.is_success() {
                return Err(err(format!("HTTP {status}")));
            }
            let c: Completion = resp.json().await.map_err(|e| err(crate::shared::chain(&e.without_url())))?;
            c.choices
                .into_iter()
                .next()
                .map(|c| c.message.content)
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| err("the answer has no choices[0].message.content".to_owned()))
        }
        .await;
        shared.metrics.latency(&self.name, started.elapsed());
        shared.metrics.delivery(
            &self.name,
            "turn",
            if result.is_ok() { Outcome::Ok } else { Outcome::Retried },
        );
        result
    }
}

#[async_trait]
impl Backend for OpenAi {
    async fn turn(&self, shared: &Shared, ctx: &ReplyContext, turn: &Turn) -> Result<(), HandlerError> {
        let question = turn.text();
        if question.trim().is_empty() {
            ctx.reply_text_fit("目前只能看懂文字消息，请用文字描述您的问题。").await?;
            return Ok(());
        }
        let (kfid, user) = (ctx.open_kfid(), ctx.external_userid());
        let mut history = shared.state.history(&self.name, kfid, user).await?;
        let mut messages = Vec::with_capacity(history.len() + 2);
        if let Some(p) = &self.system_prompt {
            messages.push(ChatMessage::new("system", p.as_str()));
        }
        messages.extend(history.iter().cloned());
        messages.push(ChatMessage::new("user", question.as_str()));
        let answer = self.complete(shared, &messages).await?;
        // kept before the reply goes out: a retry after a failed send asks the model with the
        // same history (the turn is not in it twice: it is replaced below by position)
        history.push(ChatMessage::new("user", question));
        history.push(ChatMessage::new("assistant", answer.as_str()));
        let keep = self.history.saturating_mul(2);
        if history.len() > keep {
            history.drain(..history.len() - keep);
        }
        let delivery = ctx.reply_text_fit(&answer).await?;
        shared.state.set_history(&self.name, kfid, user, &history).await?;
        shared.metrics.replies("sent", u64::from(delivery.sent));
        Ok(())
    }
}
