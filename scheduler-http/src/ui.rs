//! The dashboard: static assets embedded in the binary, served at `{prefix}/ui`.

use axum::extract::{OriginalUri, Path};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

use crate::ApiError;

const INDEX: &str = include_str!("../ui/index.html");
const APP_JS: &str = include_str!("../ui/app.js");
const APP_CSS: &str = include_str!("../ui/app.css");

/// The page, with `__BASE__` replaced by the prefix the router is mounted under.
pub(crate) async fn index(OriginalUri(uri): OriginalUri) -> Html<String> {
    let path = uri.path().trim_end_matches('/');
    let base = path.strip_suffix("/ui").unwrap_or("");
    Html(INDEX.replace("__BASE__", &html_escape(base)))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub(crate) async fn asset(Path(name): Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        _ => {
            return ApiError::new(axum::http::StatusCode::NOT_FOUND, "no such asset")
                .into_response();
        }
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
