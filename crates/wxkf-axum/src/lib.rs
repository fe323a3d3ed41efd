//! axum routes for WeCom Kf callbacks (in progress).
