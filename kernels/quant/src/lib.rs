//! Quantized weights times f32 activations: the matrix multiply behind every projection of
//! a GGUF model, one module per quant format, each with AVX-512 VNNI and AVX2 kernels (the
//! best the CPU has, chosen at run time) and a scalar reference.
//!
//! Every format works the same way. At load the GGUF blocks are regrouped once into tiles of
//! 16 output rows by one block of the format (32 values, or 256 for the k-quants), so one
//! SIMD instruction works on 16 (or 8) rows at once and each tile serves up to four
//! activation rows (a pass) before the next is loaded; Q5_K and Q6_K, whose values take work
//! to rebuild from their tiles, rebuild a tile once for a span of up to 16 passes (Q4_K too
//! on AVX-512, where splitting its nibbles is a fair share of a pass's work). The Q4_0,
//! Q4_1, Q5_0, Q8_0 and Q6_K tiles take exactly the bytes of the GGUF blocks they come from
//! (decode reads every byte per token): they keep their scales as f16, converted with F16C;
//! Q4_K's and Q5_K's take 3% more (their 6-bit sub-block scales a byte each). Activations
//! are quantized per 32 values to 8 bits (llama.cpp's Q8_1, plus the sum of each half for
//! the formats whose scales cover 16 values). The arithmetic is llama.cpp's for each format,
//! so results agree with it to float rounding; each format's tests hold its tiles to the
//! values llama.cpp's own dequantizer gives for the same bytes.

// The one crate of the workspace with `unsafe`: SIMD intrinsics behind a CPU feature check,
// and worker threads writing disjoint parts of one output buffer.
#![allow(unsafe_code)]

mod act;
pub mod attention;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod pages;
mod q4_0;
mod q4_1;
mod q4_k;
mod q5_0;
mod q5_k;
mod q6_k;
mod q8_0;
#[cfg(test)]
mod testing;

use candle_core::quantized::GgmlDType;

pub use act::Act;
use act::{quantize, BLOCK};
use pages::Pages;

/// Output rows per tile: one 512-bit register of i32 or f32, two 256-bit ones.
pub(crate) const ROWS: usize = 16;
/// Activation rows that share one pass over a column of tiles.
pub(crate) const PASS: usize = 4;
/// The most passes a format's unit may cover (`Format::SPAN`).
pub(crate) const MAX_SPAN: usize = 16;

/// What one pass over a column of tiles adds up: `PASS` activation rows by `ROWS` outputs.
pub(crate) type Sums = [[f32; ROWS]; PASS];

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

    /// The SIMD kernel to try when a format has no code for this one (every CPU with AVX-512
    /// VNNI has AVX2), or None when only the scalar reference is left.
    fn fallback(self) -> Option<Kernel> {
        match self {
            Kernel::Avx512Vnni => Some(Kernel::Avx2),
            Kernel::Avx2 | Kernel::Scalar => None,
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
        // F16C converts the tiles' f16 scales and the f16 KV cache; every AVX2 CPU has it, and
        // checking it here once spares each kernel its own check.
        if is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c")
        {
            return Kernel::Avx2;
        }
    }
    Kernel::Scalar
}

/// Whether a SIMD kernel runs here; elsewhere a model keeps candle's own matmul, which the
/// scalar paths here would not beat.
pub fn fast_kernel_available() -> bool {
    kernel() != Kernel::Scalar
}

/// One quant format: how its GGUF blocks become tiles, and the passes over a column of them.
pub(crate) trait Format: Sized + Send + Sync + 'static {
    /// Values of one row a tile covers (the format's block).
    const VALUES: usize;
    /// Bytes of one row's block in a GGUF file.
    const BYTES: usize;

    /// The tile for one block of 16 consecutive rows: `rows[r]` is row `r`'s block.
    fn pack(rows: [&[u8]; ROWS]) -> Self;

    /// The tile's weights as f32, row-major (`ROWS` x `VALUES`): what the tests hold against
    /// llama.cpp's dequantizer, and how an embedding row is looked up.
    fn dequantize(&self) -> Vec<f32>;

    /// The plain-Rust pass: `sums[i][r] = Σ tiles[b] row r · acts[i]` for `rows` activation
    /// rows, each of `tiles.len() * VALUES / 32` activation blocks.
    fn scalar(tiles: &[Self], acts: &[Act], rows: usize, sums: &mut Sums);

    /// The same pass on `kernel` for exactly `R` rows; `false` when the format has no code for
    /// that kernel (the caller then tries the next one down).
    fn simd<const R: usize>(kernel: Kernel, tiles: &[Self], acts: &[Act], sums: &mut Sums) -> bool;

    /// Passes one unit of a product covers (at most `MAX_SPAN`). A format whose tiles take
    /// work to unpack before the multiply (Q5_K's fifth bits, Q6_K's planes) unpacks each tile
    /// once per unit and reuses it for every pass; the others run one pass per unit.
    const SPAN: usize = 1;

    /// Passes one unit covers on `kernel`: `SPAN`, or 1 where the format has no span code for
    /// that kernel, so its passes keep the order in which a group of columns meets one pass's
    /// activations while they are in L2 (run one by one within a unit, a long row's
    /// activations came from L3 for every column: Q4_K on AVX2, k = 8,192, about 5% slower).
    fn span(_kernel: Kernel) -> usize {
        Self::SPAN
    }

    /// Up to `SPAN` passes on `kernel`: `rows` activation rows, more than one pass holds, pass
    /// `p`'s sums into `sums[p]`. `false` when the format has no such code for that kernel (the
    /// caller then runs the passes one by one).
    fn simd_span(
        _kernel: Kernel,
        _tiles: &[Self],
        _acts: &[Act],
        _rows: usize,
        _sums: &mut [Sums],
    ) -> bool {
        false
    }
}

/// A matrix of `n` rows of `k` values (a projection's weights, one row per output), regrouped
/// for the kernels.
pub struct Matrix {
    n: usize,
    k: usize,
    packed: Box<dyn Packed>,
}

impl Matrix {
    /// Regroups an `n` x `k` matrix of `dtype` blocks as a GGUF file stores them. `None` when
    /// no kernel here takes the format, the shape does not tile (`n` not a multiple of 16, `k`
    /// not of the format's block) or the byte count does not match it.
    pub fn from_blocks(dtype: GgmlDType, raw: &[u8], n: usize, k: usize) -> Option<Matrix> {
        let mut rest = raw;
        let m = Matrix::from_row_groups(dtype, n, k, |buf| take(&mut rest, buf)).ok()??;
        rest.is_empty().then_some(m)
    }

    /// The same, read 16 rows at a time: `read` fills its buffer with the next 16 rows'
    /// blocks, in the file's order. Only those rows are held besides the tiles, so a load
    /// never needs the file's copy of a matrix whole (peak memory stays at the model's size).
    /// `Ok(None)` before anything is read when no kernel takes the format or the shape.
    pub fn from_row_groups(
        dtype: GgmlDType,
        n: usize,
        k: usize,
        read: impl FnMut(&mut [u8]) -> std::io::Result<()>,
    ) -> std::io::Result<Option<Matrix>> {
        fn tiled<F: Format>(
            n: usize,
            k: usize,
            read: impl FnMut(&mut [u8]) -> std::io::Result<()>,
        ) -> std::io::Result<Option<Box<dyn Packed>>> {
            Ok(Tiled::<F>::read(n, k, read)?.map(|t| Box::new(t) as Box<dyn Packed>))
        }
        let packed = match dtype {
            GgmlDType::Q4_0 => tiled::<q4_0::Tile>(n, k, read)?,
            GgmlDType::Q4_1 => tiled::<q4_1::Tile>(n, k, read)?,
            GgmlDType::Q5_0 => tiled::<q5_0::Tile>(n, k, read)?,
            GgmlDType::Q8_0 => tiled::<q8_0::Tile>(n, k, read)?,
            GgmlDType::Q4K => tiled::<q4_k::Tile>(n, k, read)?,
            GgmlDType::Q5K => tiled::<q5_k::Tile>(n, k, read)?,
            GgmlDType::Q6K => tiled::<q6_k::Tile>(n, k, read)?,
            _ => None,
        };
        Ok(packed.map(|packed| Matrix { n, k, packed }))
    }

    /// Whether a kernel here takes weights of `dtype`.
    pub fn supports(dtype: GgmlDType) -> bool {
        matches!(
            dtype,
            GgmlDType::Q4_0
                | GgmlDType::Q4_1
                | GgmlDType::Q5_0
                | GgmlDType::Q8_0
                | GgmlDType::Q4K
                | GgmlDType::Q5K
                | GgmlDType::Q6K
        )
    }

    /// Output rows.
    pub fn rows(&self) -> usize {
        self.n
    }

    /// Values per row.
    pub fn columns(&self) -> usize {
        self.k
    }

    /// Row `i` as f32 into `out` (`k` values): an embedding lookup when the matrix is also the
    /// token embedding, so a tied model keeps one copy of it.
    pub fn row(&self, i: usize, out: &mut [f32]) {
        assert!(i < self.n, "row {i} of {}", self.n);
        assert_eq!(out.len(), self.k, "a row is k values");
        self.packed.row(i, out);
    }

    /// `dst = x · Wᵀ` for `m` rows of `x` (`m` x `k`, row-major) into `dst` (`m` x `n`), on
    /// candle's worker threads.
    pub fn matmul(&self, x: &[f32], m: usize, dst: &mut [f32]) {
        Matrix::matmul_all(&[self], x, m, &mut [dst]);
    }

    /// The products of several matrices of the same `k` with the same `x`, as one job:
    /// the activations are quantized once and the workers meet once, not once per matrix.
    /// A decode step of a small model is a few hundred products of a few hundred microseconds,
    /// so each hand-off to the workers and back counts (a layer's query, key and value
    /// projections, or its gate and up projections, go together).
    pub fn matmul_all(mats: &[&Matrix], x: &[f32], m: usize, dsts: &mut [&mut [f32]]) {
        assert_eq!(mats.len(), dsts.len(), "one output per matrix");
        let Some(k) = mats.first().map(|w| w.k) else {
            return;
        };
        assert!(mats.iter().all(|w| w.k == k), "the matrices differ in k");
        assert_eq!(x.len(), m * k, "activations are not m x k");
        for (w, dst) in mats.iter().zip(dsts.iter()) {
            assert_eq!(dst.len(), m * w.n, "output is not m x n");
        }
        let acts = quantize(x, m, k / BLOCK);
        let kernel = kernel();
        let orders: Vec<UnitOrder> = mats.iter().map(|w| w.packed.order(m, kernel)).collect();
        let outs: Vec<usize> = dsts.iter_mut().map(|d| d.as_mut_ptr() as usize).collect();
        let total = orders.iter().map(UnitOrder::units).sum();
        candle_core::utils::barrier_pool().execute_chunked(total, |units| {
            for unit in units {
                let (mut i, mut local) = (0, unit);
                while local >= orders[i].units() {
                    local -= orders[i].units();
                    i += 1;
                }
                let (t, span) = orders[i].unit(local);
                // SAFETY: `outs[i]` is `dsts[i]`, of m x n values (checked above), and each
                // unit writes only its own 16 columns of its own rows of one output.
                unsafe {
                    mats[i]
                        .packed
                        .run(kernel, &acts, m, (t, span), outs[i] as *mut f32)
                };
            }
        });
    }
}

/// A format's tiles behind one object, so `Matrix` is not generic.
trait Packed: Send + Sync {
    /// The units of a product with `m` activation rows on `kernel`, and their order.
    fn order(&self, m: usize, kernel: Kernel) -> UnitOrder;
    /// One unit: column of tiles `t` against span `span` of the activations (`F::span`
    /// passes), into `dst`.
    ///
    /// # Safety
    /// `dst` points to `m` x `n` writable values that no one else writes at the unit's places.
    unsafe fn run(
        &self,
        kernel: Kernel,
        acts: &[Act],
        m: usize,
        unit: (usize, usize),
        dst: *mut f32,
    );
    fn row(&self, i: usize, out: &mut [f32]);
}

/// Tiles of one format, column-major: the blocks of rows `16t..16t + 16` are contiguous.
struct Tiled<F> {
    n: usize,
    /// Tiles per column: `k / F::VALUES`.
    kt: usize,
    tiles: Pages<F>,
}

impl<F: Format> Tiled<F> {
    /// Tiles from `n / 16` row groups handed over by `read`; None for a shape that does not
    /// tile.
    fn read(
        n: usize,
        k: usize,
        mut read: impl FnMut(&mut [u8]) -> std::io::Result<()>,
    ) -> std::io::Result<Option<Tiled<F>>> {
        if n == 0 || !n.is_multiple_of(ROWS) || k == 0 || !k.is_multiple_of(F::VALUES) {
            return Ok(None);
        }
        let kt = k / F::VALUES;
        let row_bytes = kt * F::BYTES;
        let mut group = vec![0u8; ROWS * row_bytes];
        let mut tiles = Pages::with_capacity(n / ROWS * kt)?;
        for _ in 0..n / ROWS {
            read(&mut group)?;
            for b in 0..kt {
                let rows = std::array::from_fn(|r| {
                    let at = r * row_bytes + b * F::BYTES;
                    &group[at..at + F::BYTES]
                });
                tiles.push(F::pack(rows));
            }
        }
        Ok(Some(Tiled { n, kt, tiles }))
    }

    /// Tiles from a whole matrix's blocks; None unless they are exactly the shape's.
    #[cfg(test)]
    fn pack(raw: &[u8], n: usize, k: usize) -> Option<Tiled<F>> {
        let mut rest = raw;
        let tiled = Tiled::read(n, k, |buf| take(&mut rest, buf)).ok()??;
        rest.is_empty().then_some(tiled)
    }
}

/// Fills `buf` from the front of `rest`, which moves past what was taken.
fn take(rest: &mut &[u8], buf: &mut [u8]) -> std::io::Result<()> {
    if rest.len() < buf.len() {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let (head, tail) = rest.split_at(buf.len());
    buf.copy_from_slice(head);
    *rest = tail;
    Ok(())
}

impl<F: Format> Packed for Tiled<F> {
    fn row(&self, i: usize, out: &mut [f32]) {
        let (t, r) = (i / ROWS, i % ROWS);
        let column = &self.tiles[t * self.kt..(t + 1) * self.kt];
        for (tile, to) in column.iter().zip(out.chunks_exact_mut(F::VALUES)) {
            to.copy_from_slice(&tile.dequantize()[r * F::VALUES..(r + 1) * F::VALUES]);
        }
    }

    fn order(&self, m: usize, kernel: Kernel) -> UnitOrder {
        UnitOrder::new(
            self.n / ROWS,
            m.div_ceil(PASS * F::span(kernel)),
            self.kt * size_of::<F>(),
        )
    }

    unsafe fn run(
        &self,
        kernel: Kernel,
        acts: &[Act],
        m: usize,
        unit: (usize, usize),
        dst: *mut f32,
    ) {
        const { assert!(F::SPAN >= 1 && F::SPAN <= MAX_SPAN) };
        let (t, span) = unit;
        let ka = self.kt * F::VALUES / BLOCK;
        let tiles = &self.tiles[t * self.kt..(t + 1) * self.kt];
        let passes = F::span(kernel);
        debug_assert!(passes >= 1 && passes <= F::SPAN);
        let r0 = span * PASS * passes;
        let rows = (m - r0).min(PASS * passes);
        let acts = &acts[r0 * ka..(r0 + rows) * ka];
        let write = |sums: &[[f32; ROWS]]| {
            for (i, row) in sums.iter().enumerate() {
                // SAFETY: the caller hands over m x n values of which these 16 are this unit's.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        row.as_ptr(),
                        dst.add((r0 + i) * self.n + t * ROWS),
                        ROWS,
                    )
                };
            }
        };
        // A decode step runs thousands of one-column units of a few microseconds: zeroing a
        // whole span's sums (4 KiB) for each made a one-row 49,152 x 2,048 product 6% to 43%
        // slower.
        if rows <= PASS {
            let mut sums = Sums::default();
            run(kernel, tiles, acts, rows, &mut sums);
            write(&sums[..rows]);
        } else {
            let mut sums = [[[0f32; ROWS]; PASS]; MAX_SPAN];
            run_span(kernel, tiles, acts, rows, &mut sums[..rows.div_ceil(PASS)]);
            write(&sums.as_flattened()[..rows]);
        }
    }
}

/// How far ahead of the tile being multiplied the kernels ask for memory. A decode step is one
/// pass over every weight, so the next tiles must already be on their way while this one is
/// multiplied; the hardware prefetcher alone leaves a k-quant kernel at about half the memory
/// bandwidth (Q6_K: 15 against 27-32 GB/s on the 2-core EPYC, `examples/matmul`).
const PREFETCH_AHEAD: usize = 4096;

/// Asks for part `part` of `parts` of the bytes `PREFETCH_AHEAD` past `tile`. A kernel calls it
/// once per part while it works on the tile, so the requests spread over the tile's work
/// instead of queueing at its start.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn prefetch<F>(tile: &F, part: usize, parts: usize) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    const LINE: usize = 64;
    let lines = std::mem::size_of::<F>().div_ceil(LINE).div_ceil(parts);
    // `wrapping_add`: the address may lie past the matrix, which a prefetch may name (it never
    // faults) but an in-bounds pointer offset may not.
    let at = (tile as *const F)
        .cast::<u8>()
        .wrapping_add(PREFETCH_AHEAD + part * lines * LINE);
    for line in 0..lines {
        // SAFETY: a prefetch is a hint that reads nothing back and cannot fault.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(at.wrapping_add(line * LINE).cast()) };
    }
}

/// The order in which the (column of tiles, span of activation rows) units of a product run.
/// Columns go in groups that fit in L2 together; each group meets every span before the next
/// group starts. So a column is read from memory once, and a span's activations (loaded from
/// L3: a prompt's are megabytes) serve the whole group instead of one column: for a long row,
/// as in a feed-forward down projection (k = 8,192), one column per pass left the kernel
/// waiting on L3 and halved a Q4_0 1B model's prompt speed.
struct UnitOrder {
    columns: usize,
    spans: usize,
    /// Columns per group; the last group may have fewer.
    group: usize,
}

impl UnitOrder {
    /// Bytes of columns a group holds: half a 512 KiB L2, leaving room for the activations.
    const GROUP_BYTES: usize = 256 << 10;

    fn new(columns: usize, spans: usize, column_bytes: usize) -> UnitOrder {
        let group = (UnitOrder::GROUP_BYTES / column_bytes.max(1)).clamp(1, columns.max(1));
        UnitOrder {
            columns,
            spans,
            group,
        }
    }

    fn units(&self) -> usize {
        self.columns * self.spans
    }

    /// Unit `u`'s column and span.
    fn unit(&self, u: usize) -> (usize, usize) {
        let per_group = self.group * self.spans;
        let first = u / per_group * self.group;
        let width = self.group.min(self.columns - first);
        let rest = u % per_group;
        (first + rest % width, rest / width)
    }
}

/// One column of tiles against `rows` activation rows (at most `F::SPAN` passes' worth), pass
/// `p`'s sums into `sums[p]`: all passes at once where the format has code for that, else one
/// by one.
pub(crate) fn run_span<F: Format>(
    kernel: Kernel,
    tiles: &[F],
    acts: &[Act],
    rows: usize,
    sums: &mut [Sums],
) {
    if rows > PASS {
        let mut next = Some(kernel);
        while let Some(k) = next {
            if F::simd_span(k, tiles, acts, rows, sums) {
                return;
            }
            next = k.fallback();
        }
    }
    let ka = acts.len() / rows;
    for (p, sums) in sums.iter_mut().enumerate() {
        let r0 = p * PASS;
        let n = (rows - r0).min(PASS);
        run(kernel, tiles, &acts[r0 * ka..(r0 + n) * ka], n, sums);
    }
}

/// One column of tiles against `rows` (1 to 4) activation rows, on the best code the format
/// has at or below `kernel`. The row count becomes a constant here so each kernel keeps its
/// accumulators in registers.
pub(crate) fn run<F: Format>(
    kernel: Kernel,
    tiles: &[F],
    acts: &[Act],
    rows: usize,
    sums: &mut Sums,
) {
    let mut kernel = kernel;
    loop {
        let done = match rows {
            1 => F::simd::<1>(kernel, tiles, acts, sums),
            2 => F::simd::<2>(kernel, tiles, acts, sums),
            3 => F::simd::<3>(kernel, tiles, acts, sums),
            _ => F::simd::<4>(kernel, tiles, acts, sums),
        };
        if done {
            return;
        }
        match kernel.fallback() {
            Some(k) => kernel = k,
            None => return F::scalar(tiles, acts, rows, sums),
        }
    }
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::{GgmlDType, QTensor};
    use candle_core::{Device, Tensor};

    use super::{Kernel, Matrix, UnitOrder};

    fn matrix(dtype: GgmlDType, n: usize, k: usize, salt: usize) -> Matrix {
        let values: Vec<f32> = (0..n * k)
            .map(|i| (((i * 7919 + salt) % 1009) as f32 / 1009.0 - 0.5) * 0.1)
            .collect();
        let t = Tensor::from_vec(values, (n, k), &Device::Cpu).unwrap();
        let q = QTensor::quantize(&t, dtype).unwrap();
        Matrix::from_blocks(dtype, &q.data().unwrap(), n, k).unwrap()
    }

    #[test]
    fn products_run_together_equal_products_run_one_by_one() {
        let k = 512;
        let mats = [
            matrix(GgmlDType::Q4K, 48, k, 1),
            matrix(GgmlDType::Q8_0, 16, k, 2),
            matrix(GgmlDType::Q6K, 32, k, 3),
        ];
        for m in [1, 5] {
            let x: Vec<f32> = (0..m * k).map(|i| ((i % 37) as f32 - 18.0) / 9.0).collect();
            let mut together: Vec<Vec<f32>> =
                mats.iter().map(|w| vec![0.0; m * w.rows()]).collect();
            let mut dsts: Vec<&mut [f32]> = together.iter_mut().map(Vec::as_mut_slice).collect();
            Matrix::matmul_all(&mats.iter().collect::<Vec<_>>(), &x, m, &mut dsts);
            for (w, got) in mats.iter().zip(&together) {
                let mut alone = vec![0.0; m * w.rows()];
                w.matmul(&x, m, &mut alone);
                assert_eq!(got, &alone, "m = {m}, {} rows", w.rows());
            }
        }
    }

    #[test]
    fn a_unit_spans_the_format_s_passes_only_on_a_kernel_with_span_code_for_it() {
        // Two columns of tiles, 70 rows: Q4_K has span code on AVX-512 alone.
        let m = matrix(GgmlDType::Q4K, 32, 256, 1);
        assert_eq!(m.packed.order(70, Kernel::Avx512Vnni).units(), 2 * 2);
        assert_eq!(m.packed.order(70, Kernel::Avx2).units(), 2 * 18);
        let m = matrix(GgmlDType::Q6K, 32, 256, 1);
        assert_eq!(m.packed.order(70, Kernel::Avx2).units(), 2 * 2);
    }

    #[test]
    fn every_unit_runs_once_and_a_group_of_columns_meets_every_span_before_the_next() {
        // 10 columns of 100 KiB: groups of 2 (256 KiB / 100 KiB), 3 spans.
        let order = UnitOrder::new(10, 3, 100 << 10);
        let units: Vec<(usize, usize)> = (0..order.units()).map(|u| order.unit(u)).collect();
        let mut sorted = units.clone();
        sorted.sort();
        let all: Vec<(usize, usize)> = (0..10).flat_map(|t| (0..3).map(move |p| (t, p))).collect();
        assert_eq!(sorted, all);
        assert_eq!(
            &units[..6],
            &[(0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2)]
        );
        // A last, narrower group: 5 columns in groups of 2.
        let order = UnitOrder::new(5, 2, 100 << 10);
        let last: Vec<_> = (8..10).map(|u| order.unit(u)).collect();
        assert_eq!(last, [(4, 0), (4, 1)]);
    }
}
