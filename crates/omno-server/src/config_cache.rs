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
}

/// The cache.
#[derive(Default)]
pub struct ConfigCache {
    map: RwLock<HashMap<MerchantId, Arc<MerchantConfig>>>,
    seen: Mutex<(i64, Option<Instant>)>,
}

const CHECK_EVERY: Duration = Duration::from_millis(500);

impl ConfigCache {
    /// Drops a merchant's entry (after a local change).
    pub fn invalidate(&self, merchant: MerchantId) {
        if let Ok(mut m) = self.map.write() {
            m.remove(&merchant);
        }
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
        if changed && let Ok(mut m) = self.map.write() {
            m.clear();
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
        let cfg = Arc::new(MerchantConfig {
            accounts,
            routers,
            fx: FxTable { rates },
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
    if let Ok(mut s) = cache.seen.lock() {
        *s = (v, Some(Instant::now()));
    }
    Ok(())
}
