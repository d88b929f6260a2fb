//! Storage contract tests: behaviour every `Store` implementation must have. Runs on SQLite now;
//! the PostgreSQL implementation will run the same functions.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use omno_domain::country::CountryCode;
use omno_domain::customer::{Billing, Customer};
use omno_domain::ids::{CustomerId, EventId, MerchantId, PayoutId};
use omno_domain::money::{Currency, MinorUnits, Money};
use omno_domain::payout::{Dispatch, HistoryEntry, Metadata, Payout, PayoutStatus};
use omno_store::sqlite::SqliteStore;
use omno_store::{
    CreateMeta, CreateOutcome, IdemCheck, IdemWrite, MerchantRecord, NewEvent, PanUpdate,
    PayoutWrite, SaveOutcome, Store, StoredResponse,
};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

async fn sqlite() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let s = SqliteStore::open(&url, 2).await.unwrap();
    s.migrate().await.unwrap();
    (s, dir)
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

#[tokio::test]
async fn payout_round_trips_and_order_ids_are_unique() {
    let (s, _d) = sqlite().await;
    let m = merchant(&s).await;
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

#[tokio::test]
async fn idempotency_keys_replay_mismatch_and_expire() {
    let (s, _d) = sqlite().await;
    let m = merchant(&s).await;
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

#[tokio::test]
async fn save_is_a_compare_and_set_on_version() {
    let (s, _d) = sqlite().await;
    let m = merchant(&s).await;
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

#[tokio::test]
async fn due_payouts_are_leased_to_one_worker() {
    let (s, _d) = sqlite().await;
    let m = merchant(&s).await;
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
