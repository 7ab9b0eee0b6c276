//! The pure-Rust backend: the reference every other backend is tested against. Safe code,
//! apart from calls into its `#[target_feature]` functions, decay's cache prefetches and the
//! AVX2 gather of the pull pass, each with its invariant; it relies on the validation done in `kernels.rs` for
//! lengths, never for memory safety.

pub(crate) mod decay;
pub(crate) mod similarity;
pub(crate) mod spread;
pub(crate) mod spread_pull;
