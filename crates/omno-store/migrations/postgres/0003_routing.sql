-- Routing configuration: routers (rules as JSON, storage form), FX rates, and the decision
-- records kept on each payout for the admin view.

create table router (
    router_id   text primary key,
    merchant_id text not null references merchant (merchant_id),
    name        text not null,
    body        text not null,
    created_at  bigint not null,
    updated_at  bigint not null
);

create index router_merchant on router (merchant_id, created_at);

create table fx_rate (
    merchant_id text not null references merchant (merchant_id),
    base        text not null,
    quote       text not null,
    rate        text not null,
    markup_bps  bigint not null,
    source      text not null,
    updated_at  bigint not null,
    primary key (merchant_id, base, quote)
);

alter table payout add column routing_detail text;
alter table payout add column fx_detail text;

create index payout_merchant_created on payout (merchant_id, created_at, payout_id);
