//! Request plumbing shared by the JSON endpoints: the body reader (size limit, content type),
//! the `Idempotency-Key` header, and [`Reply`], a pre-serialized JSON response that can be
//! stored and replayed byte for byte.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use omno_domain::errors::FieldErrors;
use omno_domain::validate;

use crate::error::ApiError;
use crate::state::AppState;

/// The raw request body, read within `server.body_limit_bytes` and checked for a JSON (or
/// absent) content type when non-empty (API.md §1.1, §1.6).
pub struct Body(pub Bytes);

fn is_json(ct: &HeaderValue) -> bool {
    let Ok(s) = ct.to_str() else { return false };
    let mime = s.split(';').next().unwrap_or("").trim();
    mime.eq_ignore_ascii_case("application/json")
}

/// Reads a body within `limit` bytes; 413 beyond it (chunked bodies included).
pub async fn read_limited(req: Request, limit: usize) -> Result<(HeaderMap, Bytes), ApiError> {
    let (parts, body) = req.into_parts();
    if let Some(len) = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit as u64
    {
        return Err(ApiError::PayloadTooLarge);
    }
    match axum::body::to_bytes(body, limit).await {
        Ok(b) => Ok((parts.headers, b)),
        Err(e) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                || e.to_string().contains("length limit");
            if too_large {
                Err(ApiError::PayloadTooLarge)
            } else {
                Err(ApiError::MalformedJson(
                    "request body could not be read".into(),
                ))
            }
        }
    }
}

/// Reads a JSON (or absent) body within `limit` bytes: 413 beyond it, 400 `MALFORMED_JSON` for a
/// non-empty body of another content type.
pub async fn read_json(req: Request, limit: usize) -> Result<Bytes, ApiError> {
    let (headers, bytes) = read_limited(req, limit).await?;
    if !bytes.is_empty()
        && let Some(ct) = headers.get(header::CONTENT_TYPE)
        && !is_json(ct)
    {
        return Err(ApiError::MalformedJson(
            "Content-Type must be application/json".into(),
        ));
    }
    Ok(bytes)
}

impl FromRequest<AppState> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        read_json(req, state.settings.server.body_limit_bytes)
            .await
            .map(Body)
    }
}

/// A path parameter as sent. A matched route whose parameter cannot be decoded (an invalid UTF-8
/// percent-escape) names no object: 404 `NOT_FOUND` (API.md §1.2), never axum's plain-text 400.
pub struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|p| PathId(p.0))
            .map_err(|_| ApiError::NotFound)
    }
}

/// Path parameters of any shape (admin routes take several); undecodable → 404 `NOT_FOUND` in
/// the envelope, like [`PathId`].
pub struct AppPath<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for AppPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| AppPath(p.0))
            .map_err(|_| ApiError::NotFound)
    }
}

/// A body that is read (for the size limit) and ignored: confirm, reject.
pub struct IgnoredBody;

impl FromRequest<AppState> for IgnoredBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        read_limited(req, state.settings.server.body_limit_bytes).await?;
        Ok(IgnoredBody)
    }
}

/// The `Idempotency-Key` header, unvalidated (validation runs with the body, §1.6 order).
pub fn idempotency_header(headers: &HeaderMap) -> Option<Result<String, ()>> {
    headers.get("idempotency-key").map(|v| match v.to_str() {
        Ok(s) if validate::idempotency_key(s).is_ok() => Ok(s.to_string()),
        Ok(_) | Err(_) => Err(()),
    })
}

/// Adds the `Idempotency-Key` error to `errs` when the header is invalid; returns the key.
pub fn idempotency_key(headers: &HeaderMap, errs: &mut FieldErrors) -> Option<String> {
    match idempotency_header(headers)? {
        Ok(k) => Some(k),
        Err(()) => {
            errs.add("Idempotency-Key", "must be 1-255 visible ASCII characters");
            None
        }
    }
}

/// The `Idempotency-Key` header of a request and its field error, if malformed.
pub fn idem_header(headers: &HeaderMap) -> (Option<String>, FieldErrors) {
    let mut errs = FieldErrors::new();
    let key = idempotency_key(headers, &mut errs);
    (key, errs)
}

/// A JSON response whose body is already serialized (so it can be stored and replayed).
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Body bytes.
    pub body: String,
    /// Answered from a stored response (`Idempotent-Replayed: true`).
    pub replayed: bool,
}

impl Reply {
    /// A fresh 200.
    pub fn ok(body: String) -> Self {
        Self {
            status: StatusCode::OK,
            body,
            replayed: false,
        }
    }

    /// A fresh answer with another 2xx status (201 for admin creates, 202 for redeliver).
    pub fn with_status(status: StatusCode, body: String) -> Self {
        Self {
            status,
            body,
            replayed: false,
        }
    }

    /// A replay of a stored response.
    pub fn replay(status: u16, body: String) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            body,
            replayed: true,
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let no_content = self.status == StatusCode::NO_CONTENT;
        let mut res = (self.status, self.body).into_response();
        if no_content {
            res.headers_mut().remove(header::CONTENT_TYPE);
        } else {
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        if self.replayed {
            res.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        res
    }
}

/// Serializes a response body.
pub fn to_json<T: serde::Serialize>(v: &T) -> Result<String, ApiError> {
    serde_json::to_string(v).map_err(ApiError::internal)
}
