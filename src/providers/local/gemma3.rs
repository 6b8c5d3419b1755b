//! The Gemma 3 transformer, by Hearth's own forward pass: llama.cpp's graph for `gemma3`.
//! candle-transformers 0.11's `quantized_gemma3` gates its feed-forward with SiLU where Gemma
//! uses GELU (tanh approximation), so its logits on the real Gemma 3 270M file were about a
//! third too large and ranked differently from llama.cpp's (`tests/local_gemma.rs`); this one
//! agrees with llama.cpp, cuts its key/value cache back to a shared prefix as the llama pass
//! does, and masks the sliding-window layers as llama.cpp does.
//!
//! Per layer: RMS norm, attention (q and k each RMS-normed per head, rotated in halves with
//! `rope.freq_base_swa` (10,000) on sliding-window layers and the file's base and linear
//! scaling on the global ones), RMS norm of its output, residual; RMS norm, GELU-gated
//! feed-forward, RMS norm of its output, residual. Which layers slide is
//! `attention.sliding_window_pattern`: a flag per layer, or every n-th layer global (n = 6 when
//! unsaid); none when the file has no window. Embeddings are scaled by the square root of the
//! width; the output head is the embedding (tied), its logits soft-capped when the file says.

use std::io::{Read, Seek};

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::{Device, IndexOp, Module, Result, Tensor};
use candle_transformers::quantized_nn::RmsNorm;

use super::blocks::{
    attend_cached, linear_rope_scale, meta_f32, meta_u32, Linear, Loader, Rope, RopeStyle, Rotation,
};
use super::quant::attention::{KvCache, KvCacheType, Span};

/// One layer in this many attends globally when the file does not say (llama.cpp's default).
const GLOBAL_EVERY: usize = 6;
/// The rotary base of the sliding-window layers when the file does not say.
const LOCAL_ROPE_BASE: f32 = 10_000.0;
/// The rotary base of the global layers when the file does not say.
const ROPE_BASE: f32 = 10_000.0;
/// Gemma 3 27B, whose queries are scaled by the width per head rather than the head size.
const LAYERS_OF_27B: usize = 62;

struct Layer {
    attn_norm: RmsNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    q_norm: RmsNorm,
    k_norm: RmsNorm,
    post_attn_norm: RmsNorm,
    ffn_norm: RmsNorm,
    gate: Linear,
    up: Linear,
    down: Linear,
    post_ffn_norm: RmsNorm,
    /// The sliding window of this layer, or None for a global one.
    window: Option<usize>,
    /// Keys and values of every position fed so far.
    cache: KvCache,
}

/// A loaded Gemma 3 model and its key/value cache.
pub struct Gemma3 {
    /// The embedding, also the output head (tied).
    embed: Linear,
    scale: f64,
    layers: Vec<Layer>,
    norm: RmsNorm,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    /// Queries and keys' product is multiplied by this.
    attention_scale: f32,
    local_rope: Rope,
    global_rope: Rope,
    /// Logits pass through `cap * tanh(logit / cap)` (`final_logit_softcapping`).
    softcap: Option<f64>,
}

impl Gemma3 {
    /// Loads the weights named as llama.cpp names them.
    /// Each layer gets an empty key/value cache of `kv` for up to `context` positions.
    pub fn from_gguf<R: Read + Seek>(
        ct: &Content,
        r: &mut R,
        (context, kv): (usize, KvCacheType),
        device: &Device,
    ) -> Result<Gemma3> {
        let heads = meta_u32(ct, "gemma3.attention.head_count")?;
        let kv_heads = meta_u32(ct, "gemma3.attention.head_count_kv")?;
        let hidden = meta_u32(ct, "gemma3.embedding_length")?;
        let head_dim = meta_u32(ct, "gemma3.attention.key_length")?;
        if heads == 0 || kv_heads == 0 || !heads.is_multiple_of(kv_heads) {
            candle_core::bail!("inconsistent head counts: {heads} heads, {kv_heads} kv heads");
        }
        // The rotary tables are sized by this, so a hostile value must not reach them.
        if head_dim == 0 || head_dim > 1024 || !head_dim.is_multiple_of(2) {
            candle_core::bail!("unusable attention key length {head_dim}");
        }
        let eps = match meta_f32(ct, "gemma3.attention.layer_norm_rms_epsilon")? {
            Some(v) => f64::from(v),
            None => candle_core::bail!("cannot find the rms norm epsilon in metadata"),
        };
        let layer_count = meta_u32(ct, "gemma3.block_count")?;
        let sliding = sliding_layers(ct, layer_count)?;
        let base = meta_f32(ct, "gemma3.rope.freq_base")?.unwrap_or(ROPE_BASE);
        let local_base = meta_f32(ct, "gemma3.rope.freq_base_swa")?.unwrap_or(LOCAL_ROPE_BASE);
        let softcap = meta_f32(ct, "gemma3.final_logit_softcapping")?.filter(|c| *c != 0.0);
        let attention_scale = match layer_count {
            LAYERS_OF_27B => 1.0 / ((hidden / heads) as f32).sqrt(),
            _ => 1.0 / (head_dim as f32).sqrt(),
        };
        let mut l = Loader::new(ct, r, device);
        let embed = l.linear("token_embd.weight")?;
        let norm = l.norm("output_norm.weight", eps)?;
        let mut layers = Vec::new();
        for (i, window) in sliding.into_iter().enumerate() {
            let w = |part: &str| format!("blk.{i}.{part}.weight");
            layers.push(Layer {
                attn_norm: l.norm(&w("attn_norm"), eps)?,
                q: l.linear(&w("attn_q"))?,
                k: l.linear(&w("attn_k"))?,
                v: l.linear(&w("attn_v"))?,
                o: l.linear(&w("attn_output"))?,
                q_norm: l.norm(&w("attn_q_norm"), eps)?,
                k_norm: l.norm(&w("attn_k_norm"), eps)?,
                post_attn_norm: l.norm(&w("post_attention_norm"), eps)?,
                ffn_norm: l.norm(&w("ffn_norm"), eps)?,
                gate: l.linear(&w("ffn_gate"))?,
                up: l.linear(&w("ffn_up"))?,
                down: l.linear(&w("ffn_down"))?,
                post_ffn_norm: l.norm(&w("post_ffw_norm"), eps)?,
                window,
                cache: KvCache::new(kv_heads, head_dim, context, kv)
                    .map_err(candle_core::Error::Msg)?,
            });
        }
        Ok(Gemma3 {
            embed,
            scale: (hidden as f64).sqrt(),
            layers,
            norm,
            heads,
            kv_heads,
            head_dim,
            attention_scale,
            local_rope: Rope::new(head_dim, local_base, None, RopeStyle::Halves)?,
            global_rope: Rope::new(head_dim, base, None, RopeStyle::Halves)?
                .stretched(linear_rope_scale(ct, "gemma3")?),
            softcap: softcap.map(f64::from),
        })
    }

    /// Logits of the next token after `ids` (batch, sequence) placed at positions `pos..`.
    /// The cache keeps the first `pos` positions of what was fed before and drops the rest,
    /// so `pos` may be anything up to the number of positions fed so far.
    pub fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        let (_, seq) = ids.dims2()?;
        let mut x = (self.embed.embedding(ids)? * self.scale)?;
        let local = self.local_rope.at(pos, seq, ids.device())?;
        let global = self.global_rope.at(pos, seq, ids.device())?;
        let (heads, kv_heads, head_dim) = (self.heads, self.kv_heads, self.head_dim);
        for layer in &mut self.layers {
            let rotation = match layer.window {
                Some(_) => &local,
                None => &global,
            };
            let shape = (heads, kv_heads, head_dim, self.attention_scale);
            let h = layer.attend(&layer.attn_norm.forward(&x)?, pos, rotation, shape)?;
            x = (x + layer.post_attn_norm.forward(&h)?)?;
            let h = layer.ffn_norm.forward(&x)?;
            let [gate, up] = Linear::forward_all([&layer.gate, &layer.up], &h)?;
            let gated = (gate.gelu()? * up)?;
            x = (x + layer.post_ffn_norm.forward(&layer.down.forward(&gated)?)?)?;
        }
        let last = self.norm.forward(&x)?.i((.., seq - 1, ..))?;
        let logits = self.embed.forward(&last)?;
        match self.softcap {
            Some(cap) => (logits / cap)?.tanh()? * cap,
            None => Ok(logits),
        }
    }
}

/// Each layer's sliding window (None for a global layer), as llama.cpp reads a gemma3 file:
/// no window at all when `attention.sliding_window` is absent or 0; else the layers
/// `attention.sliding_window_pattern` flags (an array of a flag per layer), or with a number
/// n there (6 when absent) every layer but each n-th, and all of them when n is 0.
fn sliding_layers(ct: &Content, layers: usize) -> Result<Vec<Option<usize>>> {
    let window = match ct.metadata.get("gemma3.attention.sliding_window") {
        Some(v) => v.to_u32()? as usize,
        None => 0,
    };
    if window == 0 {
        return Ok(vec![None; layers]);
    }
    let slides: Vec<bool> = match ct.metadata.get("gemma3.attention.sliding_window_pattern") {
        Some(Value::Array(flags)) => {
            if flags.len() != layers {
                candle_core::bail!(
                    "a sliding-window pattern of {} for {layers} layers",
                    flags.len()
                );
            }
            flags.iter().map(|f| f.to_bool()).collect::<Result<_>>()?
        }
        pattern => {
            let n = pattern
                .map(|v| v.to_u32())
                .transpose()?
                .map_or(GLOBAL_EVERY, |n| n as usize);
            (0..layers).map(|i| n == 0 || i % n < n - 1).collect()
        }
    };
    Ok(slides.into_iter().map(|s| s.then_some(window)).collect())
}

impl Layer {
    /// Attention for new positions `pos..`, after cutting the cache back to `pos` entries.
    fn attend(
        &mut self,
        x: &Tensor,
        pos: usize,
        rotation: &Rotation,
        (heads, kv_heads, head_dim, scale): (usize, usize, usize, f32),
    ) -> Result<Tensor> {
        let (b, seq, _) = x.dims3()?;
        let split = |t: Tensor, n: usize| -> Result<Tensor> {
            t.reshape((b, seq, n, head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let [q, k, v] = Linear::forward_all([&self.q, &self.k, &self.v], x)?;
        let q = self.q_norm.forward(&split(q, heads)?)?;
        let k = self.k_norm.forward(&split(k, kv_heads)?)?;
        let v = split(v, kv_heads)?;
        let (q, k) = (rotation.apply(&q)?, rotation.apply(&k)?);
        let span = Span {
            heads,
            scale,
            window: self.window,
        };
        let y = attend_cached(&mut self.cache, pos, (&q, &k, &v), span)?;
        self.o.forward(&y)
    }
}

#[cfg(test)]
mod tests {
    use super::super::gguf::metadata_only;
    use super::*;

    fn windows(entries: &[(&str, Value)], layers: usize) -> Result<Vec<Option<usize>>> {
        let keys = entries
            .iter()
            .map(|(k, v)| (format!("gemma3.attention.{k}"), v));
        sliding_layers(&metadata_only(keys), layers)
    }

    #[test]
    fn the_sliding_layers_are_the_ones_llama_cpp_reads_from_the_file() {
        let window = ("sliding_window", Value::U32(8));
        let (s, g) = (Some(8), None);
        // No window, or a window of 0: every layer attends globally.
        assert_eq!(windows(&[], 3).unwrap(), [g, g, g]);
        let zero = ("sliding_window", Value::U32(0));
        assert_eq!(windows(&[zero], 3).unwrap(), [g, g, g]);
        // No pattern: every sixth layer global, the last of each six.
        let unsaid = windows(std::slice::from_ref(&window), 7).unwrap();
        assert_eq!(unsaid, [s, s, s, s, s, g, s]);
        let every_third = ("sliding_window_pattern", Value::U32(3));
        let third = windows(&[window.clone(), every_third], 6).unwrap();
        assert_eq!(third, [s, s, g, s, s, g]);
        let none_global = ("sliding_window_pattern", Value::U32(0));
        assert_eq!(windows(&[window.clone(), none_global], 2).unwrap(), [s, s]);
        // A flag per layer, which must cover every layer.
        let flags = |f: &[bool]| {
            let flags = f.iter().map(|b| Value::Bool(*b)).collect();
            ("sliding_window_pattern", Value::Array(flags))
        };
        let flagged = windows(&[window.clone(), flags(&[false, true, true])], 3).unwrap();
        assert_eq!(flagged, [g, s, s]);
        let short = windows(&[window, flags(&[true])], 3)
            .unwrap_err()
            .to_string();
        assert!(
            short.contains("a sliding-window pattern of 1 for 3 layers"),
            "{short}"
        );
    }
}
