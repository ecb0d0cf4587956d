//! Runtime CPU-feature dispatch shared by the hot loops (optimizer updates, model passes).
//!
//! A hot loop's body is written once, `#[inline(always)]`, and instantiated twice: as plain
//! portable code and inside a `#[target_feature(enable = "avx2,fma")]` function chosen at run
//! time when [`use_avx2`] says so. Bodies never call `mul_add` and Rust never contracts
//! a·b + c into an FMA on its own, so both copies round identically.

/// Whether the AVX2+FMA copies may run on this CPU (cached by the std macro).
#[inline]
fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

// Forces the portable path, for tests that compare the two.
#[cfg(test)]
thread_local! {
    pub(crate) static FORCE_PORTABLE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with the portable loops forced on this thread.
#[cfg(test)]
pub(crate) fn portable<T>(f: impl FnOnce() -> T) -> T {
    FORCE_PORTABLE.with(|p| p.set(true));
    let out = f();
    FORCE_PORTABLE.with(|p| p.set(false));
    out
}

/// Whether `SADDLE_NUMERIC_PORTABLE` is set (to anything but `0`): the portable loops are
/// then used even where AVX2 is available, e.g. to measure or rule out the dispatch.
fn portable_forced() -> bool {
    static FORCED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FORCED.get_or_init(|| std::env::var_os("SADDLE_NUMERIC_PORTABLE").is_some_and(|v| v != "0"))
}

#[inline]
pub(crate) fn use_avx2() -> bool {
    #[cfg(test)]
    if FORCE_PORTABLE.with(|f| f.get()) {
        return false;
    }
    has_avx2_fma() && !portable_forced()
}
