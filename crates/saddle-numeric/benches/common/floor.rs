//! The bandwidth floor loops shared by the benches: the same memory traffic as an optimizer
//! step with trivial arithmetic, dispatched to an AVX2 copy like the optimizer kernels.

/// Adam's traffic: reads x, g, m, v; writes x, m, v.
#[inline(always)]
fn floor_4r3w_body(x: &mut [f64], g: &[f64], m: &mut [f64], v: &mut [f64]) {
    let n = x.len();
    let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
    for i in 0..n {
        let gi = g[i];
        m[i] += gi;
        v[i] += gi;
        x[i] += gi;
    }
}

/// SGD-momentum's traffic: reads x, g, buf; writes x, buf.
#[inline(always)]
fn floor_3r2w_body(x: &mut [f64], g: &[f64], b: &mut [f64]) {
    let n = x.len();
    let (g, b) = (&g[..n], &mut b[..n]);
    for i in 0..n {
        let gi = g[i];
        b[i] += gi;
        x[i] += gi;
    }
}

/// Adam's traffic plus the divider work torch's order needs per element (one square root,
/// two divisions): m ← m + g; v ← v + g²; x ← x + m/(√v/c + e).
#[inline(always)]
fn floor_div_4r3w_body(x: &mut [f64], g: &[f64], m: &mut [f64], v: &mut [f64], c: f64, e: f64) {
    let n = x.len();
    let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
    for i in 0..n {
        let gi = g[i];
        let mi = m[i] + gi;
        let vi = v[i] + gi * gi;
        m[i] = mi;
        v[i] = vi;
        x[i] += mi / (vi.sqrt() / c + e);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn floor_div_4r3w_avx2(x: &mut [f64], g: &[f64], m: &mut [f64], v: &mut [f64], c: f64, e: f64) {
    floor_div_4r3w_body(x, g, m, v, c, e)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn floor_4r3w_avx2(x: &mut [f64], g: &[f64], m: &mut [f64], v: &mut [f64]) {
    floor_4r3w_body(x, g, m, v)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn floor_3r2w_avx2(x: &mut [f64], g: &[f64], b: &mut [f64]) {
    floor_3r2w_body(x, g, b)
}

/// Whether the AVX2+FMA copies can run here.
pub fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// 4 reads + 3 writes per element.
pub fn floor_4r3w(x: &mut [f64], g: &[f64], m: &mut [f64], v: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: AVX2 and FMA are present.
        return unsafe { floor_4r3w_avx2(x, g, m, v) };
    }
    floor_4r3w_body(x, g, m, v)
}

/// 3 reads + 2 writes per element.
pub fn floor_3r2w(x: &mut [f64], g: &[f64], b: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: AVX2 and FMA are present.
        return unsafe { floor_3r2w_avx2(x, g, b) };
    }
    floor_3r2w_body(x, g, b)
}

/// 4 reads + 3 writes and 1 sqrt + 2 divisions per element: the compute floor of Adam in
/// torch's order (used by `step_ratio` only).
#[allow(dead_code)]
pub fn floor_div_4r3w(x: &mut [f64], g: &[f64], m: &mut [f64], v: &mut [f64], c: f64, e: f64) {
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: AVX2 and FMA are present.
        return unsafe { floor_div_4r3w_avx2(x, g, m, v, c, e) };
    }
    floor_div_4r3w_body(x, g, m, v, c, e)
}
