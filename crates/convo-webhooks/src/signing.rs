//! Standard Webhooks signatures (spec 1.0), made with the `standardwebhooks` crate: `v1` is an
//! HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}` with the endpoint's secret.

use base64::Engine;

/// A new endpoint secret: `whsec_` and 24 random bytes in base64, as the spec's libraries read it.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).expect("the operating system's random numbers");
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The `webhook-signature` header's value for one delivery attempt: a `v1` signature with each
/// of `secrets` (space-separated: during a rotation's overlap, the new and the old), so a
/// receiver that knows either verifies it.
pub fn sign(secrets: &str, webhook_id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    sign_with(secrets, &[], webhook_id, timestamp, body)
}

/// [`sign`], and a `v1a` signature (ed25519 over the same `{id}.{timestamp}.{body}`) with each
/// of the workspace's signing `keys`.
pub fn sign_with(
    secrets: &str,
    keys: &[ed25519_dalek::SigningKey],
    webhook_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, String> {
    use ed25519_dalek::Signer;
    let mut signatures = Vec::new();
    for secret in secrets.split_whitespace() {
        let webhook = standardwebhooks::Webhook::new(secret).map_err(|e| format!("an endpoint secret: {e}"))?;
        signatures.push(webhook.sign(webhook_id, timestamp, body).map_err(|e| format!("signing: {e}"))?);
    }
    if signatures.is_empty() {
        return Err("an endpoint without a secret".into());
    }
    let mut signed = format!("{webhook_id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    for key in keys {
        signatures
            .push(format!("v1a,{}", base64::engine::general_purpose::STANDARD.encode(key.sign(&signed).to_bytes())));
    }
    Ok(signatures.join(" "))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_signature_verifies_with_the_standard_library() {
        let secret = super::new_secret();
        let body = br#"{"position":1}"#;
        let now = chrono::Utc::now().timestamp();
        let signature = super::sign(&secret, "msg_1", now, body).expect("signed");
        assert!(signature.starts_with("v1,"), "{signature}");
        let mut headers = http_headers(&signature, now);
        let webhook = standardwebhooks::Webhook::new(&secret).expect("secret");
        assert!(webhook.verify(body, &headers).is_ok());
        headers.insert("webhook-id", "msg_2".parse().expect("a header"));
        assert!(webhook.verify(body, &headers).is_err(), "another id does not verify");
    }

    #[test]
    fn during_a_rotation_each_secret_signs_and_either_verifies() {
        let (new, old) = (super::new_secret(), super::new_secret());
        let body = br#"{"position":2}"#;
        let now = chrono::Utc::now().timestamp();
        let signature = super::sign(&format!("{new} {old}"), "msg_1", now, body).expect("signed");
        assert_eq!(signature.split(' ').count(), 2, "{signature}");
        for secret in [&new, &old] {
            let webhook = standardwebhooks::Webhook::new(secret).expect("secret");
            assert!(webhook.verify(body, &http_headers(&signature, now)).is_ok());
        }
    }

    fn http_headers(signature: &str, timestamp: i64) -> reqwest::header::HeaderMap {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("webhook-id", "msg_1".parse().expect("a header"));
        headers.insert("webhook-timestamp", timestamp.to_string().parse().expect("a header"));
        headers.insert("webhook-signature", signature.parse().expect("a header"));
        headers
    }
}
