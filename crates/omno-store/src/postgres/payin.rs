//! Payins and saved cards on PostgreSQL (the `impl Store` methods delegate here).

use omno_domain::ids::{CardId, CustomerId, MerchantId, PayinId};
use omno_domain::payin::Payin;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use time::OffsetDateTime;

use super::{
    LOCK_ORDER, PgStore, de, hex_id, idem_insert, idem_lookup, insert_events, json, lock,
    taken_order,
};
use crate::{
    CreateMeta, CreateOutcome, IdemCheck, NewEvent, PanUpdate, PayinWrite, PayoutFilter,
    SaveOutcome, SavedCardRecord, StoreResult, from_ms, to_ms,
};

fn payin_from_row(r: &PgRow) -> StoreResult<Payin> {
    let mut p: Payin = de(r.try_get("doc")?, "payin doc")?;
    p.version = r.try_get("version")?;
    Ok(p)
}

fn card_from_row(r: &PgRow) -> StoreResult<SavedCardRecord> {
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
pub(super) async fn insert_payin(
    c: &mut PgConnection,
    p: &Payin,
    meta: &CreateMeta,
) -> StoreResult<u64> {
    Ok(sqlx::query(
        "insert into payin (payin_id, merchant_id, customer_id, order_id, status, \
         amount, currency, processor_psp_id, next_action_at, request_fingerprint, \
         create_response, doc, version, created_at, updated_at) values ($1, $2, $3, \
         $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         on conflict (merchant_id, order_id) do nothing",
    )
    .bind(p.id.hex())
    .bind(p.merchant_id.hex())
    .bind(p.customer_id.hex())
    .bind(&p.order_id)
    .bind(p.status.as_str())
    .bind(p.amount.amount.0)
    .bind(p.amount.currency.code())
    .bind(p.processor_psp_id.map(|i| i.hex()))
    .bind(p.next_action_at.map(to_ms))
    .bind(&meta.order_fingerprint)
    .bind(&meta.response)
    .bind(json(p))
    .bind(p.version)
    .bind(to_ms(p.created_at))
    .bind(to_ms(p.updated_at))
    .execute(&mut *c)
    .await?
    .rows_affected())
}

/// Inserts the card or finds the existing one of (merchant, customer, hash); `false` when the
/// existing card has another id than the one the caller put on the payin.
async fn upsert_card(c: &mut PgConnection, card: &SavedCardRecord) -> StoreResult<bool> {
    sqlx::query(
        "insert into saved_card (card_id, merchant_id, customer_id, card_hash, mask, brand, \
         exp_month, exp_year, pan_enc, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         on conflict (merchant_id, customer_id, card_hash) do update set \
         exp_month = excluded.exp_month, exp_year = excluded.exp_year, pan_enc = excluded.pan_enc",
    )
    .bind(card.id.hex())
    .bind(card.merchant_id.hex())
    .bind(card.customer_id.hex())
    .bind(&card.card_hash)
    .bind(&card.mask)
    .bind(&card.brand)
    .bind(i64::from(card.exp_month))
    .bind(i64::from(card.exp_year))
    .bind(&card.pan_enc)
    .bind(to_ms(card.created_at))
    .execute(&mut *c)
    .await?;
    let id: String = sqlx::query_scalar(
        "select card_id from saved_card where merchant_id = $1 and customer_id = $2 \
         and card_hash = $3",
    )
    .bind(card.merchant_id.hex())
    .bind(card.customer_id.hex())
    .bind(&card.card_hash)
    .fetch_one(&mut *c)
    .await?;
    Ok(id == card.id.hex())
}

impl PgStore {
    pub(super) async fn payin_create(
        &self,
        payin: &Payin,
        meta: &CreateMeta,
        events: &[NewEvent],
    ) -> StoreResult<CreateOutcome> {
        let arg = (payin.clone(), meta.clone(), events.to_vec());
        self.tx(arg, |c, (p, meta, events)| {
            Box::pin(async move {
                if let Some(idem) = &meta.idem {
                    match idem_lookup(
                        c,
                        &idem.scope,
                        &idem.key,
                        &idem.fingerprint,
                        to_ms(meta.idem_not_before),
                    )
                    .await?
                    {
                        IdemCheck::Fresh => {}
                        IdemCheck::Replay(r) => return Ok((true, CreateOutcome::IdemReplay(r))),
                        IdemCheck::Mismatch => return Ok((true, CreateOutcome::IdemMismatch)),
                    }
                }
                lock(
                    c,
                    LOCK_ORDER,
                    &format!("payin\u{1f}{}\u{1f}{}", p.merchant_id.hex(), p.order_id),
                )
                .await?;
                if let Some(taken) = taken_order(
                    c,
                    "payin",
                    p.merchant_id,
                    &p.order_id,
                    &meta.order_fingerprint,
                )
                .await?
                {
                    return Ok((true, taken));
                }
                insert_payin(c, p, meta).await?;
                insert_events(c, events).await?;
                if let Some(idem) = &meta.idem {
                    idem_insert(c, idem).await?;
                }
                Ok((true, CreateOutcome::Created))
            })
        })
        .await
    }

    pub(super) async fn payin_get(
        &self,
        merchant: Option<MerchantId>,
        id: PayinId,
    ) -> StoreResult<Option<Payin>> {
        sqlx::query(
            "select doc, version from payin where payin_id = $1 \
             and ($2::text is null or merchant_id = $2)",
        )
        .bind(id.hex())
        .bind(merchant.map(|m| m.hex()))
        .fetch_optional(&self.pool)
        .await?
        .map(|r| payin_from_row(&r))
        .transpose()
    }

    pub(super) async fn payin_save(&self, w: PayinWrite<'_>) -> StoreResult<SaveOutcome> {
        let arg = (
            w.payin.clone(),
            w.expected_version,
            w.events,
            w.idem,
            w.pan,
            w.save_card,
            w.release_lease_of.map(str::to_string),
        );
        self.tx(arg, |c, (p, expected, events, idem, pan, card, release)| {
            Box::pin(async move {
                if let Some(idem) = idem {
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
                            return Ok((false, SaveOutcome::IdemTaken));
                        }
                    }
                }
                let (pan_mode, pan_bytes): (i64, Option<Vec<u8>>) = if p.status.is_final() {
                    (2, None)
                } else {
                    match pan {
                        PanUpdate::Keep => (0, None),
                        PanUpdate::Set(b) => (1, Some(b.clone())),
                        PanUpdate::Clear => (2, None),
                    }
                };
                let mut stored = p.clone();
                stored.version = expected + 1;
                let res = sqlx::query(
                    "update payin set status = $2, amount = $3, currency = $4, \
                     processor_psp_id = $5, next_action_at = $6, doc = $7, version = version + 1, \
                     updated_at = $8, \
                     pan_enc = case $9::bigint when 0 then pan_enc when 1 then $10 else null end, \
                     lease_owner = case when $11::text is not null and lease_owner = $11 then null else lease_owner end, \
                     lease_until = case when $11::text is not null and lease_owner = $11 then null else lease_until end \
                     where payin_id = $1 and version = $12",
                )
                .bind(p.id.hex())
                .bind(p.status.as_str())
                .bind(p.amount.amount.0)
                .bind(p.amount.currency.code())
                .bind(p.processor_psp_id.map(|i| i.hex()))
                .bind(p.next_action_at.map(to_ms))
                .bind(json(&stored))
                .bind(to_ms(p.updated_at))
                .bind(pan_mode)
                .bind(pan_bytes)
                .bind(release.as_deref())
                .bind(*expected)
                .execute(&mut *c)
                .await?;
                if res.rows_affected() == 0 {
                    return Ok((false, SaveOutcome::VersionConflict));
                }
                if let Some(card) = card
                    && !upsert_card(c, card).await?
                {
                    return Ok((false, SaveOutcome::VersionConflict));
                }
                insert_events(c, events).await?;
                if let Some(idem) = idem {
                    idem_insert(c, idem).await?;
                }
                Ok((true, SaveOutcome::Saved))
            })
        })
        .await
    }

    pub(super) async fn payin_pan_enc(&self, id: PayinId) -> StoreResult<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar::<_, Option<Vec<u8>>>(
            "select pan_enc from payin where payin_id = $1",
        )
        .bind(id.hex())
        .fetch_optional(&self.pool)
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
        let ids: Vec<String> = sqlx::query_scalar(
            "update payin set lease_owner = $2, lease_until = $3 where payin_id in ( \
               select payin_id from payin where next_action_at is not null \
               and next_action_at <= $1 and (lease_until is null or lease_until < $1) \
               order by next_action_at limit $4 for update skip locked) \
             and next_action_at <= $1 and (lease_until is null or lease_until < $1) \
             returning payin_id",
        )
        .bind(to_ms(now))
        .bind(owner)
        .bind(to_ms(lease_until))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        ids.iter()
            .map(|s| hex_id(s, PayinId::parse, "payin_id"))
            .collect()
    }

    pub(super) async fn payin_find_card(
        &self,
        merchant: MerchantId,
        customer: CustomerId,
        card_hash: &str,
    ) -> StoreResult<Option<SavedCardRecord>> {
        sqlx::query(
            "select * from saved_card where merchant_id = $1 and customer_id = $2 \
             and card_hash = $3",
        )
        .bind(merchant.hex())
        .bind(customer.hex())
        .bind(card_hash)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| card_from_row(&r))
        .transpose()
    }

    pub(super) async fn payin_get_card(
        &self,
        merchant: MerchantId,
        id: CardId,
    ) -> StoreResult<Option<SavedCardRecord>> {
        sqlx::query("select * from saved_card where merchant_id = $1 and card_id = $2")
            .bind(merchant.hex())
            .bind(id.hex())
            .fetch_optional(&self.pool)
            .await?
            .map(|r| card_from_row(&r))
            .transpose()
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
        let statuses = (!f.statuses.is_empty()).then(|| f.statuses.clone());
        sqlx::query(
            "select p.doc, p.version from payin p join customer c on c.customer_id = p.customer_id \
             where ($1::text is null or p.merchant_id = $1) \
             and ($2::text[] is null or p.status = any($2)) \
             and ($3::text is null or p.order_id = $3) and ($4::text is null or p.customer_id = $4) \
             and ($5::text is null or c.external_user_id = $5) \
             and ($6::text is null or p.currency = $6) \
             and ($7::text is null or p.processor_psp_id = $7) \
             and ($8::bigint is null or p.created_at >= $8) \
             and ($9::bigint is null or p.created_at < $9) \
             and ($10::bigint is null or p.created_at < $10 \
               or (p.created_at = $10 and p.payin_id < $11)) \
             order by p.created_at desc, p.payin_id desc limit $12",
        )
        .bind(f.merchant_id.map(|m| m.hex()))
        .bind(statuses)
        .bind(&f.order_id)
        .bind(f.customer_id.map(|c| c.hex()))
        .bind(&f.external_user_id)
        .bind(&f.currency)
        .bind(&f.psp_account_id)
        .bind(f.created_from.map(to_ms))
        .bind(f.created_to.map(to_ms))
        .bind(after_ms)
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(payin_from_row)
        .collect()
    }
}
