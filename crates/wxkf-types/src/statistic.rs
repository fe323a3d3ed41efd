//! TODO(area statistic): being written.
