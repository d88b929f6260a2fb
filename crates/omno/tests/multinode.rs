//! Two `omno serve` processes on one PostgreSQL database (issue 8): every payout is handed to
//! the PSP exactly once and every webhook event is delivered once, and when one node dies with
//! SIGKILL the other finishes the work it had claimed once the leases expire.
//!
//! Runs only with `OMNO_TEST_PG_URL` (required under `CI=true`); `scripts/test` starts a server.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod pg {
    use std::collections::{BTreeMap, HashMap};
    use std::process::{Child, Command, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use serde_json::{Value, json};
    use sqlx::Row;

    const BIN: &str = env!("CARGO_BIN_EXE_omno");
    const ADMIN: &str = "adm_multinode_0123456789abcdefghijklmnopqrstuv";
    /// `psp.request_timeout_ms` of both nodes: leases last this + 30 s.
    const PSP_TIMEOUT_MS: u64 = 2000;

    /// A running node, killed when dropped (also when the test fails).
    struct Node {
        child: Child,
        base: String,
    }

    impl Drop for Node {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    fn omno(db: &str, args: &[&str]) -> std::process::Output {
        Command::new(BIN)
            .args(args)
            .args(["--database-url", db])
            .env("OMNO__LOG__LEVEL", "warn")
            .output()
            .unwrap()
    }

    fn admin(db: &str, args: &[&str]) -> Value {
        let mut all = vec!["admin"];
        all.extend_from_slice(args);
        all.push("--json");
        let out = omno(db, &all);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "omno {args:?}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    async fn start_node(db: &str, client: &reqwest::Client) -> Node {
        let port = free_port();
        let child = Command::new(BIN)
            .args(["serve", "--sim-delay-ms", "0", "--sync-interval-ms", "100"])
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .args(["--database-url", db])
            .env("OMNO__LOG__LEVEL", "warn")
            .env("OMNO__PSP__REQUEST_TIMEOUT_MS", PSP_TIMEOUT_MS.to_string())
            .env("OMNO__WEBHOOKS__ALLOW_LOOPBACK", "true")
            .env("OMNO__RATE_LIMIT__REQUESTS_PER_SECOND", "0")
            .env("OMNO_ADMIN_TOKEN", ADMIN)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let node = Node {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = client.get(format!("{}/ready", node.base)).send().await
                && r.status() == 200
            {
                return node;
            }
            assert!(Instant::now() < deadline, "node {} not ready", node.base);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A webhook receiver recording (event id, transaction id, status) of every request.
    type Got = Arc<Mutex<Vec<(String, String, String)>>>;

    async fn receiver() -> (String, Got) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let got: Got = Arc::default();
        let g = got.clone();
        let app = axum::Router::new().route(
            "/hooks",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let g = g.clone();
                async move {
                    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    let event = headers
                        .get("x-omno-event-id")
                        .and_then(|h| h.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let id = v["id"]
                        .as_str()
                        .or(v["payoutId"].as_str())
                        .unwrap_or_default()
                        .to_string();
                    let status = v["status"].as_str().unwrap_or_default().to_string();
                    g.lock().unwrap().push((event, id, status));
                    "OK"
                }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (url, got)
    }

    fn body(order: &str, hook: &str) -> Value {
        json!({
            "orderId": order, "value": 150.25, "currency": "EUR", "kycVerified": true,
            "webhook": {"url": hook},
            "customer": {"externalUserId": format!("u-{order}"), "firstName": "Anna",
                "lastName": "Keller", "email": "anna.keller@example.de",
                "phoneNumber": "+49 30 901820", "dateOfBirth": "1988-04-17",
                "billing": {"address": "Torstraße 112", "city": "Berlin", "state": "BE",
                    "countryCode": "DE", "postalCode": "10119"}}
        })
    }

    /// Creates `n` payouts alternating between the nodes and confirms each on the other node;
    /// returns their ids.
    async fn create_and_confirm(
        client: &reqwest::Client,
        bases: [&str; 2],
        key: &str,
        hook: &str,
        prefix: &str,
        n: usize,
    ) -> Vec<String> {
        let mut ids = Vec::with_capacity(n);
        for chunk in (0..n).collect::<Vec<_>>().chunks(25) {
            let mut set = tokio::task::JoinSet::new();
            for &i in chunk {
                let (c, key) = (client.clone(), key.to_string());
                let (create_on, confirm_on) =
                    (bases[i % 2].to_string(), bases[(i + 1) % 2].to_string());
                let b = body(&format!("{prefix}-{i}"), hook);
                set.spawn(async move {
                    let r = c
                        .post(format!("{create_on}/public/payout"))
                        .bearer_auth(&key)
                        .json(&b)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                    let v: Value = r.json().await.unwrap();
                    let id = v["payoutId"].as_str().unwrap().to_string();
                    let r = c
                        .put(format!("{confirm_on}/public/payout/{id}/confirm"))
                        .bearer_auth(&key)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
                    id
                });
            }
            while let Some(id) = set.join_next().await {
                ids.push(id.unwrap());
            }
        }
        ids
    }

    /// Sum of `omno_psp_requests_total` for `submit_payout` on one node.
    async fn submits(client: &reqwest::Client, base: &str) -> u64 {
        let text = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| {
                l.starts_with("omno_psp_requests_total{")
                    && l.contains("operation=\"submit_payout\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    async fn processed(pool: &sqlx::PgPool, ids: &[String]) -> usize {
        sqlx::query_scalar::<_, i64>(
            "select count(*) from payout where payout_id = any($1) and status = 'PROCESSED'",
        )
        .bind(ids)
        .fetch_one(pool)
        .await
        .unwrap() as usize
    }

    /// Asserts each payout announced exactly WAITING_FOR_CONFIRMATION, PENDING, PROCESSED (in
    /// order) and that each event reached the receiver; `exactly_once` also forbids repeats.
    fn assert_events(got: &Got, ids: &[String], exactly_once: bool) {
        let got = got.lock().unwrap().clone();
        let mut by_event: HashMap<String, usize> = HashMap::new();
        let mut by_payout: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for (event, id, status) in &got {
            *by_event.entry(event.clone()).or_default() += 1;
            let seen = by_payout.entry(id.clone()).or_default();
            if !seen.iter().any(|(e, _)| e == event) {
                seen.push((event.clone(), status.clone()));
            }
        }
        for id in ids {
            let statuses: Vec<&str> = by_payout
                .get(id)
                .map(|v| v.iter().map(|(_, s)| s.as_str()).collect())
                .unwrap_or_default();
            assert_eq!(
                statuses,
                ["WAITING_FOR_CONFIRMATION", "PENDING", "PROCESSED"],
                "events of {id}"
            );
        }
        if exactly_once {
            let repeated: Vec<_> = by_event.iter().filter(|(_, n)| **n > 1).collect();
            assert!(repeated.is_empty(), "events delivered twice: {repeated:?}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_nodes_share_one_database_and_survive_a_sigkill() {
        let Some(db) = omno_store::testing::fresh_pg_database().await.unwrap() else {
            return;
        };
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let client = reqwest::Client::new();

        // Arrange: migrations run once, then the merchant, its PSP account and router.
        assert!(omno(&db, &["migrate"]).status.success());
        let m = admin(
            &db,
            &[
                "merchants",
                "create",
                "--data",
                r#"{"name": "Multi GmbH", "enabledCurrencies": ["EUR"]}"#,
            ],
        );
        let mid = m["merchantId"].as_str().unwrap().to_string();
        let key = m["apiKey"].as_str().unwrap().to_string();
        let acct = admin(
            &db,
            &[
                "psp-accounts",
                "create",
                "--merchant",
                &mid,
                "--data",
                r#"{"name": "sim", "connector": "simulator", "currencies": ["EUR"], "methods": ["CARD", "BANK_TRANSFER"], "directions": ["PAYOUT"]}"#,
            ],
        );
        let acct_id = acct["id"].as_str().unwrap().to_string();
        let router = admin(
            &db,
            &[
                "routers",
                "create",
                "--merchant",
                &mid,
                "--data",
                &format!(
                    r#"{{"name": "main", "rules": [{{"name": "all", "conditions": {{}}, "targets": [{{"pspAccountId": "{acct_id}"}}]}}]}}"#
                ),
            ],
        );
        let rid = router["id"].as_str().unwrap().to_string();
        admin(
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
        let (hook, got) = receiver().await;
        let a = start_node(&db, &client).await;
        let b = start_node(&db, &client).await;
        let pool = sqlx::PgPool::connect(&db).await.unwrap();

        // Act 1: 500 payouts created and confirmed across both nodes.
        let started = Instant::now();
        let ids = create_and_confirm(&client, [&a.base, &b.base], &key, &hook, "wd", 500).await;
        let deadline = Instant::now() + Duration::from_secs(60);
        while processed(&pool, &ids).await < ids.len() || got.lock().unwrap().len() < 1500 {
            assert!(
                Instant::now() < deadline,
                "500 payouts not processed in time"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!("500 payouts on two nodes: {:?}", started.elapsed());

        // Assert: one submission per payout across both nodes, one processor, the three events
        // in order, each delivered once.
        let (sa, sb) = (
            submits(&client, &a.base).await,
            submits(&client, &b.base).await,
        );
        assert_eq!(sa + sb, 500, "PSP submissions: node A {sa}, node B {sb}");
        assert!(sa > 0 && sb > 0, "both nodes worked: {sa} / {sb}");
        let rows = sqlx::query(
            "select processor_psp_id, submitted_at, psp_transaction_id, history from payout \
             where payout_id = any($1)",
        )
        .bind(&ids)
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(rows.len(), 500);
        for r in &rows {
            assert_eq!(
                r.get::<Option<String>, _>("processor_psp_id").as_deref(),
                Some(acct_id.as_str())
            );
            assert!(r.get::<Option<i64>, _>("submitted_at").is_some());
            assert!(r.get::<Option<String>, _>("psp_transaction_id").is_some());
            let history: Value = serde_json::from_str(&r.get::<String, _>("history")).unwrap();
            let statuses: Vec<&str> = history
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["status"].as_str().unwrap())
                .collect();
            assert_eq!(
                statuses,
                [
                    "CREATED",
                    "WAITING_FOR_CONFIRMATION",
                    "PENDING",
                    "PROCESSED"
                ]
            );
        }
        let events: i64 =
            sqlx::query_scalar("select count(*) from event where transaction_id = any($1)")
                .bind(&ids)
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(events, 1500, "one outbox event per status change");
        assert_events(&got, &ids, true);

        // Act 2: PSP calls now take 1.5 s (the configuration change reaches both nodes' caches
        // within a second); confirm a batch and SIGKILL node A while it holds claimed work.
        admin(
            &db,
            &[
                "psp-accounts",
                "update",
                "--merchant",
                &mid,
                "--id",
                &acct_id,
                "--data",
                r#"{"settings": {"latencyMs": 1500}}"#,
            ],
        );
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let batch =
            create_and_confirm(&client, [&a.base, &b.base], &key, &hook, "wd-kill", 40).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut a = a;
        a.child.kill().unwrap(); // SIGKILL
        a.child.wait().unwrap();
        let killed = Instant::now();
        let leased: Vec<String> = sqlx::query_scalar(
            "select payout_id from payout where payout_id = any($1) and status <> 'PROCESSED' \
             and lease_owner is not null",
        )
        .bind(&batch)
        .fetch_all(&pool)
        .await
        .unwrap();
        let owners: i64 = sqlx::query_scalar(
            "select count(distinct lease_owner) from payout where payout_id = any($1) \
             and status <> 'PROCESSED' and lease_owner is not null",
        )
        .bind(&batch)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert!(
            !leased.is_empty(),
            "node A was killed holding no claimed payout; nothing to take over"
        );

        // Assert: node B finishes everything, including what A had claimed, after its lease.
        let deadline = Instant::now() + Duration::from_millis(PSP_TIMEOUT_MS + 30_000 + 20_000);
        while processed(&pool, &batch).await < batch.len() {
            assert!(
                Instant::now() < deadline,
                "node B did not take over: {}/{} processed",
                processed(&pool, &batch).await,
                batch.len()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        eprintln!(
            "after SIGKILL ({} in flight, {owners} lease owners): all processed in {:?}",
            leased.len(),
            killed.elapsed()
        );
        let deadline = Instant::now() + Duration::from_secs(45);
        loop {
            let n = got
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, id, s)| s == "PROCESSED" && batch.contains(id))
                .count();
            if n >= batch.len() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "PROCESSED events of the batch missing"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // A delivery in flight when A died may be repeated (at least once), never reordered.
        assert_events(&got, &batch, false);
        let never_submitted: i64 = sqlx::query_scalar(
            "select count(*) from payout where payout_id = any($1) and submitted_at is null",
        )
        .bind(&batch)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(never_submitted, 0);
        drop(b);
        pool.close().await;
        omno_store::testing::drop_database(&db).await.unwrap();
    }
}
