//! TODO(area customer): being written.
