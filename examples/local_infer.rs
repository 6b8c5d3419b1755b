//! Local-inference benchmark of Hearth's on-device engine (candle), the counterpart of
//! `bench/local_llamacpp.py`; `bench/local.sh` runs both side by side.
//!
//! ```sh
//! cargo build --release --example local_infer
//! target/release/examples/local_infer --model FILE.gguf --threads 2 \
//!     --prompt-file bench/local_prompt.txt --max-tokens 128 --runs 3
//! ```
//!
//! The prompt file's text (trimmed) is one user message, rendered through the model's chat
//! template (`Engine::prompt_ids`). Each run is a greedy generation (temperature 0, no
//! repetition penalty) of up to `--max-tokens` tokens; it stops early only at EOS, and then
//! reports the tokens actually generated. Output: one JSON line per run, on stdout:
//!
//! - `kv_cache_type`: how the KV cache stores keys and values (`--kv-cache-type`, `f16` or
//!   `q8_0`);
//! - `load_s`: `Engine::load` wall time (the same in every run of one process);
//! - `ttft_s`: from the call to `generate` to the first piece of text (template, tokenizer,
//!   the whole prompt's forward pass and the first sample);
//! - `prompt_tok_s` = `prompt_tokens / ttft_s`;
//! - `decode_tok_s` = `(generated - 1) / (total_s - ttft_s)`;
//! - `cpu_s`: CPU time (user + system, all threads) this process used during the run, from
//!   `/proc/self/stat` (clock ticks of 1/100 s); about `threads x total_s` when workers spin;
//! - `peak_rss_mib`: `VmHWM` of this process (read after the run, so it covers the load and
//!   every run before it);
//! - `prompt_sha256`: of the prompt's token ids written as decimal numbers joined by commas,
//!   so a driver can check both engines saw the same ids.

use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use hearth::providers::local::{configure_threads, Answer, Engine, KvCacheType, LoadOptions};
use hearth::providers::{Message, OutputFormat, ProviderRequest, Role};
use sha2::{Digest, Sha256};

/// Times Hearth's local engine on one prompt: load, prompt processing, decode, peak RSS.
#[derive(Parser, Debug)]
#[command(name = "local_infer")]
struct Args {
    /// The GGUF model file.
    #[arg(long)]
    model: PathBuf,
    /// CPU threads for candle (set before the model loads).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// A text file whose contents are the user message.
    #[arg(long)]
    prompt_file: PathBuf,
    /// Largest number of tokens to generate per run.
    #[arg(long, default_value_t = 128)]
    max_tokens: u32,
    /// Measured runs (one JSON line each).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Untimed warm-up generations before the measured runs (a 4-token answer to a short
    /// prompt: starts the thread pool and touches every weight once).
    #[arg(long, default_value_t = 0)]
    warmup: usize,
    /// A label copied into every JSON line.
    #[arg(long, default_value = "candle")]
    engine_label: String,
    /// How the KV cache stores keys and values: `f16` or `q8_0`.
    #[arg(long, default_value = "f16")]
    kv_cache_type: KvCacheType,
}

fn request(text: &str, max_tokens: u32) -> ProviderRequest {
    ProviderRequest {
        model_id: "bench".into(),
        messages: vec![Message::new(Role::User, text.to_owned())],
        max_output_tokens: max_tokens,
        temperature: 0.0,
        top_p: None,
        top_k: None,
        min_p: None,
        stop: Vec::new(),
        seed: Some(0),
        response_format: OutputFormat::Text,
        tools: Default::default(),
    }
}

/// `VmHWM` (peak resident set) of this process in KiB, from `/proc/self/status`.
fn peak_rss_kib() -> Result<u64, Box<dyn Error>> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .ok_or("no VmHWM line in /proc/self/status")?;
    let kib = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()?;
    Ok(kib)
}

/// CPU time (user + system, all threads) of this process so far, in seconds, from
/// `/proc/self/stat` (fields 14 and 15, in clock ticks of 1/100 s: `CLK_TCK` on Linux x86).
fn cpu_seconds() -> Result<f64, Box<dyn Error>> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The command name (field 2) may contain spaces; the fields after it are plain.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or("unexpected /proc/self/stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| -> Result<u64, Box<dyn Error>> {
        Ok(fields
            .get(i)
            .ok_or("short /proc/self/stat")?
            .parse::<u64>()?)
    };
    // `after` starts at field 3 (state): utime is field 14, stime field 15.
    Ok((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    if args.runs == 0 || args.max_tokens < 2 {
        return Err("--runs must be at least 1 and --max-tokens at least 2".into());
    }
    let text = std::fs::read_to_string(&args.prompt_file)
        .map_err(|e| format!("cannot read {}: {e}", args.prompt_file.display()))?;
    let text = text.trim();

    // candle reads its thread count from the environment once, at its first computation.
    let threads = configure_threads(Some(args.threads));
    let started = Instant::now();
    let options = LoadOptions {
        kv_cache_type: args.kv_cache_type,
        ..LoadOptions::with_threads(threads)
    };
    let engine = Engine::load_with(&args.model, &options)?;
    let load_s = started.elapsed().as_secs_f64();

    let req = request(text, args.max_tokens);
    let prompt = engine.prompt_ids(&req.messages)?;
    let joined: Vec<String> = prompt.iter().map(u32::to_string).collect();
    let prompt_sha256 = hex::encode(Sha256::digest(joined.join(",").as_bytes()));

    for _ in 0..args.warmup {
        let warm = request("Say hello.", 4);
        engine.generate(&warm, &mut |_, _| true)?;
    }

    for run in 1..=args.runs {
        engine.forget_prefix();
        let mut first: Option<f64> = None;
        let cpu0 = cpu_seconds()?;
        let t0 = Instant::now();
        let Answer {
            text: answer,
            usage,
            finish,
            ..
        } = engine.generate(&req, &mut |_piece, _| {
            if first.is_none() {
                first = Some(t0.elapsed().as_secs_f64());
            }
            true
        })?;
        let total_s = t0.elapsed().as_secs_f64();
        let cpu_s = cpu_seconds()? - cpu0;
        let generated = usage.output_tokens;
        let ttft_s = first.unwrap_or(total_s);
        let prompt_tok_s = usage.input_tokens as f64 / ttft_s;
        let decode_s = total_s - ttft_s;
        let decode_tok_s = if generated > 1 && decode_s > 0.0 {
            (generated - 1) as f64 / decode_s
        } else {
            0.0
        };
        let line = serde_json::json!({
            "engine": args.engine_label,
            "kv_cache_type": args.kv_cache_type.name(),
            "run": run,
            "threads": threads,
            "prompt_tokens": usage.input_tokens,
            "reused_prompt_tokens": usage.cached_input_tokens,
            "prompt_sha256": prompt_sha256,
            "generated_tokens": generated,
            "finish": finish.as_str(),
            "load_s": round(load_s, 4),
            "ttft_s": round(ttft_s, 4),
            "total_s": round(total_s, 4),
            "prompt_tok_s": round(prompt_tok_s, 2),
            "decode_tok_s": round(decode_tok_s, 2),
            "cpu_s": round(cpu_s, 2),
            "peak_rss_mib": round(peak_rss_kib()? as f64 / 1024.0, 1),
            "answer_head": answer.chars().take(80).collect::<String>(),
        });
        println!("{line}");
    }
    Ok(())
}
