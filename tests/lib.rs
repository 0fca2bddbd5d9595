//! What the integration tests share beyond `it/`: the webhook receiver nobody here wrote, also
//! used by the binary's own tests (`crates/convo-cli/tests`). The tests live in `it/`.

pub mod receiver;
