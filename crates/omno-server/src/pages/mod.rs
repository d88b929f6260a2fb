//! Hosted HTML pages (API.md §11): server-rendered, no external assets, addressed by signed page
//! tokens (never an API key), with the security headers of §11.3 on every HTML response.
//!
//! # Layout
//! - this file: the router, page rendering, security headers, static assets.
//! - [`cashier`]: the hosted cashier (deposit and withdraw tabs).
//! - [`payin`]: the payin pages (card form, APM choice, 3DS challenge) and the status page.
//! - [`payout`]: the payout destination pages (card, APM) and the status page.

pub mod cashier;
pub mod payin;
pub mod payout;

use askama::Template;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use omno_store::MerchantRecord;

use crate::state::AppState;

/// The hosted-page routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/hpp/assets/{file}", axum::routing::get(asset))
        .merge(cashier::router())
        .merge(payin::router())
        .merge(payout::router())
}

const CSS: &str = include_str!("../../assets/omno.css");
const STATUS_JS: &str = include_str!("../../assets/status.js");
const CASHIER_CSS: &str = include_str!("../../assets/cashier.css");
const CASHIER_JS: &str = include_str!("../../assets/cashier.js");

async fn asset(Path(file): Path<String>) -> Response {
    let (ct, body) = match file.as_str() {
        "omno.css" => ("text/css; charset=utf-8", CSS),
        "status.js" => ("text/javascript; charset=utf-8", STATUS_JS),
        "cashier.css" => ("text/css; charset=utf-8", CASHIER_CSS),
        "cashier.js" => ("text/javascript; charset=utf-8", CASHIER_JS),
        _ => return (StatusCode::NOT_FOUND, "not found").into_response(),
    };
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
}

/// Origin (`scheme://host[:port]`) of an absolute URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then(|| format!("{scheme}://{host}"))
}

/// The §11.3 headers for a page of `merchant` whose return URLs are `return_urls`.
pub fn secure_html(
    status: StatusCode,
    html: String,
    merchant: Option<&MerchantRecord>,
    return_urls: &[&str],
) -> Response {
    let ancestors = match merchant {
        Some(m) if !m.allowed_frame_origins.is_empty() => m.allowed_frame_origins.join(" "),
        Some(_) | None => "'self'".to_string(),
    };
    let mut form_action = vec!["'self'".to_string()];
    form_action.extend(return_urls.iter().filter_map(|u| origin_of(u)));
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action {}; base-uri 'none'; frame-ancestors {ancestors}",
        form_action.join(" ")
    );
    let mut r = (status, html).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct MessagePage<'a> {
    pub(crate) title: &'a str,
    pub(crate) text: &'a str,
}

/// A plain message page (404, 403, 410, errors).
pub fn message(status: StatusCode, title: &str, text: &str) -> Response {
    let html = MessagePage { title, text }
        .render()
        .unwrap_or_else(|_| title.to_string());
    secure_html(status, html, None, &[])
}

/// Renders a template into a response with `wrap`, or a 500 page.
pub fn render<T: Template>(t: &T, wrap: impl FnOnce(String) -> Response) -> Response {
    match t.render() {
        Ok(html) => wrap(html),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again later.",
            )
        }
    }
}
