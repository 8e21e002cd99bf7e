//! The gateway's HTTP server (axum): the operator API (`POST /api/v1/events`, bearer API key),
//! `/health` (ready only when bound to the SMSC), `/metrics` (Prometheus text), and the avatar
//! downloads and pages of `avatar`.
//!
//! Every request is counted by route template and status for `/metrics`. Handlers never log
//! keys or request bodies. A wrong API key is a WARN line naming the remote address, method
//! and path (never the key), at most one per address every [`REFUSAL_LOG_EVERY`].

mod avatar;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::command::Msisdn;
use crate::config::Secret;
use crate::metrics::Metrics;
use crate::service::worker::ServiceHandle;
use crate::service::NetworkEvent;
use crate::smpp::{LinkHandle, LinkState};
use crate::store::{inbox, outbox, Store};

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct HttpState {
    /// The store (for gauges).
    pub store: Store,
    /// The SMSC link (health, gauges).
    pub link: LinkHandle,
    /// The status service (`None`: the events API answers 503).
    pub service: Option<ServiceHandle>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The key `/api/v1` requires as `Authorization: Bearer <key>` (unset: the API is off);
    /// a config reload replaces it ([`ApiKey::set`]).
    pub api_key: ApiKey,
    /// Uploads decoded at once (decoding is CPU-bound; the rest wait).
    pub image_slots: Arc<tokio::sync::Semaphore>,
    /// Cancelled when the gateway begins to stop ([`crate::app::Gateway::drain`]): `/health`
    /// then says `stopping` (503), so a load balancer sends no more work while the rows in
    /// hand settle.
    pub stopping: tokio_util::sync::CancellationToken,
    /// How long `/health` says degraded after an MO PDU was deferred (`[health]
    /// mo_deferral_window_secs`, default [`MO_DEFERRED_DEGRADED_SECS`]).
    pub mo_deferral_window: Duration,
    /// The operator's pause of outbound sending (`/api/v1/outbound`, `/health`, `/metrics`).
    pub pause: crate::delivery::pause::Pause,
}

/// The operator API's key (`api_key`), shared by every request and replaced by a config
/// reload (`systemctl reload`, [`ApiKey::set`]): each request is checked against the key in
/// force when it comes, so a rotated key holds from the next request on and the old one is
/// refused at once; no key turns the API off (403). Its `Debug` says only whether a key is
/// set, never the key.
#[derive(Clone, Default)]
pub struct ApiKey(Arc<RwLock<Option<Secret>>>);

impl ApiKey {
    /// A handle holding `key` (`None`: the API off).
    pub fn new(key: Option<Secret>) -> Self {
        Self(Arc::new(RwLock::new(key)))
    }

    /// The key in force, if any.
    pub fn get(&self) -> Option<Secret> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether a key is set (the API is on).
    pub fn is_set(&self) -> bool {
        self.0.read().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    /// Put `key` in force for every request from now on (`None` turns the API off).
    pub fn set(&self, key: Option<Secret>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = key;
    }
}

impl From<Option<Secret>> for ApiKey {
    fn from(key: Option<Secret>) -> Self {
        Self::new(key)
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_set() {
            "ApiKey(set)"
        } else {
            "ApiKey(off)"
        })
    }
}

/// Hard cap on an upload request body; the configured picture limit (default 100 KB) is
/// checked while reading, with a clear page and SMS, well below it.
const UPLOAD_BODY_LIMIT: usize = 12 * 1024 * 1024;

/// Largest operator API body (`/api/v1/...`, JSON), bytes: axum's default, written out so the
/// 413 can name it.
const API_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The router with every route: [`handset_router`]'s and [`operator_router`]'s on one listener.
pub fn router(state: HttpState) -> Router {
    counted(
        handset_routes(state.clone()).merge(operator_routes(state.clone())),
        state,
    )
}

/// The operator's routes: `/health`, `/metrics` and the operator API (`/api/v1/...`), for a
/// listener of their own (`operator_http`).
pub fn operator_router(state: HttpState) -> Router {
    counted(operator_routes(state.clone()), state)
}

/// The handsets' routes: avatar downloads (`/a/`, `/p/`), the gallery and the upload pages,
/// for `http` when the operator's are on a listener of their own.
pub fn handset_router(state: HttpState) -> Router {
    counted(handset_routes(state.clone()), state)
}

/// `routes` with every request counted by route and status (`/metrics`), a path no route
/// takes as `unmatched`.
fn counted(routes: Router, state: HttpState) -> Router {
    routes.layer(middleware::from_fn_with_state(state, count))
}

fn operator_routes(state: HttpState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .merge(
            Router::new()
                .route("/api/v1/events", post(event))
                .route("/api/v1/activity", post(activity))
                .route("/api/v1/handsets", post(handsets))
                .route("/api/v1/avatars/sync", post(avatar_sync))
                .route("/api/v1/log", get(log_filter).put(set_log_filter))
                .route("/api/v1/outbound", get(outbound).put(set_outbound))
                .route("/api/v1/outbox", get(outbox_list))
                .route("/api/v1/outbox/{id}", get(outbox_row))
                .layer(axum::extract::DefaultBodyLimit::max(API_BODY_LIMIT))
                // The key is checked before the body is read: a caller without it costs no
                // JSON parsing.
                .route_layer(middleware::from_fn_with_state(
                    (state.clone(), Arc::new(RefusalLog::default())),
                    operator_only,
                )),
        )
        .with_state(state)
}

fn handset_routes(state: HttpState) -> Router {
    Router::new()
        .route("/a/{token}", get(avatar::avatar_link))
        .route("/p/{id}", get(avatar::preset_image))
        .route("/gallery", get(avatar::gallery))
        .route(
            "/u/{token}",
            get(avatar::upload_form)
                .post(avatar::upload_post)
                .layer(axum::extract::DefaultBodyLimit::max(UPLOAD_BODY_LIMIT)),
        )
        .with_state(state)
}

/// Longest a connection may take to send a request's headers, counted from when the server
/// waits for them: a new connection, or a kept-alive one after its last response. Past it the
/// connection is closed. Without it (axum's own `serve` sets none) a client that connected and
/// sent nothing, or headers a byte at a time, held a connection and its file descriptor for
/// ever; enough of them and no handset could fetch an avatar.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest a request body may pause (no bytes at all) before the request fails: an upload
/// that declared more than it sends, or a sender gone silent, no longer holds its handler
/// and connection for ever. A slow but moving upload (a handset on GPRS) is not cut.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest a stop waits for the requests in progress to finish (a handset that lost its data
/// connection mid-upload, one that does not read its download): past it their connections are
/// closed and [`serve`] returns.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The timeouts [`serve_with`] runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpTimeouts {
    /// [`HEADER_READ_TIMEOUT`] unless tests say otherwise.
    pub header_read: Duration,
    /// [`BODY_IDLE_TIMEOUT`] unless tests say otherwise.
    pub body_idle: Duration,
    /// [`DRAIN_TIMEOUT`] unless tests say otherwise.
    pub drain: Duration,
}

impl Default for HttpTimeouts {
    fn default() -> Self {
        HttpTimeouts {
            header_read: HEADER_READ_TIMEOUT,
            body_idle: BODY_IDLE_TIMEOUT,
            drain: DRAIN_TIMEOUT,
        }
    }
}

/// Connections [`serve`] keeps open at once by default (`http_max_connections`).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// How many HTTP connections may be open at once, and where their count is kept (the
/// `presence_gw_http_connections_open` gauge: [`Metrics::http_connections`]).
#[derive(Debug, Clone)]
pub struct ConnectionCap {
    /// Most connections open at once; while that many are, no more are accepted and new ones
    /// wait in the listen backlog (the kernel's) until one closes.
    pub max: usize,
    /// Connections open now.
    pub open: Arc<AtomicU64>,
}

impl ConnectionCap {
    /// A cap of `max` with a count of its own.
    pub fn new(max: usize) -> Self {
        ConnectionCap {
            max,
            open: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Default for ConnectionCap {
    fn default() -> Self {
        ConnectionCap::new(DEFAULT_MAX_CONNECTIONS)
    }
}

/// Serve `router` on `listener` until `shutdown` is cancelled: then no new connections are
/// taken, idle ones close at once, and the requests in progress get [`DRAIN_TIMEOUT`] to
/// finish before their connections are closed; returns when every connection has ended. Each
/// request knows its remote address (for the log of refused API keys). HTTP/1.1, with
/// [`HEADER_READ_TIMEOUT`] and [`BODY_IDLE_TIMEOUT`], at most [`DEFAULT_MAX_CONNECTIONS`] open
/// at once.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    serve_with(listener, router, shutdown, HttpTimeouts::default()).await
}

/// [`serve`] with the timeouts given (tests use short ones).
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    timeouts: HttpTimeouts,
) -> std::io::Result<()> {
    serve_capped(
        listener,
        router,
        shutdown,
        timeouts,
        ConnectionCap::default(),
    )
    .await
}

/// [`serve_with`] with at most `cap.max` connections open at once: each holds a permit while
/// it is open, and while none is left the loop accepts nothing (the connections that come
/// meanwhile wait in the kernel's listen backlog, and are served as others close; past the
/// backlog the kernel refuses them). Without it every connection was accepted and held,
/// idle ones included, until the process ran out of file descriptors (then the SQLite store
/// and the SMPP link could not open theirs either). A WARN line says when the cap is reached,
/// once until the server is below it again.
pub async fn serve_capped(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    timeouts: HttpTimeouts,
    cap: ConnectionCap,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::server::graceful::GracefulShutdown;
    // Fails a body that sends nothing for `body_idle`, reset by every frame that comes.
    use tower_http::timeout::TimeoutBody;
    let body_idle = timeouts.body_idle;
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(timeouts.header_read);
    // Tells every connection to finish its request and close, and says when all have.
    let graceful = GracefulShutdown::new();
    // Every connection's task: those still running when the drain time is over are aborted
    // (their sockets closed), not left running after this returns.
    let mut connections = tokio::task::JoinSet::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(cap.max.max(1)));
    // Whether the cap was reached and not yet left (one WARN line per such time).
    let mut at_cap = false;
    loop {
        // The ended connections' results (nothing to read in them).
        while connections.try_join_next().is_some() {}
        // A permit before the accept: at the cap, the next connection stays in the backlog.
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => {
                at_cap = false;
                p
            }
            Err(_) => {
                if !at_cap {
                    at_cap = true;
                    tracing::warn!(
                        max_connections = cap.max,
                        "HTTP connections at the cap (http_max_connections): new ones wait \
                         until one closes"
                    );
                }
                tokio::select! {
                    p = slots.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        // Never closed; stop serving rather than spin if it were.
                        Err(_) => break,
                    },
                    _ = shutdown.cancelled() => break,
                }
            }
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors, most likely: wait rather than spin (a stop
                    // meanwhile is not kept waiting).
                    tracing::warn!(error = %e, "HTTP accept failed; trying again in a second");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        _ = shutdown.cancelled() => break,
                    }
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let router = router.clone();
        let service =
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let (mut parts, body) = req.into_parts();
                parts.extensions.insert(ConnectInfo(remote));
                let body = axum::body::Body::new(TimeoutBody::new(body_idle, body));
                // A router is always ready: no `poll_ready` first.
                tower_service::Service::call(&mut router.clone(), Request::from_parts(parts, body))
            });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        let open = OpenConnection::new(cap.open.clone(), permit);
        connections.spawn(async move {
            // Held until the connection ends (or its task is aborted after the drain).
            let _open = open;
            if let Err(e) = conn.await {
                tracing::debug!(%remote, error = %e, "HTTP connection ended");
            }
        });
    }
    drop(listener);
    // The requests in progress finish; idle connections close at once.
    if tokio::time::timeout(timeouts.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "HTTP requests still open {:?} after the stop; closing them",
            timeouts.drain
        );
    }
    connections.shutdown().await;
    Ok(())
}

/// One open connection: its permit of [`serve_capped`]'s cap and its place in the open count,
/// both given back when it is dropped.
struct OpenConnection {
    open: Arc<AtomicU64>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl OpenConnection {
    fn new(open: Arc<AtomicU64>, permit: tokio::sync::OwnedSemaphorePermit) -> Self {
        open.fetch_add(1, Ordering::Relaxed);
        OpenConnection {
            open,
            _permit: permit,
        }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Errors of `accept` that concern one connection only (SMPP's reader handles its own).
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// The operator API's gate: `Authorization: Bearer <key>` ([`refuse`]) before the handler. A
/// wrong key is logged ([`RefusalLog`]): a client configured with an old key, or someone
/// guessing, was visible only as a 403 count in `/metrics`.
async fn operator_only(
    State((st, refusals)): State<(HttpState, Arc<RefusalLog>)>,
    req: Request,
    next: Next,
) -> Response {
    match refuse(&st, req.headers()) {
        // A body declared over the limit is refused before a byte of it is read: it used to
        // be read up to the limit, or waited for until the body timeout when the client sent
        // no more (a declared length of 100 GB and seven bytes).
        Ok(()) if declared_length(req.headers()).is_some_and(|n| n > API_BODY_LIMIT as u64) => {
            too_large().into_response()
        }
        Ok(()) => next.run(req).await,
        Err(e) => {
            if e.code == StatusCode::FORBIDDEN && st.api_key.is_set() {
                let remote = req
                    .extensions()
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0);
                if let Some(suppressed) = refusals.note(remote.map(|a| a.ip()), Instant::now()) {
                    // The key is not named, not even in part: a near miss would give most of
                    // the real one away.
                    tracing::warn!(
                        remote = %remote.map_or_else(|| "unknown".to_string(), |a| a.to_string()),
                        method = %req.method(),
                        path = %req.uri().path(),
                        suppressed,
                        "operator API: wrong API key refused (suppressed: refusals from this \
                         address not logged since its last such line)"
                    );
                }
            }
            e.into_response()
        }
    }
}

/// At most one wrong-key line per remote address in this time.
pub const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// Remote addresses [`RefusalLog`] keeps apart; refusals from further ones while it is full
/// share one entry (so a guesser on many addresses is still one line per
/// [`REFUSAL_LOG_EVERY`] for them all).
const REFUSAL_LOG_ADDRESSES: usize = 1024;

/// When a refused API key is logged: the first refusal from an address is, then none from it
/// for [`REFUSAL_LOG_EVERY`], and the next line after that says how many were not.
#[derive(Debug, Default)]
pub struct RefusalLog {
    /// By remote address (`None`: unknown, or one over [`REFUSAL_LOG_ADDRESSES`]).
    seen: Mutex<HashMap<Option<IpAddr>, Refused>>,
}

/// One address's last logged refusal and those since.
#[derive(Debug, Clone, Copy)]
struct Refused {
    logged_at: Instant,
    suppressed: u64,
}

impl RefusalLog {
    /// A refusal from `from` at `now`: `Some(n)` to log it, saying that `n` refusals from
    /// there were not logged since the last line; `None` to count it without a line.
    pub fn note(&self, from: Option<IpAddr>, now: Instant) -> Option<u64> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let mut key = from;
        if !seen.contains_key(&key) && seen.len() >= REFUSAL_LOG_ADDRESSES {
            // Forget the addresses whose window ended (their count goes with them), then, if
            // still full, share the overflow entry.
            seen.retain(|_, r| now.saturating_duration_since(r.logged_at) < REFUSAL_LOG_EVERY);
            if seen.len() >= REFUSAL_LOG_ADDRESSES {
                key = None;
            }
        }
        match seen.get_mut(&key) {
            Some(r) if now.saturating_duration_since(r.logged_at) < REFUSAL_LOG_EVERY => {
                r.suppressed += 1;
                None
            }
            Some(r) => {
                let n = r.suppressed;
                *r = Refused {
                    logged_at: now,
                    suppressed: 0,
                };
                Some(n)
            }
            None => {
                seen.insert(
                    key,
                    Refused {
                        logged_at: now,
                        suppressed: 0,
                    },
                );
                Some(0)
            }
        }
    }
}

async fn count(State(st): State<HttpState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let resp = next.run(req).await;
    st.metrics.record_http(&route, resp.status().as_u16());
    resp
}

async fn health(State(st): State<HttpState>) -> Response {
    let state = st.link.state();
    let (code, status, link) = match &state {
        LinkState::Bound => (StatusCode::OK, "ready", "bound".to_string()),
        LinkState::Connecting => (
            StatusCode::SERVICE_UNAVAILABLE,
            "starting",
            "connecting".into(),
        ),
        LinkState::Down(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "degraded",
            format!("down: {why}"),
        ),
        LinkState::AuthRejected(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "degraded",
            format!("bind rejected: {why}"),
        ),
        LinkState::Stopped => (
            StatusCode::SERVICE_UNAVAILABLE,
            "stopping",
            "stopped".into(),
        ),
    };
    // Bound: the SMSC bound to; else the one being tried (a refused bind names it too).
    let address = st.link.bound_to().or_else(|| st.link.target());
    let trouble = store_trouble(
        &st.store.stats(),
        crate::store::now_ms(),
        st.mo_deferral_window,
    );
    let (code, status, store) = match trouble {
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, "degraded", why),
        None => (code, status, "ok".to_string()),
    };
    let (code, status) = if st.stopping.is_cancelled() {
        (StatusCode::SERVICE_UNAVAILABLE, "stopping")
    } else {
        (code, status)
    };
    (
        code,
        Json(json!({
            "status": status,
            "smsc": link,
            "smsc_address": address,
            "store": store,
            "outbound": if st.pause.is_paused() { "paused" } else { "sending" },
        })),
    )
        .into_response()
}

/// Seconds of failing store writes after which `/health` says degraded: longer than a
/// backup or an operator's command holds the database in the usual case.
pub const STORE_DEGRADED_AFTER_SECS: i64 = 10;

/// Seconds `/health` says degraded after an MO PDU was deferred (its write failed; the SMSC
/// sends it again), unless `[health] mo_deferral_window_secs` says otherwise: long enough to
/// span an SMSC's redelivery interval while every MO fails, so the state does not flicker
/// back to ready between two refusals. An SMSC that redelivers less often needs a longer one.
pub const MO_DEFERRED_DEGRADED_SECS: u64 = 60;

/// Why `/health` should call the store degraded at `now` (Unix ms), from its counters; `None`
/// when it is fine.
///
/// Every write failing for [`STORE_DEGRADED_AFTER_SECS`] (a full disk, a read-only file, the
/// database held by another process): nothing is recorded. An MO PDU deferred in the last
/// `mo_window` ([`MO_DEFERRED_DEGRADED_SECS`] by default): MO is being refused even while other writes commit (on a
/// nearly full disk small writes still fit and an MO's do not; that gateway said "ready"
/// while it deferred over a thousand MO PDUs, because some write committed every few
/// seconds).
fn store_trouble(stats: &crate::store::Stats, now: i64, mo_window: Duration) -> Option<String> {
    if let Some(since) = stats.failing_since {
        let secs = (now - since).max(0) / 1000;
        if secs >= STORE_DEGRADED_AFTER_SECS {
            return Some(format!("writes failing for {secs} s (see the log)"));
        }
    }
    let at = stats.last_mo_deferred?;
    let ago_ms = (now - at).max(0);
    let ago = ago_ms / 1000;
    let deferred = stats.mo_pdus[crate::store::MoPdu::Deferred as usize];
    let window_ms = i64::try_from(mo_window.as_millis()).unwrap_or(i64::MAX);
    (ago_ms < window_ms).then(|| {
        format!("MO not stored {ago} s ago, {deferred} MO PDUs deferred since start (see the log)")
    })
}

async fn metrics(State(st): State<HttpState>) -> Response {
    // Through the writer: it keeps the outbox's rows per state as it changes them, so a
    // scrape does not count the table (`outbox::counts_tracked`).
    let counts = st
        .store
        .write(|tx| {
            Ok::<_, crate::store::StoreError>((outbox::counts_tracked(tx)?, inbox::counts(tx)?))
        })
        .await;
    if let Err(e) = &counts {
        tracing::warn!(error = %e, "metrics: the store did not answer");
    }
    match st.metrics.counts_for_scrape(counts) {
        Ok((o, i, stale)) => {
            let text = st.metrics.render(
                &st.link,
                &st.store.stats(),
                &o,
                &i,
                stale,
                st.pause.is_paused(),
            );
            (
                [(
                    header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                text,
            )
                .into_response()
        }
        Err(_) => {
            // The reason went to the log; the endpoint may be reachable by more than the
            // operator's scraper.
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response()
        }
    }
}

/// `POST /api/v1/events` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventBody {
    msisdn: String,
    event: String,
}

fn error(code: StatusCode, message: &str) -> Response {
    (code, Json(json!({ "error": message }))).into_response()
}

/// Byte comparison whose time does not depend on where the inputs differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An operator API refusal, answered as `{"error": message}`.
#[derive(Debug)]
struct ApiError {
    code: StatusCode,
    message: String,
}

impl ApiError {
    fn new(code: StatusCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = error(self.code, &self.message);
        if self.code == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}

/// The 413 of an operator API body over [`API_BODY_LIMIT`], naming it.
fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the body is over the operator API's limit of {} MiB: send fewer rows per request",
            API_BODY_LIMIT / (1024 * 1024)
        ),
    )
}

/// The request's `Content-Length`, when it has a readable one.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// An operator API request's JSON body (the bearer key was checked by [`operator_only`]).
fn operator_body<T>(
    body: Result<Json<T>, axum::extract::rejection::JsonRejection>,
) -> Result<T, ApiError> {
    body.map(|Json(b)| b).map_err(|e| {
        // Too big is no malformed request: 413, saying the limit (it was a 400 "length limit
        // exceeded").
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, e.body_text())
        }
    })
}

/// The running status service.
fn running(st: &HttpState) -> Result<&ServiceHandle, ApiError> {
    st.service.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the status service is not running",
        )
    })
}

/// `text` as a subscriber number; the 400 names `field`.
fn number(text: &str, country_code: &str, field: &str) -> Result<Msisdn, ApiError> {
    Msisdn::parse(text, country_code)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("{field}: {e}")))
}

/// Checks `Authorization: Bearer <key>` against the configured key.
fn refuse(st: &HttpState, headers: &HeaderMap) -> Result<(), ApiError> {
    // The key in force for this request (a reload may have replaced it since the last).
    let Some(key) = st.api_key.get() else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "the operator API is off: set api_key in the config (or PRESENCE_GW_API_KEY)",
        ));
    };
    // The scheme name is case-insensitive (RFC 9110 §11.1): `bearer` is `Bearer`.
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key);
    match given {
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing bearer API key",
        )),
        Some(g) if same_secret(g.trim().as_bytes(), key.expose().as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::new(StatusCode::FORBIDDEN, "wrong API key")),
    }
}

async fn event(
    State(st): State<HttpState>,
    body: Result<Json<EventBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let (body, service) = match operator_body(body).and_then(|b| Ok((b, running(&st)?))) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let Some(ev) = NetworkEvent::parse(&body.event) else {
        return error(
            StatusCode::BAD_REQUEST,
            "event must be call_started, call_ended, power_off or power_on",
        );
    };
    let msisdn = match number(&body.msisdn, &service.config().country_code, "msisdn") {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    match service.network_event(msisdn, ev).await {
        Ok(o) => (
            StatusCode::OK,
            Json(json!({ "applied": true, "notified": o.notified, "deferred": o.deferred })),
        )
            .into_response(),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("not applied: {e}"),
        ),
    }
}

/// One row of `POST /api/v1/activity`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivityRow {
    msisdn: String,
    call_minutes: u64,
    sms_sent: u64,
    tenure_days: u64,
    level: u64,
}

/// `POST /api/v1/activity`: a JSON array of activity rows (as the CSV import). Rows with a bad
/// number or a figure over [`crate::service::avatar::MAX_ACTIVITY_FIGURE`] are reported by
/// index and skipped; the others are written in one transaction.
async fn activity(
    State(st): State<HttpState>,
    body: Result<Json<Vec<ActivityRow>>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let rows = match operator_body(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let cc = st
        .service
        .as_ref()
        .map_or_else(|| "86".to_string(), |s| s.config().country_code.clone());
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (i, r) in rows.into_iter().enumerate() {
        let figures = crate::service::avatar::Activity {
            call_minutes: r.call_minutes,
            sms_sent: r.sms_sent,
            tenure_days: r.tenure_days,
            level: r.level,
        };
        match (Msisdn::parse(&r.msisdn, &cc), figures.refused()) {
            (Ok(m), None) => good.push((m.as_str().to_string(), figures)),
            // A figure past MAX_ACTIVITY_FIGURE is a broken export: refused with its row.
            (Ok(_), Some(why)) => bad.push(json!({ "index": i, "error": why })),
            (Err(e), _) => bad.push(json!({ "index": i, "error": e.to_string() })),
        }
    }
    let n = good.len();
    let now = crate::store::now_ms();
    let written = st
        .store
        .write(move |tx| {
            for (m, a) in &good {
                crate::service::avatar::import_activity(tx, m, a, now)?;
            }
            Ok::<_, crate::store::StoreError>(())
        })
        .await;
    match written {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({ "imported": n, "skipped": bad })),
        )
            .into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &format!("not saved: {e}")),
    }
}

/// `POST /api/v1/handsets` body: whether a number's handset takes WAP Push.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HandsetBody {
    msisdn: String,
    wap_push: bool,
}

/// `POST /api/v1/handsets`: mark a handset as taking WAP Push or not (avatar links then go
/// as plain SMS).
async fn handsets(
    State(st): State<HttpState>,
    body: Result<Json<HandsetBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let (body, service) = match operator_body(body).and_then(|b| Ok((b, running(&st)?))) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let m = match number(&body.msisdn, &service.config().country_code, "msisdn") {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    let on = body.wap_push;
    let r = st
        .store
        .write(move |tx| crate::service::avatar::set_wap_push(tx, m.as_str(), on))
        .await;
    match r {
        Ok(()) => (StatusCode::OK, Json(json!({ "wap_push": on }))).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &format!("not saved: {e}")),
    }
}

/// `PUT /api/v1/log` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogBody {
    /// The new filter, as `RUST_LOG` takes it (`info,presence_gw::smpp=debug`).
    filter: String,
}

/// The process's log filter control, or 503 where none is installed (the gateway run as a
/// library, without [`crate::logging::init`]).
fn log_control() -> Result<&'static crate::logging::LogControl, ApiError> {
    crate::logging::control().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this process did not install the gateway's logging: its filter cannot be read or changed here",
        )
    })
}

/// `GET /api/v1/log`: the log filter in force, `{"filter": "info,rusmpp=warn"}`.
async fn log_filter() -> Response {
    match log_control() {
        Ok(c) => (StatusCode::OK, Json(json!({ "filter": c.current() }))).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `PUT /api/v1/log` `{"filter": "..."}`: log by that filter from now on, without a restart
/// (a restart would drop the SMPP session being looked at). A filter that does not parse, or
/// names a misspelt level, is refused (400) and the old one stays. Answers the new filter and
/// the one it replaced; the change is logged at WARN under [`crate::logging::CHANGE_TARGET`],
/// which every filter put in place shows, so it is seen whatever the filter.
async fn set_log_filter(
    body: Result<Json<LogBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let body = match operator_body(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let control = match log_control() {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    match control.set(&body.filter) {
        Ok(was) => {
            // The filter this request put in place (a concurrent PUT may have replaced it
            // since: `current()` would name that one).
            let now = body.filter.trim();
            // Under its own target, which every filter put in place shows at WARN: a filter
            // that hides WARN (`error`, `off`) still logs that it was put in place.
            tracing::warn!(target: crate::logging::CHANGE_TARGET, filter = %now, was = %was, "log filter changed through the operator API");
            (StatusCode::OK, Json(json!({ "filter": now, "was": was }))).into_response()
        }
        Err(why) => error(
            StatusCode::BAD_REQUEST,
            &format!("log filter not changed: {why}"),
        ),
    }
}

/// `PUT /api/v1/outbound` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboundBody {
    /// `true`: submit nothing until `false` comes.
    paused: bool,
    /// Why (shown by `GET` and in the log).
    #[serde(default)]
    note: String,
}

/// The pause as the API shows it.
fn outbound_json(p: Option<&crate::store::pause::Paused>) -> serde_json::Value {
    match p {
        Some(p) => json!({ "paused": true, "since_ms": p.since, "note": p.note }),
        None => json!({ "paused": false }),
    }
}

/// Most rows `GET /api/v1/outbox` answers with.
const OUTBOX_LIST_MAX: usize = 1000;

/// The filters of `GET /api/v1/outbox` (as `presence-gw outbox list` takes them).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboxQuery {
    /// Messages to this subscriber (any form of the number).
    to: Option<String>,
    /// The message the SMSC gave this id (hex or decimal, as receipts match).
    smsc_id: Option<String>,
    /// Rows in this state.
    state: Option<String>,
    /// Most rows (default 50, at most [`OUTBOX_LIST_MAX`]).
    limit: Option<usize>,
}

/// One outbox row and its segments as the operator API shows them (times in Unix ms).
fn outbox_json(r: &outbox::OutboxRow, segments: &[outbox::SegmentRow]) -> serde_json::Value {
    json!({
        "id": r.id,
        "state": r.state.as_str(),
        "kind": r.kind.as_str(),
        "destination": r.destination,
        "source": r.source,
        "text": r.body,
        "url": r.url,
        "coalesce_key": r.coalesce_key,
        "attempts": r.attempts,
        "priority": r.priority,
        "created_ms": r.created_at,
        "updated_ms": r.updated_at,
        "next_attempt_ms": (r.state == outbox::OutboxState::Queued).then_some(r.next_attempt_at),
        "expires_ms": r.expires_at,
        "last_error": r.last_error,
        "segments": segments.iter().map(|g| json!({
            "seq": g.seq,
            "total": g.total,
            "smsc_message_id": g.smsc_message_id_raw,
            "attempt": g.attempt,
            "state": g.state.as_str(),
            "receipt_stat": g.receipt_stat,
            "submitted_ms": g.submitted_at,
            "updated_ms": g.updated_at,
        })).collect::<Vec<_>>(),
    })
}

/// `GET /api/v1/outbox?to=NUMBER&smsc_id=ID&state=S&limit=N`: the newest outbox rows that
/// match, each with its segments (the SMSC's ids and receipts), for a customer-care tool
/// answering "did my update reach them?" without access to the gateway's host; as
/// `presence-gw outbox list` (`--to` reads the outbox newest first, without an index).
async fn outbox_list(
    State(st): State<HttpState>,
    query: Result<axum::extract::Query<OutboxQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match query {
        Ok(axum::extract::Query(q)) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.body_text()),
    };
    let state = match q
        .state
        .as_deref()
        .map(outbox::OutboxState::parse)
        .transpose()
    {
        Ok(s) => s,
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "state: queued, in_flight, submitted, delivered, failed, expired or superseded",
            )
        }
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=OUTBOX_LIST_MAX).contains(&limit) {
        return error(StatusCode::BAD_REQUEST, "limit: 1 to 1000");
    }
    let destination = match &q.to {
        Some(to) => match running(&st)
            .and_then(|service| number(to, &service.config().country_code, "to"))
        {
            Ok(m) => Some(m.as_str().to_string()),
            Err(e) => return e.into_response(),
        },
        None => None,
    };
    let filter = outbox::ListFilter {
        state,
        destination,
        smsc_message_id: q.smsc_id,
    };
    let found = st
        .store
        .read(move |c| {
            outbox::list_matching(c, &filter, limit)?
                .into_iter()
                .map(|r| Ok((outbox::segments(c, r.id)?, r)))
                .collect::<Result<Vec<_>, crate::store::StoreError>>()
        })
        .await;
    match found {
        Ok(rows) => (
            StatusCode::OK,
            Json(json!({
                "rows": rows.iter().map(|(g, r)| outbox_json(r, g)).collect::<Vec<_>>(),
            })),
        )
            .into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &format!("store: {e}")),
    }
}

/// `GET /api/v1/outbox/{id}`: one outbox row with its segments; 404 if there is none.
async fn outbox_row(
    State(st): State<HttpState>,
    id: Result<axum::extract::Path<i64>, axum::extract::rejection::PathRejection>,
) -> Response {
    let Ok(axum::extract::Path(id)) = id else {
        return error(StatusCode::BAD_REQUEST, "the row id is a number");
    };
    let found = st
        .store
        .read(move |c| match outbox::get(c, id)? {
            Some(r) => Ok(Some((outbox::segments(c, id)?, r))),
            None => Ok::<_, crate::store::StoreError>(None),
        })
        .await;
    match found {
        Ok(Some((g, r))) => (StatusCode::OK, Json(outbox_json(&r, &g))).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, &format!("no outbox row {id}")),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &format!("store: {e}")),
    }
}

/// `GET /api/v1/outbound`: whether outbound sending is paused, since when and why.
async fn outbound(State(st): State<HttpState>) -> Response {
    (
        StatusCode::OK,
        Json(outbound_json(st.pause.current().as_ref())),
    )
        .into_response()
}

/// `PUT /api/v1/outbound` `{"paused": true, "note": "SMSC maintenance"}`: stop submitting (MO,
/// receipts and replies are still taken; what is queued waits), or `{"paused": false}` to
/// send again. Kept in the store: a restart stays paused. Logged at WARN.
async fn set_outbound(
    State(st): State<HttpState>,
    body: Result<Json<OutboundBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let body = match operator_body(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    if body.note.chars().count() > 200 {
        return error(StatusCode::BAD_REQUEST, "note: at most 200 characters");
    }
    match st
        .pause
        .set(&st.store, body.paused, body.note, crate::store::now_ms())
        .await
    {
        Ok(now) => {
            match &now {
                // Under the operator changes' target, shown at WARN whatever the log filter.
                Some(p) => tracing::warn!(
                    target: crate::logging::CHANGE_TARGET,
                    note = %p.note,
                    "outbound sending paused through the operator API"
                ),
                None => tracing::warn!(
                    target: crate::logging::CHANGE_TARGET,
                    "outbound sending resumed through the operator API"
                ),
            }
            (StatusCode::OK, Json(outbound_json(now.as_ref()))).into_response()
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &format!("not saved: {e}")),
    }
}

/// `POST /api/v1/avatars/sync` body: what a viewer's client holds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncBody {
    /// The viewer (whose visibility counts).
    viewer: String,
    /// Number -> ETag held (`null`: none yet).
    have: std::collections::BTreeMap<String, Option<String>>,
    /// Size wanted (default: the configured default size).
    size: Option<u32>,
    /// `jpeg`, `png`, `gif` or `wbmp` (default `jpeg`).
    format: Option<String>,
}

/// Most numbers in one sync request.
const MAX_SYNC: usize = 1000;

/// `POST /api/v1/avatars/sync`: for a client that keeps pictures (a carrier's phonebook app),
/// the avatars that changed among the numbers it lists, as this viewer may see them: each
/// changed one with its new ETag and the viewer's link, and the ones to forget (no avatar any
/// more, or no longer shared with this viewer). Unchanged ones are not repeated.
async fn avatar_sync(
    State(st): State<HttpState>,
    body: Result<Json<SyncBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    use crate::service::avatar;
    let (body, service) = match operator_body(body).and_then(|b| Ok((b, running(&st)?))) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    if body.have.len() > MAX_SYNC {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("at most {MAX_SYNC} numbers per request"),
        );
    }
    let cfg = service.config().clone();
    let viewer = match number(&body.viewer, &cfg.country_code, "viewer") {
        Ok(m) => m.as_str().to_string(),
        Err(e) => return e.into_response(),
    };
    let format = match body.format.as_deref() {
        None => "jpeg",
        Some(f) => match crate::images::OutputFormat::parse(f) {
            Some(f) => f.as_str(),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "format must be jpeg, png, gif or wbmp",
                )
            }
        },
    };
    let size = body.size.unwrap_or(cfg.avatar.default_size);
    let now = crate::store::now_ms();
    let result = st
        .store
        .write(move |tx| {
            let mut changed = Vec::new();
            let mut removed = Vec::new();
            let mut invalid = Vec::new();
            for (number, held) in &body.have {
                let Ok(owner) = Msisdn::parse(number, &cfg.country_code) else {
                    invalid.push(number.clone());
                    continue;
                };
                let visible = match avatar::shown(tx, owner.as_str(), &viewer)? {
                    Ok(id) => avatar::variant(tx, id, size, format)?,
                    Err(_) => None,
                };
                match visible {
                    Some(v) if held.as_deref() == Some(v.sha256.as_str()) => {}
                    Some(v) => {
                        let token = avatar::link_token(tx, owner.as_str(), &viewer, now)?;
                        changed.push(json!({
                            "msisdn": owner.as_str(),
                            "etag": v.sha256,
                            "url": format!("{}?s={size}&f={format}", avatar::link_url(&cfg.avatar, &token)),
                        }));
                    }
                    None if held.is_some() => removed.push(owner.as_str().to_string()),
                    None => {}
                }
            }
            Ok::<_, crate::store::StoreError>(json!({
                "changed": changed,
                "removed": removed,
                "invalid": invalid,
            }))
        })
        .await;
    match result {
        Ok(v) => (StatusCode::OK, Json(v)).into_response(),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("not available: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_key_handle_is_replaced_for_every_holder_and_never_printed() {
        let key = ApiKey::new(Some(Secret::new("old-key-0123456789")));
        let held = key.clone();
        assert!(held.is_set());
        assert_eq!(format!("{held:?}"), "ApiKey(set)");
        key.set(Some(Secret::new("new-key-9876543210")));
        assert_eq!(
            held.get().as_ref().map(Secret::expose),
            Some("new-key-9876543210")
        );
        assert!(!format!("{held:?}").contains("key-"));
        key.set(None);
        assert!(!held.is_set());
        assert_eq!(format!("{held:?}"), "ApiKey(off)");
        assert!(ApiKey::from(None).get().is_none());
    }

    #[test]
    fn the_store_is_degraded_while_mo_is_deferred_and_after_every_write_failed_a_while() {
        let t = 1_700_000_000_000;
        let minute = Duration::from_secs(MO_DEFERRED_DEGRADED_SECS);
        let fine = crate::store::Stats::default();
        assert_eq!(store_trouble(&fine, t, minute), None);
        // Every write failing: degraded from STORE_DEGRADED_AFTER_SECS on.
        let failing = crate::store::Stats {
            failing_since: Some(t),
            ..Default::default()
        };
        assert_eq!(store_trouble(&failing, t + 9_999, minute), None);
        assert_eq!(
            store_trouble(&failing, t + 10_000, minute).as_deref(),
            Some("writes failing for 10 s (see the log)")
        );
        // An MO deferred while other writes commit: degraded at once, for a minute.
        let mut deferring = crate::store::Stats {
            last_mo_deferred: Some(t),
            ..Default::default()
        };
        deferring.mo_pdus[crate::store::MoPdu::Deferred as usize] = 1_200;
        assert_eq!(
            store_trouble(&deferring, t + 2_000, minute).as_deref(),
            Some("MO not stored 2 s ago, 1200 MO PDUs deferred since start (see the log)")
        );
        assert!(store_trouble(&deferring, t + 59_999, minute).is_some());
        assert_eq!(store_trouble(&deferring, t + 60_000, minute), None);
        // Another window: degraded for as long as it says.
        let five = Duration::from_secs(5);
        assert!(store_trouble(&deferring, t + 4_999, five).is_some());
        assert_eq!(store_trouble(&deferring, t + 5_000, five), None);
        let hour = Duration::from_secs(3600);
        assert!(store_trouble(&deferring, t + 3_599_999, hour).is_some());
    }

    #[test]
    fn a_wrong_key_is_logged_once_per_address_per_window_with_the_count_left_out() {
        let log = RefusalLog::default();
        let t0 = Instant::now();
        let a = Some(IpAddr::from([10, 0, 0, 1]));
        let b = Some(IpAddr::from([10, 0, 0, 2]));
        assert_eq!(log.note(a, t0), Some(0));
        for i in 1..=5 {
            assert_eq!(log.note(a, t0 + Duration::from_secs(i)), None);
        }
        // Another address has its own line.
        assert_eq!(log.note(b, t0 + Duration::from_secs(1)), Some(0));
        // After the window: a line again, saying how many were not logged.
        assert_eq!(log.note(a, t0 + REFUSAL_LOG_EVERY), Some(5));
        assert_eq!(log.note(a, t0 + REFUSAL_LOG_EVERY), None);
        assert_eq!(log.note(a, t0 + REFUSAL_LOG_EVERY * 2), Some(1));
    }

    #[test]
    fn many_addresses_share_one_line_once_the_map_is_full() {
        let log = RefusalLog::default();
        let t0 = Instant::now();
        for i in 0..REFUSAL_LOG_ADDRESSES as u32 {
            assert_eq!(log.note(Some(IpAddr::from(i.to_be_bytes())), t0), Some(0));
        }
        let over = |i: u32| Some(IpAddr::from((0x0a00_0000 + i).to_be_bytes()));
        assert_eq!(log.note(over(0), t0), Some(0));
        let lines = (1..1000)
            .filter_map(|i| log.note(over(i), t0 + Duration::from_millis(i.into())))
            .count();
        assert_eq!(lines, 0, "one line for all the addresses over the limit");
        assert!(log.seen.lock().unwrap().len() <= REFUSAL_LOG_ADDRESSES + 1);
        // Once the window is over, the map makes room again.
        let later = t0 + REFUSAL_LOG_EVERY;
        assert_eq!(log.note(over(5000), later), Some(0));
        assert!(log.seen.lock().unwrap().len() <= 2);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"", b"a"));
    }
}
