//! `Idempotency-Key` on admin `POST`/`PUT` (API.md §1.8 B, §13.1), as one middleware.
//!
//! Scope is `admin`; the fingerprint is method + path + the canonical JSON of the body. A repeat
//! with the same fingerprint gets the stored 2xx response (`Idempotent-Replayed: true`), a
//! different one 422. Unlike the public endpoints, the stored response is written right after the
//! admin operation rather than in its transaction: admin operations are operator actions on
//! configuration, and a crash between the two only means a retry runs the operation again.
//! `POST /admin/merchants` keeps its own handling (its 400 lists the key with the body errors).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use omno_domain::errors::FieldErrors;
use omno_store::{IdemCheck, IdemWrite, StoredResponse};
use sha2::{Digest, Sha256};

use crate::clock::trunc_ms;
use crate::error::ApiError;
use crate::reply::{Reply, idempotency_key, read_limited};
use crate::state::AppState;

fn canonical(body: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        // serde_json's Map is ordered by key: re-serializing sorts keys and drops whitespace.
        Ok(v) => serde_json::to_vec(&v).unwrap_or_default(),
        Err(_) => body.to_vec(),
    }
}

/// The middleware.
pub async fn admin_idempotency(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let applies = req.uri().path().starts_with("/admin/")
        && matches!(*req.method(), Method::POST | Method::PUT)
        && !(req.method() == Method::POST && req.uri().path() == "/admin/merchants")
        && req.headers().contains_key("idempotency-key")
        && crate::auth::check_admin(&state, req.headers()).is_ok();
    if !applies {
        return next.run(req).await;
    }
    let mut errs = FieldErrors::new();
    let Some(key) = idempotency_key(req.headers(), &mut errs) else {
        return ApiError::Validation(errs).into_response();
    };
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let (parts, body) = req.into_parts();
    let bytes = match read_limited(
        Request::from_parts(parts.clone(), body),
        state.settings.server.body_limit_bytes,
    )
    .await
    {
        Ok((_, b)) => b,
        Err(e) => return e.into_response(),
    };
    let mut h = Sha256::new();
    h.update(format!("{method} {path}\n").as_bytes());
    h.update(canonical(&bytes));
    let fingerprint = hex::encode(h.finalize());
    let now = trunc_ms(state.clock.now());
    let not_before =
        now - time::Duration::seconds(state.settings.idempotency.retention_secs as i64);
    match state
        .store
        .check_idempotency("admin", &key, &fingerprint, not_before)
        .await
    {
        Ok(IdemCheck::Fresh) => {}
        Ok(IdemCheck::Replay(r)) => return Reply::replay(r.status, r.body).into_response(),
        Ok(IdemCheck::Mismatch) => return ApiError::IdempotencyKeyReused.into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    }
    let res = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if !res.status().is_success() {
        return res;
    }
    let (head, body) = res.into_parts();
    let Ok(out) = axum::body::to_bytes(body, usize::MAX).await else {
        return ApiError::internal("response body unreadable").into_response();
    };
    let write = IdemWrite {
        scope: "admin".into(),
        key,
        fingerprint,
        response: StoredResponse {
            status: head.status.as_u16(),
            body: String::from_utf8_lossy(&out).into_owned(),
        },
        created_at: now,
        not_before,
    };
    if let Err(e) = state.store.put_idempotency(&write, not_before).await {
        tracing::error!(error = %e, "storing the admin idempotency record failed");
    }
    let mut res = Response::from_parts(head, Body::from(out));
    res.headers_mut().remove(header::CONTENT_LENGTH);
    if res.headers().get(header::CONTENT_TYPE).is_none() {
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    res
}
