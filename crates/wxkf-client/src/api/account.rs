//! Kf accounts (kf-api.md §2): `account/add`, `del`, `update`, `list`, and `add_contact_way`.
//!
//! The methods that send one request are expanded from their rows of
//! [`wxkf_types::kf_endpoints!`]; this module adds paging and the checks of `add_contact_way`.

use wxkf_types::account::{AccountListRequest, KfAccount};
use wxkf_types::kf::AddContactWayRequest;

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
}

impl super::Check for AddContactWayRequest {
    fn check(&self) -> Result<(), Error> {
        match &self.scene {
            Some(scene) if !AddContactWayRequest::is_valid_scene(scene) => {
                Err(Error::invalid_argument(format!(
                    "scene {scene:?}: at most {} bytes of [0-9a-zA-Z_-]",
                    AddContactWayRequest::MAX_SCENE_BYTES
                )))
            }
            _ => Ok(()),
        }
    }
}
