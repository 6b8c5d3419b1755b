//! Q4_1 weights times f32 activations: the matrix multiply behind every projection of a
//! Q4_1 model, with AVX-512 VNNI and AVX2 kernels.
//!
//! candle 0.11 has no SIMD kernel for Q4_1: its generic block dot product took 85% of the
//! prompt time, one activation row at a time. Here the weights are regrouped once, at load,
//! into tiles of 16 output rows, so one `vpdpbusd` multiplies four values of 16 rows at once,
//! and each tile serves up to four activation rows before the next is loaded. The arithmetic
//! is llama.cpp's for Q4_1 (activations quantized per 32 values to 8 bits with f16 scale and
//! scaled sum, the sum carrying the weights' minimum), so results agree with it to float
//! rounding.

// The one crate of the workspace with `unsafe`: SIMD intrinsics behind a CPU feature check,
// and worker threads writing disjoint parts of one output buffer.
#![allow(unsafe_code)]

use half::f16;

/// Values per Q4_1 block.
const BLOCK: usize = 32;
/// Bytes of one Q4_1 block in a GGUF file: f16 scale, f16 minimum, 16 bytes of nibbles.
const BLOCK_BYTES: usize = 20;
/// Output rows per tile: one 512-bit register of i32 or f32.
const ROWS: usize = 16;
/// Activation rows that share one pass over a column of tiles.
const PASS: usize = 4;

/// One 32-value block of 16 consecutive output rows.
#[repr(C, align(64))]
#[derive(Clone)]
struct Tile {
    /// `[group g (4)][row (16)][4 bytes]`: bytes `4g..4g + 4` of each row's block. A byte holds
    /// value `j` of the block in its low nibble and value `j + 16` in its high nibble.
    qs: [u8; 4 * ROWS * 4],
    /// Each row's scale.
    d: [f32; ROWS],
    /// Each row's minimum.
    m: [f32; ROWS],
}

/// 32 activations quantized as llama.cpp's Q8_1: `x ≈ d * q`, and `s = d * Σq`.
#[derive(Clone, Copy)]
#[repr(C)]
struct Act {
    qs: [i8; BLOCK],
    d: f32,
    s: f32,
}

/// A Q4_1 matrix of `n` rows of `k` values (a projection's weights, one row per output),
/// regrouped for the kernel.
pub struct Q4_1Matrix {
    n: usize,
    k: usize,
    /// Column-major over tiles: the `k / 32` blocks of rows `16t..16t + 16` are contiguous.
    tiles: Vec<Tile>,
}

/// The kernel this CPU runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// 512-bit registers, `vpdpbusd` multiplying and adding in one instruction.
    Avx512Vnni,
    /// 256-bit registers, `vpmaddubsw` then `vpmaddwd` (any x86 desktop since about 2015).
    Avx2,
    /// Plain Rust; slower than candle's own matmul, so models do not use this path.
    Scalar,
}

impl Kernel {
    /// The kernel's name as the admin API shows it.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Avx512Vnni => "avx512-vnni",
            Kernel::Avx2 => "avx2",
            Kernel::Scalar => "scalar",
        }
    }
}

/// The fastest kernel this CPU has the instructions for.
pub fn kernel() -> Kernel {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vnni")
        {
            return Kernel::Avx512Vnni;
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return Kernel::Avx2;
        }
    }
    Kernel::Scalar
}

/// Whether a SIMD kernel runs here; elsewhere a Q4_1 model keeps candle's own matmul,
/// which the scalar path here would not beat.
pub fn fast_kernel_available() -> bool {
    kernel() != Kernel::Scalar
}

impl Q4_1Matrix {
    /// Regroups the raw Q4_1 blocks of an `n` x `k` matrix as a GGUF file stores them. `None`
    /// when the shape does not tile (`n` not a multiple of 16 or `k` of 32) or the byte count
    /// does not match it.
    pub fn from_blocks(raw: &[u8], n: usize, k: usize) -> Option<Q4_1Matrix> {
        if n == 0 || !n.is_multiple_of(ROWS) || k == 0 || !k.is_multiple_of(BLOCK) {
            return None;
        }
        let kb = k / BLOCK;
        if raw.len() != n * kb * BLOCK_BYTES {
            return None;
        }
        let mut tiles = Vec::with_capacity(n / ROWS * kb);
        for t in 0..n / ROWS {
            for b in 0..kb {
                let mut tile = Tile {
                    qs: [0; 4 * ROWS * 4],
                    d: [0.0; ROWS],
                    m: [0.0; ROWS],
                };
                for r in 0..ROWS {
                    let at = ((t * ROWS + r) * kb + b) * BLOCK_BYTES;
                    let block = &raw[at..at + BLOCK_BYTES];
                    tile.d[r] = f16::from_le_bytes([block[0], block[1]]).to_f32();
                    tile.m[r] = f16::from_le_bytes([block[2], block[3]]).to_f32();
                    for g in 0..4 {
                        let to = (g * ROWS + r) * 4;
                        tile.qs[to..to + 4].copy_from_slice(&block[4 + 4 * g..8 + 4 * g]);
                    }
                }
                tiles.push(tile);
            }
        }
        Some(Q4_1Matrix { n, k, tiles })
    }

    /// Output rows.
    pub fn rows(&self) -> usize {
        self.n
    }

    /// `dst = x · Wᵀ` for `m` rows of `x` (`m` x `k`, row-major) into `dst` (`m` x `n`), on
    /// candle's worker threads.
    pub fn matmul(&self, x: &[f32], m: usize, dst: &mut [f32]) {
        assert_eq!(x.len(), m * self.k, "activations are not m x k");
        assert_eq!(dst.len(), m * self.n, "output is not m x n");
        let kb = self.k / BLOCK;
        let acts = quantize(x, m, kb);
        let column_tiles = self.n / ROWS;
        let passes = m.div_ceil(PASS);
        let kernel = kernel();
        let out = dst.as_mut_ptr() as usize;
        candle_core::utils::barrier_pool().execute_chunked(column_tiles * passes, |units| {
            for unit in units {
                let (t, pass) = (unit / passes, unit % passes);
                let tiles = &self.tiles[t * kb..(t + 1) * kb];
                let r0 = pass * PASS;
                let rows = (m - r0).min(PASS);
                let acts = &acts[r0 * kb..(r0 + rows) * kb];
                let mut sums = [[0f32; ROWS]; PASS];
                run(kernel, tiles, acts, rows, &mut sums);
                for (i, row) in sums[..rows].iter().enumerate() {
                    let at = (r0 + i) * self.n + t * ROWS;
                    // SAFETY: `dst` holds m x n values and each unit writes only its own 16
                    // columns of its own rows, so no two units write the same element.
                    unsafe {
                        std::ptr::copy_nonoverlapping(row.as_ptr(), (out as *mut f32).add(at), ROWS)
                    };
                }
            }
        });
    }
}

/// One column of tiles against `rows` (1 to 4) activation rows, on `kernel`. The row count
/// becomes a constant here so each kernel keeps its accumulators in registers.
fn run(kernel: Kernel, tiles: &[Tile], acts: &[Act], rows: usize, sums: &mut [[f32; ROWS]; PASS]) {
    match rows {
        1 => run_n::<1>(kernel, tiles, acts, sums),
        2 => run_n::<2>(kernel, tiles, acts, sums),
        3 => run_n::<3>(kernel, tiles, acts, sums),
        _ => run_n::<4>(kernel, tiles, acts, sums),
    }
}

fn run_n<const R: usize>(
    kernel: Kernel,
    tiles: &[Tile],
    acts: &[Act],
    sums: &mut [[f32; ROWS]; PASS],
) {
    match kernel {
        // SAFETY: `kernel()` chose these only where the CPU has their instructions.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Vnni => unsafe { avx512::pass::<R>(tiles, acts, sums) },
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => unsafe { avx2::pass::<R>(tiles, acts, sums) },
        _ => scalar_pass(tiles, acts, R, sums),
    }
}

/// Quantizes `m` rows of `kb` blocks as llama.cpp's `quantize_row_q8_1` does (scale and
/// scaled sum rounded to f16), rows split across candle's workers when there are several.
fn quantize(x: &[f32], m: usize, kb: usize) -> Vec<Act> {
    let mut acts = vec![
        Act {
            qs: [0; BLOCK],
            d: 0.0,
            s: 0.0,
        };
        m * kb
    ];
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
        let mut sum = 0i32;
        for (q, v) in a.qs.iter_mut().zip(xs) {
            *q = (v * inv).round_ties_even() as i8;
            sum += i32::from(*q);
        }
        a.d = f16::from_f32(d).to_f32();
        a.s = f16::from_f32(d * sum as f32).to_f32();
    }
}

/// The kernel's arithmetic in plain Rust: the reference the SIMD kernel is tested against.
fn scalar_pass(tiles: &[Tile], acts: &[Act], rows: usize, sums: &mut [[f32; ROWS]; PASS]) {
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
                *o += dot as f32 * (tile.d[r] * a.d) + tile.m[r] * a.s;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{Act, Tile, PASS, ROWS};

    /// One column of tiles against `R` activation rows: one 512-bit register per 16 rows.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn pass<const R: usize>(
        tiles: &[Tile],
        acts: &[Act],
        sums: &mut [[f32; ROWS]; PASS],
    ) {
        let kb = tiles.len();
        let nibble = _mm512_set1_epi8(0x0F);
        let mut acc = [_mm512_setzero_ps(); R];
        for (b, tile) in tiles.iter().enumerate() {
            let d = _mm512_load_ps(tile.d.as_ptr());
            let m = _mm512_load_ps(tile.m.as_ptr());
            let mut lo = [_mm512_setzero_si512(); 4];
            let mut hi = [_mm512_setzero_si512(); 4];
            for g in 0..4 {
                let w = _mm512_load_si512(tile.qs.as_ptr().add(64 * g) as *const __m512i);
                lo[g] = _mm512_and_si512(w, nibble);
                hi[g] = _mm512_and_si512(_mm512_srli_epi16::<4>(w), nibble);
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let a = &acts[r * kb + b];
                let q = a.qs.as_ptr() as *const i32;
                let mut dot = _mm512_setzero_si512();
                for g in 0..4 {
                    let low = _mm512_set1_epi32(q.add(g).read_unaligned());
                    let high = _mm512_set1_epi32(q.add(4 + g).read_unaligned());
                    dot = _mm512_dpbusd_epi32(dot, lo[g], low);
                    dot = _mm512_dpbusd_epi32(dot, hi[g], high);
                }
                let scale = _mm512_mul_ps(d, _mm512_set1_ps(a.d));
                *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, *acc);
                *acc = _mm512_fmadd_ps(m, _mm512_set1_ps(a.s), *acc);
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            _mm512_storeu_ps(sums[r].as_mut_ptr(), *acc);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{Act, Tile, PASS, ROWS};

    /// One column of tiles against `R` activation rows, each tile as two halves of 8 rows (one 256-bit register of i32 or f32 each). Eight
    /// `vpmaddubsw` products of a nibble (at most 15) and an i8 (at most 127 in magnitude)
    /// add up to at most 30,480 per i16 lane, so the i16 sums cannot saturate.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn pass<const R: usize>(
        tiles: &[Tile],
        acts: &[Act],
        sums: &mut [[f32; ROWS]; PASS],
    ) {
        let kb = tiles.len();
        let nibble = _mm256_set1_epi8(0x0F);
        let ones = _mm256_set1_epi16(1);
        for half in 0..2 {
            let mut acc = [_mm256_setzero_ps(); R];
            for (b, tile) in tiles.iter().enumerate() {
                let d = _mm256_load_ps(tile.d.as_ptr().add(8 * half));
                let m = _mm256_load_ps(tile.m.as_ptr().add(8 * half));
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
            for (r, acc) in acc.iter().enumerate() {
                _mm256_storeu_ps(sums[r].as_mut_ptr().add(8 * half), *acc);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
    use candle_core::{Device, Module, Tensor};

    fn random_matrix(n: usize, k: usize, seed: u64) -> (QTensor, Vec<u8>) {
        let values: Vec<f32> = (0..n * k)
            .map(|i| {
                let x = (i as u64 + 1)
                    .wrapping_mul(seed | 1)
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15);
                ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
            })
            .collect();
        let t = Tensor::from_vec(values, (n, k), &Device::Cpu).unwrap();
        let q = QTensor::quantize(&t, GgmlDType::Q4_1).unwrap();
        let raw = q.data().unwrap().into_owned();
        (q, raw)
    }

    fn activations(m: usize, k: usize) -> Vec<f32> {
        (0..m * k)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
            .collect()
    }

    fn close(a: &[f32], b: &[f32], tol: f32) {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{i}: {x} vs {y}");
        }
    }

    #[test]
    fn the_tiled_product_equals_candles_q4_1_matmul_for_prompt_and_decode_shapes() {
        let (n, k) = (48, 128);
        let (q, raw) = random_matrix(n, k, 7);
        let ours = Q4_1Matrix::from_blocks(&raw, n, k).unwrap();
        let candle = QMatMul::from_qtensor(q).unwrap();
        for m in [1, 3, 4, 9] {
            let x = activations(m, k);
            let mut got = vec![0f32; m * n];
            ours.matmul(&x, m, &mut got);
            let want = candle
                .forward(&Tensor::from_vec(x, (m, k), &Device::Cpu).unwrap())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            close(&got, &want, 1e-3);
        }
    }

    #[test]
    fn every_simd_kernel_this_cpu_has_equals_the_scalar_reference() {
        let mut kernels = vec![];
        if kernel() == Kernel::Avx512Vnni {
            kernels.push(Kernel::Avx512Vnni);
        }
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            kernels.push(Kernel::Avx2);
        }
        if kernels.is_empty() {
            eprintln!("no SIMD kernel runs on this CPU: only the scalar path is used here");
        }
        let (n, k) = (32, 64);
        let (_, raw) = random_matrix(n, k, 11);
        let w = Q4_1Matrix::from_blocks(&raw, n, k).unwrap();
        let kb = k / BLOCK;
        // Extreme activations too: every quantized value at +127 or -127.
        let mut x = activations(PASS, k);
        x[..k]
            .iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = if i % 2 == 0 { 9.0 } else { -9.0 });
        let acts = quantize(&x, PASS, kb);
        for kernel in kernels {
            for rows in 1..=PASS {
                let (mut fast, mut slow) = ([[0f32; ROWS]; PASS], [[0f32; ROWS]; PASS]);
                run(kernel, &w.tiles[..kb], &acts, rows, &mut fast);
                scalar_pass(&w.tiles[..kb], &acts, rows, &mut slow);
                close(fast.as_flattened(), slow.as_flattened(), 1e-5);
            }
        }
    }

    #[test]
    fn shapes_that_do_not_tile_are_refused() {
        let (_, raw) = random_matrix(16, 32, 3);
        assert!(Q4_1Matrix::from_blocks(&raw, 16, 32).is_some());
        assert!(Q4_1Matrix::from_blocks(&raw, 8, 64).is_none());
        assert!(Q4_1Matrix::from_blocks(&raw[1..], 16, 32).is_none());
        assert!(Q4_1Matrix::from_blocks(&raw, 16, 30).is_none());
    }
}
