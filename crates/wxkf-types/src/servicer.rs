//! TODO(area servicer): being written.
