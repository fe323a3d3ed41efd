//! TODO(area upgrade): being written.
