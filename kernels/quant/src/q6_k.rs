//! Q6_K: 256 values per super-block, `x = d * sc * (q - 32)` with 6-bit `q`, an i8 scale `sc`
//! per 16 values and an f16 `d` per super-block. A Q4_K_M file keeps its output, embedding
//! and some feed-forward tensors in Q6_K, so this kernel runs on every Q4_K_M model.
//!
//! The offset never meets a weight: `Σ sc (q - 32) a = sc (Σ q a - 32 Σ a)`, and `Act::h`
//! holds `Σ a` for each 16-value half of an activation block, so the products are of the
//! unsigned `q` alone and the whole sum per activation block stays an exact integer.
//!
//! The file stores a value as a nibble plus two bits elsewhere: 17 instructions to rebuild four
//! registers of 32 values. The tile keeps the same 6 bits per value as three byte planes
//! instead: plane `p` holds value `p` of a group of four in its low 6 bits and a third of value
//! 3 in its top 2, so three of four values are one `and` away (11 instructions for four).
//! A prompt (more than four rows) runs in spans: each tile's values are rebuilt once into a
//! 4 KiB copy in L1 that up to 64 rows then read, which takes 7% to 13% off rebuilding them
//! every pass (2 threads, 64 and 512 rows, a 1B llama's four projection shapes).

use half::f16;

use crate::{Act, Format, Kernel, Sums, ROWS};

/// Values per super-block, one row's part of a tile.
const VALUES: usize = 256;
/// Values per scale.
const SUB: usize = 16;
/// Rows one 256-bit register holds, four values (one `i32` lane) each.
const HALF: usize = ROWS / 2;
/// Bytes of one plane of one sub-block of one half: 8 rows x 4 values.
const PLANE: usize = HALF * 4;

/// One super-block of 16 consecutive output rows: 3,360 bytes, exactly the 16 GGUF blocks'
/// 210 bytes each (6.5625 bits per weight).
#[repr(C, align(32))]
#[derive(Clone)]
pub(crate) struct Tile {
    /// `[half (2)][sub-block j (16)][plane p (3)][row of the half (8)][value i (4)]`. With
    /// `v0..v3` values `16j + i`, `16j + 4 + i`, `16j + 8 + i`, `16j + 12 + i` of row
    /// `8 * half + row`, plane `p`'s byte is `v_p | (bits 2p..2p+2 of v3) << 6`.
    qs: [u8; 2 * (VALUES / SUB) * 3 * PLANE],
    /// `[half (2)][activation block b (8)][row of the half (8)][s (2)]`: the scale of values
    /// `32b + 16s..32b + 16s + 16`, so one 16-byte load holds what one activation block needs.
    scales: [i8; ROWS * VALUES / SUB],
    /// Each row's super-block scale, f16 bits as in the file.
    d: [u16; ROWS],
}

// The tile is no larger than the GGUF blocks it replaces: decode reads as many bytes as
// llama.cpp does.
const _: () = assert!(std::mem::size_of::<Tile>() == ROWS * 210);

impl Tile {
    /// Byte of plane `p` that holds value `v` (of group `(v % 16) / 4`) of row `r`.
    fn plane_at(r: usize, v: usize, p: usize) -> usize {
        let (half, row) = (r / HALF, r % HALF);
        ((half * (VALUES / SUB) + v / SUB) * 3 + p) * PLANE + row * 4 + v % 4
    }

    fn scale_at(r: usize, j: usize) -> usize {
        let (half, row) = (r / HALF, r % HALF);
        (half * (VALUES / 32) + j / 2) * 2 * HALF + row * 2 + j % 2
    }

    /// The 6-bit `q` of value `v` of row `r`.
    fn q(&self, r: usize, v: usize) -> u8 {
        match (v % SUB) / 4 {
            3 => (0..3).fold(0, |q, p| {
                q | (self.qs[Tile::plane_at(r, v, p)] >> 6) << (2 * p)
            }),
            g => self.qs[Tile::plane_at(r, v, g)] & 0x3F,
        }
    }

    fn scale(&self, r: usize, j: usize) -> i8 {
        self.scales[Tile::scale_at(r, j)]
    }

    fn row_d(&self, r: usize) -> f32 {
        f16::from_bits(self.d[r]).to_f32()
    }
}

/// The 256 `q` (0..63), 16 scales and `d` of one GGUF Q6_K block. Value `128h + 32c + l`
/// (`l` < 32) has its low nibble in `ql[64h + l + 32 * (c & 1)]` (low half of the byte for
/// `c` < 2, high half otherwise) and its top two bits at bit `2c` of `qh[32h + l]`.
fn unpack(block: &[u8]) -> ([u8; VALUES], [i8; VALUES / SUB], u16) {
    let (ql, qh) = (&block[..128], &block[128..192]);
    let q = std::array::from_fn(|v| {
        let (h, c, l) = (v / 128, (v % 128) / 32, v % 32);
        let byte = ql[64 * h + l + 32 * (c & 1)];
        let nibble = if c < 2 { byte & 0x0F } else { byte >> 4 };
        nibble | ((qh[32 * h + l] >> (2 * c)) & 3) << 4
    });
    let scales = std::array::from_fn(|j| block[192 + j] as i8);
    (q, scales, u16::from_le_bytes([block[208], block[209]]))
}

impl Format for Tile {
    const VALUES: usize = VALUES;
    const BYTES: usize = 210;

    fn pack(rows: [&[u8]; ROWS]) -> Tile {
        let mut tile = Tile {
            qs: [0; 2 * (VALUES / SUB) * 3 * PLANE],
            scales: [0; ROWS * VALUES / SUB],
            d: [0; ROWS],
        };
        for (r, block) in rows.iter().enumerate() {
            let (q, scales, d) = unpack(block);
            tile.d[r] = d;
            for (j, &sc) in scales.iter().enumerate() {
                tile.scales[Tile::scale_at(r, j)] = sc;
            }
            for (v, &value) in q.iter().enumerate() {
                let g = (v % SUB) / 4;
                if g < 3 {
                    tile.qs[Tile::plane_at(r, v, g)] |= value;
                } else {
                    for p in 0..3 {
                        tile.qs[Tile::plane_at(r, v, p)] |= ((value >> (2 * p)) & 3) << 6;
                    }
                }
            }
        }
        tile
    }

    fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0f32; ROWS * VALUES];
        for r in 0..ROWS {
            for v in 0..VALUES {
                let scale = self.row_d(r) * f32::from(self.scale(r, v / SUB));
                out[r * VALUES + v] = scale * f32::from(i16::from(self.q(r, v)) - 32);
            }
        }
        out
    }

    fn scalar(tiles: &[Tile], acts: &[Act], rows: usize, sums: &mut Sums) {
        let kb = tiles.len() * VALUES / 32;
        for (i, out) in sums[..rows].iter_mut().enumerate() {
            for (t, tile) in tiles.iter().enumerate() {
                for (r, o) in out.iter_mut().enumerate() {
                    let d = tile.row_d(r);
                    for b in 0..VALUES / 32 {
                        let a = &acts[i * kb + t * VALUES / 32 + b];
                        let mut sum = 0i32;
                        for s in 0..2 {
                            let j = 2 * b + s;
                            let dot: i32 = (0..SUB)
                                .map(|v| {
                                    i32::from(tile.q(r, SUB * j + v)) * i32::from(a.qs[SUB * s + v])
                                })
                                .sum();
                            let sc = i32::from(tile.scale(r, j));
                            sum += sc * dot - sc * 32 * i32::from(a.h[s]);
                        }
                        *o += sum as f32 * (d * a.d);
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

    /// As Q5_K's: 16 passes, 64 rows, per unpacked tile.
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

    use super::{Tile, HALF, PLANE, SUB, VALUES};
    use crate::avx512::store;
    use crate::{prefetch, Act, Sums, PASS};

    /// Sub-blocks of one scale in a tile.
    const SUBS: usize = VALUES / SUB;
    /// Activation blocks a tile meets.
    const BLOCKS: usize = VALUES / 32;

    /// One column of tiles against `R` activation rows: one 512-bit register per 16 rows, the
    /// tile's two halves of 8 rows side by side, its planes decoded in registers as the AVX2
    /// pass does.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn pass<const R: usize>(tiles: &[Tile], acts: &[Act], sums: &mut Sums) {
        let kb = tiles.len() * BLOCKS;
        // Each activation row as groups of the 8 blocks one tile meets.
        let rows: [&[[Act; BLOCKS]]; R] =
            std::array::from_fn(|r| acts[r * kb..(r + 1) * kb].as_chunks().0);
        let mut acc = [_mm512_setzero_ps(); R];
        for (t, tile) in tiles.iter().enumerate() {
            let values = |j: usize| {
                prefetch(tile, j, SUBS);
                decode(tile, j)
            };
            let scales = |b: usize| scales(tile, b);
            let blocks = std::array::from_fn(|r| &rows[r][t]);
            tile_rows::<R>(row_d(tile), values, scales, blocks, &mut acc);
        }
        store(&acc, sums);
    }

    /// One tile's values and scales as `pass` uses them, made once for the passes of a span:
    /// 5 KiB, in L1 while every pass reads it.
    #[repr(C)]
    struct Unpacked {
        /// Sub-block `j`'s four value groups, as `decode` makes them.
        q: [[__m512i; 4]; SUBS],
        /// Activation block `b`'s two scales, as `scales` makes them.
        sc: [[__m512i; 2]; BLOCKS],
    }

    /// A column of tiles against `rows` activation rows, in passes of up to four: each tile is
    /// decoded once and met by every pass before the next. `sums[p]` takes pass `p`'s sums.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn span(tiles: &[Tile], acts: &[Act], rows: usize, sums: &mut [Sums]) {
        let kb = tiles.len() * BLOCKS;
        let row = |i: usize| acts[i * kb..(i + 1) * kb].as_chunks::<BLOCKS>().0;
        let mut unpacked = Unpacked {
            q: [[_mm512_setzero_si512(); 4]; SUBS],
            sc: [[_mm512_setzero_si512(); 2]; BLOCKS],
        };
        for (t, tile) in tiles.iter().enumerate() {
            for (j, q) in unpacked.q.iter_mut().enumerate() {
                prefetch(tile, j, SUBS);
                *q = decode(tile, j);
            }
            for (b, sc) in unpacked.sc.iter_mut().enumerate() {
                *sc = scales(tile, b);
            }
            let d = row_d(tile);
            for (p, sums) in sums.iter_mut().enumerate() {
                let r0 = p * PASS;
                let blocks = |r: usize| &row(r0 + r)[t];
                match rows - r0 {
                    1 => tile_sums::<1>(d, &unpacked, std::array::from_fn(blocks), sums),
                    2 => tile_sums::<2>(d, &unpacked, std::array::from_fn(blocks), sums),
                    3 => tile_sums::<3>(d, &unpacked, std::array::from_fn(blocks), sums),
                    _ => tile_sums::<4>(d, &unpacked, std::array::from_fn(blocks), sums),
                }
            }
        }
    }

    /// `tile_rows` on an unpacked tile, its accumulators taken from `sums` and put back.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn tile_sums<const R: usize>(
        d: __m512,
        tile: &Unpacked,
        blocks: [&[Act; BLOCKS]; R],
        sums: &mut Sums,
    ) {
        let mut acc: [__m512; R] = std::array::from_fn(|r| _mm512_loadu_ps(sums[r].as_ptr()));
        tile_rows::<R>(d, |j| tile.q[j], |b| tile.sc[b], blocks, &mut acc);
        store(&acc, sums);
    }

    /// One tile against `R` activation rows (`blocks[r]` the row's 8 blocks the tile meets),
    /// added to `acc`: `values(j)` gives sub-block `j`'s four value groups, `scales(b)` the
    /// scales of activation block `b`'s two sub-blocks, and `d` the rows' super-block scales.
    ///
    /// `vpdpbusd` takes the unsigned `q` as they are, and each sub-block's dot starts at
    /// `-32 Σa` (`Act::h`), so it is `Σ (q - 32) a` exactly: at most 16 x 32 x 127 = 65,024 in
    /// magnitude, and 16 x 63 x 127 = 128,016 on the way (`vpdpbusd` does not saturate).
    /// Times a scale (at most 128 in magnitude) and two sub-blocks added, at most 16,646,144:
    /// the i32 sum per activation block is the scalar reference's, bit for bit.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn tile_rows<const R: usize>(
        d: __m512,
        values: impl Fn(usize) -> [__m512i; 4],
        scales: impl Fn(usize) -> [__m512i; 2],
        blocks: [&[Act; BLOCKS]; R],
        acc: &mut [__m512; R],
    ) {
        for b in 0..BLOCKS {
            let mut sum = [_mm512_setzero_si512(); R];
            for (s, sc) in scales(b).into_iter().enumerate() {
                let w = values(2 * b + s);
                for (sum, a) in sum.iter_mut().zip(blocks) {
                    let a = &a[b];
                    let x = a.qs.as_ptr().cast::<i32>().add(4 * s);
                    let mut dot = _mm512_set1_epi32(-32 * i32::from(a.h[s]));
                    for (g, w) in w.iter().enumerate() {
                        let x = _mm512_set1_epi32(x.add(g).read_unaligned());
                        dot = _mm512_dpbusd_epi32(dot, *w, x);
                    }
                    *sum = _mm512_add_epi32(*sum, _mm512_mullo_epi32(dot, sc));
                }
            }
            for ((acc, sum), a) in acc.iter_mut().zip(sum).zip(blocks) {
                let scale = _mm512_mul_ps(d, _mm512_set1_ps(a[b].d));
                *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), scale, *acc);
            }
        }
    }

    /// Each row's super-block scale, row `r` in lane `r`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn row_d(tile: &Tile) -> __m512 {
        _mm512_cvtph_ps(_mm256_loadu_si256(tile.d.as_ptr().cast()))
    }

    /// The four value groups of sub-block `j`, 16 rows (half 0's in the low 256 bits) by 4
    /// values each, from the tile's three planes.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn decode(tile: &Tile, j: usize) -> [__m512i; 4] {
        let plane = |p: usize| {
            let at = |half: usize| {
                let at = tile.qs.as_ptr().add(((half * SUBS + j) * 3 + p) * PLANE);
                _mm256_loadu_si256(at.cast())
            };
            _mm512_inserti64x4::<1>(_mm512_castsi256_si512(at(0)), at(1))
        };
        let [p0, p1, p2] = [plane(0), plane(1), plane(2)];
        let low6 = _mm512_set1_epi8(0x3F);
        let top2 = _mm512_set1_epi8(0xC0u8 as i8);
        // 16-bit shifts of bytes masked to their top two bits move nothing across bytes.
        let v3 = _mm512_or_si512(
            _mm512_or_si512(
                _mm512_srli_epi16::<6>(_mm512_and_si512(p0, top2)),
                _mm512_srli_epi16::<4>(_mm512_and_si512(p1, top2)),
            ),
            _mm512_srli_epi16::<2>(_mm512_and_si512(p2, top2)),
        );
        [
            _mm512_and_si512(p0, low6),
            _mm512_and_si512(p1, low6),
            _mm512_and_si512(p2, low6),
            v3,
        ]
    }

    /// Activation block `b`'s two scales (sub-blocks `2b` and `2b + 1`), row `r`'s in lane `r`
    /// of each register as i32.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn scales(tile: &Tile, b: usize) -> [__m512i; 2] {
        let at = |half: usize| {
            let at = tile.scales.as_ptr().add((half * BLOCKS + b) * 2 * HALF);
            _mm_loadu_si128(at.cast())
        };
        // Row `r`'s two scales in the low and high i16 of i32 lane `r`.
        let pairs = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(at(0)), at(1));
        let pairs = _mm512_cvtepi8_epi16(pairs);
        [
            _mm512_srai_epi32::<16>(_mm512_slli_epi32::<16>(pairs)),
            _mm512_srai_epi32::<16>(pairs),
        ]
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{Tile, HALF, PLANE, SUB, VALUES};
    use crate::{prefetch, Act, Sums, PASS};

    /// `vpshufb` control spreading the 16 scale bytes of an activation block (row `r`'s two
    /// at `2r`, `2r + 1`) over 8 `i32` lanes, one per row: byte `2r + first` to the high byte of
    /// the lane's low `i16`, byte `2r + second` to that of its high `i16`, zeros below them.
    const fn spread(first: u8, second: u8) -> [u8; 32] {
        let mut control = [0x80; 32];
        let mut r = 0;
        while r < HALF {
            control[4 * r + 1] = 2 * r as u8 + first;
            control[4 * r + 3] = 2 * r as u8 + second;
            r += 1;
        }
        control
    }

    const FIRST_SCALE: [u8; 32] = spread(0, 0);
    const SECOND_SCALE: [u8; 32] = spread(1, 1);
    const BOTH_SCALES: [u8; 32] = spread(0, 1);

    /// One column of tiles against `R` activation rows, each tile as two halves of 8 rows.
    /// For one or two rows both halves go together, so the column streams through once in
    /// file order; for more, the accumulators of both halves would not fit in 16 registers,
    /// so the halves take turns.
    ///
    /// Saturation: a `vpmaddubsw` lane adds two products of a `q` (at most 63) and an
    /// activation (at most 127 in magnitude), at most 16,002, and two such registers are
    /// added in i16 before `vpmaddwd` widens them: at most 32,004 < 32,767. Past that the
    /// sums are i32: per activation block at most 4 x 2 x 32,004 x 128 for the products and
    /// 32 x 128 x 2 x 2,032 for the offset, far below 2^31.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn pass<const R: usize>(tiles: &[Tile], acts: &[Act], sums: &mut Sums) {
        if R <= 2 {
            halves::<R, 2, 0>(tiles, acts, sums);
        } else {
            halves::<R, 1, 0>(tiles, acts, sums);
            halves::<R, 1, 1>(tiles, acts, sums);
        }
    }

    /// Halves `FIRST..FIRST + H` of a column of tiles against `R` activation rows.
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn halves<const R: usize, const H: usize, const FIRST: usize>(
        tiles: &[Tile],
        acts: &[Act],
        sums: &mut Sums,
    ) {
        let kb = tiles.len() * VALUES / 32;
        // Each activation row as groups of the 8 blocks one tile meets.
        let rows: [&[[Act; VALUES / 32]]; R] =
            std::array::from_fn(|r| acts[r * kb..(r + 1) * kb].as_chunks().0);
        let mut acc = [[_mm256_setzero_ps(); H]; R];
        for (t, tile) in tiles.iter().enumerate() {
            let blocks: [&[Act; VALUES / 32]; R] = std::array::from_fn(|r| &rows[r][t]);
            tile_halves::<R, H, FIRST>(
                tile,
                |half, j| {
                    if j % 2 == 0 {
                        prefetch(tile, half * VALUES / 32 + j / 2, 2 * VALUES / 32);
                    }
                    decode(
                        tile.qs
                            .as_ptr()
                            .add((half * (VALUES / SUB) + j) * 3 * PLANE),
                    )
                },
                blocks,
                &mut acc,
            );
        }
        for (r, acc) in acc.iter().enumerate() {
            for (h, acc) in acc.iter().enumerate() {
                _mm256_storeu_ps(sums[r].as_mut_ptr().add(HALF * (FIRST + h)), *acc);
            }
        }
    }

    /// Halves `FIRST..FIRST + H` of one tile against `R` activation rows (`blocks[r]` the
    /// row's 8 blocks the tile meets), added to `acc`; `values(half, j)` gives the four
    /// registers of sub-block `j` of a half, as `decode` makes them.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn tile_halves<const R: usize, const H: usize, const FIRST: usize>(
        tile: &Tile,
        values: impl Fn(usize, usize) -> [__m256i; 4],
        blocks: [&[Act; VALUES / 32]; R],
        acc: &mut [[__m256; H]; R],
    ) {
        let first = _mm256_loadu_si256(FIRST_SCALE.as_ptr() as *const __m256i);
        let second = _mm256_loadu_si256(SECOND_SCALE.as_ptr() as *const __m256i);
        let both = _mm256_loadu_si256(BOTH_SCALES.as_ptr() as *const __m256i);
        for h in 0..H {
            let half = FIRST + h;
            let d = _mm_load_si128(tile.d.as_ptr().add(HALF * half) as *const __m128i);
            let d = _mm256_cvtph_ps(d);
            let scales = tile.scales.as_ptr().add(half * (VALUES / 32) * 2 * HALF);
            for b in 0..VALUES / 32 {
                let sc = _mm_loadu_si128(scales.add(b * 2 * HALF) as *const __m128i);
                let sc = _mm256_broadcastsi128_si256(sc);
                let mut sum = [_mm256_setzero_si256(); R];
                // One sub-block at a time: four decoded registers live rather than eight,
                // next to the accumulators of up to four activation rows.
                for (s, control) in [first, second].into_iter().enumerate() {
                    // Each row's scale in both i16 of its lane, for `vpmaddwd`.
                    let sc = _mm256_srai_epi16::<8>(_mm256_shuffle_epi8(sc, control));
                    let w = values(half, 2 * b + s);
                    for (sum, blocks) in sum.iter_mut().zip(&blocks) {
                        let q = (blocks[b].qs.as_ptr() as *const i32).add(4 * s);
                        *sum = _mm256_add_epi32(*sum, dot(&w, q, sc));
                    }
                }
                // Each row's two scales times 32 (a shift by 3 instead of 8), for the offset.
                let sc32 = _mm256_srai_epi16::<3>(_mm256_shuffle_epi8(sc, both));
                for ((acc, sum), blocks) in acc.iter_mut().zip(sum).zip(&blocks) {
                    let a = &blocks[b];
                    let sum = _mm256_sub_epi32(sum, _mm256_madd_epi16(sc32, a.half_sums()));
                    let scale = _mm256_mul_ps(d, _mm256_set1_ps(a.d));
                    acc[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), scale, acc[h]);
                }
            }
        }
    }

    /// One tile's `q`, a byte each, for the passes of a span: `[half (2)][sub-block (16)][group
    /// g (4)][row of the half (8)][4 values]`, the registers `decode` makes, so each pass loads
    /// them instead of making them again. 4 KiB: it stays in L1 while every pass reads it.
    #[repr(C, align(32))]
    struct Unpacked([u8; 2 * (VALUES / SUB) * 4 * PLANE]);

    impl Unpacked {
        /// Group `g` of sub-block `j` of half `h`.
        #[inline]
        #[target_feature(enable = "avx2,fma,f16c")]
        unsafe fn group(&self, h: usize, j: usize, g: usize) -> __m256i {
            _mm256_load_si256(
                self.0
                    .as_ptr()
                    .add(((h * (VALUES / SUB) + j) * 4 + g) * PLANE)
                    .cast(),
            )
        }

        /// Rewrites `self` as `tile`'s values.
        #[target_feature(enable = "avx2,fma,f16c")]
        unsafe fn unpack(&mut self, tile: &Tile) {
            for hj in 0..2 * (VALUES / SUB) {
                prefetch(tile, hj, 2 * (VALUES / SUB));
                let w = decode(tile.qs.as_ptr().add(hj * 3 * PLANE));
                for (g, w) in w.into_iter().enumerate() {
                    let to = self.0.as_mut_ptr().add((hj * 4 + g) * PLANE);
                    _mm256_store_si256(to.cast(), w);
                }
            }
        }
    }

    /// A column of tiles against `rows` activation rows, in passes of up to four: each tile is
    /// unpacked once and met by every pass before the next. `sums[p]` takes pass `p`'s sums.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn span(tiles: &[Tile], acts: &[Act], rows: usize, sums: &mut [Sums]) {
        let kb = tiles.len() * VALUES / 32;
        // Each activation row as groups of the 8 blocks one tile meets.
        let row = |i: usize| acts[i * kb..(i + 1) * kb].as_chunks::<{ VALUES / 32 }>().0;
        let mut unpacked = Unpacked([0; 2 * (VALUES / SUB) * 4 * PLANE]);
        for (t, tile) in tiles.iter().enumerate() {
            unpacked.unpack(tile);
            let values = |half: usize, j: usize| -> [__m256i; 4] {
                std::array::from_fn(|g| unpacked.group(half, j, g))
            };
            for (p, sums) in sums.iter_mut().enumerate() {
                let r0 = p * PASS;
                let blocks = |r: usize| &row(r0 + r)[t];
                match rows - r0 {
                    1 => tile_pass::<1>(tile, values, std::array::from_fn(blocks), sums),
                    2 => tile_pass::<2>(tile, values, std::array::from_fn(blocks), sums),
                    3 => tile_pass::<3>(tile, values, std::array::from_fn(blocks), sums),
                    _ => tile_pass::<4>(tile, values, std::array::from_fn(blocks), sums),
                }
            }
        }
    }

    /// One tile against `R` activation rows (`blocks[r]` the row's 8 blocks the tile meets),
    /// added to `sums`, its values from `values` as in `tile_halves`; the halves go together
    /// or take turns as in `pass` (two rows with both halves at once spilled registers and
    /// ran slower).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn tile_pass<const R: usize>(
        tile: &Tile,
        values: impl Fn(usize, usize) -> [__m256i; 4] + Copy,
        blocks: [&[Act; VALUES / 32]; R],
        sums: &mut Sums,
    ) {
        if R <= 2 {
            tile_sums::<R, 2, 0>(tile, values, blocks, sums);
        } else {
            tile_sums::<R, 1, 0>(tile, values, blocks, sums);
            tile_sums::<R, 1, 1>(tile, values, blocks, sums);
        }
    }

    /// `tile_halves` with its accumulators taken from `sums` and put back.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn tile_sums<const R: usize, const H: usize, const FIRST: usize>(
        tile: &Tile,
        values: impl Fn(usize, usize) -> [__m256i; 4],
        blocks: [&[Act; VALUES / 32]; R],
        sums: &mut Sums,
    ) {
        let mut acc: [[__m256; H]; R] = std::array::from_fn(|r| {
            std::array::from_fn(|h| _mm256_loadu_ps(sums[r].as_ptr().add(HALF * (FIRST + h))))
        });
        tile_halves::<R, H, FIRST>(tile, values, blocks, &mut acc);
        for (out, acc) in sums.iter_mut().zip(acc) {
            for (h, acc) in acc.into_iter().enumerate() {
                _mm256_storeu_ps(out.as_mut_ptr().add(HALF * (FIRST + h)), acc);
            }
        }
    }

    /// The four registers of one sub-block of 8 rows (value group `g` in register `g`) from its
    /// three planes.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn decode(planes: *const u8) -> [__m256i; 4] {
        let low6 = _mm256_set1_epi8(0x3F);
        let top2 = _mm256_set1_epi8(0xC0u8 as i8);
        let p0 = _mm256_load_si256(planes as *const __m256i);
        let p1 = _mm256_load_si256(planes.add(PLANE) as *const __m256i);
        let p2 = _mm256_load_si256(planes.add(2 * PLANE) as *const __m256i);
        // 16-bit shifts of bytes masked to their top two bits move nothing across bytes.
        let v3 = _mm256_or_si256(
            _mm256_or_si256(
                _mm256_srli_epi16::<6>(_mm256_and_si256(p0, top2)),
                _mm256_srli_epi16::<4>(_mm256_and_si256(p1, top2)),
            ),
            _mm256_srli_epi16::<2>(_mm256_and_si256(p2, top2)),
        );
        [
            _mm256_and_si256(p0, low6),
            _mm256_and_si256(p1, low6),
            _mm256_and_si256(p2, low6),
            v3,
        ]
    }

    /// `sc * Σ q a` over one sub-block for each of 8 rows, with `a` the 16 activations at `q`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn dot(w: &[__m256i; 4], q: *const i32, sc: __m256i) -> __m256i {
        let mut p = [_mm256_setzero_si256(); 4];
        for (g, p) in p.iter_mut().enumerate() {
            *p = _mm256_maddubs_epi16(w[g], _mm256_set1_epi32(q.add(g).read_unaligned()));
        }
        _mm256_add_epi32(
            _mm256_madd_epi16(_mm256_add_epi16(p[0], p[1]), sc),
            _mm256_madd_epi16(_mm256_add_epi16(p[2], p[3]), sc),
        )
    }
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::GgmlDType;

    use super::Tile;
    use crate::testing;

    #[test]
    fn q6_k_matches_llama_cpp_and_candle() {
        testing::check_format::<Tile>(GgmlDType::Q6K, "q6_k");
    }

    #[test]
    fn q6_k_sums_do_not_saturate() {
        // Every q 63 and every scale -128, d = 1.0.
        let block = [
            [0xFF; 128].as_slice(),
            &[0xFF; 64],
            &[0x80; 16],
            &[0x00, 0x3C],
        ]
        .concat();
        testing::simd_sums_do_not_saturate_at_the_extremes::<Tile>(&block);
    }
}
