//! The engine, private to the crate: `schedule` (which account pulls when), `pull` (one
//! account's pull loop and its cursor watermark), `lanes` (one lane per customer, running
//! handlers), `dead_letters` (keeping what the lanes gave up on) and `lease` (the shared pull
//! lease of several instances), all around the shared state in `state`. [`Bot`](crate::Bot) in
//! `bot.rs` drives it; nothing here imports the public face back.

pub(crate) mod dead_letters;
mod lanes;
mod lease;
mod pull;
pub(crate) mod schedule;
pub(crate) mod state;
pub(crate) mod util;

pub use state::Dispatch;
