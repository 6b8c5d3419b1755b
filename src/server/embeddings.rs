//! `POST /v1/embeddings`: OpenAI's embeddings format over the orchestrator's `embed`, which
//! applies the workspace's policy as for chat.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine as _;

use super::openai::set_headers;
use super::trace::{Arrived, TraceId};
use super::wire::embeddings::{
    Embedding, EmbeddingInput, EmbeddingList, EmbeddingsExtension, EmbeddingsRequest,
    EmbeddingsUsage, EncodingFormat, Vector,
};
use super::wire::error::ErrorBody;
use super::{auth, body, AppState};
use crate::error::Error;
use crate::orchestrator::{self, EmbeddingsOutcome};

/// The texts of `input`; token ids are refused.
fn texts(input: EmbeddingInput) -> Result<Vec<String>, Error> {
    match input {
        EmbeddingInput::One(t) => Ok(vec![t]),
        EmbeddingInput::Many(list) => Ok(list),
        EmbeddingInput::Tokens(ids) => Err(token_ids(&format!("{} token ids", ids.len()))),
        EmbeddingInput::TokenLists(lists) => {
            Err(token_ids(&format!("{} arrays of token ids", lists.len())))
        }
    }
}

fn token_ids(sent: &str) -> Error {
    Error::bad_request(
        "token_input_unsupported",
        format!("`input` holds {sent}; it must be a string or an array of strings: token ids mean something only to the tokenizer that made them, which Hearth cannot check (LangChain's OpenAIEmbeddings sends them unless check_embedding_ctx_length=False)"),
    )
}

/// Embeddings of one text or many, as numbers or base64.
#[utoipa::path(
    post,
    operation_id = "create_embeddings",
    path = "/v1/embeddings",
    tag = "openai",
    request_body = EmbeddingsRequest,
    responses(
        (status = 200, description = "One vector per input, in order", body = EmbeddingList),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
pub(super) async fn embeddings(
    State(state): State<AppState>,
    Extension(trace): Extension<TraceId>,
    Extension(arrived): Extension<Arrived>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, Error> {
    let limit = state.hearth.config().server.body_limit_bytes;
    let b: EmbeddingsRequest = body::json(&headers, raw, limit)?;
    let principal = auth::caller(&state, &headers, None, b.user.as_deref())?;
    let req = orchestrator::EmbeddingsRequest {
        principal,
        model: b.model,
        inputs: texts(b.input)?,
        dimensions: b.dimensions,
        received_at: arrived.0,
    };
    let out = state.hearth.embed(req, trace.0.clone()).await?;
    let cost = out.estimated_cost_usd;
    let provider = out.provider.clone();
    let mut resp = Json(list(out, b.encoding_format)).into_response();
    set_headers(resp.headers_mut(), &provider, false, Some(cost));
    Ok(resp)
}

fn list(out: EmbeddingsOutcome, format: EncodingFormat) -> EmbeddingList {
    let data = out
        .vectors
        .into_iter()
        .enumerate()
        .map(|(index, v)| Embedding {
            object: "embedding",
            index,
            embedding: encode(v, format),
        })
        .collect();
    EmbeddingList {
        object: "list",
        data,
        model: out.model,
        usage: EmbeddingsUsage {
            prompt_tokens: out.input_tokens,
            total_tokens: out.input_tokens,
        },
        hearth: EmbeddingsExtension {
            trace_id: out.trace_id,
            provider: out.provider,
            fallback_used: out.fallback_used,
            retry_count: out.retry_count,
            estimated_cost_usd: out.estimated_cost_usd,
            latency_ms: out.latency_ms,
            policy_decision: out.policy_decision,
        },
    }
}

/// A vector as numbers, or as OpenAI's base64: the little-endian bytes of each f32.
fn encode(v: Vec<f32>, format: EncodingFormat) -> Vector {
    match format {
        EncodingFormat::Float => Vector::Float(v),
        EncodingFormat::Base64 => {
            let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            Vector::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_the_little_endian_f32_bytes() {
        let Vector::Base64(s) = encode(vec![1.0, -2.5], EncodingFormat::Base64) else {
            panic!("not base64");
        };
        let bytes = base64::engine::general_purpose::STANDARD.decode(s).unwrap();
        assert_eq!(
            bytes,
            [1.0f32.to_le_bytes(), (-2.5f32).to_le_bytes()].concat()
        );
    }

    #[test]
    fn token_ids_are_refused_with_their_own_code() {
        let e = texts(EmbeddingInput::Tokens(vec![1, 2])).unwrap_err();
        assert_eq!(e.code(), "token_input_unsupported");
        assert_eq!(texts(EmbeddingInput::One("a".into())).unwrap(), ["a"]);
    }
}
