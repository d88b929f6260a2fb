//! `omno bench`: a load generator for omno's own endpoints.
//!
//! It starts `omno demo` on a fresh database (or targets `--url` with `--api-key`), then drives
//! each scenario over keep-alive connections with a distinct body per request, and reports
//! requests per second and latency percentiles next to the same run's `/health` ceiling measured
//! by the same client. `--rate N` switches to fixed-rate mode, where latency is measured from each
//! request's scheduled send time (no coordinated omission). Load goes to loopback only.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;
use serde_json::{Value, json};

/// Flags of `omno bench`.
#[derive(Args, Clone)]
pub(crate) struct BenchArgs {
    /// Scenarios to run, comma-separated: health, create, confirm, get, payin (create a payin and
    /// pay it with a card: two requests per operation).
    #[arg(long, default_value = "health,create,confirm,get,payin")]
    scenarios: String,
    /// Seconds per scenario.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Fixed request rate per second (0 = closed loop, as fast as possible).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Target an already running server instead of starting `omno demo`.
    #[arg(long)]
    url: Option<String>,
    /// API key for `--url`.
    #[arg(long)]
    api_key: Option<String>,
    /// Database URL for the started server (default: a fresh SQLite file in a temp dir).
    #[arg(long)]
    database_url: Option<String>,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    json: bool,
    /// A short run that proves the tool works (CI smoke): 1 s per scenario, 4 connections.
    #[arg(long)]
    smoke: bool,
}

/// Results of one scenario.
#[derive(Serialize, Clone)]
struct ScenarioResult {
    scenario: String,
    requests: u64,
    errors: u64,
    rps: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    ratio_to_health: Option<f64>,
    duplicate_order_ids_accepted: Option<u64>,
}

struct Server {
    child: Option<Child>,
    base: String,
    api_key: String,
    _dir: Option<tempfile_dir::TempDir>,
}

/// A tiny temp-dir helper (the binary does not depend on the `tempfile` crate).
mod tempfile_dir {
    /// A directory removed on drop.
    pub(crate) struct TempDir(pub(crate) std::path::PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn start_server(a: &BenchArgs) -> Result<Server, String> {
    if let Some(url) = &a.url {
        return Ok(Server {
            child: None,
            base: url.trim_end_matches('/').to_string(),
            api_key: a.api_key.clone().ok_or("--url needs --api-key")?,
            _dir: None,
        });
    }
    let dir = std::env::temp_dir().join(format!("omno-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let db = a
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}/bench.db", dir.display()));
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .args([
            "demo",
            "--bind",
            "127.0.0.1:0",
            "--sim-delay-ms",
            "0",
            "--database-url",
            &db,
        ])
        .env("OMNO__RATE_LIMIT__REQUESTS_PER_SECOND", "0")
        .env("OMNO__LOG__LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_str(&line).map_err(|e| format!("demo line: {e}"))?;
    Ok(Server {
        child: Some(child),
        base: v["baseUrl"].as_str().unwrap_or_default().to_string(),
        api_key: v["apiKey"].as_str().unwrap_or_default().to_string(),
        _dir: Some(tempfile_dir::TempDir(dir)),
    })
}

fn payout_body(order: &str, minor: u64) -> Value {
    // Amounts avoid the simulator's magic endings 51–53.
    let minor = if (51..=53).contains(&(minor % 100)) {
        minor + 10
    } else {
        minor
    };
    json!({
        "orderId": order,
        "value": serde_json::Number::from_f64(minor as f64 / 100.0),
        "currency": "EUR",
        "kycVerified": true,
        "customer": {"externalUserId": format!("u-{}", minor % 1000), "firstName": "Anna", "lastName": "Keller",
            "email": "anna.keller@example.de", "phoneNumber": "+49 30 901820", "dateOfBirth": "1988-04-17",
            "billing": {"address": "Torstraße 112", "city": "Berlin", "state": "BE", "countryCode": "DE", "postalCode": "10119"}}
    })
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)] as f64 / 1000.0
}

/// What one request of a scenario does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Health,
    Create,
    Confirm,
    Get,
    Payin,
}

struct Shared {
    client: reqwest::Client,
    base: String,
    auth: String,
    ids: Vec<String>,
    next: AtomicU64,
    run: u64,
}

/// Creates a payin and pays it with a test card; true when it reached `SUCCESS`.
async fn payin(s: &Shared, n: u64) -> bool {
    let mut body = payout_body(&format!("p{}-{n}", s.run), 1000 + n);
    body["amount"] = body["value"].take();
    let created = s
        .client
        .post(format!("{}/public/payin", s.base))
        .header("Authorization", &s.auth)
        .json(&body)
        .send()
        .await;
    let Ok(created) = created else { return false };
    let Ok(v) = created.json::<Value>().await else {
        return false;
    };
    let Some(id) = v["paymentId"].as_str() else {
        return false;
    };
    let card = json!({
        "browser": {"userAgent": "omno-bench", "customerIp": "127.0.0.1"},
        "cardData": {"cardNumber": "4111111111111111", "expirationMonth": "12", "expirationYear": "2039", "cvv": "737", "cardholderName": "Anna Keller"},
        "saveCard": false
    });
    match s
        .client
        .post(format!("{}/public/payin/{id}/process/card", s.base))
        .header("Authorization", &s.auth)
        .json(&card)
        .send()
        .await
    {
        Ok(r) => r
            .json::<Value>()
            .await
            .is_ok_and(|v| v["status"] == "SUCCESS"),
        Err(_) => false,
    }
}

async fn one(s: &Shared, kind: Kind) -> bool {
    let n = s.next.fetch_add(1, Ordering::Relaxed);
    if kind == Kind::Payin {
        return payin(s, n).await;
    }
    let req = match kind {
        Kind::Health => s.client.get(format!("{}/health", s.base)),
        Kind::Create => s
            .client
            .post(format!("{}/public/payout", s.base))
            .header("Authorization", &s.auth)
            .json(&payout_body(&format!("b{}-{n}", s.run), 1000 + n)),
        Kind::Confirm => {
            let Some(id) = s.ids.get(n as usize % s.ids.len().max(1)) else {
                return false;
            };
            s.client
                .put(format!("{}/public/payout/{id}/confirm", s.base))
                .header("Authorization", &s.auth)
        }
        Kind::Get => {
            let Some(id) = s.ids.get(n as usize % s.ids.len().max(1)) else {
                return false;
            };
            s.client
                .get(format!("{}/public/payout/{id}", s.base))
                .header("Authorization", &s.auth)
        }
        Kind::Payin => return false,
    };
    match req.send().await {
        Ok(r) => {
            let ok = r.status().is_success();
            let _ = r.bytes().await;
            ok
        }
        Err(_) => false,
    }
}

async fn run_scenario(s: Arc<Shared>, kind: Kind, a: &BenchArgs, name: &str) -> ScenarioResult {
    let duration = Duration::from_secs(a.duration);
    let started = Instant::now();
    let deadline = started + duration;
    let done = Arc::new(AtomicU64::new(0));
    let progress = {
        let done = done.clone();
        let name = name.to_string();
        let quiet = a.json;
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let now = done.load(Ordering::Relaxed);
                if !quiet {
                    eprint!("\r{name}: {now} requests, {} req/s   ", now - last);
                    let _ = std::io::stderr().flush();
                }
                last = now;
            }
        })
    };
    let mut tasks = Vec::new();
    let conns = a.connections.max(1);
    // Fixed-rate: each connection sends on its own schedule (rate / conns per second).
    let interval = (a.rate > 0).then(|| Duration::from_secs_f64(conns as f64 / a.rate as f64));
    for c in 0..conns {
        let s = s.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let mut scheduled = started
                + interval
                    .map(|i| i.mul_f64(c as f64 / conns as f64))
                    .unwrap_or_default();
            loop {
                if interval.is_some() {
                    if scheduled >= deadline {
                        break;
                    }
                    tokio::time::sleep_until(scheduled.into()).await;
                } else if Instant::now() >= deadline {
                    break;
                }
                let t0 = if interval.is_some() {
                    scheduled
                } else {
                    Instant::now()
                };
                let ok = one(&s, kind).await;
                lat.push(t0.elapsed().as_micros() as u64);
                if !ok {
                    errors += 1;
                }
                done.fetch_add(1, Ordering::Relaxed);
                if let Some(i) = interval {
                    scheduled += i;
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((l, e)) = t.await {
            all.extend(l);
            errors += e;
        }
    }
    progress.abort();
    if !a.json {
        eprintln!();
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    ScenarioResult {
        scenario: name.to_string(),
        requests: all.len() as u64,
        errors,
        rps: all.len() as f64 / elapsed,
        p50_ms: percentile(&all, 0.50),
        p90_ms: percentile(&all, 0.90),
        p99_ms: percentile(&all, 0.99),
        max_ms: all.last().map(|m| *m as f64 / 1000.0).unwrap_or(0.0),
        ratio_to_health: None,
        duplicate_order_ids_accepted: None,
    }
}

/// Creates `n` payouts to confirm and read.
async fn seed_ids(s: &Shared, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let r = s
            .client
            .post(format!("{}/public/payout", s.base))
            .header("Authorization", &s.auth)
            .json(&payout_body(&format!("seed{}-{i}", s.run), 2000 + i as u64))
            .send()
            .await;
        if let Ok(r) = r
            && let Ok(v) = r.json::<Value>().await
            && let Some(id) = v["payoutId"].as_str()
        {
            ids.push(id.to_string());
        }
    }
    ids
}

/// Idempotency under load: re-sends some created orderIds with a different body; none may be
/// accepted as new.
async fn duplicates_accepted(s: &Shared, tries: u64) -> u64 {
    let mut accepted = 0;
    for n in 0..tries {
        let mut body = payout_body(&format!("b{}-{n}", s.run), 1000 + n);
        body["value"] = json!(1.23);
        if let Ok(r) = s
            .client
            .post(format!("{}/public/payout", s.base))
            .header("Authorization", &s.auth)
            .json(&body)
            .send()
            .await
            && r.status().is_success()
        {
            accepted += 1;
        }
    }
    accepted
}

/// Runs the benchmark.
pub(crate) async fn run(mut a: BenchArgs) -> ExitCode {
    if a.smoke {
        a.duration = 1;
        a.connections = a.connections.min(4);
    }
    let server = match start_server(&a) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("omno bench: {e}");
            return ExitCode::from(1);
        }
    };
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = match reqwest::Client::builder()
        .pool_max_idle_per_host(a.connections.max(1))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("omno bench: {e}");
            return ExitCode::from(1);
        }
    };
    let mut shared = Shared {
        client,
        base: server.base.clone(),
        auth: format!("Bearer {}", server.api_key),
        ids: vec![],
        next: AtomicU64::new(0),
        run: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    let scenarios: Vec<String> = a
        .scenarios
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    if scenarios.iter().any(|s| s == "confirm" || s == "get") {
        shared.ids = seed_ids(&shared, if a.smoke { 50 } else { 2000 }).await;
    }
    let shared = Arc::new(shared);
    let mut results: Vec<ScenarioResult> = Vec::new();
    for name in &scenarios {
        let kind = match name.as_str() {
            "health" => Kind::Health,
            "create" => Kind::Create,
            "confirm" => Kind::Confirm,
            "get" => Kind::Get,
            "payin" => Kind::Payin,
            other => {
                eprintln!("omno bench: unknown scenario {other}");
                return ExitCode::from(2);
            }
        };
        shared.next.store(0, Ordering::Relaxed);
        let mut r = run_scenario(shared.clone(), kind, &a, name).await;
        if kind == Kind::Create {
            r.duplicate_order_ids_accepted =
                Some(duplicates_accepted(&shared, r.requests.min(200)).await);
        }
        results.push(r);
    }
    let health = results
        .iter()
        .find(|r| r.scenario == "health")
        .map(|r| r.rps);
    for r in &mut results {
        r.ratio_to_health = health.filter(|h| *h > 0.0).map(|h| r.rps / h);
    }
    if a.json {
        println!(
            "{}",
            json!({"connections": a.connections, "durationSecs": a.duration, "rate": a.rate, "results": results})
        );
    } else {
        println!(
            "{:<10} {:>10} {:>8} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "scenario",
            "requests",
            "errors",
            "req/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            "×health"
        );
        for r in &results {
            println!(
                "{:<10} {:>10} {:>8} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8}",
                r.scenario,
                r.requests,
                r.errors,
                r.rps,
                r.p50_ms,
                r.p90_ms,
                r.p99_ms,
                r.max_ms,
                r.ratio_to_health
                    .map(|x| format!("{x:.3}"))
                    .unwrap_or_default()
            );
        }
        if let Some(d) = results.iter().find_map(|r| r.duplicate_order_ids_accepted) {
            println!("duplicate orderIds accepted as new: {d}");
        }
    }
    let broken = results.iter().any(|r| {
        r.requests == 0 || r.errors > 0 || r.duplicate_order_ids_accepted.unwrap_or(0) > 0
    });
    drop(server);
    if broken {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
