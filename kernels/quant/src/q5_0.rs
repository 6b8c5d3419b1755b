//! Q5_0: 32 values per block, `x = d * (q - 16)` with 5-bit `q` (a nibble plus one bit of a
//! 32-bit `qh`) and f16 `d`.
//!
//! The kernel multiplies the unsigned `q` (0 to 31) by the activations and takes the offset
//! off afterwards in integers, `Σ(q - 16)·a = Σq·a - 16·Σa`, with `Σa` the activation block's
//! exact sum (`h`), so the result is llama.cpp's integer dot product to the bit.

use half::f16;

use crate::{Act, Format, Kernel, Sums, ROWS};

/// One 32-value block of 16 consecutive output rows: 352 bytes for 512 weights, 0.6875 bytes
/// per weight, exactly the 16 GGUF blocks it comes from.
#[repr(C, align(32))]
#[derive(Clone)]
pub(crate) struct Tile {
    /// `[group g (4)][row (16)][4 bytes]`: bytes `4g..4g + 4` of each row's nibbles. A byte
    /// holds the low 4 bits of value `j` of the block in its low nibble and of value `j + 16`
    /// in its high nibble.
    qs: [u8; 4 * ROWS * 4],
    /// `[row (16)][byte j (4)]`: the fifth bits regrouped so one shift and mask per group
    /// lines them up with that group's nibbles. Bit `g` of byte `j` is the fifth bit of value
    /// `4g + j`, bit `4 + g` that of value `16 + 4g + j`.
    qh: [u8; ROWS * 4],
    /// Each row's scale as f16 bits: as f32 the tile would take 384 bytes, more than the GGUF
    /// blocks, and decode reads every byte of it per token.
    d: [u16; ROWS],
}

impl Tile {
    /// Value `j` (0 to 31) of row `r`, as the unsigned 5-bit `q`.
    fn q(&self, r: usize, j: usize) -> u8 {
        let (g, i, high) = ((j % 16) / 4, j % 4, j >= 16);
        let byte = self.qs[(g * ROWS + r) * 4 + i];
        let nibble = if high { byte >> 4 } else { byte & 0x0F };
        let bit = (self.qh[r * 4 + i] >> (g + if high { 4 } else { 0 })) & 1;
        nibble | bit << 4
    }
}

impl Format for Tile {
    const VALUES: usize = 32;
    const BYTES: usize = 22;

    fn pack(rows: [&[u8]; ROWS]) -> Tile {
        let mut tile = Tile {
            qs: [0; 4 * ROWS * 4],
            qh: [0; ROWS * 4],
            d: [0; ROWS],
        };
        for (r, block) in rows.iter().enumerate() {
            tile.d[r] = u16::from_le_bytes([block[0], block[1]]);
            let qh = u32::from_le_bytes([block[2], block[3], block[4], block[5]]);
            for j in 0..4 {
                tile.qh[r * 4 + j] = (0..4)
                    .map(|g| {
                        let low = (qh >> (4 * g + j)) & 1;
                        let high = (qh >> (16 + 4 * g + j)) & 1;
                        (low << g | high << (4 + g)) as u8
                    })
                    .fold(0, |acc, bits| acc | bits);
            }
            for g in 0..4 {
                let to = (g * ROWS + r) * 4;
                tile.qs[to..to + 4].copy_from_slice(&block[6 + 4 * g..10 + 4 * g]);
            }
        }
        tile
    }

    fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0f32; ROWS * 32];
        for r in 0..ROWS {
            let d = f16::from_bits(self.d[r]).to_f32();
            for j in 0..32 {
                out[r * 32 + j] = f32::from(i16::from(self.q(r, j)) - 16) * d;
            }
        }
        out
    }

    fn scalar(tiles: &[Tile], acts: &[Act], rows: usize, sums: &mut Sums) {
        let kb = tiles.len();
        for (i, out) in sums[..rows].iter_mut().enumerate() {
            for (b, tile) in tiles.iter().enumerate() {
                let a = &acts[i * kb + b];
                let offset = 16 * (i32::from(a.h[0]) + i32::from(a.h[1]));
                for (r, o) in out.iter_mut().enumerate() {
                    let mut dot = 0i32;
                    for g in 0..4 {
                        for j in 0..4 {
                            let byte = tile.qs[(g * ROWS + r) * 4 + j];
                            let bits = tile.qh[r * 4 + j];
                            let low = byte & 0x0F | ((bits >> g) & 1) << 4;
                            let high = byte >> 4 | ((bits >> (4 + g)) & 1) << 4;
                            dot += i32::from(low) * i32::from(a.qs[4 * g + j]);
                            dot += i32::from(high) * i32::from(a.qs[16 + 4 * g + j]);
                        }
                    }
                    let d = f16::from_bits(tile.d[r]).to_f32();
                    *o += (dot - offset) as f32 * (d * a.d);
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
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::Tile;
    use crate::avx512::{dots, nibbles, store};
    use crate::{prefetch, Act, Sums};

    /// One column of tiles against `R` activation rows: one 512-bit register per 16 rows. The
    /// 5-bit `q` are put together as in the AVX2 pass (the fifth bits shifted to bit 4 of the
    /// same byte), multiplied unsigned by `vpdpbusd`, and the dot starts at `-16 Σa` (the
    /// block's exact half sums), so it is the scalar reference's integer dot.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn pass<const R: usize>(tiles: &[Tile], acts: &[Act], sums: &mut Sums) {
        let kb = tiles.len();
        let fifth = _mm512_set1_epi8(0x10);
        let mut acc = [_mm512_setzero_ps(); R];
        for (b, tile) in tiles.iter().enumerate() {
            prefetch(tile, 0, 1);
            let d = _mm512_cvtph_ps(_mm256_load_si256(tile.d.as_ptr() as *const __m256i));
            let qh = _mm512_loadu_si512(tile.qh.as_ptr() as *const __m512i);
            // Bit g (values 4g..4g + 4) and bit 4 + g (values 16 + 4g..) of each byte at bit 4.
            let fifths = [
                _mm512_slli_epi16::<4>(qh),
                _mm512_slli_epi16::<3>(qh),
                _mm512_slli_epi16::<2>(qh),
                _mm512_slli_epi16::<1>(qh),
                qh,
                _mm512_srli_epi16::<1>(qh),
                _mm512_srli_epi16::<2>(qh),
                _mm512_srli_epi16::<3>(qh),
            ];
            let mut q = nibbles(tile.qs.as_ptr());
            for (q, high) in q.iter_mut().zip(fifths) {
                *q = _mm512_or_si512(*q, _mm512_and_si512(high, fifth));
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let a = &acts[r * kb + b];
                let dot = dots(&q, a, -16 * (i32::from(a.h[0]) + i32::from(a.h[1])));
                let scale = _mm512_mul_ps(d, _mm512_set1_ps(a.d));
                *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, *acc);
            }
        }
        store(&acc, sums);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::Tile;
    use crate::{prefetch, Act, Sums};

    /// One column of tiles against `R` activation rows, each tile as two halves of 8 rows
    /// (one 256-bit register of i32 or f32 each). A `vpmaddubsw` product pair of a 5-bit `q`
    /// (at most 31) and i8s (at most 127 in magnitude) is at most 7,874, so four of them add
    /// up to at most 31,496 per i16 lane and cannot saturate; the low and high values of the
    /// block are summed in separate i16 registers for that reason.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn pass<const R: usize>(tiles: &[Tile], acts: &[Act], sums: &mut Sums) {
        let kb = tiles.len();
        let nibble = _mm256_set1_epi8(0x0F);
        let fifth = _mm256_set1_epi8(0x10);
        let ones = _mm256_set1_epi16(1);
        let minus_16 = _mm256_set1_epi16(-16);
        let mut accs = [[_mm256_setzero_ps(); R]; 2];
        for (b, tile) in tiles.iter().enumerate() {
            prefetch(tile, 0, 1);
            for (half, acc) in accs.iter_mut().enumerate() {
                let d = _mm_load_si128(tile.d.as_ptr().add(8 * half) as *const __m128i);
                let d = _mm256_cvtph_ps(d);
                // Bit g (low values) and bit 4 + g (high values) of each byte of `qh` moved to
                // bit 4 for group g: a 16-bit shift by at most 4 fills each byte's bit 4 from
                // the same byte, so lanes do not mix.
                let qh = _mm256_load_si256(tile.qh.as_ptr().add(32 * half) as *const __m256i);
                let fifth_lo = [
                    _mm256_slli_epi16::<4>(qh),
                    _mm256_slli_epi16::<3>(qh),
                    _mm256_slli_epi16::<2>(qh),
                    _mm256_slli_epi16::<1>(qh),
                ];
                let fifth_hi = [
                    qh,
                    _mm256_srli_epi16::<1>(qh),
                    _mm256_srli_epi16::<2>(qh),
                    _mm256_srli_epi16::<3>(qh),
                ];
                let mut lo = [_mm256_setzero_si256(); 4];
                let mut hi = [_mm256_setzero_si256(); 4];
                for g in 0..4 {
                    let at = tile.qs.as_ptr().add(64 * g + 32 * half);
                    let w = _mm256_load_si256(at as *const __m256i);
                    lo[g] = _mm256_or_si256(
                        _mm256_and_si256(w, nibble),
                        _mm256_and_si256(fifth_lo[g], fifth),
                    );
                    hi[g] = _mm256_or_si256(
                        _mm256_and_si256(_mm256_srli_epi16::<4>(w), nibble),
                        _mm256_and_si256(fifth_hi[g], fifth),
                    );
                }
                for (r, acc) in acc.iter_mut().enumerate() {
                    let a = &acts[r * kb + b];
                    let q = a.qs.as_ptr() as *const i32;
                    let mut low_pairs = _mm256_setzero_si256();
                    let mut high_pairs = _mm256_setzero_si256();
                    for g in 0..4 {
                        let low = _mm256_set1_epi32(q.add(g).read_unaligned());
                        let high = _mm256_set1_epi32(q.add(4 + g).read_unaligned());
                        low_pairs = _mm256_add_epi16(low_pairs, _mm256_maddubs_epi16(lo[g], low));
                        high_pairs =
                            _mm256_add_epi16(high_pairs, _mm256_maddubs_epi16(hi[g], high));
                    }
                    let dot = _mm256_add_epi32(
                        _mm256_madd_epi16(low_pairs, ones),
                        _mm256_madd_epi16(high_pairs, ones),
                    );
                    let dot = _mm256_add_epi32(dot, _mm256_madd_epi16(a.half_sums(), minus_16));
                    let scale = _mm256_mul_ps(d, _mm256_set1_ps(a.d));
                    *acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, *acc);
                }
            }
        }
        for (half, acc) in accs.iter().enumerate() {
            for (r, acc) in acc.iter().enumerate() {
                _mm256_storeu_ps(sums[r].as_mut_ptr().add(8 * half), *acc);
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
    fn q5_0_matches_llama_cpp_and_candle() {
        testing::check_format::<Tile>(GgmlDType::Q5_0, "q5_0");
    }

    #[test]
    fn q5_0_sums_do_not_saturate() {
        // Every q 31 (d = 1.0): four vpmaddubsw pairs of 31 by 127 in each i16 lane.
        let block = [[0x00, 0x3C].as_slice(), &[0xFF; 4], &[0xFF; 16]].concat();
        testing::simd_sums_do_not_saturate_at_the_extremes::<Tile>(&block);
    }
}
