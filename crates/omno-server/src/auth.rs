//! Authentication (API.md §1.2, §3): merchant API keys, OAuth2 client-credentials access tokens,
//! and the admin token.
//!
//! Resolution of `Authorization`: trim, strip an optional case-insensitive `Bearer `, then an
//! `sk_test_`/`sk_live_` value is an API key (looked up by SHA-256) and anything else is verified
//! as an HS256 JWT. Failures say only one of the contract's four messages.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use jsonwebtoken::{Header, Validation};
use omno_domain::ids::{ClientId, MerchantId};
use omno_store::MerchantRecord;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::security::{ct_eq, sha256_hex};
use crate::state::AppState;

const MISSING: &str = "missing credentials";
const INVALID: &str = "invalid credentials";
const EXPIRED: &str = "access token expired";
const DISABLED: &str = "merchant disabled";

/// Access-token claims (§3).
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: `{public_base_url}/realms/omno`.
    pub iss: String,
    /// `service-account-{client_id}`.
    pub sub: String,
    /// `client_id`.
    pub azp: String,
    /// Merchant.
    #[serde(rename = "merchantId")]
    pub merchant_id: String,
    /// `merchant`.
    pub scope: String,
    /// `Bearer`.
    pub typ: String,
    /// Issued at.
    pub iat: i64,
    /// Expiry.
    pub exp: i64,
    /// Token id.
    pub jti: String,
}

/// Signs an access token.
pub fn issue_token(state: &AppState, claims: &Claims) -> Result<String, ApiError> {
    let mut header = Header::new(state.keys.jwt.algorithm);
    header.typ = Some("JWT".into());
    jsonwebtoken::encode(&header, claims, &state.keys.jwt.encoding).map_err(ApiError::internal)
}

/// The credential part of an `Authorization` value.
fn credential(headers: &HeaderMap) -> Result<&str, ApiError> {
    let raw = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized(MISSING))?
        .to_str()
        .map_err(|_| ApiError::Unauthorized(INVALID))?
        .trim();
    let value = match raw.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("bearer ") => raw[7..].trim(),
        Some(_) | None => raw,
    };
    if value.is_empty() {
        return Err(ApiError::Unauthorized(MISSING));
    }
    Ok(value)
}

/// Resolves the merchant of a `/public` request.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<MerchantRecord, ApiError> {
    let cred = credential(headers)?;
    let store = &*state.store;
    let merchant_id = if cred.starts_with("sk_test_") || cred.starts_with("sk_live_") {
        state
            .config
            .api_key_owner(store, &sha256_hex(cred))
            .await?
            .ok_or(ApiError::Unauthorized(INVALID))?
    } else {
        let mut v = Validation::new(state.keys.jwt.algorithm);
        v.leeway = 0;
        v.validate_exp = true;
        v.set_required_spec_claims(&["exp"]);
        let data = jsonwebtoken::decode::<Claims>(cred, &state.keys.jwt.decoding, &v).map_err(
            |e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    ApiError::Unauthorized(EXPIRED)
                }
                _ => ApiError::Unauthorized(INVALID),
            },
        )?;
        // `exp` > now, no leeway (jsonwebtoken accepts exp == now).
        if data.claims.exp <= state.clock.now().unix_timestamp() {
            return Err(ApiError::Unauthorized(EXPIRED));
        }
        let client_id = ClientId::parse(&data.claims.azp).ok_or(ApiError::Unauthorized(INVALID))?;
        let owner = state
            .config
            .client_owner(store, client_id)
            .await?
            .ok_or(ApiError::Unauthorized(INVALID))?;
        if owner.hex() != data.claims.merchant_id {
            return Err(ApiError::Unauthorized(INVALID));
        }
        owner
    };
    let merchant = state
        .config
        .merchant(store, merchant_id)
        .await?
        .ok_or(ApiError::Unauthorized(INVALID))?;
    if !merchant.active {
        return Err(ApiError::Unauthorized(DISABLED));
    }
    Ok((*merchant).clone())
}

/// The authenticated merchant of a `/public` request, within its rate limit (§1.10).
pub struct AuthMerchant(pub MerchantRecord);

impl FromRequestParts<AppState> for AuthMerchant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let merchant = authenticate(state, &parts.headers).await?;
        // §1.6 order: authentication → rate limit → body limit (the body is read after this).
        state
            .rate_limiter
            .check(merchant.id)
            .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
        Ok(AuthMerchant(merchant))
    }
}

impl AuthMerchant {
    /// The merchant id.
    pub fn id(&self) -> MerchantId {
        self.0.id
    }
}

/// An authenticated admin request.
pub struct AdminAuth;

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        check_admin(state, &parts.headers).map(|()| AdminAuth)
    }
}

/// Checks the admin token of a request (constant-time); no token configured → refused.
pub fn check_admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = state.settings.admin.token.as_deref() else {
        return Err(ApiError::Unauthorized(INVALID));
    };
    if ct_eq(credential(headers)?, expected) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized(INVALID))
    }
}
