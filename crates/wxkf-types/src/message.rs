//! TODO(area message): being written.
