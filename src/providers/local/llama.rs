//! The llama-family transformer (SmolLM2, Llama 3.x, TinyLlama), run by Hearth's own forward
//! pass over candle tensors rather than candle-transformers' `quantized_llama`, for two
//! reasons: quantized projections go through the tiled kernels in `kernels/quant`, and the key/value cache
//! can be cut back to any position, so a prompt that starts like the previous one (a long
//! system prompt) is not computed again. The computation is `quantized_llama`'s: the same
//! GGUF tensor names, RMS norm, interleaved rotary embedding, grouped-query attention and
//! SiLU-gated feed-forward.

use std::io::{Read, Seek};
use std::sync::Arc;

use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::QMatMul;
use candle_core::{DType, Device, IndexOp, Module, Result, Tensor};
use candle_transformers::quantized_nn::RmsNorm;
use candle_transformers::utils::{build_additive_causal_mask, repeat_kv};

use super::blocks::{meta_u32, Linear, Rope, RopeStyle};

struct Layer {
    attn_norm: RmsNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    ffn_norm: RmsNorm,
    gate: Linear,
    up: Linear,
    down: Linear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    /// Keys and values of every position fed so far: (batch, kv heads, positions, head dim).
    cache: Option<(Tensor, Tensor)>,
}

impl Layer {
    fn heads_of(&self, t: Tensor, heads: usize) -> Result<Tensor> {
        let (b, seq, _) = t.dims3()?;
        t.reshape((b, seq, heads, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// Attention for new positions `pos..`, after cutting the cache back to `pos` entries.
    fn attend(
        &mut self,
        x: &Tensor,
        mask: Option<&Tensor>,
        pos: usize,
        rope: &Rope,
    ) -> Result<Tensor> {
        let (b, seq, hidden) = x.dims3()?;
        let q = rope.apply(&self.heads_of(self.q.forward(x)?, self.heads)?, pos)?;
        let k = rope.apply(&self.heads_of(self.k.forward(x)?, self.kv_heads)?, pos)?;
        let v = self.heads_of(self.v.forward(x)?, self.kv_heads)?;
        let (k, v) = match self.cache.take() {
            Some((ck, cv)) if pos > 0 => (
                Tensor::cat(&[&ck.narrow(2, 0, pos)?, &k], 2)?,
                Tensor::cat(&[&cv.narrow(2, 0, pos)?, &v], 2)?,
            ),
            _ => (k, v),
        };
        self.cache = Some((k.clone(), v.clone()));
        let k = repeat_kv(k, self.heads / self.kv_heads)?;
        let v = repeat_kv(v, self.heads / self.kv_heads)?;
        let scores = (q.matmul(&k.t()?)? / (self.head_dim as f64).sqrt())?;
        let scores = match mask {
            Some(mask) => scores.broadcast_add(mask)?,
            None => scores,
        };
        let weights = candle_nn::ops::softmax_last_dim(&scores)?;
        let y = weights.matmul(&v.contiguous()?)?;
        self.o
            .forward(&y.transpose(1, 2)?.reshape((b, seq, hidden))?)
    }

    fn feed_forward(&self, x: &Tensor) -> Result<Tensor> {
        let gate = self.gate.forward(x)?.silu()?;
        self.down.forward(&(gate * self.up.forward(x)?)?)
    }
}

/// A loaded llama-family model and its key/value cache.
pub struct Llama {
    /// Kept quantized (rows are expanded as they are looked up); shared with the output
    /// projection when the file ties them, so the weights are in memory once.
    embed: QMatMul,
    layers: Vec<Layer>,
    norm: RmsNorm,
    output: Linear,
    rope: Rope,
}

impl Llama {
    /// Loads the weights named as llama.cpp names them. Mixture-of-experts files are refused.
    pub fn from_gguf<R: Read + Seek>(ct: &Content, r: &mut R, device: &Device) -> Result<Llama> {
        if ct.metadata.contains_key("llama.expert_count") {
            candle_core::bail!("mixture-of-experts llama models are not supported");
        }
        let heads = meta_u32(ct, "llama.attention.head_count")?;
        let kv_heads = meta_u32(ct, "llama.attention.head_count_kv")?;
        let hidden = meta_u32(ct, "llama.embedding_length")?;
        let rope_dims = meta_u32(ct, "llama.rope.dimension_count")?;
        if heads == 0
            || kv_heads == 0
            || !heads.is_multiple_of(kv_heads)
            || !hidden.is_multiple_of(heads)
        {
            candle_core::bail!("inconsistent head counts: {heads} heads, {kv_heads} kv heads");
        }
        // The rotary tables are sized by this, so a hostile value must not reach them.
        if rope_dims == 0 || rope_dims > hidden / heads || !rope_dims.is_multiple_of(2) {
            candle_core::bail!(
                "rope dimension {rope_dims} does not fit heads of {}",
                hidden / heads
            );
        }
        let eps = match ct.metadata.get("llama.attention.layer_norm_rms_epsilon") {
            Some(v) => f64::from(v.to_f32()?),
            None => candle_core::bail!("cannot find the rms norm epsilon in metadata"),
        };
        let base = ct
            .metadata
            .get("llama.rope.freq_base")
            .and_then(|v| v.to_f32().ok())
            .unwrap_or(10_000.0);
        let mut tensor = |name: &str| ct.tensor(r, name, device);
        let embed_q = Arc::new(tensor("token_embd.weight")?);
        let embed = QMatMul::from_arc(embed_q.clone())?;
        let norm = RmsNorm::from_qtensor(tensor("output_norm.weight")?, eps)?;
        let output = match ct.tensor_infos.contains_key("output.weight") {
            true => Linear::new(tensor("output.weight")?)?,
            false => Linear::Candle(QMatMul::from_arc(embed_q)?),
        };
        let mut layers = Vec::new();
        for i in 0..meta_u32(ct, "llama.block_count")? {
            let mut w = |part: &str| tensor(&format!("blk.{i}.{part}.weight"));
            layers.push(Layer {
                attn_norm: RmsNorm::from_qtensor(w("attn_norm")?, eps)?,
                q: Linear::new(w("attn_q")?)?,
                k: Linear::new(w("attn_k")?)?,
                v: Linear::new(w("attn_v")?)?,
                o: Linear::new(w("attn_output")?)?,
                ffn_norm: RmsNorm::from_qtensor(w("ffn_norm")?, eps)?,
                gate: Linear::new(w("ffn_gate")?)?,
                up: Linear::new(w("ffn_up")?)?,
                down: Linear::new(w("ffn_down")?)?,
                heads,
                kv_heads,
                head_dim: hidden / heads,
                cache: None,
            });
        }
        Ok(Llama {
            embed,
            layers,
            norm,
            output,
            rope: Rope::new(rope_dims, base, RopeStyle::Interleaved, device)?,
        })
    }

    /// Logits of the next token after `ids` (batch, sequence) placed at positions `pos..`.
    /// The cache keeps the first `pos` positions of what was fed before and drops the rest,
    /// so `pos` may be anything up to the number of positions fed so far.
    pub fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        let (_, seq) = ids.dims2()?;
        // A single new token may see every position, so it needs no mask.
        let mask = match seq {
            1 => None,
            _ => Some(build_additive_causal_mask(
                seq,
                pos,
                None,
                ids.device(),
                DType::F32,
            )?),
        };
        let mut x = self.embed.embedding(ids)?;
        for layer in &mut self.layers {
            let h = layer.attend(
                &layer.attn_norm.forward(&x)?,
                mask.as_ref(),
                pos,
                &self.rope,
            )?;
            x = (x + h)?;
            let h = layer.feed_forward(&layer.ffn_norm.forward(&x)?)?;
            x = (x + h)?;
        }
        let last = self.norm.forward(&x)?.i((.., seq - 1, ..))?;
        self.output.forward(&last)
    }
}
