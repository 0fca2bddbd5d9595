//! Rebuilds fold the next page while the last one commits. A rebuild writes into a scratch table
//! no one else reads until the swap, one page after another: read, fold, commit, each waiting
//! for the one before, so PostgreSQL and the folding process took turns on the cores. Here the
//! pages' commits run in order on a task of their own, and the rows they carry are kept in
//! memory until their commit is done: the next page's fold finds a row it changed there, and
//! the rest in the table, so it sees exactly what a sequential rebuild would.

use std::collections::HashMap;
use std::sync::Arc;

use convo_projection::{Changes, Projection};
use tokio::sync::{mpsc, watch};

use convo_store::StoreError;

use crate::ProjectionStore;

/// Pages committed at once or queued behind the one committing: how far folding runs ahead.
const IN_FLIGHT: usize = 2;

/// Where a row's latest version is: the page that changed it last, that page's changes, and
/// the row's place in them.
type Pending<P> = (u64, Arc<Changes<P>>, usize);

/// One page's commit, as the writer task takes it.
struct PageCommit<P: Projection> {
    page: u64,
    changes: Arc<Changes<P>>,
    from: i64,
    to: i64,
}

/// Commits pages of changes to a store in order, behind the fold; see the module's comment.
pub(crate) struct WriteBehind<P: Projection, S> {
    store: S,
    /// Rows changed by a page whose commit may not be done.
    pending: HashMap<<P as Projection>::Key, Pending<P>>,
    /// Pages handed to the writer so far.
    sent: u64,
    /// The last page the writer committed.
    committed: watch::Receiver<u64>,
    commits: mpsc::Sender<PageCommit<P>>,
    writer: Option<tokio::task::JoinHandle<Result<(), StoreError>>>,
}

impl<P: Projection, S: ProjectionStore<P>> WriteBehind<P, S> {
    pub(crate) fn new(store: S) -> Self {
        let (commits, mut queue) = mpsc::channel::<PageCommit<P>>(IN_FLIGHT - 1);
        let (done, committed) = watch::channel(0);
        let writer = store.clone();
        let writer = tokio::spawn(async move {
            while let Some(PageCommit { page, changes, from, to }) = queue.recv().await {
                writer.commit(&changes, from, to).await?;
                done.send_replace(page);
            }
            Ok(())
        });
        Self { store, pending: HashMap::new(), sent: 0, committed, commits, writer: Some(writer) }
    }

    /// Forgets rows whose latest version the store now holds.
    fn forget_committed(&mut self) {
        let committed = *self.committed.borrow();
        self.pending.retain(|_, (page, ..)| *page > committed);
    }

    /// The rows for `keys`: from a page not yet committed if one changed them, else the store.
    pub(crate) async fn load(&mut self, keys: &[P::Key]) -> Result<HashMap<P::Key, P::Row>, StoreError> {
        self.forget_committed();
        let mut rows = HashMap::with_capacity(keys.len());
        let mut from_store = Vec::new();
        for key in keys {
            match self.pending.get(key) {
                Some((_, changes, at)) => {
                    if let Some(row) = &changes[*at].1 {
                        rows.insert(key.clone(), row.clone());
                    }
                }
                None => from_store.push(key.clone()),
            }
        }
        if !from_store.is_empty() {
            rows.extend(self.store.load(&from_store).await?);
        }
        Ok(rows)
    }

    /// Queues `changes` to be committed, moving the checkpoint from `from` to `to`; waits only
    /// while [`IN_FLIGHT`] pages are already on their way. A failed commit is reported here or
    /// by [`WriteBehind::finish`].
    pub(crate) async fn commit(&mut self, changes: Changes<P>, from: i64, to: i64) -> Result<(), StoreError> {
        self.forget_committed();
        self.sent += 1;
        let changes = Arc::new(changes);
        for (at, (key, _)) in changes.iter().enumerate() {
            self.pending.insert(key.clone(), (self.sent, changes.clone(), at));
        }
        let page = PageCommit { page: self.sent, changes, from, to };
        if self.commits.send(page).await.is_err() {
            // The writer stopped, which it only does on an error: that error.
            let stopped = joined(self.writer.take()).await.err();
            return Err(stopped.unwrap_or_else(|| StoreError::Database("a rebuild's writer stopped".into())));
        }
        Ok(())
    }

    /// Waits until every queued page is committed.
    pub(crate) async fn finish(self) -> Result<(), StoreError> {
        let Self { commits, writer, .. } = self;
        drop(commits);
        joined(writer).await
    }
}

/// What the writer task ended with (nothing to wait for once it has been taken).
async fn joined(writer: Option<tokio::task::JoinHandle<Result<(), StoreError>>>) -> Result<(), StoreError> {
    let Some(writer) = writer else { return Ok(()) };
    writer.await.map_err(|e| StoreError::Database(format!("a rebuild's writer failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use convo_domain::LogEvent;
    use convo_projection::Rows;
    use tokio::sync::Semaphore;

    use super::*;

    struct Letters;

    impl Projection for Letters {
        const NAME: &'static str = "letters";
        type Event = ();
        type Key = u32;
        type Row = String;

        fn decode(&self, _: &LogEvent) -> Result<Option<()>, String> {
            Ok(None)
        }

        fn keys(&self, _: &LogEvent, _: &(), _: &mut Vec<u32>) {}

        fn apply(&self, _: &LogEvent, _: (), _: &mut Rows<u32, String>) -> Result<(), String> {
            Ok(())
        }
    }

    /// A store whose commits wait for a permit each, so a test decides when they land.
    #[derive(Clone)]
    struct SlowStore {
        state: Arc<Mutex<(HashMap<u32, String>, i64)>>,
        permits: Arc<Semaphore>,
    }

    impl SlowStore {
        fn new() -> Self {
            Self { state: Arc::default(), permits: Arc::new(Semaphore::new(0)) }
        }

        fn rows(&self) -> (HashMap<u32, String>, i64) {
            self.state.lock().unwrap().clone()
        }
    }

    impl ProjectionStore<Letters> for SlowStore {
        async fn checkpoint(&self) -> Result<i64, StoreError> {
            Ok(self.state.lock().unwrap().1)
        }

        fn fenced(&self, _fence: Option<convo_store::Fence>) -> Self {
            self.clone()
        }

        async fn load(&self, keys: &[u32]) -> Result<HashMap<u32, String>, StoreError> {
            let state = self.state.lock().unwrap();
            Ok(keys.iter().filter_map(|k| state.0.get(k).map(|row| (*k, row.clone()))).collect())
        }

        async fn commit(&self, changes: &[(u32, Option<String>)], from: i64, to: i64) -> Result<(), StoreError> {
            self.permits.acquire().await.expect("open").forget();
            let mut state = self.state.lock().unwrap();
            if state.1 != from {
                return Err(StoreError::Conflict);
            }
            for (key, row) in changes {
                match row {
                    Some(row) => state.0.insert(*key, row.clone()),
                    None => state.0.remove(key),
                };
            }
            state.1 = to;
            Ok(())
        }
    }

    fn row(text: &str) -> Option<String> {
        Some(text.to_owned())
    }

    #[tokio::test]
    async fn the_next_page_sees_the_rows_of_pages_still_committing_and_commits_land_in_order() {
        let store = SlowStore::new();
        store.state.lock().unwrap().0.insert(1, "one as stored".into());
        let mut writer = WriteBehind::new(store.clone());

        writer.commit(vec![(1, row("one")), (2, row("two"))], 0, 10).await.unwrap();
        // Nothing has landed, yet the rows are what the page left them.
        assert_eq!(store.rows().1, 0);
        let loaded = writer.load(&[1, 2, 3]).await.unwrap();
        assert_eq!(loaded, HashMap::from([(1, "one".into()), (2, "two".into())]));

        writer.commit(vec![(2, None), (3, row("three"))], 10, 20).await.unwrap();
        let loaded = writer.load(&[1, 2, 3]).await.unwrap();
        assert_eq!(loaded, HashMap::from([(1, "one".into()), (3, "three".into())]));

        store.permits.add_permits(2);
        writer.finish().await.unwrap();
        let (rows, checkpoint) = store.rows();
        assert_eq!(rows, HashMap::from([(1, "one".into()), (3, "three".into())]));
        assert_eq!(checkpoint, 20);
    }

    #[tokio::test]
    async fn once_the_rows_have_landed_they_are_read_from_the_store() {
        let store = SlowStore::new();
        let mut writer = WriteBehind::new(store.clone());
        store.permits.add_permits(1);
        writer.commit(vec![(1, row("one"))], 0, 10).await.unwrap();
        while store.rows().1 != 10 {
            tokio::task::yield_now().await;
        }
        store.state.lock().unwrap().0.insert(1, "changed in the store".into());
        assert_eq!(writer.load(&[1]).await.unwrap(), HashMap::from([(1, "changed in the store".into())]));
        writer.finish().await.unwrap();
    }

    #[tokio::test]
    async fn a_commit_that_fails_is_reported_and_nothing_after_it_is_written() {
        let store = SlowStore::new();
        store.permits.add_permits(3);
        let mut writer = WriteBehind::new(store.clone());
        // Another writer moved the checkpoint: the first page's guard fails.
        store.state.lock().unwrap().1 = 5;
        writer.commit(vec![(1, row("one"))], 0, 10).await.unwrap();
        let mut failed = None;
        for page in 1..4u32 {
            let from = i64::from(page) * 10;
            if let Err(e) = writer.commit(vec![(page + 1, row("later"))], from, from + 10).await {
                failed = Some(e);
                break;
            }
        }
        let failed = match failed {
            Some(e) => e,
            None => writer.finish().await.unwrap_err(),
        };
        assert!(matches!(failed, StoreError::Conflict), "{failed:?}");
        assert_eq!(store.rows(), (HashMap::new(), 5));
    }
}
