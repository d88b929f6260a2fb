//! Secrets and the cryptography around them: random credentials, hashing of API keys and client
//! secrets, the AES-256-GCM vault, hosted-page tokens and `cardHash`.
//!
//! Keys come from configuration; in `dev` mode a missing key is generated once and stored in the
//! database, so tokens and encrypted values survive restarts and are shared by every node.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use rand::Rng;
use rand::distributions::Alphanumeric;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::config::Settings;
use omno_store::Store;

type HmacSha256 = Hmac<Sha256>;

/// `n` random `[A-Za-z0-9]` characters from the OS CSPRNG.
pub fn random_alnum(n: usize) -> String {
    rand::rngs::OsRng
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// 32 random bytes, hex.
pub fn random_key_hex() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill(&mut b);
    hex::encode(b)
}

/// Lowercase hex SHA-256: how API keys and client secrets are stored and looked up.
pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Constant-time equality of two strings.
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Hex HMAC-SHA256.
pub fn hmac_hex(key: &[u8], msg: &[u8]) -> String {
    hex::encode(hmac_bytes(key, msg))
}

fn hmac_bytes(key: &[u8], msg: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    match <HmacSha256 as Mac>::new_from_slice(key) {
        Ok(m) => finish(m, msg).to_vec(),
        Err(_) => Vec::new(),
    }
}

/// HMAC-SHA256 keyed with `key` (HMAC takes keys of any length; the error cannot happen).
fn keyed(key: &[u8], name: &str) -> anyhow::Result<HmacSha256> {
    <HmacSha256 as Mac>::new_from_slice(key).map_err(|_| anyhow::anyhow!("{name}: invalid key"))
}

/// HMAC-SHA256 of `msg` under a keyed state (kept for the next use).
fn mac_of(keyed: &HmacSha256, msg: &[u8]) -> [u8; 32] {
    finish(keyed.clone(), msg)
}

fn finish(mut m: HmacSha256, msg: &[u8]) -> [u8; 32] {
    m.update(msg);
    m.finalize().into_bytes().into()
}

/// The server's keys, resolved at start-up.
#[derive(Clone)]
pub struct Keys {
    /// Access-token signing and verification keys.
    pub jwt: JwtKeys,
    /// `cardHash` MAC, keyed once (each use clones the state after the key blocks).
    card_hash: HmacSha256,
    /// Hosted-page token MAC, keyed once.
    hpp_token: HmacSha256,
    vault: Aes256Gcm,
}

fn key32(hex_str: &str, name: &str) -> anyhow::Result<[u8; 32]> {
    let b = hex::decode(hex_str).map_err(|_| anyhow::anyhow!("{name} must be hex"))?;
    b.try_into()
        .map_err(|_| anyhow::anyhow!("{name} must be 32 bytes"))
}

/// Access-token keys: HS256 (`auth.jwt_secret`) or EdDSA (`auth.jwt_ed25519_key`, PKCS#8 PEM).
#[derive(Clone)]
pub struct JwtKeys {
    /// Header algorithm.
    pub algorithm: jsonwebtoken::Algorithm,
    /// Signing key.
    pub encoding: jsonwebtoken::EncodingKey,
    /// Verification key.
    pub decoding: jsonwebtoken::DecodingKey,
}

impl JwtKeys {
    /// HS256 with a shared secret.
    pub fn hs256(secret: &[u8]) -> JwtKeys {
        JwtKeys {
            algorithm: jsonwebtoken::Algorithm::HS256,
            encoding: jsonwebtoken::EncodingKey::from_secret(secret),
            decoding: jsonwebtoken::DecodingKey::from_secret(secret),
        }
    }

    /// EdDSA from an Ed25519 private key in PKCS#8 PEM; the public key is derived from it.
    pub fn ed25519(pem: &str) -> anyhow::Result<JwtKeys> {
        let body: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::trim)
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| anyhow::anyhow!("auth.jwt_ed25519_key is not PEM"))?;
        let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
            .map_err(|_| anyhow::anyhow!("auth.jwt_ed25519_key is not an Ed25519 PKCS#8 key"))?;
        use aws_lc_rs::signature::KeyPair;
        Ok(JwtKeys {
            algorithm: jsonwebtoken::Algorithm::EdDSA,
            encoding: jsonwebtoken::EncodingKey::from_ed_der(&der),
            decoding: jsonwebtoken::DecodingKey::from_ed_der(pair.public_key().as_ref()),
        })
    }
}

impl Keys {
    /// Resolves every key: configured, else (dev mode) generated once and kept in the database.
    pub async fn load(settings: &Settings, store: &dyn Store) -> anyhow::Result<Keys> {
        async fn get(
            store: &dyn Store,
            configured: &Option<String>,
            name: &str,
        ) -> anyhow::Result<String> {
            match configured {
                Some(v) => Ok(v.clone()),
                None => Ok(store
                    .init_setting(&format!("key.{name}"), &random_key_hex())
                    .await?),
            }
        }
        let jwt = get(store, &settings.auth.jwt_secret, "jwt_secret").await?;
        let card = get(store, &settings.security.card_hash_key, "card_hash_key").await?;
        let vault = get(store, &settings.security.vault_key, "vault_key").await?;
        let hpp = get(store, &settings.security.hpp_token_key, "hpp_token_key").await?;
        let vault_key = key32(&vault, "security.vault_key")?;
        let jwt = match (
            settings.auth.jwt_algorithm.as_str(),
            settings.auth.jwt_ed25519_key.as_deref(),
        ) {
            ("EdDSA", Some(pem)) => JwtKeys::ed25519(pem)?,
            ("EdDSA", None) => {
                anyhow::bail!("auth.jwt_algorithm = EdDSA needs auth.jwt_ed25519_key")
            }
            _ => JwtKeys::hs256(jwt.as_bytes()),
        };
        Ok(Keys {
            jwt,
            card_hash: keyed(&key32(&card, "security.card_hash_key")?, "card_hash_key")?,
            hpp_token: keyed(&key32(&hpp, "security.hpp_token_key")?, "hpp_token_key")?,
            vault: Aes256Gcm::new((&vault_key).into()),
        })
    }

    /// Encrypts with the vault key: 12-byte random nonce ‖ ciphertext+tag.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill(&mut nonce);
        let mut out = nonce.to_vec();
        if let Ok(ct) = self.vault.encrypt(Nonce::from_slice(&nonce), plaintext) {
            out.extend_from_slice(&ct);
        }
        out
    }

    /// Decrypts a [`Keys::seal`] output.
    pub fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < 12 + 16 {
            return None;
        }
        let (nonce, ct) = sealed.split_at(12);
        self.vault.decrypt(Nonce::from_slice(nonce), ct).ok()
    }

    /// `cardHash`: lowercase hex HMAC-SHA256(card_hash_key, PAN digits).
    pub fn card_hash(&self, pan_digits: &str) -> String {
        hex::encode(mac_of(&self.card_hash, pan_digits.as_bytes()))
    }

    /// A hosted-page token bound to (kind, id, page, expiry): `hpt1.<payload>.<mac>`.
    pub fn page_token(&self, kind: &str, id: &str, page: &str, expires: OffsetDateTime) -> String {
        let mut token = String::new();
        self.push_page_token(&mut token, kind, id, page, expires);
        token
    }

    /// Appends [`Keys::page_token`] to `out` (a URL being built), without formatting machinery.
    pub fn push_page_token(
        &self,
        out: &mut String,
        kind: &str,
        id: &str,
        page: &str,
        expires: OffsetDateTime,
    ) {
        let mut payload = String::with_capacity(kind.len() + id.len() + page.len() + 24);
        for part in [kind, "|", id, "|", page, "|"] {
            payload.push_str(part);
        }
        payload.push_str(itoa::Buffer::new().format(expires.unix_timestamp()));
        // The MAC covers the token's own prefix `hpt1.<payload>`.
        let start = out.len();
        out.reserve(5 + payload.len().div_ceil(3) * 4 + 1 + 32);
        out.push_str("hpt1.");
        B64.encode_string(payload.as_bytes(), out);
        let mac = mac_of(&self.hpp_token, &out.as_bytes()[start..]);
        out.push('.');
        B64.encode_string(&mac[..24], out);
    }

    /// Verifies a page token for (kind, id, page) at `now`.
    pub fn check_page_token(
        &self,
        token: &str,
        kind: &str,
        id: &str,
        page: &str,
        now: OffsetDateTime,
    ) -> bool {
        let mut parts = token.split('.');
        let (Some("hpt1"), Some(p), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let expected = mac_of(&self.hpp_token, format!("hpt1.{p}").as_bytes());
        let Ok(given) = B64.decode(mac) else {
            return false;
        };
        if given.len() != 24 || !bool::from(given.ct_eq(&expected[..24])) {
            return false;
        }
        let Some(payload) = B64.decode(p).ok().and_then(|b| String::from_utf8(b).ok()) else {
            return false;
        };
        let f: Vec<&str> = payload.split('|').collect();
        let [k, i, pg, exp] = f.as_slice() else {
            return false;
        };
        let Ok(exp) = exp.parse::<i64>() else {
            return false;
        };
        *k == kind && *i == id && *pg == page && now.unix_timestamp() < exp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys {
            jwt: JwtKeys::hs256(&[1; 32]),
            card_hash: keyed(&[2; 32], "card").unwrap(),
            hpp_token: keyed(&[3; 32], "hpp").unwrap(),
            vault: Aes256Gcm::new((&[4u8; 32]).into()),
        }
    }

    #[test]
    fn vault_round_trip_and_tamper() {
        let k = keys();
        let sealed = k.seal(b"4111111111111111");
        assert!(!sealed.windows(16).any(|w| w == b"4111111111111111"));
        assert_eq!(k.open(&sealed).as_deref(), Some(&b"4111111111111111"[..]));
        let mut bad = sealed.clone();
        bad[20] ^= 1;
        assert_eq!(k.open(&bad), None);
    }

    #[test]
    fn keyed_macs_equal_a_fresh_hmac() {
        let k = keys();
        let pan = "4111111111111111";
        assert_eq!(k.card_hash(pan), hmac_hex(&[2; 32], pan.as_bytes()));
        assert_eq!(
            k.card_hash(pan),
            k.card_hash(pan),
            "the keyed state is not consumed"
        );
        let t = k.page_token("payin", "abc", "card", OffsetDateTime::UNIX_EPOCH);
        let (signed, mac) = t.rsplit_once('.').unwrap();
        assert_eq!(
            B64.decode(mac).unwrap(),
            hmac_bytes(&[3; 32], signed.as_bytes())[..24]
        );
    }

    #[test]
    fn page_tokens_are_bound_and_expire() {
        let k = keys();
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(1000);
        let t = k.page_token("payout", "abc", "card", now + time::Duration::hours(1));
        assert!(t.len() <= 256);
        assert!(k.check_page_token(&t, "payout", "abc", "card", now));
        assert!(!k.check_page_token(&t, "payout", "abc", "apm", now));
        assert!(!k.check_page_token(&t, "payout", "abd", "card", now));
        assert!(!k.check_page_token(&t, "payin", "abc", "card", now));
        assert!(!k.check_page_token(&t, "payout", "abc", "card", now + time::Duration::hours(2)));
        assert!(!k.check_page_token(&format!("{t}x"), "payout", "abc", "card", now));
    }
}
