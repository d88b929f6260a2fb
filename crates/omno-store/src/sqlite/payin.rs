//! Payins and saved cards on SQLite (the `impl Store` methods delegate here).

use omno_domain::ids::{CardId, CustomerId, MerchantId, PayinId};
use omno_domain::payin::Payin;
use rusqlite::{Connection, Row, params};
use time::OffsetDateTime;

use super::engine::{RowExt, all, exec, one, opt};
use super::{SqliteStore, de, hex_id, idem_insert, idem_lookup, insert_events, json, taken_order};
use crate::{
    CreateMeta, CreateOutcome, IdemCheck, NewEvent, PanUpdate, PayinWrite, PayoutFilter,
    SaveOutcome, SavedCardRecord, StoreResult, from_ms, to_ms,
};

fn payin_from_row(r: &Row<'_>) -> StoreResult<Payin> {
    let mut p: Payin = de(r.try_get("doc")?, "payin doc")?;
    p.version = r.try_get("version")?;
    Ok(p)
}

fn card_from_row(r: &Row<'_>) -> StoreResult<SavedCardRecord> {
    Ok(SavedCardRecord {
        id: hex_id(r.try_get("card_id")?, CardId::parse, "card_id")?,
        merchant_id: hex_id(r.try_get("merchant_id")?, MerchantId::parse, "merchant_id")?,
        customer_id: hex_id(r.try_get("customer_id")?, CustomerId::parse, "customer_id")?,
        card_hash: r.try_get("card_hash")?,
        mask: r.try_get("mask")?,
        brand: r.try_get("brand")?,
        exp_month: u8::try_from(r.try_get::<i64, _>("exp_month")?).unwrap_or(0),
        exp_year: u16::try_from(r.try_get::<i64, _>("exp_year")?).unwrap_or(0),
        pan_enc: r.try_get("pan_enc")?,
        created_at: from_ms(r.try_get("created_at")?),
    })
}

/// Inserts a payin unless its (merchant, orderId) is taken; returns the rows inserted (0 or 1).
pub(super) fn insert_payin(c: &Connection, p: &Payin, meta: &CreateMeta) -> StoreResult<u64> {
    Ok(exec(
        c,
        "insert into payin (payin_id, merchant_id, customer_id, order_id, status, \
         amount, currency, processor_psp_id, next_action_at, request_fingerprint, \
         create_response, doc, version, created_at, updated_at) values (?1, ?2, ?3, \
         ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) \
         on conflict (merchant_id, order_id) do nothing",
        params![
            p.id.hex(),
            p.merchant_id.hex(),
            p.customer_id.hex(),
            &p.order_id,
            p.status.as_str(),
            p.amount.amount.0,
            p.amount.currency.code(),
            p.processor_psp_id.map(|i| i.hex()),
            p.next_action_at.map(to_ms),
            &meta.order_fingerprint,
            &meta.response,
            json(p),
            p.version,
            to_ms(p.created_at),
            to_ms(p.updated_at)
        ],
    )?
    .rows_affected())
}

/// Inserts the card or finds the existing one of (merchant, customer, hash); `false` when the
/// existing card has another id than the one the caller put on the payin.
fn upsert_card(c: &Connection, card: &SavedCardRecord) -> StoreResult<bool> {
    exec(
        c,
        "insert into saved_card (card_id, merchant_id, customer_id, card_hash, mask, brand, \
         exp_month, exp_year, pan_enc, created_at) values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
         on conflict (merchant_id, customer_id, card_hash) do update set \
         exp_month = excluded.exp_month, exp_year = excluded.exp_year, pan_enc = excluded.pan_enc",
        params![
            card.id.hex(),
            card.merchant_id.hex(),
            card.customer_id.hex(),
            &card.card_hash,
            &card.mask,
            &card.brand,
            i64::from(card.exp_month),
            i64::from(card.exp_year),
            &card.pan_enc,
            to_ms(card.created_at)
        ],
    )?;
    let id: String = one(
        c,
        "select card_id from saved_card where merchant_id = ?1 and customer_id = ?2 \
         and card_hash = ?3",
        params![
            card.merchant_id.hex(),
            card.customer_id.hex(),
            &card.card_hash
        ],
        |r| r.try_get(0),
    )?;
    Ok(id == card.id.hex())
}

impl SqliteStore {
    pub(super) async fn payin_create(
        &self,
        payin: &Payin,
        meta: &CreateMeta,
        events: &[NewEvent],
    ) -> StoreResult<CreateOutcome> {
        let (p, meta, events) = (payin.clone(), meta.clone(), events.to_vec());
        // A hot insert, like `create_payout`: shares a savepoint with its neighbours.
        self.write_unguarded(move |c| {
            if let Some(idem) = &meta.idem {
                match idem_lookup(
                    c,
                    &idem.scope,
                    &idem.key,
                    &idem.fingerprint,
                    to_ms(meta.idem_not_before),
                )? {
                    IdemCheck::Fresh => {}
                    IdemCheck::Replay(r) => return Ok((true, CreateOutcome::IdemReplay(r))),
                    IdemCheck::Mismatch => return Ok((true, CreateOutcome::IdemMismatch)),
                }
            }
            let inserted = insert_payin(c, &p, &meta)?;
            if inserted == 0 {
                let taken = taken_order(
                    c,
                    "payin",
                    &p.merchant_id.hex(),
                    &p.order_id,
                    &meta.order_fingerprint,
                )?;
                return Ok((true, taken));
            }
            insert_events(c, &events)?;
            if let Some(idem) = &meta.idem {
                idem_insert(c, idem)?;
            }
            Ok((true, CreateOutcome::Created))
        })
        .await
    }

    pub(super) async fn payin_get(
        &self,
        merchant: Option<MerchantId>,
        id: PayinId,
    ) -> StoreResult<Option<Payin>> {
        self.read(|c| {
            opt(
                c,
                "select doc, version from payin where payin_id = ?1 \
             and (?2 is null or merchant_id = ?2)",
                params![id.hex(), merchant.map(|m| m.hex())],
                payin_from_row,
            )
        })
        .await
    }

    pub(super) async fn payin_save(&self, w: PayinWrite<'_>) -> StoreResult<SaveOutcome> {
        let p = w.payin.clone();
        let (expected, events, idem, pan, card) =
            (w.expected_version, w.events, w.idem, w.pan, w.save_card);
        let release = w.release_lease_of.map(str::to_string);
        self.write(move |c| {
            {
                if let Some(idem) = &idem {
                    match idem_lookup(
                        c,
                        &idem.scope,
                        &idem.key,
                        &idem.fingerprint,
                        to_ms(idem.not_before),
                    )
                    ?
                    {
                        IdemCheck::Fresh => {}
                        IdemCheck::Replay(_) | IdemCheck::Mismatch => {
                            return Ok((false, SaveOutcome::IdemTaken));
                        }
                    }
                }
                let (pan_mode, pan_bytes): (i64, Option<Vec<u8>>) = if p.status.is_final() {
                    (2, None)
                } else {
                    match pan {
                        PanUpdate::Keep => (0, None),
                        PanUpdate::Set(b) => (1, Some(b)),
                        PanUpdate::Clear => (2, None),
                    }
                };
                let mut stored = p.clone();
                stored.version = expected + 1;
                let res = exec(c, "update payin set status = ?2, amount = ?3, currency = ?4, \
                     processor_psp_id = ?5, next_action_at = ?6, doc = ?7, version = version + 1, \
                     updated_at = ?8, \
                     pan_enc = case ?9 when 0 then pan_enc when 1 then ?10 else null end, \
                     lease_owner = case when ?11 is not null and lease_owner = ?11 then null else lease_owner end, \
                     lease_until = case when ?11 is not null and lease_owner = ?11 then null else lease_until end \
                     where payin_id = ?1 and version = ?12", params![p.id.hex(), p.status.as_str(), p.amount.amount.0, p.amount.currency.code(), p.processor_psp_id.map(|i| i.hex()), p.next_action_at.map(to_ms), json(&stored), to_ms(p.updated_at), pan_mode, pan_bytes, release, expected])?;
                if res.rows_affected() == 0 {
                    return Ok((false, SaveOutcome::VersionConflict));
                }
                if let Some(card) = &card
                    && !upsert_card(c, card)?
                {
                    return Ok((false, SaveOutcome::VersionConflict));
                }
                insert_events(c, &events)?;
                if let Some(idem) = &idem {
                    idem_insert(c, idem)?;
                }
                Ok((true, SaveOutcome::Saved))
            }
        })
        .await
    }

    pub(super) async fn payin_pan_enc(&self, id: PayinId) -> StoreResult<Option<Vec<u8>>> {
        Ok(self
            .read(|c| {
                opt(
                    c,
                    "select pan_enc from payin where payin_id = ?1",
                    params![id.hex()],
                    |r| r.try_get::<Option<Vec<u8>>, _>(0),
                )
            })
            .await?
            .flatten())
    }

    pub(super) async fn payin_claim_due(
        &self,
        now: OffsetDateTime,
        owner: &str,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> StoreResult<Vec<PayinId>> {
        let owner = owner.to_string();
        self.write(move |c| {
            let ids: Vec<String> = all(
                c,
                "update payin set lease_owner = ?2, lease_until = ?3 where payin_id in ( \
                       select payin_id from payin where next_action_at is not null \
                       and next_action_at <= ?1 and (lease_until is null or lease_until < ?1) \
                       order by next_action_at limit ?4) returning payin_id",
                params![to_ms(now), &owner, to_ms(lease_until), limit],
                |r| r.try_get(0),
            )?;
            let ids = ids
                .iter()
                .map(|s| hex_id(s, PayinId::parse, "payin_id"))
                .collect::<StoreResult<Vec<_>>>()?;
            Ok((true, ids))
        })
        .await
    }

    pub(super) async fn payin_find_card(
        &self,
        merchant: MerchantId,
        customer: CustomerId,
        card_hash: &str,
    ) -> StoreResult<Option<SavedCardRecord>> {
        self.read(|c| {
            opt(
                c,
                "select * from saved_card where merchant_id = ?1 and customer_id = ?2 \
             and card_hash = ?3",
                params![merchant.hex(), customer.hex(), card_hash],
                card_from_row,
            )
        })
        .await
    }

    pub(super) async fn payin_get_card(
        &self,
        merchant: MerchantId,
        id: CardId,
    ) -> StoreResult<Option<SavedCardRecord>> {
        self.read(|c| {
            opt(
                c,
                "select * from saved_card where merchant_id = ?1 and card_id = ?2",
                params![merchant.hex(), id.hex()],
                card_from_row,
            )
        })
        .await
    }

    pub(super) async fn payin_search(
        &self,
        f: &PayoutFilter,
        after: Option<(OffsetDateTime, PayinId)>,
        limit: i64,
    ) -> StoreResult<Vec<Payin>> {
        let (after_ms, after_id) = match after {
            Some((t, id)) => (Some(to_ms(t)), Some(id.hex())),
            None => (None, None),
        };
        let statuses = (!f.statuses.is_empty()).then(|| json(&f.statuses));
        self.read(|c| all(c, "select p.doc, p.version from payin p join customer c on c.customer_id = p.customer_id \
             where (?1 is null or p.merchant_id = ?1) \
             and (?2 is null or p.status in (select value from json_each(?2))) \
             and (?3 is null or p.order_id = ?3) and (?4 is null or p.customer_id = ?4) \
             and (?5 is null or c.external_user_id = ?5) and (?6 is null or p.currency = ?6) \
             and (?7 is null or p.processor_psp_id = ?7) and (?8 is null or p.created_at >= ?8) \
             and (?9 is null or p.created_at < ?9) \
             and (?10 is null or p.created_at < ?10 or (p.created_at = ?10 and p.payin_id < ?11)) \
             order by p.created_at desc, p.payin_id desc limit ?12", params![f.merchant_id.map(|m| m.hex()), statuses, &f.order_id, f.customer_id.map(|c| c.hex()), &f.external_user_id, &f.currency, &f.psp_account_id, f.created_from.map(to_ms), f.created_to.map(to_ms), after_ms, after_id, limit], payin_from_row)).await
    }
}
