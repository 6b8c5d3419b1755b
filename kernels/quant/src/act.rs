//! Activations quantized to 8 bits per 32 values, as every kernel here reads them.

use half::f16;

/// Values per activation block.
pub(crate) const BLOCK: usize = 32;

/// 32 activations quantized as llama.cpp's Q8_1: `x ≈ d * q`, `s = d * Σq`; `h` holds `Σq`
/// of each half, for formats whose scales change every 16 values.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct Act {
    pub(crate) qs: [i8; BLOCK],
    pub(crate) d: f32,
    pub(crate) s: f32,
    pub(crate) h: [i16; 2],
}

impl Act {
    /// The block's two half sums in every pair of i16 lanes, so one `vpmaddwd` by a format's
    /// offset (-8 for Q4_0, -16 for Q5_0, a scale times -32 for Q6_K) gives the offset term of
    /// each i32 lane. The same features as the kernels that call it, so it is inlined into
    /// them: a call would save and restore every accumulator around it.
    #[cfg(target_arch = "x86_64")]
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn half_sums(&self) -> std::arch::x86_64::__m256i {
        std::arch::x86_64::_mm256_set1_epi32((self.h.as_ptr() as *const i32).read_unaligned())
    }
}

const ZERO: Act = Act {
    qs: [0; BLOCK],
    d: 0.0,
    s: 0.0,
    h: [0; 2],
};

/// Quantizes `m` rows of `kb` blocks as llama.cpp's `quantize_row_q8_1` does (scale and
/// scaled sum rounded to f16), rows split across candle's workers when there are several.
pub(crate) fn quantize(x: &[f32], m: usize, kb: usize) -> Vec<Act> {
    let mut acts = vec![ZERO; m * kb];
    if m == 1 {
        quantize_blocks(x, &mut acts);
        return acts;
    }
    let k = kb * BLOCK;
    let out = acts.as_mut_ptr() as usize;
    candle_core::utils::barrier_pool().execute_chunked(m, |rows| {
        // SAFETY: `acts` holds m x kb blocks and each range of rows is handed to one worker.
        let part = unsafe {
            std::slice::from_raw_parts_mut((out as *mut Act).add(rows.start * kb), rows.len() * kb)
        };
        quantize_blocks(&x[rows.start * k..rows.end * k], part);
    });
    acts
}

fn quantize_blocks(x: &[f32], acts: &mut [Act]) {
    for (xs, a) in x.chunks_exact(BLOCK).zip(acts.iter_mut()) {
        let amax = xs.iter().fold(0f32, |acc, v| acc.max(v.abs()));
        let d = amax / 127.0;
        let inv = if d != 0.0 { 1.0 / d } else { 0.0 };
        for (q, v) in a.qs.iter_mut().zip(xs) {
            *q = (v * inv).round_ties_even() as i8;
        }
        let half = |h: &[i8]| h.iter().map(|&q| i16::from(q)).sum::<i16>();
        a.h = [half(&a.qs[..16]), half(&a.qs[16..])];
        let sum = i32::from(a.h[0]) + i32::from(a.h[1]);
        a.d = f16::from_f32(d).to_f32();
        a.s = f16::from_f32(d * sum as f32).to_f32();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activations_come_back_within_half_a_step_and_the_sums_add_up() {
        let x: Vec<f32> = (0..2 * 2 * BLOCK)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
            .collect();
        let acts = quantize(&x, 2, 2);
        for (a, xs) in acts.iter().zip(x.chunks_exact(BLOCK)) {
            for (q, v) in a.qs.iter().zip(xs) {
                assert!((f32::from(*q) * a.d - v).abs() <= a.d * 0.51 + 1e-3);
            }
            let sum: i32 = a.qs.iter().map(|&q| i32::from(q)).sum();
            assert_eq!(i32::from(a.h[0]) + i32::from(a.h[1]), sum);
            assert!((a.s - a.d * sum as f32).abs() <= 1e-2 * (1.0 + a.s.abs()));
        }
    }
}
