//! Secrets at rest (docs/WEBHOOKS.md, "Secrets at rest"): the endpoints' `whsec_` secrets, the
//! workspaces' ed25519 seeds and the idempotent answers that show a secret are stored sealed
//! with the node's secrets key, never in clear. HMAC secrets and seeds must be usable to sign,
//! so they are encrypted (not hashed): XChaCha20-Poly1305 with a random 24-byte nonce per value,
//! bound to what the value is (its context: the endpoint, the key, the idempotency key), so a
//! sealed value copied into another row does not open there.
//!
//! A sealed value is text: `sealed:v1:<key id>:<base64 of nonce || ciphertext>`, where the key
//! id is the first 8 hex digits of the SHA-256 of the 32 key bytes, so a value sealed with
//! another key is reported by both ids rather than as an opaque failure. A value without the
//! `sealed:` prefix was written before values were sealed, and is read as it is.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

/// What every sealed value starts with; a value without it was stored in clear.
const SEALED: &str = "sealed:";
/// The format this code writes.
const V1: &str = "sealed:v1:";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// The key that seals secrets at rest (`CONVO_SECRETS_KEY`, or the key file): 32 bytes. Its
/// [`id`](SecretsKey::id) names it in errors and logs; the key itself is never shown.
#[derive(Clone)]
pub struct SecretsKey {
    cipher: Arc<XChaCha20Poly1305>,
    id: Arc<str>,
}

impl fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretsKey({})", self.id)
    }
}

/// Why a sealed value does not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// It was sealed with another key than this node's: every node sharing a database needs
    /// the same `CONVO_SECRETS_KEY`.
    #[error(
        "sealed with key {sealed_with}, this node has key {this_node}: every node sharing the database needs \
         the same CONVO_SECRETS_KEY"
    )]
    WrongKey { sealed_with: String, this_node: String },
    /// It names this node's key but does not open: it was altered, or moved from another row.
    #[error("a value sealed with key {key} does not open: it was altered, or belongs to another row")]
    Tampered { key: String },
    /// It is not a sealed value this code can read.
    #[error("a sealed value is malformed: {0}")]
    Malformed(&'static str),
}

impl SecretsKey {
    /// The key of these 32 bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        let digest = Sha256::digest(bytes);
        let id: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        let cipher = XChaCha20Poly1305::new(&bytes.into());
        Self { cipher: Arc::new(cipher), id: id.into() }
    }

    /// A new random key. What it seals cannot be opened by another process, nor after a
    /// restart: for tests and for a process that keeps nothing.
    pub fn random() -> Self {
        Self::new(random_bytes())
    }

    /// The key as `CONVO_SECRETS_KEY` gives it: 32 bytes in base64 (standard or URL-safe, with
    /// or without padding; `openssl rand -base64 32` makes one). The error never repeats the
    /// text, which may be a real key mistyped.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
        let text = text.trim();
        let bytes = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .ok_or("not base64: the key is 32 random bytes in base64, such as `openssl rand -base64 32` prints")?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|bytes: Vec<u8>| {
            format!(
                "{} bytes: the key is 32 random bytes in base64, such as `openssl rand -base64 32` prints",
                bytes.len()
            )
        })?;
        Ok(Self::new(bytes))
    }

    /// The key kept in the file at `path`, made (32 random bytes, base64, readable by its
    /// owner only) if there is none; `true` when it was made now. Two processes making it at
    /// once end up with the same key: the file appears whole or not at all, and once there it
    /// is never replaced.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), String> {
        match std::fs::read_to_string(path) {
            Ok(text) => return Ok((Self::from_file(path, &text)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let bytes = random_bytes();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("secrets-key");
        let suffix: String = random_bytes()[..6].iter().map(|b| format!("{b:02x}")).collect();
        let partial = path.with_file_name(format!(".{name}.{suffix}.partial"));
        let written = write_private(&partial, format!("{}\n", b64().encode(bytes)).as_bytes())
            .and_then(|()| std::fs::hard_link(&partial, path));
        let _ = std::fs::remove_file(&partial);
        match written {
            Ok(()) => Ok((Self::new(bytes), true)),
            // Another process made it first: theirs it is.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                Ok((Self::from_file(path, &text)?, false))
            }
            Err(e) => Err(format!("cannot create {}: {e}", path.display())),
        }
    }

    fn from_file(path: &Path, text: &str) -> Result<Self, String> {
        Self::from_base64(text).map_err(|e| {
            format!(
                "{} holds no secrets key ({e}); it is not replaced, as what was sealed with it opens with it only",
                path.display()
            )
        })
    }

    /// Its id: the first 8 hex digits of the SHA-256 of its 32 bytes
    /// (`echo "$CONVO_SECRETS_KEY" | base64 -d | sha256sum | cut -c1-8`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `plain`, sealed for `context` (what it is: only the same context opens it).
    pub fn seal(&self, context: &str, plain: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the operating system's random numbers");
        let aad = self.associated(context);
        let sealed = self
            .cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: plain.as_bytes(), aad: aad.as_bytes() })
            .expect("a secret far below the cipher's limit");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{V1}{}:{}", self.id, b64().encode(bytes))
    }

    /// The value `stored` holds for `context`: opened if it is sealed, as it is if it was stored
    /// in clear (before values were sealed).
    pub fn open(&self, context: &str, stored: &str) -> Result<String, SealError> {
        if !is_sealed(stored) {
            return Ok(stored.to_owned());
        }
        let rest = stored.strip_prefix(V1).ok_or(SealError::Malformed("an unknown version"))?;
        let (id, body) = rest.split_once(':').ok_or(SealError::Malformed("no key id"))?;
        if id != &*self.id {
            return Err(SealError::WrongKey { sealed_with: id.to_owned(), this_node: self.id.to_string() });
        }
        let bytes = b64().decode(body).map_err(|_| SealError::Malformed("not base64"))?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Malformed("too short"));
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Malformed("too short"))?;
        let aad = self.associated(context);
        let plain = self
            .cipher
            .decrypt(&XNonce::from(nonce), Payload { msg: sealed, aad: aad.as_bytes() })
            .map_err(|_| SealError::Tampered { key: self.id.to_string() })?;
        String::from_utf8(plain).map_err(|_| SealError::Malformed("not text"))
    }

    /// What is authenticated beside the ciphertext: the format, the key and the context.
    fn associated(&self, context: &str) -> String {
        format!("{V1}{}:{context}", self.id)
    }
}

/// Whether `stored` is a sealed value (else it was stored in clear).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(SEALED)
}

/// The id of the key `stored` was sealed with, if it is a sealed value of a known version.
pub fn sealed_with(stored: &str) -> Option<&str> {
    stored.strip_prefix(V1).and_then(|rest| rest.split_once(':')).map(|(id, _)| id)
}

fn random_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random numbers");
    bytes
}

/// Writes a new file that only its owner may read (mode 0600 on Unix), whole and synced.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_with_its_key_and_context_and_shows_nothing_of_it() {
        let key = SecretsKey::random();
        let secret = crate::signing::new_secret();
        let sealed = key.seal("webhook secret 1", &secret);
        assert!(sealed.starts_with(&format!("sealed:v1:{}:", key.id())), "{sealed}");
        assert_eq!(sealed_with(&sealed), Some(key.id()));
        assert!(!sealed.contains(&secret) && !sealed.contains(secret.trim_start_matches("whsec_")), "{sealed}");
        assert_eq!(key.open("webhook secret 1", &sealed).as_deref(), Ok(secret.as_str()));
        // A new nonce each time: the same secret never seals the same way twice.
        assert_ne!(key.seal("webhook secret 1", &secret), sealed);
        assert_eq!(key.id().len(), 8);
        assert!(key.id().bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn a_value_stored_in_clear_is_read_as_it_is() {
        let key = SecretsKey::random();
        assert!(!is_sealed("whsec_abc"));
        assert_eq!(key.open("anything", "whsec_abc").as_deref(), Ok("whsec_abc"));
    }

    #[test]
    fn an_altered_or_moved_value_does_not_open() {
        let key = SecretsKey::random();
        let sealed = key.seal("webhook secret 1", "whsec_abc");
        assert_eq!(key.open("webhook secret 2", &sealed), Err(SealError::Tampered { key: key.id().to_owned() }));
        let (head, body) = sealed.rsplit_once(':').expect("a body");
        let mut bytes = b64().decode(body).expect("base64");
        for i in [0, NONCE_LEN, bytes.len() - 1] {
            bytes[i] ^= 1;
            let altered = format!("{head}:{}", b64().encode(&bytes));
            assert_eq!(key.open("webhook secret 1", &altered), Err(SealError::Tampered { key: key.id().to_owned() }));
            bytes[i] ^= 1;
        }
        let short = format!("{head}:{}", b64().encode(&bytes[..NONCE_LEN + TAG_LEN - 1]));
        assert_eq!(key.open("webhook secret 1", &short), Err(SealError::Malformed("too short")));
        assert_eq!(key.open("x", "sealed:v2:abcd1234:AAAA"), Err(SealError::Malformed("an unknown version")));
        assert_eq!(key.open("x", &format!("sealed:v1:{}:%%%", key.id())), Err(SealError::Malformed("not base64")));
    }

    #[test]
    fn another_key_is_named_beside_this_nodes() {
        let (ours, theirs) = (SecretsKey::random(), SecretsKey::random());
        let sealed = theirs.seal("webhook secret 1", "whsec_abc");
        let error = ours.open("webhook secret 1", &sealed).expect_err("another key");
        assert_eq!(error, SealError::WrongKey { sealed_with: theirs.id().to_owned(), this_node: ours.id().to_owned() });
        let message = error.to_string();
        assert!(message.contains(&format!("sealed with key {}, this node has key {}", theirs.id(), ours.id())));
        assert!(!format!("{ours:?}").contains("cipher"), "the key is never shown: {ours:?}");
    }

    #[test]
    fn a_key_is_32_bytes_of_base64_and_its_id_is_its_sha256() {
        let bytes = [7u8; 32];
        let text = b64().encode(bytes);
        let key = SecretsKey::from_base64(&format!(" {text}\n")).expect("a key");
        let digest = Sha256::digest(bytes);
        assert_eq!(key.id(), format!("{:02x}{:02x}{:02x}{:02x}", digest[0], digest[1], digest[2], digest[3]));
        let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(SecretsKey::from_base64(&url_safe).expect("a key").id(), key.id());
        let short = SecretsKey::from_base64(&b64().encode([7u8; 16])).expect_err("16 bytes");
        assert!(short.starts_with("16 bytes"), "{short}");
        let secret = "not-a-key-but-a-secret!";
        let refused = SecretsKey::from_base64(secret).expect_err("not base64");
        assert!(!refused.contains(secret), "the text is never repeated: {refused}");
    }

    #[test]
    fn the_key_file_is_made_once_for_its_owner_and_then_read() {
        let dir = std::env::temp_dir().join(format!("convo-secrets-{}", uuid::Uuid::now_v7()));
        let path = dir.join("data").join("convo.secrets-key");
        let (made, created) = SecretsKey::load_or_create(&path).expect("made");
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("the file").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "readable by its owner only");
        }
        let (read, created) = SecretsKey::load_or_create(&path).expect("read");
        assert!(!created);
        assert_eq!(read.id(), made.id());
        let sealed = made.seal("c", "whsec_abc");
        assert_eq!(read.open("c", &sealed).as_deref(), Ok("whsec_abc"));
        assert_eq!(std::fs::read_dir(path.parent().expect("a dir")).expect("the dir").count(), 1, "no partial file");
        // A file that holds no key is an error, never replaced.
        std::fs::write(&path, "garbage").expect("write");
        let refused = SecretsKey::load_or_create(&path).expect_err("no key");
        assert!(refused.contains("holds no secrets key"), "{refused}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "garbage");
        // Many processes at once: one key for all.
        std::fs::remove_file(&path).expect("remove");
        let ids: Vec<String> = (0..8)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || SecretsKey::load_or_create(&path).expect("a key").0.id().to_owned())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().expect("a thread"))
            .collect();
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
