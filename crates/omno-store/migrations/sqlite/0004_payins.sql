-- Payins (issue 4): the aggregate is one JSON document beside the columns that are indexed,
-- searched or guarded (status, amount, lease, orderId); saved cards keep the PAN only encrypted.

create table payin (
    payin_id            text primary key,
    merchant_id         text not null references merchant (merchant_id),
    customer_id         text not null references customer (customer_id),
    order_id            text not null,
    status              text not null,
    amount              integer not null,
    currency            text not null,
    processor_psp_id    text,
    next_action_at      integer,
    lease_owner         text,
    lease_until         integer,
    pan_enc             blob,
    request_fingerprint text not null,
    create_response     text not null,
    doc                 text not null,
    version             integer not null,
    created_at          integer not null,
    updated_at          integer not null,
    unique (merchant_id, order_id)
);

create index payin_next_action on payin (next_action_at) where next_action_at is not null;
create index payin_merchant_created on payin (merchant_id, created_at, payin_id);

create table saved_card (
    card_id     text primary key,
    merchant_id text not null references merchant (merchant_id),
    customer_id text not null references customer (customer_id),
    card_hash   text not null,
    mask        text not null,
    brand       text not null,
    exp_month   integer not null,
    exp_year    integer not null,
    pan_enc     blob not null,
    created_at  integer not null,
    unique (merchant_id, customer_id, card_hash)
);
