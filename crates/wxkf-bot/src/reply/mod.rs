//! What a handler touches: [`ReplyContext`](context::ReplyContext) (sending, hand-off), the
//! reply budget rules and their stores (`budget`), and text splitting (`text`).
//!
//! Imports run `context` → `budget`, `text`; `budget` and `text` import nothing of this room.

pub(crate) mod budget;
pub(crate) mod context;
pub(crate) mod text;
