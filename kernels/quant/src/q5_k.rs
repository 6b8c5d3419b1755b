//! Q5_K: Q4_K with a fifth bit to each value, `x = d * sc_j * q - dmin * m_j` with 5-bit `q`
//! (a nibble plus one bit from a plane of 32 bytes a row), 6-bit sub-block scales `sc_j` and
//! minimums `m_j`, and f16 `d`, `dmin`.
//!
//! The tile and the pass are Q4_K's, with the fifth bits regrouped beside the nibbles and
//! ORed in as bit 4 before the products: `Σ_j (d * sc_j) * d_a * (q · q_a) - (dmin * m_j) *
//! s_a`, where `s_a = d_a * Σ q_a` carries the minimum as in Q4_1.
//!
//! Merged again on every pass of four activation rows, the fifth bits made a prompt's products
//! take 1.07 to 1.44 times Q4_K's time per weight (2 threads, 64 and 512 rows, a 1B llama's
//! four projection shapes). A prompt (more than four rows) runs in spans instead: each tile
//! is unpacked once, a byte per value with its scales as f32, and that copy (5 KiB, in L1)
//! serves up to 64 rows. That takes 15% to 19% off, to 0.90 to 1.19 times Q4_K's time per
//! weight, less than Q4_K's per byte of tiles (Q5_K's are 22% larger).

use half::f16;

use crate::q4_k::scale_min;
use crate::{Act, Format, Kernel, Sums, ROWS};

/// Sub-blocks of 32 values in a super-block (one activation block each).
const SUBS: usize = 8;

/// One 256-value super-block of 16 consecutive output rows: 180 bytes a row against GGUF's
/// 176 (the 6-bit scales and minimums take a byte each here, so the kernel reads them with
/// one widening load instead of unpacking bits).
#[repr(C, align(32))]
#[derive(Clone)]
pub(crate) struct Tile {
    /// `[chunk c (4)][group g (8)][row (16)][4 bytes]`: bytes `32c + 4g..32c + 4g + 4` of each
    /// row's nibbles. A byte holds value `4g + i` of sub-block `2c` in its low nibble and of
    /// sub-block `2c + 1` in its high nibble, so one 256-bit load is 8 rows' 4-byte group.
    qs: [u8; 128 * ROWS],
    /// `[group g (8)][row (16)][4 bytes]`: the fifth bits of values `4g..4g + 4` of every
    /// sub-block, a byte per value: bit `4 + c` for sub-block `2c`, bit `c` for sub-block
    /// `2c + 1`. Shifted right by `c`, bit 4 is the low nibble's fifth bit and bit 0 the high
    /// nibble's, in every byte of a 16-bit lane alike.
    qh: [u8; 32 * ROWS],
    /// `[sub-block][row]`: each row's 6-bit scale of each sub-block.
    sc: [[u8; ROWS]; SUBS],
    /// `[sub-block][row]`: each row's 6-bit minimum of each sub-block.
    m: [[u8; ROWS]; SUBS],
    /// Each row's super-block scale.
    d: [f16; ROWS],
    /// Each row's super-block scale of the minimums.
    dmin: [f16; ROWS],
}

impl Tile {
    /// The 5-bit value `l` of sub-block `j` in row `r`.
    fn q(&self, r: usize, j: usize, l: usize) -> u8 {
        let byte = self.qs[((j / 2 * 8 + l / 4) * ROWS + r) * 4 + l % 4];
        let high = self.qh[(l / 4 * ROWS + r) * 4 + l % 4];
        if j.is_multiple_of(2) {
            (byte & 0x0F) | ((high >> (4 + j / 2)) & 1) << 4
        } else {
            (byte >> 4) | ((high >> (j / 2)) & 1) << 4
        }
    }
}

impl Format for Tile {
    const VALUES: usize = 256;
    const BYTES: usize = 176;

    fn pack(rows: [&[u8]; ROWS]) -> Tile {
        let mut tile = Tile {
            qs: [0; 128 * ROWS],
            qh: [0; 32 * ROWS],
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
                tile.qs[to..to + 4].copy_from_slice(&block[48 + 4 * cg..52 + 4 * cg]);
            }
            // GGUF keeps value `l`'s fifth bit of sub-block `j` in bit `j` of byte `16 + l`.
            for l in 0..32 {
                let bits = block[16 + l];
                let byte = &mut tile.qh[(l / 4 * ROWS + r) * 4 + l % 4];
                for c in 0..4 {
                    *byte |= ((bits >> (2 * c)) & 1) << (4 + c) | ((bits >> (2 * c + 1)) & 1) << c;
                }
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

    /// 16 passes, 64 rows, per unpacked tile: unpacking's share of the work halves with each
    /// doubling. At 256 rows 16 passes took a quarter to a third less time than 1 (which is
    /// no faster than the packed pass); 32 was within 6% of 16.
    const SPAN: usize = 16;

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
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { avx2::span(tiles, acts, rows, sums) },
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

    /// One column of tiles against `R` activation rows: one 512-bit register per 16 rows, each
    /// sub-block's 5-bit values made in registers from the tile's nibbles and fifth bits. A
    /// sub-block's dot is at most 32 x 31 x 127 = 125,984 in magnitude per i32 lane.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn pass<const R: usize>(tiles: &[Tile], acts: &[Act], sums: &mut Sums) {
        let kb = tiles.len() * SUBS;
        let mut acc = [_mm512_setzero_ps(); R];
        for (b, tile) in tiles.iter().enumerate() {
            let blocks: [&[Act]; R] = std::array::from_fn(|r| &acts[r * kb + b * SUBS..][..SUBS]);
            let (d, dmin) = (f16s(&tile.d), f16s(&tile.dmin));
            for j in 0..SUBS {
                if j.is_multiple_of(2) {
                    prefetch(tile, j / 2, SUBS / 2);
                }
                let scale = _mm512_mul_ps(widen(&tile.sc[j]), d);
                let min = _mm512_mul_ps(widen(&tile.m[j]), dmin);
                let blocks = blocks.map(|a| &a[j]);
                sub_block::<R>(&values(tile, j), scale, min, blocks, &mut acc);
            }
        }
        store(&acc, sums);
    }

    /// A column of tiles against `rows` activation rows, in passes of up to four: each tile is
    /// unpacked once (each 5-bit value in a byte of its own) and met by every pass before the
    /// next. `sums[p]` takes pass `p`'s sums.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn span(tiles: &[Tile], acts: &[Act], rows: usize, sums: &mut [Sums]) {
        let kb = tiles.len() * SUBS;
        let mut unpacked = Unpacked::new();
        for (b, tile) in tiles.iter().enumerate() {
            let (d, dmin) = (f16s(&tile.d), f16s(&tile.dmin));
            for j in 0..SUBS {
                if j.is_multiple_of(2) {
                    prefetch(tile, j / 2, SUBS / 2);
                }
                unpacked.q[j] = values(tile, j);
                unpacked.scale[j] = _mm512_mul_ps(widen(&tile.sc[j]), d);
                unpacked.min[j] = _mm512_mul_ps(widen(&tile.m[j]), dmin);
            }
            unpacked.passes(b, acts, kb, rows, sums);
        }
    }

    /// Sub-block `j`'s 5-bit values, 16 rows by 4 in each of its eight groups: chunk `j / 2`'s
    /// nibbles (low for even `j`, high for odd) with the fifth bits, which sit at bit 4 of the
    /// plane's bytes shifted right by the chunk for even `j` and at bit 0 for odd.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn values(tile: &Tile, j: usize) -> [__m512i; 8] {
        let (c, odd) = (j / 2, !j.is_multiple_of(2));
        let nibble = _mm512_set1_epi8(0x0F);
        let fifth = _mm512_set1_epi8(0x10);
        let shift = _mm_cvtsi32_si128(c as i32);
        std::array::from_fn(|g| {
            let w = tile.qs.as_ptr().add((c * 8 + g) * ROWS * 4);
            let w = _mm512_loadu_si512(w.cast());
            let high = tile.qh.as_ptr().add(g * ROWS * 4);
            let high = _mm512_srl_epi16(_mm512_loadu_si512(high.cast()), shift);
            let (w, high) = if odd {
                (_mm512_srli_epi16::<4>(w), _mm512_slli_epi16::<4>(high))
            } else {
                (w, high)
            };
            _mm512_or_si512(_mm512_and_si512(w, nibble), _mm512_and_si512(high, fifth))
        })
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use half::f16;

    use super::{Tile, SUBS};
    use crate::{prefetch, Act, Sums, ROWS};

    /// Rows one 256-bit register holds, four values (one `i32` lane) each.
    const HALF: usize = ROWS / 2;

    /// One column of tiles against `R` activation rows, each tile as two halves of 8 rows (one
    /// 256-bit register of i32 or f32 each) taking turns. Unlike Q4_K, even one activation row
    /// runs faster a half at a time: with the fifth bits and the i32 sums, both halves at once
    /// spill registers.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn pass<const R: usize>(tiles: &[Tile], acts: &[Act], sums: &mut Sums) {
        halves::<R, 1, 0>(tiles, acts, sums);
        halves::<R, 1, 1>(tiles, acts, sums);
    }

    /// The 5-bit values of chunk `c` (its two sub-blocks) in one group of 8 rows: `w` the
    /// group's nibbles, `high` its fifth bits, `shift` holding `c`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn values(w: __m256i, high: __m256i, shift: __m128i) -> [__m256i; 2] {
        let nibble = _mm256_set1_epi8(0x0F);
        let fifth = _mm256_set1_epi8(0x10);
        let high = _mm256_srl_epi16(high, shift);
        [
            _mm256_or_si256(_mm256_and_si256(w, nibble), _mm256_and_si256(high, fifth)),
            _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16::<4>(w), nibble),
                _mm256_and_si256(_mm256_slli_epi16::<4>(high), fifth),
            ),
        ]
    }

    /// Halves `FIRST..FIRST + H` of a column of tiles against `R` activation rows, two
    /// sub-blocks (the nibbles of one chunk) at a time. One `vpmaddubsw` product of a 5-bit
    /// value (at most 31) and an i8 (at most 127 in magnitude: the activations are scaled to
    /// ±127) is at most 2 * 31 * 127 = 7,874 per i16 lane, so four of them add up to at most
    /// 31,496 and cannot saturate; eight could, so the i16 sums are widened to i32 every four
    /// groups.
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn halves<const R: usize, const H: usize, const FIRST: usize>(
        tiles: &[Tile],
        acts: &[Act],
        sums: &mut Sums,
    ) {
        let kb = tiles.len() * SUBS;
        let ones = _mm256_set1_epi16(1);
        let row0: [usize; H] = std::array::from_fn(|h| HALF * (FIRST + h));
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
                let shift = _mm_cvtsi32_si128(c as i32);
                // `[row][nibble][half]`: sub-block `2c + nibble`'s dot products.
                let mut dots = [[[_mm256_setzero_si256(); H]; 2]; R];
                for quad in 0..2 {
                    let mut pairs = [[[_mm256_setzero_si256(); H]; 2]; R];
                    for g in 4 * quad..4 * quad + 4 {
                        let at = tile.qs.as_ptr().add((c * 8 + g) * ROWS * 4);
                        let high = tile.qh.as_ptr().add(g * ROWS * 4);
                        let mut q = [[_mm256_setzero_si256(); H]; 2];
                        for h in 0..H {
                            let w = _mm256_load_si256(at.add(4 * row0[h]).cast());
                            let b = _mm256_load_si256(high.add(4 * row0[h]).cast());
                            [q[0][h], q[1][h]] = values(w, b, shift);
                        }
                        for (pairs, a) in pairs.iter_mut().zip(blocks) {
                            for (n, pairs) in pairs.iter_mut().enumerate() {
                                let x = a[2 * c + n].qs.as_ptr().cast::<i32>().add(g);
                                let x = _mm256_set1_epi32(x.read_unaligned());
                                for (pairs, q) in pairs.iter_mut().zip(q[n]) {
                                    let p = _mm256_maddubs_epi16(q, x);
                                    *pairs = _mm256_add_epi16(*pairs, p);
                                }
                            }
                        }
                    }
                    for (dots, pairs) in
                        dots.as_flattened_mut().iter_mut().zip(pairs.as_flattened())
                    {
                        for (dot, pairs) in dots.iter_mut().zip(pairs) {
                            *dot = _mm256_add_epi32(*dot, _mm256_madd_epi16(*pairs, ones));
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
                    for ((acc, dots), a) in acc.iter_mut().zip(dots).zip(blocks) {
                        let a = &a[j];
                        let dot = _mm256_cvtepi32_ps(dots[n][h]);
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

    /// One tile unpacked for the passes of a span: each 5-bit value in a byte of its own, and
    /// the sub-block scales and minimums as f32 with the super-block scales applied. 5 KiB, so
    /// it stays in L1 while every pass of the span reads it.
    #[repr(C, align(32))]
    struct Unpacked {
        /// `[half (2)][sub-block j (8)][group g (8)][row of the half (8)][4 values]`: values
        /// `4g..4g + 4` of sub-block `j`, so one 256-bit load is 8 rows' group as in the tile.
        q: [u8; 2 * SUBS * 8 * HALF * 4],
        /// `[half][sub-block][row of the half]`: `d * sc_j`.
        scale: [[[f32; HALF]; SUBS]; 2],
        /// `[half][sub-block][row of the half]`: `dmin * m_j`.
        min: [[[f32; HALF]; SUBS]; 2],
    }

    impl Unpacked {
        /// Sub-block `j`'s group `g` of half `h`.
        #[inline]
        #[target_feature(enable = "avx2,fma,f16c")]
        unsafe fn group(&self, h: usize, j: usize, g: usize) -> __m256i {
            _mm256_load_si256(self.q.as_ptr().add(((h * SUBS + j) * 8 + g) * 32).cast())
        }

        /// Rewrites `self` as `tile`, unpacked.
        #[target_feature(enable = "avx2,fma,f16c")]
        unsafe fn unpack(&mut self, tile: &Tile) {
            for c in 0..SUBS / 2 {
                prefetch(tile, c, SUBS / 2);
                let shift = _mm_cvtsi32_si128(c as i32);
                for (g, h) in (0..8).flat_map(|g| (0..2).map(move |h| (g, h))) {
                    let w = tile.qs.as_ptr().add(((c * 8 + g) * ROWS + HALF * h) * 4);
                    let high = tile.qh.as_ptr().add((g * ROWS + HALF * h) * 4);
                    let q = values(
                        _mm256_load_si256(w.cast()),
                        _mm256_load_si256(high.cast()),
                        shift,
                    );
                    for (n, q) in q.into_iter().enumerate() {
                        let to = self
                            .q
                            .as_mut_ptr()
                            .add(((h * SUBS + 2 * c + n) * 8 + g) * 32);
                        _mm256_store_si256(to.cast(), q);
                    }
                }
            }
            for h in 0..2 {
                let f16s = |v: &[f16; ROWS]| {
                    _mm256_cvtph_ps(_mm_loadu_si128(v.as_ptr().add(HALF * h).cast()))
                };
                let widen = |v: &[u8; ROWS]| {
                    let bytes = _mm_loadl_epi64(v.as_ptr().add(HALF * h).cast());
                    _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes))
                };
                let (d, dmin) = (f16s(&tile.d), f16s(&tile.dmin));
                for j in 0..SUBS {
                    let scale = _mm256_mul_ps(widen(&tile.sc[j]), d);
                    let min = _mm256_mul_ps(widen(&tile.m[j]), dmin);
                    _mm256_storeu_ps(self.scale[h][j].as_mut_ptr(), scale);
                    _mm256_storeu_ps(self.min[h][j].as_mut_ptr(), min);
                }
            }
        }
    }

    /// A column of tiles against `rows` activation rows: each tile is unpacked once and met by
    /// every row before the next, two rows at a time. `sums[p]` takes pass `p`'s sums.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn span(tiles: &[Tile], acts: &[Act], rows: usize, sums: &mut [Sums]) {
        let kb = tiles.len() * SUBS;
        let mut unpacked = Unpacked {
            q: [0; 2 * SUBS * 8 * HALF * 4],
            scale: [[[0.0; HALF]; SUBS]; 2],
            min: [[[0.0; HALF]; SUBS]; 2],
        };
        let (pairs, last) = sums.as_flattened_mut()[..rows].as_chunks_mut::<2>();
        for (b, tile) in tiles.iter().enumerate() {
            unpacked.unpack(tile);
            let acts = &acts[b * SUBS..];
            for (i, pair) in pairs.iter_mut().enumerate() {
                unpacked_rows(&unpacked, &acts[2 * i * kb..], kb, pair);
            }
            if let Some(last) = last.first_mut() {
                let acts = &acts[(rows - 1) * kb..];
                unpacked_rows(&unpacked, acts, kb, std::array::from_mut(last));
            }
        }
    }

    /// One unpacked tile against `R` (one or two) activation rows (`acts[r * kb..]` the tile's
    /// 8 blocks of row `r`), added to `sums`, a sub-block at a time, with the same widening to
    /// i32 every four groups as the pass on packed tiles. Both halves go together, so each
    /// broadcast activation group serves 16 rows; four rows a half at a time measured no
    /// faster.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn unpacked_rows<const R: usize>(
        tile: &Unpacked,
        acts: &[Act],
        kb: usize,
        sums: &mut [[f32; ROWS]; R],
    ) {
        let ones = _mm256_set1_epi16(1);
        let blocks: [&[Act]; R] = std::array::from_fn(|r| &acts[r * kb..][..SUBS]);
        let mut acc: [[__m256; 2]; R] = std::array::from_fn(|r| {
            std::array::from_fn(|h| _mm256_loadu_ps(sums[r].as_ptr().add(HALF * h)))
        });
        for j in 0..SUBS {
            let mut dot = [[_mm256_setzero_si256(); 2]; R];
            for quad in 0..2 {
                let mut pairs = [[_mm256_setzero_si256(); 2]; R];
                for g in 4 * quad..4 * quad + 4 {
                    let q = [tile.group(0, j, g), tile.group(1, j, g)];
                    for (pairs, a) in pairs.iter_mut().zip(blocks) {
                        let x = a[j].qs.as_ptr().cast::<i32>().add(g);
                        let x = _mm256_set1_epi32(x.read_unaligned());
                        for (pairs, q) in pairs.iter_mut().zip(q) {
                            *pairs = _mm256_add_epi16(*pairs, _mm256_maddubs_epi16(q, x));
                        }
                    }
                }
                for (dot, pairs) in dot.as_flattened_mut().iter_mut().zip(pairs.as_flattened()) {
                    *dot = _mm256_add_epi32(*dot, _mm256_madd_epi16(*pairs, ones));
                }
            }
            for h in 0..2 {
                let scale = _mm256_loadu_ps(tile.scale[h][j].as_ptr());
                let min = _mm256_loadu_ps(tile.min[h][j].as_ptr());
                for ((acc, dot), a) in acc.iter_mut().zip(dot).zip(blocks) {
                    let a = &a[j];
                    let s = _mm256_mul_ps(scale, _mm256_set1_ps(a.d));
                    acc[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[h]), s, acc[h]);
                    acc[h] = _mm256_fnmadd_ps(min, _mm256_set1_ps(a.s), acc[h]);
                }
            }
        }
        for (out, acc) in sums.iter_mut().zip(acc) {
            for (h, acc) in acc.into_iter().enumerate() {
                _mm256_storeu_ps(out.as_mut_ptr().add(HALF * h), acc);
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
    fn q5_k_matches_llama_cpp_and_candle() {
        testing::check_format::<Tile>(GgmlDType::Q5K, "q5_k");
    }

    #[test]
    fn q5_k_sums_do_not_saturate() {
        // d = dmin = 1.0, every 6-bit scale and minimum 63, every q 31.
        let block = [
            [0x00, 0x3C, 0x00, 0x3C].as_slice(),
            &[0xFF; 12],
            &[0xFF; 32],
            &[0xFF; 128],
        ]
        .concat();
        testing::simd_sums_do_not_saturate_at_the_extremes::<Tile>(&block);
    }
}
