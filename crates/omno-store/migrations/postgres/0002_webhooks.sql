-- Webhooks: merchant endpoints, one delivery per (event, target), and every attempt.

create table webhook_endpoint (
    endpoint_id  text primary key,
    merchant_id  text not null references merchant (merchant_id),
    url          text not null,
    description  text,
    enabled      boolean not null,
    event_types  text not null,
    statuses     text not null,
    headers      text not null,
    secret_enc   bytea not null,
    created_at   bigint not null,
    updated_at   bigint not null
);

create index webhook_endpoint_merchant on webhook_endpoint (merchant_id, created_at);

-- seq orders deliveries of one (transaction, url): event k+1 waits for event k.
create table delivery (
    seq             bigserial primary key,
    delivery_id     text not null unique,
    merchant_id     text not null,
    event_id        text not null references event (event_id),
    event_type      text not null,
    transaction_id  text not null,
    endpoint_id     text,
    url             text not null,
    status          text not null,
    attempt_count   bigint not null,
    next_attempt_at bigint,
    last_attempt_at bigint,
    window_start    bigint not null,
    retry_from      bigint not null default 0,
    lease_owner     text,
    lease_until     bigint,
    created_at      bigint not null
);

create index delivery_due on delivery (next_attempt_at) where status = 'PENDING';
create index delivery_order on delivery (transaction_id, url, seq);
create index delivery_merchant on delivery (merchant_id, created_at);

create table delivery_attempt (
    delivery_id      text not null,
    attempt          bigint not null,
    at               bigint not null,
    http_status      bigint,
    latency_ms       bigint not null,
    error            text,
    response_snippet text,
    primary key (delivery_id, attempt)
);
