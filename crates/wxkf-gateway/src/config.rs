//! The config file (TOML, docs/gateway.md "The config file"): parsed with every unknown key
//! refused, and every error naming its key path (`backends.ai.timeout_s`) and the reason.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// A config error: the key path it concerns (empty for the file as a whole) and what is wrong.
/// `wxkf-gateway check` prints it and exits 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{reason}", if key.is_empty() { String::new() } else { format!("{key}: ") })]
pub struct ConfigError {
    /// The key path, e.g. `backends.ai.timeout_s` or `routes[0].backend`.
    pub key: String,
    /// What is wrong and what is allowed.
    pub reason: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError { key: key.into(), reason: reason.into() }
    }
}

/// A secret from the config file: `env:NAME`, `file:PATH`, or the value itself (warned about at
/// start). Never shown by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value (for the one place that uses it).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A secret with this value (tests and embedding).
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where a secret comes from, as written in the file. `Debug` shows the source, never a literal
/// value.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SecretRef(String);

impl std::fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.starts_with("env:") || self.0.starts_with("file:") {
            write!(f, "SecretRef({:?})", self.0)
        } else {
            f.write_str("SecretRef(literal ***)")
        }
    }
}

impl SecretRef {
    /// A reference to a literal value, an `env:NAME` or a `file:PATH`.
    pub fn new(spec: impl Into<String>) -> Self {
        SecretRef(spec.into())
    }

    /// Whether the value is written in the file itself (the gateway warns about it at start).
    pub fn is_literal(&self) -> bool {
        !(self.0.starts_with("env:") || self.0.starts_with("file:"))
    }

    /// The secret: the variable's value, the file's content (trailing newline removed), or the
    /// literal. `key` names it in the error.
    pub fn resolve(&self, key: &str) -> Result<Secret, ConfigError> {
        let value = if let Some(name) = self.0.strip_prefix("env:") {
            std::env::var(name).map_err(|_| {
                ConfigError::new(key, format!("missing value: the environment variable {name} is not set"))
            })?
        } else if let Some(path) = self.0.strip_prefix("file:") {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError::new(key, format!("cannot read the secret file {path}: {e}")))?;
            text.trim_end_matches(['\n', '\r']).to_owned()
        } else {
            self.0.clone()
        };
        if value.is_empty() {
            return Err(ConfigError::new(key, "missing value: the secret is empty"));
        }
        Ok(Secret(value))
    }
}

/// The whole config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[wecom]`: the corp and its callback credentials.
    pub wecom: WecomConfig,
    /// `[server]`: where the gateway listens and keeps its state.
    pub server: ServerConfig,
    /// `[conversation]`: turns, placeholder, hand-off, welcome (every backend).
    #[serde(default)]
    pub conversation: ConversationConfig,
    /// `[[routes]]`: which backend answers which `open_kfid`.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// `[backends.NAME]`: the backends by name.
    #[serde(skip)]
    pub backends: BTreeMap<String, BackendConfig>,
}

/// `[wecom]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WecomConfig {
    /// The CorpID (`ww…`).
    pub corp_id: String,
    /// The Kf app secret.
    pub secret: SecretRef,
    /// The callback Token.
    pub token: SecretRef,
    /// The callback EncodingAESKey (43 characters).
    pub encoding_aes_key: SecretRef,
    /// The API root (default `https://qyapi.weixin.qq.com`).
    #[serde(default)]
    pub base_url: Option<String>,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The listen address, e.g. `0.0.0.0:9899`.
    pub listen: SocketAddr,
    /// The callback route (default `/wxkf/callback`).
    #[serde(default = "default_callback_path")]
    pub callback_path: String,
    /// The bearer token of `/v1/*`.
    pub api_token: SecretRef,
    /// Where a single instance keeps its state (cursor, handled msgids, budgets, histories).
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// Redis shared by several instances instead of `data_dir`.
    #[serde(default)]
    pub redis_url: Option<SecretRef>,
    /// The prefix of every Redis key of this gateway (default `wxkf-gateway:`): instances with
    /// the same `redis_url` and prefix work as one.
    #[serde(default = "default_redis_prefix")]
    pub redis_prefix: String,
    /// The gateway's address as the backend reaches it, for `media_url` (default
    /// `http://` + `listen`, with `127.0.0.1` for an unspecified address).
    #[serde(default)]
    pub public_url: Option<String>,
    /// On SIGTERM / Ctrl-C, how long running handlers may take to finish (default 30 s).
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace_s: u64,
}

fn default_callback_path() -> String {
    wxkf_axum::DEFAULT_PATH.to_owned()
}

fn default_redis_prefix() -> String {
    "wxkf-gateway:".to_owned()
}

fn default_shutdown_grace() -> u64 {
    30
}

/// `[conversation]` (optional; every backend).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversationConfig {
    /// A customer's messages within this quiet window are one turn (default 1500; 0: every
    /// message is its own turn).
    #[serde(default = "default_quiet")]
    pub turn_quiet_ms: u64,
    /// The longest a turn waits for more messages (default 10 s).
    #[serde(default = "default_turn_max")]
    pub turn_max_s: u64,
    /// Send [`placeholder_text`](Self::placeholder_text) when a turn had no reply this long
    /// (unset: no placeholder).
    #[serde(default)]
    pub placeholder_after_s: Option<u64>,
    /// The placeholder (default "正在为您查询，请稍候…").
    #[serde(default = "default_placeholder")]
    pub placeholder_text: String,
    /// A turn containing one of these goes to the waiting pool without reaching the backend.
    #[serde(default)]
    pub hand_off_keywords: Vec<String>,
    /// Sent with the hand-off's code (outside the budget) after a hand-off (default
    /// "已为您转接人工客服，请稍候。"; empty: none).
    #[serde(default = "default_hand_off_text")]
    pub hand_off_text: String,
    /// Sent with the welcome_code of `enter_session` (unset: no welcome).
    #[serde(default)]
    pub welcome_text: Option<String>,
}

fn default_quiet() -> u64 {
    1500
}
fn default_turn_max() -> u64 {
    10
}
fn default_placeholder() -> String {
    "正在为您查询，请稍候…".to_owned()
}
fn default_hand_off_text() -> String {
    "已为您转接人工客服，请稍候。".to_owned()
}

impl Default for ConversationConfig {
    fn default() -> Self {
        ConversationConfig {
            turn_quiet_ms: default_quiet(),
            turn_max_s: default_turn_max(),
            placeholder_after_s: None,
            placeholder_text: default_placeholder(),
            hand_off_keywords: Vec::new(),
            hand_off_text: default_hand_off_text(),
            welcome_text: None,
        }
    }
}

/// `[[routes]]`: one account (or `"*"`, every other account) to one backend.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// The account, or `"*"`.
    pub open_kfid: String,
    /// The name of a `[backends.NAME]`.
    pub backend: String,
}

/// One `[backends.NAME]`, by its `type`.
#[derive(Debug, Clone)]
pub enum BackendConfig {
    /// `type = "webhook"`.
    Webhook(WebhookConfig),
    /// `type = "openai"`.
    OpenAi(OpenAiConfig),
    /// `type = "dify"`.
    Dify(DifyConfig),
}

impl BackendConfig {
    /// The longest one turn can keep this backend busy (the runtime's handler timeout is above it).
    pub fn longest_turn(&self) -> Duration {
        match self {
            BackendConfig::Webhook(w) => Duration::from_secs(w.timeout_s + w.reply_timeout_s),
            BackendConfig::OpenAi(o) => Duration::from_secs(o.timeout_s),
            BackendConfig::Dify(d) => Duration::from_secs(d.timeout_s),
        }
    }
}

/// `type = "webhook"`: your HTTP service gets one signed POST per turn and event.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    #[serde(rename = "type")]
    kind: String,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The HMAC-SHA256 key of `X-Wxkf-Signature`.
    pub secret: SecretRef,
    /// How long one delivery may take (default 10 s); a timeout is retried.
    #[serde(default = "default_webhook_timeout")]
    pub timeout_s: u64,
    /// After a 202, how long the gateway waits for `POST /v1/replies` (default 300 s).
    #[serde(default = "default_reply_timeout")]
    pub reply_timeout_s: u64,
}

fn default_webhook_timeout() -> u64 {
    10
}
fn default_reply_timeout() -> u64 {
    300
}

/// `type = "openai"`: any OpenAI-compatible chat-completions endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiConfig {
    #[serde(rename = "type")]
    kind: String,
    /// The API root, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// The bearer key.
    pub api_key: SecretRef,
    /// The model.
    pub model: String,
    /// The system message (none by default).
    #[serde(default)]
    pub system_prompt: Option<String>,
    /// Turns (question and answer) kept per customer, durable (default 10).
    #[serde(default = "default_history")]
    pub history: usize,
    /// How long one call may take (default 60 s).
    #[serde(default = "default_llm_timeout")]
    pub timeout_s: u64,
}

fn default_history() -> usize {
    10
}
fn default_llm_timeout() -> u64 {
    60
}

/// `type = "dify"`: Dify's chat-messages API in blocking mode.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DifyConfig {
    #[serde(rename = "type")]
    kind: String,
    /// The API root, e.g. `https://api.dify.ai/v1`.
    pub base_url: String,
    /// The app's API key.
    pub api_key: SecretRef,
    /// How long one call may take (default 60 s).
    #[serde(default = "default_llm_timeout")]
    pub timeout_s: u64,
}

/// The backend types and their names in the file.
const TYPES: &str = "\"webhook\", \"openai\" or \"dify\"";

/// Turns a serde error at `path` into the key and the reason.
fn classify(path: &str, message: &str) -> ConfigError {
    let join = |field: &str| {
        if path.is_empty() || path == "." { field.to_owned() } else { format!("{path}.{field}") }
    };
    let tick = |m: &str| m.split('`').nth(1).map(str::to_owned);
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let field = tick(rest).unwrap_or_default();
        let key = if path.ends_with(&field) { path.to_owned() } else { join(&field) };
        let allowed =
            rest.split_once(", expected ").map(|(_, e)| format!(" (expected {e})")).unwrap_or_default();
        return ConfigError::new(key, format!("unknown key{allowed}"));
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        let field = tick(rest).unwrap_or_default();
        return ConfigError::new(join(&field), "missing value");
    }
    if message.starts_with("invalid type") || message.starts_with("invalid value") {
        return ConfigError::new(path, format!("wrong type: {message}"));
    }
    ConfigError::new(path, message.to_owned())
}

fn from_table<T: serde::de::DeserializeOwned>(value: toml::Table, prefix: &str) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let path = match (prefix.is_empty(), inner.as_str()) {
            (true, _) => inner.clone(),
            (false, "." | "") => prefix.to_owned(),
            (false, p) => format!("{prefix}.{p}"),
        };
        classify(if path == "." { "" } else { &path }, e.into_inner().message().trim())
    })
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new("", format!("cannot read {}: {e}", path.display())))?;
        Config::parse(&text)
    }

    /// Parses and validates a config file's text (secrets are not resolved: see
    /// [`resolve_secrets`](Self::resolve_secrets)).
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            ConfigError::new("", format!("not valid TOML: {}", e.to_string().trim()))
        })?;
        let raw_backends = table.remove("backends");
        let mut config: Config = from_table(table, "")?;
        match raw_backends {
            None => {}
            Some(toml::Value::Table(backends)) => {
                for (name, value) in backends {
                    let key = format!("backends.{name}");
                    let toml::Value::Table(t) = value else {
                        return Err(ConfigError::new(key, "wrong type: expected a table [backends.NAME]"));
                    };
                    let backend = match t.get("type") {
                        None => {
                            return Err(ConfigError::new(
                                format!("{key}.type"),
                                format!("missing value: {TYPES}"),
                            ));
                        }
                        Some(toml::Value::String(s)) if s == "webhook" => {
                            BackendConfig::Webhook(from_table(t, &key)?)
                        }
                        Some(toml::Value::String(s)) if s == "openai" => {
                            BackendConfig::OpenAi(from_table(t, &key)?)
                        }
                        Some(toml::Value::String(s)) if s == "dify" => {
                            BackendConfig::Dify(from_table(t, &key)?)
                        }
                        Some(other) => {
                            return Err(ConfigError::new(
                                format!("{key}.type"),
                                format!("unknown backend type {other}: expected {TYPES}"),
                            ));
                        }
                    };
                    config.backends.insert(name, backend);
                }
            }
            Some(_) => {
                return Err(ConfigError::new("backends", "wrong type: expected tables [backends.NAME]"));
            }
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.wecom.corp_id.trim().is_empty() {
            return Err(ConfigError::new("wecom.corp_id", "missing value: the CorpID (ww…)"));
        }
        if let Some(url) = &self.wecom.base_url {
            check_url("wecom.base_url", url)?;
        }
        let s = &self.server;
        if !s.callback_path.starts_with('/') {
            return Err(ConfigError::new("server.callback_path", "must start with /"));
        }
        if s.callback_path.starts_with("/v1/")
            || s.callback_path.starts_with("/status")
            || ["/healthz", "/readyz", "/metrics"].contains(&s.callback_path.as_str())
        {
            return Err(ConfigError::new(
                "server.callback_path",
                "clashes with one of the gateway's own routes",
            ));
        }
        match (&s.data_dir, &s.redis_url) {
            (None, None) => {
                return Err(ConfigError::new(
                    "server.data_dir",
                    "missing value: set data_dir (one instance) or redis_url (several instances)",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "server.redis_url",
                    "set either data_dir or redis_url, not both",
                ));
            }
            _ => {}
        }
        if let Some(url) = &s.public_url {
            check_url("server.public_url", url)?;
        }
        let c = &self.conversation;
        if c.turn_max_s.saturating_mul(1000) < c.turn_quiet_ms {
            return Err(ConfigError::new("conversation.turn_max_s", "must be at least turn_quiet_ms"));
        }
        if c.placeholder_after_s == Some(0) {
            return Err(ConfigError::new(
                "conversation.placeholder_after_s",
                "must be above 0 (leave it out for no placeholder)",
            ));
        }
        if c.placeholder_after_s.is_some()
            && (c.placeholder_text.is_empty() || c.placeholder_text.len() > 2048)
        {
            return Err(ConfigError::new("conversation.placeholder_text", "must be 1–2048 bytes"));
        }
        if c.hand_off_keywords.iter().any(|k| k.trim().is_empty()) {
            return Err(ConfigError::new(
                "conversation.hand_off_keywords",
                "an empty keyword would match every message",
            ));
        }
        for (key, text) in [
            ("conversation.hand_off_text", Some(&c.hand_off_text)),
            ("conversation.welcome_text", c.welcome_text.as_ref()),
        ] {
            if text.is_some_and(|t| t.len() > 2048) {
                return Err(ConfigError::new(key, "longer than the 2048 bytes of one message"));
            }
        }
        if self.routes.is_empty() {
            return Err(ConfigError::new(
                "routes",
                "missing value: every open_kfid is routed nowhere; add [[routes]] with open_kfid (or \"*\") and backend",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, r) in self.routes.iter().enumerate() {
            if r.open_kfid.trim().is_empty() {
                return Err(ConfigError::new(
                    format!("routes[{i}].open_kfid"),
                    "missing value: an account id or \"*\"",
                ));
            }
            if !seen.insert(r.open_kfid.as_str()) {
                return Err(ConfigError::new(
                    format!("routes[{i}].open_kfid"),
                    format!("{} is routed twice", r.open_kfid),
                ));
            }
            if !self.backends.contains_key(&r.backend) {
                let known: Vec<&str> = self.backends.keys().map(String::as_str).collect();
                return Err(ConfigError::new(
                    format!("routes[{i}].backend"),
                    format!(
                        "unknown backend {:?}: {} is routed nowhere (defined: {known:?})",
                        r.backend, r.open_kfid
                    ),
                ));
            }
        }
        for (name, b) in &self.backends {
            let key = format!("backends.{name}");
            match b {
                BackendConfig::Webhook(w) => {
                    check_url(&format!("{key}.url"), &w.url)?;
                    positive(&format!("{key}.timeout_s"), w.timeout_s)?;
                    positive(&format!("{key}.reply_timeout_s"), w.reply_timeout_s)?;
                    debug_assert_eq!(w.kind, "webhook");
                }
                BackendConfig::OpenAi(o) => {
                    check_url(&format!("{key}.base_url"), &o.base_url)?;
                    positive(&format!("{key}.timeout_s"), o.timeout_s)?;
                    if o.model.trim().is_empty() {
                        return Err(ConfigError::new(format!("{key}.model"), "missing value"));
                    }
                    debug_assert_eq!(o.kind, "openai");
                }
                BackendConfig::Dify(d) => {
                    check_url(&format!("{key}.base_url"), &d.base_url)?;
                    positive(&format!("{key}.timeout_s"), d.timeout_s)?;
                    debug_assert_eq!(d.kind, "dify");
                }
            }
        }
        Ok(())
    }

    /// Every secret of the file with its key path, in file order.
    pub fn secrets(&self) -> Vec<(String, &SecretRef)> {
        let mut out = vec![
            ("wecom.secret".to_owned(), &self.wecom.secret),
            ("wecom.token".to_owned(), &self.wecom.token),
            ("wecom.encoding_aes_key".to_owned(), &self.wecom.encoding_aes_key),
            ("server.api_token".to_owned(), &self.server.api_token),
        ];
        if let Some(r) = &self.server.redis_url {
            out.push(("server.redis_url".to_owned(), r));
        }
        for (name, b) in &self.backends {
            let (field, s) = match b {
                BackendConfig::Webhook(w) => ("secret", &w.secret),
                BackendConfig::OpenAi(o) => ("api_key", &o.api_key),
                BackendConfig::Dify(d) => ("api_key", &d.api_key),
            };
            out.push((format!("backends.{name}.{field}"), s));
        }
        out
    }

    /// Resolves every secret once (what `check` and `run` do): the first that cannot be read is
    /// the error. Returns the key paths of secrets written literally in the file.
    pub fn resolve_secrets(&self) -> Result<Vec<String>, ConfigError> {
        let mut literal = Vec::new();
        for (key, s) in self.secrets() {
            s.resolve(&key)?;
            if s.is_literal() {
                literal.push(key);
            }
        }
        Ok(literal)
    }

    /// The backend name for `open_kfid`: its own route, else the `"*"` route.
    pub fn route(&self, open_kfid: &str) -> Option<&str> {
        self.routes
            .iter()
            .find(|r| r.open_kfid == open_kfid)
            .or_else(|| self.routes.iter().find(|r| r.open_kfid == "*"))
            .map(|r| r.backend.as_str())
    }

    /// The URL under which the backend reaches this gateway (for `media_url`).
    pub fn public_url(&self, bound: SocketAddr) -> String {
        if let Some(u) = &self.server.public_url {
            return u.trim_end_matches('/').to_owned();
        }
        let ip = if bound.ip().is_unspecified() { "127.0.0.1".to_owned() } else { bound.ip().to_string() };
        if bound.is_ipv6() && !bound.ip().is_unspecified() {
            format!("http://[{ip}]:{}", bound.port())
        } else {
            format!("http://{ip}:{}", bound.port())
        }
    }
}

fn check_url(key: &str, url: &str) -> Result<(), ConfigError> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Ok(()),
        Ok(_) => Err(ConfigError::new(key, format!("{url:?} is not an http(s) URL"))),
        Err(e) => Err(ConfigError::new(key, format!("{url:?} is not a URL: {e}"))),
    }
}

fn positive(key: &str, v: u64) -> Result<(), ConfigError> {
    if v == 0 { Err(ConfigError::new(key, "must be above 0")) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[wecom]
corp_id = "ww0123456789abcdef"
secret = "env:PATH"
token = "tok"
encoding_aes_key = "env:PATH"

[server]
listen = "127.0.0.1:9899"
api_token = "file:/dev/null"
data_dir = "/tmp/x"

[[routes]]
open_kfid = "*"
backend = "ai"

[backends.ai]
type = "openai"
base_url = "https://api.openai.com/v1"
api_key = "k"
model = "gpt-4o-mini"
"#;

    #[test]
    fn a_good_file_parses_with_defaults() {
        let c = Config::parse(GOOD).unwrap();
        assert_eq!(c.server.callback_path, "/wxkf/callback");
        assert_eq!(c.conversation.turn_quiet_ms, 1500);
        assert_eq!(c.route("wkANY"), Some("ai"));
        let BackendConfig::OpenAi(o) = &c.backends["ai"] else { panic!("not openai") };
        assert_eq!((o.history, o.timeout_s), (10, 60));
    }

    #[test]
    fn debug_never_shows_a_literal_secret() {
        let c = Config::parse(GOOD).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("\"tok\""), "{shown}");
        assert!(shown.contains("env:PATH"));
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
    }

    #[test]
    fn an_empty_secret_file_is_a_missing_value() {
        let c = Config::parse(GOOD).unwrap();
        let e = c.resolve_secrets().unwrap_err();
        assert_eq!(e.key, "server.api_token");
    }

    #[test]
    fn an_unknown_key_is_named_with_its_path() {
        let text = GOOD.replace("model = \"gpt-4o-mini\"", "model = \"m\"\ntimeout = 3");
        let e = Config::parse(&text).unwrap_err();
        assert_eq!(e.key, "backends.ai.timeout");
        assert!(e.reason.starts_with("unknown key"), "{e}");
    }
}
