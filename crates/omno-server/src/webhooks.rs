//! Webhooks (API.md §12): targets of an event, signing, and the delivery worker.
//!
//! Events and their deliveries are written by the flows in the transaction of the status change
//! (the outbox). This module delivers them: each due delivery is claimed with a lease, signed
//! afresh per attempt (`t=…,v1=…`), sent to an address that passed the SSRF rule, and its attempt
//! logged. Failures are retried with capped exponential back-off and jitter until the window of
//! 4320 × B closes, then the delivery is `DEAD`. Per (transaction, target) order is enforced by
//! the claim query: event k+1 is not attempted while event k is still pending.

use std::net::SocketAddr;
use std::time::{Duration as StdDuration, Instant};

use omno_domain::ids::{EventId, MerchantId};
use omno_domain::validate;
use omno_store::{AttemptRecord, DeliveryJob, DeliveryTarget, NewEvent};
use rand::Rng;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::clock::trunc_ms;
use crate::error::ApiError;
use crate::flows::merchant::webhook_secret;
use crate::reply::to_json;
use crate::security::hmac_hex;
use crate::state::AppState;
use crate::wire::TransactionView;

/// The transaction a status event announces: what the event row and its targets need.
pub struct Announced<'a> {
    /// `PAYIN` or `PAYOUT`.
    pub kind: &'static str,
    /// `PAYIN_STATUS_CHANGED` or `PAYOUT_STATUS_CHANGED`.
    pub event_type: &'static str,
    /// Owner.
    pub merchant: MerchantId,
    /// The status announced.
    pub status: &'a str,
    /// The transaction's own `webhook.url`.
    pub webhook_url: Option<&'a str>,
}

/// The outbox event announcing `t`'s current status, with its delivery targets; `None` when
/// nothing is subscribed to it: such an event could never be delivered or seen, so it is not
/// written (docs/decisions.md). `view` renders the body (the transaction object) only when needed.
pub async fn status_event(
    state: &AppState,
    t: Announced<'_>,
    now: OffsetDateTime,
    view: impl FnOnce() -> TransactionView,
) -> Result<Option<NewEvent>, ApiError> {
    let targets = targets(state, t.merchant, t.event_type, t.status, t.webhook_url).await?;
    if targets.is_empty() {
        return Ok(None);
    }
    let view = view();
    Ok(Some(NewEvent {
        id: EventId(Uuid::now_v7()),
        merchant_id: t.merchant,
        kind: t.kind,
        transaction_id: view.id.clone(),
        event_type: t.event_type,
        status: t.status.to_string(),
        body: to_json(&view)?,
        created_at: now,
        targets,
    }))
}

/// The targets of an event (§12.1): every enabled endpoint subscribed to it, plus the
/// transaction's own URL unless an endpoint already has that URL.
async fn targets(
    state: &AppState,
    merchant: MerchantId,
    event_type: &str,
    status: &str,
    transaction_url: Option<&str>,
) -> Result<Vec<DeliveryTarget>, ApiError> {
    let mut out: Vec<DeliveryTarget> = Vec::new();
    let cfg = state.config.get(&*state.store, merchant).await?;
    for e in cfg.endpoints.iter() {
        let subscribed = e.enabled
            && e.event_types.iter().any(|t| t == event_type)
            && (e.statuses.is_empty() || e.statuses.iter().any(|s| s == status));
        if subscribed && !out.iter().any(|t| t.url == e.url) {
            out.push(DeliveryTarget {
                endpoint_id: Some(e.id),
                url: e.url.clone(),
            });
        }
    }
    if let Some(url) = transaction_url
        && !out.iter().any(|t| t.url == url)
    {
        out.push(DeliveryTarget {
            endpoint_id: None,
            url: url.to_string(),
        });
    }
    Ok(out)
}

/// `X-Omno-Signature` value: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let v1 = hmac_hex(secret.as_bytes(), format!("{t}.{body}").as_bytes());
    format!("t={t},v1={v1}")
}

/// Nominal delay before retry `n` (n ≥ 1): min(B × 2^(n−1), 360 × B).
pub fn retry_delay(n: i64, base_ms: u64) -> StdDuration {
    let base = base_ms.max(1);
    let factor = 1u64 << (n.clamp(1, 20) - 1) as u32;
    StdDuration::from_millis(base.saturating_mul(factor).min(base.saturating_mul(360)))
}

/// Runs one pass of due deliveries; returns how many were claimed.
pub async fn run_due(state: &AppState) -> Result<usize, ApiError> {
    let now = trunc_ms(state.clock.now());
    let lease = now + Duration::milliseconds(state.settings.webhooks.timeout_ms as i64 + 30_000);
    let limit = i64::from(state.settings.webhooks.max_concurrency.max(1));
    let jobs = state
        .store
        .claim_due_deliveries(now, &state.node_id, lease, limit)
        .await?;
    let n = jobs.len();
    let mut set = tokio::task::JoinSet::new();
    for job in jobs {
        let st = state.clone();
        set.spawn(async move {
            let id = job.delivery.id;
            if let Err(e) = deliver(&st, job).await {
                tracing::error!(delivery_id = %id, error = ?e, "webhook delivery failed to record");
            }
        });
    }
    while set.join_next().await.is_some() {}
    Ok(n)
}

struct Outcome {
    http_status: Option<i64>,
    error: Option<String>,
    snippet: Option<String>,
    delivered: bool,
    fatal: bool,
}

fn failed(error: &str, fatal: bool) -> Outcome {
    Outcome {
        http_status: None,
        error: Some(error.to_string()),
        snippet: None,
        delivered: false,
        fatal,
    }
}

/// Resolves the target and checks every address (§12.5); returns the address to connect to.
async fn checked_address(state: &AppState, url: &reqwest::Url) -> Result<SocketAddr, Outcome> {
    let host = url
        .host_str()
        .ok_or_else(|| failed("invalid_url", true))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|_| failed("dns_error", false))?
        .collect();
    let w = &state.settings.webhooks;
    if addrs.is_empty()
        || addrs
            .iter()
            .any(|a| validate::ip_refused(a.ip(), w.allow_loopback, w.allow_private))
    {
        return Err(failed("ssrf_blocked", true));
    }
    Ok(addrs[0])
}

async fn attempt(
    state: &AppState,
    job: &DeliveryJob,
    secret: &str,
    headers: &std::collections::BTreeMap<String, String>,
    attempt_no: i64,
) -> Outcome {
    let Ok(url) = reqwest::Url::parse(&job.delivery.url) else {
        return failed("invalid_url", true);
    };
    if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() {
        return failed("ssrf_blocked", true);
    }
    let addr = match checked_address(state, &url).await {
        Ok(a) => a,
        Err(o) => return o,
    };
    let host = url.host_str().unwrap_or_default().to_string();
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(StdDuration::from_millis(state.settings.webhooks.timeout_ms))
        .resolve(&host, addr)
        .no_proxy()
        .build()
    {
        Ok(c) => c,
        Err(_) => return failed("client_error", false),
    };
    let t = state.clock.now().unix_timestamp();
    let mut req = client
        .post(url)
        .header("Content-Type", "application/json")
        .header("User-Agent", "omno-webhooks/1")
        .header("X-Omno-Event-Id", job.delivery.event_id.hex())
        .header("X-Omno-Event-Type", &job.delivery.event_type)
        .header("X-Omno-Delivery-Attempt", attempt_no.to_string())
        .header("X-Omno-Signature", signature(secret, t, &job.body));
    for (k, v) in headers {
        req = req.header(k, v);
    }
    match req.body(job.body.clone()).send().await {
        Ok(resp) => {
            let status = resp.status();
            let bytes = resp.bytes().await.unwrap_or_default();
            let cut = &bytes[..bytes.len().min(1024)];
            Outcome {
                http_status: Some(i64::from(status.as_u16())),
                error: None,
                snippet: Some(String::from_utf8_lossy(cut).into_owned()),
                delivered: status.is_success(),
                fatal: false,
            }
        }
        Err(e) if e.is_timeout() => failed("timeout", false),
        Err(e) if e.is_connect() => failed("connection_error", false),
        Err(_) => failed("request_error", false),
    }
}

async fn deliver(state: &AppState, job: DeliveryJob) -> Result<(), ApiError> {
    let d = &job.delivery;
    let attempt_no = d.attempt_count + 1;
    let started_at = trunc_ms(state.clock.now());
    let started = Instant::now();
    let secret_and_headers = match d.endpoint_id {
        Some(eid) => match state.store.get_endpoint(d.merchant_id, eid).await? {
            Some(e) => state
                .keys
                .open(&e.secret_enc)
                .and_then(|b| String::from_utf8(b).ok())
                .map(|s| (s, e.headers)),
            None => None,
        },
        None => match state.store.get_merchant(d.merchant_id).await? {
            Some(m) => webhook_secret(&state.keys, &m)
                .ok()
                .map(|s| (s, Default::default())),
            None => None,
        },
    };
    let outcome = match &secret_and_headers {
        Some((secret, headers)) => attempt(state, &job, secret, headers, attempt_no).await,
        None => failed("target_removed", true),
    };
    let latency_ms = started.elapsed().as_millis() as i64;
    let now = trunc_ms(state.clock.now());
    let (status, next) = if outcome.delivered {
        ("DELIVERED", None)
    } else if outcome.fatal {
        ("DEAD", None)
    } else {
        let w = &state.settings.webhooks;
        let n = attempt_no - d.retry_from;
        let nominal = retry_delay(n, w.retry_base_ms).as_millis() as f64;
        let j = f64::from(w.jitter_percent.min(100)) / 100.0;
        let factor = if j > 0.0 {
            rand::thread_rng().gen_range(1.0 - j..=1.0 + j)
        } else {
            1.0
        };
        let next = now + Duration::milliseconds((nominal * factor) as i64);
        let window_end =
            d.window_start + Duration::milliseconds((w.retry_base_ms.max(1) * 4320) as i64);
        if next > window_end {
            ("DEAD", None)
        } else {
            ("PENDING", Some(next))
        }
    };
    crate::telemetry::webhook_delivery(match status {
        "DELIVERED" => "delivered",
        "DEAD" => "dead",
        _ => "retry",
    });
    tracing::info!(
        delivery_id = %d.id,
        event_id = %d.event_id,
        attempt = attempt_no,
        http_status = ?outcome.http_status,
        error = ?outcome.error,
        status,
        "webhook attempt"
    );
    let record = AttemptRecord {
        attempt: attempt_no,
        at: started_at,
        http_status: outcome.http_status,
        latency_ms,
        error: outcome.error,
        response_snippet: outcome.snippet,
    };
    state
        .store
        .finish_attempt(d.id, &record, status, next)
        .await?;
    if status != "PENDING" {
        // The next event of this (transaction, target) may now go.
        state.committed_deliveries(false, true);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_contract_example() {
        let body = r#"{"id":"019cebabac0c784783a8a7235f0e5af5","status":"PROCESSED","amount":150.25,"currency":"EUR"}"#;
        assert_eq!(
            signature(
                "whsec_9fK2mQ7xLp4Rt8Vz1Bn6Hc3Jd5Ws0Ye7",
                1_773_480_500,
                body
            ),
            "t=1773480500,v1=1659c09b555fc9112d01be762b2af8b51499d671f22b25bcf7eec616df39f4f6"
        );
    }

    #[test]
    fn nominal_schedule_has_twenty_attempts_in_the_window() {
        for base in [100u64, 60_000] {
            let window = base * 4320;
            let mut t = 0u64;
            let mut attempts = 1;
            let mut n = 1;
            loop {
                let next = t + retry_delay(n, base).as_millis() as u64;
                if next > window {
                    break;
                }
                t = next;
                attempts += 1;
                n += 1;
            }
            assert_eq!(attempts, 20, "base {base}");
        }
        assert_eq!(retry_delay(1, 60_000), StdDuration::from_secs(60));
        assert_eq!(retry_delay(3, 60_000), StdDuration::from_secs(240));
        assert_eq!(retry_delay(15, 60_000), StdDuration::from_secs(6 * 3600));
    }
}
