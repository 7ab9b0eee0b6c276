//! The pure-Rust backend: the reference every other backend is tested against. Safe code only;
//! it relies on the validation done in `kernels.rs` for lengths, never for memory safety.

pub(crate) mod decay;
pub(crate) mod similarity;
pub(crate) mod spread;
