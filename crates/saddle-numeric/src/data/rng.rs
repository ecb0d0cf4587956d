//! The crate's own deterministic pseudo-random number generator.
//!
//! Histories must be bit-identical across versions of saddle and of its dependencies, so the
//! generator is defined here rather than borrowed from a crate whose streams may change:
//! xoshiro256** (Blackman & Vigna, "Scrambled linear pseudorandom number generators", ACM TOMS
//! 2021, <https://prng.di.unimi.it/>) seeded through splitmix64 (Steele, Lea & Flood, OOPSLA
//! 2014), normal deviates by the Box–Muller transform and bounded integers by Lemire's
//! multiply-and-reject method ("Fast random integer generation in an interval", ACM TOMACS 2019).
//! Changing any of these functions changes every seeded dataset, initialization and shuffle.

/// One step of splitmix64: advances `state` and returns the next output.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256**: 256 bits of state, period 2²⁵⁶ − 1, good enough for simulation and shuffling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator whose state is four consecutive splitmix64 outputs of `seed` (the
    /// initialization recommended by the xoshiro authors; never all zero).
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Self { s }
    }

    /// An independent stream for a named purpose (e.g. the validation split versus the batch
    /// shuffle), so that changing one use of a seed does not shift another.
    pub fn derived(seed: u64, stream: u64) -> Self {
        let mut sm = stream;
        Self::new(seed ^ splitmix64(&mut sm))
    }

    /// Rebuilds a generator from [`Rng::state`], for checkpoints.
    pub fn from_state(s: [u64; 4]) -> Option<Self> {
        (s != [0; 4]).then_some(Self { s })
    }

    /// The raw state, for checkpoints.
    pub fn state(&self) -> [u64; 4] {
        self.s
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// A uniform double in [0, 1) with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform double in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next_f64()
    }

    /// A standard normal deviate by Box–Muller (the cosine branch only, so the generator has no
    /// hidden cached value and its state is just the four words).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // (0, 1]: ln is finite
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A uniform integer in [0, n) without modulo bias (Lemire). `n` must be positive.
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (m >> 64) as u64
    }

    /// Shuffles `items` in place by Fisher–Yates (Durstenfeld's variant, from the back).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_implementation() {
        // First outputs for seed 1234567, from an independent Python transcription of the C code.
        let mut s = 1234567u64;
        let got: Vec<u64> = (0..3).map(|_| splitmix64(&mut s)).collect();
        assert_eq!(
            got,
            vec![
                6457827717110365317,
                3203168211198807973,
                9817491932198370423
            ]
        );
    }

    #[test]
    fn the_stream_of_a_seed_never_changes() {
        // Golden values (independent Python transcription of xoshiro256**.c): a change here
        // changes every seeded history saddle has stored.
        let mut rng = Rng::new(42);
        let got: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        assert_eq!(got, GOLDEN_SEED_42.to_vec());
    }

    const GOLDEN_SEED_42: [u64; 3] = [
        1546998764402558742,
        6990951692964543102,
        12544586762248559009,
    ];

    #[test]
    fn normal_deviates_and_shuffles_of_a_seed_never_change() {
        // The first normal matches an independent Python transcription of Box–Muller over the
        // golden xoshiro outputs (-0.303263064678738); the rest are this implementation's
        // outputs, frozen because stored histories depend on them.
        let mut rng = Rng::new(42);
        assert_eq!(rng.normal(), -0.303263064678738);
        assert_eq!(rng.normal(), 1.3438117634372806);
        let mut order: Vec<usize> = (0..8).collect();
        Rng::new(42).shuffle(&mut order);
        assert_eq!(order, vec![7, 1, 6, 3, 5, 4, 2, 0]);
    }

    #[test]
    fn uniform_doubles_lie_in_the_unit_interval_with_mean_one_half() {
        let mut rng = Rng::new(7);
        let xs: Vec<f64> = (0..100_000).map(|_| rng.next_f64()).collect();
        assert!(xs.iter().all(|&x| (0.0..1.0).contains(&x)));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((mean - 0.5).abs() < 0.005, "mean {mean}");
    }

    #[test]
    fn normal_deviates_have_mean_zero_and_unit_variance() {
        let mut rng = Rng::new(3);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "variance {var}");
    }

    #[test]
    fn shuffle_is_a_permutation_and_depends_on_the_seed() {
        let mut a: Vec<usize> = (0..50).collect();
        let mut b = a.clone();
        Rng::new(1).shuffle(&mut a);
        Rng::new(2).shuffle(&mut b);
        assert_ne!(a, b);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn below_covers_every_value_of_a_small_range() {
        let mut rng = Rng::new(9);
        let mut seen = [0u32; 7];
        for _ in 0..7000 {
            seen[rng.below(7) as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c > 800), "{seen:?}");
    }
}
