//! Q4_K: super-blocks of 256 values in 8 sub-blocks of 32, `x = d * sc_j * q - dmin * m_j`
//! with 4-bit `q`, 6-bit sub-block scales `sc_j` and minimums `m_j`, and f16 `d`, `dmin`.
//!
//! A tile holds one super-block of 16 rows. The activations come in blocks of 32, one per
//! sub-block, so each sub-block's integer dot product is scaled on its own:
//! `Σ_j (d * sc_j) * d_a * (q · q_a) - (dmin * m_j) * s_a`, where `s_a = d_a * Σ q_a` carries
//! the minimum as in Q4_1.

use half::f16;

use crate::{Act, Format, Kernel, Sums, ROWS};

/// Sub-blocks of 32 values in a super-block (one activation block each).
const SUBS: usize = 8;

/// One 256-value super-block of 16 consecutive output rows: 148 bytes a row against GGUF's
/// 144 (the 6-bit scales and minimums take a byte each here, so the kernel reads them with
/// one widening load instead of unpacking bits).
#[repr(C, align(32))]
#[derive(Clone)]
pub(crate) struct Tile {
    /// `[chunk c (4)][group g (8)][row (16)][4 bytes]`: bytes `32c + 4g..32c + 4g + 4` of each
    /// row's nibbles. A byte holds value `4g + i` of sub-block `2c` in its low nibble and of
    /// sub-block `2c + 1` in its high nibble, so one 256-bit load is 8 rows' 4-byte group.
    qs: [u8; 128 * ROWS],
    /// `[sub-block][row]`: each row's 6-bit scale of each sub-block.
    sc: [[u8; ROWS]; SUBS],
    /// `[sub-block][row]`: each row's 6-bit minimum of each sub-block.
    m: [[u8; ROWS]; SUBS],
    /// Each row's super-block scale.
    d: [f16; ROWS],
    /// Each row's super-block scale of the minimums.
    dmin: [f16; ROWS],
}

/// Sub-block `j`'s 6-bit scale and minimum from a k-quant's 12 packed bytes: the first four
/// sit in the low 6 bits of bytes `j` and `j + 4`; the last four keep their low 4 bits in a
/// nibble of bytes 8..12 and their top 2 bits in the spare top bits of bytes 0..8.
pub(crate) fn scale_min(packed: &[u8], j: usize) -> (u8, u8) {
    if j < 4 {
        (packed[j] & 63, packed[j + 4] & 63)
    } else {
        (
            (packed[j + 4] & 0x0F) | ((packed[j - 4] >> 6) << 4),
            (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4),
        )
    }
}

impl Tile {
    /// The nibble of value `l` of sub-block `j` in row `r`.
    fn q(&self, r: usize, j: usize, l: usize) -> u8 {
        let byte = self.qs[((j / 2 * 8 + l / 4) * ROWS + r) * 4 + l % 4];
        if j.is_multiple_of(2) {
            byte & 0x0F
        } else {
            byte >> 4
        }
    }
}

impl Format for Tile {
    const VALUES: usize = 256;
    const BYTES: usize = 144;

    fn pack(rows: [&[u8]; ROWS]) -> Tile {
        let mut tile = Tile {
            qs: [0; 128 * ROWS],
            sc: [[0; ROWS]; SUBS],
            m: [[0; ROWS]; SUBS],
            d: [f16::ZERO; ROWS],
            dmin: [f16::ZERO; ROWS],
        };
        for (r, block) in rows.iter().enumerate() {
            tile.d[r] = f16::from_le_bytes([block[0], block[1]]);
            tile.dmin[r] = f16::from_le_bytes([block[2], block[3]]);
            for j in 0..SUBS {
                (tile.sc[j][r], tile.m[j][r]) = scale_min(&block[4..16], j);
            }
            for cg in 0..32 {
                let to = (cg * ROWS + r) * 4;
                tile.qs[to..to + 4].copy_from_slice(&block[16 + 4 * cg..20 + 4 * cg]);
            }
        }
        tile
    }

    fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0f32; ROWS * 256];
        for r in 0..ROWS {
            for j in 0..SUBS {
                let scale = self.d[r].to_f32() * f32::from(self.sc[j][r]);
                let min = self.dmin[r].to_f32() * f32::from(self.m[j][r]);
                for l in 0..32 {
                    out[r * 256 + 32 * j + l] = scale * f32::from(self.q(r, j, l)) - min;
                }
            }
        }
        out
    }

    fn scalar(tiles: &[Tile], acts: &[Act], rows: usize, sums: &mut Sums) {
        let kb = tiles.len() * SUBS;
        for (i, out) in sums[..rows].iter_mut().enumerate() {
            for (b, tile) in tiles.iter().enumerate() {
                for j in 0..SUBS {
                    let a = &acts[i * kb + b * SUBS + j];
                    for (r, o) in out.iter_mut().enumerate() {
                        let dot: i32 = (0..32)
                            .map(|l| i32::from(tile.q(r, j, l)) * i32::from(a.qs[l]))
                            .sum();
                        let scale = tile.d[r].to_f32() * f32::from(tile.sc[j][r]);
                        let min = tile.dmin[r].to_f32() * f32::from(tile.m[j][r]);
                        *o += dot as f32 * (scale * a.d) - min * a.s;
                    }
                }
            }
        }
    }

    fn simd<const R: usize>(kernel: Kernel, tiles: &[Tile], acts: &[Act], sums: &mut Sums) -> bool {
        match kernel {
            // SAFETY: `kernel()` chose these only where the CPU has their instructions.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Vnni => unsafe { avx512::pass::<R>(tiles, acts, sums) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { avx2::pass::<R>(tiles, acts, sums) },
            _ => return false,
        }
        true
    }

    /// 16 passes, 64 rows, per unpacked tile on AVX-512, as Q5_K's: splitting the nibbles
    /// and widening the scales once per tile instead of once per pass.
    const SPAN: usize = 16;

    /// AVX2 has no span code here: one pass per unit, as before the AVX-512 span.
    fn span(kernel: Kernel) -> usize {
        match kernel {
            Kernel::Avx512Vnni => Self::SPAN,
            Kernel::Avx2 | Kernel::Scalar => 1,
        }
    }

    fn simd_span(
        kernel: Kernel,
        tiles: &[Tile],
        acts: &[Act],
        rows: usize,
        sums: &mut [Sums],
    ) -> bool {
        match kernel {
            // SAFETY: as for `simd`.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Vnni => unsafe { avx512::span(tiles, acts, rows, sums) },
            _ => return false,
        }
        true
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{Tile, SUBS};
    use crate::avx512::{f16s, store, sub_block, widen, Unpacked};
    use crate::{prefetch, Act, Sums, ROWS};

    /// One column of tiles against `R` activation rows: one 512-bit register per 16 rows, so a
    /// 64-byte group of nibbles is one load and each broadcast activation group serves all 16
    /// rows. A sub-block's dot is at most 32 x 15 x 127 = 60,960 in magnitude per i32 lane.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn pass<const R: usize>(tiles: &[Tile], acts: &[Act], sums: &mut Sums) {
        let kb = tiles.len() * SUBS;
        let mut acc = [_mm512_setzero_ps(); R];
        for (b, tile) in tiles.iter().enumerate() {
            let blocks: [&[Act]; R] = std::array::from_fn(|r| &acts[r * kb + b * SUBS..][..SUBS]);
            let (d, dmin) = (f16s(&tile.d), f16s(&tile.dmin));
            for c in 0..SUBS / 2 {
                prefetch(tile, c, SUBS / 2);
                for (n, q) in chunk(tile, c).iter().enumerate() {
                    let j = 2 * c + n;
                    let scale = _mm512_mul_ps(widen(&tile.sc[j]), d);
                    let min = _mm512_mul_ps(widen(&tile.m[j]), dmin);
                    sub_block::<R>(q, scale, min, blocks.map(|a| &a[j]), &mut acc);
                }
            }
        }
        store(&acc, sums);
    }

    /// A column of tiles against `rows` activation rows, in passes of up to four: each tile is
    /// unpacked once (each nibble in a byte of its own) and met by every pass before the next.
    /// `sums[p]` takes pass `p`'s sums.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn span(tiles: &[Tile], acts: &[Act], rows: usize, sums: &mut [Sums]) {
        let kb = tiles.len() * SUBS;
        let mut unpacked = Unpacked::new();
        for (b, tile) in tiles.iter().enumerate() {
            let (d, dmin) = (f16s(&tile.d), f16s(&tile.dmin));
            for (c, q) in unpacked.q.as_chunks_mut::<2>().0.iter_mut().enumerate() {
                prefetch(tile, c, SUBS / 2);
                *q = chunk(tile, c);
            }
            for j in 0..SUBS {
                unpacked.scale[j] = _mm512_mul_ps(widen(&tile.sc[j]), d);
                unpacked.min[j] = _mm512_mul_ps(widen(&tile.m[j]), dmin);
            }
            unpacked.passes(b, acts, kb, rows, sums);
        }
    }

    /// Chunk `c`'s nibbles, sub-block `2c + n`'s in `[n]`, 16 rows by 4 in each of its eight
    /// groups: each 64-byte group is loaded once and split in registers.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn chunk(tile: &Tile, c: usize) -> [[__m512i; 8]; 2] {
        let nibble = _mm512_set1_epi8(0x0F);
        let w: [__m512i; 8] = std::array::from_fn(|g| {
            _mm512_loadu_si512(tile.qs.as_ptr().add((c * 8 + g) * ROWS * 4).cast())
        });
        [
            w.map(|w| _mm512_and_si512(w, nibble)),
            w.map(|w| _mm512_and_si512(_mm512_srli_epi16::<4>(w), nibble)),
        ]
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use half::f16;

    use super::{Tile, SUBS};
    use crate::{prefetch, Act, Sums, ROWS};

    /// One column of tiles against `R` activation rows. Each tile is two halves of 8 rows (one
    /// 256-bit register of i32 or f32 each). For one or two rows both halves go together, so
    /// each broadcast activation group serves 16 rows; for more, the accumulators of both
    /// halves would not fit in 16 registers, so the halves take turns.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn pass<const R: usize>(tiles: &[Tile], acts: &[Act], sums: &mut Sums) {
        if R <= 2 {
            halves::<R, 2, 0>(tiles, acts, sums);
        } else {
            halves::<R, 1, 0>(tiles, acts, sums);
            halves::<R, 1, 1>(tiles, acts, sums);
        }
    }

    /// Halves `FIRST..FIRST + H` of a column of tiles against `R` activation rows, one
    /// sub-block at a time. A sub-block's eight `vpmaddubsw` products of a nibble (at most 15)
    /// and an i8 (at most 127 in magnitude: the activations are scaled to ±127) add up to at
    /// most 16 * 15 * 127 = 30,480 per i16 lane, so the i16 sums cannot saturate.
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn halves<const R: usize, const H: usize, const FIRST: usize>(
        tiles: &[Tile],
        acts: &[Act],
        sums: &mut Sums,
    ) {
        let kb = tiles.len() * SUBS;
        let nibble = _mm256_set1_epi8(0x0F);
        let ones = _mm256_set1_epi16(1);
        let row0: [usize; H] = std::array::from_fn(|h| 8 * (FIRST + h));
        let mut acc = [[_mm256_setzero_ps(); H]; R];
        for (b, tile) in tiles.iter().enumerate() {
            let blocks: [&[Act]; R] = std::array::from_fn(|r| &acts[r * kb + b * SUBS..][..SUBS]);
            let f16s = |v: &[f16; ROWS], h: usize| {
                _mm256_cvtph_ps(_mm_loadu_si128(v.as_ptr().add(row0[h]).cast()))
            };
            let d: [__m256; H] = std::array::from_fn(|h| f16s(&tile.d, h));
            let dmin: [__m256; H] = std::array::from_fn(|h| f16s(&tile.dmin, h));
            for c in 0..SUBS / 2 {
                prefetch(tile, c, SUBS / 2);
                // `[row][nibble][half]`: sub-block `2c + nibble`'s products, summed per pair.
                let mut pairs = [[[_mm256_setzero_si256(); H]; 2]; R];
                for g in 0..8 {
                    let at = tile.qs.as_ptr().add((c * 8 + g) * ROWS * 4);
                    let w: [__m256i; H] =
                        std::array::from_fn(|h| _mm256_load_si256(at.add(4 * row0[h]).cast()));
                    let q = [
                        w.map(|w| _mm256_and_si256(w, nibble)),
                        w.map(|w| _mm256_and_si256(_mm256_srli_epi16::<4>(w), nibble)),
                    ];
                    for (pairs, a) in pairs.iter_mut().zip(blocks) {
                        for (n, pairs) in pairs.iter_mut().enumerate() {
                            let x = a[2 * c + n].qs.as_ptr().cast::<i32>().add(g);
                            let x = _mm256_set1_epi32(x.read_unaligned());
                            for (pairs, q) in pairs.iter_mut().zip(q[n]) {
                                *pairs = _mm256_add_epi16(*pairs, _mm256_maddubs_epi16(q, x));
                            }
                        }
                    }
                }
                for (n, h) in (0..2).flat_map(|n| (0..H).map(move |h| (n, h))) {
                    let j = 2 * c + n;
                    let widen = |v: &[u8; ROWS]| {
                        let bytes = _mm_loadl_epi64(v.as_ptr().add(row0[h]).cast());
                        _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes))
                    };
                    let scale = _mm256_mul_ps(widen(&tile.sc[j]), d[h]);
                    let min = _mm256_mul_ps(widen(&tile.m[j]), dmin[h]);
                    for ((acc, pairs), a) in acc.iter_mut().zip(pairs).zip(blocks) {
                        let a = &a[j];
                        let dot = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs[n][h], ones));
                        let s = _mm256_mul_ps(scale, _mm256_set1_ps(a.d));
                        acc[h] = _mm256_fmadd_ps(dot, s, acc[h]);
                        acc[h] = _mm256_fnmadd_ps(min, _mm256_set1_ps(a.s), acc[h]);
                    }
                }
            }
        }
        for (out, acc) in sums.iter_mut().zip(acc) {
            for (h, acc) in acc.iter().enumerate() {
                _mm256_storeu_ps(out.as_mut_ptr().add(row0[h]), *acc);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::GgmlDType;

    use super::Tile;
    use crate::testing;

    #[test]
    fn q4_k_matches_llama_cpp_and_candle() {
        testing::check_format::<Tile>(GgmlDType::Q4K, "q4_k");
    }

    #[test]
    fn q4_k_sums_do_not_saturate() {
        // d = dmin = 1.0, every 6-bit scale and minimum 63, every q 15.
        let block = [
            [0x00, 0x3C, 0x00, 0x3C].as_slice(),
            &[0xFF; 12],
            &[0xFF; 128],
        ]
        .concat();
        testing::simd_sums_do_not_saturate_at_the_extremes::<Tile>(&block);
    }
}
