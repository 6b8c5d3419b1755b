//! Property tests of what the hosted adapters read from a provider's stream: the SSE parser
//! gives the same events however the body is cut into chunks, and each adapter's decoder
//! takes any events (named or not, JSON of its own shape with values of any type, noise)
//! without panicking, ending with a usage and a finish reason.

use proptest::prelude::*;

use super::sse::{Parser, SseEvent};
use super::streaming::Decoder;
use super::{anthropic, gemini, openai};
use crate::fuzzing;

/// The keys the three providers' stream events carry.
const WIRE_KEYS: &[&str] = &[
    "choices",
    "delta",
    "content",
    "finish_reason",
    "usage",
    "prompt_tokens",
    "completion_tokens",
    "prompt_tokens_details",
    "cached_tokens",
    "type",
    "text",
    "index",
    "message",
    "error",
    "code",
    "content_block",
    "stop_reason",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "candidates",
    "parts",
    "finishReason",
    "usageMetadata",
    "promptTokenCount",
    "candidatesTokenCount",
    "cachedContentTokenCount",
    "promptFeedback",
    "blockReason",
    "thoughtsTokenCount",
];

/// Events as the providers send them, and not.
fn events() -> impl Strategy<Value = Vec<SseEvent>> {
    let name = proptest::option::of(proptest::sample::select(vec![
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
        "error",
        "other",
    ]));
    let data = prop_oneof![
        6 => fuzzing::json_object(WIRE_KEYS).prop_map(|v| v.to_string()),
        1 => fuzzing::json(WIRE_KEYS).prop_map(|v| v.to_string()),
        1 => Just("[DONE]".to_owned()),
        1 => fuzzing::text(),
    ];
    let event = (name, data).prop_map(|(event, data)| SseEvent {
        event: event.map(str::to_owned),
        data,
    });
    proptest::collection::vec(event, 0..12)
}

/// Feeds every event (an error ends the stream, as the stream loop does), then finishes.
fn decode<D: Decoder>(mut d: D, events: &[SseEvent]) {
    for ev in events {
        if d.event(ev).is_err() {
            break;
        }
    }
    let _ = d.finish();
}

/// The events of `bytes` cut at `cuts` (positions, taken modulo the length).
fn parse_in_chunks(bytes: &[u8], cuts: &[usize]) -> Vec<SseEvent> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    at.sort_unstable();
    let mut p = Parser::default();
    let mut out = Vec::new();
    let mut from = 0;
    for to in at.into_iter().chain([bytes.len()]) {
        out.extend(p.feed(&bytes[from..to]));
        from = to;
    }
    out.extend(p.finish());
    out
}

/// A body of SSE lines, well-formed or not.
fn sse_body() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        fuzzing::text().prop_map(|t| format!("data: {t}\n")),
        fuzzing::json_object(WIRE_KEYS).prop_map(|v| format!("data: {v}\r\n")),
        Just("\n".to_owned()),
        Just("event: content_block_delta\n".to_owned()),
        Just(": keep-alive\n".to_owned()),
        ".{0,8}",
    ];
    proptest::collection::vec(line, 0..16).prop_map(|lines| lines.concat().into_bytes())
}

proptest! {
    #![proptest_config(fuzzing::config_with(2048))]

    #[test]
    fn fuzz_sse_events_do_not_depend_on_where_the_body_is_cut(
        body in prop_oneof![sse_body(), proptest::collection::vec(any::<u8>(), 0..256)],
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        prop_assert_eq!(parse_in_chunks(&body, &cuts), parse_in_chunks(&body, &[]));
    }

    #[test]
    fn fuzz_every_decoder_takes_any_events(events in events()) {
        decode(openai::ChunkDecoder::default(), &events);
        decode(anthropic::EventDecoder::default(), &events);
        decode(gemini::ChunkDecoder::default(), &events);
    }

    #[test]
    fn fuzz_a_decoder_passes_on_exactly_the_text_it_is_sent(texts in proptest::collection::vec(fuzzing::text(), 0..6)) {
        let mut d = openai::ChunkDecoder::default();
        let mut got = String::new();
        for t in &texts {
            let chunk = serde_json::json!({"choices": [{"index": 0, "delta": {"content": t}}]});
            let ev = SseEvent { event: None, data: chunk.to_string() };
            if let Ok(super::streaming::Step::Deltas(deltas)) = d.event(&ev) {
                for delta in deltas {
                    if let crate::providers::Delta::Text(t) = delta {
                        got.push_str(&t);
                    }
                }
            }
        }
        prop_assert_eq!(got, texts.concat());
    }
}
