//! Serde helpers private to the message area: numeric codes read leniently, coordinates written
//! the way WeCom writes them.

use serde::de::{self, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Reads a `u32` from a JSON number or a numeric string.
pub(crate) fn u32_from_value(v: &Value) -> Result<u32, String> {
    let n = match v {
        Value::Number(n) => n.as_u64().ok_or_else(|| format!("not a non-negative integer: {n}"))?,
        Value::String(s) => {
            crate::serde_util::u64_from_text(s).ok_or_else(|| format!("not a number: {s:?}"))?
        }
        other => return Err(format!("expected a number, found {other}")),
    };
    u32::try_from(n).map_err(|_| format!("number out of range: {n}"))
}

/// A numeric code enum (`T: From<u32> + Into<u32>`) that also accepts a numeric string.
pub(crate) mod code {
    use super::*;
    pub(crate) fn serialize<S: Serializer, T: Copy + Into<u32>>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32((*v).into())
    }
    pub(crate) fn deserialize<'de, D: Deserializer<'de>, T: From<u32>>(d: D) -> Result<T, D::Error> {
        let v = Value::deserialize(d)?;
        u32_from_value(&v).map(T::from).map_err(de::Error::custom)
    }
}

/// `Option` of a numeric code enum; `null` or an empty string read as `None`. Pair with
/// `#[serde(default, skip_serializing_if = "Option::is_none")]`.
pub(crate) mod opt_code {
    use super::*;
    pub(crate) fn serialize<S: Serializer, T: Copy + Into<u32>>(
        v: &Option<T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        v.map(Into::<u32>::into).serialize(s)
    }
    pub(crate) fn deserialize<'de, D: Deserializer<'de>, T: From<u32>>(d: D) -> Result<Option<T>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            Value::String(s) if s.trim().is_empty() => Ok(None),
            v => u32_from_value(&v).map(|n| Some(T::from(n))).map_err(de::Error::custom),
        }
    }
}

/// Latitude/longitude: read from a number or numeric string; written as an integer when whole
/// (WeCom's own example sends `"latitude": 0`), else as a float.
pub(crate) mod coord {
    use super::*;
    pub(crate) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        // 2^53: every whole f64 below it is an exact integer.
        if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 {
            s.serialize_i64(*v as i64)
        } else {
            s.serialize_f64(*v)
        }
    }
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) => n.as_f64().ok_or_else(|| de::Error::custom("number out of range")),
            Value::String(s) => {
                s.trim().parse().map_err(|_| de::Error::custom(format!("not a number: {s:?}")))
            }
            other => Err(de::Error::custom(format!("expected a number, found {other}"))),
        }
    }
}
