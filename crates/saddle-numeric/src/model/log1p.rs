//! ln(1 + x) for x in [0, 1] — the `log(1 + e^−|z|)` of the logistic losses — as inline
//! arithmetic instead of a libm call.
//!
//! It is fdlibm's `log1p` (as ported by musl and Rust's `libm` crate) with the branches this
//! domain takes turned into selects, so the compiler can inline it and the row loop's
//! evaluations overlap; within an ulp of the C library's `log1p` (tested). Every loss path
//! uses it, so they agree bit for bit with one another.

// fdlibm's constants, bit for bit (decimal values in its e_log.c).
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000); // 6.93147180369123816490e-01
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76); // 1.90821492927058770002e-10
const LG1: f64 = f64::from_bits(0x3fe5_5555_5555_5593); // 6.666666666666735130e-01
const LG2: f64 = f64::from_bits(0x3fd9_9999_9997_fa04); // 3.999999999940941908e-01
const LG3: f64 = f64::from_bits(0x3fd2_4924_9422_9359); // 2.857142874366239149e-01
const LG4: f64 = f64::from_bits(0x3fcc_71c5_1d8e_78af); // 2.222219843214978396e-01
const LG5: f64 = f64::from_bits(0x3fc7_4664_96cb_03de); // 1.818357216161805012e-01
const LG6: f64 = f64::from_bits(0x3fc3_9a09_d078_c69f); // 1.531383769920937332e-01
const LG7: f64 = f64::from_bits(0x3fc2_f112_df3e_5244); // 1.479819860511658591e-01

/// √2 − 1, rounded as fdlibm compares it (high word 0x3fda827a): from here on 1 + x is
/// halved before the polynomial.
const HALVE_FROM: f64 = f64::from_bits(0x3fda_827a_0000_0000);

/// ln(1 + x) for 0 ≤ x ≤ 1.
#[inline(always)]
pub(crate) fn log1p_unit(x: f64) -> f64 {
    debug_assert!((0.0..=1.0).contains(&x), "{x}");
    let u = 1.0 + x;
    // 1 + x in [√2, 2]: ln(1 + x) = ln 2 + ln(u/2) + c, where c corrects the rounding of u.
    let halve = x >= HALVE_FROM;
    let f = if halve { u * 0.5 - 1.0 } else { x };
    let c = if halve { (x - (u - 1.0)) / u } else { 0.0 };
    let k = if halve { 1.0 } else { 0.0 };
    let hfsq = 0.5 * f * f;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG2 + w * (LG4 + w * LG6));
    let t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
    let r = t2 + t1;
    s * (hfsq + r) + (k * LN2_LO + c) - hfsq + f + k * LN2_HI
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The distance in units in the last place.
    fn ulps(a: f64, b: f64) -> u64 {
        a.to_bits().abs_diff(b.to_bits())
    }

    #[test]
    fn agrees_with_the_c_library_within_an_ulp_on_the_whole_unit_interval() {
        let mut points: Vec<f64> = (0..=1_000_000).map(|i| i as f64 / 1e6).collect();
        // Tiny and subnormal arguments, and both sides of the halving point.
        points.extend((0..1100).map(|e| 2f64.powi(-e)));
        points.extend([f64::MIN_POSITIVE, 5e-324, 1e-300, 1e-17, 1.1e-16, 2.3e-16]);
        let mut around = HALVE_FROM;
        let mut below = HALVE_FROM;
        for _ in 0..1000 {
            points.extend([around, below]);
            around = f64::from_bits(around.to_bits() + 1);
            below = f64::from_bits(below.to_bits() - 1);
        }
        let mut worst = 0;
        for &x in &points {
            let (ours, libm) = (log1p_unit(x), x.ln_1p());
            worst = worst.max(ulps(ours, libm));
            assert!(ulps(ours, libm) <= 1, "ln(1 + {x:e}): {ours:e} vs {libm:e}");
        }
        assert_eq!(log1p_unit(0.0).to_bits(), 0.0f64.to_bits());
        assert_eq!(log1p_unit(1.0), std::f64::consts::LN_2);
        eprintln!("worst: {worst} ulp");
    }
}
