//! Access token (kf-api.md §1): `GET /cgi-bin/gettoken`, cached by the client.

use crate::error::Error;
use crate::token::AccessToken;

super::area!(
    /// The access token area (kf-api.md §1). The client fetches and caches tokens by itself; these
    /// methods are for callers that need the token (another SDK, a debugging tool).
    ///
    /// ```no_run
    /// # async fn demo(client: wxkf_client::Client) -> Result<(), wxkf_client::Error> {
    /// let token = client.token().get().await?;
    /// assert!(!token.expose_secret().is_empty());
    /// # Ok(()) }
    /// ```
    TokenApi,
    token
);

impl TokenApi<'_> {
    /// The cached token, fetched with `gettoken` if there is none (see [`Client::access_token`](crate::Client::access_token)).
    pub async fn get(&self) -> Result<AccessToken, Error> {
        self.client.access_token().await
    }

    /// A new token from `gettoken` now (see [`Client::refresh_token`](crate::Client::refresh_token)).
    pub async fn refresh(&self) -> Result<AccessToken, Error> {
        self.client.refresh_token().await
    }
}
