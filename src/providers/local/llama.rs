//! The llama-shaped transformers: `llama` (SmolLM2, Llama 3.x with its rope frequency factors,
//! TinyLlama, and Mistral, whose GGUF files say `llama`), `qwen2` (biases on q, k and v) and
//! `qwen3` (q and k RMS-normed per head), run by Hearth's own forward pass over candle tensors
//! rather than candle-transformers' models, for two reasons: quantized projections go through
//! the tiled kernels in `kernels/quant`, and the key/value cache can be cut back to any
//! position, so a prompt that starts like the previous one (a long system prompt, the earlier
//! turns of a thread) is not computed again. The computation is llama.cpp's graph for each:
//! the same GGUF tensor names, RMS norm, rotary embedding (llama's interleaved, qwen's in
//! halves), grouped-query attention and SiLU-gated feed-forward.

use std::io::{Read, Seek};
use std::sync::Arc;

use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::QMatMul;
use candle_core::{Device, IndexOp, Module, Result, Tensor};
use candle_transformers::quantized_nn::RmsNorm;

use super::blocks::{attend_cached, meta_u32, Linear, Loader, Rope, RopeStyle};
use super::quant::attention::{KvCache, Span};

/// What tells the families apart.
struct Family {
    /// The metadata prefix: `general.architecture`.
    arch: &'static str,
    rope: RopeStyle,
    /// qwen2: q, k and v projections have biases.
    biases: bool,
    /// qwen3: q and k are RMS-normed per head before rotating.
    qk_norm: bool,
}

impl Family {
    fn of(arch: &str) -> Option<Family> {
        let (arch, rope, biases, qk_norm) = match arch {
            "llama" => ("llama", RopeStyle::Interleaved, false, false),
            "qwen2" => ("qwen2", RopeStyle::Halves, true, false),
            "qwen3" => ("qwen3", RopeStyle::Halves, false, true),
            _ => return None,
        };
        Some(Family {
            arch,
            rope,
            biases,
            qk_norm,
        })
    }
}

struct Layer {
    attn_norm: RmsNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    /// qwen2's q, k and v biases.
    biases: Option<[Tensor; 3]>,
    /// qwen3's per-head norms of q and k.
    qk_norm: Option<(RmsNorm, RmsNorm)>,
    ffn_norm: RmsNorm,
    gate: Linear,
    up: Linear,
    down: Linear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    /// Keys and values of every position fed so far.
    cache: KvCache,
}

impl Layer {
    fn heads_of(&self, t: Tensor, heads: usize) -> Result<Tensor> {
        let (b, seq, _) = t.dims3()?;
        t.reshape((b, seq, heads, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// q, k and v of `x`, biased where the family has biases, split into heads, q and k
    /// normed where it norms them.
    fn qkv(&self, x: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
        let [mut q, mut k, mut v] = Linear::forward_all([&self.q, &self.k, &self.v], x)?;
        if let Some([bq, bk, bv]) = &self.biases {
            q = q.broadcast_add(bq)?;
            k = k.broadcast_add(bk)?;
            v = v.broadcast_add(bv)?;
        }
        let (mut q, mut k) = (
            self.heads_of(q, self.heads)?,
            self.heads_of(k, self.kv_heads)?,
        );
        if let Some((q_norm, k_norm)) = &self.qk_norm {
            q = q_norm.forward(&q)?;
            k = k_norm.forward(&k)?;
        }
        Ok((q, k, self.heads_of(v, self.kv_heads)?))
    }

    /// Attention for new positions `pos..`, after cutting the cache back to `pos` entries.
    fn attend(&mut self, x: &Tensor, pos: usize, rope: &Rope) -> Result<Tensor> {
        let (q, k, v) = self.qkv(x)?;
        let (q, k) = (rope.apply(&q, pos)?, rope.apply(&k, pos)?);
        let span = Span {
            heads: self.heads,
            scale: 1.0 / (self.head_dim as f32).sqrt(),
            window: None,
        };
        let y = attend_cached(&mut self.cache, pos, (&q, &k, &v), span)?;
        self.o.forward(&y)
    }

    fn feed_forward(&self, x: &Tensor) -> Result<Tensor> {
        let [gate, up] = Linear::forward_all([&self.gate, &self.up], x)?;
        self.down.forward(&(gate.silu()? * up)?)
    }
}

/// A loaded llama-family model and its key/value cache.
pub struct Llama {
    /// Kept quantized (rows are expanded as they are looked up); shared with the output
    /// projection when the file ties them, so the weights are in memory once.
    embed: Arc<Linear>,
    layers: Vec<Layer>,
    norm: RmsNorm,
    output: Arc<Linear>,
    rope: Rope,
}

impl Llama {
    /// Whether this pass runs files of architecture `arch`.
    pub fn runs(arch: &str) -> bool {
        Family::of(arch).is_some()
    }

    /// Loads the weights named as llama.cpp names them. Mixture-of-experts files are refused.
    pub fn from_gguf<R: Read + Seek>(
        ct: &Content,
        r: &mut R,
        context: usize,
        device: &Device,
    ) -> Result<Llama> {
        let arch = match ct.metadata.get("general.architecture") {
            Some(v) => v.to_string()?.clone(),
            None => candle_core::bail!("cannot find general.architecture in metadata"),
        };
        let Some(family) = Family::of(&arch) else {
            candle_core::bail!("architecture `{arch}` is not llama-shaped");
        };
        let key = |k: &str| format!("{}.{k}", family.arch);
        if ct.metadata.contains_key(&key("expert_count")) {
            candle_core::bail!("mixture-of-experts models are not supported");
        }
        let heads = meta_u32(ct, &key("attention.head_count"))?;
        let kv_heads = meta_u32(ct, &key("attention.head_count_kv"))?;
        let hidden = meta_u32(ct, &key("embedding_length"))?;
        if heads == 0
            || kv_heads == 0
            || !heads.is_multiple_of(kv_heads)
            || !hidden.is_multiple_of(heads)
        {
            candle_core::bail!("inconsistent head counts: {heads} heads, {kv_heads} kv heads");
        }
        // qwen3 heads are wider than hidden / heads; the file says so.
        let head_dim = match ct.metadata.get(&key("attention.key_length")) {
            Some(v) => v.to_u32()? as usize,
            None => hidden / heads,
        };
        let rope_dims = match ct.metadata.get(&key("rope.dimension_count")) {
            Some(v) => v.to_u32()? as usize,
            None => head_dim,
        };
        // The rotary tables are sized by these, so a hostile value must not reach them.
        if head_dim == 0 || head_dim > 1024 || !head_dim.is_multiple_of(2) {
            candle_core::bail!("unusable attention key length {head_dim}");
        }
        // Every family here rotates whole heads (phi3's partial rotation is not one of them).
        if rope_dims != head_dim {
            candle_core::bail!("rope dimension {rope_dims} does not fit heads of {head_dim}");
        }
        let eps = match ct.metadata.get(&key("attention.layer_norm_rms_epsilon")) {
            Some(v) => f64::from(v.to_f32()?),
            None => candle_core::bail!("cannot find the rms norm epsilon in metadata"),
        };
        let base = ct
            .metadata
            .get(&key("rope.freq_base"))
            .and_then(|v| v.to_f32().ok())
            .unwrap_or(10_000.0);
        let mut l = Loader::new(ct, r, device);
        // Llama 3.1 and later stretch the low rotary frequencies by these factors.
        let factors = match l.has("rope_freqs.weight") {
            true => Some(
                l.tensor("rope_freqs.weight")?
                    .dequantize(device)?
                    .to_vec1::<f32>()?,
            ),
            false => None,
        };
        let norm = l.norm("output_norm.weight", eps)?;
        let (embed, output) = match l.has("output.weight") {
            // Only looked up, a few rows a step: candle's rows, read from the file's blocks.
            true => (
                Arc::new(Linear::Candle(QMatMul::from_qtensor(
                    l.tensor("token_embd.weight")?,
                )?)),
                Arc::new(l.linear("output.weight")?),
            ),
            false => {
                let tied = Arc::new(l.linear("token_embd.weight")?);
                (tied.clone(), tied)
            }
        };
        let mut layers = Vec::new();
        for i in 0..meta_u32(ct, &key("block_count"))? {
            let w = |part: &str| format!("blk.{i}.{part}");
            let biases = match family.biases {
                true => Some([
                    l.tensor(&w("attn_q.bias"))?.dequantize(device)?,
                    l.tensor(&w("attn_k.bias"))?.dequantize(device)?,
                    l.tensor(&w("attn_v.bias"))?.dequantize(device)?,
                ]),
                false => None,
            };
            let qk_norm = match family.qk_norm {
                true => Some((
                    l.norm(&w("attn_q_norm.weight"), eps)?,
                    l.norm(&w("attn_k_norm.weight"), eps)?,
                )),
                false => None,
            };
            layers.push(Layer {
                attn_norm: l.norm(&w("attn_norm.weight"), eps)?,
                q: l.linear(&w("attn_q.weight"))?,
                k: l.linear(&w("attn_k.weight"))?,
                v: l.linear(&w("attn_v.weight"))?,
                o: l.linear(&w("attn_output.weight"))?,
                biases,
                qk_norm,
                ffn_norm: l.norm(&w("ffn_norm.weight"), eps)?,
                gate: l.linear(&w("ffn_gate.weight"))?,
                up: l.linear(&w("ffn_up.weight"))?,
                down: l.linear(&w("ffn_down.weight"))?,
                heads,
                kv_heads,
                head_dim,
                cache: KvCache::new(kv_heads, head_dim, context),
            });
        }
        Ok(Llama {
            embed,
            layers,
            norm,
            output,
            rope: Rope::new(
                rope_dims,
                base,
                factors.as_deref(),
                family.rope,
                context,
                device,
            )?,
        })
    }

    /// Logits of the next token after `ids` (batch, sequence) placed at positions `pos..`.
    /// The cache keeps the first `pos` positions of what was fed before and drops the rest,
    /// so `pos` may be anything up to the number of positions fed so far.
    pub fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        let (_, seq) = ids.dims2()?;
        let mut x = self.embed.embedding(ids)?;
        for layer in &mut self.layers {
            let h = layer.attend(&layer.attn_norm.forward(&x)?, pos, &self.rope)?;
            x = (x + h)?;
            let h = layer.feed_forward(&layer.ffn_norm.forward(&x)?)?;
            x = (x + h)?;
        }
        let last = self.norm.forward(&x)?.i((.., seq - 1, ..))?;
        self.output.forward(&last)
    }
}
