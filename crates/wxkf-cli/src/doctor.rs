//! `wxkf doctor` and `wxkf check-callback`: one line per check, ✓ or ✗, and on ✗ what to do.

use std::io::Write;
use std::time::Duration;

use clap::error::ErrorKind;
use serde_json::json;
use wxkf_client::{Client, RetryPolicy};
use wxkf_crypto::{CallbackCrypto, EncodingAesKey, Token};

use crate::args::{CallbackOpts, CheckCallbackArgs, DoctorArgs};
use crate::check::{Check, Status};
use crate::output::{Failure, usage};
use crate::secrets;

/// Prints the checks (text or one JSON object each) and turns a ✗ into exit status 1.
fn report(checks: &[Check], json: bool) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    for check in checks {
        let text = if json {
            let status = match check.status {
                Status::Pass => "pass",
                Status::Fail => "fail",
                Status::Skip => "skip",
                Status::Note => "note",
            };
            json!({ "check": check.name, "status": status, "detail": check.detail, "fix": check.fix })
                .to_string()
        } else {
            let mark = match check.status {
                Status::Pass => "✓",
                Status::Fail => "✗",
                Status::Skip => "-",
                Status::Note => "!",
            };
            let mut line = format!("{mark} {}: {}", check.name, check.detail);
            if let Some(fix) = &check.fix {
                line.push_str(&format!("\n  → {fix}"));
            }
            line
        };
        let _ = writeln!(out, "{text}");
    }
    let _ = out.flush();
    if checks.iter().any(|c| c.status == Status::Fail) { Err(Failure::Reported) } else { Ok(()) }
}

/// The callback Token and key from flags, files or the environment.
fn callback_values(sub: &str, opts: &CallbackOpts) -> Result<(Option<String>, Option<String>), Failure> {
    let token = secrets::resolve(secrets::Source {
        flag: "--token",
        value: opts.token.clone().map(|s| s.0),
        file_flag: "--token-file",
        file: opts.token_file.as_deref(),
        env: "WXKF_TOKEN",
    })
    .map_err(|e| usage(sub, ErrorKind::Io, e.0))?;
    let key = secrets::resolve(secrets::Source {
        flag: "--aes-key",
        value: opts.aes_key.clone().map(|s| s.0),
        file_flag: "--aes-key-file",
        file: opts.aes_key_file.as_deref(),
        env: "WXKF_ENCODING_AES_KEY",
    })
    .map_err(|e| usage(sub, ErrorKind::Io, e.0))?;
    Ok((token, key))
}

const CORP_ID_PLACE: &str =
    "the 企业ID in the admin console under 我的企业 → 企业信息 (ww…; older corps wx…)";

fn check_corp_id(corp_id: Option<&str>) -> Check {
    const NAME: &str = "corp id";
    match corp_id {
        None | Some("") => {
            Check::fail(NAME, "not set", format!("set WXKF_CORP_ID (or --corp-id) to {CORP_ID_PLACE}"))
        }
        Some(id) if id.trim() != id => {
            Check::fail(NAME, "has spaces or a line break around it", "remove them: copy only the 企业ID")
        }
        Some(id) if !id.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            Check::fail(NAME, "has characters other than letters and digits", format!("use {CORP_ID_PLACE}"))
        }
        Some(id) if !(id.starts_with("ww") || id.starts_with("wx")) => {
            Check::fail(NAME, format!("{id} does not start with ww or wx"), format!("use {CORP_ID_PLACE}"))
        }
        Some(id) => Check::pass(NAME, format!("{id} ({} characters)", id.len())),
    }
}

fn check_secret(secret: Option<&str>) -> Check {
    const NAME: &str = "secret";
    match secret {
        None | Some("") => Check::fail(
            NAME,
            "not set",
            "set WXKF_APP_SECRET (or --secret-file) to the Secret of the app that calls the Kf API",
        ),
        Some(s) if s.trim() != s => Check::fail(
            NAME,
            "has spaces or a line break around it",
            "remove them: copy only the Secret (a file may end with one newline, no more)",
        ),
        Some(s) => Check::pass(NAME, format!("set ({} characters, not shown)", s.chars().count())),
    }
}

fn check_token(token: Option<&str>, needed: bool) -> Check {
    const NAME: &str = "callback Token";
    match token {
        None if needed => Check::fail(
            NAME,
            "not set",
            "set WXKF_TOKEN (or --token-file) to the Token saved with the callback URL",
        ),
        None => Check::skip(NAME, "WXKF_TOKEN not set (needed for the callback check)"),
        Some(t) => match Token::new(t) {
            Ok(_) => Check::pass(NAME, format!("{} letters and digits (not shown)", t.len())),
            Err(e) => Check::fail(
                NAME,
                e.to_string(),
                "the Token is 1 to 32 letters and digits, copied without spaces; `wxkf keygen` makes a new one",
            ),
        },
    }
}

fn check_key(key: Option<&str>, needed: bool) -> Check {
    const NAME: &str = "EncodingAESKey";
    match key {
        None if needed => Check::fail(
            NAME,
            "not set",
            "set WXKF_ENCODING_AES_KEY (or --aes-key-file) to the EncodingAESKey saved with the callback URL",
        ),
        None => Check::skip(NAME, "WXKF_ENCODING_AES_KEY not set (needed for the callback check)"),
        Some(k) => match EncodingAesKey::new(k) {
            Ok(_) => Check::pass(NAME, "43 characters (not shown)"),
            Err(e) => Check::fail(
                NAME,
                format!("{e} ({} characters)", k.chars().count()),
                "the key is 43 letters and digits, copied without a trailing '=' or spaces; `wxkf keygen` makes a \
                 new pair",
            ),
        },
    }
}

/// The IP in WeCom's errmsg suffix `from ip: a.b.c.d`.
fn reported_ip(errmsg: &str) -> Option<&str> {
    let start = errmsg.find("from ip:")? + "from ip:".len();
    let rest = errmsg.get(start..)?.trim_start();
    let ip = rest.split(|c: char| c == ',' || c.is_whitespace()).next()?;
    (!ip.is_empty()).then_some(ip)
}

/// What to do about an API error seen by `gettoken` or `kf/account/list`.
fn api_fix(step: &str, errcode: i64, errmsg: &str, hint: Option<&str>) -> String {
    match errcode {
        60020 => {
            let ip = reported_ip(errmsg).unwrap_or("(WeCom did not say)");
            format!(
                "WeCom saw this request come from IP {ip}, which is not a trusted IP of the app. Add {ip} in the \
                 admin console: 应用管理 → (the app that calls the Kf API) → 企业可信IP → 配置 (it takes about a \
                 minute); behind NAT or a proxy, add its public IP. Apps created after 2022-06-20 need this"
            )
        }
        40013 => format!("the CorpID is wrong: set WXKF_CORP_ID to {CORP_ID_PLACE}"),
        40001 => "the Secret is wrong, was reset, or its app is disabled: use the Kf secret (微信客服 → API), or the \
                  Secret of a self-built app listed there under 可调用接口的应用 — not the Secret of another \
                  self-built app, and not one replaced by 重置"
            .to_owned(),
        41002 => "the CorpID is empty: set WXKF_CORP_ID".to_owned(),
        41004 => "the Secret is empty: set WXKF_APP_SECRET".to_owned(),
        45009 => "too many calls (repeated wrong secrets block the IP for an hour): wait, then check the Secret"
            .to_owned(),
        48002 | 48001 | 60011 | 301002 | 95011 | 95012 if step == "kf/account/list" => format!(
            "this Secret gets a token but may not call the Kf API: use the Kf secret (微信客服 → API), or add \
             its app under 微信客服 → API → 可调用接口的应用{}",
            hint.map(|h| format!(" ({h})")).unwrap_or_default()
        ),
        _ => hint.map(str::to_owned).unwrap_or_else(|| format!("`wxkf errcode {errcode}` explains the code")),
    }
}

fn client_failure(name: &'static str, base_url: &str, error: &wxkf_client::Error) -> Check {
    match error {
        wxkf_client::Error::Api { errcode, errmsg, hint } => Check::fail(
            name,
            format!("errcode {errcode} ({})", wxkf_types::errcode::strip_errmsg_suffix(errmsg)),
            api_fix(name, *errcode, errmsg, *hint),
        ),
        other => {
            let mut chain = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                chain.push_str(": ");
                chain.push_str(&cause.to_string());
                source = cause.source();
            }
            Check::fail(
                name,
                chain,
                format!(
                    "cannot talk to {base_url}: check the network, DNS, an HTTPS proxy, or WXKF_BASE_URL"
                ),
            )
        }
    }
}

/// `wxkf doctor`.
pub(crate) async fn doctor(args: DoctorArgs) -> Result<(), Failure> {
    let env = |name: &str| std::env::var(name).ok();
    let corp_id = args.corp_id.clone().or_else(|| env(wxkf_client::ENV_CORP_ID));
    let secret = secrets::resolve(secrets::Source {
        flag: "--secret",
        value: args.secret.clone().map(|s| s.0),
        file_flag: "--secret-file",
        file: args.secret_file.as_deref(),
        env: wxkf_client::ENV_APP_SECRET,
    })
    .map_err(|e| usage("doctor", ErrorKind::Io, e.0))?;
    let base_url = args
        .base_url
        .clone()
        .or_else(|| env(wxkf_client::ENV_BASE_URL))
        .unwrap_or_else(|| wxkf_client::DEFAULT_BASE_URL.to_owned());
    let (token, key) = callback_values("doctor", &args.callback)?;
    let wants_callback = args.callback_url.is_some();

    let mut checks = vec![
        check_corp_id(corp_id.as_deref()),
        check_secret(secret.as_deref()),
        check_token(token.as_deref(), wants_callback),
        check_key(key.as_deref(), wants_callback),
    ];
    let credentials_ok = checks[..2].iter().all(|c| c.status == Status::Pass);

    match (credentials_ok, corp_id.as_deref(), secret) {
        (true, Some(corp_id), Some(secret)) => {
            checks.extend(api_checks(corp_id, secret, &base_url).await);
        }
        _ => {
            checks.push(Check::skip("gettoken", "needs a corp id and a secret of the right shape"));
            checks.push(Check::skip("kf/account/list", "needs a token"));
        }
    }

    if let Some(url) = &args.callback_url {
        match (corp_id.as_deref(), token.as_deref(), key.as_deref()) {
            (Some(corp_id), Some(token), Some(key)) => {
                match CallbackCrypto::new(token, key, corp_id) {
                    Ok(crypto) => checks
                        .extend(crate::callback_check::check(url, &crypto, corp_id, &args.callback).await),
                    Err(_) => checks
                        .push(Check::skip("callback", "needs a valid Token, EncodingAESKey and corp id")),
                }
            }
            _ => checks.push(Check::skip("callback", "needs the Token, EncodingAESKey and corp id")),
        }
    }
    report(&checks, args.json)
}

async fn api_checks(corp_id: &str, secret: String, base_url: &str) -> Vec<Check> {
    let client = match Client::builder(corp_id, secret)
        .base_url(base_url)
        .timeout(Duration::from_secs(10))
        .retry_policy(RetryPolicy::none())
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            return vec![
                client_failure("gettoken", base_url, &e),
                Check::skip("kf/account/list", "needs a token"),
            ];
        }
    };
    let mut checks = Vec::new();
    match client.access_token().await {
        Ok(_) => checks.push(Check::pass("gettoken", format!("a token from {base_url} (not shown)"))),
        Err(e) => {
            checks.push(client_failure("gettoken", base_url, &e));
            checks.push(Check::skip("kf/account/list", "needs a token"));
            return checks;
        }
    }
    match client.account().list_all().await {
        Ok(accounts) if accounts.is_empty() => {
            checks.push(Check::pass("kf/account/list", "the secret may call the Kf API; 0 accounts"));
            checks.push(Check::note(
                "kf/account/list",
                "no account is under this app's API management: admin console 微信客服 → API → \
                 通过API管理微信客服账号, or create one with `wxkf accounts add`",
            ));
        }
        Ok(accounts) => {
            let mut detail = format!("the secret may call the Kf API; {} account(s):", accounts.len());
            for a in &accounts {
                let manage = match a.manage_privilege {
                    Some(false) => " (not manageable by this app)",
                    _ => "",
                };
                detail.push_str(&format!("\n    {} {}{manage}", a.open_kfid, a.name));
            }
            checks.push(Check::pass("kf/account/list", detail));
        }
        Err(e) => checks.push(client_failure("kf/account/list", base_url, &e)),
    }
    checks
}

/// `wxkf check-callback URL`.
pub(crate) async fn check_callback(args: CheckCallbackArgs) -> Result<(), Failure> {
    let corp_id = args.corp_id.clone().or_else(|| std::env::var(wxkf_client::ENV_CORP_ID).ok());
    let (token, key) = callback_values("check-callback", &args.callback)?;
    let mut checks = vec![
        check_corp_id(corp_id.as_deref()),
        check_token(token.as_deref(), true),
        check_key(key.as_deref(), true),
    ];
    if checks.iter().all(|c| c.status == Status::Pass) {
        if let (Some(corp_id), Some(token), Some(key)) =
            (corp_id.as_deref(), token.as_deref(), key.as_deref())
        {
            match CallbackCrypto::new(token, key, corp_id) {
                Ok(crypto) => checks
                    .extend(crate::callback_check::check(&args.url, &crypto, corp_id, &args.callback).await),
                Err(e) => checks.push(Check::fail("callback", e.to_string(), e.hint())),
            }
        }
    } else {
        checks.push(Check::skip("callback", "needs a valid Token, EncodingAESKey and corp id"));
    }
    report(&checks, args.json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ip_is_read_from_wecoms_errmsg() {
        let errmsg = "not allow to access from your ip, hint: [1764400000_1_abc], from ip: 203.0.113.7, more info at https://open.work.weixin.qq.com/devtool/query?e=60020";
        assert_eq!(reported_ip(errmsg), Some("203.0.113.7"));
        assert_eq!(reported_ip("from ip: 2001:db8::1"), Some("2001:db8::1"));
        assert_eq!(reported_ip("no ip here"), None);
        assert_eq!(reported_ip("from ip: "), None);
    }

    #[test]
    fn corp_id_shapes() {
        assert_eq!(check_corp_id(Some("ww0123456789abcdef")).status, Status::Pass);
        assert_eq!(check_corp_id(Some("wx5823bf96d3bd56c7")).status, Status::Pass);
        for bad in [None, Some(""), Some(" ww01 "), Some("ww01-2"), Some("corp123")] {
            assert_eq!(check_corp_id(bad).status, Status::Fail, "{bad:?}");
        }
    }
}
