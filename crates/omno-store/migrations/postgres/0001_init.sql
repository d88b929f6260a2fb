-- omno schema, PostgreSQL. Translated from migrations/sqlite/0001_init.sql: booleans are boolean,
-- blobs bytea, integers bigint. Times stay bigint milliseconds since the Unix epoch (UTC), as on
-- SQLite, so both stores share one storage form.
-- Append-only: never edit a shipped migration; add the next number (same number for sqlite).

create table setting (
    name  text primary key,
    value text not null
);

create table merchant (
    merchant_id                  text primary key,
    name                         text not null,
    mode                         text not null,
    active                       boolean not null,
    enabled_currencies           text not null,
    payout_confirmation_required boolean not null,
    default_router_id            text,
    allowed_frame_origins        text not null,
    webhook_secret_enc           bytea not null,
    created_at                   bigint not null,
    updated_at                   bigint not null
);

create table api_key (
    api_key_id   text primary key,
    merchant_id  text not null references merchant (merchant_id),
    name         text,
    key_hash     text not null unique,
    prefix       text not null,
    last4        text not null,
    demo         boolean not null default false,
    created_at   bigint not null,
    last_used_at bigint,
    revoked_at   bigint
);

create table client_credential (
    client_id    text primary key,
    merchant_id  text not null references merchant (merchant_id),
    name         text,
    secret_hash  text not null,
    demo         boolean not null default false,
    created_at   bigint not null,
    last_used_at bigint,
    revoked_at   bigint
);

create table psp_account (
    psp_account_id  text primary key,
    merchant_id     text not null references merchant (merchant_id),
    name            text not null,
    connector       text not null,
    enabled         boolean not null,
    currencies      text not null,
    countries       text not null,
    methods         text not null,
    directions      text not null,
    kyc_required    boolean not null,
    latency_ms      bigint not null,
    force_decline   text,
    decline_rate_bp bigint not null,
    created_at      bigint not null,
    updated_at      bigint not null,
    unique (merchant_id, name)
);

create table customer (
    customer_id      text primary key,
    merchant_id      text not null references merchant (merchant_id),
    external_user_id text not null,
    created_at       bigint not null,
    unique (merchant_id, external_user_id)
);

create table payout (
    payout_id                  text primary key,
    merchant_id                text not null references merchant (merchant_id),
    customer_id                text not null references customer (customer_id),
    order_id                   text not null,
    amount                     bigint not null,
    currency                   text not null,
    initial_amount             bigint not null,
    initial_currency           text not null,
    status                     text not null,
    status_reason              text,
    kyc_verified               boolean not null,
    previous_transaction_count bigint not null,
    customer                   text not null,
    return_urls                text,
    webhook_url                text,
    router_id                  text,
    routing_reason             text,
    predicted_psp_id           text,
    processor_psp_id           text,
    psp_transaction_id         text,
    destination                text,
    pan_enc                    bytea,
    metadata                   text not null,
    confirmed_at               bigint,
    confirmation_deadline      bigint,
    dispatch                   text not null,
    next_action_at             bigint,
    sync_attempts              bigint not null,
    submitted_at               bigint,
    lease_owner                text,
    lease_until                bigint,
    request_fingerprint        text not null,
    create_response            text not null,
    history                    text not null,
    version                    bigint not null,
    created_at                 bigint not null,
    updated_at                 bigint not null,
    unique (merchant_id, order_id)
);

create index payout_next_action on payout (next_action_at) where next_action_at is not null;

create table idempotency_key (
    scope       text not null,
    idem_key    text not null,
    fingerprint text not null,
    status_code bigint not null,
    body        text not null,
    created_at  bigint not null,
    primary key (scope, idem_key)
);

-- Webhook outbox: one row per announced status change, written in the transaction of the change.
-- seq replaces SQLite's rowid as the insertion order of events with equal created_at.
create table event (
    seq            bigserial not null unique,
    event_id       text primary key,
    merchant_id    text not null,
    kind           text not null,
    transaction_id text not null,
    event_type     text not null,
    status         text not null,
    body           text not null,
    created_at     bigint not null
);

create index event_transaction on event (transaction_id, created_at);
