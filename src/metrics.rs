//! Counters the gateway keeps for `/metrics` (Prometheus text exposition format 0.0.4), and
//! the rendering of a scrape: these counters plus gauges read at scrape time from the link
//! (binds up, window in use, submit results) and the store (outbox depth by state, receipts,
//! inbox backlog). Label values are fixed words (command names, route templates, status
//! codes), never subscriber data, so a scrape reveals no MSISDN.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::histogram::HistogramSnapshot;
use crate::service::Outcome;
use crate::smpp::{LinkHandle, LinkState};
use crate::store::inbox::InboxCounts;
use crate::store::outbox::OutboxCounts;
use crate::store::Stats as StoreStats;

/// Counters updated by the service and the HTTP layer.
#[derive(Debug, Default)]
pub struct Metrics {
    commands: Mutex<BTreeMap<&'static str, u64>>,
    status_changes: AtomicU64,
    notifications: AtomicU64,
    deferred_changes: AtomicU64,
    misaddressed: AtomicU64,
    http: Mutex<BTreeMap<(String, u16), u64>>,
    /// The store's counts at the last scrape that could read them.
    last_counts: Mutex<Option<(OutboxCounts, InboxCounts)>>,
    /// `cancel_sm` answers by outcome (`delivery::cancel::Canceller` counts them).
    cancels: std::sync::Arc<crate::delivery::cancel::CancelCounts>,
    /// HTTP connections open now (`http::serve_capped` counts them).
    http_connections: std::sync::Arc<AtomicU64>,
    /// Config reloads (SIGHUP) by result: applied, refused.
    reloads_applied: AtomicU64,
    reloads_refused: AtomicU64,
    /// Keys of the config file that differ from the running settings and wait for a restart
    /// (as the last applied reload found them).
    keys_pending_restart: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Metrics {
    /// Count one applied command (or network event) and the fan-out it caused.
    pub fn record_outcome(&self, o: &Outcome) {
        let name = o.command.unwrap_or("invalid");
        *lock(&self.commands).entry(name).or_default() += 1;
        if o.notified > 0 {
            self.status_changes.fetch_add(1, Ordering::Relaxed);
            self.notifications
                .fetch_add(o.notified as u64, Ordering::Relaxed);
        }
        if o.deferred {
            self.deferred_changes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Count one MO message set aside because it was sent to a number that is not the
    /// service's ([`crate::service::Service::is_for_service`]): kept, not run, not answered.
    pub fn record_misaddressed(&self) {
        self.misaddressed.fetch_add(1, Ordering::Relaxed);
    }

    /// Count one HTTP request by route template and status code.
    pub fn record_http(&self, route: &str, status: u16) {
        *lock(&self.http)
            .entry((route.to_string(), status))
            .or_default() += 1;
    }

    /// The counts a scrape read from the store now (`Ok`), kept for the next scrape; or, when
    /// the store could not answer (another process holds the database), the last ones read,
    /// if any, marked stale. The counters and the link's gauges do not need the store, and a
    /// scrape should not fail exactly when an operator watches a purge.
    pub fn counts_for_scrape<E>(
        &self,
        now: Result<(OutboxCounts, InboxCounts), E>,
    ) -> Result<(OutboxCounts, InboxCounts, bool), E> {
        let mut last = lock(&self.last_counts);
        match now {
            Ok(c) => {
                *last = Some(c);
                Ok((c.0, c.1, false))
            }
            Err(e) => match *last {
                Some((o, i)) => Ok((o, i, true)),
                None => Err(e),
            },
        }
    }

    /// Where the canceller counts `cancel_sm` answers (`presence_gw_smpp_cancels_total`).
    pub fn cancel_counts(&self) -> std::sync::Arc<crate::delivery::cancel::CancelCounts> {
        self.cancels.clone()
    }

    /// Where the HTTP server counts its open connections
    /// (`presence_gw_http_connections_open`; [`crate::http::ConnectionCap::open`]).
    pub fn http_connections(&self) -> std::sync::Arc<AtomicU64> {
        self.http_connections.clone()
    }

    /// Count a config reload (SIGHUP): `applied`, with the keys it found waiting for a
    /// restart, or refused (the file did not load; nothing changed).
    pub fn record_reload(&self, applied: Option<usize>) {
        match applied {
            Some(pending) => {
                self.reloads_applied.fetch_add(1, Ordering::Relaxed);
                self.keys_pending_restart
                    .store(pending as u64, Ordering::Relaxed);
            }
            None => {
                self.reloads_refused.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Commands applied so far, by name.
    pub fn commands(&self) -> BTreeMap<&'static str, u64> {
        lock(&self.commands).clone()
    }

    /// The whole exposition: counters, link gauges, store gauges. `stale`: `outbox` and
    /// `inbox` are an earlier scrape's, the store not answering now
    /// ([`Metrics::counts_for_scrape`]).
    pub fn render(
        &self,
        link: &LinkHandle,
        store: &StoreStats,
        outbox: &OutboxCounts,
        inbox: &InboxCounts,
        stale: bool,
        outbound_paused: bool,
    ) -> String {
        let mut out = String::with_capacity(4096);
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed).to_string();
        let one = |v: String| vec![(String::new(), v)];
        let st = link.stats();
        family(
            &mut out,
            "presence_gw_smpp_bound",
            "gauge",
            "1 when every SMPP connection of the bind mode is bound.",
            one(u8::from(link.state() == LinkState::Bound).to_string()),
        );
        family(
            &mut out,
            "presence_gw_outbound_paused",
            "gauge",
            "1 while the operator has paused outbound sending (PUT /api/v1/outbound).",
            one(u8::from(outbound_paused).to_string()),
        );
        family(
            &mut out,
            "presence_gw_config_reloads_total",
            "counter",
            "Config reloads (SIGHUP, systemctl reload) by result: applied, or refused (the file did not load; the running settings stayed).",
            vec![
                ("{result=\"applied\"}".into(), get(&self.reloads_applied)),
                ("{result=\"refused\"}".into(), get(&self.reloads_refused)),
            ],
        );
        family(
            &mut out,
            "presence_gw_config_keys_pending_restart",
            "gauge",
            "Keys of the config file that differ from the running settings and take effect at the next start (as the last reload found them).",
            one(get(&self.keys_pending_restart)),
        );
        family(
            &mut out,
            "presence_gw_smpp_window_in_use",
            "gauge",
            "SMPP requests outstanding.",
            one(link.window_in_use().to_string()),
        );
        // No limit, no sample: a stand-in number (the limiter's internal 1e6, or 0) would
        // read as a real cap in a graph or in `rate / limit` alerts.
        family(
            &mut out,
            "presence_gw_smpp_submit_rate_limit",
            "gauge",
            "Submits per second the link allows now: max_rate, or less while the adaptive \
             limit climbs back after ESME_RTHROTTLED. No sample while nothing caps the rate.",
            link.rate_limit()
                .map(|r| one(r.to_string()))
                .unwrap_or_default(),
        );
        family(
            &mut out,
            "presence_gw_smpp_submit_rate_expected",
            "gauge",
            "Submits per second the outbox dispatcher works at: the rate limit, or the window \
             over the smoothed submit response time when that is lower (the window per second \
             before any answer). It sizes the dispatcher's batches and the rows it holds.",
            one(link.expected_rate().to_string()),
        );
        family(
            &mut out,
            "presence_gw_smpp_submit_response_seconds",
            "gauge",
            "Smoothed time from a submit_sm written to its response read (an exponential \
             average over about the last eight). No sample until a submit is answered.",
            link.response_time()
                .map(|t| one(t.as_secs_f64().to_string()))
                .unwrap_or_default(),
        );
        family(
            &mut out,
            "presence_gw_smpp_submits_total",
            "counter",
            "submit_sm responses by result.",
            [
                ("ok", &st.submits_ok),
                ("throttled", &st.submits_throttled),
                ("error", &st.submits_failed),
                ("timeout", &st.timeouts),
            ]
            .into_iter()
            .map(|(r, v)| (format!("{{result=\"{r}\"}}"), get(v)))
            .collect(),
        );
        family(
            &mut out,
            "presence_gw_smpp_cancels_total",
            "counter",
            "cancel_sm answers by outcome, for accepted messages a newer one or a withdrawal made \
             wrong to deliver: cancelled (deleted at the SMSC), too_late (ESME_RCANCELFAIL: \
             delivered or final already), unsupported (ESME_RINVCMDID or generic_nack: the SMSC \
             has no cancel_sm; none is sent to that address and system_id again for [smsc] \
             no_cancel_memory_hours, across binds and restarts), refused (another refusal), \
             failed (no answer or a passing refusal: tried again).",
            crate::delivery::cancel::CancelCounts::LABELS
                .into_iter()
                .map(|l| {
                    (
                        format!("{{outcome=\"{l}\"}}"),
                        self.cancels.get(l).to_string(),
                    )
                })
                .collect(),
        );
        family(
            &mut out,
            "presence_gw_smpp_binds_total",
            "counter",
            "Successful binds, reconnects included.",
            one(get(&st.binds)),
        );
        family(
            &mut out,
            "presence_gw_smpp_bind_failures_total",
            "counter",
            "Bind attempts that failed: refused by the SMSC (credentials, ESME_RBINDFAIL), or \
             no session (no connection, no answer to the bind).",
            [
                ("refused", &st.bind_refusals),
                ("no_session", &st.bind_no_session),
            ]
            .into_iter()
            .map(|(r, v)| (format!("{{reason=\"{r}\"}}"), get(v)))
            .collect(),
        );
        family(
            &mut out,
            "presence_gw_smpp_malformed_pdus_total",
            "counter",
            "Malformed PDUs received (answered with generic_nack).",
            one(get(&st.malformed)),
        );
        family(
            &mut out,
            "presence_gw_smpp_busy_polling",
            "gauge",
            "1 while the session polls its socket for expected answers instead of sleeping \
             ([smsc] busy_poll_us): its last probes found answers coming back faster so.",
            one(get(&st.busy_polling)),
        );
        family(
            &mut out,
            "presence_gw_smpp_busy_poll_choices_total",
            "counter",
            "Times a session timed its answers sleeping and polling and chose between them.",
            one(get(&st.busy_poll_choices)),
        );
        // No TLS bind yet (or plain TCP): no sample, rather than a 0 that reads as "expired
        // now" in an alert.
        let not_after = st.tls_cert_not_after.load(Ordering::Relaxed);
        family(
            &mut out,
            "presence_gw_smpp_tls_cert_expiry_seconds",
            "gauge",
            "Seconds until the end of validity (notAfter) of the certificate the SMSC showed at \
             the last TLS bind; negative once past (no bind succeeds then). No sample before a \
             TLS bind.",
            if not_after == 0 {
                Vec::new()
            } else {
                one((not_after - crate::store::now_ms() / 1000).to_string())
            },
        );
        histogram(
            &mut out,
            "presence_gw_smpp_inbound_ack_seconds",
            "deliver_sm / data_sm read to its resp queued (persisting it first): how long each holds a slot of the SMSC's window.",
            &st.inbound_ack.snapshot(),
        );
        let gates = link.receipt_gates();
        histogram(
            &mut out,
            "presence_gw_receipt_gate_wait_seconds",
            "How long a batch of delivery receipts waited for the record of its own submits before being written (link windows up to 64): part of inbound_ack_seconds.",
            &gates.waited.snapshot(),
        );
        family(
            &mut out,
            "presence_gw_receipt_gate_gave_up_total",
            "counter",
            "Batches of receipts whose submits were still not recorded when their wait ran out (2 s): held and matched later instead.",
            one(get(&gates.gave_up)),
        );
        family(
            &mut out,
            "presence_gw_store_commits_total",
            "counter",
            "Write transactions committed by the store writer (group commits).",
            one(store.commits.to_string()),
        );
        family(
            &mut out,
            "presence_gw_store_requests_total",
            "counter",
            "Write requests run by the store writer (divide by commits_total for the batch size).",
            one(store.requests.to_string()),
        );
        family(
            &mut out,
            "presence_gw_store_failed_batches_total",
            "counter",
            "Write transactions rolled back or not committed.",
            one(store.failed_batches.to_string()),
        );
        family(
            &mut out,
            "presence_gw_store_retried_writes_total",
            "counter",
            "Writes the store refused for a reason that passes (another process holding the \
             database, a full disk) and that were tried again.",
            one(store.retried_writes.to_string()),
        );
        family(
            &mut out,
            "presence_gw_inbox_duplicates_total",
            "counter",
            "MO PDUs taken for a copy of one already received (an SMSC's resend after a lost \
             answer, or the same text again within 2 minutes on a later SMPP session): \
             acknowledged, not run again.",
            one(store.mo_duplicates.to_string()),
        );
        let mo_pdus: Vec<(String, String)> = crate::store::MoPdu::ALL
            .iter()
            .map(|what| what.as_str())
            .zip(store.mo_pdus)
            .chain([("duplicate", store.mo_duplicates)])
            .map(|(what, n)| (format!("{{outcome=\"{what}\"}}"), n.to_string()))
            .collect();
        family(
            &mut out,
            "presence_gw_mo_pdus_total",
            "counter",
            "MO PDUs received, in PDUs (deliver_sm / data_sm carrying a message or one part of \
             one; delivery receipts are not counted), by outcome: stored (in the inbox, \
             acknowledged), duplicate (a copy of one already received, acknowledged), refused \
             (ESME_RX_P_APPN: a part that cannot be read, not stored), deferred \
             (ESME_RX_T_APPN: the store failed, the SMSC sends it again and it is counted again).",
            mo_pdus,
        );
        family(
            &mut out,
            "presence_gw_mo_messages_total",
            "counter",
            "MO messages received whole and handed to the command service, in messages: a \
             message sent in 3 parts counts 1, when its last part is stored; copies are not \
             counted again.",
            one(store.mo_messages.to_string()),
        );
        family(
            &mut out,
            "presence_gw_inbox_misaddressed_total",
            "counter",
            "MO messages sent to a number that is neither service_number, one of \
             service_aliases nor the USSD code (the SMSC routed another number's traffic \
             here): acknowledged and kept in the inbox, not run as commands, not answered.",
            one(get(&self.misaddressed)),
        );
        family(
            &mut out,
            "presence_gw_store_queued_requests",
            "gauge",
            "Write requests waiting for the store writer.",
            one(store.queued.to_string()),
        );
        histogram(
            &mut out,
            "presence_gw_store_transaction_seconds",
            "Store write transactions, BEGIN to COMMIT (a slow disk shows here first).",
            &store.transaction,
        );
        family(
            &mut out,
            "presence_gw_commands_total",
            "counter",
            "Subscriber commands (and network events) applied, by type.",
            self.commands()
                .into_iter()
                .map(|(k, v)| (format!("{{command=\"{k}\"}}"), v.to_string()))
                .collect(),
        );
        family(
            &mut out,
            "presence_gw_status_changes_total",
            "counter",
            "Status changes that notified at least one contact.",
            one(get(&self.status_changes)),
        );
        family(
            &mut out,
            "presence_gw_fanout_notifications_total",
            "counter",
            "Status updates queued for contacts (per change: divide by status_changes_total).",
            one(get(&self.notifications)),
        );
        family(
            &mut out,
            "presence_gw_quota_deferred_changes_total",
            "counter",
            "Status changes whose updates the hourly quota held back.",
            one(get(&self.deferred_changes)),
        );
        let http: Vec<(String, String)> = lock(&self.http)
            .iter()
            .map(|((route, status), v)| {
                (
                    format!("{{route=\"{}\",status=\"{status}\"}}", escape(route)),
                    v.to_string(),
                )
            })
            .collect();
        family(
            &mut out,
            "presence_gw_http_requests_total",
            "counter",
            "HTTP requests by route and status.",
            http,
        );
        family(
            &mut out,
            "presence_gw_http_connections_open",
            "gauge",
            "HTTP connections open now; at http_max_connections no more are accepted until one \
             closes.",
            one(get(&self.http_connections)),
        );
        // Running totals of outcomes, for rate() and alerts (the gauge above drops at a purge).
        let entered: Vec<(String, String)> = crate::store::outbox::OutboxState::ALL
            .iter()
            .zip(store.outbox_entered)
            .filter(|(state, _)| state.is_final())
            .map(|(state, n)| (format!("{{state=\"{}\"}}", state.as_str()), n.to_string()))
            .collect();
        family(
            &mut out,
            "presence_gw_outbox_outcomes_total",
            "counter",
            "Outbox rows the gateway took into a final state since it started: delivered (its receipt said so), failed (refused, or a failed receipt), expired (validity), superseded (a newer update with its key).",
            entered,
        );
        family(
            &mut out,
            "presence_gw_outbox_messages",
            "gauge",
            "Outbox rows by state, as the table holds them now: rows leave delivered, failed and expired when the retention purge removes them, so these are no running totals.",
            [
                ("queued", outbox.queued),
                ("in_flight", outbox.in_flight),
                ("submitted", outbox.submitted),
                ("delivered", outbox.delivered),
                ("failed", outbox.failed),
                ("expired", outbox.expired),
                ("superseded", outbox.superseded),
            ]
            .into_iter()
            .map(|(k, v)| (format!("{{state=\"{k}\"}}"), v.to_string()))
            .collect(),
        );
        family(
            &mut out,
            "presence_gw_receipts_pending",
            "gauge",
            "Delivery receipts held for a message id no recorded submit has (yet): a receipt that beat its submit_sm_resp, or one for a submit sent twice around a crash, whose id nothing will take; dropped after 48 hours.",
            one(outbox.pending_receipts.to_string()),
        );
        family(
            &mut out,
            "presence_gw_inbox_pending_messages",
            "gauge",
            "Complete MO messages not yet applied.",
            one(inbox.pending_messages.to_string()),
        );
        family(
            &mut out,
            "presence_gw_inbox_open_parts",
            "gauge",
            "Parts of concatenated MO messages waiting for the rest.",
            one(inbox.open_parts.to_string()),
        );
        family(
            &mut out,
            "presence_gw_store_counts_stale",
            "gauge",
            "1 when the outbox and inbox gauges are from an earlier scrape (the database was \
             held by another process).",
            one(u8::from(stale).to_string()),
        );
        out
    }
}

/// One metric family: HELP, TYPE and its samples (`labels` include the braces, or are empty).
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: Vec<(String, String)>) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, v) in samples {
        let _ = writeln!(out, "{name}{labels} {v}");
    }
}

/// One histogram family: cumulative `_bucket`s, `_sum` and `_count`, in seconds.
fn histogram(out: &mut String, name: &str, help: &str, h: &HistogramSnapshot) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    for (le, n) in h.cumulative() {
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {n}");
    }
    let _ = writeln!(out, "{name}_sum {}", h.sum_us as f64 / 1e6);
    let _ = writeln!(out, "{name}_count {}", h.count());
}

/// Escape a label value (`\`, `"`, newline), per the exposition format.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_counted_by_command() {
        let m = Metrics::default();
        m.record_outcome(&Outcome {
            command: Some("status_set"),
            reply: None,
            notified: 3,
            deferred: false,
        });
        m.record_outcome(&Outcome::default());
        m.record_outcome(&Outcome {
            command: Some("status_set"),
            reply: None,
            notified: 0,
            deferred: true,
        });
        let c = m.commands();
        assert_eq!(c.get("status_set"), Some(&2));
        assert_eq!(c.get("invalid"), Some(&1));
        assert_eq!(m.status_changes.load(Ordering::Relaxed), 1);
        assert_eq!(m.notifications.load(Ordering::Relaxed), 3);
        assert_eq!(m.deferred_changes.load(Ordering::Relaxed), 1);
        m.record_misaddressed();
        assert_eq!(m.misaddressed.load(Ordering::Relaxed), 1);
        assert_eq!(m.commands().values().sum::<u64>(), 3, "not a command");
        assert_eq!(escape("a\"b\\c\n"), "a\\\"b\\\\c\\n");
    }
}
