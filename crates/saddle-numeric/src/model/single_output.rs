//! Linear, logistic and other one-layer, one-output models in a single pass over the rows.
//!
//! The general path reads the features twice: z = X·w + b (a matrix-vector product), then
//! ∂L/∂w = Xᵀ·dz after the loss. Here each row is used for both while it is in L1: z_i =
//! b + x_i·w, the loss and its slope at z_i, then g += (slope/m)·x_i — half the memory
//! traffic. The sums are made in exactly the order of the general path (ndarray's 8-way
//! unrolled dot, row-order accumulation), so both give bit-identical results.

use crate::simd::use_avx2;

use super::loss::{bce_from_exp, Loss};

/// The inputs of one pass: x is m × d row-major, t has m targets, w has d weights.
#[derive(Clone, Copy)]
pub(crate) struct Rows<'a> {
    pub x: &'a [f64],
    pub t: &'a [f64],
    pub w: &'a [f64],
    pub b: f64,
    pub loss: Loss,
}

/// Writes z_i to `z`, ∂L/∂w to `g_w` and returns (mean loss, ∂L/∂b).
pub(crate) fn loss_and_grad(rows: Rows<'_>, z: &mut [f64], g_w: &mut [f64]) -> (f64, f64) {
    #[cfg(target_arch = "x86_64")]
    if use_avx2() {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        return unsafe { pass_avx2(rows, z, g_w) };
    }
    pass(rows, z, g_w)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn pass_avx2(rows: Rows<'_>, z: &mut [f64], g_w: &mut [f64]) -> (f64, f64) {
    pass(rows, z, g_w)
}

/// Rows processed together: their dot products' addition chains are independent, so the
/// pipeline overlaps them, and the gradient is read and written once per block.
const BLOCK: usize = 4;

#[inline(always)]
fn pass(rows: Rows<'_>, z: &mut [f64], g_w: &mut [f64]) -> (f64, f64) {
    let d = rows.w.len();
    let m = rows.t.len();
    debug_assert!(rows.x.len() == m * d && z.len() == m && g_w.len() == d);
    let scale = 1.0 / m as f64;
    g_w.fill(0.0);
    let (mut total, mut g_b) = (0.0, 0.0);
    if d == 0 {
        return (0.0, 0.0);
    }
    let x_blocks = rows.x.chunks_exact(BLOCK * d);
    let x_tail = x_blocks.remainder();
    let (t_blocks, z_blocks) = (rows.t.chunks_exact(BLOCK), z.chunks_exact_mut(BLOCK));
    for ((x, t), z) in x_blocks.zip(t_blocks).zip(z_blocks) {
        let x: [&[f64]; BLOCK] = std::array::from_fn(|r| &x[r * d..(r + 1) * d]);
        // A loop, not `array::map`: a closure would not be inlined into the AVX2 copy.
        let mut dots = [0.0; BLOCK];
        for (dot, x_r) in dots.iter_mut().zip(x) {
            *dot = unrolled_dot(x_r, rows.w);
        }
        for r in 0..BLOCK {
            z[r] = rows.b + dots[r];
        }
        let mut value_slope = [(0.0, 0.0); BLOCK];
        if rows.loss == Loss::Bce {
            // The exponentials first (library calls), then the rest of the four rows at once.
            let mut e = [0.0; BLOCK];
            for r in 0..BLOCK {
                e[r] = (-z[r].abs()).exp();
            }
            for r in 0..BLOCK {
                value_slope[r] = bce_from_exp(z[r], t[r], e[r]);
            }
        } else {
            for r in 0..BLOCK {
                value_slope[r] = rows.loss.value_and_slope(z[r], t[r]);
            }
        }
        let mut dz = [0.0; BLOCK];
        for r in 0..BLOCK {
            let (value, slope) = value_slope[r];
            total += value;
            dz[r] = slope * scale;
            g_b += dz[r];
        }
        // Row by row, as the one-row loop below adds them.
        for (j, g) in g_w.iter_mut().enumerate() {
            let mut acc = *g;
            for r in 0..BLOCK {
                acc += dz[r] * x[r][j];
            }
            *g = acc;
        }
    }
    let done = m - m % BLOCK;
    for ((x_i, &t_i), z_i) in x_tail
        .chunks_exact(d)
        .zip(&rows.t[done..])
        .zip(&mut z[done..])
    {
        let zi = rows.b + unrolled_dot(x_i, rows.w);
        *z_i = zi;
        let (value, slope) = rows.loss.value_and_slope(zi, t_i);
        total += value;
        let dz = slope * scale;
        for (g, &x) in g_w.iter_mut().zip(x_i) {
            *g += dz * x;
        }
        g_b += dz;
    }
    (total * scale, g_b)
}

/// ndarray's `unrolled_dot`, operation for operation: eight partial sums, combined as
/// ((0 + (p0 + p4)) + (p1 + p5)) + …, then the tail.
#[inline(always)]
fn unrolled_dot(a: &[f64], b: &[f64]) -> f64 {
    let b = &b[..a.len()];
    let mut p = [0.0f64; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let (a_tail, b_tail) = (a_chunks.remainder(), b_chunks.remainder());
    for (ca, cb) in a_chunks.zip(b_chunks) {
        for k in 0..8 {
            p[k] += ca[k] * cb[k];
        }
    }
    let mut sum = 0.0;
    sum += p[0] + p[4];
    sum += p[1] + p[5];
    sum += p[2] + p[6];
    sum += p[3] + p[7];
    for (&x, &y) in a_tail.iter().zip(b_tail) {
        sum += x * y;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2};

    #[test]
    fn the_dot_product_is_ndarrays_bit_for_bit() {
        for n in [0, 1, 7, 8, 9, 100, 257] {
            let a = Array1::from_shape_fn(n, |i| ((i * 7919) % 97) as f64 / 13.0 - 3.1);
            let b = Array1::from_shape_fn(n, |i| ((i * 104_729) % 89) as f64 / 7.0 - 5.3);
            let ours = unrolled_dot(a.as_slice().unwrap(), b.as_slice().unwrap());
            assert_eq!(ours.to_bits(), a.dot(&b).to_bits(), "n = {n}");
        }
    }

    #[test]
    fn the_fused_pass_equals_the_general_path_bit_for_bit() {
        use super::super::network::{Network, Workspace};
        use ndarray::s;
        let (m, d) = (203, 21);
        let wide = Array2::from_shape_fn((m, d + 3), |(i, j)| {
            ((i * 131 + j * 71) % 53) as f64 / 9.0 - 2.9
        });
        // A column slice has no contiguous rows: the network takes its general path.
        let strided = wide.slice(s![.., ..d]);
        let contiguous = strided.to_owned();
        let t = Array2::from_shape_fn((m, 1), |(i, _)| ((i * 7) % 3) as f64 / 2.0);
        let net = Network::new(vec![d, 1], vec![]);
        let params: Vec<f64> = (0..=d)
            .map(|j| ((j * 37) % 11) as f64 / 20.0 - 0.25)
            .collect();
        for loss in [Loss::Mse, Loss::Mae, Loss::Huber, Loss::Bce] {
            let mut ws = Workspace::new(&net, m);
            let (mut g_fused, mut g_general) = (vec![0.0; d + 1], vec![0.0; d + 1]);
            let fused = net.loss_and_grad(
                &params,
                contiguous.view(),
                t.view(),
                loss,
                &mut ws,
                Some(&mut g_fused),
            );
            let general = net.loss_and_grad(
                &params,
                strided,
                t.view(),
                loss,
                &mut ws,
                Some(&mut g_general),
            );
            assert_eq!(fused.to_bits(), general.to_bits(), "{loss:?}");
            assert_eq!(g_fused, g_general, "{loss:?}");
        }
    }

    #[test]
    fn the_portable_and_avx2_passes_agree_bit_for_bit() {
        let (m, d) = (37, 13);
        let x = Array2::from_shape_fn((m, d), |(i, j)| ((i * 31 + j * 17) % 23) as f64 / 5.0 - 2.0);
        let t: Vec<f64> = (0..m).map(|i| (i % 2) as f64).collect();
        let w: Vec<f64> = (0..d).map(|j| (j as f64 - 6.0) / 10.0).collect();
        for loss in [Loss::Mse, Loss::Mae, Loss::Huber, Loss::Bce] {
            let rows = Rows {
                x: x.as_slice().unwrap(),
                t: &t,
                w: &w,
                b: 0.3,
                loss,
            };
            let (mut z1, mut g1) = (vec![0.0; m], vec![0.0; d]);
            let (mut z2, mut g2) = (vec![0.0; m], vec![0.0; d]);
            let fast = loss_and_grad(rows, &mut z1, &mut g1);
            let portable = crate::simd::portable(|| loss_and_grad(rows, &mut z2, &mut g2));
            assert_eq!(fast.0.to_bits(), portable.0.to_bits(), "{loss:?}");
            assert_eq!(fast.1.to_bits(), portable.1.to_bits(), "{loss:?}");
            assert_eq!(z1, z2);
            assert_eq!(g1, g2);
        }
    }
}
