//! A contact's identities (issue #18): how a channel names a person. Each is a kind and a value
//! in the kind's one canonical spelling, so that the same person reached twice is the same
//! identity: a phone in E.164, an email in lower case, the channels' own ids as they give them.
//!
//! An identity belongs to one contact of a workspace at a time. [`Identity::id`] is the
//! identity's deterministic id in its workspace (UUIDv5, like [`crate::conversation_id`]): the
//! stream that records who holds it, so two inbound messages from a new number at the same
//! moment race for one stream and one of them wins.

use serde::{Deserialize, Serialize};

/// The namespace of deterministic identity ids (UUIDv5).
pub const IDENTITY_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x3b6f_0d9e_54a1_4c27_9e08_d1f2_a3b4_c5d6);

/// The longest value of any kind, in characters.
pub const MAX_IDENTITY_CHARS: usize = 200;

/// How a channel names a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    /// A phone number in E.164: `+`, then 8 to 15 digits, the first not 0 (SMS, RCS, voice, and
    /// WhatsApp while it still gives the number).
    Phone,
    /// An email address: one `@` with something on each side, no whitespace; kept in lower case.
    Email,
    /// WhatsApp's business-scoped user id (from 2026 the phone may be missing from messages).
    WhatsappBsuid,
    /// A WhatsApp username, without its `@`; kept in lower case.
    WhatsappUsername,
    /// Messenger's page-scoped id: digits.
    MessengerPsid,
    /// Instagram's scoped id: digits.
    InstagramIgsid,
    /// A Telegram user id: digits.
    TelegramId,
    /// The web chat's visitor id, as the widget gives it.
    WebchatVisitor,
}

impl IdentityKind {
    pub const ALL: [IdentityKind; 8] = [
        Self::Phone,
        Self::Email,
        Self::WhatsappBsuid,
        Self::WhatsappUsername,
        Self::MessengerPsid,
        Self::InstagramIgsid,
        Self::TelegramId,
        Self::WebchatVisitor,
    ];

    /// The kind as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Phone => "phone",
            Self::Email => "email",
            Self::WhatsappBsuid => "whatsapp_bsuid",
            Self::WhatsappUsername => "whatsapp_username",
            Self::MessengerPsid => "messenger_psid",
            Self::InstagramIgsid => "instagram_igsid",
            Self::TelegramId => "telegram_id",
            Self::WebchatVisitor => "webchat_visitor",
        }
    }

    /// What a value of this kind must look like, said to whoever sent one that does not.
    fn shape(self) -> &'static str {
        match self {
            Self::Phone => "a phone number in E.164: + and 8 to 15 digits, the first not 0",
            Self::Email => "an email address: one @ with something on each side, no spaces",
            Self::MessengerPsid | Self::InstagramIgsid | Self::TelegramId => "digits only",
            Self::WhatsappBsuid | Self::WhatsappUsername | Self::WebchatVisitor => "no spaces",
        }
    }
}

/// An identity: a kind and its value, canonical.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Identity {
    pub kind: IdentityKind,
    pub value: String,
}

/// Why a value is not an identity of its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a {kind} identity: it must be {shape}", kind = kind.as_str(), shape = kind.shape())]
pub struct IdentityError {
    pub kind: IdentityKind,
    pub value: String,
}

impl Identity {
    /// The identity of `kind` that `value` spells, canonical: surrounding whitespace trimmed;
    /// an email and a WhatsApp username in lower case, the username without a leading `@`.
    pub fn new(kind: IdentityKind, value: &str) -> Result<Self, IdentityError> {
        let refused = || IdentityError { kind, value: value.to_owned() };
        let trimmed = value.trim();
        let canonical = match kind {
            IdentityKind::Email | IdentityKind::WhatsappUsername => {
                let lower = trimmed.to_lowercase();
                if kind == IdentityKind::WhatsappUsername { lower.trim_start_matches('@').to_owned() } else { lower }
            }
            _ => trimmed.to_owned(),
        };
        let chars = canonical.chars().count();
        if chars == 0 || chars > MAX_IDENTITY_CHARS || canonical.chars().any(char::is_whitespace) {
            return Err(refused());
        }
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let fits = match kind {
            IdentityKind::Phone => canonical
                .strip_prefix('+')
                .is_some_and(|n| digits(n) && (8..=15).contains(&n.len()) && !n.starts_with('0')),
            IdentityKind::Email => canonical
                .split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty() && !domain.contains('@')),
            IdentityKind::MessengerPsid | IdentityKind::InstagramIgsid | IdentityKind::TelegramId => digits(&canonical),
            IdentityKind::WhatsappBsuid | IdentityKind::WhatsappUsername | IdentityKind::WebchatVisitor => true,
        };
        if fits { Ok(Self { kind, value: canonical }) } else { Err(refused()) }
    }

    /// `kind:value`, e.g. `phone:+4915100000001`: one string per identity.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind.as_str(), self.value)
    }

    /// The identity's id in `workspace_id`: the same for the same identity, whoever asks.
    pub fn id(&self, workspace_id: uuid::Uuid) -> uuid::Uuid {
        let key = self.key();
        let mut name = Vec::with_capacity(16 + key.len());
        name.extend_from_slice(workspace_id.as_bytes());
        name.extend_from_slice(key.as_bytes());
        uuid::Uuid::new_v5(&IDENTITY_NAMESPACE, &name)
    }
}

#[cfg(test)]
mod tests {
    use super::IdentityKind::*;
    use super::*;

    fn ok(kind: IdentityKind, value: &str) -> String {
        Identity::new(kind, value).unwrap_or_else(|e| panic!("{e}")).value
    }

    #[test]
    fn each_kind_keeps_one_spelling() {
        assert_eq!(ok(Phone, " +4915100000001 "), "+4915100000001");
        assert_eq!(ok(Email, "Ada.Lovelace@Example.COM"), "ada.lovelace@example.com");
        assert_eq!(ok(WhatsappUsername, "@Ada_L"), "ada_l");
        assert_eq!(ok(WhatsappBsuid, "US.13491208655302741918"), "US.13491208655302741918");
        assert_eq!(ok(TelegramId, "123456789"), "123456789");
        assert_eq!(ok(WebchatVisitor, "v_01JQ3"), "v_01JQ3");
        let same = |a: &str, b: &str| Identity::new(Email, a).ok() == Identity::new(Email, b).ok();
        assert!(same("ADA@example.com", "ada@EXAMPLE.com"), "one person, one identity");
    }

    #[test]
    fn a_value_of_the_wrong_shape_is_refused_saying_what_it_must_be() {
        for (kind, value) in [
            (Phone, "015100000001"),      // no +
            (Phone, "+0151000000"),       // a leading 0
            (Phone, "+49 151 000"),       // spaces
            (Phone, "+1234567"),          // 7 digits
            (Phone, "+1234567890123456"), // 16 digits
            (Email, "ada.example.com"),
            (Email, "@example.com"),
            (Email, "ada@"),
            (Email, "ada@b@c"),
            (MessengerPsid, "12a4"),
            (TelegramId, ""),
            (WebchatVisitor, "   "),
            (WhatsappBsuid, "two words"),
        ] {
            let e = Identity::new(kind, value).expect_err(value);
            assert_eq!((e.kind, e.value.as_str()), (kind, value));
            assert!(e.to_string().contains(kind.as_str()), "{e}");
        }
        let long = "a".repeat(MAX_IDENTITY_CHARS + 1);
        assert!(Identity::new(WebchatVisitor, &long).is_err());
        assert!(Identity::new(WebchatVisitor, &long[1..]).is_ok());
    }

    #[test]
    fn an_identity_has_one_id_per_workspace() {
        let (ours, theirs) = (uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2));
        let a = Identity::new(Phone, "+4915100000001").expect("a phone");
        let b = Identity::new(Phone, " +4915100000001").expect("the same phone");
        assert_eq!(a.id(ours), b.id(ours));
        assert_ne!(a.id(ours), a.id(theirs));
        assert_ne!(a.id(ours), Identity::new(TelegramId, "4915100000001").expect("digits").id(ours));
        assert_eq!(a.key(), "phone:+4915100000001");
    }

    #[test]
    fn kinds_are_spelled_as_in_json() {
        for kind in IdentityKind::ALL {
            assert_eq!(serde_json::to_value(kind).expect("json"), serde_json::json!(kind.as_str()));
        }
        let parsed: Identity = serde_json::from_str(r#"{"kind": "whatsapp_bsuid", "value": "x"}"#).expect("json");
        assert_eq!(parsed.kind, WhatsappBsuid);
    }
}
