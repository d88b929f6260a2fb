//! Field-level validation errors.
//!
//! Contract (API.md §1.7): a 400 lists **every** invalid field, one entry per field (its first
//! failing rule), sorted by field path. [`FieldErrors`] collects them while a request is parsed.

use std::collections::BTreeMap;

/// One invalid field: its dotted JSON path and a human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path, `[i]` for array items (`customer.billing.countryCode`).
    pub field: String,
    /// Human text; not stable.
    pub message: String,
}

/// Collects the first error of each field; iteration is sorted by field path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors {
    by_field: BTreeMap<String, String>,
}

impl FieldErrors {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `message` for `field` unless the field already has an error (first rule wins).
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.by_field
            .entry(field.into())
            .or_insert_with(|| message.into());
    }

    /// Keeps the value of `result`, or records its error for `field` and returns `None`.
    pub fn take<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, e.to_string());
                None
            }
        }
    }

    /// Whether `field` already has an error.
    pub fn has(&self, field: &str) -> bool {
        self.by_field.contains_key(field)
    }

    /// True when no field failed.
    pub fn is_empty(&self) -> bool {
        self.by_field.is_empty()
    }

    /// Number of invalid fields.
    pub fn len(&self) -> usize {
        self.by_field.len()
    }

    /// `Ok(())` when empty, else `Err(self)`.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }

    /// Moves every error of `other` into `self`, prefixing paths with `prefix.`.
    pub fn merge_prefixed(&mut self, prefix: &str, other: FieldErrors) {
        for (f, m) in other.by_field {
            self.add(format!("{prefix}.{f}"), m);
        }
    }

    /// The errors, sorted by field path.
    pub fn iter(&self) -> impl Iterator<Item = FieldError> + '_ {
        self.by_field.iter().map(|(f, m)| FieldError {
            field: f.clone(),
            message: m.clone(),
        })
    }

    /// A single-field error set.
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut e = Self::new();
        e.add(field, message);
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_error_per_field_wins_and_order_is_sorted() {
        let mut e = FieldErrors::new();
        e.add("value", "must be greater than 0");
        e.add("customer.email", "must be a valid email address");
        e.add("value", "second");
        let v: Vec<_> = e.iter().map(|x| (x.field, x.message)).collect();
        assert_eq!(
            v,
            vec![
                (
                    "customer.email".to_string(),
                    "must be a valid email address".to_string()
                ),
                ("value".to_string(), "must be greater than 0".to_string()),
            ]
        );
    }
}
