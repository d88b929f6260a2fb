//! The `omno` binary: `serve`, `demo`, `migrate`, `openapi` (API.md §15).
//!
//! `main` only reads configuration, opens the store, binds, starts the worker and serves until
//! Ctrl-C/SIGTERM. Exit codes: 0 success, 1 runtime error, 2 usage or configuration error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use omno_server::clock::SystemClock;
use omno_server::config::Settings;
use omno_store::AnyStore;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

mod admin;
mod bench;

#[derive(Parser)]
#[command(
    name = "omno",
    version,
    about = "Self-hostable OMNO API 2.0.0 payment orchestration server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server with a seeded demo merchant and print its credentials as one JSON line.
    Demo(ServeArgs),
    /// Start the server.
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(DbArgs),
    /// Serve the stateless mock: request validation and the documented examples (API.md §15.3).
    Mock(MockArgs),
    /// Print the OpenAPI document.
    Openapi,
    /// Run an admin API operation directly on the database.
    Admin(AdminArgs),
    /// Drive load against omno and report throughput and latency.
    Bench(bench::BenchArgs),
}

/// `omno admin <resource> <verb> …` (API.md §15.5).
#[derive(Args, Clone)]
struct AdminArgs {
    #[command(flatten)]
    db: DbArgs,
    /// merchants, credentials, api-keys, psp-accounts, routers, fx-rates, webhook-endpoints,
    /// deliveries, transactions.
    resource: String,
    /// The operation, e.g. create, list, get, update, delete.
    verb: String,
    /// Merchant id (for merchant-scoped resources).
    #[arg(long)]
    merchant: Option<String>,
    /// Object id (fx-rates: BASE/QUOTE).
    #[arg(long)]
    id: Option<String>,
    /// Request body: JSON, or @file.
    #[arg(long)]
    data: Option<String>,
    /// Query filters for list/search verbs, key=value.
    #[arg(long = "filter")]
    filters: Vec<String>,
    /// Print exactly the API response body.
    #[arg(long)]
    json: bool,
}

/// `omno mock [--bind ADDR]`.
#[derive(Args, Clone)]
struct MockArgs {
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: String,
}

#[derive(Args, Clone, Default)]
struct DbArgs {
    /// Configuration file (default ./omno.toml if it exists).
    #[arg(long)]
    config: Option<PathBuf>,
    /// `sqlite://PATH` or `postgres://…`.
    #[arg(long)]
    database_url: Option<String>,
}

#[derive(Args, Clone, Default)]
struct ServeArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Listen address.
    #[arg(long)]
    bind: Option<String>,
    /// Origin used in hosted URLs.
    #[arg(long)]
    public_base_url: Option<String>,
    /// Simulator outcome delay.
    #[arg(long)]
    sim_delay_ms: Option<u64>,
    /// First webhook retry delay.
    #[arg(long)]
    webhook_retry_base_ms: Option<u64>,
    /// PSP status re-query interval.
    #[arg(long)]
    sync_interval_ms: Option<u64>,
}

/// Only the flags actually given, as a figment layer.
#[derive(Serialize, Default)]
struct Overrides {
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    server: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    database: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    simulator: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    webhooks: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    sync: serde_json::Map<String, serde_json::Value>,
}

fn overrides(a: &ServeArgs) -> Overrides {
    let mut o = Overrides::default();
    if let Some(v) = &a.bind {
        o.server.insert("bind".into(), v.clone().into());
    }
    if let Some(v) = &a.public_base_url {
        o.server.insert("public_base_url".into(), v.clone().into());
    }
    if let Some(v) = &a.db.database_url {
        o.database.insert("url".into(), v.clone().into());
    }
    if let Some(v) = a.sim_delay_ms {
        o.simulator.insert("delay_ms".into(), v.into());
    }
    if let Some(v) = a.webhook_retry_base_ms {
        o.webhooks.insert("retry_base_ms".into(), v.into());
    }
    if let Some(v) = a.sync_interval_ms {
        o.sync.insert("interval_ms".into(), v.into());
    }
    o
}

/// Defaults → omno.toml → environment → flags (API.md §16).
fn load_settings(args: &ServeArgs, demo: bool) -> Result<Settings, String> {
    let mut defaults = Settings::default();
    if demo {
        defaults.database.url = "sqlite://./omno-demo.db".into();
    }
    let mut fig = Figment::from(Serialized::defaults(defaults));
    match &args.db.config {
        Some(path) => {
            if !path.exists() {
                return Err(format!("config file {} does not exist", path.display()));
            }
            fig = fig.merge(Toml::file(path));
        }
        None => {
            if std::path::Path::new("omno.toml").exists() {
                fig = fig.merge(Toml::file("omno.toml"));
            }
        }
    }
    fig = fig.merge(Env::prefixed("OMNO__").split("__"));
    if let Ok(token) = std::env::var("OMNO_ADMIN_TOKEN") {
        fig = fig.merge(Serialized::default("admin.token", token));
    }
    fig = fig.merge(Serialized::defaults(overrides(args)));
    let mut s: Settings = fig
        .extract()
        .map_err(|e| format!("configuration error: {e}"))?;
    if demo {
        s.webhooks.allow_loopback = true;
    }
    s.validate()?;
    Ok(s)
}

fn init_logging(s: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_new(&s.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if s.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Opens `database.url` (SQLite or PostgreSQL) and applies pending migrations (PostgreSQL
/// serializes concurrent runs, so nodes starting together are safe).
async fn open_store(s: &Settings) -> anyhow::Result<AnyStore> {
    let store = AnyStore::open(&s.database.url, s.database.max_connections).await?;
    store.migrate().await?;
    Ok(store)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DemoLine<'a> {
    base_url: &'a str,
    merchant_id: String,
    api_key: &'a str,
    client_id: String,
    client_secret: &'a str,
    admin_token: &'a str,
    webhook_secret: &'a str,
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

async fn run_server(args: ServeArgs, demo: bool) -> ExitCode {
    let mut settings = match load_settings(&args, demo) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("omno: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&settings);
    if demo && settings.admin.token.is_none() {
        settings.admin.token = Some(format!("adm_{}", omno_server::security::random_alnum(40)));
    }
    let listener = match tokio::net::TcpListener::bind(&settings.server.bind).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("omno: cannot bind {}: {e}", settings.server.bind);
            return ExitCode::from(1);
        }
    };
    let bound = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("omno: {e}");
            return ExitCode::from(1);
        }
    };
    let base_url = format!("http://{bound}");
    let public = settings
        .server
        .public_base_url
        .clone()
        .unwrap_or_else(|| base_url.clone());
    let store = match open_store(&settings).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("omno: database: {e:#}");
            return ExitCode::from(1);
        }
    };
    let grace = Duration::from_secs(settings.server.shutdown_grace_secs);
    let admin_token = settings.admin.token.clone().unwrap_or_default();
    let state =
        match omno_server::build_state(settings, store.shared(), Arc::new(SystemClock), public)
            .await
        {
            Ok(s) => s,
            Err(e) => {
                eprintln!("omno: {e:#}");
                return ExitCode::from(1);
            }
        };
    let stop = CancellationToken::new();
    let worker = tokio::spawn(omno_server::worker::run(state.clone(), stop.clone()));
    if demo {
        let creds = match omno_server::seed::seed_demo(&state).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("omno: demo seed failed: {e:?}");
                return ExitCode::from(1);
            }
        };
        let line = DemoLine {
            base_url: &base_url,
            merchant_id: creds.merchant_id.hex(),
            api_key: &creds.api_key,
            client_id: creds.client_id.hex(),
            client_secret: &creds.client_secret,
            admin_token: &admin_token,
            webhook_secret: &creds.webhook_secret,
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", serde_json::to_string(&line).unwrap_or_default());
        let _ = out.flush();
    }
    tracing::info!(%base_url, "omno listening");
    let router = omno_server::build_router(state.clone());
    let serve_stop = stop.clone();
    let shutdown_state = state.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        shutdown_state
            .shutting_down
            .store(true, std::sync::atomic::Ordering::SeqCst);
        serve_stop.cancel();
    });
    let result = omno_server::serve(listener, router, stop.clone(), grace).await;
    stop.cancel();
    let _ = tokio::time::timeout(grace, worker).await;
    store.close().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("omno: {e}");
            ExitCode::from(1)
        }
    }
}

async fn migrate(args: DbArgs) -> ExitCode {
    let serve_args = ServeArgs {
        db: args,
        ..ServeArgs::default()
    };
    let settings = match load_settings(&serve_args, false) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("omno: {e}");
            return ExitCode::from(2);
        }
    };
    match open_store(&settings).await {
        Ok(s) => {
            s.close().await;
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("omno: database: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Serves the mock until Ctrl-C/SIGTERM; prints `{"baseUrl":…}` once listening.
async fn run_mock(args: MockArgs) -> ExitCode {
    // The mock reads `log.*` and `server.body_limit_bytes` like `serve` (omno.toml, environment).
    let settings = match load_settings(&ServeArgs::default(), false) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("omno: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&settings);
    let listener = match tokio::net::TcpListener::bind(&args.bind).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("omno: cannot bind {}: {e}", args.bind);
            return ExitCode::from(1);
        }
    };
    let base_url = match listener.local_addr() {
        Ok(a) => format!("http://{a}"),
        Err(e) => {
            eprintln!("omno: {e}");
            return ExitCode::from(1);
        }
    };
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", serde_json::json!({ "baseUrl": base_url }));
        let _ = out.flush();
    }
    tracing::info!(%base_url, "omno mock listening");
    let stop = CancellationToken::new();
    let signal_stop = stop.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        signal_stop.cancel();
    });
    let router = omno_server::mock::mock_router(settings.server.body_limit_bytes);
    let grace = Duration::from_secs(settings.server.shutdown_grace_secs);
    match omno_server::serve(listener, router, stop, grace).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("omno: {e}");
            ExitCode::from(1)
        }
    }
}

/// mimalloc instead of glibc's allocator: `malloc`/`free` were ~19 % of the request threads'
/// samples under load (see BENCHMARKS.md). Built without transparent huge pages (`no_thp`): with
/// them its arena is backed by 2 MB pages and the idle process is 10 MB larger.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cli = match cli.command {
        // The load generator runs on its own single-threaded runtime.
        Command::Bench(a) => return bench::run(a),
        command => Cli { command },
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("omno: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(async move {
        match cli.command {
            Command::Demo(a) => run_server(a, true).await,
            Command::Serve(a) => run_server(a, false).await,
            Command::Migrate(a) => migrate(a).await,
            Command::Mock(a) => run_mock(a).await,
            Command::Admin(a) => admin::run(a, load_settings).await,
            Command::Bench(_) => ExitCode::from(2),
            Command::Openapi => {
                let doc = omno_server::openapi_document();
                match doc.to_pretty_json() {
                    Ok(j) => {
                        println!("{j}");
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("omno: {e}");
                        ExitCode::from(1)
                    }
                }
            }
        }
    })
}
