//! TODO(area service_state): being written.
