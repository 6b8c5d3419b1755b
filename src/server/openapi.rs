//! The OpenAPI document of Hearth's API, generated from the handlers and the types in
//! `wire/`, served at `/openapi.json` and printed by `hearth openapi`.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Hearth", description = "A local-first LLM orchestrator's API."),
    paths(
        super::openai::completions,
        super::openai::models,
        super::text_completions::completions,
        super::chat::chat,
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
    ),
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

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// `GET /openapi.json`.
pub(super) async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}
