//! The key/value cache in f16 and the attention that reads it, fused: scores, causal and
//! sliding-window masking, softmax and the weighted sum of values in one pass per query row,
//! straight from the f16 cache.
//!
//! Built from candle tensors, each decoded token concatenated the whole cache anew, copied it
//! again for every query head sharing a key head, and built a mask; at a few hundred
//! positions that was a large share of a small model's time per token. Here the cache grows
//! in place (doubling, up to the context limit), can be cut back to any position (a reused
//! prompt prefix), and each query head reads its key head's rows where they lie. f16 halves
//! the cache's memory against f32, as llama.cpp's default cache does; scores and sums are
//! f32.

use half::f16;

use crate::fast_kernel_available;

/// The smallest allocation, in positions: a short chat never reallocates.
const FIRST_CAPACITY: usize = 256;

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
    k: Vec<f16>,
    v: Vec<f16>,
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
    /// An empty cache for `kv_heads` heads of `dim` values, never holding more than `limit`
    /// positions; nothing is allocated until the first append.
    pub fn new(kv_heads: usize, dim: usize, limit: usize) -> KvCache {
        KvCache {
            kv_heads,
            dim,
            capacity: 0,
            len: 0,
            limit,
            k: Vec::new(),
            v: Vec::new(),
        }
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
        (self.k.len() + self.v.len()) * std::mem::size_of::<f16>()
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
        let (dim, cap) = (self.dim, self.capacity);
        for h in 0..self.kv_heads {
            let from = h * seq * dim..(h + 1) * seq * dim;
            let to = (h * cap + self.len) * dim..(h * cap + need) * dim;
            to_f16(&k[from.clone()], &mut self.k[to.clone()]);
            to_f16(&v[from], &mut self.v[to]);
        }
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
        let dim = self.dim;
        let regrow = |old: &[f16]| {
            let mut new = vec![f16::ZERO; self.kv_heads * capacity * dim];
            for h in 0..self.kv_heads {
                let from = h * self.capacity * dim..(h * self.capacity + self.len) * dim;
                new[h * capacity * dim..][..self.len * dim].copy_from_slice(&old[from]);
            }
            new
        };
        self.k = regrow(&self.k);
        self.v = regrow(&self.v);
        self.capacity = capacity;
    }

    /// Attention of the last `seq` positions held over everything they may see: `q` is
    /// `[head][seq][dim]`, `out` is `[seq][head][dim]` (the layout the output projection
    /// reads). Rows are spread over candle's workers.
    pub fn attend(&self, q: &[f32], seq: usize, span: Span, out: &mut [f32]) {
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
        let simd = fast_kernel_available() && dim.is_multiple_of(8);
        let at = out.as_mut_ptr() as usize;
        candle_core::utils::barrier_pool().execute_chunked(span.heads * seq, |rows| {
            let mut scores = vec![0f32; self.len];
            for row in rows {
                let (head, i) = (row / seq, row % seq);
                let pos = first + i;
                let lo = span.window.map_or(0, |w| (pos + 1).saturating_sub(w));
                let kv = head / group;
                let keys =
                    &self.k[(kv * self.capacity + lo) * dim..(kv * self.capacity + pos + 1) * dim];
                let values =
                    &self.v[(kv * self.capacity + lo) * dim..(kv * self.capacity + pos + 1) * dim];
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
                row_attention(simd, query, keys, values, span.scale, scores, dst);
            }
        });
    }
}

/// One query row: `dst = softmax(scale * keys · query) · values`, on AVX2 where `simd` says
/// so. The SIMD row is one call with its dot products inlined: a call per key (the horizontal
/// sum included) cost the default model 8% of its decode time.
fn row_attention(
    simd: bool,
    query: &[f32],
    keys: &[f16],
    values: &[f16],
    scale: f32,
    scores: &mut [f32],
    dst: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `simd` is set only where `kernel()` found AVX2, FMA and F16C, and only for
        // head dims that are multiples of 8.
        return unsafe { avx2::row_attention((query, keys, values, scale, scores, dst)) };
    }
    let _ = simd;
    softmax_row(
        (query, keys, values, scale, scores, dst),
        |a, b| a.iter().zip(b).map(|(x, y)| x * y.to_f32()).sum(),
        |w, v, dst| {
            for (d, x) in dst.iter_mut().zip(v) {
                *d += w * x.to_f32();
            }
        },
    );
}

/// The arguments of one query row, as `row_attention` takes them.
type Row<'a> = (
    &'a [f32],
    &'a [f16],
    &'a [f16],
    f32,
    &'a mut [f32],
    &'a mut [f32],
);

/// The softmax-weighted sum of one row with the given dot product and scaled add.
#[inline(always)]
fn softmax_row(
    (query, keys, values, scale, scores, dst): Row,
    dot: impl Fn(&[f32], &[f16]) -> f32,
    add_scaled: impl Fn(f32, &[f16], &mut [f32]),
) {
    let dim = query.len();
    let mut max = f32::NEG_INFINITY;
    for (s, key) in scores.iter_mut().zip(keys.chunks_exact(dim)) {
        *s = scale * dot(query, key);
        max = max.max(*s);
    }
    let mut total = 0f32;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        total += *s;
    }
    dst.fill(0.0);
    for (s, value) in scores.iter().zip(values.chunks_exact(dim)) {
        add_scaled(s / total, value, dst);
    }
}

fn to_f16(from: &[f32], to: &mut [f16]) {
    for (t, f) in to.iter_mut().zip(from) {
        *t = f16::from_f32(*f);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use half::f16;

    /// Eight f16 values as f32.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load8(p: &[f16]) -> __m256 {
        _mm256_cvtph_ps(_mm_loadu_si128(p.as_ptr() as *const __m128i))
    }

    /// One query row (see `super::row_attention`).
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn row_attention(row: super::Row) {
        // SAFETY (both closures): this function runs only where the CPU has the features, and
        // the helpers read whole chunks of 8 that the slices hold.
        super::softmax_row(
            row,
            |a, b| unsafe { dot(a, b) },
            |w, v, dst| unsafe { add_scaled(w, v, dst) },
        );
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn dot(a: &[f32], b: &[f16]) -> f32 {
        let mut acc = _mm256_setzero_ps();
        for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(x.as_ptr()), load8(y), acc);
        }
        let pair = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps::<1>(acc));
        let pair = _mm_add_ps(pair, _mm_movehl_ps(pair, pair));
        _mm_cvtss_f32(_mm_add_ss(pair, _mm_shuffle_ps::<1>(pair, pair)))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn add_scaled(w: f32, v: &[f16], dst: &mut [f32]) {
        let w = _mm256_set1_ps(w);
        for (d, x) in dst.chunks_exact_mut(8).zip(v.chunks_exact(8)) {
            let sum = _mm256_fmadd_ps(w, load8(x), _mm256_loadu_ps(d.as_ptr()));
            _mm256_storeu_ps(d.as_mut_ptr(), sum);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, salt: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i as f32 * 0.37 + salt).sin()) * 0.8)
            .collect()
    }

    /// Attention in plain f32 over the f16-rounded keys and values: what `attend` computes.
    fn reference(
        k: &[f32],
        v: &[f32],
        (kv_heads, len, dim): (usize, usize, usize),
        q: &[f32],
        seq: usize,
        span: Span,
    ) -> Vec<f32> {
        let round = |x: f32| f16::from_f32(x).to_f32();
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
                        span.scale
                            * query
                                .iter()
                                .zip(key)
                                .map(|(a, b)| a * round(*b))
                                .sum::<f32>()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                let e: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f32 = e.iter().sum();
                for (j, w) in (lo..=pos).zip(&e) {
                    for d in 0..dim {
                        out[(i * span.heads + head) * dim + d] +=
                            w / total * round(v[(kv * len + j) * dim + d]);
                    }
                }
            }
        }
        out
    }

    /// Appends `[kv head][len][dim]` keys and values in pieces of `step` positions.
    fn filled(
        k: &[f32],
        v: &[f32],
        (kv_heads, len, dim): (usize, usize, usize),
        step: usize,
        limit: usize,
    ) -> KvCache {
        let mut cache = KvCache::new(kv_heads, dim, limit);
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

    #[test]
    fn attention_equals_plain_f32_attention_over_the_rounded_cache() {
        // 300 positions: the cache grows past its first allocation; 3 query heads per key head.
        let (kv_heads, len, dim, heads) = (2, 300, 16, 6);
        let (k, v) = (
            values(kv_heads * len * dim, 0.1),
            values(kv_heads * len * dim, 0.7),
        );
        let cache = filled(&k, &v, (kv_heads, len, dim), 37, 4096);
        for (seq, window) in [(1, None), (5, None), (5, Some(7)), (1, Some(300))] {
            let span = Span {
                heads,
                scale: 0.25,
                window,
            };
            let q = values(heads * seq * dim, 1.3);
            let mut got = vec![0f32; q.len()];
            cache.attend(&q, seq, span, &mut got);
            let want = reference(&k, &v, (kv_heads, len, dim), &q, seq, span);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-5,
                    "seq {seq} window {window:?}, value {i}: {g} vs {w}"
                );
            }
        }
    }

    #[test]
    fn a_truncated_cache_answers_as_one_filled_only_that_far() {
        let (kv_heads, len, dim) = (1, 40, 8);
        let (k, v) = (values(len * dim, 0.2), values(len * dim, 0.9));
        let mut cut = filled(&k, &v, (kv_heads, len, dim), 40, 64);
        cut.truncate(25);
        // Different keys after the cut: the first 25 must be all that is left of the old ones.
        let (k2, v2) = (values(15 * dim, 5.0), values(15 * dim, 6.0));
        cut.append(&k2, &v2, 15).unwrap();
        let mut k_fresh: Vec<f32> = k[..25 * dim].to_vec();
        k_fresh.extend(&k2);
        let mut v_fresh: Vec<f32> = v[..25 * dim].to_vec();
        v_fresh.extend(&v2);
        let fresh = filled(&k_fresh, &v_fresh, (kv_heads, len, dim), 7, 64);
        let span = Span {
            heads: 2,
            scale: 0.3,
            window: None,
        };
        let q = values(2 * 3 * dim, 2.0);
        let (mut a, mut b) = (vec![0f32; q.len()], vec![0f32; q.len()]);
        cut.attend(&q, 3, span, &mut a);
        fresh.attend(&q, 3, span, &mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn the_cache_grows_as_needed_and_refuses_to_pass_its_limit() {
        let mut cache = KvCache::new(2, 8, 600);
        assert_eq!(
            cache.bytes(),
            0,
            "nothing is allocated before the first position"
        );
        cache.append(&[0.5; 2 * 8], &[0.5; 2 * 8], 1).unwrap();
        assert_eq!(
            cache.bytes(),
            2 * 2 * 256 * 8 * 2,
            "the first allocation is 256 positions"
        );
        cache
            .append(&vec![0.5; 2 * 599 * 8], &vec![0.5; 2 * 599 * 8], 599)
            .unwrap();
        assert_eq!(
            cache.bytes(),
            2 * 2 * 600 * 8 * 2,
            "never more than the limit"
        );
        assert_eq!(cache.append(&[0.5; 2 * 8], &[0.5; 2 * 8], 1), Err(600));
        assert_eq!(cache.len(), 600);
    }
}
