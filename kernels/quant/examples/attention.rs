//! Times one decode step's attention (one query row per head) over a filled cache, f16
//! against Q8_0: the part of a token's time the cache type changes, apart from the rest of
//! the model and less exposed to a busy machine than a whole decode.
//!
//!   cargo run --release -p hearth-quant --example attention -- 3 9 64 512
//!
//! Arguments: key heads, query heads, head dim, positions held (SmolLM2-135M: 3 9 64; Gemma 3
//! 270M: 1 4 256). Prints the median and the fastest of 301 calls for each cache type, and the
//! bytes of keys and values each call reads.

use std::time::{Duration, Instant};

use hearth_quant::attention::{KvCache, KvCacheType, Span};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let [kv_heads, heads, dim, len] = args.as_slice() else {
        return Err("usage: attention KV_HEADS HEADS DIM POSITIONS".into());
    };
    let (kv_heads, heads, dim, len) = (*kv_heads, *heads, *dim, *len);
    let keys: Vec<f32> = (0..kv_heads * len * dim)
        .map(|i| ((i * 7919 % 1009) as f32 / 1009.0 - 0.5) * 4.0)
        .collect();
    let q: Vec<f32> = (0..heads * dim)
        .map(|i| ((i * 31 % 97) as f32 - 48.0) / 50.0)
        .collect();
    let span = Span {
        heads,
        scale: 1.0 / (dim as f32).sqrt(),
        window: None,
    };
    println!(
        "{kv_heads} key heads, {heads} query heads of {dim}, {len} positions, kernel {}",
        hearth_quant::kernel().name()
    );
    for kind in [KvCacheType::F16, KvCacheType::Q8_0] {
        let mut cache = KvCache::new(kv_heads, dim, len, kind)?;
        cache
            .append(&keys, &keys, len)
            .map_err(|limit| format!("over the limit of {limit}"))?;
        let mut out = vec![0f32; heads * dim];
        let (median, fastest) = times(|| cache.attend(&q, 1, span, &mut out));
        let read = 2 * kv_heads * len * kind.row_bytes(dim)?;
        println!(
            "  {:>4}: median {:>7.1} us, fastest {:>7.1} us, {:.2} MB of keys and values",
            kind.name(),
            median.as_secs_f64() * 1e6,
            fastest.as_secs_f64() * 1e6,
            read as f64 / 1e6
        );
    }
    Ok(())
}

/// The median and the fastest of 301 calls, after one untimed call.
fn times(mut f: impl FnMut()) -> (Duration, Duration) {
    f();
    let mut times: Vec<Duration> = (0..301)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    (times[times.len() / 2], times[0])
}
