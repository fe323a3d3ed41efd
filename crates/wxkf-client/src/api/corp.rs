//! Corp qualification (kf-api.md §8).

super::area!(
    /// The corp area (kf-api.md §8).
    ///
    /// ```no_run
    /// # async fn demo(client: wxkf_client::Client) -> Result<(), wxkf_client::Error> {
    /// let q = client.corp().get_corp_qualification().await?;
    /// println!("Channels bound: {}", q.wechat_channels_binding);
    /// # Ok(()) }
    /// ```
    CorpApi,
    corp
);
