//! In-memory routing configuration per merchant: PSP accounts, routers and FX rates.
//!
//! Routing decisions read this cache, never the database per rule. A change made on this node
//! invalidates the merchant at once; every node also watches the configuration version stored in
//! the database (checked at most every 500 ms), so changes reach all nodes within a second.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use omno_domain::fx::{FxRate, FxTable, Rate};
use omno_domain::ids::{MerchantId, RouterId};
use omno_domain::money::Currency;
use omno_domain::psp::PspAccount;
use omno_domain::router::Router;
use omno_store::Store;

use crate::error::ApiError;

/// One merchant's routing configuration.
#[derive(Debug, Default)]
pub struct MerchantConfig {
    /// PSP accounts in creation order.
    pub accounts: Vec<PspAccount>,
    /// Routers by id.
    pub routers: HashMap<RouterId, Router>,
    /// FX rates.
    pub fx: FxTable,
    /// Webhook endpoints.
    pub endpoints: Vec<omno_store::EndpointRecord>,
}

/// Cached facts behind authentication, dropped on every configuration change.
#[derive(Default)]
struct AuthMaps {
    /// API key hash → owner (`None`: unknown or revoked).
    keys: HashMap<String, Option<MerchantId>>,
    /// OAuth client → owner (`None`: unknown or revoked).
    clients: HashMap<omno_domain::ids::ClientId, Option<MerchantId>>,
    /// Merchants.
    merchants: HashMap<MerchantId, Arc<omno_store::MerchantRecord>>,
}

/// Most entries of one cache map before it is reset (customer ids, keys, clients).
const MAX_CUSTOMERS: usize = 100_000;

/// The cache.
#[derive(Default)]
pub struct ConfigCache {
    map: RwLock<HashMap<MerchantId, Arc<MerchantConfig>>>,
    auth: RwLock<AuthMaps>,
    customers: RwLock<HashMap<(MerchantId, String), omno_domain::ids::CustomerId>>,
    seen: Mutex<(i64, Option<Instant>)>,
}

const CHECK_EVERY: Duration = Duration::from_millis(500);

impl ConfigCache {
    /// Drops a merchant's entry (after a local change).
    pub fn invalidate(&self, merchant: MerchantId) {
        if let Ok(mut m) = self.map.write() {
            m.remove(&merchant);
        }
        if let Ok(mut a) = self.auth.write() {
            *a = AuthMaps::default();
        }
    }

    /// The owner of an API key (by hash), `None` when unknown or revoked.
    pub async fn api_key_owner(
        &self,
        store: &dyn Store,
        hash: &str,
    ) -> Result<Option<MerchantId>, ApiError> {
        self.check_version(store).await?;
        if let Some(v) = self
            .auth
            .read()
            .ok()
            .and_then(|a| a.keys.get(hash).copied())
        {
            return Ok(v);
        }
        let owner = store
            .find_api_key(hash)
            .await?
            .filter(|k| k.revoked_at.is_none())
            .map(|k| k.merchant_id);
        if let Ok(mut a) = self.auth.write() {
            // Unknown keys are cached too (cheap rejection); bound the map against key spraying.
            if a.keys.len() >= MAX_CUSTOMERS {
                a.keys.clear();
            }
            a.keys.insert(hash.to_string(), owner);
        }
        Ok(owner)
    }

    /// The owner of an active OAuth client, `None` when unknown or revoked.
    pub async fn client_owner(
        &self,
        store: &dyn Store,
        id: omno_domain::ids::ClientId,
    ) -> Result<Option<MerchantId>, ApiError> {
        self.check_version(store).await?;
        if let Some(v) = self
            .auth
            .read()
            .ok()
            .and_then(|a| a.clients.get(&id).copied())
        {
            return Ok(v);
        }
        let owner = store
            .get_client(id)
            .await?
            .filter(|c| c.revoked_at.is_none())
            .map(|c| c.merchant_id);
        if let Ok(mut a) = self.auth.write() {
            if a.clients.len() >= MAX_CUSTOMERS {
                a.clients.clear();
            }
            a.clients.insert(id, owner);
        }
        Ok(owner)
    }

    /// A merchant record.
    pub async fn merchant(
        &self,
        store: &dyn Store,
        id: MerchantId,
    ) -> Result<Option<Arc<omno_store::MerchantRecord>>, ApiError> {
        self.check_version(store).await?;
        if let Some(m) = self
            .auth
            .read()
            .ok()
            .and_then(|a| a.merchants.get(&id).cloned())
        {
            return Ok(Some(m));
        }
        let Some(m) = store.get_merchant(id).await? else {
            return Ok(None);
        };
        let m = Arc::new(m);
        if let Ok(mut a) = self.auth.write() {
            a.merchants.insert(id, m.clone());
        }
        Ok(Some(m))
    }

    /// The stable customer id for (merchant, externalUserId); the mapping never changes.
    pub async fn customer(
        &self,
        store: &dyn Store,
        merchant: MerchantId,
        external_user_id: &str,
        now: time::OffsetDateTime,
    ) -> Result<omno_domain::ids::CustomerId, ApiError> {
        let key = (merchant, external_user_id.to_string());
        if let Some(id) = self
            .customers
            .read()
            .ok()
            .and_then(|c| c.get(&key).copied())
        {
            return Ok(id);
        }
        let candidate = omno_domain::ids::CustomerId(uuid::Uuid::now_v7());
        let id = store
            .ensure_customer(merchant, external_user_id, candidate, now)
            .await?;
        if let Ok(mut c) = self.customers.write() {
            if c.len() >= MAX_CUSTOMERS {
                c.clear();
            }
            c.insert(key, id);
        }
        Ok(id)
    }

    async fn check_version(&self, store: &dyn Store) -> Result<(), ApiError> {
        let due = match self.seen.lock() {
            Ok(s) => s.1.is_none_or(|t| t.elapsed() >= CHECK_EVERY),
            Err(_) => true,
        };
        if !due {
            return Ok(());
        }
        let v = store.config_version().await?;
        let changed = match self.seen.lock() {
            Ok(mut s) => {
                let changed = s.0 != v;
                *s = (v, Some(Instant::now()));
                changed
            }
            Err(_) => true,
        };
        if changed {
            if let Ok(mut m) = self.map.write() {
                m.clear();
            }
            if let Ok(mut a) = self.auth.write() {
                *a = AuthMaps::default();
            }
        }
        Ok(())
    }

    /// The merchant's configuration, loaded on a miss.
    pub async fn get(
        &self,
        store: &dyn Store,
        merchant: MerchantId,
    ) -> Result<Arc<MerchantConfig>, ApiError> {
        self.check_version(store).await?;
        if let Some(c) = self.map.read().ok().and_then(|m| m.get(&merchant).cloned()) {
            return Ok(c);
        }
        let accounts = store.list_psp_accounts(merchant).await?;
        let mut routers = HashMap::new();
        for r in store.list_routers(merchant).await? {
            let router: Router = serde_json::from_str(&r.body)
                .map_err(|e| ApiError::internal(format!("stored router {}: {e}", r.id)))?;
            routers.insert(r.id, router);
        }
        let mut rates = Vec::new();
        for r in store.list_fx_rates(merchant).await? {
            let (Ok(base), Ok(quote), Ok(rate)) = (
                Currency::parse(&r.base),
                Currency::parse(&r.quote),
                Rate::parse(&r.rate),
            ) else {
                return Err(ApiError::internal("stored FX rate is corrupt"));
            };
            rates.push(FxRate {
                base,
                quote,
                rate,
                markup_bps: r.markup_bps as u32,
                source: r.source,
                updated_at: r.updated_at,
            });
        }
        let endpoints = store.list_endpoints(merchant).await?;
        let cfg = Arc::new(MerchantConfig {
            accounts,
            routers,
            fx: FxTable { rates },
            endpoints,
        });
        if let Ok(mut m) = self.map.write() {
            m.insert(merchant, cfg.clone());
        }
        Ok(cfg)
    }
}

/// Records a configuration change: bumps the shared version and drops the local entry.
pub async fn changed(
    cache: &ConfigCache,
    store: &dyn Store,
    merchant: MerchantId,
) -> Result<(), ApiError> {
    let v = store.bump_config_version().await?;
    cache.invalidate(merchant);
    // Other merchants' entries stay valid: only the version moved.
    if let Ok(mut s) = cache.seen.lock() {
        *s = (v, Some(Instant::now()));
    }
    Ok(())
}
