//! Times one projection shape in one format: Hearth's tiled kernel against candle's
//! quantized matmul on the same weights, for decode (1 row) and prompt (64 rows) shapes.
//!
//!   cargo run --release -p hearth-quant --example matmul -- q4_k 2048 8192
//!
//! Arguments: format (q4_0 q4_1 q5_0 q8_0 q4_k q5_k q6_k), output rows n, inner size k, then
//! optionally the activation row counts m to time (default 1 and 64).
//! Prints the median of 15 runs of each; weights read per second is the decode figure that
//! matters (decode is bound by memory bandwidth).

use std::time::{Duration, Instant};

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use hearth_quant::Matrix;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [format, n, k, ms @ ..] = args.as_slice() else {
        return Err("usage: matmul FORMAT N K [M...]".into());
    };
    let ms: Vec<usize> = if ms.is_empty() {
        vec![1, 64]
    } else {
        ms.iter().map(|m| m.parse()).collect::<Result<_, _>>()?
    };
    let dtype = match format.as_str() {
        "q4_0" => GgmlDType::Q4_0,
        "q4_1" => GgmlDType::Q4_1,
        "q5_0" => GgmlDType::Q5_0,
        "q8_0" => GgmlDType::Q8_0,
        "q4_k" => GgmlDType::Q4K,
        "q5_k" => GgmlDType::Q5K,
        "q6_k" => GgmlDType::Q6K,
        other => return Err(format!("unknown format {other}").into()),
    };
    let (n, k): (usize, usize) = (n.parse()?, k.parse()?);
    let values: Vec<f32> = (0..n * k)
        .map(|i| ((i * 7919 % 1009) as f32 / 1009.0 - 0.5) * 0.1)
        .collect();
    let w = QTensor::quantize(&Tensor::from_vec(values, (n, k), &Device::Cpu)?, dtype)?;
    let bytes = w.storage_size_in_bytes();
    let ours = Matrix::from_blocks(dtype, &w.data()?, n, k).ok_or("no kernel for this format")?;
    let candle = QMatMul::from_qtensor(w)?;
    println!(
        "{format} {n}x{k}: {:.1} MB of weights, kernel {}",
        bytes as f64 / 1e6,
        hearth_quant::kernel().name()
    );
    for m in ms {
        let x: Vec<f32> = (0..m * k)
            .map(|i| ((i * 31 % 97) as f32 - 48.0) / 50.0)
            .collect();
        let xt = Tensor::from_vec(x.clone(), (m, k), &Device::Cpu)?;
        let mut out = vec![0f32; m * n];
        let hearth = median(|| ours.matmul(&x, m, &mut out));
        let theirs = median(|| {
            let _ = candle.forward(&xt);
        });
        let rate = |t: Duration| bytes as f64 / t.as_secs_f64() / 1e9;
        println!(
            "  m={m:>2}: hearth {:>8.1} us ({:.1} GB/s)  candle {:>8.1} us ({:.1} GB/s)  x{:.2}",
            hearth.as_secs_f64() * 1e6,
            rate(hearth),
            theirs.as_secs_f64() * 1e6,
            rate(theirs),
            theirs.as_secs_f64() / hearth.as_secs_f64()
        );
    }
    Ok(())
}

fn median(mut f: impl FnMut()) -> Duration {
    f();
    let mut times: Vec<Duration> = (0..15)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}
