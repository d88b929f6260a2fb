//! The OAuth2 client-credentials token endpoint (API.md §3), at both paths. Errors use the
//! Keycloak body `{error, error_description}`, except the body-size 413.

use std::collections::HashMap;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use omno_domain::ids::ClientId;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Claims, issue_token};
use crate::reply::read_limited;
use crate::security::{ct_eq, sha256_hex};
use crate::state::AppState;

/// The token routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(token))
        .routes(routes!(realm_token))
}

/// Successful token response.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    access_token: String,
    expires_in: u64,
    refresh_expires_in: u64,
    token_type: &'static str,
    #[serde(rename = "not-before-policy")]
    not_before_policy: u64,
    scope: &'static str,
}

/// Token request form (§3); credentials may come as HTTP Basic instead.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "schema only; the form is read by `client_credentials`"
)]
pub struct TokenRequest {
    /// Must be `client_credentials`.
    #[schema(pattern = "^client_credentials$")]
    grant_type: String,
    /// A credential's `clientId` (or HTTP Basic).
    #[schema(min_length = 1)]
    client_id: Option<String>,
    /// Its secret (or HTTP Basic).
    #[schema(min_length = 1)]
    client_secret: Option<String>,
    /// Ignored.
    scope: Option<String>,
}

/// OAuth2 error body.
#[derive(Serialize, ToSchema)]
pub struct OAuthError {
    error: &'static str,
    error_description: &'static str,
}

fn oauth_error(status: StatusCode, error: &'static str, description: &'static str) -> Response {
    let mut r = (
        status,
        axum::Json(OAuthError {
            error,
            error_description: description,
        }),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"omno\""),
        );
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn invalid_request(d: &'static str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_request", d)
}

fn invalid_client() -> Response {
    oauth_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "Invalid client or Invalid client credentials",
    )
}

/// Reads the client credentials of a token request (§3): HTTP Basic and/or the form body.
/// `Err` is the finished OAuth2 error response (or the §1.7 413).
pub async fn client_credentials(req: Request, limit: usize) -> Result<(String, String), Response> {
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("basic")
                .then(|| rest.trim().to_string())
        });
    let basic = match basic {
        None => None,
        Some(b) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b)
                .ok()
                .and_then(|d| String::from_utf8(d).ok());
            match decoded.as_deref().and_then(|d| d.split_once(':')) {
                Some((id, secret)) => Some((id.to_string(), secret.to_string())),
                None => return Err(invalid_request("malformed Basic credentials")),
            }
        }
    };
    let (headers, body) = read_limited(req, limit)
        .await
        .map_err(IntoResponse::into_response)?;
    let form_ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_ct {
        return Err(invalid_request(
            "body must be application/x-www-form-urlencoded",
        ));
    }
    let Ok(form) = serde_urlencoded::from_bytes::<HashMap<String, String>>(&body) else {
        return Err(invalid_request("malformed form body"));
    };
    match form.get("grant_type").map(String::as_str) {
        None | Some("") => return Err(invalid_request("Missing form parameter: grant_type")),
        Some("client_credentials") => {}
        Some(_) => {
            return Err(oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Unsupported grant_type",
            ));
        }
    }
    let form_creds = match (form.get("client_id"), form.get("client_secret")) {
        (Some(i), Some(s)) if !i.is_empty() && !s.is_empty() => Some((i.clone(), s.clone())),
        (None, None) => None,
        _ => {
            return Err(invalid_request(
                "Missing form parameter: client_id or client_secret",
            ));
        }
    };
    match (basic, form_creds) {
        (Some(b), Some(f)) if b != f => Err(invalid_request("conflicting client credentials")),
        (Some(c), _) | (None, Some(c)) => Ok(c),
        (None, None) => Err(invalid_request("Missing form parameter: client_id")),
    }
}

/// The success body of the token endpoint, with `Cache-Control: no-store`.
pub fn token_response(access_token: String, expires_in: u64) -> Response {
    let mut r = axum::Json(TokenResponse {
        access_token,
        expires_in,
        refresh_expires_in: 0,
        token_type: "Bearer",
        not_before_policy: 0,
        scope: "merchant",
    })
    .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn issue(state: AppState, req: Request) -> Response {
    let (client_id, secret) =
        match client_credentials(req, state.settings.server.body_limit_bytes).await {
            Ok(c) => c,
            Err(r) => return r,
        };
    let Some(cid) = ClientId::parse(&client_id) else {
        return invalid_client();
    };
    let client = match state.store.get_client(cid).await {
        Ok(Some(c)) => c,
        Ok(None) => return invalid_client(),
        Err(e) => {
            tracing::error!(error = %e, "token endpoint store error");
            return oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error",
            );
        }
    };
    if client.revoked_at.is_some() || !ct_eq(&sha256_hex(&secret), &client.secret_hash) {
        return invalid_client();
    }
    match state.store.get_merchant(client.merchant_id).await {
        Ok(Some(m)) if m.active => {}
        Ok(_) => return invalid_client(),
        Err(e) => {
            tracing::error!(error = %e, "token endpoint store error");
            return oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error",
            );
        }
    }
    let now = state.clock.now().unix_timestamp();
    let ttl = state.settings.auth.token_ttl_secs;
    let claims = Claims {
        iss: state.url("/realms/omno"),
        sub: format!("service-account-{}", cid.hex()),
        azp: cid.hex(),
        merchant_id: client.merchant_id.hex(),
        scope: "merchant".into(),
        typ: "Bearer".into(),
        iat: now,
        exp: now + ttl as i64,
        jti: uuid::Uuid::new_v4().simple().to_string(),
    };
    let Ok(token) = issue_token(&state, &claims) else {
        return oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error",
        );
    };
    token_response(token, ttl)
}

/// Issue an access token (client credentials).
#[utoipa::path(post, path = "/oauth/token", tag = "Auth", operation_id = "token",
    request_body(content_type = "application/x-www-form-urlencoded", content = TokenRequest),
    responses(
        (status = 200, description = "Access token", body = TokenResponse),
        (status = 400, description = "invalid_request or unsupported_grant_type", body = OAuthError),
        (status = 401, description = "invalid_client", body = OAuthError),
        (status = 413, description = "PAYLOAD_TOO_LARGE", body = crate::wire::ErrorEnvelope),
        (status = 500, description = "server_error", body = OAuthError),
    ))]
async fn token(State(state): State<AppState>, req: Request) -> Response {
    issue(state, req).await
}

/// Keycloak-style alias of `/oauth/token`.
#[utoipa::path(post, path = "/realms/{realm}/protocol/openid-connect/token", tag = "Auth",
    operation_id = "realmToken", params(("realm" = String, Path)),
    request_body(content_type = "application/x-www-form-urlencoded", content = TokenRequest),
    responses(
        (status = 200, description = "Access token", body = TokenResponse),
        (status = 400, description = "invalid_request or unsupported_grant_type", body = OAuthError),
        (status = 401, description = "invalid_client", body = OAuthError),
        (status = 413, description = "PAYLOAD_TOO_LARGE", body = crate::wire::ErrorEnvelope),
        (status = 500, description = "server_error", body = OAuthError),
    ))]
async fn realm_token(State(state): State<AppState>, req: Request) -> Response {
    issue(state, req).await
}
