//! Helpers for test suites that run on both backends (STYLE.md R11).
//!
//! `OMNO_TEST_PG_URL` names a PostgreSQL server (any database on it, e.g.
//! `postgres://postgres@127.0.0.1:55432/postgres`); each test gets a fresh database created from
//! it. Without the variable PostgreSQL variants are skipped, except under `CI=true`, where a
//! missing server must fail the run rather than pass it silently.

use sqlx::Connection;

/// The environment variable naming the test PostgreSQL server.
pub const PG_URL_VAR: &str = "OMNO_TEST_PG_URL";

/// The test server URL; `None` means skip. Panics under `CI=true` when it is not set.
pub fn pg_server_url() -> Option<String> {
    match std::env::var(PG_URL_VAR) {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(
                !ci,
                "{PG_URL_VAR} is not set but CI=true: PostgreSQL tests must run in CI (scripts/test starts a server)"
            );
            eprintln!("{PG_URL_VAR} not set: skipping the PostgreSQL variant");
            None
        }
    }
}

/// `url` with its database name replaced by `db`.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// A fresh, empty database on the test server; `None` when PostgreSQL tests are skipped.
/// Returns its URL. Drop it with [`drop_database`] (or let the ephemeral server go).
pub async fn fresh_pg_database() -> Result<Option<String>, sqlx::Error> {
    let Some(server) = pg_server_url() else {
        return Ok(None);
    };
    let name = format!("omno_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&server).await?;
    sqlx::query(&format!("create database {name}"))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(Some(with_database(&server, &name)))
}

/// Drops a database made by [`fresh_pg_database`] (disconnecting its sessions).
pub async fn drop_database(url: &str) -> Result<(), sqlx::Error> {
    let Some(server) = pg_server_url() else {
        return Ok(());
    };
    let name = url
        .split('?')
        .next()
        .and_then(|u| u.rsplit('/').next())
        .unwrap_or_default()
        .to_string();
    if !name.starts_with("omno_test_")
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Ok(());
    }
    let mut conn = sqlx::PgConnection::connect(&server).await?;
    sqlx::query(&format!("drop database if exists {name} with (force)"))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            with_database("postgres://u@127.0.0.1:5/postgres", "x"),
            "postgres://u@127.0.0.1:5/x"
        );
        assert_eq!(
            with_database("postgres://u@h/postgres?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:1", "x"), "postgres://h:1/x");
    }
}
