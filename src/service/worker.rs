//! The service's async side: applies complete MO messages as they arrive, and reverts expired
//! statuses on time. Each MO message is applied in one store write that also marks it processed
//! in the inbox, so it is applied exactly once even across a crash (a message whose write did not
//! commit stays pending and is handed on again at the next start). A write the store refuses
//! for a reason that passes is tried again until it goes through; a command that fails for
//! good is set aside (see `apply_in_order`).
//!
//! Messages from one subscriber are applied in arrival order (they go to the same shard); shards
//! run concurrently so the store's writer can group many of them into one commit.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info_span, warn, Instrument};

use super::{state, NetworkEvent, Outcome, Service, ServiceError};
use crate::command::Msisdn;
use crate::delivery::encode::build_ussd;
use crate::inbound::MoMessage;
use crate::metrics::Metrics;
use crate::smpp::{LinkHandle, SubmitOutcome};
use crate::store::inbox::UssdTag;
use crate::store::{inbox, now_ms, Store, StoreError};

/// Most MO messages of one shard applied in one write.
const MAX_MO_BATCH: usize = 64;
/// How long a batch of commands is tried again while the store refuses it for a reason that
/// passes ([`Store::write_patiently`]); the shard waits meanwhile, so its commands keep
/// their order.
const APPLY_PATIENCE: Duration = Duration::from_secs(120);
/// The same for a USSD dialogue unit, whose screen is useless once the network has ended the
/// dialogue.
const USSD_PATIENCE: Duration = Duration::from_secs(10);
/// Concurrent shards applying MO messages.
const SHARDS: usize = 32;
/// Owners reverted per expiry transaction.
const EXPIRY_BATCH: usize = 200;
/// Longest sleep of the expiry scheduler (it also wakes when a status with expiry is set).
const EXPIRY_MAX_SLEEP: Duration = Duration::from_secs(5);
/// How often the expiry scheduler looks for long messages past their parts timeout.
const PARTS_EVERY: Duration = Duration::from_secs(60);

impl From<ServiceError> for StoreError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Store(s) => s,
        }
    }
}

/// The running service tasks.
#[derive(Debug)]
pub struct Runner {
    handle: ServiceHandle,
    tasks: Vec<JoinHandle<()>>,
}

/// A cloneable handle to the running service, for the HTTP API and tests.
#[derive(Debug, Clone)]
pub struct ServiceHandle {
    /// Woken after every committed change that queued messages (the outbox dispatcher's).
    dispatcher: Arc<Notify>,
    expiry: Arc<Notify>,
    service: Service,
    store: Store,
    metrics: Arc<Metrics>,
}

impl Runner {
    /// Start applying `mo` and the expiry scheduler; `dispatcher` is woken when messages are
    /// queued. Tasks end when `mo` closes (MO) or `stop` is cancelled (expiry).
    pub fn start(
        store: Store,
        service: Service,
        mo: mpsc::Receiver<MoMessage>,
        dispatcher: Arc<Notify>,
        metrics: Arc<Metrics>,
        link: Option<LinkHandle>,
        stop: CancellationToken,
    ) -> Runner {
        let expiry = Arc::new(Notify::new());
        let mut tasks = Vec::new();
        let mut shards = Vec::with_capacity(SHARDS);
        for _ in 0..SHARDS {
            let (tx, rx) = mpsc::channel::<MoMessage>(64);
            shards.push(tx);
            tasks.push(tokio::spawn(shard(
                store.clone(),
                service.clone(),
                rx,
                dispatcher.clone(),
                expiry.clone(),
                metrics.clone(),
                link.clone(),
            )));
        }
        tasks.push(tokio::spawn(route(mo, shards)));
        tasks.push(tokio::spawn(expiry_loop(
            store.clone(),
            service.clone(),
            dispatcher.clone(),
            expiry.clone(),
            stop,
        )));
        Runner {
            handle: ServiceHandle {
                dispatcher,
                expiry,
                service,
                store,
                metrics,
            },
            tasks,
        }
    }

    /// A handle for the API.
    pub fn handle(&self) -> &ServiceHandle {
        &self.handle
    }

    /// Stop every task (MO not yet applied stays pending in the inbox).
    pub fn abort(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}

impl ServiceHandle {
    /// The service's settings.
    pub fn config(&self) -> &super::ServiceConfig {
        self.service.config()
    }

    /// Apply a network event (from the operator API) in one transaction.
    pub async fn network_event(
        &self,
        msisdn: Msisdn,
        event: NetworkEvent,
    ) -> Result<Outcome, StoreError> {
        let service = self.service.clone();
        let outcome = self
            .store
            .write(move |tx| {
                service
                    .network_event(tx, now_ms(), &msisdn, event)
                    .map_err(StoreError::from)
            })
            .await?;
        self.metrics.record_outcome(&outcome);
        if outcome.notified > 0 {
            self.dispatcher.notify_one();
        }
        Ok(outcome)
    }

    /// Store an uploaded picture for upload `token`, make it the owner's avatar and push it
    /// to their contacts (one transaction); `Ok(Ok(text))`: what the owner was told.
    /// `Ok(Err(..))`: the token cannot be used.
    pub async fn complete_upload(
        &self,
        token: String,
        processed: crate::images::Processed,
    ) -> Result<Result<super::replies::Text, super::avatar::UploadToken>, StoreError> {
        let service = self.service.clone();
        let r = self
            .store
            .write(move |tx| {
                let v = super::avatar::variants_of(&processed);
                service
                    .complete_upload(tx, now_ms(), &token, &processed.source_sha256, &v)
                    .map_err(StoreError::from)
            })
            .await?;
        self.dispatcher.notify_one();
        Ok(r)
    }

    /// Tell the holder of upload `token` why their picture was refused.
    pub async fn reject_upload(
        &self,
        token: String,
        why: super::replies::Rejected,
    ) -> Result<bool, StoreError> {
        let service = self.service.clone();
        let told = self
            .store
            .write(move |tx| {
                service
                    .reject_upload(tx, now_ms(), &token, why)
                    .map_err(StoreError::from)
            })
            .await?;
        self.dispatcher.notify_one();
        Ok(told)
    }

    /// Run the expiry check now (tests, and after a clock jump).
    pub fn wake_expiry(&self) {
        self.expiry.notify_one();
    }
}

/// The shard of a sender: by the last ten digits of the address, so that one subscriber
/// written in two forms (`+8613800138000`, `13800138000`) lands in one shard and their
/// commands apply in order.
fn shard_of(source: &str) -> usize {
    let digits: Vec<u8> = source.bytes().filter(u8::is_ascii_digit).collect();
    let tail = &digits[digits.len().saturating_sub(10)..];
    let mut h = DefaultHasher::new();
    if tail.is_empty() {
        source.hash(&mut h);
    } else {
        tail.hash(&mut h);
    }
    (h.finish() % SHARDS as u64) as usize
}

async fn route(mut mo: mpsc::Receiver<MoMessage>, shards: Vec<mpsc::Sender<MoMessage>>) {
    while let Some(msg) = mo.recv().await {
        let i = shard_of(&msg.source);
        if shards[i].send(msg).await.is_err() {
            return;
        }
    }
}

async fn shard(
    store: Store,
    service: Service,
    mut rx: mpsc::Receiver<MoMessage>,
    dispatcher: Arc<Notify>,
    expiry: Arc<Notify>,
    metrics: Arc<Metrics>,
    link: Option<LinkHandle>,
) {
    let mut held: Option<MoMessage> = None;
    loop {
        let first = match held.take() {
            Some(m) => m,
            None => match rx.recv().await {
                Some(m) => m,
                None => return,
            },
        };
        if !service.is_for_service(&first.destination, first.ussd.is_some()) {
            set_aside_misaddressed(&store, &metrics, vec![first]).await;
            continue;
        }
        if let Some(tag) = first.ussd {
            ussd_unit(
                &store,
                &service,
                first,
                tag,
                &dispatcher,
                &metrics,
                link.as_ref(),
            )
            .await;
            continue;
        }
        // Everything already waiting in this shard goes in one write (in order): a subscriber
        // sending fast costs one commit per batch, not per message.
        let mut batch = vec![first];
        while batch.len() < MAX_MO_BATCH {
            match rx.try_recv() {
                Ok(m) if m.ussd.is_some() => {
                    held = Some(m);
                    break;
                }
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        let (batch, misaddressed): (Vec<MoMessage>, Vec<MoMessage>) = batch
            .into_iter()
            .partition(|m| service.is_for_service(&m.destination, m.ussd.is_some()));
        if !misaddressed.is_empty() {
            set_aside_misaddressed(&store, &metrics, misaddressed).await;
        }
        if batch.is_empty() {
            continue;
        }
        let svc = service.clone();
        let ids: Vec<i64> = batch.iter().map(|m| m.inbox_id).collect();
        let span = info_span!(
            "mo",
            inbox_id = ids[0],
            messages = ids.len(),
            from = %crate::command::mask(&batch[0].source)
        );
        // Parsed here, not on the store's writer thread (the one serial resource).
        let parsed: Arc<Vec<(i64, super::ParsedMo)>> = Arc::new(
            batch
                .iter()
                .map(|m| (m.inbox_id, service.parse_mo(&m.source, &m.text)))
                .collect(),
        );
        let result = apply_in_order(&store, &svc, parsed)
            .instrument(span.clone())
            .await;
        let _e = span.enter();
        for outcome in &result {
            metrics.record_outcome(outcome);
            debug!(
                command = outcome.command.unwrap_or("invalid"),
                notified = outcome.notified,
                deferred = outcome.deferred,
                "command applied"
            );
        }
        if !result.is_empty() {
            dispatcher.notify_one();
        }
        if result.iter().any(|o| o.command == Some("status_set")) {
            expiry.notify_one();
        }
    }
}

/// Set aside MO messages sent to a number that is not the service's
/// ([`Service::is_for_service`]): they were stored before the SMSC was answered and stay in
/// the inbox, marked processed, but are not run as commands and get no reply. Each is logged
/// at WARN naming its destination (never its text) and counted
/// (`presence_gw_inbox_misaddressed_total`). One the store cannot mark now stays pending and
/// comes back at the next start.
async fn set_aside_misaddressed(store: &Store, metrics: &Metrics, msgs: Vec<MoMessage>) {
    let ids: Vec<i64> = msgs.iter().map(|m| m.inbox_id).collect();
    let marked = store
        .write_patiently(APPLY_PATIENCE, move |tx| {
            let now = now_ms();
            ids.iter()
                .map(|id| inbox::mark_processed(tx, *id, now))
                .collect::<Result<Vec<bool>, _>>()
        })
        .await;
    match marked {
        Ok(marked) => {
            // A message handed on twice (pending at start and live) is told of once.
            for (m, _) in msgs.iter().zip(marked).filter(|(_, first)| *first) {
                warn!(
                    inbox_id = m.inbox_id,
                    from = %crate::command::mask(&m.source),
                    destination = %super::address::logged_destination(&m.destination),
                    ussd = m.ussd.is_some(),
                    "MO sent to a number that is not the service's (not service_number, one of \
                     service_aliases or the USSD code): kept in the inbox, not run as a command, \
                     not answered"
                );
                metrics.record_misaddressed();
            }
        }
        Err(StoreError::Closed) => {}
        Err(e) => warn!(
            error = %e,
            "could not set aside MO sent to another number; it stays pending until the next start"
        ),
    }
}

/// Apply a shard's batch in one write, in order, and return what each command did. The write
/// is tried again while the store refuses it for a reason that passes (another process holds
/// the database), for as long as that lasts: the shard waits, so a subscriber's later commands
/// never overtake earlier ones. A batch refused for good (a command that fails) is applied one
/// command at a time, so one bad command costs only itself: it is set aside (marked processed,
/// its PDU kept in the inbox) with an error in the log, instead of being left pending for the
/// next start, where it would be applied late and after newer commands.
async fn apply_in_order(
    store: &Store,
    svc: &Service,
    parsed: Arc<Vec<(i64, super::ParsedMo)>>,
) -> Vec<Outcome> {
    match apply_patiently(store, svc, parsed.clone()).await {
        Ok(outcomes) => return outcomes,
        // Stopping: what was not applied stays pending for the next start.
        Err(StoreError::Closed) => return Vec::new(),
        Err(e) if parsed.len() > 1 => {
            warn!(error = %e, "a command of the batch failed; applying them one at a time")
        }
        Err(_) => {}
    }
    let mut outcomes = Vec::with_capacity(parsed.len());
    for one in parsed.iter() {
        match apply_patiently(store, svc, Arc::new(vec![one.clone()])).await {
            Ok(o) => outcomes.extend(o),
            Err(StoreError::Closed) => break,
            Err(e) => {
                let inbox_id = one.0;
                tracing::error!(inbox_id, error = %e, "command failed; set aside (kept in the inbox)");
                let set_aside = store
                    .write_patiently(APPLY_PATIENCE, move |tx| {
                        inbox::mark_processed(tx, inbox_id, now_ms())
                    })
                    .await;
                if let Err(e) = set_aside {
                    warn!(inbox_id, error = %e, "could not set the failed command aside");
                }
            }
        }
    }
    outcomes
}

/// One write applying `parsed` in order; a refusal that passes is tried again until it does.
async fn apply_patiently(
    store: &Store,
    svc: &Service,
    parsed: Arc<Vec<(i64, super::ParsedMo)>>,
) -> Result<Vec<Outcome>, StoreError> {
    loop {
        let svc = svc.clone();
        let batch = parsed.clone();
        let result = store
            .write_patiently(APPLY_PATIENCE, move |tx| {
                let now = now_ms();
                let mut outcomes = Vec::with_capacity(batch.len());
                for (inbox_id, mo) in batch.iter() {
                    if !inbox::mark_processed(tx, *inbox_id, now)? {
                        continue;
                    }
                    outcomes.push(
                        svc.apply_mo(tx, now, mo.clone())
                            .map_err(StoreError::from)?,
                    );
                }
                Ok(outcomes)
            })
            .await;
        match result {
            Err(StoreError::Closed) => return Err(StoreError::Closed),
            Err(e) if e.is_transient() => {
                warn!(error = %e, "the store still refuses the commands; trying again");
            }
            other => return other,
        }
    }
}

/// Apply one USSD dialogue unit and send the next screen straight to the SMSC (a screen is
/// only useful within the network's dialogue timeout, so it does not wait in the outbox; the
/// session state it follows from is committed first).
async fn ussd_unit(
    store: &Store,
    service: &Service,
    msg: MoMessage,
    tag: UssdTag,
    dispatcher: &Notify,
    metrics: &Metrics,
    link: Option<&LinkHandle>,
) {
    let span = info_span!(
        "ussd",
        inbox_id = msg.inbox_id,
        op = tag.op,
        from = %crate::command::mask(&msg.source)
    );
    let svc = service.clone();
    let id = msg.inbox_id;
    // A store refusal that passes is waited out briefly: the subscriber is looking at the
    // screen, and the network ends a silent dialogue within tens of seconds.
    let result = store
        .write_patiently(USSD_PATIENCE, move |tx| {
            let now = now_ms();
            if !inbox::mark_processed(tx, id, now)? {
                return Ok(None);
            }
            svc.handle_ussd(
                tx,
                now,
                msg.received_at,
                &msg.source,
                &msg.destination,
                &msg.text,
                tag,
            )
            .map_err(StoreError::from)
        })
        .instrument(span.clone())
        .await;
    let _e = span.enter();
    match result {
        Ok(Some(reply)) => {
            metrics.record_outcome(&Outcome {
                command: Some("ussd"),
                ..Outcome::default()
            });
            // A finished choice may have queued notifications.
            dispatcher.notify_one();
            let Some(link) = link else {
                warn!("no SMSC link: USSD screen not sent");
                return;
            };
            match build_ussd(&reply) {
                Ok(sm) => match link.submit(sm).await {
                    Ok(SubmitOutcome::Accepted { .. }) => debug!("USSD screen sent"),
                    Ok(other) => warn!(?other, "USSD screen refused by the SMSC"),
                    Err(e) => warn!(error = %e, "USSD screen not sent"),
                },
                Err(e) => warn!(error = %e, "USSD screen could not be encoded"),
            }
        }
        Ok(None) => debug!("USSD unit needs no answer"),
        Err(e) => warn!(error = %e, "USSD unit not applied"),
    }
}

async fn expiry_loop(
    store: Store,
    service: Service,
    dispatcher: Arc<Notify>,
    wake: Arc<Notify>,
    stop: CancellationToken,
) {
    // Incomplete long messages are looked for at most this often (they are few; a minute late
    // on a half-hour timeout is nothing). The first look waits one parts timeout after the
    // start: after downtime, the SMSC delivers the parts it queued meanwhile, and a message
    // dropped before they come would be asked for twice.
    let parts_every = service.config().parts_timeout.min(PARTS_EVERY);
    let mut parts_next = tokio::time::Instant::now() + service.config().parts_timeout;
    loop {
        let svc = service.clone();
        let now = now_ms();
        let parts_due = tokio::time::Instant::now() >= parts_next;
        if parts_due {
            parts_next = tokio::time::Instant::now() + parts_every;
        }
        let handled = store
            .write(move |tx| {
                state::expire_ussd(tx, now)?;
                let abandoned = if parts_due {
                    svc.abandon_incomplete(tx, now)?
                } else {
                    0
                };
                let reverted = svc.expire_due(tx, now, EXPIRY_BATCH)?;
                Ok::<_, StoreError>((reverted, abandoned))
            })
            .await;
        let handled = match handled {
            Ok((reverted, abandoned)) => {
                if abandoned > 0 {
                    dispatcher.notify_one();
                }
                Ok(reverted)
            }
            Err(e) => Err(e),
        };
        match handled {
            Ok(n) if n > 0 => {
                debug!(owners = n, "expired statuses reverted");
                dispatcher.notify_one();
                if n == EXPIRY_BATCH {
                    continue;
                }
            }
            Ok(_) => {}
            Err(StoreError::Closed) => return,
            Err(e) => warn!(error = %e, "expiry check failed; will retry"),
        }
        let next = store.read(state::next_expiry).await.ok().flatten();
        let sleep = match next {
            Some(t) => Duration::from_millis((t - now_ms()).clamp(0, i64::MAX) as u64),
            None => EXPIRY_MAX_SLEEP,
        }
        .min(EXPIRY_MAX_SLEEP)
        .min(parts_next.saturating_duration_since(tokio::time::Instant::now()));
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::shard_of;

    #[test]
    fn one_subscriber_in_any_form_is_one_shard() {
        let s = shard_of("+8613800138000");
        assert_eq!(shard_of("8613800138000"), s);
        assert_eq!(shard_of("13800138000"), s);
        assert_eq!(shard_of("+86 138-0013-8000"), s);
        // Different numbers spread over shards.
        let spread: std::collections::HashSet<usize> = (0..200)
            .map(|i| shard_of(&format!("+86139{i:08}")))
            .collect();
        assert!(spread.len() > 16, "{}", spread.len());
    }
}
