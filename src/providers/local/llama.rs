//! The llama-shaped transformers: `llama` (SmolLM2, Llama 3.x with its rope frequency factors,
//! TinyLlama, and Mistral, whose GGUF files say `llama`), `qwen2` (biases on q, k and v),
//! `qwen3` (q and k RMS-normed per head) and `phi3` (Phi-3, Phi-3.5 and Phi-4-mini: q, k and v
//! in one matrix, gate and up in another, part of each head rotated, LongRoPE), run by
//! Hearth's own forward pass over candle tensors rather than candle-transformers' models, for
//! two reasons: quantized projections go through the tiled kernels in `kernels/quant`, and the
//! key/value cache can be cut back to any position, so a prompt that starts like the previous
//! one (a long system prompt, the earlier turns of a thread) is not computed again. The
//! computation is llama.cpp's graph for each: the same GGUF tensor names, RMS norm, rotary
//! embedding (llama's interleaved, qwen's and phi3's in halves), grouped-query attention and
//! SiLU-gated feed-forward. Phi-3 files may name a sliding window
//! (`phi3.attention.sliding_window`, 2047 in Phi-3-mini's); llama.cpp reads it and then turns
//! it off for phi3, attending to the whole context, and so does this pass, so that the two agree.

use std::io::{Read, Seek};
use std::sync::Arc;

use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::QMatMul;
use candle_core::{Device, IndexOp, Module, Result, Tensor, D};
use candle_transformers::quantized_nn::RmsNorm;

use super::blocks::{
    attend_cached, linear_rope_scale, meta_f32, meta_u32, Linear, Loader, Rope, RopeStyle, Rotation,
};
use super::quant::attention::{KvCache, KvCacheType, Span};

/// What tells the families apart.
struct Family {
    /// The metadata prefix: `general.architecture`.
    arch: &'static str,
    rope: RopeStyle,
    /// qwen2: q, k and v projections have biases.
    biases: bool,
    /// qwen3: q and k are RMS-normed per head before rotating.
    qk_norm: bool,
    /// phi3: `ffn_up` holds the gate's rows, then the up projection's; there is no `ffn_gate`.
    gate_in_up: bool,
}

impl Family {
    fn of(arch: &str) -> Option<Family> {
        let family = |arch, rope| Family {
            arch,
            rope,
            biases: false,
            qk_norm: false,
            gate_in_up: false,
        };
        Some(match arch {
            "llama" => family("llama", RopeStyle::Interleaved),
            "qwen2" => Family {
                biases: true,
                ..family("qwen2", RopeStyle::Halves)
            },
            "qwen3" => Family {
                qk_norm: true,
                ..family("qwen3", RopeStyle::Halves)
            },
            "phi3" => Family {
                gate_in_up: true,
                ..family("phi3", RopeStyle::Halves)
            },
            _ => return None,
        })
    }
}

/// The q, k and v projections: three matrices, or one with their rows stacked in that order
/// (phi3's `attn_qkv`, and any file that fuses them, as llama.cpp accepts), run as one product
/// whose output is split: one pass over the input instead of three, and the file's matrix is
/// loaded as it is, so memory stays at the file's size.
enum Qkv {
    Separate { q: Linear, k: Linear, v: Linear },
    Fused(Linear),
}

impl Qkv {
    /// Layer `i`'s projections, fused when the file has `attn_qkv`; its rows must be the
    /// `q` rows of the query heads and `kv` rows each for keys and values.
    fn load<R: Read + Seek>(l: &mut Loader<R>, i: usize, q: usize, kv: usize) -> Result<Qkv> {
        let w = |part: &str| format!("blk.{i}.{part}.weight");
        let fused = w("attn_qkv");
        if !l.has(&fused) {
            return Ok(Qkv::Separate {
                q: l.linear(&w("attn_q"))?,
                k: l.linear(&w("attn_k"))?,
                v: l.linear(&w("attn_v"))?,
            });
        }
        let rows = l.rows(&fused)?;
        if rows != q + 2 * kv {
            candle_core::bail!("{fused} has {rows} rows, not {q} for q and {kv} each for k and v");
        }
        Ok(Qkv::Fused(l.linear(&fused)?))
    }

    /// q, k and v of `x`; `q` and `kv` are their widths.
    fn forward(&self, x: &Tensor, q: usize, kv: usize) -> Result<(Tensor, Tensor, Tensor)> {
        match self {
            Qkv::Separate {
                q: wq,
                k: wk,
                v: wv,
            } => {
                let [q, k, v] = Linear::forward_all([wq, wk, wv], x)?;
                Ok((q, k, v))
            }
            Qkv::Fused(w) => {
                let all = w.forward(x)?;
                Ok((
                    all.narrow(D::Minus1, 0, q)?,
                    all.narrow(D::Minus1, q, kv)?,
                    all.narrow(D::Minus1, q + kv, kv)?,
                ))
            }
        }
    }
}

/// The feed-forward's gate and up projections: two matrices, or phi3's one `ffn_up` whose
/// first half of rows is the gate (llama.cpp's fused SwiGLU takes the SiLU of the first half
/// times the second), run as one product and split like [`Qkv`].
enum GateUp {
    Separate { gate: Linear, up: Linear },
    Fused { both: Linear, width: usize },
}

impl GateUp {
    fn load<R: Read + Seek>(l: &mut Loader<R>, i: usize, fused: bool) -> Result<GateUp> {
        let w = |part: &str| format!("blk.{i}.{part}.weight");
        if !fused {
            return Ok(GateUp::Separate {
                gate: l.linear(&w("ffn_gate"))?,
                up: l.linear(&w("ffn_up"))?,
            });
        }
        let name = w("ffn_up");
        let rows = l.rows(&name)?;
        if rows == 0 || !rows.is_multiple_of(2) {
            candle_core::bail!("{name} has {rows} rows: not a gate and an up projection");
        }
        Ok(GateUp::Fused {
            both: l.linear(&name)?,
            width: rows / 2,
        })
    }

    /// SiLU of the gate times the up projection of `x`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (gate, up) = match self {
            GateUp::Separate { gate, up } => {
                let [gate, up] = Linear::forward_all([gate, up], x)?;
                (gate, up)
            }
            GateUp::Fused { both, width } => {
                let both = both.forward(x)?;
                (
                    both.narrow(D::Minus1, 0, *width)?,
                    both.narrow(D::Minus1, *width, *width)?,
                )
            }
        };
        gate.silu()? * up
    }
}

struct Layer {
    attn_norm: RmsNorm,
    qkv: Qkv,
    o: Linear,
    /// qwen2's q, k and v biases.
    biases: Option<[Tensor; 3]>,
    /// qwen3's per-head norms of q and k.
    qk_norm: Option<(RmsNorm, RmsNorm)>,
    ffn_norm: RmsNorm,
    gate_up: GateUp,
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
        let (q_width, kv_width) = (self.heads * self.head_dim, self.kv_heads * self.head_dim);
        let (mut q, mut k, mut v) = self.qkv.forward(x, q_width, kv_width)?;
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
    fn attend(&mut self, x: &Tensor, pos: usize, rotation: &Rotation) -> Result<Tensor> {
        let (q, k, v) = self.qkv(x)?;
        let (q, k) = (rotation.apply(&q)?, rotation.apply(&k)?);
        let span = Span {
            heads: self.heads,
            scale: 1.0 / (self.head_dim as f32).sqrt(),
            window: None,
        };
        let y = attend_cached(&mut self.cache, pos, (&q, &k, &v), span)?;
        self.o.forward(&y)
    }

    fn feed_forward(&self, x: &Tensor) -> Result<Tensor> {
        self.down.forward(&self.gate_up.forward(x)?)
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
    /// Each layer gets an empty key/value cache of `kv` for up to `context` positions.
    pub fn from_gguf<R: Read + Seek>(
        ct: &Content,
        r: &mut R,
        (context, kv): (usize, KvCacheType),
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
        // The rotary tables are sized by this, so a hostile value must not reach them.
        if head_dim == 0 || head_dim > 1024 || !head_dim.is_multiple_of(2) {
            candle_core::bail!("unusable attention key length {head_dim}");
        }
        let eps = match meta_f32(ct, &key("attention.layer_norm_rms_epsilon"))? {
            Some(v) => f64::from(v),
            None => candle_core::bail!("cannot find the rms norm epsilon in metadata"),
        };
        let mut l = Loader::new(ct, r, device);
        let rope = rope(ct, &mut l, &family, head_dim, context, device)?;
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
                qkv: Qkv::load(&mut l, i, heads * head_dim, kv_heads * head_dim)?,
                o: l.linear(&w("attn_output.weight"))?,
                biases,
                qk_norm,
                ffn_norm: l.norm(&w("ffn_norm.weight"), eps)?,
                gate_up: GateUp::load(&mut l, i, family.gate_in_up)?,
                down: l.linear(&w("ffn_down.weight"))?,
                heads,
                kv_heads,
                head_dim,
                cache: KvCache::new(kv_heads, head_dim, context, kv)
                    .map_err(candle_core::Error::Msg)?,
            });
        }
        Ok(Llama {
            embed,
            layers,
            norm,
            output,
            rope,
        })
    }

    /// Logits of the next token after `ids` (batch, sequence) placed at positions `pos..`.
    /// The cache keeps the first `pos` positions of what was fed before and drops the rest,
    /// so `pos` may be anything up to the number of positions fed so far.
    pub fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        let (_, seq) = ids.dims2()?;
        let mut x = self.embed.embedding(ids)?;
        let rotation = self.rope.at(pos, seq, ids.device())?;
        for layer in &mut self.layers {
            let h = layer.attend(&layer.attn_norm.forward(&x)?, pos, &rotation)?;
            x = (x + h)?;
            let h = layer.feed_forward(&layer.ffn_norm.forward(&x)?)?;
            x = (x + h)?;
        }
        let last = self.norm.forward(&x)?.i((.., seq - 1, ..))?;
        self.output.forward(&last)
    }
}

/// The rotation of `family`'s file, as llama.cpp sets it up: the leading
/// `rope.dimension_count` dimensions of each head (all of them when unsaid) at base
/// `rope.freq_base`, frequencies divided by the file's factors and by its linear scaling
/// factor, cos and sin scaled by `rope.scaling.attn_factor`.
fn rope<R: Read + Seek>(
    ct: &Content,
    l: &mut Loader<R>,
    family: &Family,
    head_dim: usize,
    context: usize,
    device: &Device,
) -> Result<Rope> {
    let key = |k: &str| format!("{}.{k}", family.arch);
    let f32_or =
        |k: &str, default: f32| -> Result<f32> { Ok(meta_f32(ct, &key(k))?.unwrap_or(default)) };
    let dims = match ct.metadata.get(&key("rope.dimension_count")) {
        Some(v) => v.to_u32()? as usize,
        None => head_dim,
    };
    // The rotary tables are sized by this, so a hostile value must not reach them.
    if dims == 0 || dims > head_dim || !dims.is_multiple_of(2) {
        candle_core::bail!("rope dimension {dims} does not fit heads of {head_dim}");
    }
    let attn_factor = f32_or("rope.scaling.attn_factor", 1.0)?;
    if !(attn_factor.is_finite() && attn_factor > 0.0) {
        candle_core::bail!("unusable rope attention factor {attn_factor}");
    }
    let factors = match factors_name(ct, l, family, context) {
        Some(name) => Some(l.tensor(name)?.dequantize(device)?.to_vec1::<f32>()?),
        None => None,
    };
    Ok(Rope::new(
        dims,
        f32_or("rope.freq_base", 10_000.0)?,
        factors.as_deref(),
        family.rope,
    )?
    .stretched(linear_rope_scale(ct, family.arch)?)
    .scaled(attn_factor))
}

/// Which tensor of rotary frequency factors applies, if any, as llama.cpp picks it: Llama
/// 3.1's `rope_freqs`; else LongRoPE's (Phi-3.5, Phi-4-mini) long factors when the context
/// runs past the one the model had before its extension (`rope.scaling.original_context_length`,
/// else the file's context), the short ones otherwise. llama.cpp decides once, by the context
/// size rather than per position, so every position rotates alike and a cached prefix stays
/// valid.
fn factors_name<R: Read + Seek>(
    ct: &Content,
    l: &Loader<R>,
    family: &Family,
    context: usize,
) -> Option<&'static str> {
    let original = ["rope.scaling.original_context_length", "context_length"]
        .iter()
        .find_map(|k| ct.metadata.get(&format!("{}.{k}", family.arch)))
        .and_then(|v| v.to_u32().ok())
        .map_or(usize::MAX, |n| n as usize);
    let long = context > original;
    ["rope_freqs.weight"]
        .into_iter()
        .chain(Some(match long {
            true => "rope_factors_long.weight",
            false => "rope_factors_short.weight",
        }))
        .find(|name| l.has(name))
}
