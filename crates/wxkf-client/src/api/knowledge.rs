//! Knowledge base (kf-api.md §10): groups and intents (Q&A), with paging streams.

use wxkf_types::knowledge::{
    KnowledgeAddGroupRequest, KnowledgeAddGroupResponse, KnowledgeAddIntentRequest,
    KnowledgeAddIntentResponse, KnowledgeDelGroupRequest, KnowledgeDelIntentRequest,
    KnowledgeListGroupRequest, KnowledgeListGroupResponse, KnowledgeListIntentRequest,
    KnowledgeListIntentResponse, KnowledgeModGroupRequest, KnowledgeModIntentRequest,
};

use crate::error::Error;
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
    /// `knowledge/add_group` (§10.1). Not retried on transient failures (a retry could add twice).
    pub async fn add_group(&self, req: KnowledgeAddGroupRequest) -> Result<KnowledgeAddGroupResponse, Error> {
        self.client.execute(&req).await
    }

    /// `knowledge/del_group` (§10.1).
    pub async fn del_group(&self, req: KnowledgeDelGroupRequest) -> Result<(), Error> {
        self.client.execute(&req).await.map(drop)
    }

    /// `knowledge/mod_group` (§10.1).
    pub async fn mod_group(&self, req: KnowledgeModGroupRequest) -> Result<(), Error> {
        self.client.execute(&req).await.map(drop)
    }

    /// `knowledge/list_group` (§10.1): one page.
    pub async fn list_group(
        &self,
        req: KnowledgeListGroupRequest,
    ) -> Result<KnowledgeListGroupResponse, Error> {
        self.client.execute(&req).await
    }

    /// `knowledge/list_group` page by page (cursor, while `has_more`).
    pub fn list_group_pages(&self, req: KnowledgeListGroupRequest) -> Pages<KnowledgeListGroupRequest> {
        Pages::new(self.client.clone(), req)
    }

    /// Every group, as a stream across pages.
    pub fn list_group_stream(&self, req: KnowledgeListGroupRequest) -> Items<KnowledgeListGroupRequest> {
        Items::new(self.client.clone(), req)
    }

    /// `knowledge/add_intent` (§10.2). Not retried on transient failures.
    pub async fn add_intent(
        &self,
        req: KnowledgeAddIntentRequest,
    ) -> Result<KnowledgeAddIntentResponse, Error> {
        self.client.execute(&req).await
    }

    /// `knowledge/del_intent` (§10.2).
    pub async fn del_intent(&self, req: KnowledgeDelIntentRequest) -> Result<(), Error> {
        self.client.execute(&req).await.map(drop)
    }

    /// `knowledge/mod_intent` (§10.2): each part given replaces that part entirely.
    pub async fn mod_intent(&self, req: KnowledgeModIntentRequest) -> Result<(), Error> {
        self.client.execute(&req).await.map(drop)
    }

    /// `knowledge/list_intent` (§10.2): one page.
    pub async fn list_intent(
        &self,
        req: KnowledgeListIntentRequest,
    ) -> Result<KnowledgeListIntentResponse, Error> {
        self.client.execute(&req).await
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
