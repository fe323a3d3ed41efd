//! TODO(area errcode): being written.
