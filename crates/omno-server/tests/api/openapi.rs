//! The OpenAPI description is generated from the code; this snapshot keeps it from drifting
//! silently. After an intended change: `UPDATE_OPENAPI=1 cargo test -p omno-server --test api openapi`.

#[test]
fn openapi_matches_the_committed_snapshot() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi.json");
    let current = omno_server::openapi_document().to_pretty_json().unwrap() + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &current).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == current,
        "openapi.json is out of date: run UPDATE_OPENAPI=1 cargo test -p omno-server --test api openapi"
    );
}

#[test]
fn every_contract_operation_is_described() {
    let doc: serde_json::Value =
        serde_json::from_str(&omno_server::openapi_document().to_json().unwrap()).unwrap();
    assert_eq!(doc["info"]["title"], "OMNO API");
    assert_eq!(doc["info"]["version"], "2.0.0");
    assert!(doc["info"]["x-omno-server-version"].is_string());
    for (path, method) in [
        ("/public/payout", "post"),
        ("/public/payout/{payoutId}", "get"),
        ("/public/payout/{payoutId}/confirm", "put"),
        ("/public/payout/{payoutId}/reject", "put"),
        ("/public/payout/{payoutId}/process/direct-link", "post"),
        ("/oauth/token", "post"),
        ("/realms/{realm}/protocol/openid-connect/token", "post"),
        ("/health", "get"),
        ("/ready", "get"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    let envelope = &doc["components"]["schemas"]["ErrorEnvelope"];
    for f in [
        "timestamp",
        "status",
        "error",
        "code",
        "message",
        "path",
        "errors",
    ] {
        assert!(envelope["properties"][f].is_object(), "envelope.{f}");
    }
}
