//! What constrained decoding costs on the local engine: `bench/grammar.sh` runs it.
//!
//! ```sh
//! cargo build --release --example grammar_mask
//! target/release/examples/grammar_mask --model FILE.gguf --threads 2 \
//!     --schemas tests/fixtures/structured/schemas.json --max-tokens 96
//! ```
//!
//! For each schema of the file (`[{"name", "prompt", "schema"}]`), one greedy generation of the
//! prompt without a grammar and one under the schema's grammar, alternating which goes first;
//! then the constrained answer's tokens are fed again through a fresh grammar, timing each
//! token's mask alone. Prints one JSON line per schema, then a summary line:
//!
//! - `mask_us_p50`, `mask_us_p99`: one token's mask (llguidance's allowed set, then the
//!   logits outside it set to minus infinity), over every token of every answer;
//! - `mask_share`: total mask time / total constrained decode time;
//! - `free_tok_s`, `constrained_tok_s`: decode tokens per second (after the first token),
//!   medians over the schemas;
//! - `valid`: how many constrained answers validate against their schema.

use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use hearth::providers::local::{configure_threads, Answer, Engine, LoadOptions};
use hearth::providers::{JsonSchemaFormat, Message, OutputFormat, ProviderRequest, Role};
use serde_json::{json, Value};

#[derive(Parser, Debug)]
#[command(name = "grammar_mask")]
struct Args {
    /// The GGUF model file.
    #[arg(long)]
    model: PathBuf,
    /// CPU threads for candle.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// The schemas: a JSON array of `{"name", "prompt", "schema"}`.
    #[arg(long)]
    schemas: PathBuf,
    /// Largest number of tokens per answer.
    #[arg(long, default_value_t = 96)]
    max_tokens: u32,
}

/// Tokens and decode seconds (after the first token) of one answer, and its text.
struct Run {
    text: String,
    tokens: u64,
    decode_s: f64,
}

impl Run {
    fn tok_s(&self) -> f64 {
        if self.tokens > 1 && self.decode_s > 0.0 {
            (self.tokens - 1) as f64 / self.decode_s
        } else {
            0.0
        }
    }
}

fn generate(
    engine: &Engine,
    prompt: &str,
    format: OutputFormat,
    max: u32,
) -> Result<Run, Box<dyn Error>> {
    let messages = vec![Message::new(
        Role::User,
        format!("{prompt} Answer in JSON."),
    )];
    let req = ProviderRequest {
        response_format: format,
        ..ProviderRequest::greedy("bench", messages, max)
    };
    engine.forget_prefix();
    let t0 = Instant::now();
    let mut first = None;
    let Answer { text, usage, .. } = engine.generate(&req, &mut |_, _| {
        first.get_or_insert_with(|| t0.elapsed().as_secs_f64());
        true
    })?;
    let total = t0.elapsed().as_secs_f64();
    Ok(Run {
        text,
        tokens: usage.output_tokens,
        decode_s: total - first.unwrap_or(total),
    })
}

/// Each token's mask time, in microseconds, feeding `text`'s tokens through a fresh grammar.
fn mask_times(
    engine: &Engine,
    format: &OutputFormat,
    text: &str,
) -> Result<Vec<f64>, Box<dyn Error>> {
    let mut constraint = engine
        .constraint(format)?
        .ok_or("no grammar for a JSON format")?;
    let mut logits = vec![0.0f32; engine.info.vocab_size];
    let mut times = Vec::new();
    for id in engine.encode_text(text)? {
        logits.fill(0.0);
        let t0 = Instant::now();
        constraint.mask(&mut logits)?;
        times.push(t0.elapsed().as_secs_f64() * 1e6);
        constraint.accept(id)?;
    }
    Ok(times)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(0.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(&v, 0.5)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let threads = configure_threads(Some(args.threads));
    let engine = Engine::load_with(&args.model, &LoadOptions::with_threads(threads))?;
    let cases: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&args.schemas)?)?;
    let (mut masks, mut free_rates, mut constrained_rates) = (Vec::new(), Vec::new(), Vec::new());
    let (mut decode_total, mut valid) = (0.0, 0);
    for (i, case) in cases.iter().enumerate() {
        let name = case["name"].as_str().ok_or("a case without a name")?;
        let prompt = case["prompt"].as_str().ok_or("a case without a prompt")?;
        let schema = case["schema"].clone();
        let format =
            OutputFormat::JsonSchema(Arc::new(JsonSchemaFormat::new(name, schema.clone(), true)?));
        let (free, constrained) = if i % 2 == 0 {
            let f = generate(&engine, prompt, OutputFormat::Text, args.max_tokens)?;
            (
                f,
                generate(&engine, prompt, format.clone(), args.max_tokens)?,
            )
        } else {
            let c = generate(&engine, prompt, format.clone(), args.max_tokens)?;
            (
                generate(&engine, prompt, OutputFormat::Text, args.max_tokens)?,
                c,
            )
        };
        let ok = serde_json::from_str::<Value>(&constrained.text)
            .is_ok_and(|v| jsonschema::is_valid(&schema, &v));
        valid += usize::from(ok);
        let times = mask_times(&engine, &format, &constrained.text)?;
        println!(
            "{}",
            json!({"schema": name, "valid": ok, "free_tok_s": free.tok_s(),
                "constrained_tok_s": constrained.tok_s(), "constrained_tokens": constrained.tokens,
                "mask_us_mean": times.iter().sum::<f64>() / times.len().max(1) as f64})
        );
        decode_total += constrained.decode_s;
        masks.extend(times);
        free_rates.push(free.tok_s());
        constrained_rates.push(constrained.tok_s());
    }
    let mask_total: f64 = masks.iter().sum::<f64>() / 1e6;
    masks.sort_by(f64::total_cmp);
    println!(
        "{}",
        json!({"summary": true, "schemas": cases.len(), "valid": valid, "threads": threads,
            "mask_tokens": masks.len(),
            "mask_us_p50": percentile(&masks, 0.5), "mask_us_p99": percentile(&masks, 0.99),
            "mask_share": mask_total / decode_total,
            "free_tok_s": median(free_rates), "constrained_tok_s": median(constrained_rates)})
    );
    Ok(())
}
