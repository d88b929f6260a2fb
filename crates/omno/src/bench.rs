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
    /// CPU time the server process used per request (all its threads; only when the bench
    /// started the server): steadier than req/s on a shared machine, and what an optimisation
    /// of the request path changes.
    server_cpu_us_per_request: Option<f64>,
    /// The load generator's own CPU time per request.
    client_cpu_us_per_request: Option<f64>,
    duplicate_order_ids_accepted: Option<u64>,
}

/// CPU time used so far by every thread of process `pid` (`self` for this one), from
/// `/proc/<pid>/task/*/schedstat` (nanoseconds on the CPU); `None` where that is unavailable.
/// Threads that already ended are not counted, so the server's figure leaves out nothing that
/// matters: its threads live as long as it does.
fn cpu_ns(pid: &str) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0u64;
    for t in tasks.flatten() {
        let stat = std::fs::read_to_string(t.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
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

/// The create-payout body of request `n`: a distinct `orderId` and amount per request, written
/// straight into `out` (the generator's cost per request stays small).
fn payout_body(out: &mut Vec<u8>, order: std::fmt::Arguments<'_>, minor: u64, amount_field: &str) {
    use std::io::Write;
    // Amounts avoid the simulator's magic endings 51–53.
    let minor = if (51..=53).contains(&(minor % 100)) {
        minor + 10
    } else {
        minor
    };
    out.clear();
    let _ = write!(
        out,
        concat!(
            r#"{{"orderId":"{order}","{field}":{major}.{cents:02},"currency":"EUR","kycVerified":true,"#,
            r#""customer":{{"externalUserId":"u-{user}","firstName":"Anna","lastName":"Keller","#,
            r#""email":"anna.keller@example.de","phoneNumber":"+49 30 901820","dateOfBirth":"1988-04-17","#,
            r#""billing":{{"address":"Torstraße 112","city":"Berlin","state":"BE","countryCode":"DE","postalCode":"10119"}}}}}}"#
        ),
        order = order,
        field = amount_field,
        major = minor / 100,
        cents = minor % 100,
        user = minor % 1000,
    );
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
    /// The started server's process id (none with `--url`).
    server_pid: Option<String>,
    base: String,
    auth: String,
    ids: Vec<String>,
    next: AtomicU64,
    run: u64,
}

impl Shared {
    async fn connect(&self) -> std::io::Result<http1::Conn> {
        http1::Conn::open(&self.base, &self.auth).await
    }
}

/// Creates a payin and pays it with a test card; true when it reached `SUCCESS`.
async fn payin(s: &Shared, c: &mut http1::Conn, buf: &mut Vec<u8>, n: u64) -> bool {
    payout_body(buf, format_args!("p{}-{n}", s.run), 1000 + n, "amount");
    if c.send("POST", "/public/payin", Some(buf)).await.ok() != Some(200) {
        return false;
    }
    let Ok(v) = serde_json::from_slice::<Value>(&c.body) else {
        return false;
    };
    let Some(id) = v["paymentId"].as_str() else {
        return false;
    };
    let card = br#"{"browser":{"userAgent":"omno-bench","customerIp":"127.0.0.1"},"cardData":{"cardNumber":"4111111111111111","expirationMonth":"12","expirationYear":"2039","cvv":"737","cardholderName":"Anna Keller"},"saveCard":false}"#;
    let path = format!("/public/payin/{id}/process/card");
    c.send("POST", &path, Some(card)).await.ok() == Some(200)
        && serde_json::from_slice::<Value>(&c.body).is_ok_and(|v| v["status"] == "SUCCESS")
}

/// Sends request `n` of a scenario on `c`; true on a 2xx answer (and, for payins, `SUCCESS`).
async fn one(
    s: &Shared,
    c: &mut http1::Conn,
    buf: &mut Vec<u8>,
    path: &mut String,
    kind: Kind,
) -> bool {
    use std::fmt::Write;
    let n = s.next.fetch_add(1, Ordering::Relaxed);
    let id = || s.ids.get(n as usize % s.ids.len().max(1));
    path.clear();
    let sent = match kind {
        Kind::Payin => return payin(s, c, buf, n).await,
        Kind::Health => c.send("GET", "/health", None).await,
        Kind::Create => {
            payout_body(buf, format_args!("b{}-{n}", s.run), 1000 + n, "value");
            c.send("POST", "/public/payout", Some(buf)).await
        }
        Kind::Confirm => {
            let Some(id) = id() else { return false };
            let _ = write!(path, "/public/payout/{id}/confirm");
            c.send("PUT", path, None).await
        }
        Kind::Get => {
            let Some(id) = id() else { return false };
            let _ = write!(path, "/public/payout/{id}");
            c.send("GET", path, None).await
        }
    };
    sent.is_ok_and(|status| (200..300).contains(&status))
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
    let cpu_before = (s.server_pid.as_deref().and_then(cpu_ns), cpu_ns("self"));
    let mut tasks = Vec::new();
    let conns = a.connections.max(1);
    // Fixed-rate: a pacer thread releases each request at its scheduled instant (an OS sleep is
    // accurate to tens of microseconds; the runtime's timer only to a millisecond), and the
    // first free connection sends it. Latency counts from the scheduled instant, so a server
    // stall shows in the percentiles instead of slowing the schedule (no coordinated omission).
    let schedule = (a.rate > 0).then(|| {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
        let interval = Duration::from_secs_f64(1.0 / a.rate as f64);
        std::thread::spawn(move || {
            let mut at = started;
            while at < deadline {
                if let Some(wait) = at.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                if tx.send(at).is_err() {
                    break;
                }
                at += interval;
            }
        });
        Arc::new(tokio::sync::Mutex::new(rx))
    });
    for _ in 0..conns {
        let s = s.clone();
        let done = done.clone();
        let schedule = schedule.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let (mut buf, mut path) = (Vec::with_capacity(1024), String::new());
            let mut conn = None;
            loop {
                let t0 = match &schedule {
                    Some(rx) => match rx.lock().await.recv().await {
                        Some(at) => at,
                        None => break,
                    },
                    None if Instant::now() >= deadline => break,
                    None => Instant::now(),
                };
                if conn.is_none() {
                    conn = s.connect().await.ok();
                }
                let ok = match &mut conn {
                    Some(c) => one(&s, c, &mut buf, &mut path, kind).await,
                    None => false,
                };
                if !ok {
                    // A broken connection is not reused; the next request opens a new one.
                    conn = None;
                    errors += 1;
                }
                lat.push(t0.elapsed().as_micros() as u64);
                done.fetch_add(1, Ordering::Relaxed);
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
    let per_request = |before: Option<u64>, after: Option<u64>| {
        let used = after?.checked_sub(before?)?;
        (!all.is_empty()).then(|| used as f64 / 1000.0 / all.len() as f64)
    };
    let server_cpu = per_request(cpu_before.0, s.server_pid.as_deref().and_then(cpu_ns));
    let client_cpu = per_request(cpu_before.1, cpu_ns("self"));
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
        server_cpu_us_per_request: server_cpu,
        client_cpu_us_per_request: client_cpu,
        duplicate_order_ids_accepted: None,
    }
}

/// Creates `n` payouts to confirm and read.
async fn seed_ids(s: &Shared, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    let Ok(mut c) = s.connect().await else {
        return ids;
    };
    let mut buf = Vec::new();
    for i in 0..n {
        payout_body(
            &mut buf,
            format_args!("seed{}-{i}", s.run),
            2000 + i as u64,
            "value",
        );
        if c.send("POST", "/public/payout", Some(&buf)).await.ok() == Some(200)
            && let Ok(v) = serde_json::from_slice::<Value>(&c.body)
            && let Some(id) = v["payoutId"].as_str()
        {
            ids.push(id.to_string());
        }
    }
    ids
}

/// Idempotency under load: re-sends some created orderIds with a different amount; none may be
/// accepted as new.
async fn duplicates_accepted(s: &Shared, tries: u64) -> u64 {
    let Ok(mut c) = s.connect().await else {
        return tries;
    };
    let mut buf = Vec::new();
    let mut accepted = 0;
    for n in 0..tries {
        payout_body(&mut buf, format_args!("b{}-{n}", s.run), 123, "value");
        if c.send("POST", "/public/payout", Some(&buf))
            .await
            .is_ok_and(|status| (200..300).contains(&status))
        {
            accepted += 1;
        }
    }
    accepted
}

/// Runs the benchmark.
pub(crate) fn run(a: BenchArgs) -> ExitCode {
    // One thread for the whole generator: it shares the machine with the server, and a
    // current-thread runtime costs the least per request.
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(drive(a)),
        Err(e) => {
            eprintln!("omno bench: {e}");
            ExitCode::from(1)
        }
    }
}

async fn drive(mut a: BenchArgs) -> ExitCode {
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
    let mut shared = Shared {
        server_pid: server.child.as_ref().map(|c| c.id().to_string()),
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
    set_health_ratios(&mut results);
    if a.json {
        println!(
            "{}",
            json!({"connections": a.connections, "durationSecs": a.duration, "rate": a.rate, "results": results})
        );
    } else {
        println!(
            "{:<10} {:>10} {:>8} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>12} {:>12}",
            "scenario",
            "requests",
            "errors",
            "req/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            "×health",
            "srv µs/req",
            "gen µs/req"
        );
        for r in &results {
            println!(
                "{:<10} {:>10} {:>8} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8} {:>12} {:>12}",
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
                    .unwrap_or_default(),
                r.server_cpu_us_per_request
                    .map(|x| format!("{x:.1}"))
                    .unwrap_or_default(),
                r.client_cpu_us_per_request
                    .map(|x| format!("{x:.1}"))
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

/// A minimal HTTP/1.1 client over one keep-alive connection: the load generator's own cost per
/// request must stay far below the server's, so it writes each request in one buffer and parses
/// only the status line and the framing headers of the answer (`httparse`).
mod http1 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// One keep-alive connection.
    pub(crate) struct Conn {
        stream: TcpStream,
        host: String,
        auth: String,
        out: Vec<u8>,
        buf: Vec<u8>,
        /// Bytes of `buf` already consumed by earlier answers.
        start: usize,
        /// The last answer's body.
        pub(crate) body: Vec<u8>,
    }

    fn bad(msg: &str) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, msg.to_string())
    }

    impl Conn {
        /// Connects to `base` (`http://host:port`), sending `auth` as `Authorization` when given.
        pub(crate) async fn open(base: &str, auth: &str) -> std::io::Result<Conn> {
            let host = base
                .strip_prefix("http://")
                .ok_or_else(|| bad("only http:// URLs"))?
                .trim_end_matches('/')
                .to_string();
            let stream = TcpStream::connect(&host).await?;
            stream.set_nodelay(true)?;
            Ok(Conn {
                stream,
                host,
                auth: auth.to_string(),
                out: Vec::with_capacity(2048),
                buf: Vec::with_capacity(8192),
                start: 0,
                body: Vec::with_capacity(4096),
            })
        }

        /// Sends one request and reads its answer; returns the status (body in `self.body`).
        pub(crate) async fn send(
            &mut self,
            method: &str,
            path: &str,
            body: Option<&[u8]>,
        ) -> std::io::Result<u16> {
            use std::io::Write;
            self.out.clear();
            write!(
                self.out,
                "{method} {path} HTTP/1.1\r\nHost: {}\r\n",
                self.host
            )?;
            if !self.auth.is_empty() {
                write!(self.out, "Authorization: {}\r\n", self.auth)?;
            }
            match body {
                Some(b) => {
                    write!(
                        self.out,
                        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                        b.len()
                    )?;
                    self.out.extend_from_slice(b);
                }
                None if method == "GET" => self.out.extend_from_slice(b"\r\n"),
                None => self.out.extend_from_slice(b"Content-Length: 0\r\n\r\n"),
            }
            self.stream.write_all(&self.out).await?;
            self.read_answer().await
        }

        async fn fill(&mut self) -> std::io::Result<()> {
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            let len = self.buf.len();
            self.buf.resize(len + 8192, 0);
            let n = self.stream.read(&mut self.buf[len..]).await?;
            self.buf.truncate(len + n);
            if n == 0 {
                return Err(bad("connection closed"));
            }
            Ok(())
        }

        async fn read_answer(&mut self) -> std::io::Result<u16> {
            // Head: status and framing.
            let (status, head_len, framing) = loop {
                let mut headers = [httparse::EMPTY_HEADER; 32];
                let mut res = httparse::Response::new(&mut headers);
                match res.parse(&self.buf[self.start..]) {
                    Ok(httparse::Status::Complete(n)) => {
                        let mut framing = Framing::Length(0);
                        for h in res.headers.iter() {
                            if h.name.eq_ignore_ascii_case("content-length") {
                                let v = std::str::from_utf8(h.value).map_err(|_| bad("length"))?;
                                framing =
                                    Framing::Length(v.trim().parse().map_err(|_| bad("length"))?);
                            } else if h.name.eq_ignore_ascii_case("transfer-encoding")
                                && h.value.eq_ignore_ascii_case(b"chunked")
                            {
                                framing = Framing::Chunked;
                            }
                        }
                        break (res.code.unwrap_or(0), n, framing);
                    }
                    Ok(httparse::Status::Partial) => self.fill().await?,
                    Err(_) => return Err(bad("malformed answer")),
                }
            };
            self.start += head_len;
            self.body.clear();
            match framing {
                Framing::Length(n) => self.take(n).await?,
                Framing::Chunked => loop {
                    let size = loop {
                        if let Some(i) =
                            self.buf[self.start..].windows(2).position(|w| w == b"\r\n")
                        {
                            let line = std::str::from_utf8(&self.buf[self.start..self.start + i])
                                .map_err(|_| bad("chunk"))?;
                            let size =
                                usize::from_str_radix(line.split(';').next().unwrap_or(""), 16)
                                    .map_err(|_| bad("chunk size"))?;
                            self.start += i + 2;
                            break size;
                        }
                        self.fill().await?;
                    };
                    self.take(size).await?;
                    // The CRLF after the chunk (or after the last, empty chunk).
                    while self.buf.len() - self.start < 2 {
                        self.fill().await?;
                    }
                    self.start += 2;
                    if size == 0 {
                        break;
                    }
                },
            }
            Ok(status)
        }

        /// Moves the next `n` bytes into `body`.
        async fn take(&mut self, n: usize) -> std::io::Result<()> {
            while self.buf.len() - self.start < n {
                self.fill().await?;
            }
            self.body
                .extend_from_slice(&self.buf[self.start..self.start + n]);
            self.start += n;
            Ok(())
        }
    }

    enum Framing {
        Length(usize),
        Chunked,
    }
}

/// Each result's ratio to the `/health` ceiling measured closest before it (the machine's speed
/// drifts, and a burst of writes leaves the disk busy for a while), or to the first `/health` of
/// the run for scenarios that ran before any.
fn set_health_ratios(results: &mut [ScenarioResult]) {
    let mut ceiling = results
        .iter()
        .find(|r| r.scenario == "health")
        .map(|r| r.rps);
    for r in results.iter_mut() {
        if r.scenario == "health" {
            ceiling = Some(r.rps);
        }
        r.ratio_to_health = ceiling.filter(|h| *h > 0.0).map(|h| r.rps / h);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(scenario: &str, rps: f64) -> ScenarioResult {
        ScenarioResult {
            scenario: scenario.into(),
            requests: 1,
            errors: 0,
            rps,
            p50_ms: 0.0,
            p90_ms: 0.0,
            p99_ms: 0.0,
            max_ms: 0.0,
            ratio_to_health: None,
            server_cpu_us_per_request: None,
            client_cpu_us_per_request: None,
            duplicate_order_ids_accepted: None,
        }
    }

    #[test]
    fn each_ratio_uses_the_health_ceiling_measured_closest_before_it() {
        let mut rs = vec![
            result("get", 10.0),
            result("health", 100.0),
            result("create", 20.0),
            result("health", 50.0),
            result("get", 25.0),
        ];
        set_health_ratios(&mut rs);
        let ratios: Vec<_> = rs.iter().map(|r| r.ratio_to_health).collect();
        assert_eq!(
            ratios,
            [Some(0.1), Some(1.0), Some(0.2), Some(1.0), Some(0.5)]
        );
        let mut none = vec![result("create", 20.0)];
        set_health_ratios(&mut none);
        assert_eq!(none[0].ratio_to_health, None);
    }
}
