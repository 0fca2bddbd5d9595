//! An example channel connector, the other side of the connector contract (docs/CONNECTORS.md):
//! it consumes the outbound messages its inboxes must deliver from the engine's JetStream stream
//! with a durable consumer, "delivers" them (here: it only logs), and reports `sent` then
//! `delivered` back through the status command over HTTP. A message is acknowledged once its
//! status is recorded, so a connector that crashes redelivers it; the status lattice makes a
//! repeated report harmless.

use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, AckKind, consumer};
use futures::StreamExt;
use serde_json::{Value, json};

pub struct Config {
    pub nats_url: String,
    pub stream: String,
    /// The subject prefix of the engine's events (`convo`).
    pub prefix: String,
    /// The durable consumer's name: one per connector deployment.
    pub consumer: String,
    /// The engine's HTTP API, e.g. `http://127.0.0.1:8080`.
    pub api_url: String,
    /// An API key with the `write` scope. Its workspace is the one this connector serves:
    /// outbound messages of other workspaces are refused (404) and dropped.
    pub api_key: String,
}

/// Consumes and reports until the stream ends or an unrecoverable error.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let client = async_nats::connect(&config.nats_url).await.context("connecting to NATS")?;
    let js = jetstream::new(client);
    let stream = js.get_stream(&config.stream).await.context("the engine's stream")?;
    let consumer: consumer::PullConsumer = stream
        .get_or_create_consumer(
            &config.consumer,
            consumer::pull::Config {
                durable_name: Some(config.consumer.clone()),
                // Outbound messages: every MessageSent, whatever the workspace or conversation.
                filter_subject: format!("{}.*.conversation.*.MessageSent", config.prefix),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                ..Default::default()
            },
        )
        .await
        .context("the durable consumer")?;
    let http = reqwest::Client::new();
    let mut messages = consumer.messages().await.context("consuming")?;
    while let Some(message) = messages.next().await {
        let message = message.map_err(|e| anyhow::anyhow!("receiving: {e}"))?;
        let outcome = deliver(&http, &config.api_url, &config.api_key, &message.payload).await;
        let ack = match outcome {
            Ok(()) => AckKind::Ack,
            // The engine refused it for good (unknown conversation, …): do not retry for ever.
            Err(Failure::Rejected(reason)) => {
                tracing::warn!(%reason, "outbound message rejected; dropping it");
                AckKind::Term
            }
            Err(Failure::Retry(reason)) => {
                tracing::warn!(%reason, "could not report; will retry");
                AckKind::Nak(Some(Duration::from_secs(1)))
            }
        };
        message.ack_with(ack).await.map_err(|e| anyhow::anyhow!("acknowledging: {e}"))?;
    }
    Ok(())
}

enum Failure {
    Rejected(String),
    Retry(String),
}

async fn deliver(http: &reqwest::Client, api: &str, key: &str, payload: &[u8]) -> Result<(), Failure> {
    let event: Value = serde_json::from_slice(payload).map_err(|e| Failure::Rejected(format!("not an event: {e}")))?;
    let (Some(conversation), Some(message)) = (event["aggregate_id"].as_str(), event["payload"]["message_id"].as_str())
    else {
        return Err(Failure::Rejected("an outbound message without conversation or message id".into()));
    };
    tracing::info!(conversation, message, content = %event["payload"]["content"], "delivering (pretend)");
    for status in ["sent", "delivered"] {
        let response = http
            .post(format!("{api}/v1/conversations/{conversation}/messages/{message}/status"))
            .bearer_auth(key)
            .json(&json!({"status": status, "actor": {"kind": "system", "id": "connector-example"}}))
            .send()
            .await
            .map_err(|e| Failure::Retry(e.to_string()))?;
        match response.status() {
            s if s.is_success() => {}
            s if s.is_client_error() => {
                return Err(Failure::Rejected(format!("{s}: {}", response.text().await.unwrap_or_default())));
            }
            s => return Err(Failure::Retry(s.to_string())),
        }
    }
    Ok(())
}
