//! The cqrs-es 0.5 behaviour our design works around (docs/decisions/0001-aggregate-cache.md),
//! reproduced. If one of these starts failing, upstream changed: revisit the decision.

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Counter {
    count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Incremented;

impl DomainEvent for Incremented {
    fn event_type(&self) -> String {
        "Incremented".into()
    }
    fn event_version(&self) -> String {
        "1.0.0".into()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

impl Aggregate for Counter {
    const TYPE: &'static str = "counter";
    type Command = u64;
    type Event = Incremented;
    type Error = Never;
    type Services = ();

    async fn handle(&mut self, times: u64, _: &(), sink: &EventSink<Self>) -> Result<(), Never> {
        for _ in 0..times {
            sink.write(Incremented, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, _: Incremented) {
        self.count += 1;
    }
}

/// Trap 1 of ../shared/CQRS-ES-NOTES.md: the snapshot store applies each event during `handle`
/// (EventSink::write) and again before serializing the snapshot, so the stored state is wrong.
/// This is why convo loads in event-store mode and caches aggregates itself.
#[tokio::test]
async fn cqrs_es_snapshot_mode_stores_every_event_applied_twice() {
    let db = crate::support::TestSqlite::new().await;
    let pool = db.backend.pool().clone();
    let cqrs = sqlite_es::sqlite_snapshot_cqrs::<Counter>(pool.clone(), vec![], 1, ());
    cqrs.execute("c-1", 3).await.expect("three increments");
    let payload: String = sqlx::query_scalar("SELECT payload FROM snapshots WHERE aggregate_id = 'c-1'")
        .fetch_one(&pool)
        .await
        .expect("a snapshot row");
    let snapshot: Counter = serde_json::from_str(&payload).expect("a counter");
    assert_eq!(snapshot.count, 6, "3 events were stored; the snapshot says 6");
}
