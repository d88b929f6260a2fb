//! Cashier sessions on SQLite (the `impl Store` methods delegate here).

use omno_domain::cashier::{CashierKind, CashierSession};
use omno_domain::ids::MerchantId;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;

use super::payin::insert_payin;
use super::{SqliteStore, de, idem_insert, idem_lookup, insert_events, insert_payout, json};
use crate::{
    BalanceOutcome, CashierOutcome, CashierTx, CashierWrite, CreateOutcome, IdemCheck, IdemWrite,
    StoreResult, to_ms,
};

fn session_from_row(r: &SqliteRow) -> StoreResult<CashierSession> {
    let mut s: CashierSession = de(r.try_get("doc")?, "cashier doc")?;
    s.balance = r.try_get("balance")?;
    s.balance_version = r.try_get("balance_version")?;
    s.deposit_seq = r.try_get("deposit_seq")?;
    s.withdraw_seq = r.try_get("withdraw_seq")?;
    Ok(s)
}

impl SqliteStore {
    pub(super) async fn cashier_create(
        &self,
        session: &CashierSession,
        idem: Option<IdemWrite>,
    ) -> StoreResult<CreateOutcome> {
        let s = session.clone();
        self.write(move |c| {
            Box::pin(async move {
                if let Some(idem) = &idem {
                    match idem_lookup(
                        c,
                        &idem.scope,
                        &idem.key,
                        &idem.fingerprint,
                        to_ms(idem.not_before),
                    )
                    .await?
                    {
                        IdemCheck::Fresh => {}
                        IdemCheck::Replay(r) => return Ok((true, CreateOutcome::IdemReplay(r))),
                        IdemCheck::Mismatch => return Ok((true, CreateOutcome::IdemMismatch)),
                    }
                }
                sqlx::query(
                    "insert into cashier_session (session_id, merchant_id, doc, balance, \
                     balance_version, deposit_seq, withdraw_seq, expires_at, created_at) \
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&s.id)
                .bind(s.merchant_id.hex())
                .bind(json(&s))
                .bind(s.balance)
                .bind(s.balance_version)
                .bind(s.deposit_seq)
                .bind(s.withdraw_seq)
                .bind(to_ms(s.expires_at))
                .bind(to_ms(s.created_at))
                .execute(&mut *c)
                .await?;
                if let Some(idem) = &idem {
                    idem_insert(c, idem).await?;
                }
                Ok((true, CreateOutcome::Created))
            })
        })
        .await
    }

    pub(super) async fn cashier_get(
        &self,
        merchant: Option<MerchantId>,
        id: &str,
    ) -> StoreResult<Option<CashierSession>> {
        sqlx::query(
            "select * from cashier_session where session_id = $1 \
             and ($2 is null or merchant_id = $2)",
        )
        .bind(id)
        .bind(merchant.map(|m| m.hex()))
        .fetch_optional(&self.reader)
        .await?
        .map(|r| session_from_row(&r))
        .transpose()
    }

    pub(super) async fn cashier_balance(
        &self,
        merchant: MerchantId,
        id: &str,
        balance: Option<i64>,
        now: OffsetDateTime,
        idem: Option<IdemWrite>,
    ) -> StoreResult<BalanceOutcome> {
        let id = id.to_string();
        self.write(move |c| {
            Box::pin(async move {
                if let Some(idem) = &idem {
                    match idem_lookup(
                        c,
                        &idem.scope,
                        &idem.key,
                        &idem.fingerprint,
                        to_ms(idem.not_before),
                    )
                    .await?
                    {
                        IdemCheck::Fresh => {}
                        IdemCheck::Replay(_) | IdemCheck::Mismatch => {
                            return Ok((false, BalanceOutcome::IdemTaken));
                        }
                    }
                }
                let expires: Option<i64> = sqlx::query_scalar(
                    "select expires_at from cashier_session where session_id = $1 \
                     and merchant_id = $2",
                )
                .bind(&id)
                .bind(merchant.hex())
                .fetch_optional(&mut *c)
                .await?;
                match expires {
                    None => return Ok((false, BalanceOutcome::NotFound)),
                    Some(e) if e <= to_ms(now) => return Ok((false, BalanceOutcome::Expired)),
                    Some(_) => {}
                }
                sqlx::query(
                    "update cashier_session set balance = coalesce($2, balance), \
                     balance_version = balance_version + 1 where session_id = $1",
                )
                .bind(&id)
                .bind(balance)
                .execute(&mut *c)
                .await?;
                if let Some(idem) = &idem {
                    idem_insert(c, idem).await?;
                }
                Ok((true, BalanceOutcome::Updated))
            })
        })
        .await
    }

    pub(super) async fn cashier_tx(&self, w: CashierWrite<'_>) -> StoreResult<CashierOutcome> {
        let kind = w.kind();
        let (session_id, expected, seq, meta, events, now) = (
            w.session_id.to_string(),
            w.expected_seq,
            w.seq,
            w.meta,
            w.events,
            w.now,
        );
        let (payin, payout, amount) = match w.tx {
            CashierTx::Deposit(p) => (Some(p.clone()), None, 0),
            CashierTx::Withdraw(p, amount) => (None, Some(p.clone()), amount),
        };
        self.write(move |c| {
            Box::pin(async move {
                let row = sqlx::query(
                    "select balance, deposit_seq, withdraw_seq, expires_at from cashier_session \
                     where session_id = $1",
                )
                .bind(&session_id)
                .fetch_optional(&mut *c)
                .await?;
                let Some(row) = row else {
                    return Ok((false, CashierOutcome::SessionGone));
                };
                if row.try_get::<i64, _>("expires_at")? <= to_ms(now) {
                    return Ok((false, CashierOutcome::SessionGone));
                }
                let current: i64 = match kind {
                    CashierKind::Deposit => row.try_get("deposit_seq")?,
                    CashierKind::Withdraw => row.try_get("withdraw_seq")?,
                };
                if current != expected {
                    return Ok((false, CashierOutcome::Conflict));
                }
                if amount > row.try_get::<i64, _>("balance")? {
                    return Ok((false, CashierOutcome::InsufficientBalance));
                }
                let inserted = match (&payin, &payout) {
                    (Some(p), _) => insert_payin(c, p, &meta).await?,
                    (None, Some(p)) => insert_payout(c, p, &meta).await?,
                    (None, None) => 0,
                };
                if inserted == 0 {
                    return Ok((false, CashierOutcome::Conflict));
                }
                let q = match kind {
                    CashierKind::Deposit => sqlx::query(
                        "update cashier_session set deposit_seq = $2 where session_id = $1",
                    )
                    .bind(&session_id)
                    .bind(seq),
                    CashierKind::Withdraw => sqlx::query(
                        "update cashier_session set withdraw_seq = $2, balance = balance - $3, \
                         balance_version = balance_version + 1 where session_id = $1",
                    )
                    .bind(&session_id)
                    .bind(seq)
                    .bind(amount),
                };
                q.execute(&mut *c).await?;
                insert_events(c, &events).await?;
                Ok((true, CashierOutcome::Created))
            })
        })
        .await
    }
}
