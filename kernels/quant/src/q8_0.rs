//! Q8_0: 32 values per block, `x = d * q` with i8 `q` and f16 `d`.
//!
//! Weights and activations are both signed, and `vpmaddubsw` takes one unsigned side: the
//! kernel multiplies `|q|` by the activations carrying `q`'s sign (`vpsignb`), as llama.cpp
//! does.

use half::f16;

use crate::{Act, Format, Kernel, Sums, ROWS};

/// One 32-value block of 16 consecutive output rows: 544 bytes for 512 weights, 1.0625 bytes
/// per weight, exactly the 16 GGUF blocks it comes from.
#[repr(C, align(32))]
#[derive(Clone)]
pub(crate) struct Tile {
    /// `[group g (8)][row (16)][4 values]`: values `4g..4g + 4` of each row's block.
    qs: [i8; 8 * ROWS * 4],
    /// Each row's scale as f16 bits: as f32 the tile would take 576 bytes, more than the GGUF
    /// blocks, and decode reads every byte of it per token.
    d: [u16; ROWS],
}

impl Format for Tile {
    const VALUES: usize = 32;
    const BYTES: usize = 34;

    fn pack(rows: [&[u8]; ROWS]) -> Tile {
        let mut tile = Tile {
            qs: [0; 8 * ROWS * 4],
            d: [0; ROWS],
        };
        for (r, block) in rows.iter().enumerate() {
            tile.d[r] = u16::from_le_bytes([block[0], block[1]]);
            for g in 0..8 {
                let to = (g * ROWS + r) * 4;
                for (q, &byte) in tile.qs[to..to + 4].iter_mut().zip(&block[2 + 4 * g..]) {
                    *q = byte as i8;
                }
            }
        }
        tile
    }

    fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0f32; ROWS * 32];
        for r in 0..ROWS {
            let d = f16::from_bits(self.d[r]).to_f32();
            for g in 0..8 {
                for j in 0..4 {
                    out[r * 32 + 4 * g + j] = f32::from(self.qs[(g * ROWS + r) * 4 + j]) * d;
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
                for (r, o) in out.iter_mut().enumerate() {
                    let mut dot = 0i32;
                    for g in 0..8 {
                        for j in 0..4 {
                            let q = tile.qs[(g * ROWS + r) * 4 + j];
                            dot += i32::from(q) * i32::from(a.qs[4 * g + j]);
                        }
                    }
                    let d = f16::from_bits(tile.d[r]).to_f32();
                    *o += dot as f32 * (d * a.d);
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
    use crate::avx512::{dots, store};
    use crate::{prefetch, Act, Sums};

    /// One column of tiles against `R` activation rows: one 512-bit register per 16 rows.
    /// `vpdpbusd` multiplies unsigned bytes by signed ones, so the weights go in shifted by 128
    /// (`q ^ 0x80` is `q + 128` as a byte) and the dot starts at `-128 Σa`, from the block's
    /// exact half sums: the integer dot is the scalar reference's, bit for bit.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn pass<const R: usize>(tiles: &[Tile], acts: &[Act], sums: &mut Sums) {
        let kb = tiles.len();
        let shift = _mm512_set1_epi8(i8::MIN);
        let mut acc = [_mm512_setzero_ps(); R];
        for (b, tile) in tiles.iter().enumerate() {
            prefetch(tile, 0, 1);
            let d = _mm512_cvtph_ps(_mm256_load_si256(tile.d.as_ptr() as *const __m256i));
            let q: [__m512i; 8] = std::array::from_fn(|g| {
                let at = tile.qs.as_ptr().add(64 * g) as *const __m512i;
                _mm512_xor_si512(_mm512_loadu_si512(at), shift)
            });
            for (r, acc) in acc.iter_mut().enumerate() {
                let a = &acts[r * kb + b];
                let dot = dots(&q, a, -128 * (i32::from(a.h[0]) + i32::from(a.h[1])));
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
    /// (one 256-bit register of i32 or f32 each). One `vpmaddubsw` pair of `|q|` (at most 128,
    /// for a stored -128) by activations (at most 127 in magnitude, `quantize` rounds to
    /// ±127) is at most 32,512 and cannot saturate; two such pairs added could, so each product
    /// goes to i32 (`vpmaddwd`) before it is summed.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn pass<const R: usize>(tiles: &[Tile], acts: &[Act], sums: &mut Sums) {
        let kb = tiles.len();
        let ones = _mm256_set1_epi16(1);
        let mut accs = [[_mm256_setzero_ps(); R]; 2];
        for (b, tile) in tiles.iter().enumerate() {
            prefetch(tile, 0, 1);
            for (half, acc) in accs.iter_mut().enumerate() {
                let d = _mm_load_si128(tile.d.as_ptr().add(8 * half) as *const __m128i);
                let d = _mm256_cvtph_ps(d);
                let mut dot = [_mm256_setzero_si256(); R];
                for g in 0..8 {
                    let at = tile.qs.as_ptr().add(64 * g + 32 * half);
                    let w = _mm256_load_si256(at as *const __m256i);
                    let magnitude = _mm256_abs_epi8(w);
                    for (r, dot) in dot.iter_mut().enumerate() {
                        let q = acts[r * kb + b].qs.as_ptr() as *const i32;
                        let a = _mm256_set1_epi32(q.add(g).read_unaligned());
                        let pairs = _mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(a, w));
                        *dot = _mm256_add_epi32(*dot, _mm256_madd_epi16(pairs, ones));
                    }
                }
                for (r, acc) in acc.iter_mut().enumerate() {
                    let scale = _mm256_mul_ps(d, _mm256_set1_ps(acts[r * kb + b].d));
                    *acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[r]), scale, *acc);
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
    fn q8_0_matches_llama_cpp_and_candle() {
        testing::check_format::<Tile>(GgmlDType::Q8_0, "q8_0");
    }

    #[test]
    fn q8_0_sums_do_not_saturate() {
        // Every q -128 (d = 1.0): one vpmaddubsw pair of 128 by 127 in each i16 lane.
        let block = [[0x00, 0x3C].as_slice(), &[0x80; 32]].concat();
        testing::simd_sums_do_not_saturate_at_the_extremes::<Tile>(&block);
    }
}
