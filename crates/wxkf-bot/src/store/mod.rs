//! The stores: cursors (`cursor`: the [`CursorStore`](cursor::CursorStore) trait, memory and
//! file), coordination (`coordinate`: [`Coordinator`](coordinate::Coordinator) and
//! [`DedupeStore`](coordinate::DedupeStore), memory impls; `dedupe`: the bounded msgid set),
//! `local` ([`LocalStore`](local::LocalStore) on redb) and `redis` (feature `redis`).
//!
//! The traits live in leaf files, not here, so the backends import them without importing this
//! module back.

pub(crate) mod coordinate;
pub(crate) mod cursor;
pub(crate) mod dead_letter;
pub(crate) mod dedupe;
pub(crate) mod local;
#[cfg(feature = "redis")]
pub mod redis;
