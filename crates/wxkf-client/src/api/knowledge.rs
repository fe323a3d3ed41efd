//! Knowledge base (kf-api.md §10): groups and intents (Q&A), with paging streams.

use wxkf_types::knowledge::{KnowledgeListGroupRequest, KnowledgeListIntentRequest};

use crate::paging::{Items, Pages};

super::area!(
    /// The knowledge-base area (kf-api.md §10; self-built apps only).
    ///
    /// ```no_run
    /// # async fn demo(client: wxkf_client::Client) -> Result<(), wxkf_client::Error> {
    /// use futures_util::TryStreamExt;
    /// use wxkf_client::types::knowledge::KnowledgeListGroupRequest;
    /// let groups: Vec<_> = client.knowledge().list_group_stream(KnowledgeListGroupRequest::new()).try_collect().await?;
    /// println!("{} groups", groups.len());
    /// # Ok(()) }
    /// ```
    KnowledgeApi,
    knowledge
);

impl KnowledgeApi<'_> {
    /// `knowledge/list_group` page by page (cursor, while `has_more`).
    pub fn list_group_pages(&self, req: KnowledgeListGroupRequest) -> Pages<KnowledgeListGroupRequest> {
        Pages::new(self.client.clone(), req)
    }

    /// Every group, as a stream across pages.
    pub fn list_group_stream(&self, req: KnowledgeListGroupRequest) -> Items<KnowledgeListGroupRequest> {
        Items::new(self.client.clone(), req)
    }

    /// `knowledge/list_intent` page by page (cursor, while `has_more`).
    pub fn list_intent_pages(&self, req: KnowledgeListIntentRequest) -> Pages<KnowledgeListIntentRequest> {
        Pages::new(self.client.clone(), req)
    }

    /// Every intent, as a stream across pages.
    pub fn list_intent_stream(&self, req: KnowledgeListIntentRequest) -> Items<KnowledgeListIntentRequest> {
        Items::new(self.client.clone(), req)
    }
}
