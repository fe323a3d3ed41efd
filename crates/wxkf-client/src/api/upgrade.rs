//! The upgrade-service methods under their names before 0.2: their paths are
//! `/cgi-bin/kf/customer/…`, so they are methods of [`CustomerApi`](super::customer::CustomerApi).

/// The handle `client.upgrade()` returned before 0.2: the customer area.
pub type UpgradeApi<'a> = super::customer::CustomerApi<'a>;

impl crate::Client {
    /// The customer area under its name before 0.2; use [`Client::customer`](crate::Client::customer).
    #[doc(hidden)]
    pub fn upgrade(&self) -> UpgradeApi<'_> {
        self.customer()
    }
}
