//! Real-browser end-to-end test of the hosted payin pages (API.md §11): the built binary runs
//! `omno demo`, a payin is created through the API, and `e2e/payin_3ds.mjs` pays it in headless
//! Debian Chromium (playwright-core) with the simulator's 3DS card, completing the challenge.
//! The outcome is then checked through the API; the screenshot of the final page is kept under
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

#[tokio::test(flavor = "multi_thread")]
async fn hosted_card_payment_with_3ds_in_a_real_browser() {
    let root = repo_root();
    if let Some(why) = missing_prerequisite(&root) {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(!ci, "browser test prerequisites missing under CI: {why}");
        eprintln!("SKIPPED hosted_card_payment_with_3ds_in_a_real_browser: {why}");
        return;
    }
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("e2e-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
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
            "customer": {"externalUserId": "u-e2e", "firstName": "Anna", "lastName": "Keller",
                "email": "anna.keller@example.de", "phoneNumber": "+49 30 901820",
                "dateOfBirth": "1988-04-17",
                "billing": {"address": "Torstraße 112", "city": "Berlin", "state": "BE",
                    "countryCode": "DE", "postalCode": "10119"}}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let created: Value = r.json().await.unwrap();
    let id = created["paymentId"].as_str().unwrap().to_string();
    let card_url = created["iframeUrls"]["card"].as_str().unwrap().to_string();

    let mut cmd = Command::new("node");
    cmd.current_dir(&root)
        .arg("e2e/payin_3ds.mjs")
        .arg(&card_url)
        .arg(&screenshot)
        .env("OMNO_E2E_CHROMIUM", chromium_path());
    let (ok, output) =
        tokio::task::spawn_blocking(move || run_bounded(cmd, Duration::from_secs(180)))
            .await
            .unwrap();
    assert!(ok, "browser run failed:\n{output}");
    assert!(output.contains("SUCCESS"), "{output}");

    // The outcome, through the API.
    let p: Value = http
        .get(format!("{base}/public/payin/{id}"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p["status"], "SUCCESS", "{p}");
    assert_eq!(p["cardMask"], "400000******3220");
    assert_eq!(p["cardBrand"], "VISA");
    assert_eq!(p["transactionType"], "CARD");
    let history: Vec<&str> = p["statusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        history,
        ["CREATED", "PENDING", "PENDING_3DS", "SUCCESS"],
        "{p}"
    );
    let ua = p["metadata"]["userAgent"].as_str().unwrap_or_default();
    assert!(ua.contains("Chrome"), "the browser's user agent: {ua}");

    let png = std::fs::read(&screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000,
        "screenshot at {}",
        screenshot.display()
    );
    eprintln!("screenshot: {}", screenshot.display());
}
