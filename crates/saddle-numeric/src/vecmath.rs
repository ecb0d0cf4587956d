//! Small allocation-free helpers over flat `f64` slices.

/// Euclidean norm ‖v‖₂.
#[inline]
pub fn norm2(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum::<f64>().sqrt()
}

/// True when every element is finite.
#[inline]
pub fn all_finite(v: &[f64]) -> bool {
    v.iter().all(|a| a.is_finite())
}
