//! The `omno demo` merchant (API.md §15.2): created on the first run, reused afterwards with
//! freshly issued API key and client secret (the previously printed ones revoked).

use omno_domain::ids::{ClientId, MerchantId, PspAccountId};
use omno_domain::money::Currency;
use omno_domain::psp::{Direction, PaymentMethod, PspAccount};
use uuid::Uuid;

use crate::clock::trunc_ms;
use crate::error::ApiError;
use crate::flows::merchant::{self, NewMerchant};
use crate::security::sha256_hex;
use crate::state::AppState;

/// What `omno demo` prints.
#[derive(Debug, Clone)]
pub struct DemoCredentials {
    /// Demo merchant.
    pub merchant_id: MerchantId,
    /// Fresh API key.
    pub api_key: String,
    /// Stable OAuth client.
    pub client_id: ClientId,
    /// Fresh client secret.
    pub client_secret: String,
    /// Stable webhook secret.
    pub webhook_secret: String,
}

fn currencies(codes: &[&str]) -> Vec<Currency> {
    codes
        .iter()
        .filter_map(|c| Currency::parse(c).ok())
        .collect()
}

/// Seeds (or re-seeds) the demo merchant and its simulator accounts.
pub async fn seed_demo(state: &AppState) -> Result<DemoCredentials, ApiError> {
    let store = &*state.store;
    let now = trunc_ms(state.clock.now());
    let existing = match store.get_setting("demo.merchant_id").await? {
        Some(id) => match MerchantId::parse(&id) {
            Some(mid) => store.get_merchant(mid).await?,
            None => None,
        },
        None => None,
    };
    let client_of = store
        .get_setting("demo.client_id")
        .await?
        .and_then(|c| ClientId::parse(&c));
    let creds = match (existing, client_of) {
        (Some(m), Some(client_id)) => {
            let (key, api_key) =
                merchant::new_api_key(m.id, &m.mode, Some("demo".into()), true, now);
            store.insert_api_key(&key).await?;
            store.revoke_demo_credentials(m.id, key.id, now).await?;
            let client_secret = merchant::new_client_secret();
            store
                .set_client_secret(client_id, &sha256_hex(&client_secret), now)
                .await?;
            DemoCredentials {
                merchant_id: m.id,
                api_key,
                client_id,
                client_secret,
                webhook_secret: merchant::webhook_secret(&state.keys, &m)?,
            }
        }
        (Some(_), None) | (None, _) => {
            let c = merchant::create(
                store,
                &state.keys,
                NewMerchant {
                    name: "Demo Merchant".into(),
                    mode: "test".into(),
                    enabled_currencies: currencies(&["EUR", "USD", "GBP", "GEL", "JPY", "CHF"]),
                    payout_confirmation_required: true,
                    allowed_frame_origins: vec![
                        "http://127.0.0.1:*".into(),
                        "http://localhost:*".into(),
                    ],
                },
                true,
                now,
            )
            .await?;
            store
                .put_setting("demo.merchant_id", &c.merchant_id.hex())
                .await?;
            store
                .put_setting("demo.client_id", &c.client_id.hex())
                .await?;
            DemoCredentials {
                merchant_id: c.merchant_id,
                api_key: c.api_key,
                client_id: c.client_id,
                client_secret: c.client_secret,
                webhook_secret: c.webhook_secret,
            }
        }
    };
    let have = store.list_psp_accounts(creds.merchant_id).await?;
    let all_methods = vec![
        PaymentMethod::Card,
        PaymentMethod::BankTransfer,
        PaymentMethod::EWallet,
    ];
    let seeds = [
        (
            "sim-main",
            currencies(&["EUR", "USD", "GBP"]),
            vec![Direction::Payin, Direction::Payout],
        ),
        (
            "sim-usd",
            currencies(&["USD"]),
            vec![Direction::Payin, Direction::Payout],
        ),
        (
            "sim-payout",
            currencies(&["EUR", "USD", "GBP"]),
            vec![Direction::Payout],
        ),
    ];
    for (i, (name, cur, dirs)) in seeds.into_iter().enumerate() {
        if have.iter().any(|a| a.name == name) {
            continue;
        }
        let account = PspAccount {
            id: PspAccountId(Uuid::now_v7()),
            merchant_id: creds.merchant_id,
            name: name.into(),
            connector: "simulator".into(),
            enabled: true,
            currencies: cur,
            countries: vec![],
            methods: all_methods.clone(),
            directions: dirs,
            kyc_required: false,
            latency_ms: 0,
            force_decline: None,
            decline_rate_bp: 0,
        };
        // Distinct creation times keep the seed order stable.
        store
            .insert_psp_account(&account, now + time::Duration::milliseconds(i as i64))
            .await?;
    }
    Ok(creds)
}
