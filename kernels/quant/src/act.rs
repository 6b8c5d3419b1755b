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
    #[cfg(target_arch = "x86_64")]
    if crate::kernel() != crate::Kernel::Scalar {
        // SAFETY: every kernel above the scalar one implies AVX2 (checked by `kernel`).
        return unsafe { quantize_blocks_avx2(x, acts) };
    }
    quantize_blocks_scalar(x, acts);
}

/// The reference: what the SIMD path must give bit for bit.
fn quantize_blocks_scalar(x: &[f32], acts: &mut [Act]) {
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

/// The scalar path's steps, eight values at a time. `vroundps` rounds half to even as
/// `round_ties_even` does and the scale is the same division, so the blocks are identical.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn quantize_blocks_avx2(x: &[f32], acts: &mut [Act]) {
    use std::arch::x86_64::*;
    let sign = _mm256_set1_ps(-0.0);
    for (xs, a) in x.chunks_exact(BLOCK).zip(acts.iter_mut()) {
        let v: [__m256; 4] = std::array::from_fn(|i| _mm256_loadu_ps(xs.as_ptr().add(8 * i)));
        let abs = |v: __m256| _mm256_andnot_ps(sign, v);
        let m8 = _mm256_max_ps(
            _mm256_max_ps(abs(v[0]), abs(v[1])),
            _mm256_max_ps(abs(v[2]), abs(v[3])),
        );
        let m4 = _mm_max_ps(_mm256_castps256_ps128(m8), _mm256_extractf128_ps(m8, 1));
        let m2 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        let amax = _mm_cvtss_f32(_mm_max_ss(m2, _mm_movehdup_ps(m2)));
        let d = amax / 127.0;
        let inv = _mm256_set1_ps(if d != 0.0 { 1.0 / d } else { 0.0 });
        let q: [__m256i; 4] = std::array::from_fn(|i| {
            let r = _mm256_round_ps(_mm256_mul_ps(v[i], inv), _MM_FROUND_TO_NEAREST_INT);
            _mm256_cvtps_epi32(r)
        });
        // Packing works within 128-bit lanes; the permute puts the 32 values back in order.
        let w01 = _mm256_packs_epi32(q[0], q[1]);
        let w23 = _mm256_packs_epi32(q[2], q[3]);
        let b = _mm256_packs_epi16(w01, w23);
        let b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256(a.qs.as_mut_ptr() as *mut __m256i, b);
        let hsum = |s: __m256i| {
            let s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
            let s2 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
            _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 1)))
        };
        let h0 = hsum(_mm256_add_epi32(q[0], q[1]));
        let h1 = hsum(_mm256_add_epi32(q[2], q[3]));
        // At most 16 x 127 each: they fit i16.
        a.h = [h0 as i16, h1 as i16];
        a.d = f16::from_f32(d).to_f32();
        a.s = f16::from_f32(d * (h0 + h1) as f32).to_f32();
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

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_simd_path_gives_the_scalar_blocks_bit_for_bit() {
        if crate::kernel() == crate::Kernel::Scalar {
            eprintln!("skipped: this CPU has no AVX2");
            return;
        }
        // Halves (ties to even), zeros, a block of zeros, extremes and signs.
        let mut x: Vec<f32> = (0..8 * BLOCK)
            .map(|i| ((i * 7919 % 257) as f32 - 128.0) * 0.37)
            .collect();
        x[..BLOCK].fill(0.0);
        x[BLOCK] = 127.0;
        x[BLOCK + 1] = 0.5;
        x[BLOCK + 2] = -1.5;
        x[BLOCK + 3] = -127.0;
        x[2 * BLOCK + 5] = 1e30;
        let kb = x.len() / BLOCK;
        let mut simd = vec![ZERO; kb];
        let mut scalar = vec![ZERO; kb];
        // SAFETY: AVX2 is present (checked above).
        unsafe { quantize_blocks_avx2(&x, &mut simd) };
        quantize_blocks_scalar(&x, &mut scalar);
        for (i, (s, r)) in simd.iter().zip(&scalar).enumerate() {
            assert_eq!(s.qs, r.qs, "block {i}");
            assert_eq!(s.h, r.h, "block {i}");
            assert_eq!(s.d.to_bits(), r.d.to_bits(), "block {i}");
            assert_eq!(s.s.to_bits(), r.s.to_bits(), "block {i}");
        }
    }
}
