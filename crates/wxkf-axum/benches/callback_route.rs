//! Benchmark of the callback route (in progress).
fn main() {}
