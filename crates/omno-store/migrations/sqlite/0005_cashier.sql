-- Cashier sessions (issue 7): the session document beside the columns that change (balance,
-- its version, the deposit and withdrawal numbers) or are checked (expiry).

create table cashier_session (
    session_id      text primary key,
    merchant_id     text not null references merchant (merchant_id),
    doc             text not null,
    balance         integer not null,
    balance_version integer not null,
    deposit_seq     integer not null,
    withdraw_seq    integer not null,
    expires_at      integer not null,
    created_at      integer not null
);
