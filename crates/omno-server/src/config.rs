//! Typed configuration (API.md §16). Parsed once at start-up; layering (defaults → `omno.toml`
//! → `OMNO__SECTION__KEY` → CLI flags) happens in the binary. Tests build [`Settings`] in code.

use serde::{Deserialize, Serialize};

/// Every configuration key of the contract, with its default.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `server.*`
    pub server: ServerSettings,
    /// `database.*`
    pub database: DatabaseSettings,
    /// `auth.*`
    pub auth: AuthSettings,
    /// `admin.*`
    pub admin: AdminSettings,
    /// `security.*`
    pub security: SecuritySettings,
    /// `hpp.*`
    pub hpp: HppSettings,
    /// `idempotency.*`
    pub idempotency: IdempotencySettings,
    /// `payout.*`
    pub payout: PayoutSettings,
    /// `payin.*`
    pub payin: PayinSettings,
    /// `cashier.*`
    pub cashier: CashierSettings,
    /// `routing.*`
    pub routing: RoutingSettings,
    /// `psp.*`
    pub psp: PspSettings,
    /// `sync.*`
    pub sync: SyncSettings,
    /// `simulator.*`
    pub simulator: SimulatorSettings,
    /// `webhooks.*`
    pub webhooks: WebhookSettings,
    /// `workers.*`
    pub workers: WorkerSettings,
    /// `rate_limit.*`
    pub rate_limit: RateLimitSettings,
    /// `fx.*`
    pub fx: FxSettings,
    /// `metrics.*`
    pub metrics: MetricsSettings,
    /// `log.*`
    pub log: LogSettings,
}

macro_rules! section {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident : $ty:ty = $default:expr),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Serialize, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct $name { $($(#[$fdoc])* pub $field: $ty),+ }
        impl Default for $name {
            fn default() -> Self { Self { $($field: $default),+ } }
        }
    };
}

section!(
    /// `server.*`
    ServerSettings {
        /// Listen address.
        bind: String = "127.0.0.1:8080".into(),
        /// Origin for hosted URLs; defaults to `http://` + the bound address.
        public_base_url: Option<String> = None,
        /// `dev` generates missing keys; `prod` requires them.
        mode: String = "dev".into(),
        /// Request body limit.
        body_limit_bytes: usize = 65536,
        /// Per-request timeout.
        request_timeout_secs: u64 = 30,
        /// Graceful shutdown window.
        shutdown_grace_secs: u64 = 30,
    }
);
section!(
    /// `database.*`
    DatabaseSettings {
        /// `sqlite://PATH` or `postgres://…`.
        url: String = "sqlite://./omno.db".into(),
        /// Pool size.
        max_connections: u32 = 10,
    }
);
section!(
    /// `auth.*`
    AuthSettings {
        /// Access token lifetime.
        token_ttl_secs: u64 = 300,
        /// `HS256` or `EdDSA`.
        jwt_algorithm: String = "HS256".into(),
        /// HS256 key (≥ 32 bytes); generated in dev mode.
        jwt_secret: Option<String> = None,
        /// Ed25519 PKCS#8 PEM for `EdDSA`.
        jwt_ed25519_key: Option<String> = None,
    }
);
section!(
    /// `admin.*`
    AdminSettings {
        /// Admin API token; none = admin API closed (demo generates one).
        token: Option<String> = None,
    }
);
section!(
    /// `security.*` (32-byte keys, hex)
    SecuritySettings {
        /// HMAC key for `cardHash`.
        card_hash_key: Option<String> = None,
        /// AES-256-GCM vault key.
        vault_key: Option<String> = None,
        /// Hosted-page token key.
        hpp_token_key: Option<String> = None,
    }
);
section!(
    /// `hpp.*`
    HppSettings {
        /// Hosted-page token lifetime.
        token_ttl_secs: u64 = 86_400,
    }
);
section!(
    /// `idempotency.*`
    IdempotencySettings {
        /// `Idempotency-Key` retention.
        retention_secs: u64 = 86_400,
    }
);
section!(
    /// `payout.*`
    PayoutSettings {
        /// Unconfirmed payout → `REJECTED` `EXPIRED`.
        confirmation_expiry_secs: u64 = 604_800,
    }
);
section!(
    /// `payin.*`
    PayinSettings {
        /// Unprocessed payin → `TIMEOUT`.
        expiry_secs: u64 = 86_400,
        /// 3DS challenge window.
        three_ds_timeout_secs: u64 = 900,
    }
);
section!(
    /// `cashier.*`
    CashierSettings {
        /// Session lifetime.
        session_ttl_secs: u64 = 1800,
    }
);
section!(
    /// `routing.*`
    RoutingSettings {
        /// Payin cascade attempts in total.
        max_attempts: u32 = 3,
    }
);
section!(
    /// `psp.*`
    PspSettings {
        /// PSP call timeout.
        request_timeout_ms: u64 = 15_000,
    }
);
section!(
    /// `sync.*`
    SyncSettings {
        /// Re-query interval for unknown outcomes.
        interval_ms: u64 = 60_000,
        /// Queries before the final decision.
        max_attempts: u32 = 30,
    }
);
section!(
    /// `simulator.*`
    SimulatorSettings {
        /// Outcome delay.
        delay_ms: u64 = 1000,
    }
);
section!(
    /// `webhooks.*`
    WebhookSettings {
        /// Per-attempt timeout.
        timeout_ms: u64 = 10_000,
        /// First retry delay.
        retry_base_ms: u64 = 60_000,
        /// ± jitter.
        jitter_percent: u32 = 10,
        /// Parallel deliveries.
        max_concurrency: u32 = 16,
        /// SSRF switch.
        allow_loopback: bool = false,
        /// SSRF switch.
        allow_private: bool = false,
    }
);
section!(
    /// `workers.*`
    WorkerSettings {
        /// Poll fallback.
        poll_interval_ms: u64 = 200,
    }
);
section!(
    /// `rate_limit.*`
    RateLimitSettings {
        /// Refill per merchant; 0 disables.
        requests_per_second: u32 = 1000,
        /// Bucket size.
        burst: u32 = 2000,
    }
);
section!(
    /// `fx.*`
    FxSettings {
        /// 0 = never stale.
        max_rate_age_secs: u64 = 0,
    }
);
section!(
    /// `metrics.*`
    MetricsSettings {
        /// Serve `/metrics`.
        enabled: bool = true,
    }
);
section!(
    /// `log.*`
    LogSettings {
        /// Level or `EnvFilter` directive.
        level: String = "info".into(),
        /// `text` or `json`.
        format: String = "text".into(),
    }
);

impl Settings {
    /// Settings for tests: a database URL, loopback bind on port 0, instant simulator.
    pub fn for_tests(database_url: &str) -> Self {
        let mut s = Settings::default();
        s.server.bind = "127.0.0.1:0".into();
        s.database.url = database_url.into();
        s.simulator.delay_ms = 0;
        s.webhooks.allow_loopback = true;
        s
    }

    /// Startup validation; names the bad key.
    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.server.mode.as_str(), "dev" | "prod") {
            return Err("server.mode must be `dev` or `prod`".into());
        }
        match self.auth.jwt_algorithm.as_str() {
            "HS256" => {}
            "EdDSA" => {
                if self.auth.jwt_ed25519_key.is_none() {
                    return Err("auth.jwt_algorithm = EdDSA requires auth.jwt_ed25519_key".into());
                }
            }
            _ => return Err("auth.jwt_algorithm must be `HS256` or `EdDSA`".into()),
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err("log.format must be `text` or `json`".into());
        }
        if self.server.body_limit_bytes == 0 {
            return Err("server.body_limit_bytes must be > 0".into());
        }
        if self.sync.max_attempts == 0 {
            return Err("sync.max_attempts must be > 0".into());
        }
        if let Some(s) = &self.auth.jwt_secret
            && s.len() < 32
        {
            return Err("auth.jwt_secret must be at least 32 bytes".into());
        }
        for (key, v) in [
            ("security.card_hash_key", &self.security.card_hash_key),
            ("security.vault_key", &self.security.vault_key),
            ("security.hpp_token_key", &self.security.hpp_token_key),
        ] {
            if let Some(v) = v
                && hex::decode(v).map(|b| b.len()) != Ok(32)
            {
                return Err(format!("{key} must be 32 bytes of hex (64 hex digits)"));
            }
        }
        if self.server.mode == "prod" {
            let jwt_ok = match self.auth.jwt_algorithm.as_str() {
                "EdDSA" => self.auth.jwt_ed25519_key.is_some(),
                _ => self.auth.jwt_secret.is_some(),
            };
            let missing = [
                (!jwt_ok).then_some("auth.jwt_secret (or auth.jwt_ed25519_key)"),
                self.security
                    .card_hash_key
                    .is_none()
                    .then_some("security.card_hash_key"),
                self.security
                    .vault_key
                    .is_none()
                    .then_some("security.vault_key"),
                self.security
                    .hpp_token_key
                    .is_none()
                    .then_some("security.hpp_token_key"),
                self.admin.token.is_none().then_some("admin.token"),
            ];
            let missing: Vec<&str> = missing.into_iter().flatten().collect();
            if !missing.is_empty() {
                return Err(format!(
                    "server.mode = prod requires {}",
                    missing.join(", ")
                ));
            }
        }
        Ok(())
    }
}
