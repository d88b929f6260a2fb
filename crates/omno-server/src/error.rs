//! The one error envelope of the API (API.md §1.7) and its rendering.
//!
//! Handlers return [`ApiError`]; its `IntoResponse` stores the parts in the response extensions,
//! and [`render`] — called by the outermost middleware on every answer — adds `path` and
//! `timestamp`, logs the cause of 5xx responses with the request id, and writes the body. Errors produced by axum itself
//! (unknown route, wrong method) get the same envelope there.

use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use omno_domain::errors::FieldErrors;
use serde::Serialize;

use crate::clock::fmt_ts;

/// Every error an API endpoint can answer with.
#[derive(Debug)]
pub enum ApiError {
    /// 400 `VALIDATION_ERROR` with every invalid field.
    Validation(FieldErrors),
    /// 400 `MALFORMED_JSON`.
    MalformedJson(String),
    /// 401 `UNAUTHORIZED` with one of the contract's messages.
    Unauthorized(&'static str),
    /// 404 `NOT_FOUND`.
    NotFound,
    /// 405 `METHOD_NOT_ALLOWED`.
    MethodNotAllowed,
    /// 409 `INVALID_STATE`.
    InvalidState(String),
    /// 409 `DUPLICATE_ORDER_ID`.
    DuplicateOrderId,
    /// 413 `PAYLOAD_TOO_LARGE`.
    PayloadTooLarge,
    /// 422 `IDEMPOTENCY_KEY_REUSED`.
    IdempotencyKeyReused,
    /// 429 `RATE_LIMITED`.
    RateLimited {
        /// Seconds until a retry may succeed (≥ 1).
        retry_after_secs: u64,
    },
    /// 500 `INTERNAL_ERROR`; the cause is logged, never sent.
    Internal(String),
    /// 500 `INTERNAL_ERROR` after `server.request_timeout_secs`.
    Timeout,
}

/// Rendering parts of an error, carried in response extensions to [`render`].
#[derive(Debug, Clone)]
pub struct ErrorParts {
    code: &'static str,
    message: String,
    errors: Vec<(String, String)>,
    cause: Option<String>,
}

impl ApiError {
    /// HTTP status and stable code.
    pub fn status_code(&self) -> (StatusCode, &'static str) {
        use StatusCode as S;
        match self {
            Self::Validation(_) => (S::BAD_REQUEST, "VALIDATION_ERROR"),
            Self::MalformedJson(_) => (S::BAD_REQUEST, "MALFORMED_JSON"),
            Self::Unauthorized(_) => (S::UNAUTHORIZED, "UNAUTHORIZED"),
            Self::NotFound => (S::NOT_FOUND, "NOT_FOUND"),
            Self::MethodNotAllowed => (S::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED"),
            Self::InvalidState(_) => (S::CONFLICT, "INVALID_STATE"),
            Self::DuplicateOrderId => (S::CONFLICT, "DUPLICATE_ORDER_ID"),
            Self::PayloadTooLarge => (S::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            Self::IdempotencyKeyReused => (S::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED"),
            Self::RateLimited { .. } => (S::TOO_MANY_REQUESTS, "RATE_LIMITED"),
            Self::Internal(_) | Self::Timeout => (S::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR"),
        }
    }

    /// A single-field validation error.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(FieldErrors::single(field, message))
    }

    /// An internal error from any displayable cause.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}

impl From<omno_store::StoreError> for ApiError {
    fn from(e: omno_store::StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_code();
        let retry_after = match &self {
            Self::RateLimited { retry_after_secs } => Some((*retry_after_secs).max(1)),
            _ => None,
        };
        let mut cause = None;
        let mut errors = Vec::new();
        let message = match self {
            Self::Validation(fe) => {
                errors = fe.iter().map(|e| (e.field, e.message)).collect();
                if errors.len() == 1 {
                    "1 field is invalid".to_string()
                } else {
                    format!("{} fields are invalid", errors.len())
                }
            }
            Self::MalformedJson(m) | Self::InvalidState(m) => m,
            Self::Unauthorized(m) => m.to_string(),
            Self::NotFound => "resource not found".into(),
            Self::MethodNotAllowed => "method not allowed".into(),
            Self::DuplicateOrderId => "orderId was already used with a different request".into(),
            Self::PayloadTooLarge => "request body is too large".into(),
            Self::IdempotencyKeyReused => {
                "Idempotency-Key was already used with a different request".into()
            }
            Self::RateLimited { .. } => "rate limit exceeded".into(),
            Self::Internal(c) => {
                cause = Some(c);
                "internal error".into()
            }
            Self::Timeout => "request timed out".into(),
        };
        let mut res = status.into_response();
        if let Some((k, v)) = self_headers(status) {
            res.headers_mut().insert(k, v);
        }
        if let Some(secs) = retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res.extensions_mut().insert(ErrorParts {
            code,
            message,
            errors,
            cause,
        });
        res
    }
}

fn self_headers(status: StatusCode) -> Option<(header::HeaderName, HeaderValue)> {
    (status == StatusCode::UNAUTHORIZED).then(|| {
        (
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"omno\""),
        )
    })
}

/// Builds a 429 with `Retry-After` (integer seconds ≥ 1).
pub fn rate_limited(retry_after_secs: u64) -> Response {
    ApiError::RateLimited { retry_after_secs }.into_response()
}

#[derive(Serialize)]
struct Envelope<'a> {
    timestamp: String,
    status: u16,
    error: &'a str,
    code: &'a str,
    message: &'a str,
    path: &'a str,
    errors: Vec<FieldErrorBody<'a>>,
}

#[derive(Serialize)]
struct FieldErrorBody<'a> {
    field: &'a str,
    message: &'a str,
}

/// Renders [`ErrorParts`] into the envelope (`path` from `uri`), and gives axum's own 404/405
/// answers the envelope too; any other answer passes unchanged. The outermost middleware
/// ([`crate::request_id::request_id`]) calls it on every answer.
pub fn render(mut res: Response, uri: &Uri, request_id: &str) -> Response {
    let parts = match res.extensions_mut().remove::<ErrorParts>() {
        Some(p) => p,
        None => {
            let status = res.status();
            let is_empty_error = (status == StatusCode::METHOD_NOT_ALLOWED
                || status == StatusCode::NOT_FOUND)
                && res.headers().get(header::CONTENT_TYPE).is_none();
            if !is_empty_error {
                return res;
            }
            let e = if status == StatusCode::NOT_FOUND {
                ApiError::NotFound
            } else {
                ApiError::MethodNotAllowed
            };
            let mut fresh = e.into_response();
            for (k, v) in res.headers() {
                fresh.headers_mut().insert(k.clone(), v.clone());
            }
            res = fresh;
            match res.extensions_mut().remove::<ErrorParts>() {
                Some(p) => p,
                None => return res,
            }
        }
    };
    let status = res.status();
    let path = uri.path();
    if let Some(cause) = &parts.cause {
        tracing::error!(request_id, path, cause = %cause, "internal error");
    }
    let body = Envelope {
        timestamp: fmt_ts(time::OffsetDateTime::now_utc()),
        status: status.as_u16(),
        error: status.canonical_reason().unwrap_or("Error"),
        code: parts.code,
        message: &parts.message,
        path,
        errors: parts
            .errors
            .iter()
            .map(|(f, m)| FieldErrorBody {
                field: f,
                message: m,
            })
            .collect(),
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let (mut head, _) = res.into_parts();
    head.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    head.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(head, axum::body::Body::from(bytes))
}
