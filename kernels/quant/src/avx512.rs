//! What the AVX-512 VNNI kernels share. A 512-bit register holds 16 output rows by 4 values
//! (the tiles' group layout), and `vpdpbusd` adds each lane's four unsigned-by-signed byte
//! products to its i32 without saturating, so every dot here is the scalar reference's
//! integer dot exactly.

use std::arch::x86_64::*;

use half::f16;

use crate::{Act, Sums, PASS, ROWS};

/// Sub-blocks of 32 values in a k-quant super-block of 256.
pub(crate) const SUBS: usize = 8;

/// `start` plus each of the 16 rows' dot with the 32-value activation block `a`: `q[g]` holds
/// values `4g..4g + 4` of every row, unsigned.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(crate) unsafe fn dots(q: &[__m512i; 8], a: &Act, start: i32) -> __m512i {
    let x = a.qs.as_ptr().cast::<i32>();
    let mut dot = _mm512_set1_epi32(start);
    for (g, q) in q.iter().enumerate() {
        dot = _mm512_dpbusd_epi32(dot, *q, _mm512_set1_epi32(x.add(g).read_unaligned()));
    }
    dot
}

/// The 32 nibbles of 16 rows' block of a 4-bit format whose byte `j` of group `g` holds value
/// `4g + j` in its low nibble and value `16 + 4g + j` in its high one (Q4_0, Q4_1, Q5_0's low
/// bits), at `qs` (4 groups of 64 bytes), in the order `dots` takes them.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(crate) unsafe fn nibbles(qs: *const u8) -> [__m512i; 8] {
    let nibble = _mm512_set1_epi8(0x0F);
    std::array::from_fn(|i| {
        let w = _mm512_loadu_si512(qs.add(64 * (i % 4)).cast());
        let w = if i < 4 { w } else { _mm512_srli_epi16::<4>(w) };
        _mm512_and_si512(w, nibble)
    })
}

/// One sub-block of a k-quant with minimums (Q4_K, Q5_K) against `R` activation rows
/// (`blocks[r]` the row's block it meets), added to `acc`: `q` its eight value groups,
/// `scale` and `min` its rows' `d * sc_j` and `dmin * m_j`. The values are unsigned as they
/// are, so the dot needs no correction; it is scaled to f32 per sub-block as the scalar
/// reference does.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(crate) unsafe fn sub_block<const R: usize>(
    q: &[__m512i; 8],
    scale: __m512,
    min: __m512,
    blocks: [&Act; R],
    acc: &mut [__m512; R],
) {
    for (acc, a) in acc.iter_mut().zip(blocks) {
        let s = _mm512_mul_ps(scale, _mm512_set1_ps(a.d));
        *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dots(q, a, 0)), s, *acc);
        *acc = _mm512_fnmadd_ps(min, _mm512_set1_ps(a.s), *acc);
    }
}

/// A k-quant tile with minimums unpacked for the passes of a span: each value in a byte of
/// its own, and the sub-block scales and minimums as f32 with the super-block scales
/// applied. 5 KiB, so it stays in L1 while every pass of the span reads it.
#[repr(C)]
pub(crate) struct Unpacked {
    /// Sub-block `j`'s eight value groups.
    pub(crate) q: [[__m512i; 8]; SUBS],
    /// Sub-block `j`'s `d * sc_j`, row `r` in lane `r`.
    pub(crate) scale: [__m512; SUBS],
    /// Sub-block `j`'s `dmin * m_j`, row `r` in lane `r`.
    pub(crate) min: [__m512; SUBS],
}

impl Unpacked {
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(crate) unsafe fn new() -> Unpacked {
        Unpacked {
            q: [[_mm512_setzero_si512(); 8]; SUBS],
            scale: [_mm512_setzero_ps(); SUBS],
            min: [_mm512_setzero_ps(); SUBS],
        }
    }

    /// Tile `b` of a column, unpacked, against every pass of the span's `rows` activation
    /// rows (`kb` blocks each): pass `p`'s sums added to `sums[p]`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(crate) unsafe fn passes(
        &self,
        b: usize,
        acts: &[Act],
        kb: usize,
        rows: usize,
        sums: &mut [Sums],
    ) {
        for (p, sums) in sums.iter_mut().enumerate() {
            let r0 = p * PASS;
            let blocks = |r: usize| &acts[(r0 + r) * kb + b * SUBS..][..SUBS];
            match rows - r0 {
                1 => self.sums::<1>(std::array::from_fn(blocks), sums),
                2 => self.sums::<2>(std::array::from_fn(blocks), sums),
                3 => self.sums::<3>(std::array::from_fn(blocks), sums),
                _ => self.sums::<4>(std::array::from_fn(blocks), sums),
            }
        }
    }

    /// The tile against `R` activation rows (`blocks[r]` the row's 8 blocks it meets), its
    /// accumulators taken from `sums` and put back.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn sums<const R: usize>(&self, blocks: [&[Act]; R], sums: &mut Sums) {
        let mut acc: [__m512; R] = std::array::from_fn(|r| _mm512_loadu_ps(sums[r].as_ptr()));
        for (j, q) in self.q.iter().enumerate() {
            sub_block::<R>(
                q,
                self.scale[j],
                self.min[j],
                blocks.map(|a| &a[j]),
                &mut acc,
            );
        }
        store(&acc, sums);
    }
}

/// `acc[r]` into `sums[r]`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(crate) unsafe fn store<const R: usize>(acc: &[__m512; R], sums: &mut Sums) {
    for (out, acc) in sums.iter_mut().zip(acc) {
        _mm512_storeu_ps(out.as_mut_ptr(), *acc);
    }
}

/// Sixteen f16 as f32, row `r` in lane `r`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(crate) unsafe fn f16s(v: &[f16; ROWS]) -> __m512 {
    _mm512_cvtph_ps(_mm256_loadu_si256(v.as_ptr().cast()))
}

/// Sixteen bytes as f32, row `r` in lane `r`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(crate) unsafe fn widen(v: &[u8; ROWS]) -> __m512 {
    _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(v.as_ptr().cast())))
}
