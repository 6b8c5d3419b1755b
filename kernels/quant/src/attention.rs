//! The key/value cache and the attention that reads it, fused: scores, causal and
//! sliding-window masking, softmax and the weighted sum of values in one pass per query row,
//! straight from the cache.
//!
//! Built from candle tensors, each decoded token concatenated the whole cache anew, copied it
//! again for every query head sharing a key head, and built a mask; at a few hundred
//! positions that was a large share of a small model's time per token. Here the cache grows
//! in place (doubling, up to the context limit), can be cut back to any position (a reused
//! prompt prefix), and each query head reads its key head's rows where they lie.
//!
//! The cache keeps keys and values in f16 by default, half of f32, as llama.cpp's default
//! cache does; or in Q8_0 (`KvCacheType`), as llama.cpp's `--cache-type-k/-v q8_0`: blocks of
//! 32 values along a head, each an f16 scale and 32 i8, 34 bytes where f16 takes 64. Scores
//! and sums are f32 either way. A Q8_0 row is widened to f32 and multiplied by the f32 query
//! (llama.cpp's CPU path quantizes the query to 8 bits as well), so the only error Q8_0 adds
//! is the rounding of the cache itself.

use std::str::FromStr;

use half::f16;

use crate::fast_kernel_available;

/// The smallest allocation, in positions: a short chat never reallocates.
const FIRST_CAPACITY: usize = 256;
/// Values in one Q8_0 block.
const Q8_BLOCK: usize = 32;

/// How the cache stores keys and values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum KvCacheType {
    /// Each value rounded to f16: 2 bytes.
    #[default]
    F16,
    /// Blocks of 32 values along a head, `x = d * q`: an f16 scale `d` (the block's largest
    /// magnitude over 127) and 32 i8 `q`, 34 bytes.
    Q8_0,
}

impl KvCacheType {
    /// Its name in the config, llama.cpp's name for it (`--cache-type-k`).
    pub fn name(self) -> &'static str {
        match self {
            KvCacheType::F16 => "f16",
            KvCacheType::Q8_0 => "q8_0",
        }
    }

    /// Bytes of one head's key (or value) of `dim` values; `Err` saying why where this type
    /// cannot hold heads of that size (Q8_0: a multiple of 32 values).
    pub fn row_bytes(self, dim: usize) -> Result<usize, String> {
        match self {
            KvCacheType::F16 => Ok(dim * std::mem::size_of::<f16>()),
            KvCacheType::Q8_0 if dim.is_multiple_of(Q8_BLOCK) => {
                Ok(dim / Q8_BLOCK * std::mem::size_of::<Block>())
            }
            KvCacheType::Q8_0 => Err(format!(
                "a q8_0 KV cache holds heads of a multiple of {Q8_BLOCK} values, not {dim}"
            )),
        }
    }
}

impl FromStr for KvCacheType {
    type Err = String;

    fn from_str(name: &str) -> Result<KvCacheType, String> {
        [KvCacheType::F16, KvCacheType::Q8_0]
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| format!("unknown KV cache type `{name}`: expected `f16` or `q8_0`"))
    }
}

/// Keys and values of the positions fed so far, for one layer: `[kv head][position][dim]`.
pub struct KvCache {
    kv_heads: usize,
    dim: usize,
    /// Positions allocated per head.
    capacity: usize,
    /// Positions held.
    len: usize,
    /// Positions it may ever hold: the context length.
    limit: usize,
    store: Store,
}

/// The keys and values in one of the layouts.
enum Store {
    F16(Rows<f16>),
    Q8_0(Rows<Block>),
}

/// Binds `$rows` to the store's keys and values, whichever their layout, for `$body`.
macro_rules! with_rows {
    ($store:expr, $rows:ident => $body:expr) => {
        match $store {
            Store::F16($rows) => $body,
            Store::Q8_0($rows) => $body,
        }
    };
}

/// Keys and values as cells of one layout: `[kv head][position][dim / C::VALUES cells]`.
struct Rows<C> {
    k: Vec<C>,
    v: Vec<C>,
}

impl<C: Cell> Rows<C> {
    fn empty() -> Rows<C> {
        Rows {
            k: Vec::new(),
            v: Vec::new(),
        }
    }

    fn bytes(&self) -> usize {
        std::mem::size_of_val(self.k.as_slice()) + std::mem::size_of_val(self.v.as_slice())
    }

    /// Writes `k` and `v`, `[kv head][seq][dim]`, at position `at` of heads of `capacity`
    /// positions.
    fn put(
        &mut self,
        (k, v): (&[f32], &[f32]),
        (heads, seq, dim): (usize, usize, usize),
        at: usize,
        capacity: usize,
    ) {
        let cells = dim / C::VALUES;
        for h in 0..heads {
            let from = h * seq * dim..(h + 1) * seq * dim;
            let to = (h * capacity + at) * cells..(h * capacity + at + seq) * cells;
            C::store(&k[from.clone()], &mut self.k[to.clone()]);
            C::store(&v[from], &mut self.v[to]);
        }
    }

    /// Moves the first `len` positions of each head into heads of `capacity` positions (from
    /// `old` positions).
    fn regrow(
        &mut self,
        (heads, dim): (usize, usize),
        len: usize,
        (old, capacity): (usize, usize),
    ) {
        let cells = dim / C::VALUES;
        let regrow = |rows: &[C]| {
            let mut new = vec![C::ZERO; heads * capacity * cells];
            for h in 0..heads {
                new[h * capacity * cells..][..len * cells]
                    .copy_from_slice(&rows[h * old * cells..][..len * cells]);
            }
            new
        };
        self.k = regrow(&self.k);
        self.v = regrow(&self.v);
    }
}

/// Where a query may look.
#[derive(Clone, Copy, Debug)]
pub struct Span {
    /// Query heads (a multiple of the cache's key heads; consecutive query heads share one).
    pub heads: usize,
    /// Multiplies each score (1 / sqrt(dim) for the families here).
    pub scale: f32,
    /// In a sliding-window layer, how many positions a query sees, itself included.
    pub window: Option<usize>,
}

impl KvCache {
    /// An empty cache of `kind` for `kv_heads` heads of `dim` values, never holding more than
    /// `limit` positions; nothing is allocated until the first append. `Err` when `kind`
    /// cannot hold heads of `dim` values.
    pub fn new(
        kv_heads: usize,
        dim: usize,
        limit: usize,
        kind: KvCacheType,
    ) -> Result<KvCache, String> {
        kind.row_bytes(dim)?;
        let store = match kind {
            KvCacheType::F16 => Store::F16(Rows::empty()),
            KvCacheType::Q8_0 => Store::Q8_0(Rows::empty()),
        };
        Ok(KvCache {
            kv_heads,
            dim,
            capacity: 0,
            len: 0,
            limit,
            store,
        })
    }

    /// Positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes allocated now.
    pub fn bytes(&self) -> usize {
        with_rows!(&self.store, rows => rows.bytes())
    }

    /// Keeps only the first `pos` positions (a shorter cache is left as it is).
    pub fn truncate(&mut self, pos: usize) {
        self.len = self.len.min(pos);
    }

    /// Appends `seq` positions; `k` and `v` are `[kv head][seq][dim]` (the layout of a
    /// projection split into heads). `Err` with the limit when it would be passed.
    pub fn append(&mut self, k: &[f32], v: &[f32], seq: usize) -> Result<(), usize> {
        let need = self.len + seq;
        if need > self.limit {
            return Err(self.limit);
        }
        assert_eq!(
            k.len(),
            self.kv_heads * seq * self.dim,
            "keys are not heads x seq x dim"
        );
        assert_eq!(v.len(), k.len(), "values are not shaped as the keys");
        if need > self.capacity {
            self.grow(need);
        }
        let shape = (self.kv_heads, seq, self.dim);
        let (at, capacity) = (self.len, self.capacity);
        with_rows!(&mut self.store, rows => rows.put((k, v), shape, at, capacity));
        self.len = need;
        Ok(())
    }

    /// Reallocates for at least `need` positions: double, at least `FIRST_CAPACITY`, at most
    /// the limit.
    fn grow(&mut self, need: usize) {
        let capacity = need
            .max(2 * self.capacity)
            .max(FIRST_CAPACITY)
            .min(self.limit);
        let (shape, len, old) = ((self.kv_heads, self.dim), self.len, self.capacity);
        with_rows!(&mut self.store, rows => rows.regrow(shape, len, (old, capacity)));
        self.capacity = capacity;
    }

    /// Attention of the last `seq` positions held over everything they may see: `q` is
    /// `[head][seq][dim]`, `out` is `[seq][head][dim]` (the layout the output projection
    /// reads). Rows are spread over candle's workers.
    pub fn attend(&self, q: &[f32], seq: usize, span: Span, out: &mut [f32]) {
        let simd = fast_kernel_available() && self.dim.is_multiple_of(8);
        with_rows!(&self.store, rows => self.attend_rows(rows, simd, (q, seq), span, out));
    }

    /// `attend` over the store's `rows`, on AVX2 where `simd` says so.
    fn attend_rows<C: Cell>(
        &self,
        rows: &Rows<C>,
        simd: bool,
        (q, seq): (&[f32], usize),
        span: Span,
        out: &mut [f32],
    ) {
        let dim = self.dim;
        assert!(seq <= self.len, "more queries than positions held");
        assert!(
            span.heads.is_multiple_of(self.kv_heads),
            "query heads do not share key heads evenly"
        );
        assert_eq!(
            q.len(),
            span.heads * seq * dim,
            "queries are not heads x seq x dim"
        );
        assert_eq!(out.len(), q.len(), "output is not seq x heads x dim");
        let group = span.heads / self.kv_heads;
        let first = self.len - seq;
        // Where position `pos` of key head `kv` starts, in cells.
        let cell = |kv: usize, pos: usize| (kv * self.capacity + pos) * (dim / C::VALUES);
        let at = out.as_mut_ptr() as usize;
        candle_core::utils::barrier_pool().execute_chunked(span.heads * seq, |chunk| {
            let mut scores = vec![0f32; self.len];
            for row in chunk {
                let (head, i) = (row / seq, row % seq);
                let pos = first + i;
                let lo = span.window.map_or(0, |w| (pos + 1).saturating_sub(w));
                let kv = head / group;
                let seen = cell(kv, lo)..cell(kv, pos + 1);
                let query = &q[row * dim..(row + 1) * dim];
                // SAFETY: `out` holds seq x heads x dim values and each row writes only its own
                // `dim` of them, so no two rows write the same element.
                let dst = unsafe {
                    std::slice::from_raw_parts_mut(
                        (at as *mut f32).add((i * span.heads + head) * dim),
                        dim,
                    )
                };
                let scores = &mut scores[..pos + 1 - lo];
                let (keys, values) = (&rows.k[seen.clone()], &rows.v[seen]);
                row_attention(simd, (query, keys, values, span.scale, scores, dst));
            }
        });
    }
}

/// One layout of the cache: a row of `dim` values is `dim / VALUES` cells, written by `store`
/// and read by a query row with `dot` and `add_scaled` (plain Rust) or `avx2_row`.
trait Cell: Copy + Send + Sync {
    /// Values one cell holds.
    const VALUES: usize;
    /// What unused capacity holds.
    const ZERO: Self;

    /// Rounds `from` (whole cells' worth) into `to`.
    fn store(from: &[f32], to: &mut [Self]);

    /// `query · row`.
    fn dot(query: &[f32], row: &[Self]) -> f32;

    /// `dst += w * row`.
    fn add_scaled(w: f32, row: &[Self], dst: &mut [f32]);

    /// One query row (see `row_attention`) on AVX2.
    ///
    /// # Safety
    /// The CPU has AVX2, FMA and F16C, and rows hold a multiple of 8 values.
    #[cfg(target_arch = "x86_64")]
    unsafe fn avx2_row(row: Row<Self>);
}

impl Cell for f16 {
    const VALUES: usize = 1;
    const ZERO: f16 = f16::ZERO;

    fn store(from: &[f32], to: &mut [f16]) {
        for (t, f) in to.iter_mut().zip(from) {
            *t = f16::from_f32(*f);
        }
    }

    fn dot(query: &[f32], row: &[f16]) -> f32 {
        query.iter().zip(row).map(|(x, y)| x * y.to_f32()).sum()
    }

    fn add_scaled(w: f32, row: &[f16], dst: &mut [f32]) {
        for (d, x) in dst.iter_mut().zip(row) {
            *d += w * x.to_f32();
        }
    }

    #[cfg(target_arch = "x86_64")]
    unsafe fn avx2_row(row: Row<f16>) {
        // SAFETY: the caller's promise is this one's.
        unsafe { avx2::f16_row(row) }
    }
}

/// 32 consecutive values of a row, `x = d * q`: the 34 bytes of GGUF's Q8_0 block.
#[derive(Clone, Copy)]
#[repr(C)]
struct Block {
    d: f16,
    qs: [i8; Q8_BLOCK],
}

impl Cell for Block {
    const VALUES: usize = Q8_BLOCK;
    const ZERO: Block = Block {
        d: f16::ZERO,
        qs: [0; Q8_BLOCK],
    };

    /// llama.cpp's rounding (`quantize_row_q8_0`): the block's largest magnitude maps to 127,
    /// each value to the nearest step (halves away from zero), by the scale before it is
    /// rounded to f16. A block of zeros gets scale 0 and zeros.
    fn store(from: &[f32], to: &mut [Block]) {
        for (block, x) in to.iter_mut().zip(from.chunks_exact(Q8_BLOCK)) {
            let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
            let d = amax / 127.0;
            let inv = if d == 0.0 { 0.0 } else { 1.0 / d };
            block.d = f16::from_f32(d);
            for (q, v) in block.qs.iter_mut().zip(x) {
                *q = (v * inv).round() as i8;
            }
        }
    }

    fn dot(query: &[f32], row: &[Block]) -> f32 {
        let block = |(x, b): (&[f32], &Block)| {
            let sum: f32 = x.iter().zip(&b.qs).map(|(x, q)| x * f32::from(*q)).sum();
            b.d.to_f32() * sum
        };
        query.chunks_exact(Q8_BLOCK).zip(row).map(block).sum()
    }

    fn add_scaled(w: f32, row: &[Block], dst: &mut [f32]) {
        for (d, b) in dst.chunks_exact_mut(Q8_BLOCK).zip(row) {
            let w = w * b.d.to_f32();
            for (o, q) in d.iter_mut().zip(&b.qs) {
                *o += w * f32::from(*q);
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    unsafe fn avx2_row(row: Row<Block>) {
        // SAFETY: the caller's promise is this one's.
        unsafe { avx2::q8_0_row(row) }
    }
}

/// One query row: `dst = softmax(scale * keys · query) · values`, on AVX2 where `simd` says
/// so. The SIMD row is one call with its dot products inlined: a call per key (the horizontal
/// sum included) cost the default model 8% of its decode time.
fn row_attention<C: Cell>(simd: bool, row: Row<C>) {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `simd` is set only where `kernel()` found AVX2, FMA and F16C, and only for
        // head dims that are multiples of 8.
        return unsafe { C::avx2_row(row) };
    }
    let _ = simd;
    softmax_row(row, C::dot, C::add_scaled);
}

/// The arguments of one query row: the query, the keys and values it sees (cells of `C`),
/// the score scale, room for the scores and the output.
type Row<'a, C> = (
    &'a [f32],
    &'a [C],
    &'a [C],
    f32,
    &'a mut [f32],
    &'a mut [f32],
);

/// The softmax-weighted sum of one row with the given dot product and scaled add.
#[inline(always)]
fn softmax_row<C: Cell>(
    (query, keys, values, scale, scores, dst): Row<C>,
    dot: impl Fn(&[f32], &[C]) -> f32,
    add_scaled: impl Fn(f32, &[C], &mut [f32]),
) {
    let cells = query.len() / C::VALUES;
    let mut max = f32::NEG_INFINITY;
    for (s, key) in scores.iter_mut().zip(keys.chunks_exact(cells)) {
        *s = scale * dot(query, key);
        max = max.max(*s);
    }
    let mut total = 0f32;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        total += *s;
    }
    dst.fill(0.0);
    for (s, value) in scores.iter().zip(values.chunks_exact(cells)) {
        add_scaled(s / total, value, dst);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use half::f16;

    use super::{softmax_row, Block, Row};

    /// One query row over f16 cells (see `super::row_attention`).
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn f16_row(row: Row<f16>) {
        // SAFETY (both closures): this function runs only where the CPU has the features, and
        // the helpers read whole chunks of 8 that the slices hold.
        softmax_row(
            row,
            |a, b| unsafe { dot_f16(a, b) },
            |w, v, dst| unsafe { add_f16(w, v, dst) },
        );
    }

    /// One query row over Q8_0 blocks (see `super::row_attention`).
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn q8_0_row(row: Row<Block>) {
        // SAFETY (both closures): as in `f16_row`; a block is 4 chunks of 8.
        softmax_row(
            row,
            |a, b| unsafe { dot_q8_0(a, b) },
            |w, v, dst| unsafe { add_q8_0(w, v, dst) },
        );
    }

    /// Eight f16 values as f32.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load8(p: &[f16]) -> __m256 {
        _mm256_cvtph_ps(_mm_loadu_si128(p.as_ptr() as *const __m128i))
    }

    /// Eight i8 values as f32.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn widen8(p: &[i8]) -> __m256 {
        let bytes = _mm_loadl_epi64(p.as_ptr() as *const __m128i);
        _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes))
    }

    /// The sum of the eight lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn sum8(acc: __m256) -> f32 {
        let pair = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps::<1>(acc));
        let pair = _mm_add_ps(pair, _mm_movehl_ps(pair, pair));
        _mm_cvtss_f32(_mm_add_ss(pair, _mm_shuffle_ps::<1>(pair, pair)))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn dot_f16(a: &[f32], b: &[f16]) -> f32 {
        let mut acc = _mm256_setzero_ps();
        for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(x.as_ptr()), load8(y), acc);
        }
        sum8(acc)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn add_f16(w: f32, v: &[f16], dst: &mut [f32]) {
        let w = _mm256_set1_ps(w);
        for (d, x) in dst.chunks_exact_mut(8).zip(v.chunks_exact(8)) {
            let sum = _mm256_fmadd_ps(w, load8(x), _mm256_loadu_ps(d.as_ptr()));
            _mm256_storeu_ps(d.as_mut_ptr(), sum);
        }
    }

    /// Each block's 32 products summed, then scaled by the block's `d` once.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn dot_q8_0(a: &[f32], b: &[Block]) -> f32 {
        let mut acc = _mm256_setzero_ps();
        for (x, block) in a.chunks_exact(32).zip(b) {
            let mut sum = _mm256_setzero_ps();
            for (x, q) in x.chunks_exact(8).zip(block.qs.chunks_exact(8)) {
                sum = _mm256_fmadd_ps(_mm256_loadu_ps(x.as_ptr()), widen8(q), sum);
            }
            acc = _mm256_fmadd_ps(sum, _mm256_set1_ps(block.d.to_f32()), acc);
        }
        sum8(acc)
    }

    /// `w` times each block's `d` once, then times its 32 values.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn add_q8_0(w: f32, v: &[Block], dst: &mut [f32]) {
        for (d, block) in dst.chunks_exact_mut(32).zip(v) {
            let w = _mm256_set1_ps(w * block.d.to_f32());
            for (d, q) in d.chunks_exact_mut(8).zip(block.qs.chunks_exact(8)) {
                let sum = _mm256_fmadd_ps(w, widen8(q), _mm256_loadu_ps(d.as_ptr()));
                _mm256_storeu_ps(d.as_mut_ptr(), sum);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPES: [KvCacheType; 2] = [KvCacheType::F16, KvCacheType::Q8_0];

    fn values(n: usize, salt: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i as f32 * 0.37 + salt).sin()) * 0.8)
            .collect()
    }

    /// Keys or values whose 32-value blocks differ in scale, zeros (a block of scale 0)
    /// included, with a spike now and then: what Q8_0's per-block scales must cope with.
    fn uneven(n: usize, salt: f32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let scale = [0.05, 0.5, 1.0, 0.0, 0.7][(i / 32) % 5];
                let spike = if i % 97 == 0 { 3.0 } else { 1.0 };
                (i as f32 * 0.37 + salt).sin() * scale * spike
            })
            .collect()
    }

    /// What a cache of `kind` holds for whole rows `x`, as f32, from the formats' definitions
    /// rather than the cache's code: f16 rounding, or Q8_0's per 32 values (scale the largest
    /// magnitude over 127, values rounded to the nearest step, the scale kept as f16).
    fn rounded(kind: KvCacheType, x: &[f32]) -> Vec<f32> {
        let q8_0 = |block: &[f32]| -> Vec<f32> {
            let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
            let step = amax / 127.0;
            let inv = if amax == 0.0 { 0.0 } else { 1.0 / step };
            let d = f16::from_f32(step).to_f32();
            block.iter().map(|v| (v * inv).round() * d).collect()
        };
        match kind {
            KvCacheType::F16 => x.iter().map(|v| f16::from_f32(*v).to_f32()).collect(),
            KvCacheType::Q8_0 => x.chunks(Q8_BLOCK).flat_map(q8_0).collect(),
        }
    }

    /// Attention in plain f32 over keys and values `[kv head][len][dim]` as given.
    fn reference(
        k: &[f32],
        v: &[f32],
        (kv_heads, len, dim): (usize, usize, usize),
        q: &[f32],
        seq: usize,
        span: Span,
    ) -> Vec<f32> {
        let mut out = vec![0f32; seq * span.heads * dim];
        for head in 0..span.heads {
            let kv = head / (span.heads / kv_heads);
            for i in 0..seq {
                let pos = len - seq + i;
                let lo = span.window.map_or(0, |w| (pos + 1).saturating_sub(w));
                let query = &q[(head * seq + i) * dim..][..dim];
                let scores: Vec<f32> = (lo..=pos)
                    .map(|j| {
                        let key = &k[(kv * len + j) * dim..][..dim];
                        span.scale * query.iter().zip(key).map(|(a, b)| a * b).sum::<f32>()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                let e: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f32 = e.iter().sum();
                for (j, w) in (lo..=pos).zip(&e) {
                    for d in 0..dim {
                        out[(i * span.heads + head) * dim + d] +=
                            w / total * v[(kv * len + j) * dim + d];
                    }
                }
            }
        }
        out
    }

    /// Appends `[kv head][len][dim]` keys and values in pieces of `step` positions.
    fn filled(
        kind: KvCacheType,
        (k, v): (&[f32], &[f32]),
        (kv_heads, len, dim): (usize, usize, usize),
        step: usize,
        limit: usize,
    ) -> KvCache {
        let mut cache = KvCache::new(kv_heads, dim, limit, kind).unwrap();
        let mut at = 0;
        while at < len {
            let n = step.min(len - at);
            let part = |x: &[f32]| -> Vec<f32> {
                (0..kv_heads)
                    .flat_map(|h| x[(h * len + at) * dim..(h * len + at + n) * dim].to_vec())
                    .collect()
            };
            cache.append(&part(k), &part(v), n).unwrap();
            at += n;
        }
        cache
    }

    /// `attend` on the plain-Rust rows, or on the AVX2 ones.
    fn attend_on(cache: &KvCache, simd: bool, q: &[f32], seq: usize, span: Span) -> Vec<f32> {
        let mut out = vec![0f32; q.len()];
        with_rows!(&cache.store, rows => cache.attend_rows(rows, simd, (q, seq), span, &mut out));
        out
    }

    /// The paths this CPU can run: plain Rust always, AVX2 where it has it.
    fn paths() -> Vec<bool> {
        [false, true]
            .into_iter()
            .filter(|simd| !simd || fast_kernel_available())
            .collect()
    }

    /// Both layouts, both paths, against f32 attention over what the cache holds: 300 positions
    /// (the cache grows past its first allocation), 3 query heads per key head, heads of 64
    /// (two Q8_0 blocks). The sums are the same f32 arithmetic in another order: the outputs
    /// agree to 5e-7 here. 1e-5 leaves room for that and no more: the other layout's rounding
    /// moves outputs by 6e-4 to 6e-3.
    #[test]
    fn attention_equals_plain_f32_attention_over_the_rounded_cache() {
        let (kv_heads, len, dim, heads) = (2, 300, 64, 6);
        let (k, v) = (
            uneven(kv_heads * len * dim, 0.1),
            uneven(kv_heads * len * dim, 0.7),
        );
        for kind in TYPES {
            let cache = filled(kind, (&k, &v), (kv_heads, len, dim), 37, 4096);
            let (k, v) = (rounded(kind, &k), rounded(kind, &v));
            for (seq, window) in [(1, None), (5, None), (5, Some(7)), (1, Some(300))] {
                let span = Span {
                    heads,
                    scale: 0.125,
                    window,
                };
                let q = values(heads * seq * dim, 1.3);
                let want = reference(&k, &v, (kv_heads, len, dim), &q, seq, span);
                for simd in paths() {
                    let got = attend_on(&cache, simd, &q, seq, span);
                    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                        assert!(
                            (g - w).abs() <= 1e-5,
                            "{kind:?} simd {simd} seq {seq} window {window:?}, value {i}: {g} vs {w}"
                        );
                    }
                }
            }
        }
    }

    /// Q8_0 against f16 on the same keys and values, within a bound that follows from what
    /// the two caches hold (`rounded`, which the test above holds each cache to). With `Δs` the
    /// largest difference of a row's scores `scale q · k` between the caches, every softmax
    /// weight moves by at most a factor `e^{±2Δs}`, so output `d` moves by at most
    /// `(e^{2Δs} - 1) max_j |v_jd| + max_j |Δv_jd|` (weights moved, plus values moved), and
    /// float rounding adds 1e-5. Q8_0's step is `amax / 127` per block against f16's 11 bits,
    /// so `Δv` is up to `amax / 254`: the bound comes to 2e-2 to 5e-2 here, for values of
    /// magnitude up to 3. It is a worst case (every weight moved against the output, the
    /// largest value error of 200 positions); the differences seen are at most 9e-4, since the
    /// output averages the values' errors.
    #[test]
    fn a_q8_0_cache_answers_within_its_rounding_bound_of_the_f16_cache() {
        let (kv_heads, len, dim, heads) = (1, 200, 64, 2);
        let (k, v) = (uneven(len * dim, 0.4), uneven(len * dim, 2.2));
        let (seq, span) = (
            4,
            Span {
                heads,
                scale: 0.125,
                window: None,
            },
        );
        let q = values(heads * seq * dim, 0.5);
        let answer = |kind| {
            let cache = filled(kind, (&k, &v), (kv_heads, len, dim), 64, 512);
            let mut out = vec![0f32; q.len()];
            cache.attend(&q, seq, span, &mut out);
            out
        };
        let (f16_out, q8_out) = (answer(KvCacheType::F16), answer(KvCacheType::Q8_0));
        let (k16, k8) = (
            rounded(KvCacheType::F16, &k),
            rounded(KvCacheType::Q8_0, &k),
        );
        let (v16, v8) = (
            rounded(KvCacheType::F16, &v),
            rounded(KvCacheType::Q8_0, &v),
        );
        let mut widest = 0f32;
        for head in 0..heads {
            for i in 0..seq {
                let query = &q[(head * seq + i) * dim..][..dim];
                let score = |keys: &[f32], j: usize| -> f32 {
                    let key = &keys[j * dim..][..dim];
                    span.scale * query.iter().zip(key).map(|(a, b)| a * b).sum::<f32>()
                };
                let shift = (0..len)
                    .map(|j| (score(&k8, j) - score(&k16, j)).abs())
                    .fold(0f32, f32::max);
                let at = (i * heads + head) * dim;
                for d in 0..dim {
                    let column = (0..len).map(|j| (v8[j * dim + d], v16[j * dim + d]));
                    let (v_max, moved) = column.fold((0f32, 0f32), |(m, e), (a, b)| {
                        (m.max(a.abs()), e.max((a - b).abs()))
                    });
                    let bound = ((2.0 * shift).exp() - 1.0) * v_max + moved + 1e-5;
                    let diff = (q8_out[at + d] - f16_out[at + d]).abs();
                    assert!(
                        diff <= bound,
                        "head {head} row {i} dim {d}: {diff} > {bound}"
                    );
                    widest = widest.max(diff);
                }
            }
        }
        assert!(
            widest > 0.0,
            "the two caches answered alike: Q8_0 was not used"
        );
    }

    #[test]
    fn a_truncated_cache_answers_as_one_filled_only_that_far() {
        let (kv_heads, len, dim) = (1, 40, 32);
        let (k, v) = (values(len * dim, 0.2), values(len * dim, 0.9));
        for kind in TYPES {
            let mut cut = filled(kind, (&k, &v), (kv_heads, len, dim), 40, 64);
            cut.truncate(25);
            // Different keys after the cut: the first 25 must be all that is left of the old.
            let (k2, v2) = (values(15 * dim, 5.0), values(15 * dim, 6.0));
            cut.append(&k2, &v2, 15).unwrap();
            let mut k_fresh: Vec<f32> = k[..25 * dim].to_vec();
            k_fresh.extend(&k2);
            let mut v_fresh: Vec<f32> = v[..25 * dim].to_vec();
            v_fresh.extend(&v2);
            let fresh = filled(kind, (&k_fresh, &v_fresh), (kv_heads, len, dim), 7, 64);
            let span = Span {
                heads: 2,
                scale: 0.3,
                window: None,
            };
            let q = values(2 * 3 * dim, 2.0);
            let (mut a, mut b) = (vec![0f32; q.len()], vec![0f32; q.len()]);
            cut.attend(&q, 3, span, &mut a);
            fresh.attend(&q, 3, span, &mut b);
            assert_eq!(a, b, "{kind:?}");
        }
    }

    #[test]
    fn the_cache_grows_as_needed_and_refuses_to_pass_its_limit() {
        // Two heads of 32 values: 64 bytes a row in f16, one 34-byte block in Q8_0.
        for (kind, row) in [(KvCacheType::F16, 64), (KvCacheType::Q8_0, 34)] {
            assert_eq!(kind.row_bytes(32), Ok(row));
            let mut cache = KvCache::new(2, 32, 600, kind).unwrap();
            assert_eq!(
                cache.bytes(),
                0,
                "nothing is allocated before the first position"
            );
            cache.append(&[0.5; 2 * 32], &[0.5; 2 * 32], 1).unwrap();
            assert_eq!(
                cache.bytes(),
                2 * 2 * 256 * row,
                "{kind:?}: the first allocation is 256 positions"
            );
            let rest = vec![0.5; 2 * 599 * 32];
            cache.append(&rest, &rest, 599).unwrap();
            assert_eq!(
                cache.bytes(),
                2 * 2 * 600 * row,
                "{kind:?}: never more than the limit"
            );
            assert_eq!(cache.append(&[0.5; 2 * 32], &[0.5; 2 * 32], 1), Err(600));
            assert_eq!(cache.len(), 600);
        }
    }

    #[test]
    fn a_q8_0_cache_refuses_heads_that_are_not_whole_blocks() {
        let why = "a q8_0 KV cache holds heads of a multiple of 32 values, not 48";
        assert_eq!(KvCacheType::Q8_0.row_bytes(48), Err(why.to_owned()));
        let err = KvCache::new(1, 48, 16, KvCacheType::Q8_0).err();
        assert_eq!(err.as_deref(), Some(why));
        assert!(KvCache::new(1, 48, 16, KvCacheType::F16).is_ok());
    }

    #[test]
    fn cache_types_are_read_by_llama_cpp_s_names_and_others_are_refused_with_the_choices() {
        for kind in TYPES {
            assert_eq!(kind.name().parse::<KvCacheType>(), Ok(kind));
        }
        assert_eq!(
            "q4_0".parse::<KvCacheType>(),
            Err("unknown KV cache type `q4_0`: expected `f16` or `q8_0`".to_owned())
        );
        assert!("F16".parse::<KvCacheType>().is_err(), "names are exact");
    }
}
