//! TODO(area corp): being written.
