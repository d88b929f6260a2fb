//! Lenient request parsing that reports **every** invalid field (API.md §1.6, §1.7).
//!
//! A body is read as a map of raw JSON values ([`Obj`]); each known field is then checked on its
//! own, so a wrong type in one field never hides an error in another. Number fields keep their
//! exact JSON text, so amounts are parsed without binary floating point (§1.4). While reading,
//! each accessor records the field's canonical value, from which the idempotency fingerprint of
//! §1.8 is computed ([`canonical_fingerprint`]).

use std::borrow::Cow;

use omno_domain::errors::FieldErrors;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// A JSON object being validated: its raw fields, its path and the canonical form read so far.
pub struct Obj<'a> {
    path: String,
    fields: Fields<'a>,
    canon: Map<String, Value>,
}

/// The members of a JSON object in document order, values unparsed. Request objects have a
/// handful of keys, so a scan beats hashing; keys without escapes borrow from the body. A
/// repeated key counts once, with its last value (as a map would keep it).
#[derive(Default)]
struct Fields<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'a> Fields<'a> {
    fn get(&self, name: &str) -> Option<&'a RawValue> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| *v)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn len(&self) -> usize {
        let keys = &self.0;
        (0..keys.len())
            .filter(|&i| !keys[i + 1..].iter().any(|(k, _)| *k == keys[i].0))
            .count()
    }

    fn parse(text: &'a str) -> serde_json::Result<Fields<'a>> {
        serde_json::from_str(text)
    }
}

impl<'de> serde::Deserialize<'de> for Fields<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut m: M,
            ) -> Result<Self::Value, M::Error> {
                let mut out = Vec::with_capacity(m.size_hint().unwrap_or(8));
                while let Some(key) = m.next_key_seed(Key)? {
                    out.push((key, m.next_value::<&'de RawValue>()?));
                }
                Ok(Fields(out))
            }
        }
        d.deserialize_map(Members)
    }
}

/// A member name, borrowed from the body when it has no escapes.
struct Key;

impl<'de> serde::de::DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Key {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a member name")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// Turns a serde_json syntax error into the contract's `MALFORMED_JSON` message.
pub fn malformed(e: &serde_json::Error) -> ApiError {
    ApiError::MalformedJson(format!(
        "malformed JSON at line {} column {}",
        e.line(),
        e.column()
    ))
}

fn type_name(raw: &RawValue) -> &'static str {
    match raw.get().as_bytes().first() {
        Some(b'{') => "object",
        Some(b'[') => "array",
        Some(b'"') => "string",
        Some(b't' | b'f') => "boolean",
        Some(b'n') => "null",
        _ => "number",
    }
}

/// Deepest nesting of arrays and objects accepted in a request body. serde_json skips nested
/// values of unknown fields without a depth limit, and its `Value` parser stops at 128; one
/// limit for the whole body keeps free-form objects and ignored fields consistent.
pub const MAX_DEPTH: usize = 128;

/// Whether `body` nests arrays/objects deeper than `max` (brackets inside strings don't count).
/// A linear scan that never recurses, run before parsing.
pub fn too_deep(body: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                (false, _) => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

impl<'a> Obj<'a> {
    /// Parses a request body that must be a JSON object.
    pub fn root(body: &'a [u8]) -> Result<Obj<'a>, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::MalformedJson("request body is required".into()));
        }
        if too_deep(body, MAX_DEPTH) {
            return Err(ApiError::MalformedJson(format!(
                "JSON nesting deeper than {MAX_DEPTH} levels"
            )));
        }
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            // Not an object: tell malformed JSON from valid JSON of another type.
            let _: &RawValue = serde_json::from_slice(body).map_err(|e| malformed(&e))?;
            return Err(ApiError::MalformedJson(
                "request body must be a JSON object".into(),
            ));
        }
        let fields: Fields<'a> = serde_json::from_slice(body).map_err(|e| malformed(&e))?;
        Ok(Obj {
            path: String::new(),
            fields,
            canon: Map::new(),
        })
    }

    /// An empty object (optional body absent).
    pub fn empty() -> Obj<'static> {
        Obj {
            path: String::new(),
            fields: Fields::default(),
            canon: Map::new(),
        }
    }

    /// The dotted path of a field of this object.
    pub fn path_of(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// Keeps the value of `result`, or records its error for field `name` of this object and
    /// returns `None`. The field's path is only built for an error (most fields are valid).
    pub fn check<T, E: std::fmt::Display>(
        &self,
        name: &str,
        result: Result<T, E>,
        errs: &mut FieldErrors,
    ) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                errs.add(self.path_of(name), e.to_string());
                None
            }
        }
    }

    /// The raw value of a field; `None` when absent or `null` (§1.6: null = absent).
    fn raw(&self, name: &str) -> Option<&'a RawValue> {
        self.fields.get(name).filter(|r| r.get() != "null")
    }

    /// The raw JSON text of a field (absent or `null` → `None`), for list fields.
    pub fn raw_text(&self, name: &str) -> Option<&'a str> {
        self.raw(name).map(RawValue::get)
    }

    fn missing(&self, name: &str, required: bool, errs: &mut FieldErrors) {
        if required {
            errs.add(self.path_of(name), "is required");
        }
    }

    /// Number of keys (free-form limits).
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the object has no keys.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// A string field.
    pub fn string(&mut self, name: &str, required: bool, errs: &mut FieldErrors) -> Option<String> {
        let Some(raw) = self.raw(name) else {
            self.missing(name, required, errs);
            return None;
        };
        match serde_json::from_str::<String>(raw.get()) {
            Ok(s) => {
                self.canon
                    .insert(name.to_string(), Value::String(s.clone()));
                Some(s)
            }
            Err(_) => {
                errs.add(self.path_of(name), "must be a string");
                None
            }
        }
    }

    /// A boolean field.
    pub fn boolean(&mut self, name: &str, required: bool, errs: &mut FieldErrors) -> Option<bool> {
        let Some(raw) = self.raw(name) else {
            self.missing(name, required, errs);
            return None;
        };
        match raw.get() {
            "true" => {
                self.canon.insert(name.to_string(), Value::Bool(true));
                Some(true)
            }
            "false" => {
                self.canon.insert(name.to_string(), Value::Bool(false));
                Some(false)
            }
            _ => {
                errs.add(self.path_of(name), "must be a boolean");
                None
            }
        }
    }

    /// An integer field within `[min, max]`. `1.0` and `1e0` count as the integer 1.
    pub fn integer(
        &mut self,
        name: &str,
        required: bool,
        min: i64,
        max: i64,
        errs: &mut FieldErrors,
    ) -> Option<i64> {
        let Some(raw) = self.raw(name) else {
            self.missing(name, required, errs);
            return None;
        };
        if type_name(raw) != "number" {
            errs.add(self.path_of(name), "must be an integer");
            return None;
        }
        // An exponent-0 "amount" parse is an exact integer parse of any JSON number spelling.
        let v = match omno_domain::money::parse_balance(raw.get(), 0) {
            Ok(v) => Some(v.0),
            Err(omno_domain::money::AmountError::Negative) => {
                omno_domain::money::parse_balance(&raw.get()[1..], 0)
                    .ok()
                    .map(|v| -v.0)
            }
            Err(_) => None,
        };
        match v {
            Some(v) if (min..=max).contains(&v) => {
                self.canon.insert(name.to_string(), Value::from(v));
                Some(v)
            }
            Some(_) if min == 0 => {
                errs.add(self.path_of(name), "must not be negative");
                None
            }
            Some(_) => {
                errs.add(
                    self.path_of(name),
                    format!("must be between {min} and {max}"),
                );
                None
            }
            None => {
                errs.add(self.path_of(name), "must be an integer");
                None
            }
        }
    }

    /// A number field: its exact JSON text, to be parsed by the caller (amounts). The caller
    /// records the canonical value with [`Obj::set_canon`] once it knows the currency.
    pub fn number_text(
        &mut self,
        name: &str,
        required: bool,
        errs: &mut FieldErrors,
    ) -> Option<&'a str> {
        let Some(raw) = self.raw(name) else {
            self.missing(name, required, errs);
            return None;
        };
        if type_name(raw) != "number" {
            errs.add(self.path_of(name), "must be a number");
            return None;
        }
        Some(raw.get())
    }

    /// Records a canonical value for a field.
    pub fn set_canon(&mut self, name: &str, v: Value) {
        self.canon.insert(name.to_string(), v);
    }

    /// A nested object field. Finish it with [`Obj::put_child`] so its canonical form is kept.
    pub fn object(&self, name: &str, required: bool, errs: &mut FieldErrors) -> Option<Obj<'a>> {
        let Some(raw) = self.raw(name) else {
            self.missing(name, required, errs);
            return None;
        };
        if type_name(raw) != "object" {
            errs.add(self.path_of(name), "must be an object");
            return None;
        }
        match Fields::parse(raw.get()) {
            Ok(fields) => Some(Obj {
                path: self.path_of(name),
                fields,
                canon: Map::new(),
            }),
            Err(_) => {
                errs.add(self.path_of(name), "must be an object");
                None
            }
        }
    }

    /// An array of objects; a non-object element is an error at `name[i]`.
    pub fn objects(
        &self,
        name: &str,
        required: bool,
        errs: &mut FieldErrors,
    ) -> Option<Vec<Obj<'a>>> {
        let Some(raw) = self.raw(name) else {
            self.missing(name, required, errs);
            return None;
        };
        let Ok(items) = serde_json::from_str::<Vec<&'a RawValue>>(raw.get()) else {
            errs.add(self.path_of(name), "must be an array");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let path = format!("{}[{i}]", self.path_of(name));
            match Fields::parse(item.get()) {
                Ok(fields) if type_name(item) == "object" => out.push(Obj {
                    path,
                    fields,
                    canon: Map::new(),
                }),
                Ok(_) | Err(_) => errs.add(path, "must be an object"),
            }
        }
        Some(out)
    }

    /// An array of strings; a non-string element is an error at `name[i]`.
    pub fn strings(
        &self,
        name: &str,
        required: bool,
        errs: &mut FieldErrors,
    ) -> Option<Vec<String>> {
        let Some(raw) = self.raw(name) else {
            self.missing(name, required, errs);
            return None;
        };
        let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(raw.get()) else {
            errs.add(self.path_of(name), "must be an array");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            match serde_json::from_str::<String>(item.get()) {
                Ok(s) => out.push(s),
                Err(_) => errs.add(format!("{}[{i}]", self.path_of(name)), "must be a string"),
            }
        }
        Some(out)
    }

    /// Whether the field is present and not `null`.
    pub fn has(&self, name: &str) -> bool {
        self.raw(name).is_some()
    }

    /// Whether the field is present with an explicit `null` (PATCH clears).
    pub fn is_null(&self, name: &str) -> bool {
        self.fields.get(name).is_some_and(|r| r.get() == "null")
    }

    /// Stores a finished child's canonical form under `name`.
    pub fn put_child(&mut self, name: &str, child: Obj<'a>) {
        self.canon
            .insert(name.to_string(), Value::Object(child.canon));
    }

    /// A free-form object field, kept in full: `(value, compact JSON text)`.
    pub fn free_object(
        &mut self,
        name: &str,
        required: bool,
        max_keys: usize,
        errs: &mut FieldErrors,
    ) -> Option<Map<String, Value>> {
        let Some(raw) = self.raw(name) else {
            self.missing(name, required, errs);
            return None;
        };
        match serde_json::from_str::<Value>(raw.get()) {
            Ok(Value::Object(m)) if m.len() <= max_keys => {
                self.canon
                    .insert(name.to_string(), canonical_value(&Value::Object(m.clone())));
                Some(m)
            }
            Ok(Value::Object(_)) => {
                errs.add(
                    self.path_of(name),
                    format!("must have at most {max_keys} keys"),
                );
                None
            }
            Ok(_) | Err(_) => {
                errs.add(self.path_of(name), "must be an object");
                None
            }
        }
    }

    /// The canonical form read so far.
    pub fn into_canon(self) -> Map<String, Value> {
        self.canon
    }
}

/// Normalizes numbers so equal values have one spelling (`100` = `100.0` = `1e2`).
fn canonical_value(v: &Value) -> Value {
    match v {
        Value::Number(n) => {
            if n.is_i64() || n.is_u64() {
                v.clone()
            } else {
                match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
                    Some(_) | None => v.clone(),
                }
            }
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), canonical_value(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(canonical_value).collect()),
        Value::Null | Value::Bool(_) | Value::String(_) => v.clone(),
    }
}

/// SHA-256 hex of `prefix` + the canonical JSON (keys sorted, compact) of `canon`.
pub fn canonical_fingerprint(prefix: &str, canon: &Map<String, Value>) -> String {
    fingerprint(prefix, &canonical_text(canon))
}

/// The fingerprints of a create request (§1.8), rendering the canonical JSON once: the `orderId`
/// one (no prefix) and, only when `idem_prefix` is given (an `Idempotency-Key` came with the
/// request), the idempotency one; without a key the second is empty and never used.
pub fn create_fingerprints(idem_prefix: Option<&str>, canon: &Map<String, Value>) -> [String; 2] {
    let text = canonical_text(canon);
    [
        fingerprint("", &text),
        idem_prefix.map_or_else(String::new, |p| fingerprint(p, &text)),
    ]
}

fn canonical_text(canon: &Map<String, Value>) -> Vec<u8> {
    // serde_json's Map is a BTreeMap (no preserve_order): keys serialize sorted by code point.
    serde_json::to_vec(canon).unwrap_or_default()
}

fn fingerprint(prefix: &str, text: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(prefix.as_bytes());
    h.update(text);
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_error_is_reported() {
        let body = br#"{"a": "x", "b": 3, "c": {"d": true}, "e": null}"#;
        let mut o = Obj::root(body).unwrap();
        let mut errs = FieldErrors::new();
        assert!(o.boolean("a", true, &mut errs).is_none());
        assert!(o.string("b", true, &mut errs).is_none());
        let c = o.object("c", true, &mut errs).unwrap();
        assert!(c.path_of("d") == "c.d");
        assert!(o.string("e", true, &mut errs).is_none());
        let fields: Vec<_> = errs.iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["a", "b", "e"]);
    }

    #[test]
    fn fingerprint_ignores_key_order_whitespace_and_number_spelling() {
        let fp = |b: &[u8]| {
            let mut o = Obj::root(b).unwrap();
            let mut e = FieldErrors::new();
            o.string("s", false, &mut e);
            o.free_object("f", false, 64, &mut e);
            o.integer("i", false, 0, 100, &mut e);
            canonical_fingerprint("x", &o.into_canon())
        };
        let a = fp(br#"{"s":"v","f":{"b":100,"a":[1]},"i":3,"unknown":1}"#);
        let b = fp(br#"{ "i": 3.0, "f": {"a":[1], "b": 1e2}, "s": "v" }"#);
        assert_eq!(a, b);
        assert_ne!(a, fp(br#"{"s":"V","f":{"b":100,"a":[1]},"i":3}"#));
        assert_ne!(fp(br#"{"s":"v"}"#), fp(br#"{"s":"v","i":0}"#));
    }

    #[test]
    fn nesting_depth_ignores_brackets_in_strings() {
        assert!(!too_deep(br#"{"a":[[1]]}"#, 3));
        assert!(too_deep(br#"{"a":[[[1]]]}"#, 3));
        assert!(!too_deep(br#"{"a":"[[[[\"[[[["}"#, 1));
        assert!(too_deep(&b"[".repeat(200), MAX_DEPTH));
    }

    #[test]
    fn non_object_bodies_are_malformed() {
        for b in [&b"[]"[..], b"3", b"\"x\"", b"", b"  ", b"{", b"{\"a\":}"] {
            assert!(
                matches!(Obj::root(b), Err(ApiError::MalformedJson(_))),
                "{b:?}"
            );
        }
    }
}
