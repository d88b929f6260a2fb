//! The token endpoint (API.md §3), access tokens on `/public` (§1.2) and the admin merchant
//! endpoints with their credentials (§13.1–13.3).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::*;

const UNKNOWN_ID: &str = "019cebabac0c784783a8a7235f0e5af5";
const REALM_PATH: &str = "/realms/omno/protocol/openid-connect/token";

fn form(grant: &str, client_id: &str, secret: &str) -> String {
    format!("grant_type={grant}&client_id={client_id}&client_secret={secret}")
}

/// POSTs a form body to a token path.
async fn post_form(app: &TestApp, path: &str, body: &str) -> Response {
    app.client
        .post(app.url(path))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

fn demo_form(app: &TestApp) -> String {
    form(
        "client_credentials",
        &app.creds.client_id.hex(),
        &app.creds.client_secret,
    )
}

/// Asserts a 200 token response and returns its body.
async fn assert_token(r: Response) -> Value {
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
    assert!(
        r.headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let v: Value = r.json().await.unwrap();
    assert!(v["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(v["expires_in"], 300);
    assert_eq!(v["refresh_expires_in"], 0);
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["not-before-policy"], 0);
    assert_eq!(v["scope"], "merchant");
    v
}

async fn demo_token(app: &TestApp) -> String {
    let v = assert_token(post_form(app, "/oauth/token", &demo_form(app)).await).await;
    v["access_token"].as_str().unwrap().to_string()
}

/// Asserts an OAuth2 error body (not the §1.7 envelope).
async fn assert_oauth_error(r: Response, status: u16, error: &str) -> Value {
    assert_eq!(r.status().as_u16(), status);
    if status == 401 {
        assert_eq!(
            r.headers().get("www-authenticate").unwrap(),
            "Basic realm=\"omno\""
        );
    }
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], error, "{v}");
    assert!(v["error_description"].is_string(), "{v}");
    assert!(v.get("code").is_none(), "not the §1.7 envelope: {v}");
    v
}

async fn get_with(app: &TestApp, path: &str, auth: &str) -> Response {
    app.client
        .get(app.url(path))
        .header("Authorization", auth)
        .send()
        .await
        .unwrap()
}

fn claims(token: &str) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    let bytes = URL_SAFE_NO_PAD.decode(parts[1]).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn is_hex32(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn has_alnum_tail(s: &str, prefix: &str, len: usize) -> bool {
    s.strip_prefix(prefix)
        .is_some_and(|t| t.len() == len && t.bytes().all(|b| b.is_ascii_alphanumeric()))
}

async fn create_merchant(app: &TestApp, body: &Value) -> Response {
    app.client
        .post(app.url("/admin/merchants"))
        .bearer_auth(&app.admin_token)
        .json(body)
        .send()
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Token endpoint

#[tokio::test]
async fn token_with_form_credentials() {
    let app = TestApp::spawn().await;
    let v = assert_token(post_form(&app, "/oauth/token", &demo_form(&app)).await).await;
    let token = v["access_token"].as_str().unwrap();
    // `scope` in the form is ignored.
    let body = format!("{}&scope=openid%20profile", demo_form(&app));
    assert_token(post_form(&app, "/oauth/token", &body).await).await;
    // Charset parameter on the form content type is fine.
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .header(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=UTF-8",
        )
        .body(demo_form(&app))
        .send()
        .await
        .unwrap();
    assert_token(r).await;
    assert_eq!(token.split('.').count(), 3);
}

#[tokio::test]
async fn access_token_authenticates_public_calls() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("tok-1", 10.0).await;
    let token = demo_token(&app).await;
    let path = format!("/public/payout/{id}");
    for auth in [
        format!("Bearer {token}"),
        token.clone(),
        format!("bearer {token}"),
    ] {
        let r = get_with(&app, &path, &auth).await;
        assert_eq!(r.status(), 200, "{auth}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["id"], id.as_str());
    }
    // Mutating calls too.
    let r = app
        .client
        .post(app.url("/public/payout"))
        .bearer_auth(&token)
        .json(&payout_body("tok-2", 10.0, "EUR"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let r = app
        .client
        .put(app.url(&format!(
            "/public/payout/{}/confirm",
            v["payoutId"].as_str().unwrap()
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Unknown id with a valid token: 404, not 401.
    let r = get_with(&app, &format!("/public/payout/{UNKNOWN_ID}"), &token).await;
    assert_error(r, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn realm_token_path_works_the_same() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("tok-realm", 10.0).await;
    for path in [REALM_PATH, "/realms/anything/protocol/openid-connect/token"] {
        let v = assert_token(post_form(&app, path, &demo_form(&app)).await).await;
        let token = v["access_token"].as_str().unwrap();
        let r = get_with(
            &app,
            &format!("/public/payout/{id}"),
            &format!("Bearer {token}"),
        )
        .await;
        assert_eq!(r.status(), 200, "{path}");
        // Errors look the same there too.
        let bad = form("client_credentials", &app.creds.client_id.hex(), "cs_wrong");
        assert_oauth_error(post_form(&app, path, &bad).await, 401, "invalid_client").await;
        let r = post_form(&app, path, "grant_type=password&username=a&password=b").await;
        assert_oauth_error(r, 400, "unsupported_grant_type").await;
    }
}

#[tokio::test]
async fn basic_credentials() {
    let app = TestApp::spawn().await;
    let cid = app.creds.client_id.hex();
    let secret = app.creds.client_secret.clone();
    // Basic only.
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&cid, Some(&secret))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    let v = assert_token(r).await;
    let token = v["access_token"].as_str().unwrap();
    assert_eq!(claims(token)["azp"], cid.as_str());

    // Basic and the same form credentials.
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&cid, Some(&secret))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(demo_form(&app))
        .send()
        .await
        .unwrap();
    assert_token(r).await;

    // Basic and different form credentials → invalid_request, even when both are valid-looking.
    let other = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&cid, Some("cs_something_else"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(demo_form(&app))
        .send()
        .await
        .unwrap();
    assert_oauth_error(other, 400, "invalid_request").await;

    // Wrong secret through Basic → invalid_client.
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&cid, Some("cs_wrong"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_oauth_error(r, 401, "invalid_client").await;

    // Basic header that does not decode to id:secret → invalid_request.
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .header(
            "Authorization",
            format!("Basic {}", STANDARD.encode("no-colon")),
        )
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_oauth_error(r, 400, "invalid_request").await;
}

#[tokio::test]
async fn invalid_client() {
    let app = TestApp::spawn().await;
    let cid = app.creds.client_id.hex();
    for body in [
        form("client_credentials", &cid, "cs_wrong"),
        form(
            "client_credentials",
            &cid,
            &format!("{}x", app.creds.client_secret),
        ),
        form("client_credentials", UNKNOWN_ID, &app.creds.client_secret),
        form(
            "client_credentials",
            "not-a-client",
            &app.creds.client_secret,
        ),
        form(
            "client_credentials",
            &cid.to_uppercase(),
            &app.creds.client_secret,
        ),
    ] {
        let r = post_form(&app, "/oauth/token", &body).await;
        assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
        let v = assert_oauth_error(r, 401, "invalid_client").await;
        assert_eq!(
            v,
            json!({"error": "invalid_client", "error_description": "Invalid client or Invalid client credentials"}),
            "{body}"
        );
    }
    // The API key is not a client secret.
    let body = form("client_credentials", &cid, &app.creds.api_key);
    assert_oauth_error(
        post_form(&app, "/oauth/token", &body).await,
        401,
        "invalid_client",
    )
    .await;
}

#[tokio::test]
async fn invalid_requests() {
    let app = TestApp::spawn().await;
    let cid = app.creds.client_id.hex();
    let secret = app.creds.client_secret.clone();
    // Missing grant_type.
    let body = format!("client_id={cid}&client_secret={secret}");
    assert_oauth_error(
        post_form(&app, "/oauth/token", &body).await,
        400,
        "invalid_request",
    )
    .await;
    // Missing secret / id / both.
    for body in [
        format!("grant_type=client_credentials&client_id={cid}"),
        format!("grant_type=client_credentials&client_secret={secret}"),
        "grant_type=client_credentials".to_string(),
    ] {
        let r = post_form(&app, "/oauth/token", &body).await;
        assert_oauth_error(r, 400, "invalid_request").await;
    }
    // Unsupported grants.
    for grant in [
        "password",
        "authorization_code",
        "refresh_token",
        "CLIENT_CREDENTIALS",
    ] {
        let r = post_form(&app, "/oauth/token", &form(grant, &cid, &secret)).await;
        assert_oauth_error(r, 400, "unsupported_grant_type").await;
    }
    // JSON body → invalid_request.
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .json(
            &json!({"grant_type": "client_credentials", "client_id": cid, "client_secret": secret}),
        )
        .send()
        .await
        .unwrap();
    assert_oauth_error(r, 400, "invalid_request").await;
    // Empty body.
    let r = post_form(&app, "/oauth/token", "").await;
    assert_oauth_error(r, 400, "invalid_request").await;
    // GET is not a token request.
    let r = app
        .client
        .get(app.url("/oauth/token"))
        .send()
        .await
        .unwrap();
    assert_error(r, 405, "METHOD_NOT_ALLOWED").await;
}

#[tokio::test]
async fn token_claims() {
    let app = TestApp::spawn().await;
    let token = demo_token(&app).await;
    let parts: Vec<&str> = token.split('.').collect();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["typ"], "JWT");
    let c = claims(&token);
    let cid = app.creds.client_id.hex();
    assert_eq!(c["merchantId"], app.creds.merchant_id.hex().as_str());
    assert_eq!(c["azp"], cid.as_str());
    assert_eq!(c["sub"], format!("service-account-{cid}").as_str());
    assert_eq!(c["scope"], "merchant");
    assert_eq!(c["typ"], "Bearer");
    assert_eq!(c["iss"], format!("{}/realms/omno", app.base).as_str());
    let iat = c["iat"].as_i64().unwrap();
    let exp = c["exp"].as_i64().unwrap();
    assert_eq!(exp - iat, 300);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((iat - now).abs() <= 5, "iat {iat} vs now {now}");
    let jti = c["jti"].as_str().unwrap();
    assert!(is_hex32(jti), "{jti}");
    // A second token has its own jti.
    let c2 = claims(&demo_token(&app).await);
    assert_ne!(c2["jti"], c["jti"]);
}

#[tokio::test]
async fn access_token_expires_without_leeway() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("tok-exp", 10.0).await;
    let token = demo_token(&app).await;
    let path = format!("/public/payout/{id}");
    app.advance(time::Duration::seconds(298));
    assert_eq!(
        get_with(&app, &path, &format!("Bearer {token}"))
            .await
            .status(),
        200
    );
    // At exp (no leeway) and beyond: expired.
    app.advance(time::Duration::seconds(2));
    for _ in 0..2 {
        let r = get_with(&app, &path, &format!("Bearer {token}")).await;
        assert_eq!(
            r.headers().get("www-authenticate").unwrap(),
            "Bearer realm=\"omno\""
        );
        let v = assert_error(r, 401, "UNAUTHORIZED").await;
        assert_eq!(v["message"], "access token expired");
        app.advance(time::Duration::seconds(1));
    }
    // A fresh token works at the new time; the API key is unaffected.
    let fresh = demo_token(&app).await;
    assert_eq!(
        get_with(&app, &path, &format!("Bearer {fresh}"))
            .await
            .status(),
        200
    );
    assert_eq!(
        get_with(&app, &path, &app.creds.api_key).await.status(),
        200
    );
}

#[tokio::test]
async fn access_token_expired_after_301_seconds() {
    let app = TestApp::spawn().await;
    let token = demo_token(&app).await;
    app.advance(time::Duration::seconds(301));
    let r = get_with(
        &app,
        &format!("/public/payout/{UNKNOWN_ID}"),
        &format!("Bearer {token}"),
    )
    .await;
    let v = assert_error(r, 401, "UNAUTHORIZED").await;
    assert_eq!(v["message"], "access token expired");
}

#[tokio::test]
async fn tampered_tokens_are_invalid() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("tok-tamper", 10.0).await;
    let path = format!("/public/payout/{id}");
    let token = demo_token(&app).await;
    let parts: Vec<&str> = token.split('.').collect();

    // Flip one character in the middle of the signature.
    let mut sig: Vec<char> = parts[2].chars().collect();
    let i = sig.len() / 2;
    sig[i] = if sig[i] == 'A' { 'B' } else { 'A' };
    let sig: String = sig.into_iter().collect();
    let flipped = format!("{}.{}.{sig}", parts[0], parts[1]);

    // Another merchant id in the payload, original signature.
    let mut c = claims(&token);
    c["merchantId"] = json!(UNKNOWN_ID);
    let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
    let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);

    // Unsigned ("alg": "none").
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!("{none_header}.{}.", parts[1]);

    // Truncated.
    let truncated = format!("{}.{}", parts[0], parts[1]);

    for bad in [flipped, forged, unsigned, truncated] {
        let r = get_with(&app, &path, &format!("Bearer {bad}")).await;
        assert_eq!(
            r.headers().get("www-authenticate").unwrap(),
            "Bearer realm=\"omno\""
        );
        let v = assert_error(r, 401, "UNAUTHORIZED").await;
        assert_eq!(v["message"], "invalid credentials", "{bad}");
    }
    // The untouched token still works.
    assert_eq!(
        get_with(&app, &path, &format!("Bearer {token}"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn token_of_another_merchant_sees_only_its_own_payouts() {
    let app = TestApp::spawn().await;
    let ours = app.new_payout("tok-iso", 10.0).await;
    let r = create_merchant(&app, &json!({"name": "Iso GmbH"})).await;
    assert_eq!(r.status(), 201);
    let m: Value = r.json().await.unwrap();
    let body = form(
        "client_credentials",
        m["clientId"].as_str().unwrap(),
        m["clientSecret"].as_str().unwrap(),
    );
    let v = assert_token(post_form(&app, "/oauth/token", &body).await).await;
    let token = v["access_token"].as_str().unwrap();
    assert_eq!(claims(token)["merchantId"], m["merchantId"]);
    let r = get_with(
        &app,
        &format!("/public/payout/{ours}"),
        &format!("Bearer {token}"),
    )
    .await;
    assert_error(r, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn idempotency_scope_is_the_merchant_whatever_the_credential() {
    let app = TestApp::spawn().await;
    let token = demo_token(&app).await;
    let body = payout_body("tok-idem", 10.0, "EUR");
    let r = app
        .req(Method::POST, "/public/payout")
        .header("Idempotency-Key", "cross-credential")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let original = r.text().await.unwrap();
    let r = app
        .client
        .post(app.url("/public/payout"))
        .bearer_auth(&token)
        .header("Idempotency-Key", "cross-credential")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(r.text().await.unwrap(), original);
    let r = app
        .client
        .post(app.url("/public/payout"))
        .bearer_auth(&token)
        .header("Idempotency-Key", "cross-credential")
        .json(&payout_body("tok-idem-2", 10.0, "EUR"))
        .send()
        .await
        .unwrap();
    assert_error(r, 422, "IDEMPOTENCY_KEY_REUSED").await;
}

#[tokio::test]
async fn token_endpoint_body_limit_uses_the_envelope() {
    let app = TestApp::spawn().await;
    let body = format!("{}&pad={}", demo_form(&app), "x".repeat(70_000));
    let r = post_form(&app, "/oauth/token", &body).await;
    assert_error(r, 413, "PAYLOAD_TOO_LARGE").await;
}

// ---------------------------------------------------------------------------------------------
// Admin API: merchants

#[tokio::test]
async fn admin_requires_the_admin_token() {
    let app = TestApp::spawn().await;
    let body = json!({"name": "Nope GmbH"});
    let wrong = format!("{}x", app.admin_token);
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "missing credentials"),
        (Some(format!("Bearer {wrong}")), "invalid credentials"),
        (Some("Bearer adm_".to_string()), "invalid credentials"),
        (
            Some(format!("Bearer {}", app.creds.api_key)),
            "invalid credentials",
        ),
    ];
    for (auth, message) in cases {
        let mut b = app.client.post(app.url("/admin/merchants")).json(&body);
        if let Some(a) = &auth {
            b = b.header("Authorization", a);
        }
        let r = b.send().await.unwrap();
        let v = assert_error(r, 401, "UNAUTHORIZED").await;
        assert_eq!(v["message"], message, "{auth:?}");
        let mut b = app
            .client
            .get(app.url(&format!("/admin/merchants/{}", app.creds.merchant_id.hex())));
        if let Some(a) = &auth {
            b = b.header("Authorization", a);
        }
        assert_error(b.send().await.unwrap(), 401, "UNAUTHORIZED").await;
    }
    // Raw admin token (without Bearer) is accepted.
    let r = app
        .client
        .get(app.url(&format!("/admin/merchants/{}", app.creds.merchant_id.hex())))
        .header("Authorization", &app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // An access token is not an admin token.
    let token = demo_token(&app).await;
    let r = app
        .client
        .post(app.url("/admin/merchants"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(r, 401, "UNAUTHORIZED").await;
}

#[tokio::test]
async fn admin_creates_a_merchant_with_credentials() {
    let app = TestApp::spawn().await;
    let r = create_merchant(&app, &json!({"name": "Keller Sports GmbH"})).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers().get("content-type").unwrap(), "application/json");
    let m: Value = r.json().await.unwrap();
    let merchant_id = m["merchantId"].as_str().unwrap();
    let api_key = m["apiKey"].as_str().unwrap();
    let client_id = m["clientId"].as_str().unwrap();
    let client_secret = m["clientSecret"].as_str().unwrap();
    let webhook_secret = m["webhookSecret"].as_str().unwrap();
    assert!(is_hex32(merchant_id), "{merchant_id}");
    assert!(is_hex32(client_id), "{client_id}");
    assert!(has_alnum_tail(api_key, "sk_test_", 40), "{api_key}");
    assert!(has_alnum_tail(client_secret, "cs_", 40), "{client_secret}");
    assert!(
        has_alnum_tail(webhook_secret, "whsec_", 32),
        "{webhook_secret}"
    );
    assert_ne!(merchant_id, app.creds.merchant_id.hex());
    assert_ne!(api_key, app.creds.api_key);

    // The merchant object never carries secrets.
    let r = app
        .client
        .get(app.url(&format!("/admin/merchants/{merchant_id}")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    for secret in [api_key, client_secret, webhook_secret] {
        assert!(!text.contains(secret), "secret leaked: {text}");
    }
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["id"], merchant_id);
    assert_eq!(v["name"], "Keller Sports GmbH");
    assert_eq!(v["mode"], "test");
    assert_eq!(v["active"], true);
    assert_eq!(v["enabledCurrencies"], json!(["EUR", "USD", "GBP"]));
    assert_eq!(v["payoutConfirmationRequired"], true);
    assert_eq!(v["defaultRouterId"], Value::Null);
    assert_eq!(v["allowedFrameOrigins"], json!([]));
    for k in ["apiKey", "clientSecret", "webhookSecret"] {
        assert!(v.get(k).is_none(), "{k} in {v}");
    }
    assert!(v["createdAt"].as_str().unwrap().ends_with('Z'));

    // The list does not leak them either.
    let r = app
        .client
        .get(app.url("/admin/merchants"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    for secret in [
        api_key,
        client_secret,
        webhook_secret,
        app.creds.api_key.as_str(),
    ] {
        assert!(!text.contains(secret), "secret leaked in list");
    }

    // The new API key authenticates (404 for an unknown payout, not 401).
    for auth in [api_key.to_string(), format!("Bearer {api_key}")] {
        let r = get_with(&app, &format!("/public/payout/{UNKNOWN_ID}"), &auth).await;
        assert_error(r, 404, "NOT_FOUND").await;
    }
    // So do its client credentials.
    let v = assert_token(
        post_form(
            &app,
            "/oauth/token",
            &form("client_credentials", client_id, client_secret),
        )
        .await,
    )
    .await;
    let token = v["access_token"].as_str().unwrap();
    assert_eq!(claims(token)["merchantId"], merchant_id);
    let r = get_with(
        &app,
        &format!("/public/payout/{UNKNOWN_ID}"),
        &format!("Bearer {token}"),
    )
    .await;
    assert_error(r, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn admin_merchant_validation() {
    let app = TestApp::spawn().await;
    for body in [
        json!({"name": ""}),
        json!({"name": "   "}),
        json!({}),
        json!({"name": null}),
        json!({"name": 5}),
        json!({"name": "a".repeat(256)}),
    ] {
        let r = create_merchant(&app, &body).await;
        let v = assert_error(r, 400, "VALIDATION_ERROR").await;
        assert_eq!(fields(&v), vec!["name".to_string()], "{body}");
        assert_eq!(v["path"], "/admin/merchants");
    }
    let r = create_merchant(
        &app,
        &json!({"name": "", "mode": "prod", "enabledCurrencies": ["EUR", "eur"], "allowedFrameOrigins": ["shop.example.de"]}),
    )
    .await;
    let v = assert_error(r, 400, "VALIDATION_ERROR").await;
    assert_eq!(
        fields(&v),
        vec![
            "allowedFrameOrigins[0]".to_string(),
            "enabledCurrencies[1]".to_string(),
            "mode".to_string(),
            "name".to_string(),
        ]
    );
    // Malformed JSON uses the envelope too.
    let r = app
        .client
        .post(app.url("/admin/merchants"))
        .bearer_auth(&app.admin_token)
        .header("Content-Type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "MALFORMED_JSON").await;
    // Unknown / malformed merchant ids.
    for id in [UNKNOWN_ID, "nope"] {
        let r = app
            .client
            .get(app.url(&format!("/admin/merchants/{id}")))
            .bearer_auth(&app.admin_token)
            .send()
            .await
            .unwrap();
        assert_error(r, 404, "NOT_FOUND").await;
    }
}

#[tokio::test]
async fn live_mode_merchant_gets_a_live_key() {
    let app = TestApp::spawn().await;
    let r = create_merchant(&app, &json!({"name": "Live GmbH", "mode": "live"})).await;
    assert_eq!(r.status(), 201);
    let m: Value = r.json().await.unwrap();
    let key = m["apiKey"].as_str().unwrap();
    assert!(has_alnum_tail(key, "sk_live_", 40), "{key}");
    let r = get_with(&app, &format!("/public/payout/{UNKNOWN_ID}"), key).await;
    assert_error(r, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn admin_create_merchant_honours_idempotency_key() {
    let app = TestApp::spawn().await;
    let send = |name: &'static str| {
        app.client
            .post(app.url("/admin/merchants"))
            .bearer_auth(&app.admin_token)
            .header("Idempotency-Key", "admin-create-1")
            .json(&json!({"name": name}))
            .send()
    };
    let r = send("Retry GmbH").await.unwrap();
    assert_eq!(r.status(), 201);
    let original = r.text().await.unwrap();
    let r = send("Retry GmbH").await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(r.text().await.unwrap(), original);
    let r = send("Other Name GmbH").await.unwrap();
    assert_error(r, 422, "IDEMPOTENCY_KEY_REUSED").await;
}

#[tokio::test]
async fn admin_invalid_idempotency_key_is_listed_with_body_errors() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .post(app.url("/admin/merchants"))
        .bearer_auth(&app.admin_token)
        .header("Idempotency-Key", "bad key")
        .json(&json!({"name": ""}))
        .send()
        .await
        .unwrap();
    let v = assert_error(r, 400, "VALIDATION_ERROR").await;
    assert_eq!(
        fields(&v),
        vec!["Idempotency-Key".to_string(), "name".to_string()]
    );
}

#[tokio::test]
async fn admin_invalid_idempotency_key_alone() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .post(app.url("/admin/merchants"))
        .bearer_auth(&app.admin_token)
        .header("Idempotency-Key", "bad key")
        .json(&json!({"name": "Valid GmbH"}))
        .send()
        .await
        .unwrap();
    let v = assert_error(r, 400, "VALIDATION_ERROR").await;
    assert_eq!(fields(&v), vec!["Idempotency-Key".to_string()]);
}

#[tokio::test]
async fn eddsa_access_tokens_are_issued_and_verified() {
    use base64::Engine;
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref());
    let pem = format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n");
    let app = TestApp::spawn_with(|s| {
        s.auth.jwt_algorithm = "EdDSA".into();
        s.auth.jwt_ed25519_key = Some(pem);
    })
    .await;
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", app.creds.client_id.hex().as_str()),
            ("client_secret", app.creds.client_secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let token = r.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let header = token.split('.').next().unwrap();
    let header: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "JWT");
    let get = |t: String| {
        app.client
            .get(app.url("/public/payout/0190000000007000800000000000000f"))
            .bearer_auth(t)
            .send()
    };
    assert_eq!(get(token.clone()).await.unwrap().status(), 404, "verified");
    let mut forged = token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(get(forged).await.unwrap().status(), 401);
}
