//! Temporary media (kf-api.md §11): upload from bytes, a file or a stream; download whole, by byte
//! range, or streamed into an [`AsyncWrite`].
//!
//! Uploads are checked against WeCom's limits before anything is sent
//! ([`wxkf_types::media::check_upload`]: more than 5 bytes; image ≤10 MB JPG/PNG, voice ≤2 MB AMR,
//! video ≤10 MB MP4, file ≤20 MB). The multipart part is named `media` and carries the file name as
//! raw UTF-8 (`filename="客服.txt"`, as WeCom shows it to the customer) plus WeCom's `filelength`.

use std::fmt;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use futures_util::StreamExt;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HeaderMap, RANGE};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use wxkf_types::Endpoint;
use wxkf_types::media::{
    MediaGetRequest, MediaGetResponse, MediaType, MediaUploadRequest, MediaUploadResponse, check_upload,
    is_error_content_type, range_header_value,
};

use crate::client::RetryMode;
use crate::error::Error;
use crate::token::AccessToken;
use crate::transport;

super::area!(
    /// The media area (kf-api.md §11).
    ///
    /// ```no_run
    /// # async fn demo(client: wxkf_client::Client) -> Result<(), wxkf_client::Error> {
    /// use wxkf_client::types::media::MediaType;
    /// let uploaded = client.media().upload(MediaType::Image, "logo.png", std::fs::read("logo.png").unwrap_or_default()).await?;
    /// let download = client.media().get(&uploaded.media_id).await?;
    /// println!("{} bytes of {}", download.bytes.len(), download.meta.content_type);
    /// # Ok(()) }
    /// ```
    MediaApi,
    media
);

/// A downloaded media file (or a byte range of it) with what the response headers said.
#[derive(Clone)]
#[non_exhaustive]
pub struct MediaDownload {
    /// Content type, file name, length and (for a range) `Content-Range`.
    pub meta: MediaGetResponse,
    /// The bytes.
    pub bytes: Bytes,
}

impl fmt::Debug for MediaDownload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaDownload").field("meta", &self.meta).field("bytes", &self.bytes.len()).finish()
    }
}

/// A media download in progress: the headers are read, the body arrives as a [`Stream`] of chunks.
///
/// Errors in the middle of the body are not retried (bytes were already handed out); download again,
/// or continue with [`MediaApi::open_range`] from the last byte received.
pub struct MediaStream {
    /// Content type, file name, length and (for a range) `Content-Range`.
    pub meta: MediaGetResponse,
    body: MediaBody,
}

enum MediaBody {
    /// Already read (bodies whose content type looked like an error but were not).
    Buffered(Option<Bytes>),
    Streaming(Pin<Box<dyn Stream<Item = Result<Bytes, Error>> + Send>>),
}

/// A response body that ends with [`Error::ResponseTooLarge`] once more than `limit` bytes came.
struct Limited {
    inner: Pin<Box<dyn Stream<Item = Result<Bytes, reqwest::Error>> + Send>>,
    seen: usize,
    limit: Option<u64>,
    done: bool,
}

impl Stream for Limited {
    type Item = Result<Bytes, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let item = match this.inner.as_mut().poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(item) => item,
        };
        Poll::Ready(match item {
            None => None,
            Some(Err(err)) => {
                this.done = true;
                Some(Err(Error::transport(err)))
            }
            Some(Ok(chunk)) => match this.limit {
                Some(limit) if transport::exceeds(this.seen, chunk.len(), limit) => {
                    this.done = true;
                    Some(Err(Error::ResponseTooLarge { limit, media: true }))
                }
                _ => {
                    this.seen = this.seen.saturating_add(chunk.len());
                    Some(Ok(chunk))
                }
            },
        })
    }
}

impl fmt::Debug for MediaStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaStream").field("meta", &self.meta).finish_non_exhaustive()
    }
}

impl Stream for MediaStream {
    type Item = Result<Bytes, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match &mut self.get_mut().body {
            MediaBody::Buffered(bytes) => Poll::Ready(bytes.take().map(Ok)),
            MediaBody::Streaming(stream) => stream.as_mut().poll_next(cx),
        }
    }
}

impl MediaStream {
    /// Writes the whole body to `writer` (and flushes it); returns the number of bytes written.
    pub async fn write_to<W: AsyncWrite + Unpin + ?Sized>(mut self, writer: &mut W) -> Result<u64, Error> {
        let mut written = 0u64;
        while let Some(chunk) = self.next().await {
            let chunk = chunk?;
            writer.write_all(&chunk).await.map_err(io_error)?;
            written = written.saturating_add(chunk.len() as u64);
        }
        writer.flush().await.map_err(io_error)?;
        Ok(written)
    }

    /// Reads the whole body into memory.
    pub async fn into_download(mut self) -> Result<MediaDownload, Error> {
        let mut buf = bytes::BytesMut::new();
        while let Some(chunk) = self.next().await {
            buf.extend_from_slice(&chunk?);
        }
        Ok(MediaDownload { meta: self.meta, bytes: buf.freeze() })
    }
}

fn io_error(err: std::io::Error) -> Error {
    Error::io(err)
}

/// A `Content-Type` for the part, from the file's extension.
fn part_content_type(filename: &str) -> &'static str {
    let ext = filename.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "amr" => "audio/amr",
        "mp4" => "video/mp4",
        "txt" => "text/plain",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// The base name of `filename`, made safe for a quoted header parameter (no quotes, backslashes or
/// line breaks); UTF-8 is kept as is.
fn header_filename(filename: &str) -> String {
    let base = filename.rsplit(['/', '\\']).next().unwrap_or(filename).trim();
    base.chars()
        .map(|c| if matches!(c, '"' | '\r' | '\n' | '\\') || c.is_control() { '_' } else { c })
        .collect()
}

/// The multipart envelope around one file part named `media`.
struct Envelope {
    boundary: String,
    head: Bytes,
    tail: Bytes,
}

impl Envelope {
    fn new(filename: &str, len: u64) -> Self {
        let boundary = format!("wxkf-{}", crate::api::message::new_msgid());
        let head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"media\"; filename=\"{filename}\"; filelength={len}\r\nContent-Type: {}\r\n\r\n",
            part_content_type(filename)
        );
        let tail = format!("\r\n--{boundary}--\r\n");
        Envelope { boundary, head: Bytes::from(head), tail: Bytes::from(tail) }
    }

    fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }

    fn total_len(&self, len: u64) -> u64 {
        (self.head.len() as u64).saturating_add(len).saturating_add(self.tail.len() as u64)
    }
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// Fails the body if the caller's stream yields more bytes than it declared.
fn counted(stream: ChunkStream, declared: u64) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let mut seen = 0u64;
    stream.map(move |chunk| {
        let chunk = chunk?;
        seen = seen.saturating_add(chunk.len() as u64);
        if seen > declared {
            return Err(std::io::Error::other(format!(
                "upload stream is longer than its declared {declared} bytes"
            )));
        }
        Ok(chunk)
    })
}

impl MediaApi<'_> {
    /// `media/upload` (§11.1) of `data` as `filename` (UTF-8 allowed; the name the customer sees).
    /// Checked against WeCom's limits first; retried on transient failures (the upload is idempotent:
    /// at worst an unused `media_id` expires after 3 days).
    pub async fn upload(
        &self,
        media_type: MediaType,
        filename: &str,
        data: impl Into<Bytes>,
    ) -> Result<MediaUploadResponse, Error> {
        let data = data.into();
        let filename = header_filename(filename);
        check_upload(media_type, &filename, data.len() as u64).map_err(limit_error)?;
        let envelope = Envelope::new(&filename, data.len() as u64);
        let total = envelope.total_len(data.len() as u64);
        let mut body = bytes::BytesMut::with_capacity(usize::try_from(total).unwrap_or(0));
        body.extend_from_slice(&envelope.head);
        body.extend_from_slice(&data);
        body.extend_from_slice(&envelope.tail);
        let body = body.freeze();
        let content_type = envelope.content_type();
        self.client
            .run(MediaUploadRequest::PATH, RetryMode::Full, |token| {
                self.send_upload(media_type, token, &content_type, total, reqwest::Body::from(body.clone()))
            })
            .await
    }

    /// [`upload`](Self::upload) of the file at `path`, named after the file. Files are at most 20 MB,
    /// so the file is read into memory (which also makes retries possible).
    pub async fn upload_file(
        &self,
        media_type: MediaType,
        path: impl AsRef<Path>,
    ) -> Result<MediaUploadResponse, Error> {
        let path = path.as_ref();
        let filename = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let meta = tokio::fs::metadata(path).await.map_err(io_error)?;
        // Check before reading a file that is too large anyway.
        check_upload(media_type, &header_filename(&filename), meta.len()).map_err(limit_error)?;
        let data = tokio::fs::read(path).await.map_err(io_error)?;
        self.upload(media_type, &filename, data).await
    }

    /// [`upload`](Self::upload) from a stream of `len` bytes, sent as it is read. The stream cannot be
    /// replayed, so this upload is tried once (no retry, not even after a token error); prefer
    /// [`upload`](Self::upload) when the data fits in memory.
    pub async fn upload_stream<S>(
        &self,
        media_type: MediaType,
        filename: &str,
        len: u64,
        stream: S,
    ) -> Result<MediaUploadResponse, Error>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    {
        let filename = header_filename(filename);
        check_upload(media_type, &filename, len).map_err(limit_error)?;
        let envelope = Envelope::new(&filename, len);
        let total = envelope.total_len(len);
        let content_type = envelope.content_type();
        let head = futures_util::stream::iter([Ok::<_, std::io::Error>(envelope.head.clone())]);
        let tail = futures_util::stream::iter([Ok::<_, std::io::Error>(envelope.tail.clone())]);
        let body_stream = head.chain(counted(Box::pin(stream), len)).chain(tail);
        let mut body = Some(reqwest::Body::wrap_stream(body_stream));
        self.client
            .run(MediaUploadRequest::PATH, RetryMode::Never, |token| {
                let body = body.take();
                let content_type = &content_type;
                async move {
                    let body = body
                        .ok_or_else(|| Error::invalid_argument("an upload stream can be sent only once"))?;
                    self.send_upload(media_type, token, content_type, total, body).await
                }
            })
            .await
    }

    async fn send_upload(
        &self,
        media_type: MediaType,
        token: AccessToken,
        content_type: &str,
        total: u64,
        body: reqwest::Body,
    ) -> Result<MediaUploadResponse, Error> {
        let inner = self.client.inner();
        let query =
            transport::query_pairs(transport::to_pruned_value(&MediaUploadRequest::new(media_type))?)?;
        let url =
            transport::build_url(&inner.config.base_url, MediaUploadRequest::PATH, &query, Some(&token))?;
        let mut request =
            inner.http.post(url).header(CONTENT_TYPE, content_type).header(CONTENT_LENGTH, total).body(body);
        if let Some(timeout) = inner.config.media_timeout {
            request = request.timeout(timeout);
        }
        let response = transport::send(request).await?;
        let body = transport::read_body(response, inner.config.max_response_bytes, false).await?;
        transport::parse_response(&body)
    }

    /// `media/get` (§11.2): the whole file in memory, with its content type and file name.
    pub async fn get(&self, media_id: &str) -> Result<MediaDownload, Error> {
        self.fetch(media_id, None).await
    }

    /// `media/get` of bytes `start..=end` (`Range`, answered with `206 Partial Content`); ranges of at
    /// most 20 MB are how large media must be fetched (830002). If WeCom ignores the range and sends
    /// the whole file, `meta.content_range` is `None`.
    pub async fn get_range(&self, media_id: &str, start: u64, end: u64) -> Result<MediaDownload, Error> {
        let range = range_header_value(start, end)
            .ok_or_else(|| Error::invalid_argument(format!("byte range {start}-{end} is empty")))?;
        self.fetch(media_id, Some(range)).await
    }

    /// `media/get` streamed: the headers are read (and retried like any idempotent call), the body
    /// comes as a [`MediaStream`].
    pub async fn open(&self, media_id: &str) -> Result<MediaStream, Error> {
        self.open_inner(media_id, None).await
    }

    /// [`open`](Self::open) for bytes `start..=end`.
    pub async fn open_range(&self, media_id: &str, start: u64, end: u64) -> Result<MediaStream, Error> {
        let range = range_header_value(start, end)
            .ok_or_else(|| Error::invalid_argument(format!("byte range {start}-{end} is empty")))?;
        self.open_inner(media_id, Some(range)).await
    }

    /// `media/get` streamed into `writer`; returns what the headers said. Nothing is buffered beyond
    /// one chunk.
    pub async fn download_to<W: AsyncWrite + Unpin + ?Sized>(
        &self,
        media_id: &str,
        writer: &mut W,
    ) -> Result<MediaGetResponse, Error> {
        let stream = self.open(media_id).await?;
        let meta = stream.meta.clone();
        stream.write_to(writer).await?;
        Ok(meta)
    }

    async fn open_inner(&self, media_id: &str, range: Option<String>) -> Result<MediaStream, Error> {
        check_media_id(media_id)?;
        let req = MediaGetRequest::new(media_id);
        self.client
            .run(MediaGetRequest::PATH, RetryMode::Full, |token| {
                self.open_once(&req, range.as_deref(), token)
            })
            .await
    }

    async fn fetch(&self, media_id: &str, range: Option<String>) -> Result<MediaDownload, Error> {
        check_media_id(media_id)?;
        let req = MediaGetRequest::new(media_id);
        // Reading the body is part of each attempt, so a body cut off mid-way is retried too.
        self.client
            .run(MediaGetRequest::PATH, RetryMode::Full, |token| {
                let req = &req;
                let range = range.as_deref();
                async move { self.open_once(req, range, token).await?.into_download().await }
            })
            .await
    }

    async fn open_once(
        &self,
        req: &MediaGetRequest,
        range: Option<&str>,
        token: AccessToken,
    ) -> Result<MediaStream, Error> {
        let inner = self.client.inner();
        let query = transport::query_pairs(transport::to_pruned_value(req)?)?;
        let url = transport::build_url(&inner.config.base_url, MediaGetRequest::PATH, &query, Some(&token))?;
        let mut request = inner.http.get(url);
        if let Some(range) = range {
            request = request.header(RANGE, range);
        }
        if let Some(timeout) = inner.config.media_timeout {
            request = request.timeout(timeout);
        }
        let response = transport::send(request).await?;
        let limit = inner.config.max_media_bytes;
        if let (Some(limit), Some(announced)) = (limit, response.content_length())
            && announced > limit
        {
            return Err(Error::ResponseTooLarge { limit, media: true });
        }
        let meta = meta_from_headers(response.headers());
        let is_attachment = response.headers().contains_key(CONTENT_DISPOSITION);
        if !is_attachment && is_error_content_type(&meta.content_type) {
            // Errors come as JSON (detected by content type, not status); a text file without
            // Content-Disposition would look the same, so decide on the body.
            let body = transport::read_body(response, limit, true).await?;
            if let Some(err) = api_error_in(&body) {
                return Err(err);
            }
            return Ok(MediaStream { meta, body: MediaBody::Buffered(Some(body)) });
        }
        let stream = Limited { inner: Box::pin(response.bytes_stream()), seen: 0, limit, done: false };
        Ok(MediaStream { meta, body: MediaBody::Streaming(Box::pin(stream)) })
    }
}

fn check_media_id(media_id: &str) -> Result<(), Error> {
    if media_id.trim().is_empty() {
        return Err(Error::invalid_argument("media_id is empty"));
    }
    Ok(())
}

fn limit_error(err: wxkf_types::media::MediaLimitError) -> Error {
    Error::invalid_argument(format!("media upload refused before sending: {err}"))
}

fn meta_from_headers(headers: &HeaderMap) -> MediaGetResponse {
    let header =
        |name| headers.get(name).and_then(|v: &reqwest::header::HeaderValue| header_text(v.as_bytes()));
    MediaGetResponse::from_headers(
        header(CONTENT_TYPE).as_deref().unwrap_or(""),
        header(CONTENT_DISPOSITION).as_deref(),
        header(CONTENT_LENGTH).as_deref(),
        header(CONTENT_RANGE).as_deref(),
    )
}

/// A header value as text: UTF-8 when it is (WeCom sends raw UTF-8 file names), else Latin-1.
fn header_text(bytes: &[u8]) -> Option<String> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Some(s.to_owned()),
        Err(_) => Some(bytes.iter().map(|&b| char::from(b)).collect()),
    }
}

/// The API error a JSON body carries, if it is one (`errcode` present and non-zero).
fn api_error_in(body: &[u8]) -> Option<Error> {
    let status: serde_json::Value = serde_json::from_slice(body).ok()?;
    let code = status.get("errcode")?.as_i64()?;
    (code != 0).then(|| Error::api(code, status.get("errmsg").and_then(|m| m.as_str()).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_keep_utf8_and_lose_paths_and_quotes() {
        assert_eq!(header_filename("/tmp/客服 手册.pdf"), "客服 手册.pdf");
        assert_eq!(header_filename("C:\\x\\a\"b.txt"), "a_b.txt");
        assert_eq!(header_filename("a\r\nb.txt"), "a__b.txt");
    }

    #[test]
    fn envelope_matches_wecom_example_shape() {
        let e = Envelope::new("wework.txt", 6);
        let head = String::from_utf8(e.head.to_vec()).unwrap_or_default();
        assert!(head.starts_with(&format!("--{}\r\n", e.boundary)));
        assert!(head.contains(
            "Content-Disposition: form-data; name=\"media\"; filename=\"wework.txt\"; filelength=6\r\n"
        ));
        assert!(head.ends_with("Content-Type: text/plain\r\n\r\n"));
        assert_eq!(e.total_len(6), e.head.len() as u64 + 6 + e.tail.len() as u64);
    }

    #[test]
    fn api_errors_are_found_in_json_bodies_only() {
        assert_eq!(
            api_error_in(br#"{"errcode":40007,"errmsg":"invalid media_id"}"#).and_then(|e| e.errcode()),
            Some(40007)
        );
        assert!(api_error_in(br#"{"errcode":0}"#).is_none());
        assert!(api_error_in(b"plain text file").is_none());
    }
}
