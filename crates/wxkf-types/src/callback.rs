//! TODO(area callback): being written.
