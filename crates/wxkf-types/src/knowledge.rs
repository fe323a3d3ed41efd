//! TODO(area knowledge): being written.
