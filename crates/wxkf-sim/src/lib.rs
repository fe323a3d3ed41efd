#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod fault;
mod inner;
mod rules;
pub mod scenario;
mod server;
mod sim;
mod state;

pub use fault::{Fault, FaultRule, LostAnswer, Target, Trigger};
pub use rules::{ExpiredSendAnswer, ServicerStatus, SessionClock, SyncPaging, TokenlessSyncLimit};
pub use sim::{Customer, Sim, SimBuilder, SimError, SimHandle};
pub use state::{CallRecord, CallbackRecord, SentMessage};
