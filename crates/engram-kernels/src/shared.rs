//! The constants both backends use, written once in `zig/src/shared.zon` (what each one is
//! for is said there and in the documentation below): build.rs writes every entry out as a
//! constant here, and the Zig kernels import the same file, so the two cannot drift apart.

include!(concat!(env!("OUT_DIR"), "/shared.rs"));

// The generated constants are used where the values were written before; these pin what the
// Rust code assumes of them.
const _: () = {
    assert!(MAX_ABS_WEIGHT as f32 as f64 == MAX_ABS_WEIGHT);
    assert!(PULL_GATHER_MAX_NODES == i32::MAX as usize + 1);
    assert!(DECAY_PREFETCH_AHEAD.is_multiple_of(DECAY_BLOCK));
    assert!(DECAY_STREAM_MIN_ELEMENTS.is_multiple_of(DECAY_BLOCK));
    assert!((DECAY_BLOCK * size_of::<f32>()).is_multiple_of(CACHE_LINE));
};
