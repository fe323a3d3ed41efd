//! Paging: a [`Stream`] of pages ([`Pages`]) and a [`Stream`] of items ([`Items`]) for the endpoints
//! that page — `sync_msg` and the knowledge lists by cursor, `account/list` by offset.
//!
//! Pages are fetched one at a time, only when the consumer asks for more. After an error the stream
//! yields that error and ends; resume later from [`Items::resume_request`] (or, for `sync_msg`, the
//! persisted [`Items::cursor`]).

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use wxkf_types::Endpoint;
use wxkf_types::account::{AccountListRequest, KfAccount};
use wxkf_types::knowledge::{
    KnowledgeGroup, KnowledgeIntent, KnowledgeListGroupRequest, KnowledgeListIntentRequest,
};
use wxkf_types::message::{Message, SyncMsgRequest};

use crate::client::Client;
use crate::error::Error;
use crate::token::BoxFuture;

/// A request that pages: how to ask for the page after a response, and whether there is one.
///
/// Implemented for [`SyncMsgRequest`], [`AccountListRequest`], [`KnowledgeListGroupRequest`] and
/// [`KnowledgeListIntentRequest`].
pub trait Paged: Endpoint + Clone + PartialEq + Send + Sync + Unpin + 'static
where
    Self::Response: Send + 'static,
{
    /// What one page holds a list of.
    type Item: Send + Unpin + 'static;

    /// The request that continues after `page` (a new cursor or offset), whether or not more pages
    /// exist: for `sync_msg` it carries the cursor to persist.
    fn next_request(&self, page: &Self::Response) -> Self;

    /// Whether another page should be fetched after `page`.
    fn has_more(&self, page: &Self::Response) -> bool;

    /// The items of `page`, in order.
    fn into_items(page: Self::Response) -> Vec<Self::Item>;
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// `sync_msg` (kf-api.md §5.1): follows `next_cursor` while `has_more`, also past an empty page.
impl Paged for SyncMsgRequest {
    type Item = Message;

    fn next_request(&self, page: &Self::Response) -> Self {
        let mut next = self.clone();
        if let Some(cursor) = non_empty(&page.next_cursor) {
            next.cursor = Some(cursor);
        }
        next
    }

    fn has_more(&self, page: &Self::Response) -> bool {
        page.has_more
    }

    fn into_items(page: Self::Response) -> Vec<Message> {
        page.msg_list
    }
}

/// `account/list` (kf-api.md §2.4): WeCom returns no `has_more`; a page shorter than `limit`
/// (default 100) is the last.
impl Paged for AccountListRequest {
    type Item = KfAccount;

    fn next_request(&self, page: &Self::Response) -> Self {
        let len = u32::try_from(page.account_list.len()).unwrap_or(u32::MAX);
        let mut next = self.clone();
        next.offset = Some(self.offset.unwrap_or(0).saturating_add(len));
        next
    }

    fn has_more(&self, page: &Self::Response) -> bool {
        let limit = self.limit.unwrap_or(AccountListRequest::MAX_LIMIT).max(1);
        !page.account_list.is_empty() && page.account_list.len() >= limit as usize
    }

    fn into_items(page: Self::Response) -> Vec<KfAccount> {
        page.account_list
    }
}

/// `knowledge/list_group` (kf-api.md §10.1): cursor paging.
impl Paged for KnowledgeListGroupRequest {
    type Item = KnowledgeGroup;

    fn next_request(&self, page: &Self::Response) -> Self {
        let mut next = self.clone();
        if let Some(cursor) = page.next_cursor.as_deref().and_then(non_empty) {
            next.cursor = Some(cursor);
        }
        next
    }

    fn has_more(&self, page: &Self::Response) -> bool {
        page.has_more
    }

    fn into_items(page: Self::Response) -> Vec<KnowledgeGroup> {
        page.group_list
    }
}

/// `knowledge/list_intent` (kf-api.md §10.2): cursor paging.
impl Paged for KnowledgeListIntentRequest {
    type Item = KnowledgeIntent;

    fn next_request(&self, page: &Self::Response) -> Self {
        let mut next = self.clone();
        if let Some(cursor) = page.next_cursor.as_deref().and_then(non_empty) {
            next.cursor = Some(cursor);
        }
        next
    }

    fn has_more(&self, page: &Self::Response) -> bool {
        page.has_more
    }

    fn into_items(page: Self::Response) -> Vec<KnowledgeIntent> {
        page.intent_list
    }
}

type PageFuture<R> = BoxFuture<'static, Result<<R as Endpoint>::Response, Error>>;

/// A [`Stream`] of pages: each item is one response; the next page is requested only when polled.
///
/// The stream ends after the last page (`has_more` false), after an error (yielded first), or when
/// WeCom says `has_more` without a new cursor (a stall guard, logged: the same request would
/// return the same page forever).
pub struct Pages<R: Paged>
where
    R::Response: Send + 'static,
{
    client: Client,
    /// The request for the next page to fetch (or the one in flight).
    next: R,
    in_flight: Option<PageFuture<R>>,
    /// An error to yield before anything else (a request refused before sending).
    refused: Option<Error>,
    done: bool,
}

impl<R: Paged + fmt::Debug> fmt::Debug for Pages<R>
where
    R::Response: Send + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pages")
            .field("next", &self.next)
            .field("in_flight", &self.in_flight.is_some())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<R: Paged> Pages<R>
where
    R::Response: Send + 'static,
{
    pub(crate) fn new(client: Client, first: R) -> Self {
        Pages { client, next: first, in_flight: None, refused: None, done: false }
    }

    /// A stream that yields `err` and ends (for a request refused before sending).
    pub(crate) fn refused(client: Client, first: R, err: Error) -> Self {
        Pages { client, next: first, in_flight: None, refused: Some(err), done: false }
    }

    /// The request that fetches the next page (or the one being fetched). After the stream ended
    /// normally it continues after the last page — for `sync_msg`, with the cursor to persist.
    pub fn next_request(&self) -> &R {
        &self.next
    }

    /// Whether the stream has ended.
    pub fn is_done(&self) -> bool {
        self.done
    }
}

impl<R: Paged> Stream for Pages<R>
where
    R::Response: Send + 'static,
{
    type Item = Result<R::Response, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(err) = this.refused.take() {
            this.done = true;
            return Poll::Ready(Some(Err(err)));
        }
        let fut = this.in_flight.get_or_insert_with(|| {
            let client = this.client.clone();
            let req = this.next.clone();
            Box::pin(async move { client.execute(&req).await })
        });
        let result = match fut.as_mut().poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(result) => result,
        };
        this.in_flight = None;
        match result {
            Err(err) => {
                this.done = true;
                Poll::Ready(Some(Err(err)))
            }
            Ok(page) => {
                let next = this.next.next_request(&page);
                let more = this.next.has_more(&page);
                if more && next == this.next {
                    // Fetching the same request again would return the same page forever.
                    tracing::warn!(endpoint = R::PATH, "has_more without a new cursor or offset; stopping");
                    this.done = true;
                } else {
                    this.done = !more;
                }
                this.next = next;
                Poll::Ready(Some(Ok(page)))
            }
        }
    }
}

/// A [`Stream`] of the items of every page, in order (for `sync_msg`: every [`Message`], events
/// included, a malformed item as [`MessageContent::Malformed`](wxkf_types::message::MessageContent)
/// without failing its page).
///
/// [`resume_request`](Items::resume_request) (and, for `sync_msg`, [`cursor`](Items::cursor)) says
/// where to continue so that no item not yet yielded is skipped: it moves past a page once every item
/// of that page has been yielded. Persist it after processing each item (or each page) and a crash
/// replays at most the page in progress.
pub struct Items<R: Paged>
where
    R::Response: Send + 'static,
{
    pages: Pages<R>,
    buffer: VecDeque<R::Item>,
    /// Where to resume so nothing unyielded is skipped.
    resume: R,
    /// Where to resume once `buffer` is drained.
    after_buffer: Option<R>,
}

impl<R: Paged + fmt::Debug> fmt::Debug for Items<R>
where
    R::Response: Send + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Items")
            .field("pages", &self.pages)
            .field("buffered", &self.buffer.len())
            .field("resume", &self.resume)
            .finish_non_exhaustive()
    }
}

impl<R: Paged> Items<R>
where
    R::Response: Send + 'static,
{
    pub(crate) fn new(client: Client, first: R) -> Self {
        Self::from_pages(Pages::new(client, first))
    }

    pub(crate) fn from_pages(pages: Pages<R>) -> Self {
        Items { resume: pages.next_request().clone(), pages, buffer: VecDeque::new(), after_buffer: None }
    }

    /// The request to resume from without skipping any item not yet yielded.
    pub fn resume_request(&self) -> &R {
        &self.resume
    }

    /// Whether the stream has ended and every item was yielded.
    pub fn is_done(&self) -> bool {
        self.pages.is_done() && self.buffer.is_empty()
    }
}

impl Items<SyncMsgRequest> {
    /// The `sync_msg` cursor to persist: every message before it has been yielded. `None` until the
    /// first page is fully yielded (when the stream started without a cursor).
    pub fn cursor(&self) -> Option<&str> {
        self.resume.cursor.as_deref()
    }
}

impl<R: Paged> Stream for Items<R>
where
    R::Response: Send + 'static,
{
    type Item = Result<R::Item, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(item) = this.buffer.pop_front() {
                if this.buffer.is_empty()
                    && let Some(next) = this.after_buffer.take()
                {
                    this.resume = next;
                }
                return Poll::Ready(Some(Ok(item)));
            }
            let page = match Pin::new(&mut this.pages).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Err(err))) => return Poll::Ready(Some(Err(err))),
                Poll::Ready(Some(Ok(page))) => page,
            };
            let continuation = this.pages.next_request().clone();
            this.buffer.extend(R::into_items(page));
            if this.buffer.is_empty() {
                this.resume = continuation;
            } else {
                this.after_buffer = Some(continuation);
            }
        }
    }
}

/// `sync_msg` pages ([`Pages`] of [`SyncMsgRequest`]).
pub type SyncMsgPages = Pages<SyncMsgRequest>;
/// `sync_msg` messages ([`Items`] of [`SyncMsgRequest`]), with [`Items::cursor`].
pub type SyncMsgStream = Items<SyncMsgRequest>;

/// Every item of `items`, or the first error.
pub(crate) async fn collect<R: Paged>(mut items: Items<R>) -> Result<Vec<R::Item>, Error>
where
    R::Response: Send + 'static,
{
    use futures_util::StreamExt;
    let mut all = Vec::new();
    while let Some(item) = items.next().await {
        all.push(item?);
    }
    Ok(all)
}
