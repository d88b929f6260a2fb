//! Cashier sessions on SQLite (the `impl Store` methods delegate here).

use omno_domain::cashier::{CashierKind, CashierSession};
use omno_domain::ids::MerchantId;
use rusqlite::{Row, params};
use time::OffsetDateTime;

use super::engine::{RowExt, exec, opt};
use super::payin::insert_payin;
use super::{
    PayoutBinds, SqliteStore, de, idem_insert, idem_lookup, insert_events, insert_payout, json,
};
use crate::{
    BalanceOutcome, CashierOutcome, CashierTx, CashierWrite, CreateOutcome, IdemCheck, IdemWrite,
    StoreResult, to_ms,
};

fn session_from_row(r: &Row<'_>) -> StoreResult<CashierSession> {
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
            if let Some(idem) = &idem {
                match idem_lookup(
                    c,
                    &idem.scope,
                    &idem.key,
                    &idem.fingerprint,
                    to_ms(idem.not_before),
                )? {
                    IdemCheck::Fresh => {}
                    IdemCheck::Replay(r) => return Ok((true, CreateOutcome::IdemReplay(r))),
                    IdemCheck::Mismatch => return Ok((true, CreateOutcome::IdemMismatch)),
                }
            }
            exec(
                c,
                "insert into cashier_session (session_id, merchant_id, doc, balance, \
                     balance_version, deposit_seq, withdraw_seq, expires_at, created_at) \
                     values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    &s.id,
                    s.merchant_id.hex(),
                    json(&s),
                    s.balance,
                    s.balance_version,
                    s.deposit_seq,
                    s.withdraw_seq,
                    to_ms(s.expires_at),
                    to_ms(s.created_at)
                ],
            )?;
            if let Some(idem) = &idem {
                idem_insert(c, idem)?;
            }
            Ok((true, CreateOutcome::Created))
        })
        .await
    }

    pub(super) async fn cashier_get(
        &self,
        merchant: Option<MerchantId>,
        id: &str,
    ) -> StoreResult<Option<CashierSession>> {
        self.read(|c| {
            opt(
                c,
                "select * from cashier_session where session_id = ?1 \
             and (?2 is null or merchant_id = ?2)",
                params![id, merchant.map(|m| m.hex())],
                session_from_row,
            )
        })
        .await
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
            if let Some(idem) = &idem {
                match idem_lookup(
                    c,
                    &idem.scope,
                    &idem.key,
                    &idem.fingerprint,
                    to_ms(idem.not_before),
                )? {
                    IdemCheck::Fresh => {}
                    IdemCheck::Replay(_) | IdemCheck::Mismatch => {
                        return Ok((false, BalanceOutcome::IdemTaken));
                    }
                }
            }
            let expires: Option<i64> = opt(
                c,
                "select expires_at from cashier_session where session_id = ?1 \
                     and merchant_id = ?2",
                params![&id, merchant.hex()],
                |r| r.try_get(0),
            )?;
            match expires {
                None => return Ok((false, BalanceOutcome::NotFound)),
                Some(e) if e <= to_ms(now) => return Ok((false, BalanceOutcome::Expired)),
                Some(_) => {}
            }
            exec(
                c,
                "update cashier_session set balance = coalesce(?2, balance), \
                     balance_version = balance_version + 1 where session_id = ?1",
                params![&id, balance],
            )?;
            if let Some(idem) = &idem {
                idem_insert(c, idem)?;
            }
            Ok((true, BalanceOutcome::Updated))
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
            let row = opt(
                c,
                "select balance, deposit_seq, withdraw_seq, expires_at from cashier_session \
                     where session_id = ?1",
                params![&session_id],
                |r| {
                    Ok((
                        r.try_get::<i64, _>(0)?,
                        r.try_get::<i64, _>(1)?,
                        r.try_get::<i64, _>(2)?,
                        r.try_get::<i64, _>(3)?,
                    ))
                },
            )?;
            let Some((balance, deposit_seq, withdraw_seq, expires_at)) = row else {
                return Ok((false, CashierOutcome::SessionGone));
            };
            if expires_at <= to_ms(now) {
                return Ok((false, CashierOutcome::SessionGone));
            }
            let current: i64 = match kind {
                CashierKind::Deposit => deposit_seq,
                CashierKind::Withdraw => withdraw_seq,
            };
            if current != expected {
                return Ok((false, CashierOutcome::Conflict));
            }
            if amount > balance {
                return Ok((false, CashierOutcome::InsufficientBalance));
            }
            let inserted = match (&payin, &payout) {
                (Some(p), _) => insert_payin(c, p, &meta)?,
                (None, Some(p)) => insert_payout(c, &PayoutBinds::of(p), &meta)?,
                (None, None) => 0,
            };
            if inserted == 0 {
                return Ok((false, CashierOutcome::Conflict));
            }
            match kind {
                CashierKind::Deposit => exec(
                    c,
                    "update cashier_session set deposit_seq = ?2 where session_id = ?1",
                    params![&session_id, seq],
                )?,
                CashierKind::Withdraw => exec(
                    c,
                    "update cashier_session set withdraw_seq = ?2, balance = balance - ?3, \
                         balance_version = balance_version + 1 where session_id = ?1",
                    params![&session_id, seq, amount],
                )?,
            };
            insert_events(c, &events)?;
            Ok((true, CashierOutcome::Created))
        })
        .await
    }
}
