//! The fused, single-pass update loops of the hot optimizers (SGD with momentum, Adam,
//! AdamW), with runtime CPU-feature dispatch.
//!
//! Each loop body is written once, `#[inline(always)]`, and instantiated twice: as plain
//! portable code and inside a `#[target_feature(enable = "avx2,fma")]` function chosen at
//! run time when the CPU has both. The body never calls `mul_add` and Rust never contracts
//! a·b + c into an FMA on its own, so the AVX2 copy only vectorizes wider: both paths round
//! identically and give bit-identical results (checked by tests below).

use crate::simd::use_avx2;

/// Loop-invariant coefficients of one Adam step (torch's single-tensor path).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdamCoefs {
    /// −1 when maximizing, else 1.
    pub sign: f64,
    /// 1 − lr·wd for decoupled decay, else 1.
    pub decay: f64,
    /// wd for coupled decay, else 0.
    pub coupled_wd: f64,
    /// lerp weight 1 − β1.
    pub w: f64,
    /// β2.
    pub beta2: f64,
    /// 1 − β2.
    pub one_minus_b2: f64,
    /// √(1 − β2ᵗ).
    pub bc2_sqrt: f64,
    /// −lr/(1 − β1ᵗ).
    pub neg_step_size: f64,
    /// eps.
    pub eps: f64,
}

/// x ← x·decay; g ← sign·g + wd·x; m ← lerp(m, g, w); v ← β2·v + (1−β2)·g²;
/// (AMS: v̂ ← max(v̂, v)); x ← x + (−step)·m/(√v/√bc2 + eps).
#[inline(always)]
fn adam_body<const LOW_WEIGHT: bool, const AMS: bool>(
    x: &mut [f64],
    g: &[f64],
    m: &mut [f64],
    v: &mut [f64],
    vmax: &mut [f64],
    c: AdamCoefs,
) {
    let n = x.len();
    let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
    let vmax = if AMS { &mut vmax[..n] } else { vmax };
    let one_minus_w = 1.0 - c.w;
    for i in 0..n {
        let xd = x[i] * c.decay;
        let gi = c.sign * g[i] + c.coupled_wd * xd;
        // torch's lerp: the branch on the weight is hoisted out of the loop.
        let mi = if LOW_WEIGHT {
            m[i] + c.w * (gi - m[i])
        } else {
            gi - (gi - m[i]) * one_minus_w
        };
        let vi = v[i] * c.beta2 + c.one_minus_b2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        let denom_v = if AMS {
            let vm = vmax[i].max(vi);
            vmax[i] = vm;
            vm
        } else {
            vi
        };
        x[i] = xd + c.neg_step_size * mi / (denom_v.sqrt() / c.bc2_sqrt + c.eps);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn adam_avx2<const LOW_WEIGHT: bool, const AMS: bool>(
    x: &mut [f64],
    g: &[f64],
    m: &mut [f64],
    v: &mut [f64],
    vmax: &mut [f64],
    c: AdamCoefs,
) {
    adam_body::<LOW_WEIGHT, AMS>(x, g, m, v, vmax, c)
}

fn adam_dispatch<const LOW_WEIGHT: bool, const AMS: bool>(
    x: &mut [f64],
    g: &[f64],
    m: &mut [f64],
    v: &mut [f64],
    vmax: &mut [f64],
    c: AdamCoefs,
) {
    #[cfg(target_arch = "x86_64")]
    if use_avx2() {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        unsafe { adam_avx2::<LOW_WEIGHT, AMS>(x, g, m, v, vmax, c) };
        return;
    }
    adam_body::<LOW_WEIGHT, AMS>(x, g, m, v, vmax, c)
}

/// One fused Adam/AdamW/AMSGrad pass over all parameters; `vmax` is used only when `ams`.
pub(crate) fn adam_step(
    x: &mut [f64],
    g: &[f64],
    m: &mut [f64],
    v: &mut [f64],
    vmax: &mut [f64],
    ams: bool,
    c: AdamCoefs,
) {
    assert!(g.len() == x.len() && m.len() == x.len() && v.len() == x.len());
    assert!(!ams || vmax.len() == x.len());
    match (c.w.abs() < 0.5, ams) {
        (true, false) => adam_dispatch::<true, false>(x, g, m, v, vmax, c),
        (false, false) => adam_dispatch::<false, false>(x, g, m, v, vmax, c),
        (true, true) => adam_dispatch::<true, true>(x, g, m, v, vmax, c),
        (false, true) => adam_dispatch::<false, true>(x, g, m, v, vmax, c),
    }
}

/// Loop-invariant coefficients of one SGD step with momentum.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SgdCoefs {
    /// −1 when maximizing, else 1.
    pub sign: f64,
    /// Coupled weight decay wd.
    pub wd: f64,
    /// Momentum μ.
    pub mu: f64,
    /// 1 − dampening.
    pub damp: f64,
    /// −lr.
    pub neg_lr: f64,
}

/// d ← sign·g + wd·x; buf ← d (first step) or μ·buf + (1−dampening)·d;
/// x ← x + (−lr)·(d + μ·buf if Nesterov else buf).
#[inline(always)]
fn sgd_body<const FIRST: bool, const NESTEROV: bool, const WD: bool>(
    x: &mut [f64],
    g: &[f64],
    buf: &mut [f64],
    c: SgdCoefs,
) {
    let n = x.len();
    let (g, buf) = (&g[..n], &mut buf[..n]);
    for i in 0..n {
        let mut d = c.sign * g[i];
        if WD {
            d += c.wd * x[i];
        }
        let b = if FIRST { d } else { buf[i] * c.mu + c.damp * d };
        buf[i] = b;
        let update = if NESTEROV { d + c.mu * b } else { b };
        x[i] += c.neg_lr * update;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn sgd_avx2<const FIRST: bool, const NESTEROV: bool, const WD: bool>(
    x: &mut [f64],
    g: &[f64],
    buf: &mut [f64],
    c: SgdCoefs,
) {
    sgd_body::<FIRST, NESTEROV, WD>(x, g, buf, c)
}

fn sgd_dispatch<const FIRST: bool, const NESTEROV: bool, const WD: bool>(
    x: &mut [f64],
    g: &[f64],
    buf: &mut [f64],
    c: SgdCoefs,
) {
    #[cfg(target_arch = "x86_64")]
    if use_avx2() {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        unsafe { sgd_avx2::<FIRST, NESTEROV, WD>(x, g, buf, c) };
        return;
    }
    sgd_body::<FIRST, NESTEROV, WD>(x, g, buf, c)
}

/// One fused pass of SGD with momentum over all parameters.
pub(crate) fn sgd_momentum_step(
    x: &mut [f64],
    g: &[f64],
    buf: &mut [f64],
    first: bool,
    nesterov: bool,
    c: SgdCoefs,
) {
    assert!(g.len() == x.len() && buf.len() == x.len());
    let wd = c.wd != 0.0;
    match (first, nesterov, wd) {
        (true, true, true) => sgd_dispatch::<true, true, true>(x, g, buf, c),
        (true, true, false) => sgd_dispatch::<true, true, false>(x, g, buf, c),
        (true, false, true) => sgd_dispatch::<true, false, true>(x, g, buf, c),
        (true, false, false) => sgd_dispatch::<true, false, false>(x, g, buf, c),
        (false, true, true) => sgd_dispatch::<false, true, true>(x, g, buf, c),
        (false, true, false) => sgd_dispatch::<false, true, false>(x, g, buf, c),
        (false, false, true) => sgd_dispatch::<false, false, true>(x, g, buf, c),
        (false, false, false) => sgd_dispatch::<false, false, false>(x, g, buf, c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::portable;

    /// A deterministic pseudo-random vector with a wide spread of magnitudes and signs.
    fn noise(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (s >> 11) as f64 / (1u64 << 53) as f64;
                (u - 0.5) * 10f64.powi(((s >> 3) % 7) as i32 - 3)
            })
            .collect()
    }

    #[test]
    fn the_avx2_adam_loop_is_bit_identical_to_the_portable_loop() {
        let n = 1003;
        for (ams, w, decay, wd) in [
            (false, 0.1, 1.0, 0.0),
            (true, 0.1, 1.0, 0.01),
            (false, 0.7, 0.999, 0.0),
            (true, 0.7, 1.0, 0.0),
        ] {
            let c = AdamCoefs {
                sign: 1.0,
                decay,
                coupled_wd: wd,
                w,
                beta2: 0.999,
                one_minus_b2: 1.0 - 0.999,
                bc2_sqrt: (1.0f64 - 0.999f64.powi(3)).sqrt(),
                neg_step_size: -0.01 / (1.0 - 0.9f64.powi(3)),
                eps: 1e-8,
            };
            let g = noise(n, 1);
            let run = || {
                let (mut x, mut m, mut v) = (noise(n, 2), noise(n, 3), noise(n, 4));
                v.iter_mut().for_each(|a| *a = a.abs());
                let mut vmax = if ams { v.clone() } else { Vec::new() };
                for _ in 0..3 {
                    adam_step(&mut x, &g, &mut m, &mut v, &mut vmax, ams, c);
                }
                (x, m, v, vmax)
            };
            let fast = run();
            let slow = portable(run);
            let bits = |v: &[f64]| v.iter().map(|a| a.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fast.0), bits(&slow.0));
            assert_eq!(bits(&fast.1), bits(&slow.1));
            assert_eq!(bits(&fast.2), bits(&slow.2));
            assert_eq!(bits(&fast.3), bits(&slow.3));
        }
    }

    #[test]
    fn the_avx2_sgd_loop_is_bit_identical_to_the_portable_loop() {
        let n = 1001;
        let g = noise(n, 5);
        for nesterov in [false, true] {
            let c = SgdCoefs {
                sign: 1.0,
                wd: 0.01,
                mu: 0.9,
                damp: 0.9,
                neg_lr: -0.01,
            };
            let run = || {
                let (mut x, mut buf) = (noise(n, 6), vec![0.0; n]);
                for k in 0..3 {
                    sgd_momentum_step(&mut x, &g, &mut buf, k == 0, nesterov, c);
                }
                (x, buf)
            };
            let fast = run();
            let slow = portable(run);
            let bits = |v: &[f64]| v.iter().map(|a| a.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fast.0), bits(&slow.0));
            assert_eq!(bits(&fast.1), bits(&slow.1));
        }
    }
}
