//! `type = "webhook"`: one signed POST per turn and per event (docs/gateway.md, "The webhook
//! protocol").

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wxkf_bot::{HandlerError, ReplyContext, ReplyError, Turn, async_trait};
use wxkf_types::message::{Event, Message, MessageContent};

use super::{Answer, Backend, apply, not_retried};
use crate::config::{Secret, WebhookConfig};
use crate::delivery::{ReplyOutcome, delivery_id, signature};
use crate::metrics::Outcome;
use crate::shared::Shared;

/// Why a delivery did not get an answer the gateway can use.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// A timeout or a connection error: retried with backoff, same delivery id.
    #[error("webhook {backend} did not answer delivery {id}: {detail}; retried with the same delivery id")]
    Unreachable {
        /// The backend's name.
        backend: String,
        /// The delivery id.
        id: String,
        /// What happened (without the URL).
        detail: String,
    },
    /// A 5xx: retried with backoff, same delivery id.
    #[error("webhook {backend} answered delivery {id} with HTTP {status}; retried with the same delivery id")]
    ServerError {
        /// The backend's name.
        backend: String,
        /// The delivery id.
        id: String,
        /// The status.
        status: u16,
    },
    /// A 4xx, or a status the protocol does not know: not retried, the turn is dead-lettered.
    #[error("webhook {backend} refused delivery {id} with HTTP {status} ({excerpt}): not retried")]
    Rejected {
        /// The backend's name.
        backend: String,
        /// The delivery id.
        id: String,
        /// The status.
        status: u16,
        /// The start of the answer's body.
        excerpt: String,
        /// Marks the error as permanent for the runtime.
        #[source]
        source: wxkf_client::Error,
    },
    /// A 200 whose body is not `{"replies": [...], "action": ...}`: not retried.
    #[error(
        "webhook {backend} answered delivery {id} with a body that is not the protocol's ({detail}): not retried"
    )]
    BadAnswer {
        /// The backend's name.
        backend: String,
        /// The delivery id.
        id: String,
        /// The JSON error.
        detail: String,
        /// Marks the error as permanent for the runtime.
        #[source]
        source: wxkf_client::Error,
    },
    /// A 202 without `POST /v1/replies` in time: not retried.
    #[error(
        "webhook {backend} answered delivery {id} with 202 but sent no POST /v1/replies within {secs} s (reply_timeout_s): not retried"
    )]
    NoReply {
        /// The backend's name.
        backend: String,
        /// The delivery id.
        id: String,
        /// The wait.
        secs: u64,
        /// Marks the error as permanent for the runtime.
        #[source]
        source: wxkf_client::Error,
    },
}

/// A webhook backend.
pub(crate) struct Webhook {
    name: String,
    url: String,
    secret: Secret,
    timeout: Duration,
    reply_timeout: Duration,
    http: reqwest::Client,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook").field("name", &self.name).field("url", &self.url).finish_non_exhaustive()
    }
}

/// The answer to one delivery.
enum Answered {
    Now(Answer),
    Later,
}

impl Webhook {
    pub(crate) fn new(name: &str, config: &WebhookConfig, secret: Secret) -> Result<Self, reqwest::Error> {
        Ok(Webhook {
            name: name.to_owned(),
            url: config.url.clone(),
            secret,
            timeout: Duration::from_secs(config.timeout_s),
            reply_timeout: Duration::from_secs(config.reply_timeout_s),
            http: reqwest::Client::builder()
                .user_agent(concat!("wxkf-gateway/", env!("CARGO_PKG_VERSION")))
                .build()?,
        })
    }

    /// One POST of `body` (the delivery `id`), signed.
    async fn post(
        &self,
        shared: &Shared,
        kind: &'static str,
        id: &str,
        body: &Value,
    ) -> Result<Answered, WebhookError> {
        let body = body.to_string();
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let started = Instant::now();
        let result = self
            .http
            .post(&self.url)
            .timeout(self.timeout)
            .header("Content-Type", "application/json")
            .header("X-Wxkf-Delivery", id)
            // the instance that waits for this delivery's POST /v1/replies (several instances)
            .header("X-Wxkf-Reply-To", shared.replies_url())
            .header("X-Wxkf-Timestamp", timestamp.to_string())
            .header(
                "X-Wxkf-Signature",
                signature(self.secret.expose().as_bytes(), timestamp, body.as_bytes()),
            )
            .body(body)
            .send()
            .await;
        let (name, id) = (self.name.clone(), id.to_owned());
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                shared.metrics.latency(&self.name, started.elapsed());
                shared.metrics.delivery(&self.name, kind, Outcome::Retried);
                let detail = if e.is_timeout() {
                    format!("no answer within {} s (timeout_s)", self.timeout.as_secs())
                } else {
                    crate::shared::chain(&e.without_url())
                };
                return Err(WebhookError::Unreachable { backend: name, id, detail });
            }
        };
        let status = response.status().as_u16();
        let bytes = response.bytes().await;
        shared.metrics.latency(&self.name, started.elapsed());
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => {
                shared.metrics.delivery(&self.name, kind, Outcome::Retried);
                return Err(WebhookError::Unreachable {
                    backend: name,
                    id,
                    detail: crate::shared::chain(&e.without_url()),
                });
            }
        };
        match status {
            200 | 201 | 204 => {
                if status == 204 || bytes.iter().all(u8::is_ascii_whitespace) {
                    shared.metrics.delivery(&self.name, kind, Outcome::Ok);
                    return Ok(Answered::Now(Answer::default()));
                }
                match serde_json::from_slice::<Answer>(&bytes) {
                    Ok(a) => {
                        shared.metrics.delivery(&self.name, kind, Outcome::Ok);
                        Ok(Answered::Now(a))
                    }
                    Err(e) => {
                        shared.metrics.delivery(&self.name, kind, Outcome::Rejected);
                        Err(WebhookError::BadAnswer {
                            backend: name,
                            id,
                            detail: e.to_string(),
                            source: not_retried(),
                        })
                    }
                }
            }
            202 => {
                shared.metrics.delivery(&self.name, kind, Outcome::Accepted);
                Ok(Answered::Later)
            }
            500..=599 | 408 | 429 => {
                shared.metrics.delivery(&self.name, kind, Outcome::Retried);
                Err(WebhookError::ServerError { backend: name, id, status })
            }
            _ => {
                shared.metrics.delivery(&self.name, kind, Outcome::Rejected);
                let text = String::from_utf8_lossy(&bytes);
                let excerpt: String = text.chars().take(200).collect();
                Err(WebhookError::Rejected { backend: name, id, status, excerpt, source: not_retried() })
            }
        }
    }
}

/// The session state as a number for the delivery (`null` when the runtime does not know it).
async fn session_state(ctx: &ReplyContext) -> Value {
    match ctx.session_state().await {
        Ok(Some(s)) => json!(u32::from(s)),
        _ => Value::Null,
    }
}

/// One message of a delivery.
fn message_json(shared: &Shared, msg: &Message) -> Value {
    let mut m = json!({
        "msgid": msg.msgid,
        "msgtype": msg.msgtype(),
        "send_time": msg.send_time,
        "raw": serde_json::to_value(msg).unwrap_or(Value::Null),
    });
    match &msg.content {
        MessageContent::Text(t) => m["text"] = json!(t.content),
        MessageContent::Image(c)
        | MessageContent::Voice(c)
        | MessageContent::Video(c)
        | MessageContent::File(c) => {
            m["media_url"] = json!(shared.media_url(&c.media_id));
        }
        _ => {}
    }
    m
}

impl Webhook {
    /// After a 202: waits for the `POST /v1/replies` of this delivery, sends its replies, and
    /// tells the request what became of them.
    async fn await_replies(
        &self,
        shared: &Shared,
        ctx: &ReplyContext,
        mut registration: crate::delivery::Registration<'_>,
        id: String,
    ) -> Result<(), HandlerError> {
        let deadline = tokio::time::Instant::now() + self.reply_timeout;
        let job = match tokio::time::timeout_at(deadline, registration.jobs.recv()).await {
            Ok(Some(job)) => job,
            Ok(None) | Err(_) => {
                if let Ok(Some(state)) = ctx.session_state().await
                    && !state.can_send_msg()
                {
                    // a servicer took the chat meanwhile: nothing more to say
                    return Ok(());
                }
                return Err(WebhookError::NoReply {
                    backend: self.name.clone(),
                    id,
                    secs: self.reply_timeout.as_secs(),
                    source: not_retried(),
                }
                .into());
            }
        };
        if let Ok(Some(state)) = ctx.session_state().await
            && !state.can_send_msg()
        {
            let _ = job.done.send(ReplyOutcome::SessionLeftBot);
            return Ok(());
        }
        match apply(shared, ctx, &job.answer).await {
            Ok(sent) => {
                let _ = job.done.send(ReplyOutcome::Sent { sent: sent.sent, cut: sent.cut });
                Ok(())
            }
            Err(e) if is_session_left(e.as_ref()) => {
                let _ = job.done.send(ReplyOutcome::SessionLeftBot);
                Ok(())
            }
            Err(e) => {
                let _ = job.done.send(ReplyOutcome::Failed(crate::shared::chain(e.as_ref())));
                Err(e)
            }
        }
    }
}

#[async_trait]
impl Backend for Webhook {
    async fn turn(&self, shared: &Shared, ctx: &ReplyContext, turn: &Turn) -> Result<(), HandlerError> {
        let msgids: Vec<&str> = turn.messages().iter().map(|m| m.msgid.as_str()).collect();
        let id = delivery_id("turn", ctx.open_kfid(), &msgids);
        let body = json!({
            "id": id,
            "kind": "turn",
            "open_kfid": ctx.open_kfid(),
            "external_userid": ctx.external_userid(),
            "session_state": session_state(ctx).await,
            "messages": turn.messages().iter().map(|m| message_json(shared, m)).collect::<Vec<_>>(),
        });
        // registered before the POST: a /v1/replies may come right after the 202
        let registration = shared.pending.register(&id);
        let answer = match self.post(shared, "turn", &id, &body).await? {
            Answered::Now(answer) => answer,
            Answered::Later => return self.await_replies(shared, ctx, registration, id).await,
        };
        drop(registration);
        apply(shared, ctx, &answer).await?;
        Ok(())
    }

    async fn event(
        &self,
        shared: &Shared,
        ctx: &ReplyContext,
        msg: &Message,
        event: &Event,
    ) -> Result<(), HandlerError> {
        if !matches!(event, Event::EnterSession(_) | Event::SessionStatusChange(_)) {
            return Ok(());
        }
        let id = delivery_id("event", ctx.open_kfid(), &[msg.msgid.as_str()]);
        let raw = serde_json::to_value(msg).unwrap_or(Value::Null);
        let body = json!({
            "id": id,
            "kind": "event",
            "open_kfid": ctx.open_kfid(),
            "external_userid": ctx.external_userid(),
            "session_state": session_state(ctx).await,
            "messages": [message_json(shared, msg)],
            "event": raw.get("event").cloned().unwrap_or(raw),
        });
        let Answered::Now(answer) = self.post(shared, "event", &id, &body).await? else {
            // nothing waits for replies to an event
            return Ok(());
        };
        // the one reply an event allows: the welcome, with its code (when the gateway sends none)
        if ctx.welcome_code().is_some() && shared.config.conversation.welcome_text.is_none() {
            let text = answer.replies.iter().find_map(|r| match r {
                super::Reply::Text { text } if !text.trim().is_empty() => Some(text.as_str()),
                _ => None,
            });
            if let Some(text) = text {
                ctx.send_welcome_text(text).await?;
            }
        } else if !answer.replies.is_empty() {
            tracing::debug!(delivery = %id, "replies to an event without a welcome code are not sent");
        }
        match answer.action {
            Some(super::Action::HandOff) => super::hand_off(shared, ctx).await?,
            Some(super::Action::End) => {
                ctx.end_session().await?;
            }
            None => {}
        }
        Ok(())
    }
}

fn is_session_left(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(ReplyError::SessionLeftBot { .. }) = e.downcast_ref::<ReplyError>() {
            return true;
        }
        next = e.source();
    }
    false
}
