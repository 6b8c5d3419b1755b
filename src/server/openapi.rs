//! The OpenAPI document of Hearth's API, generated from the handlers and the types in
//! `wire/`, served at `/openapi.json` and printed by `hearth openapi`.

use std::sync::LazyLock;

use axum::Json;
use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Hearth", description = "A local-first LLM orchestrator's API."),
    paths(
        super::openai::completions,
        super::openai::models,
        super::text_completions::completions,
        super::embeddings::embeddings,
        super::chat::chat,
        super::ops::health,
        super::ops::ready,
        super::ops::metrics,
        super::ops::audit,
        super::ui::session,
        super::threads::list_threads,
        super::threads::create_thread,
        super::threads::show_thread,
        super::threads::rename_thread,
        super::threads::delete_thread,
        super::threads::list_messages,
        super::threads::add_message,
        super::threads::list_comparisons,
        super::threads::save_comparison,
        super::threads::show_comparison,
        super::threads::delete_comparison,
        super::admin::list_workspaces,
        super::admin::create_workspace,
        super::admin::show_workspace,
        super::admin::patch_workspace,
        super::admin::purge_cache,
        super::admin::create_key,
        super::admin::list_keys,
        super::admin::revoke_key,
        super::admin::list_prompts,
        super::admin::show_prompt,
        super::admin::create_prompt,
        super::admin::promote_prompt,
        super::admin::rollback_prompt,
        super::admin::usage,
        super::admin::providers,
        super::admin::alerts,
        super::admin::list_models,
        super::admin::pull_model,
        super::console::import_model,
        super::console::remove_model,
        super::console::search_models,
        super::console::costs_view,
        super::console::policy,
        super::console::validate_policy,
        super::console::apply_policy,
        super::console::use_model,
        super::console::test_provider,
        super::console::set_key,
        super::console::render_prompt,
    ),
    components(schemas(
        super::wire::models::Pulled,
        super::wire::models::PullFailure
    )),
    modifiers(&BearerKey),
    security(("api_key" = [])),
)]
struct ApiDoc;

/// An API key (or the UI's session token) as `Authorization: Bearer ...`.
struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build();
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme("api_key", SecurityScheme::Http(scheme));
    }
}

/// The document, built once.
pub fn document() -> &'static Value {
    static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        reopen_flattened_parts(&mut doc);
        doc
    });
    &DOCUMENT
}

/// utoipa closes a `deny_unknown_fields` struct with `additionalProperties: false`, which
/// would also refuse the fields of a struct it is flattened into (an `allOf`). Such a part is
/// inlined without it, and the whole is closed with `unevaluatedProperties`, which sees the
/// fields of every part.
fn reopen_flattened_parts(doc: &mut Value) {
    let schemas = doc["components"]["schemas"].clone();
    let Some(Value::Object(all)) = doc.pointer_mut("/components/schemas") else {
        return;
    };
    for schema in all.values_mut() {
        let Some(Value::Array(parts)) = schema.get_mut("allOf") else {
            continue;
        };
        let mut closed = false;
        for part in parts.iter_mut() {
            let name = part["$ref"].as_str().and_then(|r| r.strip_prefix(SCHEMAS));
            let Some(target) = name.and_then(|n| schemas.get(n)) else {
                continue;
            };
            if target["additionalProperties"] == Value::Bool(false) {
                let mut open = target.clone();
                open.as_object_mut()
                    .map(|o| o.remove("additionalProperties"));
                *part = open;
                closed = true;
            }
        }
        if closed {
            schema["unevaluatedProperties"] = Value::Bool(false);
        }
    }
}

const SCHEMAS: &str = "#/components/schemas/";

/// `GET /openapi.json`.
pub(super) async fn serve() -> Json<&'static Value> {
    Json(document())
}
