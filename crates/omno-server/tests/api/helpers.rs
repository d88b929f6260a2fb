//! Test harness: `TestApp::spawn()` starts the real router on 127.0.0.1:0 with a fresh database,
//! seeds the demo merchant, and lets the test drive the background worker and the clock.
//!
//! The database is a SQLite temp file, or, with `OMNO_TEST_PG_URL` set, a fresh PostgreSQL
//! database created on that server (STYLE.md R11): `scripts/test` runs this suite both ways.

use std::sync::Arc;
use std::time::Duration;

use omno_server::clock::OffsetClock;
use omno_server::config::Settings;
use omno_server::seed::DemoCredentials;
use omno_server::state::AppState;
use omno_store::AnyStore;
use reqwest::{Client, Method, Response};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub(crate) struct TestApp {
    pub(crate) base: String,
    pub(crate) client: Client,
    pub(crate) creds: DemoCredentials,
    pub(crate) state: AppState,
    pub(crate) clock: Arc<OffsetClock>,
    pub(crate) store: AnyStore,
    /// The database URL, for restarts on the same database.
    pub(crate) db_url: String,
    pub(crate) admin_token: String,
    stop: CancellationToken,
    server: Option<tokio::task::JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

pub(crate) const ADMIN_TOKEN: &str = "adm_test_token_0123456789abcdefghijklmnopqrstuv";

impl TestApp {
    pub(crate) async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub(crate) async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
        if pg_selected() {
            let url = omno_store::testing::fresh_pg_database()
                .await
                .unwrap()
                .unwrap();
            return Self::start_on(&url, tweak).await;
        }
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("omno.db").display());
        let mut app = Self::start_on(&url, tweak).await;
        app._dir = Some(dir);
        app
    }

    /// Starts a server on an existing database (restart tests): the `db_url` of an earlier app.
    pub(crate) async fn start_on(url: &str, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = Settings::for_tests(url);
        settings.admin.token = Some(ADMIN_TOKEN.into());
        tweak(&mut settings);
        let store = AnyStore::open(url, 4).await.unwrap();
        store.migrate().await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let clock = Arc::new(OffsetClock::default());
        let state = omno_server::build_state(settings, store.shared(), clock.clone(), base.clone())
            .await
            .unwrap();
        let creds = omno_server::seed::seed_demo(&state).await.unwrap();
        let stop = CancellationToken::new();
        let router = omno_server::build_router(state.clone());
        let s = stop.clone();
        let server = tokio::spawn(async move {
            omno_server::serve(listener, router, s, Duration::from_secs(5))
                .await
                .unwrap();
        });
        TestApp {
            base,
            client: Client::builder().build().unwrap(),
            creds,
            state,
            clock,
            store,
            db_url: url.to_string(),
            admin_token: ADMIN_TOKEN.into(),
            stop,
            server: Some(server),
            _dir: None,
        }
    }

    /// Stops the server and closes the database (the file stays).
    pub(crate) async fn shutdown(mut self) -> Option<tempfile::TempDir> {
        self.stop.cancel();
        if let Some(s) = self.server.take() {
            let _ = s.await;
        }
        self.store.close().await;
        self._dir.take()
    }

    /// Whether `needle` occurs anywhere in the stored data: the SQLite files byte for byte, or
    /// every text and bytea column of every PostgreSQL table.
    pub(crate) async fn database_contains(&self, needle: &[u8]) -> bool {
        match &self.store {
            AnyStore::Sqlite(_) => {
                let path = self.db_url.trim_start_matches("sqlite://");
                let dir = std::path::Path::new(path).parent().unwrap();
                std::fs::read_dir(dir).unwrap().any(|entry| {
                    let bytes = std::fs::read(entry.unwrap().path()).unwrap();
                    bytes.windows(needle.len()).any(|w| w == needle)
                })
            }
            AnyStore::Postgres(pg) => {
                use sqlx::Row;
                let cols = sqlx::query(
                    "select table_name::text as t, column_name::text as c, data_type::text as d \
                     from information_schema.columns where table_schema = 'public' \
                     and data_type in ('text', 'bytea')",
                )
                .fetch_all(pg.pool())
                .await
                .unwrap();
                assert!(!cols.is_empty());
                for col in cols {
                    let (t, c, d): (String, String, String) =
                        (col.get("t"), col.get("c"), col.get("d"));
                    let cond = if d == "bytea" {
                        format!("position($1::bytea in \"{c}\") > 0")
                    } else {
                        format!("position(convert_from($1::bytea, 'UTF8') in \"{c}\") > 0")
                    };
                    let n: i64 =
                        sqlx::query_scalar(&format!("select count(*) from \"{t}\" where {cond}"))
                            .bind(needle)
                            .fetch_one(pg.pool())
                            .await
                            .unwrap();
                    if n > 0 {
                        return true;
                    }
                }
                false
            }
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Runs the background worker until nothing is due.
    pub(crate) async fn run_pending_jobs(&self) {
        omno_server::worker::run_pending(&self.state).await;
    }

    pub(crate) fn advance(&self, by: time::Duration) {
        self.clock.advance(by);
    }

    /// A request with the demo API key.
    pub(crate) fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("Authorization", format!("Bearer {}", self.creds.api_key))
    }

    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.req(Method::POST, path)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn create_payout(&self, body: &Value) -> Response {
        self.post_json("/public/payout", body).await
    }

    /// Creates a payout and returns its id (asserting 200).
    pub(crate) async fn new_payout(&self, order_id: &str, value: f64) -> String {
        let r = self
            .create_payout(&payout_body(order_id, value, "EUR"))
            .await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        v["payoutId"].as_str().unwrap().to_string()
    }

    pub(crate) async fn confirm(&self, id: &str) -> Response {
        self.req(Method::PUT, &format!("/public/payout/{id}/confirm"))
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn reject(&self, id: &str) -> Response {
        self.req(Method::PUT, &format!("/public/payout/{id}/reject"))
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn get_payout(&self, id: &str) -> Value {
        let r = self
            .req(Method::GET, &format!("/public/payout/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    pub(crate) async fn create_payin(&self, body: &Value) -> Response {
        self.post_json("/public/payin", body).await
    }

    /// Creates a payin of `amount` EUR and returns its id (asserting 200).
    pub(crate) async fn new_payin(&self, order_id: &str, amount: f64) -> String {
        let r = self
            .create_payin(&payin_body(order_id, amount, "EUR"))
            .await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        v["paymentId"].as_str().unwrap().to_string()
    }

    pub(crate) async fn get_payin(&self, id: &str) -> Value {
        let r = self
            .req(Method::GET, &format!("/public/payin/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// `process/card` with a test card; returns the response.
    pub(crate) async fn pay_card(&self, id: &str, number: &str, save: bool) -> Response {
        self.post_json(
            &format!("/public/payin/{id}/process/card"),
            &json!({"browser": browser(), "cardData": card_data(number), "saveCard": save}),
        )
        .await
    }

    /// Subscribes a webhook endpoint of the demo merchant to every event (a receiver answering
    /// 200), so status changes from now on write outbox events: omno writes none that nothing is
    /// subscribed to.
    pub(crate) async fn subscribe_all(&self) -> Receiver {
        let rx = Receiver::start(&[]).await;
        let m = self.creds.merchant_id.hex();
        let (s, ep) = admin(
            self,
            Method::POST,
            &format!("/admin/merchants/{m}/webhook-endpoints"),
            Some(json!({"url": rx.url})),
        )
        .await;
        assert_eq!(s, 201, "{ep}");
        rx
    }

    /// Statuses announced by the outbox events of a transaction, oldest first.
    pub(crate) async fn store_events(&self, id: &str) -> Vec<String> {
        self.state
            .store
            .list_events(id)
            .await
            .unwrap()
            .into_iter()
            .map(|e| {
                let body: Value = serde_json::from_str(&e.body).unwrap();
                assert_eq!(
                    body["status"],
                    e.status.as_str(),
                    "event body matches its status"
                );
                assert!(
                    e.event_type.ends_with("_STATUS_CHANGED"),
                    "{}",
                    e.event_type
                );
                e.status
            })
            .collect()
    }

    /// Creates a second merchant through the admin API; returns its API key.
    pub(crate) async fn other_merchant_key(&self) -> String {
        let r = self
            .client
            .post(self.url("/admin/merchants"))
            .bearer_auth(&self.admin_token)
            .json(&json!({"name": "Other GmbH"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.unwrap();
        v["apiKey"].as_str().unwrap().to_string()
    }
}

/// Whether this run uses PostgreSQL (`OMNO_TEST_PG_URL` set).
pub(crate) fn pg_selected() -> bool {
    std::env::var(omno_store::testing::PG_URL_VAR).is_ok_and(|v| !v.trim().is_empty())
}

pub(crate) fn customer() -> Value {
    json!({
        "externalUserId": "u-58213",
        "firstName": "Anna",
        "lastName": "Keller",
        "email": "anna.keller@example.de",
        "phoneNumber": "+49 30 901820",
        "dateOfBirth": "1988-04-17",
        "billing": {
            "address": "Torstraße 112",
            "city": "Berlin",
            "state": "BE",
            "countryCode": "DE",
            "postalCode": "10119"
        }
    })
}

pub(crate) fn payout_body(order_id: &str, value: f64, currency: &str) -> Value {
    json!({
        "orderId": order_id,
        "value": value,
        "currency": currency,
        "kycVerified": true,
        "customer": customer(),
    })
}

pub(crate) fn payin_body(order_id: &str, amount: f64, currency: &str) -> Value {
    json!({
        "orderId": order_id,
        "amount": amount,
        "currency": currency,
        "kycVerified": false,
        "customer": customer(),
    })
}

pub(crate) fn card_data(number: &str) -> Value {
    json!({"cardNumber": number, "expirationMonth": "09", "expirationYear": "2039", "cvv": "737", "cardholderName": "Anna Keller"})
}

pub(crate) fn browser() -> Value {
    json!({"userAgent": "Mozilla/5.0 test", "language": "de-DE", "javascriptEnabled": true, "customerIp": "91.64.23.117"})
}

/// Asserts the §1.7 envelope and returns it.
pub(crate) async fn assert_error(r: Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status().as_u16(), status, "status");
    assert_eq!(
        r.headers().get("content-type").unwrap(),
        "application/json",
        "content type"
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], code, "{v}");
    assert_eq!(v["status"], status);
    assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(v["path"].as_str().unwrap().starts_with('/'));
    assert!(v["errors"].is_array());
    v
}

/// The `field` values of a validation error, in order.
pub(crate) fn fields(v: &Value) -> Vec<String> {
    v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect()
}

/// One request received by a [`Receiver`].
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: String,
}

/// A local webhook receiver: records every request and answers with the next scripted status
/// (200 once the script is exhausted).
#[derive(Clone)]
pub(crate) struct Receiver {
    pub(crate) url: String,
    pub(crate) got: Arc<std::sync::Mutex<Vec<Received>>>,
    script: Arc<std::sync::Mutex<std::collections::VecDeque<u16>>>,
}

impl Receiver {
    pub(crate) async fn start(script: &[u16]) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(listener, script)
    }

    pub(crate) fn start_on(listener: tokio::net::TcpListener, script: &[u16]) -> Receiver {
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let got = Arc::new(std::sync::Mutex::new(Vec::new()));
        let script = Arc::new(std::sync::Mutex::new(
            script
                .iter()
                .copied()
                .collect::<std::collections::VecDeque<u16>>(),
        ));
        let (g, s) = (got.clone(), script.clone());
        let app = axum::Router::new().route(
            "/hooks",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let (g, s) = (g.clone(), s.clone());
                async move {
                    let code = s.lock().unwrap().pop_front().unwrap_or(200);
                    let mut h = reqwest::header::HeaderMap::new();
                    for (k, v) in &headers {
                        h.insert(
                            reqwest::header::HeaderName::from_bytes(k.as_str().as_bytes()).unwrap(),
                            reqwest::header::HeaderValue::from_bytes(v.as_bytes()).unwrap(),
                        );
                    }
                    g.lock().unwrap().push(Received { headers: h, body });
                    (
                        axum::http::StatusCode::from_u16(code).unwrap(),
                        if code == 200 {
                            "OK"
                        } else {
                            "upstream unavailable"
                        },
                    )
                }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url, got, script }
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    pub(crate) fn set_script(&self, script: &[u16]) {
        *self.script.lock().unwrap() = script.iter().copied().collect();
    }
}

impl Received {
    pub(crate) fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// Verifies `X-Omno-Signature` the way a merchant would (§12.3).
pub(crate) fn verify_signature(secret: &str, header: &str, body: &str) -> bool {
    use hmac::Mac;
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", x)) => t = Some(x.to_string()),
            Some(("v1", x)) => v1 = Some(x.to_string()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes()) == v1
}

/// An admin API call with the test admin token: (status, JSON body or `null`).
pub(crate) async fn admin(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .client
        .request(method, app.url(path))
        .bearer_auth(&app.admin_token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}
