//! From an [`Endpoint`] value to HTTP and back: query or JSON body, `access_token` in the query,
//! `errcode` first and the typed response second (kf-api.md §0).

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use wxkf_types::{ApiStatus, Endpoint, Method, RequestBody};

use crate::error::Error;
use crate::token::AccessToken;

/// A request serialized once, sent as often as retries need.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub(crate) method: reqwest::Method,
    pub(crate) path: &'static str,
    /// Query parameters (without `access_token`).
    pub(crate) query: Vec<(String, String)>,
    /// The JSON body, for POST endpoints.
    pub(crate) json: Option<Bytes>,
}

/// Serializes `req` as its endpoint says: GET parameters in the query, POST bodies as UTF-8 JSON
/// (never `\u` escapes, which WeCom rejects with 40033). Empty strings in objects are left out:
/// WeCom rejects `"open_kfid": ""` and the like, and treats a missing optional field as unset.
pub(crate) fn prepare<E: Endpoint>(req: &E) -> Result<Prepared, Error> {
    let method = match E::METHOD {
        Method::Get => reqwest::Method::GET,
        _ => reqwest::Method::POST,
    };
    let value = to_pruned_value(req)?;
    let (query, json) = match E::REQUEST_BODY {
        RequestBody::Query | RequestBody::Multipart => (query_pairs(value)?, None),
        _ => {
            let body = serde_json::to_vec(&value)
                .map_err(|e| Error::invalid_argument(format!("request does not serialize: {e}")))?;
            (Vec::new(), Some(Bytes::from(body)))
        }
    };
    Ok(Prepared { method, path: E::PATH, query, json })
}

/// `value` as JSON with empty strings removed from every object.
pub(crate) fn to_pruned_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, Error> {
    let mut value = serde_json::to_value(value)
        .map_err(|e| Error::invalid_argument(format!("request does not serialize: {e}")))?;
    prune_empty(&mut value);
    Ok(value)
}

/// Removes object members that are `""` or `null`, recursively (array elements are kept).
pub(crate) fn prune_empty(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !matches!(v, Value::Null) && !matches!(v, Value::String(s) if s.is_empty()));
            map.values_mut().for_each(prune_empty);
        }
        Value::Array(items) => items.iter_mut().for_each(prune_empty),
        _ => {}
    }
}

/// Flattens a JSON object of scalars into query pairs.
pub(crate) fn query_pairs(value: Value) -> Result<Vec<(String, String)>, Error> {
    let Value::Object(map) = value else {
        return match value {
            Value::Null => Ok(Vec::new()),
            _ => Err(Error::invalid_argument("a query request must serialize to an object")),
        };
    };
    map.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            Value::Number(n) => Ok((k, n.to_string())),
            Value::Bool(b) => Ok((k, b.to_string())),
            _ => {
                Err(Error::invalid_argument(format!("query parameter {k} must be a string, number or bool")))
            }
        })
        .collect()
}

/// `base + path` with `query` and, when given, `access_token` appended.
pub(crate) fn build_url(
    base: &str,
    path: &str,
    query: &[(String, String)],
    token: Option<&AccessToken>,
) -> Result<reqwest::Url, Error> {
    let mut url = reqwest::Url::parse(&format!("{base}{path}"))
        .map_err(|e| Error::invalid_argument(format!("cannot build the URL of {path}: {e}")))?;
    if !query.is_empty() || token.is_some() {
        let mut pairs = url.query_pairs_mut();
        pairs.extend_pairs(query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if let Some(token) = token {
            pairs.append_pair("access_token", token.expose_secret());
        }
    }
    Ok(url)
}

/// Sends `request` and returns the response if its status is 2xx, else [`Error::Http`].
pub(crate) async fn send(request: reqwest::RequestBuilder) -> Result<reqwest::Response, Error> {
    let response = request.send().await.map_err(Error::transport)?;
    let status = response.status();
    if !status.is_success() {
        return Err(Error::Http { status: status.as_u16() });
    }
    Ok(response)
}

/// Reads the whole body, at most `limit` bytes of it (`media` says which limit it is, for the error).
pub(crate) async fn read_body(
    mut response: reqwest::Response,
    limit: Option<u64>,
    media: bool,
) -> Result<Bytes, Error> {
    let too_large = |limit| Error::ResponseTooLarge { limit, media };
    if let (Some(limit), Some(announced)) = (limit, response.content_length())
        && announced > limit
    {
        return Err(too_large(limit));
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(Error::transport)? {
        if let Some(limit) = limit
            && exceeds(body.len(), chunk.len(), limit)
        {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Whether `seen + more` bytes pass `limit` (without overflowing).
pub(crate) fn exceeds(seen: usize, more: usize, limit: u64) -> bool {
    let total =
        u64::try_from(seen).unwrap_or(u64::MAX).saturating_add(u64::try_from(more).unwrap_or(u64::MAX));
    total > limit
}

/// Reads `errcode`/`errmsg` first (an error is an [`Error::Api`]), then the typed response.
pub(crate) fn parse_response<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    let status: ApiStatus = serde_json::from_slice(body).map_err(|e| Error::decode(body, Some(e)))?;
    if !status.is_ok() {
        return Err(Error::api(status.errcode, status.errmsg));
    }
    serde_json::from_slice(body).map_err(|e| Error::decode(body, Some(e)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prune_removes_empty_strings_and_nulls_in_objects_only() {
        let mut v = json!({"open_kfid": "", "name": "n", "x": null, "inner": {"a": "", "b": 1},
                           "list": ["", "a"], "objs": [{"c": ""}]});
        prune_empty(&mut v);
        assert_eq!(v, json!({"name": "n", "inner": {"b": 1}, "list": ["", "a"], "objs": [{}]}));
    }

    #[test]
    fn query_pairs_flatten_scalars() {
        let pairs = query_pairs(json!({"open_kfid": "wk1", "limit": 10, "flag": true})).unwrap();
        assert_eq!(
            pairs,
            vec![
                ("flag".to_owned(), "true".to_owned()),
                ("limit".to_owned(), "10".to_owned()),
                ("open_kfid".to_owned(), "wk1".to_owned())
            ]
        );
        assert!(query_pairs(json!({"a": [1]})).is_err());
    }

    #[test]
    fn url_keeps_prefix_and_appends_token_last() {
        let url = build_url(
            "http://h/prefix",
            "/cgi-bin/kf/servicer/list",
            &[("open_kfid".into(), "wk 1".into())],
            Some(&AccessToken::new("T")),
        )
        .unwrap();
        assert_eq!(url.as_str(), "http://h/prefix/cgi-bin/kf/servicer/list?open_kfid=wk+1&access_token=T");
    }

    #[test]
    fn api_status_comes_first() {
        #[derive(Debug, serde::Deserialize)]
        struct R {
            #[allow(dead_code)]
            n: u32,
        }
        let err = parse_response::<R>(br#"{"errcode":95018,"errmsg":"bad"}"#).unwrap_err();
        assert_eq!(err.errcode(), Some(95018));
        let err = parse_response::<R>(b"<html>oops</html>").unwrap_err();
        assert!(matches!(&err, Error::Decode { excerpt, .. } if excerpt == "<html>oops</html>"), "{err:?}");
        assert!(matches!(parse_response::<R>(br#"{"errcode":0,"errmsg":"ok"}"#), Err(Error::Decode { .. })));
    }
}
