//! Routing throughput: a 50-rule router whose matching rule is the last one, 5 accounts.
//!
//! Run: `cargo bench -p omno-domain --bench routing -- --warm-up-time 1 --measurement-time 3`.
#![allow(clippy::unwrap_used, reason = "benchmark setup")]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use omno_domain::country::CountryCode;
use omno_domain::fx::{FxRate, FxTable, Rate};
use omno_domain::ids::{MerchantId, PspAccountId, RouterId};
use omno_domain::money::{Currency, MinorUnits, Money};
use omno_domain::psp::{Direction, PaymentMethod, PspAccount};
use omno_domain::router::{
    AmountCondition, Conditions, CountRange, RouteRequest, Router, RoutingContext, Rule, Target,
    route,
};
use time::OffsetDateTime;
use uuid::Uuid;

fn cur(c: &str) -> Currency {
    Currency::parse(c).unwrap()
}

fn account(n: u128, currencies: &[&str]) -> PspAccount {
    PspAccount {
        id: PspAccountId(Uuid::from_u128(n)),
        merchant_id: MerchantId(Uuid::from_u128(1)),
        name: format!("sim-{n}"),
        connector: "simulator".into(),
        enabled: true,
        currencies: currencies.iter().map(|c| cur(c)).collect(),
        countries: vec![],
        methods: PaymentMethod::ALL.to_vec(),
        directions: Direction::ALL.to_vec(),
        kyc_required: false,
        latency_ms: 0,
        force_decline: None,
        decline_rate_bp: 0,
    }
}

fn target(n: u128, weight: u32) -> Target {
    Target {
        psp_account_id: PspAccountId(Uuid::from_u128(n)),
        weight,
    }
}

/// 49 rules that each fail on a different condition (a third of them only at the FX-converted
/// amount check, the most expensive one), then a weighted catch-all.
fn router(now: OffsetDateTime) -> Router {
    let mut rules = Vec::new();
    for i in 0..49u32 {
        let conditions = match i % 3 {
            0 => Conditions {
                direction: Some(Direction::Payin),
                currencies: Some(vec![cur("USD"), cur("GBP"), cur("EUR")]),
                country_codes: Some(vec![CountryCode::parse("FR").unwrap()]),
                ..Conditions::default()
            },
            1 => Conditions {
                methods: Some(vec![PaymentMethod::Card, PaymentMethod::EWallet]),
                previous_transaction_count: Some(CountRange {
                    min: Some(10),
                    max: None,
                }),
                ..Conditions::default()
            },
            _ => Conditions {
                kyc_verified: Some(true),
                amount: Some(AmountCondition {
                    currency: cur("USD"),
                    min: Some(MinorUnits(1_000_000)),
                    max: None,
                }),
                ..Conditions::default()
            },
        };
        rules.push(Rule {
            name: format!("rule {i}"),
            conditions,
            targets: vec![target(1, 0), target(2, 0)],
        });
    }
    rules.push(Rule {
        name: "EUR split".into(),
        conditions: Conditions {
            direction: Some(Direction::Payin),
            currencies: Some(vec![cur("EUR")]),
            ..Conditions::default()
        },
        targets: vec![target(3, 50), target(4, 30), target(5, 20)],
    });
    Router {
        id: RouterId(Uuid::from_u128(9)),
        merchant_id: MerchantId(Uuid::from_u128(1)),
        name: "bench".into(),
        rules,
        fallback_targets: vec![target(1, 0)],
        created_at: now,
        updated_at: now,
    }
}

fn bench_routing(c: &mut Criterion) {
    let now = OffsetDateTime::UNIX_EPOCH;
    let router = router(now);
    let accounts = vec![
        account(1, &["USD"]),
        account(2, &["GBP"]),
        account(3, &["EUR", "USD"]),
        // Executes in USD through FX: the eligibility filter converts.
        account(4, &["USD"]),
        account(5, &["EUR"]),
    ];
    let fx = FxTable {
        rates: vec![FxRate {
            base: cur("EUR"),
            quote: cur("USD"),
            rate: Rate::parse("1.0835").unwrap(),
            markup_bps: 50,
            source: "manual".into(),
            updated_at: now,
        }],
    };
    let ctx = RoutingContext {
        router: Some(&router),
        accounts: &accounts,
        fx: &fx,
        now,
        max_rate_age_secs: 0,
    };
    let req = RouteRequest {
        direction: Direction::Payin,
        amount: Money::new(MinorUnits(12_550), cur("EUR")),
        country: CountryCode::parse("DE").unwrap(),
        kyc_verified: true,
        previous_transaction_count: 3,
        method: Some(PaymentMethod::Card),
    };
    let sanity = route(&ctx, &req, 0);
    assert_eq!(sanity.rule_index, Some(49), "{}", sanity.reason);
    assert_eq!(sanity.ordered.len(), 3);

    let mut group = c.benchmark_group("routing");
    group.throughput(Throughput::Elements(1));
    let mut draw = 0x9e37_79b9_7f4a_7c15u64;
    group.bench_function("50 rules, last matches, 5 accounts", |b| {
        b.iter(|| {
            draw = draw.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            black_box(route(black_box(&ctx), black_box(&req), draw))
        });
    });
    group.finish();
}

criterion_group!(benches, bench_routing);
criterion_main!(benches);
