//! Storage contract tests: behaviour every `Store` implementation must have. Each case runs on
//! SQLite (`sqlite_*`) and on PostgreSQL (`pg_*`, a fresh database on `OMNO_TEST_PG_URL`; skipped
//! without it, failing under `CI=true`).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use omno_domain::country::CountryCode;
use omno_domain::customer::{Billing, Customer};
use omno_domain::ids::{CustomerId, EventId, MerchantId, PayoutId};
use omno_domain::money::{Currency, MinorUnits, Money};
use omno_domain::payout::{Dispatch, HistoryEntry, Metadata, Payout, PayoutStatus};
use omno_store::{
    AnyStore, CreateMeta, CreateOutcome, IdemCheck, IdemWrite, MerchantRecord, NewEvent, PanUpdate,
    PayoutWrite, SaveOutcome, Store, StoredResponse,
};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// A migrated store of one backend; dropped (PG: database dropped) by [`Db::finish`].
struct Db {
    store: AnyStore,
    pg_url: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl Db {
    async fn sqlite() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = AnyStore::open(&url, 2).await.unwrap();
        store.migrate().await.unwrap();
        Db {
            store,
            pg_url: None,
            _dir: Some(dir),
        }
    }

    /// `None` when PostgreSQL tests are skipped (not under CI).
    async fn pg() -> Option<Db> {
        let url = omno_store::testing::fresh_pg_database().await.unwrap()?;
        let store = AnyStore::open(&url, 4).await.unwrap();
        store.migrate().await.unwrap();
        Some(Db {
            store,
            pg_url: Some(url),
            _dir: None,
        })
    }

    async fn finish(self) {
        self.store.close().await;
        if let Some(url) = &self.pg_url {
            omno_store::testing::drop_database(url).await.unwrap();
        }
    }
}

/// Runs each contract case on both backends: `sqlite_<case>` and `pg_<case>`.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let db = super::Db::sqlite().await;
                    super::$case(&*db.store.shared()).await;
                    db.finish().await;
                }
            )*
        }
        mod pg {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(db) = super::Db::pg().await else { return };
                    super::$case(&*db.store.shared()).await;
                    db.finish().await;
                }
            )*
        }
    };
}

contract!(
    payout_round_trips_and_order_ids_are_unique,
    idempotency_keys_replay_mismatch_and_expire,
    save_is_a_compare_and_set_on_version,
    due_payouts_are_leased_to_one_worker,
    concurrent_creates_of_one_order_id_make_one_payout,
    many_concurrent_creates_keep_one_payout_per_order_id,
    a_create_the_database_rejects_fails_alone,
    concurrent_claims_hand_each_payout_to_one_worker,
    deliveries_are_leased_in_order_and_logged,
    settings_and_config_version,
    search_filters_and_pages,
    payin_round_trip_cas_and_pan_lifecycle,
    saved_cards_are_one_per_customer_and_hash,
    due_payins_are_leased_to_one_worker,
    cashier_balance_and_numbered_transactions,
);

#[test]
fn migration_directories_have_the_same_files() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let names = |b: &str| {
        let mut v: Vec<String> = std::fs::read_dir(dir.join(b))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let (sqlite, pg) = (names("sqlite"), names("postgres"));
    assert!(!sqlite.is_empty());
    assert_eq!(
        sqlite, pg,
        "R20: every migration has the same number and name in both"
    );
}

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_773_480_000).unwrap()
}

async fn merchant(s: &dyn Store) -> MerchantId {
    let id = MerchantId(Uuid::now_v7());
    s.insert_merchant(&MerchantRecord {
        id,
        name: "M".into(),
        mode: "test".into(),
        active: true,
        enabled_currencies: vec![Currency::parse("EUR").unwrap()],
        payout_confirmation_required: true,
        default_router_id: None,
        allowed_frame_origins: vec![],
        webhook_secret_enc: vec![1, 2, 3],
        created_at: t0(),
        updated_at: t0(),
    })
    .await
    .unwrap();
    id
}

fn payout(m: MerchantId, c: CustomerId, order: &str) -> Payout {
    let eur = Money::new(MinorUnits(15025), Currency::parse("EUR").unwrap());
    Payout {
        id: PayoutId(Uuid::now_v7()),
        merchant_id: m,
        customer_id: c,
        order_id: order.into(),
        amount: eur,
        initial: eur,
        status: PayoutStatus::WaitingForConfirmation,
        status_reason: None,
        kyc_verified: true,
        previous_transaction_count: 0,
        customer: Customer {
            external_user_id: "u".into(),
            first_name: "A".into(),
            last_name: "K".into(),
            email: "a@k.de".into(),
            phone_number: "12345".into(),
            date_of_birth: "1988-04-17".into(),
            billing: Billing {
                address: "x".into(),
                city: "x".into(),
                state: "x".into(),
                country_code: CountryCode::parse("DE").unwrap(),
                postal_code: "1".into(),
            },
            kyc: None,
        },
        return_urls: None,
        webhook_url: None,
        router_id: None,
        routing_reason: Some("r".into()),
        predicted_psp_id: None,
        processor_psp_id: None,
        psp_transaction_id: None,
        destination: None,
        metadata: Metadata::default(),
        confirmed_at: None,
        confirmation_deadline: Some(t0() + Duration::days(7)),
        dispatch: Dispatch::Idle,
        next_action_at: Some(t0() + Duration::days(7)),
        sync_attempts: 0,
        submitted_at: None,
        created_at: t0(),
        updated_at: t0(),
        history: vec![HistoryEntry {
            status: PayoutStatus::Created,
            at: t0(),
            reason: None,
        }],
        routing_detail: Some("{\"ruleIndex\":0}".into()),
        fx_detail: None,
        version: 1,
    }
}

fn meta(fp: &str, idem: Option<&str>) -> CreateMeta {
    CreateMeta {
        order_fingerprint: fp.into(),
        response: format!("{{\"fp\":\"{fp}\"}}"),
        idem: idem.map(|k| IdemWrite {
            scope: "merchant:x".into(),
            key: k.into(),
            fingerprint: format!("i-{fp}"),
            response: StoredResponse {
                status: 200,
                body: format!("{{\"fp\":\"{fp}\"}}"),
            },
            created_at: t0(),
            not_before: t0() - Duration::days(1),
        }),
        idem_not_before: t0() - Duration::days(1),
    }
}

fn event(p: &Payout) -> NewEvent {
    NewEvent {
        id: EventId(Uuid::now_v7()),
        merchant_id: p.merchant_id,
        kind: "PAYOUT",
        transaction_id: p.id.hex(),
        event_type: "PAYOUT_STATUS_CHANGED",
        status: p.status.as_str().into(),
        body: "{}".into(),
        created_at: t0(),
        targets: vec![omno_store::DeliveryTarget {
            endpoint_id: None,
            url: "http://127.0.0.1:9/h".into(),
        }],
    }
}

async fn payout_round_trips_and_order_ids_are_unique(s: &dyn Store) {
    let m = merchant(s).await;
    let c = s
        .ensure_customer(m, "u", CustomerId(Uuid::now_v7()), t0())
        .await
        .unwrap();
    assert_eq!(
        s.ensure_customer(m, "u", CustomerId(Uuid::now_v7()), t0())
            .await
            .unwrap(),
        c
    );
    let p = payout(m, c, "o-1");
    assert_eq!(
        s.create_payout(&p, &meta("a", None), &[event(&p)])
            .await
            .unwrap(),
        CreateOutcome::Created
    );
    assert_eq!(s.get_payout(Some(m), p.id).await.unwrap().unwrap(), p);
    assert!(
        s.get_payout(Some(MerchantId(Uuid::now_v7())), p.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(s.list_events(&p.id.hex()).await.unwrap().len(), 1);

    let dup = payout(m, c, "o-1");
    assert_eq!(
        s.create_payout(&dup, &meta("a", None), &[event(&dup)])
            .await
            .unwrap(),
        CreateOutcome::OrderReplay("{\"fp\":\"a\"}".into())
    );
    assert_eq!(
        s.create_payout(&dup, &meta("b", None), &[event(&dup)])
            .await
            .unwrap(),
        CreateOutcome::DuplicateOrderId
    );
    assert!(
        s.get_payout(None, dup.id).await.unwrap().is_none(),
        "nothing inserted"
    );
    assert!(
        s.list_events(&dup.id.hex()).await.unwrap().is_empty(),
        "no event for a replay"
    );
}

async fn idempotency_keys_replay_mismatch_and_expire(s: &dyn Store) {
    let m = merchant(s).await;
    let c = s
        .ensure_customer(m, "u", CustomerId(Uuid::now_v7()), t0())
        .await
        .unwrap();
    let p = payout(m, c, "o-1");
    s.create_payout(&p, &meta("a", Some("k")), &[])
        .await
        .unwrap();
    let q = payout(m, c, "o-2");
    assert!(matches!(
        s.create_payout(&q, &meta("a", Some("k")), &[])
            .await
            .unwrap(),
        CreateOutcome::IdemReplay(_)
    ));
    assert_eq!(
        s.create_payout(&q, &meta("z", Some("k")), &[])
            .await
            .unwrap(),
        CreateOutcome::IdemMismatch
    );
    assert_eq!(
        s.check_idempotency("merchant:x", "k", "i-a", t0() - Duration::days(1))
            .await
            .unwrap(),
        IdemCheck::Replay(StoredResponse {
            status: 200,
            body: "{\"fp\":\"a\"}".into()
        })
    );
    // After the retention window the key is free again.
    assert_eq!(
        s.check_idempotency("merchant:x", "k", "i-z", t0() + Duration::seconds(1))
            .await
            .unwrap(),
        IdemCheck::Fresh
    );
}

async fn save_is_a_compare_and_set_on_version(s: &dyn Store) {
    let m = merchant(s).await;
    let c = s
        .ensure_customer(m, "u", CustomerId(Uuid::now_v7()), t0())
        .await
        .unwrap();
    let p = payout(m, c, "o-1");
    s.create_payout(&p, &meta("a", None), &[]).await.unwrap();
    let mut a = p.clone();
    a.apply(PayoutStatus::Pending, None, None, t0()).unwrap();
    let mut b = p.clone();
    b.apply(PayoutStatus::Rejected, None, None, t0()).unwrap();
    fn w(x: &Payout) -> PayoutWrite<'_> {
        PayoutWrite {
            payout: x,
            expected_version: 1,
            events: vec![event(x)],
            idem: None,
            pan: PanUpdate::Set(vec![9; 40]),
            release_lease_of: None,
        }
    }
    assert_eq!(s.save_payout(w(&a)).await.unwrap(), SaveOutcome::Saved);
    assert_eq!(
        s.save_payout(w(&b)).await.unwrap(),
        SaveOutcome::VersionConflict
    );
    let stored = s.get_payout(None, p.id).await.unwrap().unwrap();
    assert_eq!(stored.status, PayoutStatus::Pending);
    assert_eq!(stored.version, 2);
    assert_eq!(
        s.list_events(&p.id.hex()).await.unwrap().len(),
        1,
        "loser's event not written"
    );
    assert_eq!(s.payout_pan(p.id).await.unwrap(), Some(vec![9; 40]));
}

async fn due_payouts_are_leased_to_one_worker(s: &dyn Store) {
    let m = merchant(s).await;
    let c = s
        .ensure_customer(m, "u", CustomerId(Uuid::now_v7()), t0())
        .await
        .unwrap();
    let p = payout(m, c, "o-1");
    s.create_payout(&p, &meta("a", None), &[]).await.unwrap();
    let due = t0() + Duration::days(7);
    assert!(
        s.claim_due_payouts(due - Duration::seconds(1), "n1", due, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let lease = due + Duration::seconds(30);
    assert_eq!(
        s.claim_due_payouts(due, "n1", lease, 10).await.unwrap(),
        vec![p.id]
    );
    assert!(
        s.claim_due_payouts(due, "n2", lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    // An expired lease (dead worker) is taken over.
    assert_eq!(
        s.claim_due_payouts(
            lease + Duration::seconds(1),
            "n2",
            lease + Duration::seconds(60),
            10
        )
        .await
        .unwrap(),
        vec![p.id]
    );
}

async fn concurrent_creates_of_one_order_id_make_one_payout(s: &dyn Store) {
    let m = merchant(s).await;
    let c = s
        .ensure_customer(m, "u", CustomerId(Uuid::now_v7()), t0())
        .await
        .unwrap();
    let ps: Vec<Payout> = (0..4).map(|_| payout(m, c, "o-race")).collect();
    let create = |p: &Payout| {
        let e = event(p);
        let p = p.clone();
        async move { s.create_payout(&p, &meta("a", None), &[e]).await.unwrap() }
    };
    let (a, b, c2, d) = tokio::join!(
        create(&ps[0]),
        create(&ps[1]),
        create(&ps[2]),
        create(&ps[3])
    );
    let outcomes = [a, b, c2, d];
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == CreateOutcome::Created)
            .count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, CreateOutcome::Created | CreateOutcome::OrderReplay(_)))
    );

    // One Idempotency-Key raced by different orders: one wins, the others replay its answer.
    let qs: Vec<Payout> = (0..4)
        .map(|i| payout(m, c, &format!("o-idem-{i}")))
        .collect();
    let create = |p: &Payout| {
        let p = p.clone();
        async move {
            s.create_payout(&p, &meta("k", Some("key-race")), &[])
                .await
                .unwrap()
        }
    };
    let (a, b, c2, d) = tokio::join!(
        create(&qs[0]),
        create(&qs[1]),
        create(&qs[2]),
        create(&qs[3])
    );
    let outcomes = [a, b, c2, d];
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == CreateOutcome::Created)
            .count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, CreateOutcome::Created | CreateOutcome::IdemReplay(_)))
    );
}

/// Polls all `futs` together on this task (the store is borrowed, so they cannot be spawned):
/// on PostgreSQL they reach the create batcher together and share batches.
async fn join_all<F: std::future::Future>(futs: Vec<F>) -> Vec<F::Output> {
    let mut futs: Vec<_> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in futs.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *o = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}

/// Many creates without an `Idempotency-Key` at once (on PostgreSQL: group-committed in shared
/// statements), several per `orderId`, including one taken before: one row per `orderId`, one
/// event (and its deliveries) per created payout, and the §1.8 answers for the others.
async fn many_concurrent_creates_keep_one_payout_per_order_id(s: &dyn Store) {
    let silent = |p: &Payout| {
        p.order_id
            .strip_prefix("o-")
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n % 2 == 1)
    };
    let m = merchant(s).await;
    let c = s
        .ensure_customer(m, "u", CustomerId(Uuid::now_v7()), t0())
        .await
        .unwrap();
    let pre = payout(m, c, "o-pre");
    s.create_payout(&pre, &meta("p", None), &[event(&pre)])
        .await
        .unwrap();
    // (orderId, fingerprint): 40 distinct orders, 6 equivalent repeats of one, 6 different
    // bodies for another, 3 repeats of the order taken before. The distinct orders with an odd
    // number come without an event (nothing subscribed), in the same batches as the others.
    let mut reqs: Vec<(String, String)> = (0..40)
        .map(|i| (format!("o-{i}"), format!("f{i}")))
        .collect();
    reqs.extend((0..6).map(|_| ("o-same".to_string(), "s".to_string())));
    reqs.extend((0..6).map(|i| ("o-diff".to_string(), format!("d{i}"))));
    reqs.extend((0..3).map(|_| ("o-pre".to_string(), "p".to_string())));
    let ps: Vec<Payout> = reqs.iter().map(|(o, _)| payout(m, c, o)).collect();
    let outcomes = join_all(
        ps.iter()
            .zip(&reqs)
            .map(|(p, (_, fp))| async move {
                let mut e = event(p);
                e.targets.push(omno_store::DeliveryTarget {
                    endpoint_id: None,
                    url: "http://127.0.0.1:9/second".into(),
                });
                let events = if silent(p) { vec![] } else { vec![e] };
                s.create_payout(p, &meta(fp, None), &events).await.unwrap()
            })
            .collect(),
    )
    .await;

    for order in ["o-0", "o-39", "o-same", "o-diff", "o-pre"] {
        let rows = s
            .search_payouts(
                &omno_store::PayoutFilter {
                    merchant_id: Some(m),
                    order_id: Some(order.into()),
                    ..Default::default()
                },
                None,
                10,
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "one row for {order}");
    }
    let of = |order: &str| -> Vec<(&Payout, &CreateOutcome)> {
        ps.iter()
            .zip(&outcomes)
            .filter(|(p, _)| p.order_id == order)
            .collect()
    };
    for i in 0..40 {
        let [(p, o)] = of(&format!("o-{i}"))[..] else {
            panic!("one request per order")
        };
        assert_eq!(*o, CreateOutcome::Created);
        assert_eq!(s.get_payout(Some(m), p.id).await.unwrap().as_ref(), Some(p));
    }
    let same = of("o-same");
    assert_eq!(
        same.iter()
            .filter(|(_, o)| **o == CreateOutcome::Created)
            .count(),
        1,
        "{same:?}"
    );
    assert!(same.iter().all(|(_, o)| matches!(o, CreateOutcome::Created)
        || **o == CreateOutcome::OrderReplay("{\"fp\":\"s\"}".into())));
    let diff = of("o-diff");
    assert_eq!(
        diff.iter()
            .filter(|(_, o)| **o == CreateOutcome::Created)
            .count(),
        1,
        "{diff:?}"
    );
    assert!(
        diff.iter()
            .all(|(_, o)| matches!(o, CreateOutcome::Created | CreateOutcome::DuplicateOrderId))
    );
    let winner = diff
        .iter()
        .find(|(_, o)| **o == CreateOutcome::Created)
        .unwrap()
        .0;
    let stored = s.get_payout(Some(m), winner.id).await.unwrap().unwrap();
    assert_eq!(stored.order_id, "o-diff");
    assert!(
        of("o-pre")
            .iter()
            .all(|(_, o)| **o == CreateOutcome::OrderReplay("{\"fp\":\"p\"}".into()))
    );

    for (p, o) in ps.iter().zip(&outcomes) {
        let events = s.list_events(&p.id.hex()).await.unwrap();
        let deliveries = s
            .list_deliveries(
                &omno_store::DeliveryFilter {
                    transaction_id: Some(p.id.hex()),
                    ..Default::default()
                },
                None,
                10,
            )
            .await
            .unwrap();
        if *o == CreateOutcome::Created && silent(p) {
            assert!(events.is_empty() && deliveries.is_empty(), "none was given");
        } else if *o == CreateOutcome::Created {
            assert_eq!(events.len(), 1, "one event for a created payout");
            assert_eq!(deliveries.len(), 2, "one delivery per target");
            assert!(deliveries.iter().all(|d| d.event_id == events[0].id));
        } else {
            assert!(events.is_empty(), "no event for a replay or duplicate");
            assert!(deliveries.is_empty());
            assert!(s.get_payout(None, p.id).await.unwrap().is_none());
        }
    }
}

/// A create the database rejects (its customer does not exist) among concurrent ones: it fails
/// alone (on PostgreSQL its batch is retried one create per statement), the others are created.
async fn a_create_the_database_rejects_fails_alone(s: &dyn Store) {
    let m = merchant(s).await;
    let c = s
        .ensure_customer(m, "u", CustomerId(Uuid::now_v7()), t0())
        .await
        .unwrap();
    let mut ps: Vec<Payout> = (0..8).map(|i| payout(m, c, &format!("o-{i}"))).collect();
    ps[3].customer_id = CustomerId(Uuid::now_v7());
    let results = join_all(
        ps.iter()
            .map(|p| async move {
                s.create_payout(p, &meta(&p.order_id, None), &[event(p)])
                    .await
            })
            .collect(),
    )
    .await;
    for (i, (p, r)) in ps.iter().zip(&results).enumerate() {
        if i == 3 {
            assert!(r.is_err(), "{r:?}");
            assert!(s.get_payout(None, p.id).await.unwrap().is_none());
            assert!(s.list_events(&p.id.hex()).await.unwrap().is_empty());
        } else {
            assert_eq!(r.as_ref().ok(), Some(&CreateOutcome::Created));
            assert_eq!(s.list_events(&p.id.hex()).await.unwrap().len(), 1);
        }
    }
}

async fn concurrent_claims_hand_each_payout_to_one_worker(s: &dyn Store) {
    let m = merchant(s).await;
    let c = s
        .ensure_customer(m, "u", CustomerId(Uuid::now_v7()), t0())
        .await
        .unwrap();
    let mut all = Vec::new();
    for i in 0..24 {
        let p = payout(m, c, &format!("o-{i}"));
        s.create_payout(&p, &meta(&format!("f{i}"), None), &[])
            .await
            .unwrap();
        all.push(p.id);
    }
    let due = t0() + Duration::days(7);
    let lease = due + Duration::seconds(30);
    let claim = |owner: &'static str| async move {
        let mut got = Vec::new();
        loop {
            let ids = s.claim_due_payouts(due, owner, lease, 4).await.unwrap();
            if ids.is_empty() {
                break got;
            }
            got.extend(ids);
        }
    };
    let (a, b, c2) = tokio::join!(claim("n1"), claim("n2"), claim("n3"));
    let mut claimed: Vec<PayoutId> = a.into_iter().chain(b).chain(c2).collect();
    claimed.sort_by_key(|p| p.hex());
    all.sort_by_key(|p| p.hex());
    assert_eq!(claimed, all, "every due payout claimed exactly once");
    // Releasing a lease makes the payout claimable again, by anyone.
    s.release_payout_lease(all[0], "n1").await.unwrap();
    s.release_payout_lease(all[0], "n2").await.unwrap();
    s.release_payout_lease(all[0], "n3").await.unwrap();
    assert_eq!(
        s.claim_due_payouts(due, "n4", lease, 10).await.unwrap(),
        vec![all[0]]
    );
}

async fn deliveries_are_leased_in_order_and_logged(s: &dyn Store) {
    let m = merchant(s).await;
    let c = s
        .ensure_customer(m, "u", CustomerId(Uuid::now_v7()), t0())
        .await
        .unwrap();
    let p = payout(m, c, "o-1");
    s.create_payout(&p, &meta("a", None), &[event(&p)])
        .await
        .unwrap();
    let mut q = p.clone();
    q.apply(PayoutStatus::Pending, None, None, t0()).unwrap();
    s.save_payout(PayoutWrite {
        payout: &q,
        expected_version: 1,
        events: vec![event(&q)],
        idem: None,
        pan: PanUpdate::Keep,
        release_lease_of: None,
    })
    .await
    .unwrap();
    assert_eq!(s.pending_deliveries().await.unwrap(), 2);
    let lease = t0() + Duration::seconds(30);
    let first = s.claim_due_deliveries(t0(), "n1", lease, 10).await.unwrap();
    assert_eq!(first.len(), 1, "the second event waits for the first");
    assert_eq!(first[0].body, "{}");
    assert!(
        s.claim_due_deliveries(t0(), "n2", lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let d = first[0].delivery.id;
    let attempt = omno_store::AttemptRecord {
        attempt: 1,
        at: t0(),
        http_status: Some(200),
        latency_ms: 3,
        error: None,
        response_snippet: Some("OK".into()),
    };
    s.finish_attempt(d, &attempt, "DELIVERED", None)
        .await
        .unwrap();
    let (rec, attempts) = s.get_delivery(d).await.unwrap().unwrap();
    assert_eq!(rec.status, "DELIVERED");
    assert_eq!(rec.attempt_count, 1);
    assert_eq!(attempts, vec![attempt]);
    let second = s.claim_due_deliveries(t0(), "n2", lease, 10).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_ne!(second[0].delivery.id, d);
    assert_eq!(s.pending_deliveries().await.unwrap(), 1);
    // An expired lease is taken over.
    let later = lease + Duration::seconds(1);
    let again = s
        .claim_due_deliveries(later, "n3", later + Duration::seconds(30), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].delivery.id, second[0].delivery.id);
    // Redelivery queues a delivered one again with a new window.
    let re = s.redeliver(d, later).await.unwrap().unwrap();
    assert_eq!(re.status, "PENDING");
    assert_eq!(re.retry_from, 1);
    let listed = s
        .list_deliveries(
            &omno_store::DeliveryFilter {
                merchant_id: Some(m),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
}

async fn settings_and_config_version(s: &dyn Store) {
    assert_eq!(s.get_setting("k").await.unwrap(), None);
    assert_eq!(s.init_setting("k", "a").await.unwrap(), "a");
    assert_eq!(
        s.init_setting("k", "b").await.unwrap(),
        "a",
        "first value stays"
    );
    s.put_setting("k", "c").await.unwrap();
    assert_eq!(s.get_setting("k").await.unwrap().as_deref(), Some("c"));
    assert_eq!(s.config_version().await.unwrap(), 0);
    assert_eq!(s.bump_config_version().await.unwrap(), 1);
    assert_eq!(s.bump_config_version().await.unwrap(), 2);
    assert_eq!(s.config_version().await.unwrap(), 2);
    s.ping().await.unwrap();
}

async fn search_filters_and_pages(s: &dyn Store) {
    let m = merchant(s).await;
    let c = s
        .ensure_customer(m, "u", CustomerId(Uuid::now_v7()), t0())
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..3 {
        let mut p = payout(m, c, &format!("o-{i}"));
        p.created_at = t0() + Duration::seconds(i);
        s.create_payout(&p, &meta(&format!("f{i}"), None), &[])
            .await
            .unwrap();
        ids.push(p);
    }
    let mut q = ids[1].clone();
    q.apply(PayoutStatus::Pending, None, None, t0()).unwrap();
    s.save_payout(PayoutWrite {
        payout: &q,
        expected_version: 1,
        events: vec![],
        idem: None,
        pan: PanUpdate::Keep,
        release_lease_of: None,
    })
    .await
    .unwrap();
    let f = omno_store::PayoutFilter {
        merchant_id: Some(m),
        ..Default::default()
    };
    let all = s.search_payouts(&f, None, 10).await.unwrap();
    let order: Vec<_> = all.iter().map(|p| p.order_id.as_str()).collect();
    assert_eq!(order, ["o-2", "o-1", "o-0"], "newest first");
    let page = s
        .search_payouts(&f, Some((all[0].created_at, all[0].id)), 1)
        .await
        .unwrap();
    assert_eq!(page[0].order_id, "o-1");
    let pending = s
        .search_payouts(
            &omno_store::PayoutFilter {
                statuses: vec!["PENDING".into(), "PROCESSED".into()],
                ..f.clone()
            },
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].order_id, "o-1");
    assert_eq!(
        s.search_payouts(
            &omno_store::PayoutFilter {
                order_id: Some("o-0".into()),
                external_user_id: Some("u".into()),
                ..f
            },
            None,
            10
        )
        .await
        .unwrap()
        .len(),
        1
    );
}

fn payin(p: &Payout) -> omno_domain::payin::Payin {
    use omno_domain::payin::{Payin, PayinHistoryEntry, PayinStatus};
    Payin {
        id: omno_domain::ids::PayinId(Uuid::now_v7()),
        merchant_id: p.merchant_id,
        customer_id: p.customer_id,
        order_id: p.order_id.clone(),
        amount: p.amount,
        initial: p.initial,
        status: PayinStatus::Created,
        status_reason: None,
        kyc_verified: false,
        previous_transaction_count: 0,
        customer: p.customer.clone(),
        return_urls: None,
        webhook_url: None,
        router_id: None,
        routing_reason: None,
        predicted_psp_id: None,
        processor_psp_id: None,
        psp_transaction_id: None,
        card: None,
        payment_method: None,
        ip_address: None,
        user_agent: None,
        cashier_session_id: None,
        save_card: false,
        created_at: t0(),
        updated_at: t0(),
        expires_at: t0() + Duration::days(1),
        three_ds_deadline: None,
        dispatch: Dispatch::Idle,
        next_action_at: Some(t0() + Duration::days(1)),
        sync_attempts: 0,
        submitted_at: None,
        history: vec![PayinHistoryEntry {
            status: PayinStatus::Created,
            at: t0(),
            reason: None,
        }],
        attempts: vec![],
        refunds: vec![],
        routing_detail: None,
        fx_detail: None,
        version: 1,
    }
}

async fn customer(s: &dyn Store, m: MerchantId, ext: &str) -> CustomerId {
    s.ensure_customer(m, ext, CustomerId(Uuid::now_v7()), t0())
        .await
        .unwrap()
}

fn payin_write(p: &omno_domain::payin::Payin, expected: i64) -> omno_store::PayinWrite<'_> {
    omno_store::PayinWrite {
        payin: p,
        expected_version: expected,
        events: vec![],
        idem: None,
        pan: PanUpdate::Keep,
        save_card: None,
        release_lease_of: None,
    }
}

async fn payin_round_trip_cas_and_pan_lifecycle(s: &dyn Store) {
    use omno_domain::payin::PayinStatus;
    let m = merchant(s).await;
    let c = customer(s, m, "u").await;
    let p = payin(&payout(m, c, "in-1"));
    assert_eq!(
        s.create_payin(&p, &meta("a", None), &[]).await.unwrap(),
        CreateOutcome::Created
    );
    // The same orderId: replay or conflict; a payout may reuse it.
    let dup = payin(&payout(m, c, "in-1"));
    assert_eq!(
        s.create_payin(&dup, &meta("a", None), &[]).await.unwrap(),
        CreateOutcome::OrderReplay("{\"fp\":\"a\"}".into())
    );
    assert_eq!(
        s.create_payin(&dup, &meta("b", None), &[]).await.unwrap(),
        CreateOutcome::DuplicateOrderId
    );
    assert_eq!(
        s.create_payout(&payout(m, c, "in-1"), &meta("a", None), &[])
            .await
            .unwrap(),
        CreateOutcome::Created
    );
    let got = s.get_payin(Some(m), p.id).await.unwrap().unwrap();
    assert_eq!(got, p);
    assert!(
        s.get_payin(Some(MerchantId(Uuid::now_v7())), p.id)
            .await
            .unwrap()
            .is_none()
    );

    // Compare-and-set: one of two writers from version 1 wins.
    let mut a = got.clone();
    a.apply(PayinStatus::Pending, None, None, t0()).unwrap();
    let mut w = payin_write(&a, 1);
    w.pan = PanUpdate::Set(vec![9, 9, 9]);
    w.events = vec![NewEvent {
        kind: "PAYIN",
        event_type: "PAYIN_STATUS_CHANGED",
        transaction_id: p.id.hex(),
        ..event(&payout(m, c, "x"))
    }];
    assert_eq!(s.save_payin(w).await.unwrap(), SaveOutcome::Saved);
    let mut b = got.clone();
    b.apply(PayinStatus::Failed, None, None, t0()).unwrap();
    assert_eq!(
        s.save_payin(payin_write(&b, 1)).await.unwrap(),
        SaveOutcome::VersionConflict
    );
    assert_eq!(s.list_events(&p.id.hex()).await.unwrap().len(), 1);
    let now = s.get_payin(None, p.id).await.unwrap().unwrap();
    assert_eq!((now.status, now.version), (PayinStatus::Pending, 2));
    assert_eq!(s.payin_pan(p.id).await.unwrap(), Some(vec![9, 9, 9]));
    // A final status clears the held PAN whatever the write says.
    let mut done = now.clone();
    done.apply(PayinStatus::Success, None, None, t0()).unwrap();
    assert_eq!(
        s.save_payin(payin_write(&done, 2)).await.unwrap(),
        SaveOutcome::Saved
    );
    assert_eq!(s.payin_pan(p.id).await.unwrap(), None);
    let f = omno_store::PayoutFilter {
        merchant_id: Some(m),
        statuses: vec!["SUCCESS".into()],
        ..Default::default()
    };
    let found = s.search_payins(&f, None, 10).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, p.id);
}

async fn saved_cards_are_one_per_customer_and_hash(s: &dyn Store) {
    use omno_domain::ids::CardId;
    use omno_domain::payin::PayinStatus;
    let m = merchant(s).await;
    let c = customer(s, m, "u").await;
    let card = |id: CardId, customer: CustomerId| omno_store::SavedCardRecord {
        id,
        merchant_id: m,
        customer_id: customer,
        card_hash: "h1".into(),
        mask: "411111******1111".into(),
        brand: "VISA".into(),
        exp_month: 9,
        exp_year: 2039,
        pan_enc: vec![1, 2, 3],
        created_at: t0(),
    };
    let mut ids = vec![];
    for (i, proposed) in [CardId(Uuid::now_v7()), CardId(Uuid::now_v7())]
        .into_iter()
        .enumerate()
    {
        let mut p = payin(&payout(m, c, &format!("card-{i}")));
        s.create_payin(&p, &meta(&format!("c{i}"), None), &[])
            .await
            .unwrap();
        let before = p.clone();
        p.apply(PayinStatus::Pending, None, None, t0()).unwrap();
        p.apply(PayinStatus::Success, None, None, t0()).unwrap();
        let mut w = payin_write(&p, before.version);
        w.save_card = Some(card(proposed, c));
        ids.push((proposed, s.save_payin(w).await.unwrap()));
    }
    // The second proposal names a new id for a card that exists: refused as a conflict, so the
    // caller re-reads and reuses the existing id.
    assert_eq!(ids[0].1, SaveOutcome::Saved);
    assert_eq!(ids[1].1, SaveOutcome::VersionConflict);
    let found = s.find_saved_card(m, c, "h1").await.unwrap().unwrap();
    assert_eq!(found.id, ids[0].0);
    assert_eq!(found.pan_enc, vec![1, 2, 3]);
    assert_eq!(
        s.get_saved_card(m, found.id).await.unwrap(),
        Some(found.clone())
    );
    assert!(
        s.get_saved_card(MerchantId(Uuid::now_v7()), found.id)
            .await
            .unwrap()
            .is_none()
    );
    // Another customer of the merchant gets a card of their own.
    let other = customer(s, m, "v").await;
    assert!(s.find_saved_card(m, other, "h1").await.unwrap().is_none());
}

async fn due_payins_are_leased_to_one_worker(s: &dyn Store) {
    let m = merchant(s).await;
    let c = customer(s, m, "u").await;
    let mut p = payin(&payout(m, c, "due-1"));
    p.next_action_at = Some(t0());
    s.create_payin(&p, &meta("d", None), &[]).await.unwrap();
    let later = t0() + Duration::seconds(1);
    let lease = t0() + Duration::seconds(60);
    assert_eq!(
        s.claim_due_payins(later, "a", lease, 10).await.unwrap(),
        [p.id]
    );
    assert!(
        s.claim_due_payins(later, "b", lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    s.release_payin_lease(p.id, "a").await.unwrap();
    assert_eq!(
        s.claim_due_payins(later, "b", lease, 10).await.unwrap(),
        [p.id]
    );
    // An expired lease is taken over.
    assert_eq!(
        s.claim_due_payins(
            lease + Duration::seconds(1),
            "c",
            lease + Duration::seconds(90),
            10
        )
        .await
        .unwrap(),
        [p.id]
    );
}

fn session(m: MerchantId, c: CustomerId, balance: i64) -> omno_domain::cashier::CashierSession {
    let p = payout(m, c, "unused");
    omno_domain::cashier::CashierSession {
        id: Uuid::new_v4().hyphenated().to_string(),
        merchant_id: m,
        customer_id: c,
        customer: p.customer,
        return_urls: omno_domain::payout::ReturnUrls {
            success: "IFRAME_POST_MESSAGE".into(),
            failure: "IFRAME_POST_MESSAGE".into(),
        },
        currency: Currency::parse("EUR").unwrap(),
        amount: None,
        order_base: "cs".into(),
        kyc_verified: false,
        previous_transaction_count: 0,
        webhook_url: None,
        router_id: None,
        balance,
        balance_version: 1,
        deposit_seq: 0,
        withdraw_seq: 0,
        created_at: t0(),
        expires_at: t0() + Duration::minutes(30),
    }
}

async fn cashier_balance_and_numbered_transactions(s: &dyn Store) {
    use omno_store::{BalanceOutcome, CashierOutcome, CashierTx, CashierWrite};
    let m = merchant(s).await;
    let c = customer(s, m, "u").await;
    let sess = session(m, c, 1000);
    assert_eq!(
        s.create_cashier_session(&sess, None).await.unwrap(),
        CreateOutcome::Created
    );
    let got = s
        .get_cashier_session(Some(m), &sess.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, sess);
    assert!(
        s.get_cashier_session(Some(MerchantId(Uuid::now_v7())), &sess.id)
            .await
            .unwrap()
            .is_none()
    );
    // Balance calls bump the version; an unknown or expired session is reported.
    assert_eq!(
        s.set_cashier_balance(m, &sess.id, Some(700), t0(), None)
            .await
            .unwrap(),
        BalanceOutcome::Updated
    );
    assert_eq!(
        s.set_cashier_balance(m, &sess.id, None, t0(), None)
            .await
            .unwrap(),
        BalanceOutcome::Updated
    );
    let got = s
        .get_cashier_session(None, &sess.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((got.balance, got.balance_version), (700, 3));
    assert_eq!(
        s.set_cashier_balance(MerchantId(Uuid::now_v7()), &sess.id, Some(1), t0(), None)
            .await
            .unwrap(),
        BalanceOutcome::NotFound
    );
    assert_eq!(
        s.set_cashier_balance(m, &sess.id, Some(1), sess.expires_at, None)
            .await
            .unwrap(),
        BalanceOutcome::Expired
    );

    // A withdrawal: payout created, number and balance moved together.
    let mut w1 = payout(m, c, "cs-W1");
    w1.amount = Money::new(MinorUnits(600), Currency::parse("EUR").unwrap());
    let write = |tx, expected, seq| CashierWrite {
        session_id: &sess.id,
        expected_seq: expected,
        seq,
        tx,
        meta: meta("cashier", None),
        events: vec![],
        now: t0(),
    };
    assert_eq!(
        s.cashier_transaction(write(CashierTx::Withdraw(&w1, 600), 0, 1))
            .await
            .unwrap(),
        CashierOutcome::Created
    );
    let got = s
        .get_cashier_session(None, &sess.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (got.balance, got.balance_version, got.withdraw_seq),
        (100, 4, 1)
    );
    assert!(s.get_payout(Some(m), w1.id).await.unwrap().is_some());
    // Over the balance, a stale number, a taken orderId: nothing changes.
    let w2 = payout(m, c, "cs-W2");
    assert_eq!(
        s.cashier_transaction(write(CashierTx::Withdraw(&w2, 101), 1, 2))
            .await
            .unwrap(),
        CashierOutcome::InsufficientBalance
    );
    assert_eq!(
        s.cashier_transaction(write(CashierTx::Withdraw(&w2, 50), 0, 1))
            .await
            .unwrap(),
        CashierOutcome::Conflict
    );
    let taken = payout(m, c, "cs-W1");
    assert_eq!(
        s.cashier_transaction(write(CashierTx::Withdraw(&taken, 50), 1, 2))
            .await
            .unwrap(),
        CashierOutcome::Conflict
    );
    assert!(s.get_payout(Some(m), w2.id).await.unwrap().is_none());
    let got = s
        .get_cashier_session(None, &sess.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((got.balance, got.withdraw_seq), (100, 1));
    // A deposit moves only its number.
    let d1 = payin(&payout(m, c, "cs-D1"));
    assert_eq!(
        s.cashier_transaction(write(CashierTx::Deposit(&d1), 0, 1))
            .await
            .unwrap(),
        CashierOutcome::Created
    );
    let got = s
        .get_cashier_session(None, &sess.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (got.balance, got.balance_version, got.deposit_seq),
        (100, 4, 1)
    );
    // Expired: gone.
    let mut late = write(CashierTx::Deposit(&d1), 1, 2);
    late.now = sess.expires_at;
    assert_eq!(
        s.cashier_transaction(late).await.unwrap(),
        CashierOutcome::SessionGone
    );
}
