//! Calls a callback route exactly as WeCom does (kf-api.md §12, callback-crypto.md §8): a signed
//! URL-verification GET whose `echostr` must be echoed, and a signed, encrypted `kf_msg_or_event`
//! POST that must be answered `success` (or an empty body) in time. Each failure names its likely
//! cause.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use wxkf_crypto::CallbackCrypto;

use crate::args::CallbackOpts;
use crate::check::Check;

/// What one request to the route brought back.
struct Answer {
    status: u16,
    body: String,
    location: Option<String>,
    elapsed: Duration,
}

/// A URL-verification request: the echo expected back, and the query that carries it.
struct Probe {
    echo: String,
    query: String,
}

/// The longest a request may hang before it counts as unanswered: long enough to say how slow a
/// slow route is.
fn hard_limit(within: Duration) -> Duration {
    within.max(Duration::from_secs(5)) + Duration::from_secs(1)
}

fn now_secs() -> String {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0).to_string()
}

/// `n` random decimal digits.
fn digits(n: usize) -> Result<String, String> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness from the OS: {e}"))?;
    Ok(bytes.iter().map(|b| char::from(b'0' + b % 10)).collect())
}

/// Percent-encodes a query value the way WeCom does for base64 text (`+`, `/`, `=` and anything
/// outside the unreserved set).
fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3 / 2);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A URL-verification query whose base64 `echostr` does (or does not) contain a `+`: the `+`
/// probe catches proxies and frameworks that turn it into a space, the other tells that fault
/// apart from a wrong Token or key.
fn verification_probe(crypto: &CallbackCrypto, with_plus: bool) -> Result<Probe, String> {
    let timestamp = now_secs();
    let nonce = digits(10)?;
    // each encryption draws a new random prefix, so the ciphertext varies; about one in three has
    // no '+', so a few hundred tries never all miss
    for _ in 0..500 {
        let echo = digits(19)?;
        let encrypt = crypto.encrypt(echo.as_bytes()).map_err(|e| e.to_string())?;
        if encrypt.contains('+') != with_plus {
            continue;
        }
        let signature = crypto.sign(&timestamp, &nonce, &encrypt).to_hex();
        let query = format!(
            "msg_signature={signature}&timestamp={timestamp}&nonce={nonce}&echostr={}",
            encode_query_value(&encrypt)
        );
        return Ok(Probe { echo, query });
    }
    Err("could not draw an echostr of the wanted shape".to_owned())
}

/// The URL with `query` appended (after `?`, or `&` when the URL has a query already).
fn with_query(url: &str, query: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{query}")
}

/// Why a request got no HTTP answer, and what to do.
fn transport_failure(url: &str, error: &reqwest::Error, within: Duration) -> (String, String) {
    let mut chain = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    let lower = chain.to_ascii_lowercase();
    if error.is_timeout() {
        (
            format!("no answer within {:.1} s", hard_limit(within).as_secs_f64()),
            "too slow: WeCom gives up and the admin console says \"openapi回调地址请求不通过\" (a POST is \
             retried). Answer at once: verify and decrypt, reply, and do any slow work afterwards"
                .to_owned(),
        )
    } else if url.starts_with("https:")
        && ["certificate", "tls", "ssl", "handshake", "invalidcontenttype", "corrupt message"]
            .iter()
            .any(|w| lower.contains(w))
    {
        (
            format!("the HTTPS connection failed: {chain}"),
            "HTTPS: serve a certificate from a public CA, valid for this host name and not expired, with \
             its intermediate certificates; make sure the port speaks TLS (not plain HTTP)"
                .to_owned(),
        )
    } else if error.is_connect() {
        (
            format!("cannot connect: {chain}"),
            "check the host name, port and firewall: WeCom must reach this URL from the internet".to_owned(),
        )
    } else {
        (format!("the request failed: {chain}"), "check the URL and the server's logs".to_owned())
    }
}

async fn send(request: reqwest::RequestBuilder) -> Result<Answer, reqwest::Error> {
    let started = Instant::now();
    let response = request.send().await?;
    let status = response.status().as_u16();
    let location =
        response.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = response.text().await?;
    Ok(Answer { status, body, location, elapsed: started.elapsed() })
}

/// The first 120 characters of a body, on one line.
fn excerpt(body: &str) -> String {
    let one_line: String = body.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let mut cut: String = one_line.chars().take(120).collect();
    if one_line.chars().count() > 120 {
        cut.push('…');
    }
    cut
}

/// The likely cause of a refused callback, read from the route's answer.
fn refused_cause(answer: &Answer) -> String {
    let lower = answer.body.to_ascii_lowercase();
    if lower.contains("receive id") || lower.contains("receiveid") || lower.contains("corp") {
        "the CorpID (receive id) differs from the route's: the route must decrypt with your CorpID".to_owned()
    } else if lower.contains("decrypt")
        || lower.contains("padding")
        || lower.contains("aes")
        || lower.contains("key")
    {
        "the wrong EncodingAESKey: the route does not decrypt with the key saved in the admin console for this \
         URL (\"Invalid padding\" in its logs is the same fault)"
            .to_owned()
    } else if lower.contains("signature") {
        "the wrong Token: the route's Token differs from the one saved in the admin console for this URL"
            .to_owned()
    } else {
        "the wrong Token or EncodingAESKey: the route must use the Token and key saved in the admin console \
         for this URL, and your CorpID"
            .to_owned()
    }
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// Runs the GET and POST checks against `url`.
pub(crate) async fn check(
    url: &str,
    crypto: &CallbackCrypto,
    corp_id: &str,
    opts: &CallbackOpts,
) -> Vec<Check> {
    let mut checks = Vec::new();
    let parsed = match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => parsed,
        _ => {
            checks.push(Check::fail(
                "callback URL",
                format!("{url:?} is not an http(s) URL"),
                "give the URL exactly as saved in the admin console, e.g. https://example.com/wxkf/callback",
            ));
            return checks;
        }
    };
    if let Some(host) = parsed.host_str() {
        let local = host == "localhost"
            || host.parse::<std::net::IpAddr>().is_ok_and(|ip| match ip {
                std::net::IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
                std::net::IpAddr::V6(v6) => v6.is_loopback(),
            });
        if local {
            checks.push(Check::note(
                "callback URL",
                format!("{host} is a local address: WeCom calls from the internet and cannot reach it"),
            ));
        }
    }
    let verify_within = Duration::from_millis(opts.verify_within);
    let post_within = Duration::from_millis(opts.post_within);
    let http = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(hard_limit(verify_within.max(post_within)))
        .build()
    {
        Ok(http) => http,
        Err(e) => {
            checks.push(Check::fail(
                "callback",
                format!("cannot build an HTTP client: {e}"),
                "report this bug",
            ));
            return checks;
        }
    };
    checks.push(check_get(&http, url, crypto, verify_within).await);
    checks.push(check_post(&http, url, crypto, corp_id, &opts.open_kfid, post_within).await);
    checks
}

const GET: &str = "callback GET (URL verification)";
const POST: &str = "callback POST (kf_msg_or_event)";

async fn verify_once(
    http: &reqwest::Client,
    url: &str,
    crypto: &CallbackCrypto,
    with_plus: bool,
    within: Duration,
) -> Result<(Probe, Result<Answer, reqwest::Error>), String> {
    let probe = verification_probe(crypto, with_plus)?;
    let request = http.get(with_query(url, &probe.query)).timeout(hard_limit(within));
    let answer = send(request).await;
    Ok((probe, answer))
}

async fn check_get(http: &reqwest::Client, url: &str, crypto: &CallbackCrypto, within: Duration) -> Check {
    let (probe, answer) = match verify_once(http, url, crypto, true, within).await {
        Ok(done) => done,
        Err(e) => return Check::fail(GET, e, "report this bug"),
    };
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) => {
            let (detail, fix) = transport_failure(url, &e, within);
            return Check::fail(GET, detail, fix);
        }
    };
    if let Some(check) = wrong_place(GET, &answer) {
        return check;
    }
    if answer.status == 200 && answer.body == probe.echo {
        if answer.elapsed > within {
            return Check::fail(
                GET,
                format!(
                    "echoed correctly but after {} ms; WeCom allows {} ms",
                    ms(answer.elapsed),
                    ms(within)
                ),
                "too slow: answer the verification at once (no database or network calls before it); a cold \
                 start (serverless, a sleeping container) also counts",
            );
        }
        return Check::pass(GET, format!("echoed in {} ms", ms(answer.elapsed)));
    }
    if answer.status == 200 {
        let trimmed = answer.body.trim_start_matches('\u{feff}').trim().trim_matches('"');
        if trimmed == probe.echo {
            return Check::fail(
                GET,
                format!("answered {:?} instead of the bare echo", excerpt(&answer.body)),
                "the body must be exactly the decrypted echostr: no quotes, JSON, newline or BOM",
            );
        }
    }
    // refused or wrong: does the route work when echostr holds no '+'?
    let plain = verify_once(http, url, crypto, false, within).await;
    if let Ok((probe2, Ok(answer2))) = plain
        && answer2.status == 200
        && answer2.body == probe2.echo
    {
        return Check::fail(
            GET,
            format!(
                "HTTP {} ({}) when echostr contains '+', but echoed when it does not",
                answer.status,
                excerpt(&answer.body)
            ),
            "a proxy or framework rewrites '+' (to a space, or decodes the query twice): pass the query \
                 through unchanged and decode it exactly once; a space in echostr stands for '+'",
        );
    }
    if answer.status == 200 {
        return Check::fail(
            GET,
            format!("HTTP 200, but the body is not the decrypted echostr: {}", excerpt(&answer.body)),
            "likely the wrong path (something else answers here) or a route that does not handle URL \
             verification: the GET must be answered with the decrypted echostr and nothing else",
        );
    }
    Check::fail(
        GET,
        format!("HTTP {}: {}", answer.status, excerpt(&answer.body)),
        format!("the route refused the verification: likely {}", refused_cause(&answer)),
    )
}

/// A 3xx, 404 or 405: the request reached a server, but not the route.
fn wrong_place(name: &'static str, answer: &Answer) -> Option<Check> {
    match answer.status {
        300..=399 => Some(Check::fail(
            name,
            format!(
                "HTTP {} redirect to {}",
                answer.status,
                answer.location.as_deref().unwrap_or("(no Location)")
            ),
            "a redirect is not an answer: save the final URL (scheme, host, path, trailing slash) in the admin \
             console",
        )),
        404 => Some(Check::fail(
            name,
            "HTTP 404: nothing answers at this path".to_owned(),
            "the wrong path: use the route's exact path (wxkf-axum's default is /wxkf/callback); a reverse \
             proxy may strip or add a prefix",
        )),
        405 => Some(Check::fail(
            name,
            "HTTP 405: the path exists but not for this method".to_owned(),
            "the wrong path or route: the callback URL must answer both GET (verification) and POST (events)",
        )),
        _ => None,
    }
}

async fn check_post(
    http: &reqwest::Client,
    url: &str,
    crypto: &CallbackCrypto,
    corp_id: &str,
    open_kfid: &str,
    within: Duration,
) -> Check {
    let timestamp = now_secs();
    let (nonce, sync_token) = match (digits(10), digits(20)) {
        (Ok(n), Ok(t)) => (n, format!("ENC{t}")),
        (Err(e), _) | (_, Err(e)) => return Check::fail(POST, e, "report this bug"),
    };
    let plaintext = format!(
        "<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><CreateTime>{timestamp}</CreateTime>\
         <MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event>\
         <Token><![CDATA[{sync_token}]]></Token><OpenKfId><![CDATA[{open_kfid}]]></OpenKfId></xml>"
    );
    let encrypt = match crypto.encrypt(plaintext.as_bytes()) {
        Ok(e) => e,
        Err(e) => return Check::fail(POST, e.to_string(), e.hint()),
    };
    let signature = crypto.sign(&timestamp, &nonce, &encrypt).to_hex();
    let body = format!(
        "<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt>\
         <AgentID><![CDATA[]]></AgentID></xml>"
    );
    let target = with_query(url, &format!("msg_signature={signature}&timestamp={timestamp}&nonce={nonce}"));
    let request = http
        .post(target)
        .header(reqwest::header::CONTENT_TYPE, "text/xml")
        .body(body)
        .timeout(hard_limit(within));
    let answer = match send(request).await {
        Ok(answer) => answer,
        Err(e) => {
            let (detail, fix) = transport_failure(url, &e, within);
            return Check::fail(POST, detail, fix);
        }
    };
    if let Some(check) = wrong_place(POST, &answer) {
        return check;
    }
    if (200..300).contains(&answer.status) {
        let body = answer.body.trim();
        if body != "success" && !body.is_empty() {
            return Check::fail(
                POST,
                format!("HTTP {} with body {:?}", answer.status, excerpt(&answer.body)),
                "answer `success` (or an empty body) and send replies with send_msg",
            );
        }
        if answer.elapsed > within {
            return Check::fail(
                POST,
                format!(
                    "answered after {} ms; WeCom waits {} ms, then retries",
                    ms(answer.elapsed),
                    ms(within)
                ),
                "too slow: answer `success` first and pull messages (sync_msg) in the background",
            );
        }
        return Check::pass(POST, format!("answered {:?} in {} ms", answer.body, ms(answer.elapsed)));
    }
    if answer.status >= 500 {
        return Check::fail(
            POST,
            format!("HTTP {}: {}", answer.status, excerpt(&answer.body)),
            "the route failed: read its logs (WeCom retries a failed POST, 3 attempts in all)",
        );
    }
    Check::fail(
        POST,
        format!("HTTP {}: {}", answer.status, excerpt(&answer.body)),
        format!("the route refused the event: likely {}", refused_cause(&answer)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded_like_wecom_does() {
        assert_eq!(encode_query_value("ab+/c=="), "ab%2B%2Fc%3D%3D");
        assert_eq!(encode_query_value("1409659589"), "1409659589");
    }

    #[test]
    fn probes_have_the_asked_shape_and_verify() {
        let crypto = CallbackCrypto::new("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wwcorp")
            .expect("valid vector credentials");
        for with_plus in [true, false] {
            let probe = verification_probe(&crypto, with_plus).expect("a probe");
            let q = wxkf_crypto::CallbackQuery::parse(&probe.query);
            let echostr = q.echostr.expect("echostr");
            assert_eq!(echostr.contains('+'), with_plus, "{}", probe.query);
            let echo = crypto
                .verify_url(
                    &q.msg_signature.expect("signature"),
                    &q.timestamp.expect("timestamp"),
                    &q.nonce.expect("nonce"),
                    &echostr,
                )
                .expect("the probe verifies with the same credentials");
            assert_eq!(echo, probe.echo);
        }
    }
}
