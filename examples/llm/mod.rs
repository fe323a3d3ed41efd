//! The AI customer-service bot shared by `llm_bot` (a real server) and `llm_demo` (the same bot
//! against the simulator and a scripted chat-completions server), so the demo shows exactly the
//! code that runs against WeCom and a real model. docs/ai-bot.md explains each rule it relies on.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wxkf_axum::bot::{BotConfig, Handler, HandlerError, ReplyContext, Turn, async_trait};
use wxkf_types::message::{Event, Message};
use wxkf_types::service_state::ServiceState;

/// A customer's messages within this quiet window reach the model as one question.
pub(crate) const QUIET: Duration = Duration::from_millis(1500);
/// A question waits at most this long for more messages.
pub(crate) const MAX_TURN: Duration = Duration::from_secs(10);
/// Sent when the model has not answered within [`PLACEHOLDER_AFTER`].
pub(crate) const PLACEHOLDER: &str = "正在为您查询，请稍候…";
/// How long the customer waits in silence at most.
pub(crate) const PLACEHOLDER_AFTER: Duration = Duration::from_secs(5);
/// The keyword that hands the chat to people (the waiting pool).
pub(crate) const HAND_OFF_KEYWORD: &str = "转人工";
/// Sent with the hand-off's `msg_code` (outside the 5-reply budget).
pub(crate) const HAND_OFF_NOTICE: &str = "已为您转接人工客服，请稍候，客服会尽快回复您。";
/// The welcome text sent on `enter_session`.
pub(crate) const WELCOME: &str = "您好，我是智能客服，有问题请直接问我；需要人工请发送“转人工”。";
/// Messages of history kept per customer (user and assistant, oldest dropped first).
pub(crate) const HISTORY: usize = 20;
const SYSTEM_PROMPT: &str = "你是一名简洁、礼貌的中文客服助手。回答尽量简短。";

/// The runtime settings of the AI bot: turns (1.5 s quiet) and the placeholder (after 5 s).
pub(crate) fn bot_config() -> BotConfig {
    BotConfig::default()
        .with_turns(QUIET, MAX_TURN)
        .with_placeholder(PLACEHOLDER_AFTER, PLACEHOLDER)
        // a customer first seen is looked up once (service_state/get): a session a servicer
        // already holds (e.g. assigned by WeCom's own rules) never reaches the model
        .with_session_lookup(true)
        // an LLM call takes 2–30 s; leave room for a slow one
        .with_handler_timeout(Duration::from_secs(90))
}

/// One chat-completions message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ChatMessage {
    pub(crate) role: String,
    pub(crate) content: String,
}

impl ChatMessage {
    pub(crate) fn new(role: &str, content: impl Into<String>) -> Self {
        ChatMessage { role: role.to_owned(), content: content.into() }
    }
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
}

#[derive(Deserialize)]
struct ChatResponse {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChatMessage,
}

/// What a chat-completions call can fail with.
#[derive(Debug)]
pub(crate) enum LlmError {
    /// No answer (connection, timeout, HTTP status).
    Http(reqwest::Error),
    /// An answer without `choices[0].message.content`.
    Empty,
}

impl std::fmt::Display for LlmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LlmError::Http(e) => {
                write!(f, "chat-completions call failed: {e}; check OPENAI_BASE_URL and OPENAI_API_KEY")
            }
            LlmError::Empty => f.write_str("chat-completions answered without a message"),
        }
    }
}

impl std::error::Error for LlmError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LlmError::Http(e) => Some(e),
            LlmError::Empty => None,
        }
    }
}

/// Any OpenAI-compatible `POST {base_url}/chat/completions` endpoint (OpenAI, DeepSeek, Qwen,
/// Ollama, vLLM, ...).
///
/// Why a small reqwest call rather than a client crate: the bot needs one endpoint, one request
/// shape and the first choice's text. reqwest (rustls) is already in the build through
/// wxkf-client, so this adds nothing to compile; the well-kept client crates (async-openai and
/// others) bring the whole API surface and their own dependency tree, minutes of build on a
/// 2-core machine for one call.
pub(crate) struct ChatClient {
    http: reqwest::Client,
    base_url: String,
    api_key: String,
    model: String,
}

impl std::fmt::Debug for ChatClient {
    // the API key never reaches a log
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatClient").field("base_url", &self.base_url).field("model", &self.model).finish()
    }
}

impl ChatClient {
    /// `base_url` is the API root, e.g. `https://api.openai.com/v1`.
    pub(crate) fn new(base_url: &str, api_key: &str, model: &str) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
        Ok(ChatClient {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            model: model.to_owned(),
        })
    }

    /// The model's answer to `messages`.
    pub(crate) async fn complete(&self, messages: &[ChatMessage]) -> Result<String, LlmError> {
        let answer: ChatResponse = self
            .http
            .post(format!("{}/chat/completions", self.base_url))
            .bearer_auth(&self.api_key)
            .json(&ChatRequest { model: &self.model, messages })
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(LlmError::Http)?
            .json()
            .await
            .map_err(LlmError::Http)?;
        answer
            .choices
            .into_iter()
            .next()
            .map(|c| c.message.content)
            .filter(|c| !c.trim().is_empty())
            .ok_or(LlmError::Empty)
    }
}

/// The last [`HISTORY`] messages of each customer, in memory (a restart forgets them).
#[derive(Debug, Default)]
pub(crate) struct Histories {
    by_customer: Mutex<HashMap<String, VecDeque<ChatMessage>>>,
}

impl Histories {
    /// The system prompt, the customer's history and `question`.
    fn prompt(&self, customer: &str, question: &str) -> Vec<ChatMessage> {
        let map = self.by_customer.lock().unwrap_or_else(|e| e.into_inner());
        let mut messages = vec![ChatMessage::new("system", SYSTEM_PROMPT)];
        messages.extend(map.get(customer).into_iter().flatten().cloned());
        messages.push(ChatMessage::new("user", question));
        messages
    }

    /// Keeps a question and its answer, dropping the oldest beyond [`HISTORY`].
    fn remember(&self, customer: &str, question: &str, answer: &str) {
        let mut map = self.by_customer.lock().unwrap_or_else(|e| e.into_inner());
        let h = map.entry(customer.to_owned()).or_default();
        h.push_back(ChatMessage::new("user", question));
        h.push_back(ChatMessage::new("assistant", answer));
        while h.len() > HISTORY {
            h.pop_front();
        }
    }
}

/// The AI bot: each turn goes to the model with the customer's history; "转人工" hands the chat
/// to the waiting pool, after which the runtime keeps the model out of it.
#[derive(Debug)]
pub(crate) struct LlmBot {
    pub(crate) llm: ChatClient,
    pub(crate) history: Histories,
}

impl LlmBot {
    pub(crate) fn new(llm: ChatClient) -> Self {
        LlmBot { llm, history: Histories::default() }
    }
}

#[async_trait]
impl Handler for LlmBot {
    // only called without turns (BotConfig::with_turns): a turn of one message
    async fn on_customer_message(&self, ctx: &ReplyContext, msg: &Message) -> Result<(), HandlerError> {
        self.on_turn(ctx, &Turn::new(vec![msg.clone()])).await
    }

    async fn on_turn(&self, ctx: &ReplyContext, turn: &Turn) -> Result<(), HandlerError> {
        let question = turn.text();
        if question.trim().is_empty() {
            ctx.reply_text("目前只能看懂文字消息，请用文字描述您的问题。").await?;
            return Ok(());
        }
        if question.contains(HAND_OFF_KEYWORD) {
            // to the pool (state 2); the code sends the notice outside the 5-reply budget
            if let Some(code) = ctx.hand_to_pool().await? {
                ctx.send_event_text(&code, HAND_OFF_NOTICE).await?;
            }
            return Ok(());
        }
        let user = ctx.external_userid();
        let answer = self.llm.complete(&self.history.prompt(user, &question)).await?;
        self.history.remember(user, &question, &answer);
        // a long answer is cut to what the budget allows instead of failing half-way; if a
        // servicer took the chat meanwhile, this is refused locally (SessionLeftBot) and the
        // runtime counts the turn as done
        ctx.reply_text_fit(&answer).await?;
        Ok(())
    }

    async fn on_handed_off_message(&self, msg: &Message, state: ServiceState) -> Result<(), HandlerError> {
        // people have the chat: the model stays out of it
        tracing::info!(msgid = %msg.msgid, state = u32::from(state), "customer message for the servicer; AI silent");
        Ok(())
    }

    async fn on_event(&self, ctx: &ReplyContext, _msg: &Message, event: &Event) -> Result<(), HandlerError> {
        if let Event::EnterSession(_) = event
            && ctx.welcome_code().is_some()
        {
            ctx.send_welcome_text(WELCOME).await?;
        }
        Ok(())
    }
}
