//! Named methods for every endpoint, one module per API area, mirroring `wxkf_types`' areas.
//!
//! Each area is a small handle borrowed from the [`Client`](crate::Client): `client.account().add(req)`,
//! `client.message().send_msg(req)`, `client.media().upload(…)`. Methods take the request type of
//! `wxkf_types` by value and return its response type (`()` for endpoints that answer only
//! `errcode`); each is a thin wrapper around [`Client::execute`](crate::Client::execute) plus the checks and conveniences
//! of its area (generated `msgid`s, paging streams, media limits).
//!
//! | area | handle | endpoints |
//! |---|---|---|
//! | token | [`Client::token`](crate::Client::token) | `gettoken` (cached) |
//! | account | [`Client::account`](crate::Client::account) | `account/add`, `del`, `update`, `list`, `add_contact_way` |
//! | servicer | [`Client::servicer`](crate::Client::servicer) | `servicer/add`, `del`, `list` |
//! | service_state | [`Client::service_state`](crate::Client::service_state) | `service_state/get`, `trans` |
//! | message | [`Client::message`](crate::Client::message) | `sync_msg`, `send_msg`, `send_msg_on_event`, `recall_msg` |
//! | upgrade | [`Client::upgrade`](crate::Client::upgrade) | `customer/get_upgrade_service_config`, `upgrade_service`, `cancel_upgrade_service` |
//! | customer | [`Client::customer`](crate::Client::customer) | `customer/batchget` |
//! | corp | [`Client::corp`](crate::Client::corp) | `get_corp_qualification` |
//! | statistic | [`Client::statistic`](crate::Client::statistic) | `get_corp_statistic`, `get_servicer_statistic` |
//! | knowledge | [`Client::knowledge`](crate::Client::knowledge) | `knowledge/*` |
//! | media | [`Client::media`](crate::Client::media) | `media/upload`, `media/get` |

pub mod account;
pub mod corp;
pub mod customer;
pub mod knowledge;
pub mod media;
pub mod message;
pub mod service_state;
pub mod servicer;
pub mod statistic;
pub mod token;
pub mod upgrade;

/// Declares an area handle: a `Copy` borrow of the client, and the `Client` method returning it.
macro_rules! area {
    ($(#[$doc:meta])* $handle:ident, $method:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $handle<'a> {
            pub(crate) client: &'a crate::Client,
        }

        impl crate::Client {
            #[doc = concat!("The `", stringify!($method), "` area: see [`", stringify!($handle), "`](crate::api::", stringify!($method), "::", stringify!($handle), ").")]
            pub fn $method(&self) -> $handle<'_> {
                $handle { client: self }
            }
        }
    };
}
pub(crate) use area;
