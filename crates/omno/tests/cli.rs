//! The CLI contract (API.md §15.1), tested on the built binary.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_omno");

/// An HTTP client (reqwest is built without a default TLS provider; install omno's).
fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::new()
}

struct Demo {
    child: Child,
    line: String,
    creds: Value,
}

fn start_demo(db: &std::path::Path) -> Demo {
    start_demo_with(db, &[])
}

fn stop(mut d: Demo) {
    Command::new("kill")
        .args(["-TERM", &d.child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = d.child.try_wait().unwrap() {
            assert!(status.success(), "graceful shutdown exits 0, got {status}");
            return;
        }
        assert!(Instant::now() < deadline, "demo did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn payout_body(order: &str) -> Value {
    json!({
        "orderId": order, "value": 150.25, "currency": "EUR", "kycVerified": true,
        "customer": {"externalUserId": "u-1", "firstName": "Anna", "lastName": "Keller",
            "email": "anna.keller@example.de", "phoneNumber": "+49 30 901820", "dateOfBirth": "1988-04-17",
            "billing": {"address": "Torstraße 112", "city": "Berlin", "state": "BE", "countryCode": "DE", "postalCode": "10119"}}
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_prints_one_line_and_serves_the_payout_flow() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let demo = start_demo(&db);
    let keys: Vec<&str> = demo
        .line
        .trim_end()
        .trim_matches(['{', '}'])
        .split(',')
        .map(|kv| kv.split(':').next().unwrap().trim_matches('"'))
        .collect();
    assert_eq!(
        keys,
        [
            "baseUrl",
            "merchantId",
            "apiKey",
            "clientId",
            "clientSecret",
            "adminToken",
            "webhookSecret"
        ]
    );
    assert!(demo.line.ends_with('\n'));
    let c = &demo.creds.clone();
    let base = c["baseUrl"].as_str().unwrap().to_string();
    assert!(base.starts_with("http://127.0.0.1:") && !base.ends_with(":0"));
    let api_key = c["apiKey"].as_str().unwrap().to_string();
    assert!(api_key.starts_with("sk_test_") && api_key.len() == 48);
    assert!(c["clientSecret"].as_str().unwrap().starts_with("cs_"));
    assert!(c["adminToken"].as_str().unwrap().starts_with("adm_"));
    assert!(c["webhookSecret"].as_str().unwrap().starts_with("whsec_"));

    let http = http_client();
    let r = http.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    let r = http.get(format!("{base}/ready")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // The OAuth path with the printed client credentials.
    let r = http
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", c["clientId"].as_str().unwrap()),
            ("client_secret", c["clientSecret"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let token = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    let r = http
        .post(format!("{base}/public/payout"))
        .bearer_auth(&token)
        .json(&payout_body("cli-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = r.json::<Value>().await.unwrap()["payoutId"]
        .as_str()
        .unwrap()
        .to_string();
    let r = http
        .put(format!("{base}/public/payout/{id}/confirm"))
        .header("Authorization", &api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The worker runs in the demo: with --sim-delay-ms 0 the payout is final within 500 ms.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let p: Value = http
            .get(format!("{base}/public/payout/{id}"))
            .header("Authorization", &api_key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if p["status"] == "PROCESSED" {
            break;
        }
        assert!(Instant::now() < deadline, "payout not processed: {p}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = http
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap();
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["info"]["title"], "OMNO API");
    stop(demo);

    // Re-run on the same database: same merchant, client and webhook secret; new key and secret.
    let again = start_demo(&db);
    let d = &again.creds;
    assert_eq!(d["merchantId"], c["merchantId"]);
    assert_eq!(d["clientId"], c["clientId"]);
    assert_eq!(d["webhookSecret"], c["webhookSecret"]);
    assert_ne!(d["apiKey"], c["apiKey"]);
    assert_ne!(d["clientSecret"], c["clientSecret"]);
    let base2 = d["baseUrl"].as_str().unwrap();
    let r = http
        .get(format!("{base2}/public/payout/{id}"))
        .header("Authorization", &api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the previously printed key is revoked");
    let r = http
        .get(format!("{base2}/public/payout/{id}"))
        .header("Authorization", d["apiKey"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "PROCESSED");
    stop(again);
}

#[test]
fn openapi_prints_the_document() {
    let out = Command::new(BIN).arg("openapi").output().unwrap();
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["info"]["version"], "2.0.0");
    assert!(doc["paths"]["/public/payout/{payoutId}/confirm"]["put"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearerAuth"].is_object());
    assert!(doc["components"]["securitySchemes"]["apiKeyAuth"].is_object());
}

#[test]
fn configuration_errors_exit_2_and_migrate_exits_0() {
    let out = Command::new(BIN)
        .args(["serve", "--config", "/nonexistent/omno.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(BIN)
        .args(["serve", "--database-url", "sqlite://./x.db"])
        .env("OMNO__SERVER__MODE", "prod")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "prod mode requires its keys");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("migrate")
        .arg("--database-url")
        .arg(format!("sqlite://{}/m.db", dir.path().display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("m.db").exists());
    let out = Command::new(BIN).arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn address_in_use_exits_1() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--bind", &addr])
        .arg("--database-url")
        .arg(format!("sqlite://{}/a.db", dir.path().display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

fn start_demo_with(db: &std::path::Path, extra: &[&str]) -> Demo {
    let mut child = Command::new(BIN)
        .args(["demo", "--bind", "127.0.0.1:0", "--sim-delay-ms", "0"])
        .args(extra)
        .arg("--database-url")
        .arg(format!("sqlite://{}", db.display()))
        .env("OMNO__LOG__LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let creds: Value = serde_json::from_str(&line).unwrap();
    Demo { child, line, creds }
}

/// The server is killed with SIGKILL after the status changes committed but before any webhook
/// could be delivered (the receiver is down); after a restart every event arrives, once each.
#[tokio::test(flavor = "multi_thread")]
async fn webhook_events_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hook = format!("http://127.0.0.1:{port}/hooks");
    let mut demo = start_demo_with(&db, &["--webhook-retry-base-ms", "200"]);
    let c = demo.creds.clone();
    let base = c["baseUrl"].as_str().unwrap().to_string();
    let key = c["apiKey"].as_str().unwrap().to_string();
    let http = http_client();
    let mut body = payout_body("crash-1");
    body["webhook"] = json!({"url": hook});
    let r = http
        .post(format!("{base}/public/payout"))
        .header("Authorization", &key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let id = r.json::<Value>().await.unwrap()["payoutId"]
        .as_str()
        .unwrap()
        .to_string();
    http.put(format!("{base}/public/payout/{id}/confirm"))
        .header("Authorization", &key)
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let p: Value = http
            .get(format!("{base}/public/payout/{id}"))
            .header("Authorization", &key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if p["status"] == "PROCESSED" {
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    demo.child.kill().unwrap(); // SIGKILL
    demo.child.wait().unwrap();

    // The receiver comes up on the target port; the server restarts on the same database.
    let got: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>> = Default::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let g = g.clone();
            async move {
                let event = headers
                    .get("x-omno-event-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let status = serde_json::from_str::<Value>(&body).unwrap()["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                g.lock().unwrap().push((event, status));
                "OK"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let again = start_demo_with(&db, &["--webhook-retry-base-ms", "200"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.lock().unwrap().len() < 3 {
        assert!(
            Instant::now() < deadline,
            "events not delivered: {:?}",
            got.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = got.lock().unwrap().clone();
    let statuses: Vec<&str> = got.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        statuses,
        ["WAITING_FOR_CONFIRMATION", "PENDING", "PROCESSED"]
    );
    let ids: std::collections::HashSet<&str> = got.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(ids.len(), 3, "each event delivered once: {got:?}");
    stop(again);
}

fn admin(db: &str, args: &[&str]) -> (Option<i32>, Value) {
    let out = Command::new(BIN)
        .arg("admin")
        .args(args)
        .args(["--database-url", db, "--json"])
        .env("OMNO__LOG__LEVEL", "warn")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    (
        out.status.code(),
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

#[test]
fn admin_cli_mirrors_the_admin_api() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/admin.db", dir.path().display());
    let (code, m) = admin(
        &db,
        &[
            "merchants",
            "create",
            "--data",
            r#"{"name": "Cli GmbH", "enabledCurrencies": ["EUR", "GEL"]}"#,
        ],
    );
    assert_eq!(code, Some(0), "{m}");
    let mid = m["merchantId"].as_str().unwrap().to_string();
    assert!(m["apiKey"].as_str().unwrap().starts_with("sk_test_"));

    let (code, acct) = admin(
        &db,
        &[
            "psp-accounts",
            "create",
            "--merchant",
            &mid,
            "--data",
            r#"{"name": "sim-eur", "connector": "simulator", "currencies": ["EUR"], "methods": ["CARD", "BANK_TRANSFER"], "directions": ["PAYIN", "PAYOUT"]}"#,
        ],
    );
    assert_eq!(code, Some(0), "{acct}");
    let acct_id = acct["id"].as_str().unwrap().to_string();
    let (code, list) = admin(&db, &["psp-accounts", "list", "--merchant", &mid]);
    assert_eq!(code, Some(0));
    assert_eq!(list["data"][0]["id"], acct_id.as_str());

    let (code, rate) = admin(
        &db,
        &[
            "fx-rates",
            "set",
            "--merchant",
            &mid,
            "--data",
            r#"{"base": "GEL", "quote": "EUR", "rate": 0.34}"#,
        ],
    );
    assert_eq!(code, Some(0), "{rate}");
    assert_eq!(rate["rate"], json!(0.34));

    let router = format!(
        r#"{{"name": "main", "rules": [{{"name": "all", "conditions": {{}}, "targets": [{{"pspAccountId": "{acct_id}"}}]}}]}}"#
    );
    let (code, r) = admin(
        &db,
        &["routers", "create", "--merchant", &mid, "--data", &router],
    );
    assert_eq!(code, Some(0), "{r}");
    let rid = r["id"].as_str().unwrap().to_string();
    let (code, m2) = admin(
        &db,
        &[
            "merchants",
            "update",
            "--id",
            &mid,
            "--data",
            &format!(r#"{{"defaultRouterId": "{rid}"}}"#),
        ],
    );
    assert_eq!(code, Some(0), "{m2}");
    let (_, got) = admin(&db, &["merchants", "get", "--id", &mid]);
    assert_eq!(got["defaultRouterId"], rid.as_str());

    // API errors: exit 1 with the envelope on stdout.
    let (code, e) = admin(
        &db,
        &["psp-accounts", "create", "--merchant", &mid, "--data", "{}"],
    );
    assert_eq!(code, Some(1));
    assert_eq!(e["code"], "VALIDATION_ERROR");
    let (code, e) = admin(
        &db,
        &["routers", "delete", "--merchant", &mid, "--id", &rid],
    );
    assert_eq!(code, Some(1));
    assert_eq!(e["code"], "INVALID_STATE");
    // Usage errors: exit 2.
    let (code, _) = admin(&db, &["psp-accounts", "get", "--merchant", &mid]);
    assert_eq!(code, Some(2));
    let (code, _) = admin(&db, &["unicorns", "list"]);
    assert_eq!(code, Some(2));
}

// ---------------------------------------------------------------------------------------------
// `omno mock` and request logs (issue 10)

/// Starts `omno <args>` with stderr captured to a file; returns the child, its first stdout line
/// and the log file.
fn start_logged(args: &[&str], env: &[(&str, &str)]) -> (Child, Value, tempfile::NamedTempFile) {
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .stdout(Stdio::piped())
        .stderr(log.reopen().unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, serde_json::from_str(&line).unwrap(), log)
}

/// Polls the log file until a line satisfies `pred` (bounded).
fn wait_for_log(log: &tempfile::NamedTempFile, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(log.path()).unwrap();
        if let Some(v) = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| pred(v))
        {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "no matching log line in:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mock_serves_examples_and_logs_each_request_as_json() {
    let (mut child, line, log) = start_logged(
        &["mock", "--bind", "127.0.0.1:0"],
        &[("OMNO__LOG__FORMAT", "json")],
    );
    let base = line["baseUrl"].as_str().unwrap().to_string();
    assert!(base.starts_with("http://127.0.0.1:") && !base.ends_with(":0"));
    let http = http_client();
    let r = http
        .post(format!("{base}/public/payout"))
        .header("Authorization", "Bearer whatever")
        .header("X-Request-Id", "cli-mock-1")
        .json(&payout_body("mock-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["status"],
        "WAITING_FOR_CONFIRMATION"
    );
    let r = http
        .post(format!("{base}/public/payout"))
        .json(&payout_body("mock-2"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let entry = wait_for_log(&log, |v| v["fields"]["request_id"] == "cli-mock-1");
    assert_eq!(entry["level"], "INFO");
    let f = &entry["fields"];
    assert_eq!(f["method"], "POST");
    assert_eq!(f["route"], "/public/payout");
    assert_eq!(f["status"], 200);
    assert!(f["latency_ms"].is_u64());
    child.kill().unwrap();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_logs_route_templates_and_serves_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("demo.db").display());
    let (child, creds, log) = start_logged(
        &["demo", "--bind", "127.0.0.1:0", "--database-url", &db],
        &[("OMNO__LOG__FORMAT", "json")],
    );
    let base = creds["baseUrl"].as_str().unwrap().to_string();
    let http = http_client();
    let id = "019cebabac0c784783a8a7235f0e5af5";
    let r = http
        .get(format!("{base}/public/payout/{id}"))
        .bearer_auth(creds["apiKey"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let rid = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let entry = wait_for_log(&log, |v| v["fields"]["request_id"] == rid.as_str());
    assert_eq!(entry["fields"]["route"], "/public/payout/{payoutId}");
    assert_eq!(entry["fields"]["status"], 404);
    let r = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("omno_http_requests_total{"), "{text}");
    assert!(!text.contains(id));
    stop(Demo {
        child,
        line: String::new(),
        creds,
    });
}

/// `omno bench --smoke` proves the load generator works end to end (no timing asserts).
#[test]
fn bench_smoke_runs_every_scenario() {
    let out = Command::new(BIN)
        .args([
            "bench",
            "--smoke",
            "--json",
            "--scenarios",
            "health,create,confirm,get",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for r in results {
        assert!(r["requests"].as_u64().unwrap() > 0, "{r}");
        assert_eq!(r["errors"], 0, "{r}");
        assert!(r["p99_ms"].as_f64().unwrap() >= r["p50_ms"].as_f64().unwrap());
        // The started server's CPU per request is measured (Linux /proc).
        assert!(
            r["server_cpu_us_per_request"].as_f64().unwrap() > 0.0,
            "{r}"
        );
        assert!(
            r["client_cpu_us_per_request"].as_f64().unwrap() > 0.0,
            "{r}"
        );
    }
    assert_eq!(results[1]["duplicate_order_ids_accepted"], 0);
}

/// Secrets never reach the logs, even at `trace`: the API key, the client secret, the access
/// token and a card number entered on a hosted page.
#[tokio::test(flavor = "multi_thread")]
async fn secrets_never_appear_in_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let mut child = Command::new(BIN)
        .args(["demo", "--bind", "127.0.0.1:0", "--sim-delay-ms", "0"])
        .arg("--database-url")
        .arg(format!("sqlite://{}/logs.db", dir.path().display()))
        .env("OMNO__LOG__LEVEL", "trace")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let c: Value = serde_json::from_str(&line).unwrap();
    let base = c["baseUrl"].as_str().unwrap();
    let key = c["apiKey"].as_str().unwrap();
    let secret = c["clientSecret"].as_str().unwrap();
    let http = http_client();
    let token = http
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", c["clientId"].as_str().unwrap()),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let created: Value = http
        .post(format!("{base}/public/payout"))
        .bearer_auth(&token)
        .json(&payout_body("logs-1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let card_page = created["iframeUrls"]["card"].as_str().unwrap();
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(card_page)
        .form(&[
            ("cardNumber", "4111111111111111"),
            ("cardholderName", "Anna Keller"),
            ("cvv", "737"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let id = created["payoutId"].as_str().unwrap();
    http.put(format!("{base}/public/payout/{id}/confirm"))
        .header("Authorization", key)
        .send()
        .await
        .unwrap();
    // Card payins through the API: a saved card and the 3DS card.
    for (i, card) in ["5555555555554444", "4000000000003220"].iter().enumerate() {
        let mut body = payout_body(&format!("logs-in-{i}"));
        let v = body["value"].take();
        body["amount"] = v;
        let created: Value = http
            .post(format!("{base}/public/payin"))
            .header("Authorization", key)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = created["paymentId"].as_str().unwrap();
        let r = http
            .post(format!("{base}/public/payin/{id}/process/card"))
            .header("Authorization", key)
            .json(&serde_json::json!({"browser": {}, "cardData": {"cardNumber": card, "expirationMonth": "09", "expirationYear": "2039", "cvv": "737", "cardholderName": "Anna Keller"}, "saveCard": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // And a card typed on the hosted payin page.
    let mut body = payout_body("logs-in-hosted");
    body["amount"] = body["value"].take();
    let created: Value = http
        .post(format!("{base}/public/payin"))
        .header("Authorization", key)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(created["iframeUrls"]["card"].as_str().unwrap())
        .form(&[
            ("cardNumber", "4000000000000002"),
            ("expirationMonth", "09"),
            ("expirationYear", "2039"),
            ("cvv", "737"),
            ("cardholderName", "Anna Keller"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop(Demo {
        child,
        line,
        creds: c.clone(),
    });
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.lines().count() > 10, "trace logging produced output");
    for s in [
        key,
        secret,
        token.as_str(),
        "4111111111111111",
        "5555555555554444",
        "4000000000003220",
        "4000000000000002",
    ] {
        assert!(!logs.contains(s), "a secret appeared in the logs");
    }
}
