//! What the forward passes of the families share: projections (quantized weights through
//! Hearth's tiled kernels where one takes the format, the rest through candle's quantized
//! matmul), rotary tables, metadata lookups.

use std::io::{Read, Seek, SeekFrom};

use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{Device, Module, Result, Tensor};
use candle_transformers::quantized_nn::RmsNorm;

use super::quant::attention::{KvCache, Span};
use super::quant::{fast_kernel_available, Matrix};

/// A projection: weights in a format `kernels/quant` takes go through its tiled kernels where
/// the CPU has them, anything else through candle's quantized matmul.
pub enum Linear {
    Tiled(Matrix),
    Candle(QMatMul),
}

impl Linear {
    /// The projection for weights `t`.
    pub fn new(t: QTensor) -> Result<Linear> {
        if Matrix::supports(t.dtype()) && fast_kernel_available() {
            let (n, k) = t.shape().dims2()?;
            if let Some(w) = Matrix::from_blocks(t.dtype(), &t.data()?, n, k) {
                return Ok(Linear::Tiled(w));
            }
        }
        Ok(Linear::Candle(QMatMul::from_qtensor(t)?))
    }

    /// The rows `ids` (batch, sequence) of the weights: the lookup of a token embedding, so a
    /// model whose output head is its embedding keeps one copy of it, in the kernels' tiles.
    pub fn embedding(&self, ids: &Tensor) -> Result<Tensor> {
        match self {
            Linear::Candle(m) => m.embedding(ids),
            Linear::Tiled(w) => {
                let mut dims = ids.dims().to_vec();
                let k = w.columns();
                let flat = ids.flatten_all()?.to_vec1::<u32>()?;
                let mut out = vec![0f32; flat.len() * k];
                for (id, row) in flat.iter().zip(out.chunks_exact_mut(k)) {
                    let id = *id as usize;
                    if id >= w.rows() {
                        candle_core::bail!("token {id} is outside the vocabulary of {}", w.rows());
                    }
                    w.row(id, row);
                }
                dims.push(k);
                Tensor::from_vec(out, dims, ids.device())
            }
        }
    }

    /// `x` times the weights, over its last dimension.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Linear::Candle(m) => m.forward(x),
            Linear::Tiled(w) => Ok(tiled_products(&[w], x)?.remove(0)),
        }
    }

    /// `x` times each projection's weights: one job for the kernels when they take them all
    /// (a layer's q, k and v, or its gate and up), so the activations are quantized once and
    /// the workers meet once.
    pub fn forward_all<const N: usize>(ls: [&Linear; N], x: &Tensor) -> Result<[Tensor; N]> {
        let tiled: Option<Vec<&Matrix>> = ls
            .iter()
            .map(|l| match l {
                Linear::Tiled(w) => Some(w),
                Linear::Candle(_) => None,
            })
            .collect();
        let ys = match tiled {
            Some(mats) => tiled_products(&mats, x)?,
            None => ls.iter().map(|l| l.forward(x)).collect::<Result<_>>()?,
        };
        ys.try_into()
            .map_err(|_| candle_core::Error::Msg("one output per projection".into()))
    }
}

/// `x` times each matrix, over its last dimension, as one job of the kernels.
fn tiled_products(mats: &[&Matrix], x: &Tensor) -> Result<Vec<Tensor>> {
    let mut dims = x.dims().to_vec();
    let k = dims.pop().unwrap_or(1);
    if mats.iter().any(|w| w.columns() != k) {
        candle_core::bail!("a projection takes rows of another length than {k}");
    }
    let m = x.elem_count() / k.max(1);
    let input = x.flatten_all()?.to_vec1::<f32>()?;
    let mut outs: Vec<Vec<f32>> = mats.iter().map(|w| vec![0f32; m * w.rows()]).collect();
    let mut dsts: Vec<&mut [f32]> = outs.iter_mut().map(Vec::as_mut_slice).collect();
    Matrix::matmul_all(mats, &input, m, &mut dsts);
    mats.iter()
        .zip(outs)
        .map(|(w, out)| {
            let mut dims = dims.clone();
            dims.push(w.rows());
            Tensor::from_vec(out, dims, x.device())
        })
        .collect()
}

/// Reads a model's tensors from its GGUF file.
pub struct Loader<'a, R> {
    ct: &'a Content,
    r: &'a mut R,
    device: &'a Device,
}

impl<'a, R: Read + Seek> Loader<'a, R> {
    pub fn new(ct: &'a Content, r: &'a mut R, device: &'a Device) -> Self {
        Loader { ct, r, device }
    }

    /// Whether the file holds tensor `name`.
    pub fn has(&self, name: &str) -> bool {
        self.ct.tensor_infos.contains_key(name)
    }

    /// The rows of matrix `name`: its first dimension, as candle orders them.
    pub fn rows(&self, name: &str) -> Result<usize> {
        match self.ct.tensor_infos.get(name).map(|t| t.shape.dims()) {
            Some([rows, _]) => Ok(*rows),
            Some(dims) => candle_core::bail!("{name} is not a matrix: {dims:?}"),
            None => candle_core::bail!("cannot find tensor info for {name}"),
        }
    }

    /// Tensor `name` as the file stores it.
    pub fn tensor(&mut self, name: &str) -> Result<QTensor> {
        self.ct.tensor(self.r, name, self.device)
    }

    /// An RMS norm with weights `name`.
    pub fn norm(&mut self, name: &str, eps: f64) -> Result<RmsNorm> {
        RmsNorm::from_qtensor(self.tensor(name)?, eps)
    }

    /// The projection with weights `name`: where a kernel takes the format, read from the
    /// file 16 rows at a time straight into its tiles, so the file's copy is never whole in
    /// memory beside them (the largest tensor, often the embedding, would double the peak).
    pub fn linear(&mut self, name: &str) -> Result<Linear> {
        let Some(info) = self.ct.tensor_infos.get(name) else {
            candle_core::bail!("cannot find tensor info for {name}");
        };
        if let ([n, k], true) = (info.shape.dims(), fast_kernel_available()) {
            if Matrix::supports(info.ggml_dtype) {
                self.r
                    .seek(SeekFrom::Start(self.ct.tensor_data_offset + info.offset))?;
                let r = &mut *self.r;
                let read = |buf: &mut [u8]| r.read_exact(buf);
                if let Some(m) = Matrix::from_row_groups(info.ggml_dtype, *n, *k, read)? {
                    return Ok(Linear::Tiled(m));
                }
            }
        }
        Linear::new(self.tensor(name)?)
    }
}

/// How a family pairs the dimensions it rotates.
#[derive(Clone, Copy)]
pub enum RopeStyle {
    /// Neighbours (0, 1), (2, 3), ...: llama.
    Interleaved,
    /// The two halves (0, d/2), (1, d/2 + 1), ...: gemma, qwen (llama.cpp's "neox").
    Halves,
}

/// A family's rotary embedding: the frequencies of the rotated pairs. The cos and sin of the
/// positions a forward pass feeds are computed once per pass ([`Rope::at`]) rather than kept
/// for the whole context, which for a 256-wide head and 8,192 positions would be 8 MB a
/// rotation held for nothing.
pub struct Rope {
    /// The angle each rotated pair turns by per position.
    inv: Vec<f32>,
    /// cos and sin are multiplied by this (llama.cpp's attention factor).
    scale: f32,
    /// The leading dimensions of each head that rotate; the rest pass through unchanged
    /// (Phi-4-mini rotates 96 of its 128, llama.cpp's `rope.dimension_count`).
    dims: usize,
    style: RopeStyle,
}

impl Rope {
    /// The rotation of `dims` dimensions with frequency base `base`, each frequency divided
    /// by its factor when the file gives factors (llama.cpp's `rope_freqs`, and LongRoPE's
    /// long or short factors).
    pub fn new(dims: usize, base: f32, factors: Option<&[f32]>, style: RopeStyle) -> Result<Rope> {
        if let Some(f) = factors.filter(|f| f.len() != dims / 2) {
            candle_core::bail!(
                "{} rope frequency factors for {} rotated pairs",
                f.len(),
                dims / 2
            );
        }
        let inv = (0..dims)
            .step_by(2)
            .map(|i| {
                let factor = factors.map_or(1.0, |f| f[i / 2]);
                1f32 / (base.powf(i as f32 / dims as f32) * factor)
            })
            .collect();
        Ok(Rope {
            inv,
            scale: 1.0,
            dims,
            style,
        })
    }

    /// The same rotation with its cos and sin multiplied by `factor`: llama.cpp's attention
    /// factor (`rope.scaling.attn_factor`; LongRoPE's sqrt(1 + ln(s) / ln(original context))
    /// for a context stretched s times), which scales the rotated dimensions of q and k and
    /// so sharpens attention over the longer context. The pass-through dimensions keep their
    /// scale, as in llama.cpp.
    pub fn scaled(self, factor: f32) -> Rope {
        Rope {
            scale: self.scale * factor,
            ..self
        }
    }

    /// The same rotation over positions divided by `factor`: linear rope scaling
    /// (`rope.scaling.factor`, llama.cpp's `freq_scale` = 1 / factor), which stretches a
    /// model's context by turning every pair `factor` times slower.
    pub fn stretched(mut self, factor: f32) -> Rope {
        self.inv.iter_mut().for_each(|f| *f /= factor);
        self
    }

    /// The cos and sin of `seq` positions from `pos` on, for every layer of one pass.
    pub fn at(&self, pos: usize, seq: usize, device: &Device) -> Result<Rotation<'_>> {
        let pairs = self.inv.len();
        let mut cos = Vec::with_capacity(seq * pairs);
        let mut sin = Vec::with_capacity(seq * pairs);
        for p in pos..pos + seq {
            for f in &self.inv {
                let angle = p as f32 * f;
                cos.push(angle.cos() * self.scale);
                sin.push(angle.sin() * self.scale);
            }
        }
        Ok(Rotation {
            cos: Tensor::from_vec(cos, (seq, pairs), device)?,
            sin: Tensor::from_vec(sin, (seq, pairs), device)?,
            rope: self,
        })
    }
}

/// A [`Rope`]'s cos and sin for the positions of one forward pass.
pub struct Rotation<'a> {
    cos: Tensor,
    sin: Tensor,
    rope: &'a Rope,
}

impl Rotation<'_> {
    /// Rotates `x` (batch, heads, the pass's positions, head dim): its first `dims`
    /// dimensions of each head; the others are left as they are.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let (cos, sin, dims) = (&self.cos, &self.sin, self.rope.dims);
        let head = x.dim(3)?;
        let rotate = |x: &Tensor| match self.rope.style {
            RopeStyle::Interleaved => candle_nn::rotary_emb::rope_i(&x.contiguous()?, cos, sin),
            RopeStyle::Halves => candle_nn::rotary_emb::rope(&x.contiguous()?, cos, sin),
        };
        match head.checked_sub(dims) {
            Some(0) => rotate(x),
            Some(rest) => Tensor::cat(
                &[&rotate(&x.narrow(3, 0, dims)?)?, &x.narrow(3, dims, rest)?],
                3,
            ),
            None => candle_core::bail!("{dims} rotated dimensions in heads of {head}"),
        }
    }
}

/// The linear rope scaling factor of `arch`'s file as llama.cpp reads it: `rope.scaling.factor`
/// (or the older `rope.scale_linear`), 1 when absent, 0 or `rope.scaling.type` is `none`.
/// `linear` and `longrope` divide every frequency by it; YaRN (`yarn`, which also bends the
/// frequencies between the original and the stretched context) is refused by name when it
/// would change anything rather than run as something else.
pub fn linear_rope_scale(ct: &Content, arch: &str) -> Result<f32> {
    let key = |k: &str| format!("{arch}.{k}");
    let kind = match ct.metadata.get(&key("rope.scaling.type")) {
        Some(v) => v.to_string()?.as_str(),
        None => "linear",
    };
    let factor = match meta_f32(ct, &key("rope.scaling.factor"))? {
        Some(f) => Some(f),
        None => meta_f32(ct, &key("rope.scale_linear"))?,
    };
    let factor = factor.filter(|f| *f != 0.0).unwrap_or(1.0);
    if !(factor.is_finite() && factor > 0.0) {
        candle_core::bail!("unusable rope scaling factor {factor}");
    }
    match kind {
        "none" => Ok(1.0),
        "linear" | "longrope" => Ok(factor),
        "yarn" if factor == 1.0 => Ok(1.0),
        other => candle_core::bail!("rope scaling `{other}` (factor {factor}) is not supported"),
    }
}

/// An optional float metadata entry; one of another type is an error, not absent.
pub fn meta_f32(ct: &Content, key: &str) -> Result<Option<f32>> {
    ct.metadata.get(key).map(|v| v.to_f32()).transpose()
}

/// A required unsigned metadata entry.
pub fn meta_u32(ct: &Content, key: &str) -> Result<usize> {
    match ct.metadata.get(key) {
        Some(v) => Ok(v.to_u32()? as usize),
        None => candle_core::bail!("cannot find {key} in metadata"),
    }
}

/// Attention of new positions `pos..` through a layer's cache: cuts it back to `pos`, appends
/// the new keys and values, and attends. `q`, `k`, `v` are (1, heads, new positions, head
/// dim); the result is (1, new positions, heads x head dim), ready for the output projection.
pub fn attend_cached(
    cache: &mut KvCache,
    pos: usize,
    (q, k, v): (&Tensor, &Tensor, &Tensor),
    span: Span,
) -> Result<Tensor> {
    let (b, heads, seq, dim) = q.dims4()?;
    if b != 1 {
        candle_core::bail!("the engine runs one sequence at a time, not {b}");
    }
    let flat = |t: &Tensor| t.flatten_all()?.to_vec1::<f32>();
    cache.truncate(pos);
    if cache.len() != pos {
        candle_core::bail!(
            "position {pos} is past the {} positions cached",
            cache.len()
        );
    }
    cache.append(&flat(k)?, &flat(v)?, seq).map_err(|limit| {
        candle_core::Error::Msg(format!("the context of {limit} tokens is full"))
    })?;
    let mut out = vec![0f32; heads * seq * dim];
    cache.attend(&flat(q)?, seq, span, &mut out);
    Tensor::from_vec(out, (1, seq, heads * dim), q.device())
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::gguf_file::Value;
    use candle_core::DType;

    use super::super::gguf::metadata_only;
    use super::*;

    const HEAD: usize = 8;
    const BASE: f32 = 500.0;
    const FACTORS: [f32; 2] = [2.0, 0.5];

    /// One head's vector at position `pos` rotated by hand: pair `j` of the first `dims`
    /// dimensions (neighbours, or j and j + dims / 2) turns by pos / (base^(2j / dims) x
    /// factor j x stretch) and is scaled by `scale`; the dimensions past `dims` are copied.
    fn by_hand(
        x: &[f32],
        pos: usize,
        dims: usize,
        style: RopeStyle,
        (scale, stretch): (f32, f32),
    ) -> Vec<f32> {
        let mut out = x.to_vec();
        for (j, factor) in FACTORS.iter().enumerate().take(dims / 2) {
            let theta = pos as f32 / (BASE.powf(2.0 * j as f32 / dims as f32) * factor * stretch);
            let (a, b) = match style {
                RopeStyle::Interleaved => (2 * j, 2 * j + 1),
                RopeStyle::Halves => (j, j + dims / 2),
            };
            out[a] = scale * (x[a] * theta.cos() - x[b] * theta.sin());
            out[b] = scale * (x[b] * theta.cos() + x[a] * theta.sin());
        }
        out
    }

    /// Rope over (1, 2 heads, 3 positions, 8) from position 5, against `by_hand`, with 4 of
    /// the 8 dimensions rotating. f32 trigonometry of angles below 8 radians, computed in a
    /// slightly different order, agrees to about 1e-6; 1e-5 leaves room and no more.
    fn check(style: RopeStyle, scale: f32, stretch: f32) {
        let dims = 4;
        let (heads, seq, pos) = (2, 3, 5);
        let values: Vec<f32> = (0..heads * seq * HEAD)
            .map(|i| (i as f32 * 0.7).sin())
            .collect();
        let x = Tensor::from_vec(values.clone(), (1, heads, seq, HEAD), &Device::Cpu).unwrap();
        let rope = Rope::new(dims, BASE, Some(&FACTORS), style)
            .unwrap()
            .stretched(stretch)
            .scaled(scale);
        let rotation = rope.at(pos, seq, &Device::Cpu).unwrap();
        let ours = rotation.apply(&x).unwrap().flatten_all().unwrap();
        let ours = ours.to_vec1::<f32>().unwrap();
        for (i, (head, got)) in values.chunks(HEAD).zip(ours.chunks(HEAD)).enumerate() {
            let want = by_hand(head, pos + i % seq, dims, style, (scale, stretch));
            for (d, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!((g - w).abs() < 1e-5, "row {i}, dim {d}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn a_partial_rotation_in_halves_turns_the_leading_pairs_and_copies_the_rest() {
        check(RopeStyle::Halves, 1.0, 1.0);
    }

    #[test]
    fn a_partial_interleaved_rotation_turns_the_leading_neighbours_and_copies_the_rest() {
        check(RopeStyle::Interleaved, 1.0, 1.0);
    }

    #[test]
    fn the_attention_factor_scales_the_rotated_dimensions_only() {
        check(RopeStyle::Halves, 1.25, 1.0);
        check(RopeStyle::Interleaved, 0.8, 1.0);
    }

    #[test]
    fn linear_scaling_turns_every_pair_that_many_times_slower() {
        check(RopeStyle::Halves, 1.0, 4.0);
        check(RopeStyle::Interleaved, 1.25, 8.0);
    }

    #[test]
    fn more_rotated_dimensions_than_a_head_has_is_an_error() {
        let rope = Rope::new(HEAD, BASE, None, RopeStyle::Halves).unwrap();
        let narrow = Tensor::zeros((1, 1, 1, HEAD / 2), DType::F32, &Device::Cpu).unwrap();
        assert!(rope.at(0, 1, &Device::Cpu).unwrap().apply(&narrow).is_err());
    }

    fn scale_of(entries: &[(&str, Value)]) -> Result<f32> {
        let content = metadata_only(entries.iter().map(|(k, v)| (format!("llama.{k}"), v)));
        linear_rope_scale(&content, "llama")
    }

    #[test]
    fn the_linear_scaling_factor_is_read_as_llama_cpp_reads_it() {
        let kind = |k: &str| ("rope.scaling.type", Value::String(k.into()));
        let factor = ("rope.scaling.factor", Value::F32(4.0));
        assert_eq!(scale_of(&[]).unwrap(), 1.0);
        assert_eq!(scale_of(std::slice::from_ref(&factor)).unwrap(), 4.0);
        assert_eq!(
            scale_of(&[("rope.scale_linear", Value::F32(2.0))]).unwrap(),
            2.0
        );
        assert_eq!(
            scale_of(&[("rope.scaling.factor", Value::F32(0.0))]).unwrap(),
            1.0
        );
        assert_eq!(scale_of(&[kind("none"), factor.clone()]).unwrap(), 1.0);
        assert_eq!(scale_of(&[kind("longrope"), factor.clone()]).unwrap(), 4.0);
        assert_eq!(scale_of(&[kind("yarn")]).unwrap(), 1.0);
        let yarn = scale_of(&[kind("yarn"), factor]).unwrap_err().to_string();
        assert!(
            yarn.contains("rope scaling `yarn` (factor 4) is not supported"),
            "{yarn}"
        );
        let negative = scale_of(&[("rope.scaling.factor", Value::F32(-1.0))]);
        assert!(negative.is_err());
    }

    #[test]
    fn factors_that_do_not_match_the_rotated_pairs_are_refused() {
        let err = Rope::new(8, BASE, Some(&FACTORS), RopeStyle::Halves)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("2 rope frequency factors for 4 rotated pairs"),
            "{err}"
        );
    }
}
