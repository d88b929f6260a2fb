-- omno schema, SQLite. Times are integer milliseconds since the Unix epoch (UTC).
-- Append-only: never edit a shipped migration; add the next number (same number for postgres).

create table setting (
    name  text primary key,
    value text not null
);

create table merchant (
    merchant_id                  text primary key,
    name                         text not null,
    mode                         text not null,
    active                       integer not null,
    enabled_currencies           text not null,
    payout_confirmation_required integer not null,
    default_router_id            text,
    allowed_frame_origins        text not null,
    webhook_secret_enc           blob not null,
    created_at                   integer not null,
    updated_at                   integer not null
);

create table api_key (
    api_key_id   text primary key,
    merchant_id  text not null references merchant (merchant_id),
    name         text,
    key_hash     text not null unique,
    prefix       text not null,
    last4        text not null,
    demo         integer not null default 0,
    created_at   integer not null,
    last_used_at integer,
    revoked_at   integer
);

create table client_credential (
    client_id    text primary key,
    merchant_id  text not null references merchant (merchant_id),
    name         text,
    secret_hash  text not null,
    demo         integer not null default 0,
    created_at   integer not null,
    last_used_at integer,
    revoked_at   integer
);

create table psp_account (
    psp_account_id text primary key,
    merchant_id    text not null references merchant (merchant_id),
    name           text not null,
    connector      text not null,
    enabled        integer not null,
    currencies     text not null,
    countries      text not null,
    methods        text not null,
    directions     text not null,
    kyc_required   integer not null,
    latency_ms     integer not null,
    force_decline  text,
    decline_rate_bp integer not null,
    created_at     integer not null,
    updated_at     integer not null,
    unique (merchant_id, name)
);

create table customer (
    customer_id      text primary key,
    merchant_id      text not null references merchant (merchant_id),
    external_user_id text not null,
    created_at       integer not null,
    unique (merchant_id, external_user_id)
);

create table payout (
    payout_id                  text primary key,
    merchant_id                text not null references merchant (merchant_id),
    customer_id                text not null references customer (customer_id),
    order_id                   text not null,
    amount                     integer not null,
    currency                   text not null,
    initial_amount             integer not null,
    initial_currency           text not null,
    status                     text not null,
    status_reason              text,
    kyc_verified               integer not null,
    previous_transaction_count integer not null,
    customer                   text not null,
    return_urls                text,
    webhook_url                text,
    router_id                  text,
    routing_reason             text,
    predicted_psp_id           text,
    processor_psp_id           text,
    psp_transaction_id         text,
    destination                text,
    pan_enc                    blob,
    metadata                   text not null,
    confirmed_at               integer,
    confirmation_deadline      integer,
    dispatch                   text not null,
    next_action_at             integer,
    sync_attempts              integer not null,
    submitted_at               integer,
    lease_owner                text,
    lease_until                integer,
    request_fingerprint        text not null,
    create_response            text not null,
    history                    text not null,
    version                    integer not null,
    created_at                 integer not null,
    updated_at                 integer not null,
    unique (merchant_id, order_id)
);

create index payout_next_action on payout (next_action_at) where next_action_at is not null;

create table idempotency_key (
    scope       text not null,
    idem_key    text not null,
    fingerprint text not null,
    status_code integer not null,
    body        text not null,
    created_at  integer not null,
    primary key (scope, idem_key)
);

-- Webhook outbox: one row per announced status change, written in the transaction of the change.
create table event (
    event_id       text primary key,
    merchant_id    text not null,
    kind           text not null,
    transaction_id text not null,
    event_type     text not null,
    status         text not null,
    body           text not null,
    created_at     integer not null
);

create index event_transaction on event (transaction_id, created_at);
