//! Named methods for every endpoint, one module per API area, mirroring `wxkf_types`' areas.
//!
//! Each method is a thin wrapper around [`Client::execute`](crate::Client::execute).
//! The areas are filled in once the request and response types of `wxkf-types` are merged.
