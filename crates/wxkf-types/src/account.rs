//! TODO(area account): being written.
