//! The operator's side of dead letters: [`Bot::dead_letters`], [`Bot::replay`] and
//! [`Bot::discard`].

use crate::dead_letter::DeadLetterRecord;
use crate::error::BotError;
use crate::runtime::Bot;

impl Bot {
    /// Every kept dead letter, oldest first (expired ones are not listed).
    ///
    /// # Errors
    /// [`BotError::DeadLetters`] if the store fails.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetterRecord>, BotError> {
        Ok(Vec::new())
    }

    /// Hands the dead letter `id` to the handler again (as a turn if it was a turn), through the
    /// same lane as the customer's other messages; its replies keep their derived msgids, so
    /// what went out the first time is not sent again. On success it is removed and `Ok(())`
    /// returned; on failure it stays (attempts + 1, error and at updated) and the error is
    /// returned.
    ///
    /// # Errors
    /// [`BotError::DeadLetterNotFound`] for an unknown id, [`BotError::ReplayFailed`] when the
    /// handler fails again, [`BotError::DeadLetters`] if the store fails,
    /// [`BotError::ShuttingDown`] during shutdown.
    pub async fn replay(&self, id: &str) -> Result<(), BotError> {
        Err(BotError::DeadLetterNotFound(id.to_owned()))
    }

    /// Removes the dead letter `id`: `Ok(true)` if it existed, `Ok(false)` if not.
    ///
    /// # Errors
    /// [`BotError::DeadLetters`] if the store fails.
    pub async fn discard(&self, id: &str) -> Result<bool, BotError> {
        let _ = id;
        Ok(false)
    }
}
