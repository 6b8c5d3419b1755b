//! What a Q8_0 KV cache costs in quality against the f16 one, on one model and one text
//! (bench/README.md, "KV cache: f16 or Q8_0").
//!
//! ```sh
//! cargo build --release --example kv_quality
//! target/release/examples/kv_quality --model FILE.gguf --text bench/local_prompt_512.txt
//! ```
//!
//! The text (trimmed) is read as a text completion's prompt (BOS where the model wants one,
//! no chat template). Each cache type gets its own engine, which is fed the text one token at
//! a time (teacher forcing, `Engine::logits_along`: every position goes through the decode
//! path) and then continues it greedily (temperature 0, no repetition penalty) for
//! `--continue` tokens. One JSON line on stdout:
//!
//! - `mean_kl`, `max_kl`: KL(f16 || q8_0) of the next-token distributions, in nats, over the
//!   text's positions;
//! - `max_abs_logit_diff`: the largest |logit difference| over every position and token;
//! - `top1_agreement`: the share of positions where both rank the same token first;
//!   `clear_positions` and `top1_agreement_clear`: the same over the positions where f16's
//!   first token leads its second by more than 0.5 (not a near-tie);
//! - `nll_f16`, `nll_q8_0`: the mean negative log-probability of the text's actual next tokens;
//! - `greedy_identical`: whether the two continuations are the same text, and
//!   `greedy_common_chars`: how many leading characters they share.

use std::error::Error;
use std::path::PathBuf;

use clap::Parser;
use hearth::providers::local::{configure_threads, Answer, Engine, KvCacheType, LoadOptions};
use hearth::providers::{Message, ProviderRequest, Role};

/// Compares an f16 and a Q8_0 KV cache on one model and text.
#[derive(Parser, Debug)]
#[command(name = "kv_quality")]
struct Args {
    /// The GGUF model file.
    #[arg(long)]
    model: PathBuf,
    /// The text to feed (teacher forced), then to continue.
    #[arg(long)]
    text: PathBuf,
    /// CPU threads for candle.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Tokens of greedy continuation.
    #[arg(long = "continue", default_value_t = 64)]
    continuation: u32,
}

/// What one cache type gives on the text: its token ids, the logits after each of them, and
/// the greedy continuation.
struct Run {
    ids: Vec<u32>,
    logits: Vec<Vec<f32>>,
    continuation: String,
}

fn run(args: &Args, kv: KvCacheType, text: &str) -> Result<Run, Box<dyn Error>> {
    let options = LoadOptions {
        kv_cache_type: kv,
        ..LoadOptions::with_threads(args.threads)
    };
    let engine = Engine::load_with(&args.model, &options)?;
    let messages = vec![Message::new(Role::Text, text.to_owned())];
    let ids = engine.prompt_ids(&messages)?;
    let logits = engine.logits_along(&ids)?;
    // The cache now holds the text, so the continuation starts from what was just fed.
    let req = ProviderRequest::greedy("kv_quality", messages, args.continuation);
    let Answer {
        text: continuation, ..
    } = engine.generate(&req, &mut |_, _| true)?;
    Ok(Run {
        ids,
        logits,
        continuation,
    })
}

/// In f64: KL sums many tiny terms.
fn log_softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
    let total: f64 = logits.iter().map(|l| (*l as f64 - max).exp()).sum();
    let log_total = total.ln() + max;
    logits.iter().map(|l| *l as f64 - log_total).collect()
}

fn argmax(logits: &[f32]) -> usize {
    let mut best = 0;
    for (i, l) in logits.iter().enumerate() {
        if *l > logits[best] {
            best = i;
        }
    }
    best
}

/// How far the largest logit is above the second.
fn lead(logits: &[f32]) -> f32 {
    let (mut first, mut second) = (f32::NEG_INFINITY, f32::NEG_INFINITY);
    for l in logits {
        if *l > first {
            second = first;
            first = *l;
        } else if *l > second {
            second = *l;
        }
    }
    first - second
}

/// KL(p || q) for log-probabilities `p` and `q`.
fn kl(p: &[f64], q: &[f64]) -> f64 {
    p.iter().zip(q).map(|(p, q)| p.exp() * (p - q)).sum()
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let text = std::fs::read_to_string(&args.text)
        .map_err(|e| format!("cannot read {}: {e}", args.text.display()))?;
    let text = text.trim();
    configure_threads(Some(args.threads));
    let f16 = run(&args, KvCacheType::F16, text)?;
    let q8 = run(&args, KvCacheType::Q8_0, text)?;
    let ids = f16.ids;

    // Position i predicts token i + 1: the last position has no next token in the text.
    let positions = ids.len() - 1;
    let (mut kls, mut nll_f16, mut nll_q8, mut agree) = (Vec::new(), 0f64, 0f64, 0);
    let (mut clear, mut agree_clear) = (0, 0);
    let mut max_abs_logit_diff = 0f32;
    for (i, (a, b)) in f16
        .logits
        .iter()
        .zip(&q8.logits)
        .take(positions)
        .enumerate()
    {
        let (p, q) = (log_softmax(a), log_softmax(b));
        kls.push(kl(&p, &q));
        let next = ids[i + 1] as usize;
        nll_f16 -= p[next];
        nll_q8 -= q[next];
        let same = usize::from(argmax(a) == argmax(b));
        agree += same;
        if lead(a) > 0.5 {
            clear += 1;
            agree_clear += same;
        }
        let diff = a.iter().zip(b).map(|(a, b)| (a - b).abs());
        max_abs_logit_diff = diff.fold(max_abs_logit_diff, f32::max);
    }
    let common = f16
        .continuation
        .chars()
        .zip(q8.continuation.chars())
        .take_while(|(a, b)| a == b)
        .count();
    let line = serde_json::json!({
        "model": args.model.file_name().map(|n| n.to_string_lossy().into_owned()),
        "text_tokens": ids.len(),
        "positions": positions,
        "mean_kl": kls.iter().sum::<f64>() / positions as f64,
        "max_kl": kls.iter().cloned().fold(0f64, f64::max),
        "max_abs_logit_diff": max_abs_logit_diff,
        "top1_agreement": agree as f64 / positions as f64,
        "clear_positions": clear,
        "top1_agreement_clear": agree_clear as f64 / clear as f64,
        "nll_f16": nll_f16 / positions as f64,
        "nll_q8_0": nll_q8 / positions as f64,
        "greedy_tokens": args.continuation,
        "greedy_identical": f16.continuation == q8.continuation,
        "greedy_common_chars": common,
        "greedy_f16": f16.continuation,
        "greedy_q8_0": q8.continuation,
    });
    println!("{line}");
    Ok(())
}
