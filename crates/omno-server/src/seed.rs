//! The `omno demo` merchant (API.md §15.2): created on the first run, reused afterwards with
//! freshly issued API key and client secret (the previously printed ones revoked).

use omno_domain::ids::{ClientId, MerchantId, PspAccountId, RouterId};
use omno_domain::money::Currency;
use omno_domain::psp::{Direction, PaymentMethod, PspAccount};
use omno_domain::router::{Conditions, Router, Rule, Target};
use omno_store::{FxRateRecord, RouterRecord};
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
    seed_routing(state, creds.merchant_id, now).await?;
    Ok(creds)
}

/// The demo router (default) and FX rates of API.md §15.2. A missing router is recreated (and made
/// the default if the merchant has none); rates are re-stamped; user objects are kept.
async fn seed_routing(
    state: &AppState,
    merchant: MerchantId,
    now: time::OffsetDateTime,
) -> Result<(), ApiError> {
    let store = &*state.store;
    let accounts = store.list_psp_accounts(merchant).await?;
    let id_of = |name: &str| accounts.iter().find(|a| a.name == name).map(|a| a.id);
    let target = |name: &str| {
        id_of(name).map(|psp_account_id| Target {
            psp_account_id,
            weight: 0,
        })
    };
    let routers = store.list_routers(merchant).await?;
    let router_id = match routers.iter().find(|r| r.name == "Demo router") {
        Some(r) => r.id,
        None => {
            let rule = |name: &str, conditions: Conditions, targets: &[&str]| Rule {
                name: name.into(),
                conditions,
                targets: targets.iter().filter_map(|t| target(t)).collect(),
            };
            let router = Router {
                id: RouterId(Uuid::now_v7()),
                merchant_id: merchant,
                name: "Demo router".into(),
                rules: vec![
                    rule(
                        "USD",
                        Conditions {
                            currencies: Some(currencies(&["USD"])),
                            ..Conditions::default()
                        },
                        &["sim-usd", "sim-main"],
                    ),
                    rule(
                        "Payouts",
                        Conditions {
                            direction: Some(Direction::Payout),
                            ..Conditions::default()
                        },
                        &["sim-payout", "sim-main"],
                    ),
                    rule("Default", Conditions::default(), &["sim-main"]),
                ],
                fallback_targets: vec![],
                created_at: now,
                updated_at: now,
            };
            store
                .insert_router(&RouterRecord {
                    id: router.id,
                    merchant_id: merchant,
                    name: router.name.clone(),
                    body: serde_json::to_string(&router).map_err(ApiError::internal)?,
                    created_at: now,
                    updated_at: now,
                })
                .await?;
            router.id
        }
    };
    if let Some(mut m) = store.get_merchant(merchant).await?
        && m.default_router_id.is_none()
    {
        m.default_router_id = Some(router_id);
        m.updated_at = now;
        store.update_merchant(&m).await?;
    }
    for (base, quote, rate) in [
        ("GEL", "EUR", "0.34"),
        ("GEL", "USD", "0.37"),
        ("JPY", "USD", "0.0067"),
        ("EUR", "USD", "1.08"),
    ] {
        store
            .put_fx_rate(&FxRateRecord {
                merchant_id: merchant,
                base: base.into(),
                quote: quote.into(),
                rate: rate.into(),
                markup_bps: 0,
                source: "demo".into(),
                updated_at: now,
            })
            .await?;
    }
    crate::config_cache::changed(&state.config, store, merchant).await
}
