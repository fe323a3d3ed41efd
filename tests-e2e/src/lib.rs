//! End-to-end tests of wxkf, kept in their own crate (as tokio keeps `tests-integration`): the
//! simulator, the axum callback route and the bot runtime together. The tests are in `tests/`;
//! this library is empty. See `tests-e2e/README.md` for what each test file shows.

#![deny(missing_docs)]
