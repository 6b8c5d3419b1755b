//! Q4_0: 32 values per block, `x = d * (q - 8)` with 4-bit `q` and f16 `d`.
//!
//! The kernel multiplies the unsigned nibbles `q` by the activations and takes the offset off
//! afterwards in integers, `Σ(q - 8)·a = Σq·a - 8·Σa`, with `Σa` the activation block's exact
//! sum (`h`), so the result is llama.cpp's integer dot product to the bit.

use half::f16;

use crate::{Act, Format, Kernel, Sums, ROWS};

/// One 32-value block of 16 consecutive output rows: 288 bytes for 512 weights, 0.5625 bytes
/// per weight, exactly the 16 GGUF blocks it comes from.
#[repr(C, align(32))]
#[derive(Clone)]
pub(crate) struct Tile {
    /// `[group g (4)][row (16)][4 bytes]`: bytes `4g..4g + 4` of each row's block. A byte holds
    /// value `j` of the block in its low nibble and value `j + 16` in its high nibble.
    qs: [u8; 4 * ROWS * 4],
    /// Each row's scale as f16 bits: as f32 the tile would take 320 bytes, more than the GGUF
    /// blocks, and decode reads every byte of it per token.
    d: [u16; ROWS],
}

impl Format for Tile {
    const VALUES: usize = 32;
    const BYTES: usize = 18;

    fn pack(rows: [&[u8]; ROWS]) -> Tile {
        let mut tile = Tile {
            qs: [0; 4 * ROWS * 4],
            d: [0; ROWS],
        };
        for (r, block) in rows.iter().enumerate() {
            tile.d[r] = u16::from_le_bytes([block[0], block[1]]);
            for g in 0..4 {
                let to = (g * ROWS + r) * 4;
                tile.qs[to..to + 4].copy_from_slice(&block[2 + 4 * g..6 + 4 * g]);
            }
        }
        tile
    }

    fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0f32; ROWS * 32];
        for r in 0..ROWS {
            let d = f16::from_bits(self.d[r]).to_f32();
            for g in 0..4 {
                for j in 0..4 {
                    let byte = self.qs[(g * ROWS + r) * 4 + j];
                    out[r * 32 + 4 * g + j] = f32::from(i16::from(byte & 0x0F) - 8) * d;
                    out[r * 32 + 16 + 4 * g + j] = f32::from(i16::from(byte >> 4) - 8) * d;
                }
            }
        }
        out
    }

    fn scalar(tiles: &[Tile], acts: &[Act], rows: usize, sums: &mut Sums) {
        let kb = tiles.len();
        for (i, out) in sums[..rows].iter_mut().enumerate() {
            for (b, tile) in tiles.iter().enumerate() {
                let a = &acts[i * kb + b];
                let offset = 8 * (i32::from(a.h[0]) + i32::from(a.h[1]));
                for (r, o) in out.iter_mut().enumerate() {
                    let mut dot = 0i32;
                    for g in 0..4 {
                        for j in 0..4 {
                            let byte = tile.qs[(g * ROWS + r) * 4 + j];
                            dot += i32::from(byte & 0x0F) * i32::from(a.qs[4 * g + j]);
                            dot += i32::from(byte >> 4) * i32::from(a.qs[16 + 4 * g + j]);
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

    /// One column of tiles against `R` activation rows: one 512-bit register per 16 rows, the
    /// nibbles unsigned as `vpdpbusd` takes them and the dot started at `-8 Σa` (the block's
    /// exact half sums), so it is the scalar reference's integer dot.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn pass<const R: usize>(tiles: &[Tile], acts: &[Act], sums: &mut Sums) {
        let kb = tiles.len();
        let mut acc = [_mm512_setzero_ps(); R];
        for (b, tile) in tiles.iter().enumerate() {
            prefetch(tile, 0, 1);
            let d = _mm512_cvtph_ps(_mm256_load_si256(tile.d.as_ptr() as *const __m256i));
            let q = nibbles(tile.qs.as_ptr());
            for (r, acc) in acc.iter_mut().enumerate() {
                let a = &acts[r * kb + b];
                let dot = dots(&q, a, -8 * (i32::from(a.h[0]) + i32::from(a.h[1])));
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
    /// (one 256-bit register of i32 or f32 each). Eight `vpmaddubsw` products of a nibble (at
    /// most 15) and an i8 (at most 127 in magnitude) add up to at most 30,480 per i16 lane, so
    /// the i16 sums cannot saturate.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn pass<const R: usize>(tiles: &[Tile], acts: &[Act], sums: &mut Sums) {
        let kb = tiles.len();
        let nibble = _mm256_set1_epi8(0x0F);
        let ones = _mm256_set1_epi16(1);
        let minus_8 = _mm256_set1_epi16(-8);
        let mut accs = [[_mm256_setzero_ps(); R]; 2];
        for (b, tile) in tiles.iter().enumerate() {
            prefetch(tile, 0, 1);
            for (half, acc) in accs.iter_mut().enumerate() {
                let d = _mm_load_si128(tile.d.as_ptr().add(8 * half) as *const __m128i);
                let d = _mm256_cvtph_ps(d);
                let mut lo = [_mm256_setzero_si256(); 4];
                let mut hi = [_mm256_setzero_si256(); 4];
                for g in 0..4 {
                    let at = tile.qs.as_ptr().add(64 * g + 32 * half);
                    let w = _mm256_load_si256(at as *const __m256i);
                    lo[g] = _mm256_and_si256(w, nibble);
                    hi[g] = _mm256_and_si256(_mm256_srli_epi16::<4>(w), nibble);
                }
                for (r, acc) in acc.iter_mut().enumerate() {
                    let a = &acts[r * kb + b];
                    let q = a.qs.as_ptr() as *const i32;
                    let mut pairs = _mm256_setzero_si256();
                    for g in 0..4 {
                        let low = _mm256_set1_epi32(q.add(g).read_unaligned());
                        let high = _mm256_set1_epi32(q.add(4 + g).read_unaligned());
                        pairs = _mm256_add_epi16(pairs, _mm256_maddubs_epi16(lo[g], low));
                        pairs = _mm256_add_epi16(pairs, _mm256_maddubs_epi16(hi[g], high));
                    }
                    let dot = _mm256_add_epi32(
                        _mm256_madd_epi16(pairs, ones),
                        _mm256_madd_epi16(a.half_sums(), minus_8),
                    );
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
    fn q4_0_matches_llama_cpp_and_candle() {
        testing::check_format::<Tile>(GgmlDType::Q4_0, "q4_0");
    }

    #[test]
    fn q4_0_sums_do_not_saturate() {
        // Every nibble 15 (d = 1.0): eight vpmaddubsw pairs of 15 by 127 in each i16 lane.
        let block = [[0x00, 0x3C].as_slice(), &[0xFF; 16]].concat();
        testing::simd_sums_do_not_saturate_at_the_extremes::<Tile>(&block);
    }
}
