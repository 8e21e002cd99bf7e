//! The operator's pause of outbound sending (`GET` / `PUT /api/v1/outbound`), as Kannel's
//! `suspend` / `resume`: for a carrier's maintenance window or an incident, the dispatcher
//! submits nothing (and the canceller sends no `cancel_sm`) while MO, receipts and replies are
//! still taken and queued; what is queued goes once sending resumes. Messages whose validity
//! ends meanwhile expire as they would with the link down. The pause is kept in the store
//! (`store::pause`), so a restart in the middle of the window stays paused.

use std::sync::Arc;

use tokio::sync::watch;

use crate::store::pause::{self, Paused};
use crate::store::{Store, StoreError};

/// Whether outbound sending is paused; cloned to whoever must see it.
#[derive(Debug, Clone)]
pub struct Pause {
    tx: Arc<watch::Sender<Option<Paused>>>,
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
