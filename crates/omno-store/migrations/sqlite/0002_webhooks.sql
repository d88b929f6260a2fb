-- Webhooks: merchant endpoints, one delivery per (event, target), and every attempt.

create table webhook_endpoint (
    endpoint_id  text primary key,
    merchant_id  text not null references merchant (merchant_id),
    url          text not null,
    description  text,
    enabled      integer not null,
    event_types  text not null,
    statuses     text not null,
    headers      text not null,
    secret_enc   blob not null,
    created_at   integer not null,
    updated_at   integer not null
);

create index webhook_endpoint_merchant on webhook_endpoint (merchant_id, created_at);

-- seq orders deliveries of one (transaction, url): event k+1 waits for event k.
create table delivery (
    seq             integer primary key autoincrement,
    delivery_id     text not null unique,
    merchant_id     text not null,
    event_id        text not null references event (event_id),
    event_type      text not null,
    transaction_id  text not null,
    endpoint_id     text,
    url             text not null,
    status          text not null,
    attempt_count   integer not null,
    next_attempt_at integer,
    last_attempt_at integer,
    window_start    integer not null,
    retry_from      integer not null default 0,
    lease_owner     text,
    lease_until     integer,
    created_at      integer not null
);

create index delivery_due on delivery (next_attempt_at) where status = 'PENDING';
create index delivery_order on delivery (transaction_id, url, seq);
create index delivery_merchant on delivery (merchant_id, created_at);

create table delivery_attempt (
    delivery_id      text not null,
    attempt          integer not null,
    at               integer not null,
    http_status      integer,
    latency_ms       integer not null,
    error            text,
    response_snippet text,
    primary key (delivery_id, attempt)
);
