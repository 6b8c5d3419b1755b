//! llama.cpp's recorded behaviour on a model (`tests/fixtures/`, written by
//! `tests/fixtures/record_llamacpp.py`) and the checks that compare Hearth's engine with it.

use std::path::PathBuf;

use hearth::providers::local::Engine;
use serde_json::Value;

/// A fixture file of `tests/fixtures/`.
pub fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// The `n` ids with the largest logits, largest first.
pub fn top(logits: &[f32], n: usize) -> Vec<u32> {
    let mut idx: Vec<u32> = (0..logits.len() as u32).collect();
    idx.sort_by(|a, b| logits[*b as usize].total_cmp(&logits[*a as usize]));
    idx.truncate(n);
    idx
}

/// Feeds the fixture's prompt and llama.cpp's greedy continuation to `e` one token at a
/// time and compares the next-token logits at every position with llama.cpp's: the top 10
/// share at least 8 ids, and the top 1 is the same wherever llama.cpp leads by more than
/// 0.5. Quantized engines differ in rounding (llama.cpp itself gives a different greedy token
/// than its own batched eval at near-ties, see the script), so an exact match would test the
/// rounding, while a confident disagreement means a wrong computation.
/// Returns our logits at every position, for further checks.
pub fn teacher_forced_agreement(e: &Engine, name: &str) -> Vec<Vec<f32>> {
    let f = fixture(name);
    let mut seq = ids(&f["prompt_ids"]);
    seq.extend(ids(&f["generated_ids"]));
    let ours = e.logits_along(&seq).unwrap();
    let mut checked = 0;
    for p in f["positions"].as_array().unwrap() {
        let pos = p["pos"].as_u64().unwrap() as usize;
        let theirs: Vec<(u32, f64)> = p["top10"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| (x[0].as_u64().unwrap() as u32, x[1].as_f64().unwrap()))
            .collect();
        let mine = top(&ours[pos], 10);
        let overlap = mine
            .iter()
            .filter(|id| theirs.iter().any(|(t, _)| t == *id))
            .count();
        assert!(
            overlap >= 8,
            "position {pos}: top-10 overlap {overlap}; llama.cpp {theirs:?}, ours {:?}",
            mine.iter()
                .map(|id| (*id, ours[pos][*id as usize]))
                .collect::<Vec<_>>()
        );
        if theirs[0].1 - theirs[1].1 > 0.5 {
            assert_eq!(
                mine[0], theirs[0].0,
                "position {pos}: top-1 differs where llama.cpp leads by > 0.5"
            );
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} confident positions checked");
    ours
}

/// Fails unless each of llama.cpp's top-10 logits at every position of fixture `name` is
/// within `bound` of `ours` (our logits at every position).
pub fn assert_logits_within(name: &str, ours: &[Vec<f32>], bound: f64) {
    for p in fixture(name)["positions"].as_array().unwrap() {
        let pos = p["pos"].as_u64().unwrap() as usize;
        for x in p["top10"].as_array().unwrap() {
            let (id, theirs) = (x[0].as_u64().unwrap() as usize, x[1].as_f64().unwrap());
            let mine = f64::from(ours[pos][id]);
            assert!(
                (mine - theirs).abs() <= bound,
                "{name} position {pos}, token {id}: llama.cpp {theirs}, ours {mine}"
            );
        }
    }
}
