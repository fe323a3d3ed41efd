//! Serde helpers for the places where WeCom's wire format is loose: flags sent as 0/1, numbers that
//! arrive as strings in some places and numbers in others. Kept in one place so every field that
//! needs tolerance gets the same tolerance.
//!
//! Use them with `#[serde(with = "crate::serde_util::int_bool")]` and friends. Each accepts every
//! form seen on the wire and writes the form of WeCom's current documentation.

use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use std::fmt;

/// A non-negative integer written as decimal text, with white space around it allowed: the one
/// lenient reading of a number sent as text (JSON strings here, XML text in `callback`).
pub(crate) fn u64_from_text(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// A number that may come as a JSON number or as a decimal string.
struct U64Visitor;

impl Visitor<'_> for U64Visitor {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a non-negative integer or a string holding one")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom(format!("negative number {v}")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
        if v >= 0.0 && v.fract() == 0.0 && v <= u64::MAX as f64 {
            Ok(v as u64)
        } else {
            Err(E::custom(format!("not a whole number: {v}")))
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        u64_from_text(v).ok_or_else(|| E::custom(format!("not a number: {v:?}")))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<u64, E> {
        Ok(u64::from(v))
    }
}

/// `u64` that accepts a number or a numeric string and is written as a number.
pub(crate) mod u64_lenient {
    use super::*;
    pub(crate) fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(*v)
    }
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        d.deserialize_any(U64Visitor)
    }
}

/// `Option<u64>` that accepts a number, a numeric string or `null`, written as a number.
/// Pair with `#[serde(default, skip_serializing_if = "Option::is_none")]`.
pub(crate) mod opt_u64_lenient {
    use super::*;
    // unused while every such field is written by its own serializer; kept so `with =` works
    #[allow(dead_code)]
    pub(crate) fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_u64(*v),
            None => s.serialize_none(),
        }
    }
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        struct OptVisitor;
        impl<'de> Visitor<'de> for OptVisitor {
            type Value = Option<u64>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer, a string holding one, or null")
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(U64Visitor).map(Some)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                U64Visitor.visit_u64(v).map(Some)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                U64Visitor.visit_i64(v).map(Some)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                U64Visitor.visit_f64(v).map(Some)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                if v.trim().is_empty() {
                    return Ok(None);
                }
                U64Visitor.visit_str(v).map(Some)
            }
        }
        d.deserialize_option(OptVisitor)
    }
}

/// `u64` that accepts a number or a numeric string and is written as a decimal string
/// (e.g. `created_at` of `media/upload`, a string in WeCom's example).
pub(crate) mod u64_as_string {
    use super::*;
    pub(crate) fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        d.deserialize_any(U64Visitor)
    }
}

/// `Option<f64>` that accepts a number, a numeric string or `null`, written as a number.
/// Pair with `#[serde(default, skip_serializing_if = "Option::is_none")]`.
pub(crate) mod opt_f64_lenient {
    use super::*;
    #[allow(dead_code)]
    pub(crate) fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_f64(*v),
            None => s.serialize_none(),
        }
    }
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        let v: Option<serde_json::Value> = serde::Deserialize::deserialize(d)?;
        match v {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::Number(n)) => Ok(n.as_f64()),
            Some(serde_json::Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(serde_json::Value::String(s)) => {
                s.trim().parse().map(Some).map_err(|_| de::Error::custom(format!("not a number: {s:?}")))
            }
            Some(other) => Err(de::Error::custom(format!("expected a number, found {other}"))),
        }
    }
}

/// `bool` sent by WeCom as the integer 0/1 (`has_more`, `is_default`, `no_newline`, …). Accepts
/// 0/1, `true`/`false` and `"0"`/`"1"`; written as 0/1.
pub(crate) mod int_bool {
    use super::*;
    pub(crate) fn serialize<S: Serializer>(v: &bool, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(u8::from(*v))
    }
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        d.deserialize_any(U64Visitor).map(|v| v != 0)
    }
}

/// `Option<bool>` sent as 0/1. Pair with `#[serde(default, skip_serializing_if = "Option::is_none")]`.
pub(crate) mod opt_int_bool {
    use super::*;
    pub(crate) fn serialize<S: Serializer>(v: &Option<bool>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_u8(u8::from(*v)),
            None => s.serialize_none(),
        }
    }
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        opt_u64_lenient::deserialize(d).map(|v| v.map(|v| v != 0))
    }
}

/// `None` and `Some("")` are both "not given": WeCom must never see an empty optional string.
pub(crate) fn none_or_empty(v: &Option<String>) -> bool {
    v.as_deref().is_none_or(str::is_empty)
}

/// `Some(v)` unless `v` is empty.
pub(crate) fn non_empty(v: impl Into<String>) -> Option<String> {
    Some(v.into()).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct T {
        #[serde(with = "super::int_bool")]
        flag: bool,
        #[serde(with = "super::u64_as_string")]
        created_at: u64,
        #[serde(with = "super::u64_lenient")]
        n: u64,
        #[serde(default, with = "super::opt_f64_lenient", skip_serializing_if = "Option::is_none")]
        rate: Option<f64>,
        #[serde(default, with = "super::opt_u64_lenient", skip_serializing_if = "Option::is_none")]
        g: Option<u64>,
    }

    #[test]
    fn accepts_every_form_and_writes_the_documented_one() {
        let t: T =
            serde_json::from_str(r#"{"flag":1,"created_at":"1380000000","n":"7","rate":"0.5","g":"2"}"#)
                .unwrap();
        assert_eq!(t, T { flag: true, created_at: 1_380_000_000, n: 7, rate: Some(0.5), g: Some(2) });
        let t2: T = serde_json::from_str(r#"{"flag":false,"created_at":1380000000,"n":7,"rate":1}"#).unwrap();
        assert!(!t2.flag);
        assert_eq!(t2.rate, Some(1.0));
        assert_eq!(t2.g, None);
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"flag":1,"created_at":"1380000000","n":7,"rate":0.5,"g":2}"#
        );
        assert!(serde_json::from_str::<T>(r#"{"flag":1,"created_at":"x","n":1}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"flag":1,"created_at":1,"n":-1}"#).is_err());
    }
}
