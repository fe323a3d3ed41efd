//! Kf accounts (kf-api.md §2): `account/add`, `del`, `update`, `list`, `add_contact_way`.

use wxkf_types::account::{
    AccountAddRequest, AccountAddResponse, AccountDelRequest, AccountListRequest, AccountListResponse,
    AccountUpdateRequest, AddContactWayRequest, AddContactWayResponse, KfAccount,
};

use crate::error::Error;
use crate::paging::{Items, Pages};

super::area!(
    /// The Kf account area (kf-api.md §2).
    ///
    /// ```no_run
    /// # async fn demo(client: wxkf_client::Client) -> Result<(), wxkf_client::Error> {
    /// for account in client.account().list_all().await? {
    ///     println!("{} {}", account.open_kfid, account.name);
    /// }
    /// # Ok(()) }
    /// ```
    AccountApi,
    account
);

impl AccountApi<'_> {
    /// `account/add` (§2.1): create an account; the avatar is an uploaded image's `media_id`.
    /// Not retried on transient failures (a retry could create two accounts).
    pub async fn add(&self, req: AccountAddRequest) -> Result<AccountAddResponse, Error> {
        self.client.execute(&req).await
    }

    /// `account/del` (§2.2): delete an account.
    pub async fn del(&self, req: AccountDelRequest) -> Result<(), Error> {
        self.client.execute(&req).await.map(drop)
    }

    /// `account/update` (§2.3): rename an account or change its avatar.
    pub async fn update(&self, req: AccountUpdateRequest) -> Result<(), Error> {
        self.client.execute(&req).await.map(drop)
    }

    /// `account/list` (§2.4): one page.
    pub async fn list(&self, req: AccountListRequest) -> Result<AccountListResponse, Error> {
        self.client.execute(&req).await
    }

    /// `account/list` page by page from `req`'s offset until a page shorter than its limit.
    pub fn list_pages(&self, req: AccountListRequest) -> Pages<AccountListRequest> {
        Pages::new(self.client.clone(), req)
    }

    /// Every account from `req`'s offset on, as a stream.
    pub fn list_stream(&self, req: AccountListRequest) -> Items<AccountListRequest> {
        Items::new(self.client.clone(), req)
    }

    /// Every account (pages of 100).
    pub async fn list_all(&self) -> Result<Vec<KfAccount>, Error> {
        crate::paging::collect(
            self.list_stream(AccountListRequest::new().with_limit(AccountListRequest::MAX_LIMIT)),
        )
        .await
    }

    /// `add_contact_way` (§2.5): the link customers open to chat with an account. A `scene` that
    /// WeCom would reject (more than 32 bytes, or not `[0-9a-zA-Z_-]`) is refused before sending.
    pub async fn add_contact_way(&self, req: AddContactWayRequest) -> Result<AddContactWayResponse, Error> {
        if let Some(scene) = &req.scene
            && !AddContactWayRequest::is_valid_scene(scene)
        {
            return Err(Error::invalid_argument(format!(
                "scene {scene:?}: at most {} bytes of [0-9a-zA-Z_-]",
                AddContactWayRequest::MAX_SCENE_BYTES
            )));
        }
        self.client.execute(&req).await
    }
}
