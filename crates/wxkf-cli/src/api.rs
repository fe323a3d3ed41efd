//! The Kf API from the shell: `token`, `accounts`, `servicers`, `send`, `sync`, `state`, `errcode`.
//! Each builds a `wxkf_client::Client` from the same environment the bots read.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::error::ErrorKind;
use serde_json::{Value, json};
use wxkf_client::{Client, MemoryTokenStore, RetryPolicy, TokenStore};
use wxkf_types::account::{AccountAddRequest, AccountDelRequest, AccountListRequest, AddContactWayRequest};
use wxkf_types::media::MediaType;
use wxkf_types::message::{Message, SendMsgRequest, SyncMsgRequest};
use wxkf_types::service_state::{ServiceState, ServiceStateGetRequest, ServiceStateTransRequest};
use wxkf_types::servicer::{ServicerListRequest, ServicerStatus, ServicerTarget};

use crate::args::{
    AccountsAction, AccountsArgs, ApiOpts, ErrcodeArgs, SendArgs, ServicersArgs, StateArgs, SyncArgs,
    TokenArgs,
};
use crate::output::{Failure, print_line, usage};
use crate::secrets;

/// A client for `opts`, and the token store it caches in (read by `wxkf token` for the expiry).
fn client(subcommand: &str, opts: &ApiOpts) -> Result<(Client, Arc<MemoryTokenStore>), Failure> {
    client_with(subcommand, opts, RetryPolicy::default())
}

fn client_with(
    subcommand: &str,
    opts: &ApiOpts,
    retry: RetryPolicy,
) -> Result<(Client, Arc<MemoryTokenStore>), Failure> {
    let secret = secrets::resolve(secrets::Source {
        flag: "--secret",
        value: opts.secret.clone().map(|s| s.0),
        file_flag: "--secret-file",
        file: opts.secret_file.as_deref(),
        env: wxkf_client::ENV_APP_SECRET,
    })
    .map_err(|e| usage(subcommand, ErrorKind::Io, e.0))?
    .ok_or_else(|| {
        usage(
            subcommand,
            ErrorKind::MissingRequiredArgument,
            "no app secret: set WXKF_APP_SECRET or pass --secret-file FILE",
        )
    })?;
    let corp_id = opts.corp_id.clone().filter(|id| !id.is_empty()).ok_or_else(|| {
        usage(
            subcommand,
            ErrorKind::MissingRequiredArgument,
            "no corp id: set WXKF_CORP_ID or pass --corp-id ID",
        )
    })?;
    let store = Arc::new(MemoryTokenStore::new());
    let client = Client::builder(corp_id, secret)
        .base_url(opts.base_url.clone())
        .timeout(Duration::from_secs(30))
        .retry_policy(retry)
        .token_store(store.clone())
        .build()
        .map_err(Failure::Api)?;
    Ok((client, store))
}

fn json_line(value: &Value) -> Result<(), Failure> {
    print_line(&value.to_string())
}

/// `wxkf token`: fetches a token and prints how long it is valid.
pub(crate) async fn token(args: TokenArgs) -> Result<(), Failure> {
    let (client, store) = client("token", &args.api)?;
    let token = client.access_token().await.map_err(Failure::Api)?;
    let cached = store.get(client.token_key()).await.ok().flatten();
    let expires_at = cached.map(|c| c.expires_at).unwrap_or_else(SystemTime::now);
    let expires_in = expires_at.duration_since(SystemTime::now()).map(|d| d.as_secs()).unwrap_or(0);
    let expires_at = expires_at.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    if args.api.json {
        let mut out = json!({ "expires_in": expires_in, "expires_at": expires_at });
        if args.show {
            out["access_token"] = Value::from(token.expose_secret());
        }
        return json_line(&out);
    }
    let mut text = format!("access token valid for {expires_in} s (until {})", utc(expires_at));
    if args.show {
        text.push('\n');
        text.push_str(token.expose_secret());
    }
    print_line(&text)
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC` (proleptic Gregorian; Howard Hinnant's civil-from-days).
fn utc(unix: u64) -> String {
    let days = unix / 86_400;
    let secs = unix % 86_400;
    // days since 0000-03-01, so that leap days fall at the end of a year
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// `wxkf accounts list|add|del|link`.
pub(crate) async fn accounts(args: AccountsArgs) -> Result<(), Failure> {
    let (client, _) = client("accounts", &args.api)?;
    let json = args.api.json;
    match args.action {
        AccountsAction::List => {
            let mut offset = 0u32;
            let mut lines = Vec::new();
            // paged by hand (not list_all) so that an empty list still prints its note
            loop {
                let page = client
                    .account()
                    .list(AccountListRequest::new().with_offset(offset).with_limit(100))
                    .await
                    .map_err(Failure::Api)?;
                let n = page.account_list.len();
                for a in page.account_list {
                    lines.push(if json {
                        json!({ "open_kfid": a.open_kfid, "name": a.name, "avatar": a.avatar,
                                "manage_privilege": a.manage_privilege })
                        .to_string()
                    } else {
                        format!("{}\t{}\t{}", a.open_kfid, a.name, manage(a.manage_privilege))
                    });
                }
                if n < 100 {
                    break;
                }
                offset = offset.saturating_add(100);
            }
            if lines.is_empty() && !json {
                eprintln_note(
                    "no accounts: the app sees only accounts put under API management \
                     (admin console: 微信客服 → API → 通过API管理微信客服账号)",
                );
                return Ok(());
            }
            for line in lines {
                print_line(&line)?;
            }
            Ok(())
        }
        AccountsAction::Add { name, avatar, media_id } => {
            let media_id = match (media_id, avatar) {
                (Some(id), _) => id,
                (None, Some(path)) => {
                    client.media().upload_file(MediaType::Image, &path).await.map_err(Failure::Api)?.media_id
                }
                (None, None) => {
                    return Err(usage(
                        "accounts",
                        ErrorKind::MissingRequiredArgument,
                        "--avatar or --media-id",
                    ));
                }
            };
            let added =
                client.account().add(AccountAddRequest::new(name, media_id)).await.map_err(Failure::Api)?;
            if json {
                json_line(&json!({ "open_kfid": added.open_kfid }))
            } else {
                print_line(&added.open_kfid)
            }
        }
        AccountsAction::Del { kf } => {
            client.account().del(AccountDelRequest::new(kf.clone())).await.map_err(Failure::Api)?;
            if json { json_line(&json!({ "deleted": kf })) } else { print_line(&format!("deleted {kf}")) }
        }
        AccountsAction::Link { kf, scene, scene_param } => {
            let mut req = AddContactWayRequest::new(kf);
            if let Some(scene) = scene {
                if !AddContactWayRequest::is_valid_scene(&scene) {
                    return Err(usage(
                        "accounts",
                        ErrorKind::ValueValidation,
                        "--scene must be at most 32 bytes of [0-9A-Za-z_-]",
                    ));
                }
                req = req.with_scene(scene);
            }
            let link = client.account().add_contact_way(req).await.map_err(Failure::Api)?;
            let url = match scene_param {
                Some(param) => link.url_with_scene_param(&param).map_err(|e| Failure::Message {
                    message: format!("cannot add --scene-param to the link: {e}"),
                    hint: "keep scene_param at most 128 bytes once URL-encoded".to_owned(),
                })?,
                None => link.url,
            };
            if json { json_line(&json!({ "url": url })) } else { print_line(&url) }
        }
    }
}

fn manage(privilege: Option<bool>) -> &'static str {
    match privilege {
        Some(true) => "manageable",
        Some(false) => "not manageable by this app",
        None => "-",
    }
}

fn eprintln_note(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "note: {text}");
}

/// `wxkf servicers --kf ID`.
pub(crate) async fn servicers(args: ServicersArgs) -> Result<(), Failure> {
    let (client, _) = client("servicers", &args.api)?;
    let list = client.servicer().list(ServicerListRequest::new(args.kf)).await.map_err(Failure::Api)?;
    for entry in list.servicer_list {
        let status = match entry.status {
            Some(ServicerStatus::Receiving) => "receiving".to_owned(),
            Some(ServicerStatus::Stopped) => "stopped".to_owned(),
            Some(other) => format!("status {}", u32::from(other)),
            None => "-".to_owned(),
        };
        let line = match (&entry.target, args.api.json) {
            (_, true) => serde_json::to_string(&entry).unwrap_or_default(),
            (ServicerTarget::User(id), false) => format!("user\t{id}\t{status}"),
            (ServicerTarget::Department(id), false) => format!("department\t{id}\t{status}"),
            (_, false) => format!("unknown\t-\t{status}"),
        };
        print_line(&line)?;
    }
    Ok(())
}

/// `wxkf send --kf ID --to USER --text T | --image FILE`.
pub(crate) async fn send(args: SendArgs) -> Result<(), Failure> {
    let (client, _) = client("send", &args.api)?;
    let req = match (args.text, args.image) {
        (Some(text), _) => SendMsgRequest::text(&args.to, &args.kf, text),
        (None, Some(path)) => {
            let media = client.media().upload_file(MediaType::Image, &path).await.map_err(Failure::Api)?;
            SendMsgRequest::image(&args.to, &args.kf, media.media_id)
        }
        (None, None) => return Err(usage("send", ErrorKind::MissingRequiredArgument, "--text or --image")),
    };
    let sent = client.message().send_msg(req).await.map_err(Failure::Api)?;
    if args.api.json { json_line(&json!({ "msgid": sent.msgid })) } else { print_line(&sent.msgid) }
}

/// One message as one line: time, origin, customer, type and a short content.
fn message_line(message: &Message) -> String {
    let value = serde_json::to_value(message).unwrap_or(Value::Null);
    let msgtype = message.msgtype();
    let payload = &value[msgtype];
    let content = match msgtype {
        "text" => payload["content"].as_str().map(str::to_owned).unwrap_or_default(),
        "event" => payload["event_type"].as_str().map(str::to_owned).unwrap_or_default(),
        _ => payload.to_string(),
    };
    let origin = match value["origin"].as_u64() {
        Some(3) => "customer".to_owned(),
        Some(4) => "event".to_owned(),
        Some(5) => "servicer".to_owned(),
        Some(n) => format!("origin {n}"),
        None => "-".to_owned(),
    };
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}",
        message.send_time,
        message.msgid,
        origin,
        message.external_userid().unwrap_or("-"),
        msgtype,
        content
    )
}

/// `wxkf sync --kf ID [--cursor C] [--follow]`.
pub(crate) async fn sync(args: SyncArgs) -> Result<(), Failure> {
    // following, a frequency limit (45009) waits for the next round, at a doubled interval, instead
    // of the client's own throttle backoff
    let retry = if args.follow {
        RetryPolicy::default().with_throttle(0, Duration::from_secs(1), Duration::from_secs(1))
    } else {
        RetryPolicy::default()
    };
    let (client, _) = client_with("sync", &args.api, retry)?;
    let mut cursor = args.cursor.clone().filter(|c| !c.is_empty());
    let mut interval = Duration::from_secs(args.interval);
    let mut rounds = 0u64;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let outcome = loop {
        let round = drain(&client, &args, &mut cursor);
        let result = tokio::select! {
            result = round => result,
            _ = &mut ctrl_c => break Ok(()),
        };
        match result {
            // stdout was closed (e.g. `| head -n 5`): nobody reads any more
            Ok(Drained::StdoutClosed) => break Ok(()),
            Ok(Drained::Done) => interval = Duration::from_secs(args.interval),
            // a frequency limit while following: wait longer instead of giving up
            Err(e) if args.follow && e.errcode() == Some(45009) => {
                interval = (interval * 2).min(Duration::from_secs(600));
                eprintln_note(&format!("{e}; pulling again in {} s", interval.as_secs()));
            }
            Err(e) => break Err(Failure::Api(e)),
        }
        rounds = rounds.saturating_add(1);
        if !args.follow || args.max_rounds.is_some_and(|max| rounds >= max) {
            break Ok(());
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = &mut ctrl_c => break Ok(()),
        }
    };
    if let Some(cursor) = &cursor {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "cursor: {cursor}");
    }
    outcome
}

/// How a round of pulling ended.
enum Drained {
    /// `has_more` was 0.
    Done,
    /// Writing to stdout failed.
    StdoutClosed,
}

/// Pulls until `has_more` is 0, printing each message and moving `cursor` after each page.
async fn drain(
    client: &Client,
    args: &SyncArgs,
    cursor: &mut Option<String>,
) -> Result<Drained, wxkf_client::Error> {
    loop {
        let mut req = SyncMsgRequest::new(args.kf.clone());
        if let Some(c) = cursor.as_deref() {
            req = req.with_cursor(c);
        }
        let page = client.message().sync_msg(req).await?;
        for message in &page.msg_list {
            let line = if args.api.json {
                serde_json::to_string(message).unwrap_or_default()
            } else {
                message_line(message)
            };
            if print_line(&line).is_err() {
                return Ok(Drained::StdoutClosed);
            }
        }
        if !page.next_cursor.is_empty() {
            *cursor = Some(page.next_cursor);
        }
        if !page.has_more {
            return Ok(Drained::Done);
        }
    }
}

fn state_name(state: ServiceState) -> &'static str {
    match state {
        ServiceState::New => "new (未处理)",
        ServiceState::Bot => "bot (由智能助手接待)",
        ServiceState::Queued => "queued (待接入池排队中)",
        ServiceState::Human => "human (由人工接待)",
        ServiceState::Ended => "ended (已结束/未开始)",
        _ => "unknown",
    }
}

/// `wxkf state --kf ID --to USER [--trans N [--servicer U]]`.
pub(crate) async fn state(args: StateArgs) -> Result<(), Failure> {
    let (client, _) = client("state", &args.api)?;
    let json = args.api.json;
    match args.trans {
        None => {
            let got = client
                .service_state()
                .get(ServiceStateGetRequest::new(&args.kf, &args.to))
                .await
                .map_err(Failure::Api)?;
            let code = u32::from(got.service_state);
            if json {
                return json_line(&json!({ "service_state": code, "servicer_userid": got.servicer_userid }));
            }
            let mut line = format!("{code} {}", state_name(got.service_state));
            if let Some(servicer) = got.servicer_userid.filter(|s| !s.is_empty()) {
                line.push_str(&format!("\tservicer {servicer}"));
            }
            print_line(&line)
        }
        Some(target) => {
            let target = ServiceState::from(target);
            if target == ServiceState::Human && args.servicer.is_none() {
                return Err(usage(
                    "state",
                    ErrorKind::MissingRequiredArgument,
                    "--trans 3 needs --servicer USERID",
                ));
            }
            let mut req = ServiceStateTransRequest::new(&args.kf, &args.to, target);
            req.servicer_userid = args.servicer;
            let moved = client.service_state().trans(req).await.map_err(Failure::Api)?;
            if json {
                return json_line(&json!({ "service_state": u32::from(target), "msg_code": moved.msg_code }));
            }
            let mut line = format!("moved to {} {}", u32::from(target), state_name(target));
            if let Some(code) = moved.msg_code.filter(|c| !c.is_empty()) {
                line.push_str(&format!("\tmsg_code {code} (for send_msg_on_event)"));
            }
            print_line(&line)
        }
    }
}

/// `wxkf errcode CODE`: the error-code table's row.
pub(crate) fn errcode(args: ErrcodeArgs) -> Result<(), Failure> {
    let Some(info) = wxkf_types::errcode::lookup(args.code) else {
        return Err(Failure::Message {
            message: format!("errcode {} is not in wxkf's table", args.code),
            hint: format!(
                "look it up in WeCom's global error code page (90313), or open \
                 https://open.work.weixin.qq.com/devtool/query?e={}",
                args.code
            ),
        });
    };
    if args.json {
        return json_line(&json!({
            "code": info.code, "name": info.name, "zh": info.zh, "en": info.en,
            "action": info.action, "category": info.category.as_str(),
        }));
    }
    print_line(&format!(
        "{} {} ({})\n中文: {}\nEnglish: {}\nWhat to do: {}",
        info.code, info.name, info.category, info.zh, info.en, info.action
    ))
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn unix_seconds_as_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_409_659_589), "2014-09-02 12:06:29 UTC");
        assert_eq!(utc(1_795_996_799), "2026-11-29 23:59:59 UTC");
    }
}
