#!/usr/bin/env python3
"""Random-weight GGUF files of real model shapes, for speed benchmarks (bench/local_matrix.sh).

Writes an F16 GGUF (1-D tensors, the norms, in F32) of a named shape with gguf-py's GGUFWriter,
with the metadata a loader needs and the tokenizer (every `tokenizer.ggml.*` field and
`tokenizer.chat_template`) copied from a real GGUF, the vocabulary sized to it; then
llama.cpp's `llama-quantize` makes the quantized files. Weights are normal with a small std
(0.02), norms are 1, so activations stay finite; the answers are noise, the speed is real.
Files are cached: one already in place is kept, so a second run prints the paths at once.
Run it with the llama.cpp venv's python (scripts/llamacpp-venv: it has gguf and numpy):

    "${HEARTH_CI_CACHE:-$HOME/.cache/hearth-ci}/llamacpp-venv/bin/python" bench/random_gguf.py \\
        --tokenizer-from ~/.local/share/hearth/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf

Shapes (embeddings tied: no `output` tensor, the token embedding serves as the output head):
  llama-1b    llama, hidden 2048, 16 layers, ffn 8192, 32 query / 8 KV heads, head dim 64
  qwen3-1.7b  qwen3, hidden 2048, 28 layers, ffn 6144, 16 query / 8 KV heads, head dim 128,
              per-head q/k RMS norms
  phi4-mini   phi3, Phi-4-mini's shape: hidden 3072, 32 layers, ffn 8192, 24 query / 8 KV
              heads, head dim 128 of which 96 rotate; q, k and v fused in `attn_qkv`, gate and
              up in `ffn_up`; LongRoPE (context 131072 from an original 4096: long and short
              factor tensors, all 1 here, and the attention factor); 3.4B parameters with
              SmolLM2's vocabulary (6.7 GB as F16), so it is made only when --shapes names it

Output files: DIR/SHAPE-F16.gguf and DIR/SHAPE-TYPE.gguf for each --types entry, where DIR is
--out-dir (default ${HEARTH_CI_CACHE:-$HOME/.cache/hearth-ci}/random-gguf). Prints each path,
one per line, on stdout; progress and times go to stderr.
"""

import argparse
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import gguf


@dataclass(frozen=True)
class Shape:
    arch: str
    hidden: int
    layers: int
    ffn: int
    heads: int
    kv_heads: int
    head_dim: int
    context: int
    rope_base: float
    rms_eps: float
    qk_norm: bool
    # Rotated dimensions per head; 0 rotates all of them.
    rope_dims: int = 0
    # LongRoPE's context before the extension (phi3); 0 for none.
    original_context: int = 0

    @property
    def rotated(self) -> int:
        return self.rope_dims or self.head_dim


# Written as `general.name` ("random NAME"): no name may contain "phi3" or "phi-3", for which
# llama.cpp's vocabulary loader looks up Phi-3's own tokens (`</s>`) and fails on the copied one.
SHAPES = {
    "llama-1b": Shape("llama", 2048, 16, 8192, 32, 8, 64, 8192, 500000.0, 1e-5, False),
    "qwen3-1.7b": Shape("qwen3", 2048, 28, 6144, 16, 8, 128, 8192, 1000000.0, 1e-6, True),
    "phi4-mini": Shape("phi3", 3072, 32, 8192, 24, 8, 128, 131072, 10000.0, 1e-5, False,
                       rope_dims=96, original_context=4096),
}
DEFAULT_SHAPES = "llama-1b,qwen3-1.7b"
DEFAULT_TYPES = "Q4_K_M,Q5_K_M,Q8_0,Q4_0"
STD = 0.02


def log(msg: str) -> None:
    print(f"random_gguf: {msg}", file=sys.stderr, flush=True)


def tokenizer_fields(path: Path) -> tuple[list[tuple[str, object, gguf.GGUFValueType, object]], int]:
    """The tokenizer fields of a real GGUF as (key, value, type, array sub-type), and its vocab size."""
    reader = gguf.GGUFReader(path)
    fields = []
    vocab = 0
    for key, field in reader.fields.items():
        if not (key.startswith("tokenizer.ggml.") or key == "tokenizer.chat_template"):
            continue
        main = field.types[0]
        sub = field.types[-1] if main == gguf.GGUFValueType.ARRAY else None
        value = field.contents()
        if key == "tokenizer.ggml.tokens":
            vocab = len(value)
        fields.append((key, value, main, sub))
    if vocab == 0:
        raise SystemExit(f"random_gguf: {path} has no tokenizer.ggml.tokens")
    return fields, vocab


def tensor_shapes(s: Shape, vocab: int) -> list[tuple[str, tuple[int, ...]]]:
    """(name, numpy shape) of every tensor, rows first (GGUF stores the reverse order)."""
    q, kv = s.heads * s.head_dim, s.kv_heads * s.head_dim
    out = [("token_embd.weight", (vocab, s.hidden)), ("output_norm.weight", (s.hidden,))]
    if s.original_context:
        out += [(n, (s.rotated // 2,)) for n in ("rope_factors_long.weight", "rope_factors_short.weight")]
    # llama.cpp's phi3 layout: q, k and v rows stacked in one matrix; the gate's rows, then
    # the up projection's, in another.
    fused = s.arch == "phi3"
    for i in range(s.layers):
        b = f"blk.{i}."
        out.append((b + "attn_norm.weight", (s.hidden,)))
        if fused:
            out.append((b + "attn_qkv.weight", (q + 2 * kv, s.hidden)))
        else:
            out += [(b + "attn_q.weight", (q, s.hidden)),
                    (b + "attn_k.weight", (kv, s.hidden)),
                    (b + "attn_v.weight", (kv, s.hidden))]
        out += [(b + "attn_output.weight", (s.hidden, q)), (b + "ffn_norm.weight", (s.hidden,))]
        if fused:
            out.append((b + "ffn_up.weight", (2 * s.ffn, s.hidden)))
        else:
            out += [(b + "ffn_gate.weight", (s.ffn, s.hidden)), (b + "ffn_up.weight", (s.ffn, s.hidden))]
        out.append((b + "ffn_down.weight", (s.hidden, s.ffn)))
        if s.qk_norm:
            out += [(b + "attn_q_norm.weight", (s.head_dim,)), (b + "attn_k_norm.weight", (s.head_dim,))]
    return out


def write_f16(name: str, s: Shape, tok_path: Path, out: Path, seed: int) -> None:
    """Streams the tensors to `out` one at a time (the largest is vocab x hidden in f32)."""
    fields, vocab = tokenizer_fields(tok_path)
    tmp = out.with_name(out.name + ".tmp")
    w = gguf.GGUFWriter(tmp, s.arch)
    w.add_name(f"random {name}")
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_vocab_size(vocab)
    w.add_context_length(s.context)
    w.add_embedding_length(s.hidden)
    w.add_block_count(s.layers)
    w.add_feed_forward_length(s.ffn)
    w.add_head_count(s.heads)
    w.add_head_count_kv(s.kv_heads)
    w.add_key_length(s.head_dim)
    w.add_value_length(s.head_dim)
    w.add_rope_dimension_count(s.rotated)
    w.add_rope_freq_base(s.rope_base)
    if s.original_context:
        # As convert_hf_to_gguf.py writes LongRoPE: sqrt(1 + ln(stretch) / ln(original)).
        w.add_rope_scaling_orig_ctx_len(s.original_context)
        stretch = s.context / s.original_context
        w.add_rope_scaling_attn_factors(math.sqrt(1 + math.log(stretch) / math.log(s.original_context)))
    w.add_layer_norm_rms_eps(s.rms_eps)
    for key, value, vtype, sub in fields:
        w.add_key_value(key, value, vtype, sub)

    shapes = tensor_shapes(s, vocab)
    for tname, shape in shapes:
        dtype = np.float32 if len(shape) == 1 else np.float16
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        w.add_tensor_info(tname, shape, np.dtype(dtype), nbytes)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    rng = np.random.default_rng(seed)
    for tname, shape in shapes:
        if len(shape) == 1:
            data = np.ones(shape, dtype=np.float32)
        else:
            data = (rng.standard_normal(shape, dtype=np.float32) * STD).astype(np.float16)
        w.write_tensor_data(data)
    w.close()
    params = sum(int(np.prod(shape)) for _, shape in shapes)
    os.replace(tmp, out)
    log(f"{out.name}: {params / 1e9:.2f}B parameters, vocab {vocab}, {out.stat().st_size / 2**30:.2f} GiB")


def quantize(llama_quantize: Path, src: Path, out: Path, qtype: str, threads: int) -> None:
    tmp = out.with_name(out.name + ".tmp")
    cmd = [str(llama_quantize), str(src), str(tmp), qtype, str(threads)]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=3600)
    if done.returncode != 0:
        tmp.unlink(missing_ok=True)
        tail = "\n".join(done.stdout.splitlines()[-15:])
        raise SystemExit(f"random_gguf: {' '.join(cmd)} failed (exit {done.returncode}):\n{tail}")
    os.replace(tmp, out)


def main() -> int:
    cache = Path(os.environ.get("HEARTH_CI_CACHE", Path.home() / ".cache" / "hearth-ci"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokenizer-from", required=True, type=Path,
                    help="a real GGUF whose tokenizer metadata (and vocab size) is copied")
    ap.add_argument("--shapes", default=DEFAULT_SHAPES, help=f"comma-separated, of: {', '.join(SHAPES)}")
    ap.add_argument("--types", default=DEFAULT_TYPES, help="llama-quantize types, comma-separated")
    ap.add_argument("--out-dir", type=Path, default=cache / "random-gguf")
    ap.add_argument("--llama-quantize", type=Path, default=cache / "llamacpp-native" / "bin" / "llama-quantize",
                    help="built by scripts/llamacpp-native")
    ap.add_argument("--threads", type=int, default=2, help="llama-quantize threads")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    shapes = [x for x in args.shapes.split(",") if x]
    unknown = [x for x in shapes if x not in SHAPES]
    if unknown:
        ap.error(f"unknown shape(s): {', '.join(unknown)} (known: {', '.join(SHAPES)})")
    types = [x for x in args.types.split(",") if x]
    if not args.tokenizer_from.is_file():
        ap.error(f"no file at {args.tokenizer_from}")
    args.out_dir.mkdir(parents=True, exist_ok=True)

    for name in shapes:
        f16 = args.out_dir / f"{name}-F16.gguf"
        if not f16.exists():
            t0 = time.monotonic()
            write_f16(name, SHAPES[name], args.tokenizer_from, f16, args.seed)
            log(f"wrote {f16} ({time.monotonic() - t0:.0f} s)")
        print(f16, flush=True)
        for qtype in types:
            out = args.out_dir / f"{name}-{qtype}.gguf"
            if not out.exists():
                if not os.access(args.llama_quantize, os.X_OK):
                    raise SystemExit(f"random_gguf: no {args.llama_quantize} (run scripts/llamacpp-native)")
                t0 = time.monotonic()
                quantize(args.llama_quantize, f16, out, qtype, args.threads)
                log(f"wrote {out} ({time.monotonic() - t0:.0f} s)")
            print(out, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
