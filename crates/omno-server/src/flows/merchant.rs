//! Merchants and their credentials: creation (admin API, demo seed) and re-issuing secrets.

use omno_domain::ids::{ApiKeyId, ClientId, MerchantId};
use omno_domain::money::Currency;
use omno_store::{ApiKeyRecord, ClientRecord, MerchantRecord, Store};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ApiError;
use crate::security::{Keys, random_alnum, sha256_hex};

/// What a new merchant is created with.
#[derive(Debug, Clone)]
pub struct NewMerchant {
    /// Display name.
    pub name: String,
    /// `test` or `live`.
    pub mode: String,
    /// Enabled currencies.
    pub enabled_currencies: Vec<Currency>,
    /// Whether payouts wait for confirmation.
    pub payout_confirmation_required: bool,
    /// Frame allow-list.
    pub allowed_frame_origins: Vec<String>,
}

/// Secrets shown once, at creation.
#[derive(Debug, Clone)]
pub struct IssuedCredentials {
    /// Merchant.
    pub merchant_id: MerchantId,
    /// `sk_test_…`.
    pub api_key: String,
    /// OAuth client id.
    pub client_id: ClientId,
    /// `cs_…`.
    pub client_secret: String,
    /// `whsec_…`.
    pub webhook_secret: String,
}

/// A fresh API key record and its clear value.
pub fn new_api_key(
    merchant: MerchantId,
    mode: &str,
    name: Option<String>,
    demo: bool,
    now: OffsetDateTime,
) -> (ApiKeyRecord, String) {
    let prefix = if mode == "live" {
        "sk_live_"
    } else {
        "sk_test_"
    };
    let key = format!("{prefix}{}", random_alnum(40));
    let rec = ApiKeyRecord {
        id: ApiKeyId(Uuid::now_v7()),
        merchant_id: merchant,
        name,
        key_hash: sha256_hex(&key),
        prefix: prefix.into(),
        last4: key[key.len() - 4..].to_string(),
        demo,
        created_at: now,
        revoked_at: None,
    };
    (rec, key)
}

/// A fresh client secret.
pub fn new_client_secret() -> String {
    format!("cs_{}", random_alnum(40))
}

/// Creates a merchant with one API key, one OAuth client and its webhook secret.
pub async fn create(
    store: &dyn Store,
    keys: &Keys,
    m: NewMerchant,
    demo: bool,
    now: OffsetDateTime,
) -> Result<IssuedCredentials, ApiError> {
    let id = MerchantId(Uuid::now_v7());
    let webhook_secret = format!("whsec_{}", random_alnum(32));
    store
        .insert_merchant(&MerchantRecord {
            id,
            name: m.name,
            mode: m.mode.clone(),
            active: true,
            enabled_currencies: m.enabled_currencies,
            payout_confirmation_required: m.payout_confirmation_required,
            default_router_id: None,
            allowed_frame_origins: m.allowed_frame_origins,
            webhook_secret_enc: keys.seal(webhook_secret.as_bytes()),
            created_at: now,
            updated_at: now,
        })
        .await?;
    let (key_rec, api_key) = new_api_key(id, &m.mode, None, demo, now);
    store.insert_api_key(&key_rec).await?;
    let client_id = ClientId(Uuid::now_v7());
    let client_secret = new_client_secret();
    store
        .insert_client(&ClientRecord {
            client_id,
            merchant_id: id,
            name: None,
            secret_hash: sha256_hex(&client_secret),
            demo,
            created_at: now,
            revoked_at: None,
        })
        .await?;
    Ok(IssuedCredentials {
        merchant_id: id,
        api_key,
        client_id,
        client_secret,
        webhook_secret,
    })
}

/// The merchant's webhook secret in clear (it signs deliveries).
pub fn webhook_secret(keys: &Keys, m: &MerchantRecord) -> Result<String, ApiError> {
    keys.open(&m.webhook_secret_enc)
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            ApiError::internal("webhook secret cannot be decrypted (vault key changed?)")
        })
}
