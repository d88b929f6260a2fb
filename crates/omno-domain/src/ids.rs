//! Identifiers: UUIDv7 values shown as 32 lowercase hex digits (API.md §1.3).
//!
//! The domain never generates ids (no randomness here); callers pass in a fresh [`Uuid`].

use std::fmt;

use uuid::Uuid;

/// Parses exactly 32 lowercase hex digits. Any other spelling is not an id of ours (→ 404).
pub fn parse_hex32(s: &str) -> Option<Uuid> {
    if s.len() != 32
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    Uuid::try_parse(s).ok()
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Parses the 32-hex wire form; `None` for any other spelling.
            pub fn parse(s: &str) -> Option<Self> {
                parse_hex32(s).map(Self)
            }
            /// The 32-hex wire form.
            pub fn hex(&self) -> String {
                // Straight into a buffer: `to_string` would go through the formatting machinery.
                self.0.simple().encode_lower(&mut Uuid::encode_buffer()).to_owned()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.simple(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.simple())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.0.simple().encode_lower(&mut Uuid::encode_buffer()))
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).ok_or_else(|| serde::de::Error::custom("invalid id"))
            }
        }
    };
}

id_type!(
    /// A payout.
    PayoutId
);
id_type!(
    /// A payin.
    PayinId
);
id_type!(
    /// A merchant.
    MerchantId
);
id_type!(
    /// A customer: stable per (merchant, `externalUserId`).
    CustomerId
);
id_type!(
    /// A PSP account.
    PspAccountId
);
id_type!(
    /// A router.
    RouterId
);
id_type!(
    /// An OAuth client credential (`clientId`).
    ClientId
);
id_type!(
    /// An API key record.
    ApiKeyId
);
id_type!(
    /// A webhook event (`X-Omno-Event-Id`).
    EventId
);
id_type!(
    /// A merchant webhook endpoint.
    EndpointId
);
id_type!(
    /// One delivery of an event to one target.
    DeliveryId
);
id_type!(
    /// A saved card (vaulted PAN), per merchant and customer.
    CardId
);
id_type!(
    /// A refund of a payin.
    RefundId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_only_lowercase_32_hex() {
        let ok = "019cebabac0c784783a8a7235f0e5af5";
        assert_eq!(PayoutId::parse(ok).map(|p| p.hex()), Some(ok.to_string()));
        assert!(PayoutId::parse("019CEBABAC0C784783A8A7235F0E5AF5").is_none());
        assert!(PayoutId::parse("019cebab-ac0c-7847-83a8-a7235f0e5af5").is_none());
        assert!(PayoutId::parse("019cebabac0c784783a8a7235f0e5af").is_none());
        assert!(PayoutId::parse("zz9cebabac0c784783a8a7235f0e5af5").is_none());
    }
}
