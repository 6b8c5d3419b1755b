//! The checks every format passes, in one place so each format's test is one call.

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

use crate::act::{quantize, BLOCK};
use crate::{run, run_span, Format, Kernel, Matrix, Sums, Tiled, PASS, ROWS};

/// Runs every check on format `F` (GGUF type `dtype`, fixture `tests/fixtures/<name>.bin`).
pub(crate) fn check_format<F: Format>(dtype: GgmlDType, name: &str) {
    tiles_hold_the_values_llama_cpp_dequantizes(name, &tiles_from_fixture::<F>(name));
    every_simd_kernel_equals_the_scalar_reference::<F>(name);
    every_span_adds_up_what_its_passes_do::<F>(name);
    the_product_is_the_dequantized_product_up_to_activation_rounding::<F>(dtype);
}

fn tiles_from_fixture<F: Format>(name: &str) -> (usize, usize, Tiled<F>, Vec<f32>) {
    let path = format!("{}/tests/fixtures/{name}.bin", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let (n, k) = (word(0), word(4));
    let raw_len = n * k / F::VALUES * F::BYTES;
    let raw = &bytes[8..8 + raw_len];
    let want: Vec<f32> = bytes[8 + raw_len..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(want.len(), n * k, "{name}: fixture size");
    let tiled = Tiled::<F>::pack(raw, n, k).unwrap_or_else(|| panic!("{name}: does not tile"));
    (n, k, tiled, want)
}

/// The tiles, read back, are exactly what llama.cpp's dequantizer makes of the same bytes (up
/// to the last bit of an f32 product computed in another order).
fn tiles_hold_the_values_llama_cpp_dequantizes(
    name: &str,
    (n, k, tiled, want): &(usize, usize, Tiled<impl Format>, Vec<f32>),
) {
    for t in 0..n / ROWS {
        for b in 0..tiled.kt {
            let got = tiled.tiles[t * tiled.kt + b].dequantize();
            let values = k / tiled.kt;
            for r in 0..ROWS {
                for j in 0..values {
                    let (g, w) = (
                        got[r * values + j],
                        want[(t * ROWS + r) * k + b * values + j],
                    );
                    assert!(
                        (g - w).abs() <= 1e-6 * (1.0 + w.abs()),
                        "{name}: row {} value {}: {g} vs llama.cpp {w}",
                        t * ROWS + r,
                        b * values + j
                    );
                }
            }
        }
    }
}

/// Each SIMD kernel this CPU has, for 1 to 4 activation rows, adds up what the scalar
/// reference does (to f32 rounding of a different summation order), on random bytes and on
/// activations at the ends of the i8 range.
fn every_simd_kernel_equals_the_scalar_reference<F: Format>(name: &str) {
    let (_, k, tiled, _) = tiles_from_fixture::<F>(name);
    let kernels = simd_kernels();
    if kernels.is_empty() {
        eprintln!("no SIMD kernel runs on this CPU: only the scalar path is used here");
    }
    let mut x = activations(PASS, k);
    x[..k]
        .iter_mut()
        .enumerate()
        .for_each(|(i, v)| *v = if i % 3 == 0 { 9.0 } else { -9.0 });
    let acts = quantize(&x, PASS, k / BLOCK);
    let column = &tiled.tiles[..tiled.kt];
    for kernel in kernels {
        for rows in 1..=PASS {
            let (mut fast, mut slow): (Sums, Sums) = Default::default();
            run(kernel, column, &acts, rows, &mut fast);
            F::scalar(column, &acts, rows, &mut slow);
            assert_sums_close(&fast, &slow, 1e-5, || {
                format!("{name} on {kernel:?}, {rows} rows")
            });
        }
    }
}

/// A unit's span of passes (each row count from one past a pass to the format's `SPAN`
/// passes, so the last pass is full or partial) adds up what its passes do one by one, each
/// held to the scalar reference above. Held to the passes rather than to the scalar pass
/// itself: a span kernel does a pass's arithmetic in the pass's order, so 1e-6 leaves room
/// only for a compiler's reordering, while the scalar reference rounds its products apart,
/// and on rows whose terms cancel (Q5_K's minimums) that alone came to 9e-5 of the result.
fn every_span_adds_up_what_its_passes_do<F: Format>(name: &str) {
    let (_, k, tiled, _) = tiles_from_fixture::<F>(name);
    let most = PASS * F::SPAN;
    let acts = quantize(&activations(most, k), most, k / BLOCK);
    let ka = k / BLOCK;
    let column = &tiled.tiles[..tiled.kt];
    for kernel in simd_kernels() {
        for rows in PASS + 1..=most {
            let mut span = vec![Sums::default(); rows.div_ceil(PASS)];
            run_span(kernel, column, &acts[..rows * ka], rows, &mut span);
            for (p, span) in span.iter().enumerate() {
                let n = (rows - p * PASS).min(PASS);
                let mut pass = Sums::default();
                run(
                    kernel,
                    column,
                    &acts[p * PASS * ka..][..n * ka],
                    n,
                    &mut pass,
                );
                assert_sums_close(&span[..n], &pass[..n], 1e-6, || {
                    format!("{name} on {kernel:?}, {rows} rows, pass {p}")
                });
            }
        }
    }
}

/// `Matrix::matmul` over weights quantized by candle (llama.cpp's quantizer, ported) equals
/// the f32 product with the dequantized weights, within what rounding the activations to 8
/// bits can move it: half a step of each block's scale, times the weights it meets.
fn the_product_is_the_dequantized_product_up_to_activation_rounding<F: Format>(dtype: GgmlDType) {
    let (n, k) = (48, 2 * F::VALUES.max(BLOCK * 4));
    let values: Vec<f32> = (0..n * k)
        .map(|i| {
            let x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
        })
        .collect();
    let t = Tensor::from_vec(values, (n, k), &Device::Cpu).unwrap();
    let q = QTensor::quantize(&t, dtype).unwrap();
    let w = q
        .dequantize(&Device::Cpu)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    let matrix = Matrix::from_blocks(dtype, &q.data().unwrap(), n, k).unwrap();
    // One pass, a partial pass, a span of passes ending in a partial one, and more rows than
    // one span of 16 passes (Q5_K's and Q6_K's) holds, the second span partial.
    for m in [1, 3, 4, 9, 70] {
        let x = activations(m, k);
        let mut got = vec![0f32; m * n];
        matrix.matmul(&x, m, &mut got);
        for i in 0..m {
            let row = &x[i * k..(i + 1) * k];
            for (j, wj) in w.iter().enumerate() {
                let exact: f32 = row.iter().zip(wj).map(|(a, b)| a * b).sum();
                let bound: f32 = row
                    .chunks_exact(BLOCK)
                    .zip(wj.chunks_exact(BLOCK))
                    .map(|(xs, ws)| {
                        let step = xs.iter().fold(0f32, |a, v| a.max(v.abs())) / 127.0;
                        0.5 * step * ws.iter().map(|v| v.abs()).sum::<f32>()
                    })
                    .sum();
                let g = got[i * n + j];
                assert!(
                    (g - exact).abs() <= bound * 1.01 + 1e-4 * (1.0 + exact.abs()),
                    "{dtype:?} row {i} output {j}: {g} vs {exact} (bound {bound})"
                );
            }
        }
    }
}

/// Each SIMD kernel this CPU has adds up what the scalar reference (i32 sums) does on a
/// matrix of nothing but `block`, a format's largest products, against activations of
/// +127 and -127 in every lane: where a kernel's i16 sums could saturate, they would here.
pub(crate) fn simd_sums_do_not_saturate_at_the_extremes<F: Format>(block: &[u8]) {
    let k = 2 * F::VALUES;
    let raw = block.repeat(ROWS * k / F::VALUES);
    let tiled = Tiled::<F>::pack(&raw, ROWS, k).unwrap();
    // Rows alternate +1 and -1, so every pass meets both signs.
    let rows = PASS * F::SPAN.max(2);
    let x: Vec<f32> = (0..rows * k)
        .map(|i| if (i / k) % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let acts = quantize(&x, rows, k / BLOCK);
    assert!(acts
        .iter()
        .all(|a| a.qs.iter().all(|q| q.unsigned_abs() == 127)));
    let mut slow = Sums::default();
    F::scalar(&tiled.tiles, &acts, PASS, &mut slow);
    for kernel in simd_kernels() {
        let mut one = Sums::default();
        run(kernel, &tiled.tiles, &acts, PASS, &mut one);
        let mut span = vec![Sums::default(); rows / PASS];
        run_span(kernel, &tiled.tiles, &acts, rows, &mut span);
        for (how, fast) in [("one pass", &one), ("a span", &span[rows / PASS - 1])] {
            assert_sums_close(fast, &slow, 1e-5, || format!("{kernel:?}, {how}"));
        }
    }
}

/// Every output of `fast` within `tolerance` of `slow`'s, relative to its size (plus the same
/// absolute, for outputs near 0); `what` names the case in a failure.
fn assert_sums_close(
    fast: &[[f32; ROWS]],
    slow: &[[f32; ROWS]],
    tolerance: f32,
    what: impl Fn() -> String,
) {
    assert_eq!(fast.len(), slow.len(), "{}", what());
    for (i, (f, s)) in fast
        .as_flattened()
        .iter()
        .zip(slow.as_flattened())
        .enumerate()
    {
        assert!(
            (f - s).abs() <= tolerance * (1.0 + s.abs()),
            "{}, output {i}: {f} vs {s}",
            what()
        );
    }
}

/// The SIMD kernels this CPU has: each is held to the scalar pass. A CPU with AVX-512 VNNI
/// has AVX2, FMA and F16C too, so it runs both.
fn simd_kernels() -> Vec<Kernel> {
    match crate::kernel() {
        Kernel::Avx512Vnni => vec![Kernel::Avx512Vnni, Kernel::Avx2],
        Kernel::Avx2 => vec![Kernel::Avx2],
        Kernel::Scalar => vec![],
    }
}

fn activations(m: usize, k: usize) -> Vec<f32> {
    (0..m * k)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
        .collect()
}

#[test]
fn a_row_read_back_is_the_row_llama_cpp_dequantizes() {
    let (n, k, tiled, want) = tiles_from_fixture::<crate::q4_k::Tile>("q4_k");
    let raw = {
        let path = format!("{}/tests/fixtures/q4_k.bin", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(path).unwrap()[8..8 + tiled.tiles.len() * ROWS * 144].to_vec()
    };
    let m = Matrix::from_blocks(GgmlDType::Q4K, &raw, n, k).unwrap();
    let mut row = vec![0f32; k];
    for i in [0, 5, 17, n - 1] {
        m.row(i, &mut row);
        for (j, (g, w)) in row.iter().zip(&want[i * k..(i + 1) * k]).enumerate() {
            assert!(
                (g - w).abs() <= 1e-6 * (1.0 + w.abs()),
                "row {i} value {j}: {g} vs {w}"
            );
        }
    }
}

#[test]
fn shapes_that_do_not_tile_are_refused_and_formats_without_a_kernel_too() {
    let raw = vec![0u8; 16 * 20];
    assert!(Matrix::from_blocks(GgmlDType::Q4_1, &raw, 16, 32).is_some());
    assert!(Matrix::from_blocks(GgmlDType::Q4_1, &raw, 8, 64).is_none());
    assert!(Matrix::from_blocks(GgmlDType::Q4_1, &raw[1..], 16, 32).is_none());
    assert!(Matrix::from_blocks(GgmlDType::Q4_1, &raw, 16, 30).is_none());
    assert!(Matrix::from_blocks(GgmlDType::Q2K, &raw, 16, 32).is_none());
}
