//! Real-browser end-to-end tests of the hosted pages (API.md §11): the built binary runs
//! `omno demo`, and scripts under `e2e/` drive headless Debian Chromium (playwright-core):
//!
//! - `e2e/payin_3ds.mjs` pays a payin created through the API with the simulator's 3DS card,
//!   completing the challenge;
//! - `e2e/cashier.mjs` embeds a cashier session (§6) in a merchant page of another origin and
//!   deposits twice (keyboard only, then with 3DS), withdraws once and closes, recording every
//!   message the page receives (§11.4); in its `kyc` mode an unverified customer's deposit
//!   fails for KYC only (`KYC_REQUIRED_LEVEL_ERRORS` before `PAYMENT_FAILED`).
//!
//! The outcomes are then checked through the API; screenshots are kept under
//! `target/e2e-artifacts/`.
//!
//! Needs `/usr/bin/chromium` (or `OMNO_E2E_CHROMIUM`), `node` and `e2e/node_modules`
//! (`cd e2e && npm ci`); `scripts/test` installs them. Without them the test is skipped with a
//! message, except under `CI=true`, where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_omno");

/// The repository root (this crate is `crates/omno`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn chromium_path() -> PathBuf {
    std::env::var_os("OMNO_E2E_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// What is missing to run the browser test, if anything.
fn missing_prerequisite(root: &Path) -> Option<String> {
    let chromium = chromium_path();
    if !chromium.is_file() {
        return Some(format!(
            "{} not found (apt-get install chromium)",
            chromium.display()
        ));
    }
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !node.is_ok_and(|s| s.success()) {
        return Some("node not found".into());
    }
    if !root.join("e2e/node_modules/playwright-core").is_dir() {
        return Some("e2e/node_modules missing (cd e2e && npm ci)".into());
    }
    None
}

/// `omno demo` on a free port with a temporary database; killed when dropped.
struct Demo {
    child: Child,
    creds: Value,
}

impl Demo {
    fn start(db: &Path) -> Demo {
        let mut child = Command::new(BIN)
            .args(["demo", "--bind", "127.0.0.1:0", "--sim-delay-ms", "0"])
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
        Demo { child, creds }
    }

    fn get(&self, key: &str) -> String {
        self.creds[key].as_str().unwrap().to_string()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `cmd` to completion within `limit`, killing it past that; returns (success, output).
fn run_bounded(mut cmd: Command, limit: Duration) -> (bool, String) {
    let out = tempfile::NamedTempFile::new().unwrap();
    let err = tempfile::NamedTempFile::new().unwrap();
    let mut child = cmd
        .stdout(Stdio::from(out.reopen().unwrap()))
        .stderr(Stdio::from(err.reopen().unwrap()))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    let ok = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.success();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let read = |f: &tempfile::NamedTempFile| std::fs::read_to_string(f.path()).unwrap_or_default();
    (ok, format!("{}{}", read(&out), read(&err)))
}

/// Whether `test` must be skipped (prerequisites missing outside CI); fails under CI.
fn skip(test: &str, root: &Path) -> bool {
    let Some(why) = missing_prerequisite(root) else {
        return false;
    };
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(!ci, "browser test prerequisites missing under CI: {why}");
    eprintln!("SKIPPED {test}: {why}");
    true
}

/// `target/e2e-artifacts/`, created.
fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("e2e-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn assert_png(path: &Path) {
    let png = std::fs::read(path).unwrap_or_default();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000,
        "screenshot at {}",
        path.display()
    );
}

/// Runs `node e2e/<script> <args>` from the repository root with a 3-minute limit.
async fn run_node(root: &Path, script: &str, args: &[&Path]) -> (bool, String) {
    let mut cmd = Command::new("node");
    cmd.current_dir(root)
        .arg(Path::new("e2e").join(script))
        .args(args)
        .env("OMNO_E2E_CHROMIUM", chromium_path());
    tokio::task::spawn_blocking(move || run_bounded(cmd, Duration::from_secs(180)))
        .await
        .unwrap()
}

fn customer() -> Value {
    json!({"externalUserId": "u-e2e", "firstName": "Anna", "lastName": "Keller",
        "email": "anna.keller@example.de", "phoneNumber": "+49 30 901820",
        "dateOfBirth": "1988-04-17",
        "billing": {"address": "Torstraße 112", "city": "Berlin", "state": "BE",
            "countryCode": "DE", "postalCode": "10119"}})
}

async fn get_json(http: &reqwest::Client, url: &str, key: &str) -> Value {
    let r = http.get(url).bearer_auth(key).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET {url}");
    r.json().await.unwrap()
}

fn statuses(t: &Value) -> Vec<&str> {
    t["statusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn hosted_card_payment_with_3ds_in_a_real_browser() {
    let root = repo_root();
    if skip("hosted_card_payment_with_3ds_in_a_real_browser", &root) {
        return;
    }
    let artifacts = artifacts_dir();
    let screenshot = artifacts.join("payin_3ds.png");
    let _ = std::fs::remove_file(&screenshot);

    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(&dir.path().join("e2e.db"));
    let base = demo.get("baseUrl");
    let key = demo.get("apiKey");
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let http = reqwest::Client::new();

    let r = http
        .post(format!("{base}/public/payin"))
        .bearer_auth(&key)
        .json(&json!({
            "orderId": "e2e-3ds-1", "amount": 49.99, "currency": "EUR", "kycVerified": false,
            "customer": customer()
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let created: Value = r.json().await.unwrap();
    let id = created["paymentId"].as_str().unwrap().to_string();
    let card_url = created["iframeUrls"]["card"].as_str().unwrap().to_string();

    let (ok, output) = run_node(
        &root,
        "payin_3ds.mjs",
        &[Path::new(&card_url), screenshot.as_path()],
    )
    .await;
    assert!(ok, "browser run failed:\n{output}");
    assert!(output.contains("SUCCESS"), "{output}");

    // The outcome, through the API.
    let p = get_json(&http, &format!("{base}/public/payin/{id}"), &key).await;
    assert_eq!(p["status"], "SUCCESS", "{p}");
    assert_eq!(p["cardMask"], "400000******3220");
    assert_eq!(p["cardBrand"], "VISA");
    assert_eq!(p["transactionType"], "CARD");
    assert_eq!(
        statuses(&p),
        ["CREATED", "PENDING", "PENDING_3DS", "SUCCESS"],
        "{p}"
    );
    let ua = p["metadata"]["userAgent"].as_str().unwrap_or_default();
    assert!(ua.contains("Chrome"), "the browser's user agent: {ua}");

    assert_png(&screenshot);
    eprintln!("screenshot: {}", screenshot.display());
}

/// The `MESSAGES <json>` line `e2e/cashier.mjs` prints last.
fn messages_of(output: &str) -> Vec<Value> {
    let line = output
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("MESSAGES "))
        .unwrap_or_else(|| panic!("no MESSAGES line:\n{output}"));
    serde_json::from_str(line).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn embedded_cashier_reports_to_a_parent_of_another_origin_in_a_real_browser() {
    let root = repo_root();
    if skip(
        "embedded_cashier_reports_to_a_parent_of_another_origin_in_a_real_browser",
        &root,
    ) {
        return;
    }
    let artifacts = artifacts_dir();
    let shots: Vec<PathBuf> = ["cashier", "result", "cashier-withdraw", "payout-result"]
        .iter()
        .flat_map(|n| ["360", "1280"].map(|w| artifacts.join(format!("{n}-{w}.png"))))
        .collect();
    for s in &shots {
        let _ = std::fs::remove_file(s);
    }

    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(&dir.path().join("e2e.db"));
    let base = demo.get("baseUrl");
    let key = demo.get("apiKey");
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let http = reqwest::Client::new();

    // The merchant opens a cashier with 100 EUR withdrawable.
    let order_base = "e2e-cashier-1";
    let r = http
        .post(format!("{base}/public/cashier/session"))
        .bearer_auth(&key)
        .json(&json!({
            "customer": customer(),
            "returnUrls": {"success": "IFRAME_POST_MESSAGE", "failure": "IFRAME_POST_MESSAGE"},
            "currency": "EUR",
            "orderId": order_base,
            "kycVerified": true,
            "balance": 100,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let created: Value = r.json().await.unwrap();
    let sid = created["sessionId"].as_str().unwrap().to_string();
    let checkout = created["checkoutUrl"].as_str().unwrap().to_string();
    assert_eq!(checkout, format!("{base}/cashier/{sid}"));

    let (ok, output) = run_node(
        &root,
        "cashier.mjs",
        &[Path::new(&checkout), artifacts.as_path()],
    )
    .await;
    assert!(ok, "browser run failed:\n{output}");
    eprintln!("{output}");

    // What the merchant page (http://localhost:…) received, all from omno (http://127.0.0.1:…).
    let messages = messages_of(&output);
    for m in &messages {
        assert_eq!(m["origin"], base.as_str(), "{m}");
    }
    let data: Vec<&Value> = messages.iter().map(|m| &m["data"]).collect();
    let types: Vec<&str> = data.iter().map(|d| d["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "CASHIER_LOADED",  // (a)
            "PAYMENT_SUCCESS", // (b) card deposit
            "CASHIER_LOADED",  // (c) cashier again
            "PAYMENT_SUCCESS", //     3DS deposit
            "CASHIER_LOADED",  // (d) back to the cashier
            "CASHIER_LOADED",  //     withdraw tab
            "PAYMENT_PENDING", //     payout waits for the merchant
            "CLOSE_IFRAME",    //     the payout result's Close
            "CASHIER_LOADED",  // (e) cashier again
            "CLOSE_IFRAME",    //     the cashier's Close
        ],
        "{messages:?}"
    );
    for d in data.iter().filter(|d| d["type"] == "CASHIER_LOADED") {
        assert_eq!(d["data"], json!({"sessionId": sid}));
    }
    let (d1, d2, w1) = (&data[1]["data"], &data[3]["data"], &data[6]["data"]);
    let expect = |d: &Value, order: &str, status: &str, amount: f64| {
        assert_eq!(d["orderId"], format!("{order_base}-{order}"), "{d}");
        assert_eq!(d["status"], status, "{d}");
        assert_eq!(d["currency"], "EUR", "{d}");
        assert_eq!(d["amount"].as_f64(), Some(amount), "{d}");
        assert_eq!(d["transactionId"].as_str().unwrap().len(), 32, "{d}");
    };
    expect(d1, "D1", "SUCCESS", 25.5);
    expect(d2, "D2", "SUCCESS", 49.99);
    expect(w1, "W1", "WAITING_FOR_CONFIRMATION", 30.0);
    assert_eq!(
        data[7]["data"],
        json!({"transactionId": w1["transactionId"]})
    );
    assert_eq!(data[9]["data"], json!({"sessionId": sid}));

    // The transactions, through the API.
    for (d, card, history) in [
        (
            d1,
            "411111******1111",
            &["CREATED", "PENDING", "SUCCESS"][..],
        ),
        (
            d2,
            "400000******3220",
            &["CREATED", "PENDING", "PENDING_3DS", "SUCCESS"][..],
        ),
    ] {
        let id = d["transactionId"].as_str().unwrap();
        let p = get_json(&http, &format!("{base}/public/payin/{id}"), &key).await;
        assert_eq!(p["status"], "SUCCESS", "{p}");
        assert_eq!(p["orderId"], d["orderId"], "{p}");
        assert_eq!(p["amount"], d["amount"], "{p}");
        assert_eq!(p["metadata"]["cashierSessionId"], sid.as_str(), "{p}");
        assert_eq!(p["cardMask"], card, "{p}");
        assert_eq!(statuses(&p), history, "{p}");
    }
    let id = w1["transactionId"].as_str().unwrap();
    let p = get_json(&http, &format!("{base}/public/payout/{id}"), &key).await;
    assert_eq!(p["status"], "WAITING_FOR_CONFIRMATION", "{p}");
    assert_eq!(p["orderId"], format!("{order_base}-W1"), "{p}");
    assert_eq!(p["initialAmount"], 30, "{p}");
    assert_eq!(p["metadata"]["cashierSessionId"], sid.as_str(), "{p}");
    assert_eq!(p["cardMask"], "411111******1111", "{p}");
    assert_eq!(p["transactionType"], "CARD", "{p}");

    // The withdrawal took 30 off the balance; the deposits did not change it.
    let s: Value = http
        .get(format!("{base}/cashier/{sid}/state.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["balance"], 70, "{s}");
    assert_eq!(s["balanceVersion"], 2, "{s}");
    assert_eq!(s["status"], "ACTIVE", "{s}");

    for shot in &shots {
        assert_png(shot);
    }
    eprintln!("screenshots: {}", artifacts.display());
}

#[tokio::test(flavor = "multi_thread")]
async fn cashier_reports_kyc_level_errors_in_a_real_browser() {
    let root = repo_root();
    if skip("cashier_reports_kyc_level_errors_in_a_real_browser", &root) {
        return;
    }
    let artifacts = artifacts_dir();
    for w in ["360", "1280"] {
        let _ = std::fs::remove_file(artifacts.join(format!("kyc-result-{w}.png")));
    }
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(&dir.path().join("e2e.db"));
    let base = demo.get("baseUrl");
    let key = demo.get("apiKey");
    let admin = demo.get("adminToken");
    let merchant = demo.get("merchantId");
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let http = reqwest::Client::new();

    // A router whose only account requires KYC (admin API, §13).
    let post = |path: String, body: Value| {
        let r = http
            .post(format!("{base}{path}"))
            .bearer_auth(&admin)
            .json(&body);
        async move {
            let r = r.send().await.unwrap();
            assert_eq!(r.status(), 201);
            r.json::<Value>().await.unwrap()
        }
    };
    let acct = post(
        format!("/admin/merchants/{merchant}/psp-accounts"),
        json!({"name": "sim-kyc", "connector": "simulator", "currencies": ["EUR"],
            "methods": ["CARD"], "directions": ["PAYIN"], "kycRequired": true}),
    )
    .await;
    let router = post(
        format!("/admin/merchants/{merchant}/routers"),
        json!({"name": "kyc only", "rules": [{"name": "all", "conditions": {},
            "targets": [{"pspAccountId": acct["id"], "weight": 100}]}], "fallbackTargets": []}),
    )
    .await;

    let r = http
        .post(format!("{base}/public/cashier/session"))
        .bearer_auth(&key)
        .json(&json!({
            "customer": customer(),
            "returnUrls": {"success": "IFRAME_POST_MESSAGE", "failure": "IFRAME_POST_MESSAGE"},
            "currency": "EUR", "orderId": "e2e-kyc-1", "kycVerified": false,
            "routerId": router["id"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let created: Value = r.json().await.unwrap();
    let sid = created["sessionId"].as_str().unwrap().to_string();
    let checkout = created["checkoutUrl"].as_str().unwrap().to_string();

    let (ok, output) = run_node(
        &root,
        "cashier.mjs",
        &[Path::new(&checkout), artifacts.as_path(), Path::new("kyc")],
    )
    .await;
    assert!(ok, "browser run failed:\n{output}");
    eprintln!("{output}");
    let messages = messages_of(&output);
    let data: Vec<&Value> = messages.iter().map(|m| &m["data"]).collect();
    let types: Vec<&str> = data.iter().map(|d| d["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "CASHIER_LOADED",
            "KYC_REQUIRED_LEVEL_ERRORS",
            "PAYMENT_FAILED"
        ],
        "{messages:?}"
    );
    assert_eq!(
        data[1]["data"],
        json!([{"level": "KYC_VERIFIED",
            "description": "this payment method requires a verified customer"}])
    );
    let failed = &data[2]["data"];
    assert_eq!(failed["status"], "FAILED");
    assert_eq!(failed["orderId"], "e2e-kyc-1-D1");
    let id = failed["transactionId"].as_str().unwrap();
    let p = get_json(&http, &format!("{base}/public/payin/{id}"), &key).await;
    assert_eq!(p["status"], "FAILED", "{p}");
    assert_eq!(
        p["statusReason"]["detailedStatus"], "NO_PROVIDER_AVAILABLE",
        "{p}"
    );
    assert_eq!(p["metadata"]["cashierSessionId"], sid.as_str(), "{p}");
    for w in ["360", "1280"] {
        assert_png(&artifacts.join(format!("kyc-result-{w}.png")));
    }
}
