//! `omno admin`: runs the admin API operations of API.md §13 directly on the database by sending
//! the equivalent request through the same router in-process, so CLI and HTTP behave identically.

use std::process::ExitCode;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, header};
use omno_server::clock::SystemClock;
use tower::ServiceExt;

use crate::{AdminArgs, ServeArgs};

fn usage(msg: &str) -> ExitCode {
    eprintln!("omno admin: {msg}");
    ExitCode::from(2)
}

/// Maps (resource, verb) to a method and path; `Err` is a usage error.
fn route(a: &AdminArgs) -> Result<(Method, String, bool), String> {
    let m = || {
        a.merchant
            .clone()
            .ok_or_else(|| format!("{} {} needs --merchant", a.resource, a.verb))
    };
    let id = || {
        a.id.clone()
            .ok_or_else(|| format!("{} {} needs --id", a.resource, a.verb))
    };
    let scoped =
        |res: &str| -> Result<String, String> { Ok(format!("/admin/merchants/{}/{res}", m()?)) };
    // (method, path, takes a query from --filter)
    let r = match (a.resource.as_str(), a.verb.as_str()) {
        ("merchants", "create") => (Method::POST, "/admin/merchants".to_string(), false),
        ("merchants", "list") => (Method::GET, "/admin/merchants".into(), false),
        ("merchants", "get") => (
            Method::GET,
            format!(
                "/admin/merchants/{}",
                a.id.clone()
                    .or(a.merchant.clone())
                    .ok_or("merchants get needs --id")?
            ),
            false,
        ),
        ("merchants", "update") => (
            Method::PATCH,
            format!(
                "/admin/merchants/{}",
                a.id.clone()
                    .or(a.merchant.clone())
                    .ok_or("merchants update needs --id")?
            ),
            false,
        ),
        ("merchants", "rotate-webhook-secret") => (
            Method::POST,
            format!(
                "/admin/merchants/{}/webhook-secret/rotate",
                a.id.clone()
                    .or(a.merchant.clone())
                    .ok_or("needs --merchant")?
            ),
            false,
        ),
        ("credentials", "create") => (Method::POST, scoped("credentials")?, false),
        ("credentials", "list") => (Method::GET, scoped("credentials")?, false),
        ("credentials", "rotate") => (
            Method::POST,
            format!("{}/{}/rotate", scoped("credentials")?, id()?),
            false,
        ),
        ("credentials", "revoke") => (
            Method::DELETE,
            format!("{}/{}", scoped("credentials")?, id()?),
            false,
        ),
        ("api-keys", "create") => (Method::POST, scoped("api-keys")?, false),
        ("api-keys", "list") => (Method::GET, scoped("api-keys")?, false),
        ("api-keys", "revoke") => (
            Method::DELETE,
            format!("{}/{}", scoped("api-keys")?, id()?),
            false,
        ),
        ("psp-accounts", "create") => (Method::POST, scoped("psp-accounts")?, false),
        ("psp-accounts", "list") => (Method::GET, scoped("psp-accounts")?, false),
        ("psp-accounts", "get") => (
            Method::GET,
            format!("{}/{}", scoped("psp-accounts")?, id()?),
            false,
        ),
        ("psp-accounts", "update") => (
            Method::PATCH,
            format!("{}/{}", scoped("psp-accounts")?, id()?),
            false,
        ),
        ("psp-accounts", "delete") => (
            Method::DELETE,
            format!("{}/{}", scoped("psp-accounts")?, id()?),
            false,
        ),
        ("routers", "create") => (Method::POST, scoped("routers")?, false),
        ("routers", "list") => (Method::GET, scoped("routers")?, false),
        ("routers", "get") => (
            Method::GET,
            format!("{}/{}", scoped("routers")?, id()?),
            false,
        ),
        ("routers", "replace") => (
            Method::PUT,
            format!("{}/{}", scoped("routers")?, id()?),
            false,
        ),
        ("routers", "delete") => (
            Method::DELETE,
            format!("{}/{}", scoped("routers")?, id()?),
            false,
        ),
        ("fx-rates", "list") => (Method::GET, scoped("fx-rates")?, false),
        ("fx-rates", "set") | ("fx-rates", "delete") => {
            let pair = match &a.id {
                Some(p) => p.clone(),
                None => {
                    let v: serde_json::Value = a
                        .data
                        .as_deref()
                        .and_then(|d| serde_json::from_str(d).ok())
                        .ok_or("fx-rates needs --id BASE/QUOTE or base/quote in --data")?;
                    format!(
                        "{}/{}",
                        v["base"].as_str().ok_or("--data needs base")?,
                        v["quote"].as_str().ok_or("--data needs quote")?
                    )
                }
            };
            let method = if a.verb == "set" {
                Method::PUT
            } else {
                Method::DELETE
            };
            (method, format!("{}/{pair}", scoped("fx-rates")?), false)
        }
        ("webhook-endpoints", "create") => (Method::POST, scoped("webhook-endpoints")?, false),
        ("webhook-endpoints", "list") => (Method::GET, scoped("webhook-endpoints")?, false),
        ("webhook-endpoints", "get") => (
            Method::GET,
            format!("{}/{}", scoped("webhook-endpoints")?, id()?),
            false,
        ),
        ("webhook-endpoints", "update") => (
            Method::PATCH,
            format!("{}/{}", scoped("webhook-endpoints")?, id()?),
            false,
        ),
        ("webhook-endpoints", "delete") => (
            Method::DELETE,
            format!("{}/{}", scoped("webhook-endpoints")?, id()?),
            false,
        ),
        ("webhook-endpoints", "rotate-secret") => (
            Method::POST,
            format!("{}/{}/rotate-secret", scoped("webhook-endpoints")?, id()?),
            false,
        ),
        ("deliveries", "list") => (Method::GET, "/admin/webhook-deliveries".into(), true),
        ("deliveries", "get") => (
            Method::GET,
            format!("/admin/webhook-deliveries/{}", id()?),
            false,
        ),
        ("deliveries", "redeliver") => (
            Method::POST,
            format!("/admin/webhook-deliveries/{}/redeliver", id()?),
            false,
        ),
        ("transactions", "search") => (Method::GET, "/admin/transactions".into(), true),
        ("transactions", "get") => (Method::GET, format!("/admin/transactions/{}", id()?), false),
        ("transactions", "sync") => (
            Method::POST,
            format!("/admin/transactions/{}/sync", id()?),
            false,
        ),
        ("transactions", "resolve") => (
            Method::POST,
            format!("/admin/transactions/{}/resolve", id()?),
            false,
        ),
        (res, verb) => return Err(format!("unknown operation `{res} {verb}`")),
    };
    Ok(r)
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b',' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs one admin operation and prints its result.
pub(crate) async fn run(
    a: AdminArgs,
    load: fn(&ServeArgs, bool) -> Result<omno_server::config::Settings, String>,
) -> ExitCode {
    let (method, mut path, query) = match route(&a) {
        Ok(r) => r,
        Err(e) => return usage(&e),
    };
    if query && !a.filters.is_empty() {
        let mut parts = Vec::new();
        for f in &a.filters {
            let Some((k, v)) = f.split_once('=') else {
                return usage("--filter takes key=value");
            };
            parts.push(format!("{}={}", encode(k), encode(v)));
        }
        path = format!("{path}?{}", parts.join("&"));
    }
    let body = match a.data.as_deref() {
        None => String::new(),
        Some(d) => match d.strip_prefix('@') {
            Some(file) => match std::fs::read_to_string(file) {
                Ok(s) => s,
                Err(e) => return usage(&format!("cannot read {file}: {e}")),
            },
            None => d.to_string(),
        },
    };
    let serve_args = ServeArgs {
        db: a.db.clone(),
        ..ServeArgs::default()
    };
    let mut settings = match load(&serve_args, false) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("omno: {e}");
            return ExitCode::from(2);
        }
    };
    let token = format!("adm_cli_{}", omno_server::security::random_alnum(40));
    settings.admin.token = Some(token.clone());
    let public = settings
        .server
        .public_base_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", settings.server.bind));
    let store = match crate::open_store(&settings).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("omno: database: {e:#}");
            return ExitCode::from(1);
        }
    };
    let state =
        match omno_server::build_state(settings, store.shared(), Arc::new(SystemClock), public)
            .await
        {
            Ok(s) => s,
            Err(e) => {
                eprintln!("omno: {e:#}");
                return ExitCode::from(1);
            }
        };
    let router = omno_server::build_router(state);
    let mut req = Request::builder()
        .method(method)
        .uri(&path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    if !body.is_empty() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    let Ok(req) = req.body(Body::from(body)) else {
        return usage("invalid request");
    };
    let res = match router.oneshot(req).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("omno: {e}");
            return ExitCode::from(1);
        }
    };
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    store.close().await;
    let text = String::from_utf8_lossy(&bytes);
    if a.json || text.is_empty() {
        if !text.is_empty() {
            println!("{text}");
        }
    } else {
        match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(v) => println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default()),
            Err(_) => println!("{text}"),
        }
    }
    if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
