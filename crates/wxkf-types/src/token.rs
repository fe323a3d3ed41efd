//! TODO(area token): being written.
