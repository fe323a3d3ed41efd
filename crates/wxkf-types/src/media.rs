//! Temporary media: upload a file to get a `media_id` (valid 3 days), download one by id, with the
//! upload limits as data and pure parsers for the download headers (kf-api.md §11).
//!
//! Nothing here does I/O; the parsers accept any input without panicking.
//!
//! ```
//! use wxkf_types::media::{check_upload, parse_content_disposition_filename, ContentRange, MediaType};
//!
//! assert!(check_upload(MediaType::Image, "logo.PNG", 2048).is_ok());
//! assert!(check_upload(MediaType::Voice, "hello.mp3", 2048).is_err());
//!
//! assert_eq!(
//!     parse_content_disposition_filename("attachment; filename*=UTF-8''%E4%B8%AD.jpg").as_deref(),
//!     Some("中.jpg")
//! );
//! let range = ContentRange::parse("bytes 0-99/1000").unwrap();
//! assert_eq!((range.start, range.end, range.total), (0, 99, Some(1000)));
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

const MB: u64 = 1024 * 1024;

/// Uploaded files must be larger than this many bytes (kf-api.md §11.1: "every file > 5 bytes").
pub const MEDIA_MIN_EXCLUSIVE_BYTES: u64 = 5;

/// Recommended largest chunk of a ranged download (kf-api.md §11.2): 20 MB.
pub const MEDIA_RANGE_CHUNK_BYTES: u64 = 20 * MB;

/// Kind of temporary media (`type` of `media/upload`, kf-api.md §11.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum MediaType {
    /// `image`: JPG or PNG, at most 10 MB.
    Image,
    /// `voice`: AMR, at most 2 MB and 60 s.
    Voice,
    /// `video`: MP4, at most 10 MB.
    Video,
    /// `file`: any format, at most 20 MB.
    File,
}

impl MediaType {
    /// The wire name: `image`, `voice`, `video` or `file`.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Image => "image",
            MediaType::Voice => "voice",
            MediaType::Video => "video",
            MediaType::File => "file",
        }
    }

    /// Largest upload in bytes (kf-api.md §11.1). The image limit is WeCom's current 10 MB; old
    /// standalone Kf docs said 2 MB (DISAGREEMENT).
    pub fn max_bytes(self) -> u64 {
        match self {
            MediaType::Image | MediaType::Video => 10 * MB,
            MediaType::Voice => 2 * MB,
            MediaType::File => 20 * MB,
        }
    }

    /// Accepted file extensions (lowercase, without the dot); `None` means any.
    pub fn allowed_extensions(self) -> Option<&'static [&'static str]> {
        match self {
            MediaType::Image => Some(&["jpg", "jpeg", "png"]),
            MediaType::Voice => Some(&["amr"]),
            MediaType::Video => Some(&["mp4"]),
            MediaType::File => None,
        }
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a file may not be uploaded as temporary media (kf-api.md §11.1).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaLimitError {
    /// The file name is empty (WeCom shows it to the receiver and needs it for the type check).
    MissingFilename,
    /// The file is not larger than [`MEDIA_MIN_EXCLUSIVE_BYTES`].
    TooSmall {
        /// The file's length.
        len: u64,
    },
    /// The file exceeds the limit of its type.
    TooLarge {
        /// The media type.
        media_type: MediaType,
        /// The file's length.
        len: u64,
        /// The limit, [`MediaType::max_bytes`].
        max: u64,
    },
    /// The file's extension is not accepted for its type.
    Extension {
        /// The media type.
        media_type: MediaType,
        /// The extension found, lowercase (empty when the name has none).
        extension: String,
    },
}

impl fmt::Display for MediaLimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MediaLimitError::MissingFilename => f.write_str("media upload needs a file name"),
            MediaLimitError::TooSmall { len } => {
                write!(f, "file is {len} bytes; WeCom needs more than {MEDIA_MIN_EXCLUSIVE_BYTES}")
            }
            MediaLimitError::TooLarge { media_type, len, max } => {
                write!(f, "{media_type} is {len} bytes; the limit for {media_type} is {max} bytes")
            }
            MediaLimitError::Extension { media_type, extension } => {
                let allowed = media_type.allowed_extensions().unwrap_or_default().join(", ");
                if extension.is_empty() {
                    write!(f, "{media_type} file has no extension; accepted: {allowed}")
                } else {
                    write!(f, "{media_type} files cannot be .{extension}; accepted: {allowed}")
                }
            }
        }
    }
}

impl std::error::Error for MediaLimitError {}

/// Check a file against WeCom's upload limits before sending it (kf-api.md §11.1): name present,
/// size above 5 bytes and within the type's limit, extension accepted (case-insensitive).
/// Voice duration (≤60 s) cannot be checked here.
pub fn check_upload(media_type: MediaType, filename: &str, len: u64) -> Result<(), MediaLimitError> {
    // Only the last path component names the file.
    let base = filename.rsplit(['/', '\\']).next().unwrap_or(filename).trim();
    if base.is_empty() {
        return Err(MediaLimitError::MissingFilename);
    }
    if len <= MEDIA_MIN_EXCLUSIVE_BYTES {
        return Err(MediaLimitError::TooSmall { len });
    }
    let max = media_type.max_bytes();
    if len > max {
        return Err(MediaLimitError::TooLarge { media_type, len, max });
    }
    if let Some(allowed) = media_type.allowed_extensions() {
        let extension = base.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase()).unwrap_or_default();
        if !allowed.contains(&extension.as_str()) {
            return Err(MediaLimitError::Extension { media_type, extension });
        }
    }
    Ok(())
}

/// Query of `POST /cgi-bin/media/upload` (kf-api.md §11.1). The file itself travels as the
/// multipart part named `media`, with its file name and `Content-Type`; check it first with
/// [`check_upload`].
#[doc(alias = "/cgi-bin/media/upload")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MediaUploadRequest {
    /// Kind of media (`type` on the wire).
    #[serde(rename = "type")]
    pub media_type: MediaType,
}

impl MediaUploadRequest {
    /// Upload a file of kind `media_type`.
    pub fn new(media_type: MediaType) -> Self {
        MediaUploadRequest { media_type }
    }
}

/// Response of `media/upload` (kf-api.md §11.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MediaUploadResponse {
    /// Kind of media (`type` on the wire).
    #[serde(rename = "type")]
    pub media_type: MediaType,
    /// The media id, valid for 3 days and shared by all apps of the corp.
    #[serde(default)]
    pub media_id: String,
    /// Upload time (unix seconds). A string in WeCom's example, a number elsewhere: both are read;
    /// written as a string.
    #[serde(default, with = "crate::serde_util::u64_as_string")]
    pub created_at: u64,
}

/// Query of `GET /cgi-bin/media/get` (kf-api.md §11.2). Success is the raw file (see
/// [`MediaGetResponse`] for its headers); failure a JSON error object, told apart by
/// [`is_error_content_type`]. For big files send a `Range` header built with
/// [`range_header_value`].
#[doc(alias = "/cgi-bin/media/get")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MediaGetRequest {
    /// The media to download.
    pub media_id: String,
}

impl MediaGetRequest {
    /// Download `media_id`.
    pub fn new(media_id: impl Into<String>) -> Self {
        MediaGetRequest { media_id: media_id.into() }
    }
}

/// What a client learns from the headers of a successful `media/get` (kf-api.md §11.2); the body
/// is the file's bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MediaGetResponse {
    /// `Content-Type`, e.g. `image/jpeg`.
    #[serde(default)]
    pub content_type: String,
    /// File name from `Content-Disposition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// `Content-Length` (of this part, for a ranged download).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_length: Option<u64>,
    /// `Content-Range` of a `206 Partial Content` answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_range: Option<ContentRange>,
}

impl MediaGetResponse {
    /// Fill the metadata from raw header values; unparsable values become `None`.
    pub fn from_headers(
        content_type: &str,
        content_disposition: Option<&str>,
        content_length: Option<&str>,
        content_range: Option<&str>,
    ) -> Self {
        MediaGetResponse {
            content_type: content_type.trim().to_owned(),
            filename: content_disposition.and_then(parse_content_disposition_filename),
            content_length: content_length.and_then(|v| v.trim().parse().ok()),
            content_range: content_range.and_then(ContentRange::parse),
        }
    }
}

/// Whether a `media/get` response with this `Content-Type` is a JSON error object rather than the
/// file (kf-api.md §11.2: decide by content type, not HTTP status). JSON and plain text are errors.
pub fn is_error_content_type(content_type: &str) -> bool {
    let mime = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    mime == "application/json" || mime == "text/json" || mime == "text/plain"
}

/// A parsed `Content-Range: bytes START-END/TOTAL` (kf-api.md §11.2); `END` is inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ContentRange {
    /// First byte of this part.
    pub start: u64,
    /// Last byte of this part (inclusive).
    pub end: u64,
    /// Size of the whole file; `None` when the server sent `*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

impl ContentRange {
    /// The range `start..=end` of a file of `total` bytes (`None`: unknown); `None` when
    /// `start > end` or `end >= total`.
    pub fn new(start: u64, end: u64, total: Option<u64>) -> Option<ContentRange> {
        if start > end || total.is_some_and(|t| end >= t) {
            return None;
        }
        Some(ContentRange { start, end, total })
    }

    /// Parse a `Content-Range` value such as `bytes 0-99/1000` or `bytes 0-99/*`. `None` for
    /// anything else, for `bytes */1000` (unsatisfied range), and for `start > end` or
    /// `end >= total`.
    pub fn parse(value: &str) -> Option<ContentRange> {
        let value = value.trim();
        let unit = value.get(..5)?;
        if !unit.eq_ignore_ascii_case("bytes") {
            return None;
        }
        let rest = value.get(5..)?;
        if !rest.starts_with([' ', '\t']) {
            return None;
        }
        let (range, total) = rest.trim_start().split_once('/')?;
        let (start, end) = range.split_once('-')?;
        let start: u64 = parse_digits(start)?;
        let end: u64 = parse_digits(end)?;
        let total = match total.trim() {
            "*" => None,
            t => Some(parse_digits(t)?),
        };
        ContentRange::new(start, end, total)
    }

    /// Number of bytes in this part (`end - start + 1`).
    pub fn part_len(&self) -> u64 {
        self.end.saturating_sub(self.start).saturating_add(1)
    }

    /// Whether this part reaches the end of the file (`None` when the total is unknown).
    pub fn is_last(&self) -> Option<bool> {
        self.total.map(|t| self.end.saturating_add(1) >= t)
    }
}

/// ASCII digits only (no sign, no spaces inside), as HTTP ranges are written.
fn parse_digits(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A `Range` header value for the inclusive byte range `start..=end`: `bytes=START-END`
/// (kf-api.md §11.2). `None` when `start > end`.
pub fn range_header_value(start: u64, end: u64) -> Option<String> {
    (start <= end).then(|| format!("bytes={start}-{end}"))
}

/// The file name of a `Content-Disposition` value (kf-api.md §11.2), e.g. from
/// `attachment; filename="MEDIA_ID.jpg"`.
///
/// Reads quoted (`filename="a b.jpg"`, with `\"` escapes) and unquoted (`filename=a.jpg`) names,
/// and RFC 5987 extended names (`filename*=UTF-8''%E4%B8%AD.jpg`, also ISO-8859-1), which win when
/// both are present. Parameter names are case-insensitive. `None` when no usable non-empty name is
/// found. The name is returned as sent: strip path components before using it as a local path.
pub fn parse_content_disposition_filename(value: &str) -> Option<String> {
    let mut plain = None;
    let mut extended = None;
    for param in split_params(value) {
        let Some((name, raw)) = param.split_once('=') else { continue };
        let name = name.trim();
        let raw = raw.trim();
        if name.eq_ignore_ascii_case("filename*") {
            if extended.is_none() {
                extended = decode_ext_value(&unquote(raw)).filter(|v| !v.is_empty());
            }
        } else if name.eq_ignore_ascii_case("filename") && plain.is_none() {
            plain = Some(unquote(raw)).filter(|v| !v.is_empty());
        }
    }
    extended.or(plain)
}

/// Split header parameters at `;` outside double quotes.
fn split_params(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut in_quotes = false;
    let mut escaped = false;
    let mut begin = 0;
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            ';' if !in_quotes => {
                parts.push(&value[begin..i]);
                begin = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[begin..]);
    parts
}

/// Strip surrounding double quotes and resolve `\x` escapes; an unquoted token is returned as is.
fn unquote(raw: &str) -> String {
    let Some(inner) = raw.strip_prefix('"') else { return raw.to_owned() };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '"' => break,
            c => out.push(c),
        }
    }
    out
}

/// Decode an RFC 5987 `charset'language'percent-encoded` value.
fn decode_ext_value(raw: &str) -> Option<String> {
    let (charset, rest) = raw.split_once('\'')?;
    let (_language, encoded) = rest.split_once('\'')?;
    // `%XY` → byte; a `%` not followed by two hex digits is kept literally
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(encoded).collect();
    let charset = charset.trim();
    if charset.eq_ignore_ascii_case("iso-8859-1") || charset.eq_ignore_ascii_case("latin1") {
        Some(bytes.iter().map(|&b| char::from(b)).collect())
    } else {
        String::from_utf8(bytes).ok()
    }
}
