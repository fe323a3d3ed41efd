//! Named methods for every endpoint, one module per API area.
//!
//! Each area is a small handle borrowed from the [`Client`](crate::Client): `client.account().add(req)`,
//! `client.message().send_msg(req)`, `client.media().upload(…)`. Methods take the request type of
//! `wxkf_types` by value and return its response type (`()` for endpoints that answer only
//! `errcode`).
//!
//! The method of each endpoint is not written here: it is expanded from that endpoint's row of
//! [`wxkf_types::kf_endpoints!`], which also gives its path, HTTP method, types and idempotency.
//! A row's `kind` says what the method does besides [`Client::execute`](crate::Client::execute):
//! `plain` nothing, `checked` the area's checks first (a request WeCom would reject is refused
//! with [`Error::InvalidArgument`](crate::Error::InvalidArgument) before sending), `no_args` builds
//! the parameterless request, and `custom` methods are written by hand in their area's module
//! (the token cache, generated `msgid`s, multipart uploads and raw downloads). The area modules
//! add the conveniences around them (paging streams, `batchget_all`, `send_msg_checked`).
//!
//! | area | handle | endpoints |
//! |---|---|---|
//! | token | [`Client::token`](crate::Client::token) | `gettoken` (cached) |
//! | account | [`Client::account`](crate::Client::account) | `account/add`, `del`, `update`, `list`, `add_contact_way` |
//! | servicer | [`Client::servicer`](crate::Client::servicer) | `servicer/add`, `del`, `list` |
//! | service_state | [`Client::service_state`](crate::Client::service_state) | `service_state/get`, `trans` |
//! | message | [`Client::message`](crate::Client::message) | `sync_msg`, `send_msg`, `send_msg_on_event`, `recall_msg` |
//! | customer | [`Client::customer`](crate::Client::customer) | `customer/batchget`, `get_upgrade_service_config`, `upgrade_service`, `cancel_upgrade_service` |
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
#[doc(hidden)]
pub mod upgrade;

/// Declares an area handle: a `Copy` borrow of the client, and the `Client` method returning it.
macro_rules! area {
    ($(#[$doc:meta])* $handle:ident, $method:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $handle<'a> {
            pub(crate) client: &'a crate::Client,
        }

        /// This area's handle, named for the methods expanded from `kf_endpoints!` (unused in
        /// areas whose every method is written by hand).
        #[allow(dead_code)]
        pub(crate) type Handle<'a> = $handle<'a>;

        impl crate::Client {
            #[doc = concat!("The `", stringify!($method), "` area: see [`", stringify!($handle), "`](crate::api::", stringify!($method), "::", stringify!($handle), ").")]
            pub fn $method(&self) -> $handle<'_> {
                $handle { client: self }
            }
        }
    };
}
pub(crate) use area;

/// The checks a `checked` row runs before sending: implemented in the area's module.
pub(crate) trait Check {
    /// `Err(Error::InvalidArgument)` when WeCom would reject the request.
    fn check(&self) -> Result<(), crate::Error>;
}

/// Expands the rows of [`wxkf_types::kf_endpoints!`] into the named methods of the area handles.
macro_rules! client_methods {
    ($(
        $(#[$doc:meta])*
        $method:ident $path:literal => $area:ident :: $req:ident : $body:ident -> $resp:ident : $rbody:ident,
            idempotent: $idempotent:literal, fixture: $fixture:literal,
            client: $handle:ident . $client_fn:ident ($kind:ident);
    )*) => {
        $(
            client_methods!(@method $kind [$(#[$doc])*] $method $path $area $req $resp $handle $client_fn);
        )*
    };
    (@method custom $($rest:tt)*) => {};
    (@method plain [$($doc:tt)*] $method:ident $path:literal $area:ident $req:ident $resp:ident $handle:ident $client_fn:ident) => {
        impl $handle::Handle<'_> {
            $($doc)*
            #[doc = ""]
            #[doc = concat!("`", stringify!($method), " ", $path, "`")]
            pub async fn $client_fn(
                &self,
                req: wxkf_types::$area::$req,
            ) -> Result<client_methods!(@output $area $resp), crate::Error> {
                let resp = self.client.execute(&req).await?;
                Ok(client_methods!(@keep $resp resp))
            }
        }
    };
    (@method checked [$($doc:tt)*] $method:ident $path:literal $area:ident $req:ident $resp:ident $handle:ident $client_fn:ident) => {
        impl $handle::Handle<'_> {
            $($doc)*
            #[doc = ""]
            #[doc = concat!("`", stringify!($method), " ", $path, "`")]
            pub async fn $client_fn(
                &self,
                req: wxkf_types::$area::$req,
            ) -> Result<client_methods!(@output $area $resp), crate::Error> {
                Check::check(&req)?;
                let resp = self.client.execute(&req).await?;
                Ok(client_methods!(@keep $resp resp))
            }
        }
    };
    (@method no_args [$($doc:tt)*] $method:ident $path:literal $area:ident $req:ident $resp:ident $handle:ident $client_fn:ident) => {
        impl $handle::Handle<'_> {
            $($doc)*
            #[doc = ""]
            #[doc = concat!("`", stringify!($method), " ", $path, "`")]
            pub async fn $client_fn(&self) -> Result<client_methods!(@output $area $resp), crate::Error> {
                let resp = self.client.execute(&wxkf_types::$area::$req::new()).await?;
                Ok(client_methods!(@keep $resp resp))
            }
        }
    };
    (@output $area:ident EmptyResponse) => { () };
    (@output $area:ident $resp:ident) => { wxkf_types::$area::$resp };
    (@keep EmptyResponse $value:ident) => { { let _: wxkf_types::EmptyResponse = $value; } };
    (@keep $resp:ident $value:ident) => { $value };
}

wxkf_types::kf_endpoints!(client_methods);
