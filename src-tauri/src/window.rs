//! The one window: the UI loaded from the embedded gateway, told where the API is and which
//! token to use, and kept on that origin.

use tauri::{App, WebviewUrl, WebviewWindowBuilder};

use crate::gateway::Gateway;

/// Opens the main window on the gateway's `/`.
pub fn open(app: &App, gateway: &Gateway) -> tauri::Result<()> {
    let origin = gateway.origin();
    let url = tauri::Url::parse(&format!("{origin}/")).map_err(tauri::Error::InvalidUrl)?;
    let allowed = origin.clone();
    WebviewWindowBuilder::new(app, "main", WebviewUrl::External(url))
        .title("Hearth")
        .inner_size(1200.0, 780.0)
        .min_inner_size(640.0, 480.0)
        .initialization_script(host_script(&origin, &gateway.token))
        // Links to other sites do not replace the UI in this window (and never see the token).
        .on_navigation(move |url| url.origin().ascii_serialization() == allowed)
        .build()?;
    Ok(())
}

/// JavaScript run before the page's own: sets `window.__HEARTH__` for the gateway's
/// origin only, so a page of any other origin never gets the token.
fn host_script(origin: &str, token: &str) -> String {
    let host = serde_json::json!({ "baseUrl": origin, "token": token });
    let origin = serde_json::Value::String(origin.to_owned());
    format!(
        "if (window.location.origin === {origin}) {{ \
           Object.defineProperty(window, '__HEARTH__', {{ value: Object.freeze({host}), \
           writable: false, configurable: false }}); }}"
    )
}

#[cfg(test)]
mod tests {
    use super::host_script;

    #[test]
    fn the_token_is_set_for_the_gateway_origin_only() {
        let s = host_script("http://127.0.0.1:4321", "hs_ab\"c");
        assert!(s.starts_with("if (window.location.origin === \"http://127.0.0.1:4321\")"));
        assert!(s.contains(r#""token":"hs_ab\"c""#));
    }
}
