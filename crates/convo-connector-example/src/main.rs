//! `convo-connector-example`: runs the example connector with settings from the environment
//! (NATS_URL, CONVO_NATS_STREAM, CONVO_NATS_SUBJECT_PREFIX, CONVO_API_URL, CONVO_API_KEY, CONVO_CONNECTOR_CONSUMER).

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    use anyhow::Context;
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let api_key = std::env::var("CONVO_API_KEY").context("CONVO_API_KEY: an API key with the write scope")?;
    convo_connector_example::run(convo_connector_example::Config {
        nats_url: env("NATS_URL", "nats://127.0.0.1:4222"),
        stream: env("CONVO_NATS_STREAM", "CONVO"),
        prefix: env("CONVO_NATS_SUBJECT_PREFIX", "convo"),
        consumer: env("CONVO_CONNECTOR_CONSUMER", "connector-example"),
        api_url: env("CONVO_API_URL", "http://127.0.0.1:8080"),
        api_key,
    })
    .await
}
