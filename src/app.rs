//! The running gateway, assembled: store, SMPP link, inbound pump and outbox dispatcher.
//!
//! `main` and the end-to-end tests both start the gateway through [`Gateway::start`], so what is
//! tested is what runs. Shutdown order matters for "nothing accepted is lost": stop taking MO,
//! let the dispatcher finish or requeue what it holds, unbind the link, then close the store.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::delivery::encode::SubmitTemplate;
use crate::delivery::{Dispatcher, DispatcherConfig};
use crate::inbound::{self, MoMessage};
use crate::metrics::Metrics;
use crate::service::worker::{Runner, ServiceHandle};
use crate::service::{Service, ServiceConfig};
use crate::smpp::{Link, LinkConfig, LinkHandle};
use crate::store::outbox::{self, NewMessage};
use crate::store::{now_ms, Store, StoreOptions};

/// What the gateway needs to start.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// SQLite database file.
    pub db: PathBuf,
    /// The carrier link.
    pub link: LinkConfig,
    /// Outbox dispatcher settings.
    pub dispatcher: DispatcherConfig,
    /// Inbound PDUs handled concurrently.
    pub inbound_concurrency: usize,
}

impl GatewayOptions {
    /// Options with defaults for everything but the database, the SMSC and the service number.
    pub fn new(db: PathBuf, link: LinkConfig, service_number: &str) -> Self {
        Self {
            db,
            link,
            dispatcher: DispatcherConfig::new(SubmitTemplate {
                source: service_number.to_string(),
                source_ton: 0,
                source_npi: 0,
                registered_delivery: true,
                concat: sms_wire::segment::ConcatStyle::Udh8,
            }),
            inbound_concurrency: 256,
        }
    }
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// A running gateway.
#[derive(Debug)]
pub struct Gateway {
    /// The durable store.
    pub store: Store,
    /// The carrier link.
    pub link: LinkHandle,
    dispatcher: Dispatcher,
    stop_intake: CancellationToken,
    stop_link: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    link_task: JoinHandle<()>,
    service: Option<Runner>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
}

impl Gateway {
    /// Open the store, bind the link and start the pumps. Complete MO messages are sent to
    /// `mo` (those left pending by a previous run first).
    pub async fn start(
        opts: GatewayOptions,
        mo: mpsc::Sender<MoMessage>,
    ) -> Result<Gateway, StartError> {
        let store = Store::open(&opts.db, StoreOptions::default())?;
        let stop_intake = CancellationToken::new();
        let stop_link = CancellationToken::new();
        let (link, inbound_rx, link_task) = Link::spawn(opts.link.clone(), stop_link.clone());
        let dispatcher = Dispatcher::new(store.clone(), link.clone(), opts.dispatcher.clone());
        let mut tasks = Vec::new();
        // Messages left pending by a previous run go first (in a task: the consumer of `mo`
        // may be started after this returns). One that also arrives live is applied once:
        // the consumer marks it processed in the same transaction.
        let pending = inbound::pending(&store, 10_000).await;
        let feed = mo.clone();
        tasks.push(tokio::spawn(async move {
            for msg in pending {
                if feed.send(msg).await.is_err() {
                    return;
                }
            }
        }));
        tasks.push(tokio::spawn(inbound::run(
            store.clone(),
            inbound_rx,
            mo,
            opts.inbound_concurrency,
        )));
        tasks.push(tokio::spawn(dispatcher.clone().run(stop_intake.clone())));
        Ok(Gateway {
            store,
            link,
            dispatcher,
            stop_intake,
            stop_link,
            tasks,
            link_task,
            service: None,
            metrics: Arc::new(Metrics::default()),
        })
    }

    /// [`Gateway::start`] with the status service consuming MO messages and running the
    /// expiry scheduler.
    pub async fn start_with_service(
        opts: GatewayOptions,
        service: ServiceConfig,
    ) -> Result<Gateway, StartError> {
        let (mo_tx, mo_rx) = mpsc::channel(1024);
        let mut gw = Gateway::start(opts, mo_tx).await?;
        gw.service = Some(Runner::start(
            gw.store.clone(),
            Service::new(service),
            mo_rx,
            gw.dispatcher.notifier(),
            gw.metrics.clone(),
            Some(gw.link.clone()),
            gw.stop_intake.clone(),
        ));
        Ok(gw)
    }

    /// The status service, when started with [`Gateway::start_with_service`].
    pub fn service(&self) -> Option<&ServiceHandle> {
        self.service.as_ref().map(Runner::handle)
    }

    /// The HTTP API over this gateway (see [`crate::http`]); `api_key` guards `/api/v1`.
    pub fn http_router(&self, api_key: Option<crate::config::Secret>) -> axum::Router {
        crate::http::router(crate::http::HttpState {
            store: self.store.clone(),
            link: self.link.clone(),
            service: self.service().cloned(),
            metrics: self.metrics.clone(),
            api_key,
        })
    }

    /// Queue an outbound message (one transaction) and wake the dispatcher.
    pub async fn enqueue(&self, msg: NewMessage) -> Result<i64, crate::store::StoreError> {
        let now = now_ms();
        let r = self
            .store
            .write(move |tx| outbox::enqueue(tx, &msg, now))
            .await?;
        self.dispatcher.notifier().notify_one();
        Ok(r.id)
    }

    /// Wake the dispatcher (after enqueueing through the store directly).
    pub fn wake_dispatcher(&self) {
        self.dispatcher.notifier().notify_one();
    }

    /// Graceful stop: no new submits, in-flight ones answered or requeued, unbind, close.
    pub async fn shutdown(self) {
        self.stop_intake.cancel();
        if let Some(service) = self.service {
            service.abort();
        }
        // The dispatcher task ends after its rows in hand are settled.
        let mut tasks = self.tasks;
        if let Some(dispatcher) = tasks.pop() {
            let _ = tokio::time::timeout(Duration::from_secs(40), dispatcher).await;
        }
        self.stop_link.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.link_task).await;
        for t in tasks {
            t.abort();
        }
        self.store.close().await;
        info!("gateway stopped");
    }
}
