//! Q4_1: 32 values per block, `x = d * q + m` with 4-bit `q` and f16 `d`, `m`.
//!
//! candle 0.11 has no SIMD kernel for Q4_1: its generic block dot product took 85% of the
//! prompt time, one activation row at a time. A tile holds one block of 16 rows, so one
//! `vpdpbusd` multiplies four values of 16 rows at once.

use half::f16;

use crate::{Act, Format, Kernel, Sums, ROWS};

/// One 32-value block of 16 consecutive output rows: 320 bytes, exactly the 16 GGUF blocks'
/// 20 bytes each, so decode reads as many bytes as llama.cpp does.
#[repr(C, align(64))]
#[derive(Clone)]
pub(crate) struct Tile {
    /// `[group g (4)][row (16)][4 bytes]`: bytes `4g..4g + 4` of each row's block. A byte holds
    /// value `j` of the block in its low nibble and value `j + 16` in its high nibble.
    qs: [u8; 4 * ROWS * 4],
    /// Each row's scale.
    d: [f16; ROWS],
    /// Each row's minimum.
    m: [f16; ROWS],
}

const _: () = assert!(std::mem::size_of::<Tile>() == ROWS * 20);

impl Format for Tile {
    const VALUES: usize = 32;
    const BYTES: usize = 20;

    fn pack(rows: [&[u8]; ROWS]) -> Tile {
        let mut tile = Tile {
            qs: [0; 4 * ROWS * 4],
            d: [f16::ZERO; ROWS],
            m: [f16::ZERO; ROWS],
        };
        for (r, block) in rows.iter().enumerate() {
            tile.d[r] = f16::from_le_bytes([block[0], block[1]]);
            tile.m[r] = f16::from_le_bytes([block[2], block[3]]);
            for g in 0..4 {
                let to = (g * ROWS + r) * 4;
                tile.qs[to..to + 4].copy_from_slice(&block[4 + 4 * g..8 + 4 * g]);
            }
        }
        tile
    }

    fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0f32; ROWS * 32];
        for r in 0..ROWS {
            let (d, m) = (self.d[r].to_f32(), self.m[r].to_f32());
            for g in 0..4 {
                for j in 0..4 {
                    let byte = self.qs[(g * ROWS + r) * 4 + j];
                    out[r * 32 + 4 * g + j] = d * f32::from(byte & 0x0F) + m;
                    out[r * 32 + 16 + 4 * g + j] = d * f32::from(byte >> 4) + m;
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
                    for g in 0..4 {
                        for j in 0..4 {
                            let byte = tile.qs[(g * ROWS + r) * 4 + j];
                            dot += i32::from(byte & 0x0F) * i32::from(a.qs[4 * g + j]);
                            dot += i32::from(byte >> 4) * i32::from(a.qs[16 + 4 * g + j]);
                        }
                    }
                    let (d, m) = (tile.d[r].to_f32(), tile.m[r].to_f32());
                    *o += dot as f32 * (d * a.d) + m * a.s;
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
    use crate::{Act, Sums};

    /// One column of tiles against `R` activation rows: one 512-bit register per 16 rows.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn pass<const R: usize>(tiles: &[Tile], acts: &[Act], sums: &mut Sums) {
        let kb = tiles.len();
        let mut acc = [_mm512_setzero_ps(); R];
        for (b, tile) in tiles.iter().enumerate() {
            let d = _mm512_cvtph_ps(_mm256_load_si256(tile.d.as_ptr() as *const __m256i));
            let m = _mm512_cvtph_ps(_mm256_load_si256(tile.m.as_ptr() as *const __m256i));
            let q = nibbles(tile.qs.as_ptr());
            for (r, acc) in acc.iter_mut().enumerate() {
                let a = &acts[r * kb + b];
                let scale = _mm512_mul_ps(d, _mm512_set1_ps(a.d));
                *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dots(&q, a, 0)), scale, *acc);
                *acc = _mm512_fmadd_ps(m, _mm512_set1_ps(a.s), *acc);
            }
        }
        store(&acc, sums);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use half::f16;

    use super::Tile;
    use crate::{prefetch, Act, Sums, ROWS};

    /// One column of tiles against `R` activation rows, each tile as two halves of 8 rows (one
    /// 256-bit register of i32 or f32 each). For one or two rows both halves go together, so
    /// the column streams through once; for more, the accumulators of both halves would not
    /// fit in 16 registers, so the halves take turns.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn pass<const R: usize>(tiles: &[Tile], acts: &[Act], sums: &mut Sums) {
        if R <= 2 {
            halves::<R, 2, 0>(tiles, acts, sums);
        } else {
            halves::<R, 1, 0>(tiles, acts, sums);
            halves::<R, 1, 1>(tiles, acts, sums);
        }
    }

    /// Halves `FIRST..FIRST + H` of a column of tiles against `R` activation rows. Eight
    /// `vpmaddubsw` products of a nibble (at most 15) and an i8 (at most 127 in magnitude)
    /// add up to at most 30,480 per i16 lane, so the i16 sums cannot saturate.
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn halves<const R: usize, const H: usize, const FIRST: usize>(
        tiles: &[Tile],
        acts: &[Act],
        sums: &mut Sums,
    ) {
        let kb = tiles.len();
        let nibble = _mm256_set1_epi8(0x0F);
        let ones = _mm256_set1_epi16(1);
        let mut accs = [[_mm256_setzero_ps(); R]; H];
        for (b, tile) in tiles.iter().enumerate() {
            prefetch(tile, 0, 1);
            for (h, acc) in accs.iter_mut().enumerate() {
                let half = FIRST + h;
                let f16s = |v: &[f16; ROWS]| {
                    _mm256_cvtph_ps(_mm_load_si128(v.as_ptr().add(8 * half) as *const __m128i))
                };
                let (d, m) = (f16s(&tile.d), f16s(&tile.m));
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
                    let dot = _mm256_madd_epi16(pairs, ones);
                    let scale = _mm256_mul_ps(d, _mm256_set1_ps(a.d));
                    *acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, *acc);
                    *acc = _mm256_fmadd_ps(m, _mm256_set1_ps(a.s), *acc);
                }
            }
        }
        for (h, acc) in accs.iter().enumerate() {
            for (r, acc) in acc.iter().enumerate() {
                _mm256_storeu_ps(sums[r].as_mut_ptr().add(8 * (FIRST + h)), *acc);
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
    fn q4_1_matches_llama_cpp_and_candle() {
        testing::check_format::<Tile>(GgmlDType::Q4_1, "q4_1");
    }
}
