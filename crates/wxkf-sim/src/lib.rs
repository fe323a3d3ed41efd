#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod fault;
pub mod scenario;
mod server;
mod sim;
mod state;

pub use fault::{Fault, FaultRule, Target, Trigger};
pub use sim::{Customer, Sim, SimBuilder, SimError, SimHandle};
pub use state::{CallRecord, CallbackRecord, SentMessage};
