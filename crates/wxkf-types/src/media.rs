//! TODO(area media): being written.
