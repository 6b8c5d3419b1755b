//! What the property tests share: their settings and generators of hostile input shaped
//! like what each parser reads (known field names with values of every type, and noise).
//! CI runs a fixed seed and a bounded number of cases; `scripts/fuzz` runs many more with a
//! random seed (`PROPTEST_CASES`, `PROPTEST_RNG_SEED`).

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use serde_json::Value;

/// The seed CI uses, so a failure is the same failure on every machine.
const CI_SEED: u64 = 0x4845_4152_5448;

/// Cases per property unless `PROPTEST_CASES` says otherwise.
const CI_CASES: u32 = 256;

/// Settings of every property test: `PROPTEST_*` variables when set, else CI's.
pub fn config() -> Config {
    config_with(CI_CASES)
}

/// The same with more cases in CI, for a property whose case takes microseconds.
pub fn config_with(ci_cases: u32) -> Config {
    let mut c = Config::default();
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        c.rng_seed = RngSeed::Fixed(CI_SEED);
    }
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = ci_cases;
    }
    c.failure_persistence = None;
    c
}

/// Text that is sometimes plain, sometimes hostile: control and non-ASCII characters,
/// template and SSE syntax, quotes.
pub fn text() -> BoxedStrategy<String> {
    prop_oneof![
        "[a-z ]{0,12}",
        ".{0,24}",
        Just("{{ 7*7 }}{% for x in range(99) %}".to_owned()),
        Just("data: [DONE]\n\n\u{0}\u{202e}\"'\\".to_owned()),
        Just("<|im_end|>".to_owned()),
    ]
    .boxed()
}

/// JSON whose object keys are mostly from `keys` (so parsers get past their first field)
/// and whose values are of any type, nested a few levels.
pub fn json(keys: &'static [&'static str]) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u32>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    let key = prop_oneof![
        4 => proptest::sample::select(keys).prop_map(str::to_owned),
        1 => "[a-z_]{1,8}",
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// A JSON object (the shape every body and event must have) from `json`.
pub fn json_object(keys: &'static [&'static str]) -> BoxedStrategy<Value> {
    proptest::collection::btree_map(
        proptest::sample::select(keys).prop_map(str::to_owned),
        json(keys),
        0..10,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()))
    .boxed()
}
