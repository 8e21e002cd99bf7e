//! The operator's pause of outbound sending (`GET` / `PUT /api/v1/outbound`), as Kannel's
//! `suspend` / `resume`: for a carrier's maintenance window or an incident, the dispatcher
//! submits nothing (and the canceller sends no `cancel_sm`) while MO, receipts and replies are
//! still taken and queued; what is queued goes once sending resumes. Messages whose validity
//! ends meanwhile expire as they would with the link down. USSD screens are not held: they
//! answer a session the network keeps open for them only briefly (`service::worker`), so a
//! screen held until the resume would never be shown; the SMS a USSD choice queues wait. The
//! pause is kept in the store (`store::pause`), so a restart in the middle of the window stays
//! paused.

use std::sync::Arc;

use tokio::sync::watch;

use crate::store::pause::{self, Paused};
use crate::store::{Store, StoreError};

/// Whether outbound sending is paused; cloned to whoever must see it.
#[derive(Debug, Clone)]
pub struct Pause {
    tx: Arc<watch::Sender<Option<Paused>>>,
    /// One [`Pause::set`] at a time: two operators' requests at once must leave the pause in
    /// force and the store's row saying the same (the last write wins in both).
    one_at_a_time: Arc<tokio::sync::Mutex<()>>,
}

impl Default for Pause {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Pause {
    /// Starting paused (`Some`, as the store says) or sending.
    pub fn new(initial: Option<Paused>) -> Self {
        Self {
            tx: Arc::new(watch::Sender::new(initial)),
            one_at_a_time: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// The store's pause, read at start.
    pub async fn load(store: &Store) -> Result<Self, StoreError> {
        Ok(Self::new(store.read(pause::get).await?))
    }

    /// The pause in force, if any.
    pub fn current(&self) -> Option<Paused> {
        self.tx.borrow().clone()
    }

    /// Whether sending is paused now.
    pub fn is_paused(&self) -> bool {
        self.tx.borrow().is_some()
    }

    /// Notified at each change.
    pub fn watch(&self) -> watch::Receiver<Option<Paused>> {
        self.tx.subscribe()
    }

    /// Pause (with the operator's `note`) or resume: written to the store first, then in
    /// force. Returns the pause in force afterwards.
    pub async fn set(
        &self,
        store: &Store,
        paused: bool,
        note: String,
        now: i64,
    ) -> Result<Option<Paused>, StoreError> {
        let _one = self.one_at_a_time.lock().await;
        let want = paused.then(|| Paused {
            since: self.current().map_or(now, |p| p.since),
            note,
        });
        let row = want.clone();
        store.write(move |tx| pause::set(tx, row.as_ref())).await?;
        self.tx.send_replace(want.clone());
        Ok(want)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;

    /// Pauses and resumes asked for at once (two operators, two scripts) leave the pause in
    /// force as the store keeps it, so a restart finds what the running gateway did.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn pauses_and_resumes_at_once_leave_the_store_saying_what_is_in_force() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("p.db"), StoreOptions::default()).unwrap();
        let pause = Pause::load(&store).await.unwrap();
        for round in 0..40 {
            let tasks: Vec<_> = (0..16)
                .map(|i| {
                    let (pause, store) = (pause.clone(), store.clone());
                    tokio::spawn(async move {
                        pause
                            .set(&store, i % 2 == 0, format!("round {round} #{i}"), 1_000 + i)
                            .await
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap().unwrap();
            }
            let kept = store.read(pause::get).await.unwrap();
            assert_eq!(pause.current(), kept, "round {round}");
        }
        store.close().await;
    }
}
