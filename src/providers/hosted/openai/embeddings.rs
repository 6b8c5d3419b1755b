//! OpenAI's `POST /embeddings`: its wire format and the call. Kept apart from the chat
//! wire (`wire.rs`) because nothing is shared but the error object.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::http;
use super::super::lenient;
use super::wire::ErrorBody;
use super::{embedded_error, OpenAi};
use crate::providers::{EmbedRequest, EmbedResponse, ProviderError, Usage};

/// A `POST /embeddings` body. Vectors are always asked for as floats: Hearth re-encodes
/// them for its own caller.
#[derive(Debug, Serialize)]
pub(super) struct EmbeddingsRequest<'a> {
    pub(super) model: &'a str,
    pub(super) input: &'a [String],
    pub(super) encoding_format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) dimensions: Option<u32>,
}

/// The answer: a `list` of `embedding` objects and the usage.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct EmbeddingsResponse {
    #[serde(deserialize_with = "lenient::non_null")]
    pub(super) error: Option<ErrorBody>,
    pub(super) data: Vec<EmbeddingObject>,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) usage: Option<EmbeddingsUsage>,
}

/// One vector; a vector of another shape makes the whole answer malformed, never a guess.
#[derive(Debug, Deserialize)]
pub(super) struct EmbeddingObject {
    pub(super) index: usize,
    pub(super) embedding: Vec<f32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct EmbeddingsUsage {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) prompt_tokens: u64,
}

impl OpenAi {
    /// Embeds `req`'s inputs with one call.
    pub(super) async fn embeddings(
        &self,
        req: &EmbedRequest,
    ) -> Result<EmbedResponse, ProviderError> {
        let body = EmbeddingsRequest {
            model: &req.model_id,
            input: &req.inputs,
            encoding_format: "float",
            dimensions: req.dimensions,
        };
        let mut call = self
            .endpoint
            .request(reqwest::Method::POST, "/embeddings")
            .json(&body);
        if let Some(k) = &self.endpoint.key {
            call = call.bearer_auth(k.expose());
        }
        let v = http::json_body(http::send(call).await?).await?;
        vectors(&v, req)
    }
}

/// The vectors of an answer, in the inputs' order.
fn vectors(v: &Value, req: &EmbedRequest) -> Result<EmbedResponse, ProviderError> {
    let body: EmbeddingsResponse = serde_json::from_value(v.clone()).map_err(|e| {
        ProviderError::Malformed(format!("an embeddings answer of another shape: {e}"))
    })?;
    if let Some(e) = &body.error {
        return Err(embedded_error(e, v));
    }
    let mut slots: Vec<Option<Vec<f32>>> = vec![None; req.inputs.len()];
    for d in body.data {
        match slots.get_mut(d.index) {
            Some(slot @ None) => *slot = Some(d.embedding),
            _ => {
                return Err(ProviderError::Malformed(format!(
                    "an embedding with index {} for {} inputs",
                    d.index,
                    req.inputs.len()
                )))
            }
        }
    }
    let vectors = slots
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| ProviderError::Malformed("the answer lacks an input's embedding".into()))?;
    let input_tokens = body.usage.map_or_else(
        || {
            req.inputs
                .iter()
                .map(|t| crate::providers::estimate_tokens(t))
                .sum()
        },
        |u| u.prompt_tokens,
    );
    Ok(EmbedResponse {
        vectors,
        usage: Usage {
            input_tokens,
            ..Usage::default()
        },
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn request(n: usize) -> EmbedRequest {
        EmbedRequest {
            model_id: "text-embedding-3-small".into(),
            inputs: (0..n).map(|i| format!("text {i}")).collect(),
            dimensions: None,
        }
    }

    #[test]
    fn the_body_asks_for_floats_and_names_dimensions_only_when_set() {
        let inputs = vec!["a".to_owned()];
        let body = |dimensions| {
            serde_json::to_value(EmbeddingsRequest {
                model: "m",
                input: &inputs,
                encoding_format: "float",
                dimensions,
            })
            .unwrap()
        };
        assert_eq!(
            body(None),
            json!({"model": "m", "input": ["a"], "encoding_format": "float"})
        );
        assert_eq!(body(Some(64))["dimensions"], 64);
    }

    #[test]
    fn vectors_come_back_in_the_inputs_order_whatever_order_they_arrive_in() {
        let v = json!({"object": "list", "model": "m", "usage": {"prompt_tokens": 7, "total_tokens": 7},
            "data": [{"object": "embedding", "index": 1, "embedding": [0.0, 1.0]},
                     {"object": "embedding", "index": 0, "embedding": [1.0, 0.0]}]});
        let r = vectors(&v, &request(2)).unwrap();
        assert_eq!(r.vectors, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
        assert_eq!(r.usage.input_tokens, 7);
    }

    #[test]
    fn a_missing_duplicate_or_misshapen_vector_is_malformed() {
        let one = |data: Value| vectors(&json!({ "data": data }), &request(2));
        let e = |i: usize| json!({"index": i, "embedding": [1.0]});
        assert!(matches!(
            one(json!([e(0)])),
            Err(ProviderError::Malformed(_))
        ));
        assert!(matches!(
            one(json!([e(0), e(0)])),
            Err(ProviderError::Malformed(_))
        ));
        assert!(matches!(
            one(json!([e(0), e(2)])),
            Err(ProviderError::Malformed(_))
        ));
        let text = json!([e(0), {"index": 1, "embedding": "AAAA"}]);
        assert!(matches!(one(text), Err(ProviderError::Malformed(_))));
    }

    #[test]
    fn an_error_object_is_the_error_it_names() {
        let v =
            json!({"error": {"message": "slow down", "type": "rate_limit_exceeded", "code": 429}});
        assert!(matches!(
            vectors(&v, &request(1)),
            Err(ProviderError::RateLimited { .. })
        ));
    }
}
