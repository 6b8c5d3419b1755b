//! Times one decode step's attention (one query row per head) over filled caches, f16
//! against Q8_0: the part of a token's time the cache type changes, apart from the rest of
//! the model and less exposed to a busy machine than a whole decode.
//!
//!   cargo run --release -p hearth-quant --example attention -- 3 9 64 512 30
//!
//! Arguments: key heads, query heads, head dim, positions held, layers (SmolLM2-135M: 3 9 64
//! and 30 layers; Gemma 3 270M: 1 4 256 and 18). One cache per layer, attended in turn as a
//! decode step does, so a layer's keys and values are no longer in the core's cache when
//! their turn comes again (one layer's alone would stay there and time the arithmetic only).
//! Prints, per cache type, the median and the fastest of 101 steps divided by the layers
//! (time per layer), and the bytes of keys and values one layer reads.

use std::time::{Duration, Instant};

use hearth_quant::attention::{KvCache, KvCacheType, Span};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let [kv_heads, heads, dim, len, layers] = args.as_slice() else {
        return Err("usage: attention KV_HEADS HEADS DIM POSITIONS LAYERS".into());
    };
    let (kv_heads, heads, dim, len, layers) = (*kv_heads, *heads, *dim, *len, *layers);
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
        "{kv_heads} key heads, {heads} query heads of {dim}, {len} positions, {layers} layers, \
         kernel {}",
        hearth_quant::kernel().name()
    );
    for kind in [KvCacheType::F16, KvCacheType::Q8_0] {
        let mut caches = Vec::new();
        for _ in 0..layers {
            let mut cache = KvCache::new(kv_heads, dim, len, kind)?;
            cache
                .append(&keys, &keys, len)
                .map_err(|limit| format!("over the limit of {limit}"))?;
            caches.push(cache);
        }
        let mut out = vec![0f32; heads * dim];
        let (median, fastest) = times(|| {
            for cache in &caches {
                cache.attend(&q, 1, span, &mut out);
            }
        });
        let (median, fastest) = (median / layers as u32, fastest / layers as u32);
        let read = 2 * kv_heads * len * kind.row_bytes(dim)?;
        println!(
            "  {:>4}: per layer median {:>6.1} us, fastest {:>6.1} us; {:.2} MB of keys and \
             values a layer",
            kind.name(),
            median.as_secs_f64() * 1e6,
            fastest.as_secs_f64() * 1e6,
            read as f64 / 1e6
        );
    }
    Ok(())
}

/// The median and the fastest of 101 calls, after one untimed call.
fn times(mut f: impl FnMut()) -> (Duration, Duration) {
    f();
    let mut times: Vec<Duration> = (0..101)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    (times[times.len() / 2], times[0])
}
