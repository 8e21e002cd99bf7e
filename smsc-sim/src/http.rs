//! The HTTP control API (axum, JSON) and the console page, over [`SimHandle`].
//!
//! | method | path | does |
//! |---|---|---|
//! | GET | `/` | HTML console listing handsets, binds and recent MT |
//! | GET | `/mt?dest=&since=&accepted_only=` | MT received ([`crate::MtRecord`]) |
//! | GET | `/receipts` | receipts sent, with the ESME's answer |
//! | GET | `/deliveries` | every simulator-originated deliver_sm |
//! | GET | `/binds` | connections and window occupancy |
//! | GET | `/stats` | PDUs by type, rates, window occupancy |
//! | POST | `/reset` | forget records and handsets |
//! | GET / POST | `/faults` | read / replace faults; body may add `"drop_now": true`, `"send_malformed": "truncated_body"` |
//! | POST | `/mo` | inject an MO ([`crate::MoRequest`]) |
//! | POST | `/ussd` | inject a USSD message ([`crate::UssdRequest`]) |
//! | GET | `/handsets` | numbers of handsets |
//! | GET | `/handsets/{number}` | a handset's inbox, pushes, contacts, USSD screens |
//! | GET | `/handsets/{number}/call?from=` | what the handset shows for a call |
//! | GET | `/handsets/{number}/avatar?from=` | the stored avatar bytes |

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::faults::{Faults, MalformedKind};
use crate::recorder::MtFilter;
use crate::sim::{MoRequest, SimHandle, UssdRequest};

/// Body of `POST /faults`: the new faults plus one-shot actions.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FaultsRequest {
    /// The faults to set (replacing the current ones).
    #[serde(flatten)]
    pub faults: Faults,
    /// Close every connection now.
    #[serde(default)]
    pub drop_now: bool,
    /// Send this malformed PDU on every connection now.
    #[serde(default)]
    pub send_malformed: Option<MalformedKind>,
    /// Only act on connections bound with this system_id.
    #[serde(default)]
    pub system_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CallQuery {
    from: String,
}

/// The control API router.
pub fn router(h: SimHandle) -> Router {
    Router::new()
        .route("/", get(console))
        .route("/mt", get(mt))
        .route(
            "/receipts",
            get(|State(h): State<SimHandle>| async move { Json(h.receipts()) }),
        )
        .route(
            "/deliveries",
            get(|State(h): State<SimHandle>| async move { Json(h.deliveries()) }),
        )
        .route(
            "/binds",
            get(|State(h): State<SimHandle>| async move { Json(h.binds()) }),
        )
        .route(
            "/stats",
            get(|State(h): State<SimHandle>| async move { Json(h.stats()) }),
        )
        .route(
            "/reset",
            post(|State(h): State<SimHandle>| async move {
                h.reset();
                StatusCode::NO_CONTENT
            }),
        )
        .route("/faults", get(get_faults).post(set_faults))
        .route("/mo", post(mo))
        .route("/ussd", post(ussd))
        .route(
            "/handsets",
            get(|State(h): State<SimHandle>| async move { Json(h.handsets()) }),
        )
        .route("/handsets/{number}", get(handset))
        .route("/handsets/{number}/call", get(call))
        .route("/handsets/{number}/avatar", get(avatar))
        .with_state(h)
}

async fn mt(State(h): State<SimHandle>, Query(f): Query<MtFilter>) -> impl IntoResponse {
    Json(h.mt_messages(&f))
}

async fn get_faults(State(h): State<SimHandle>) -> impl IntoResponse {
    Json(h.faults())
}

async fn set_faults(State(h): State<SimHandle>, Json(r): Json<FaultsRequest>) -> impl IntoResponse {
    h.set_faults(r.faults);
    let sys = r.system_id.as_deref();
    let dropped = if r.drop_now {
        h.drop_connections(sys)
    } else {
        0
    };
    let malformed = r.send_malformed.map_or(0, |k| h.send_malformed(k, sys));
    Json(serde_json::json!({
        "faults": h.faults(),
        "dropped": dropped,
        "malformed_sent": malformed,
    }))
}

fn error(status: StatusCode, e: impl std::fmt::Display) -> Response {
    (status, Json(serde_json::json!({ "error": e.to_string() }))).into_response()
}

async fn mo(State(h): State<SimHandle>, Json(r): Json<MoRequest>) -> Response {
    match h.inject_mo(r).await {
        Ok(t) => Json(t).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

async fn ussd(State(h): State<SimHandle>, Json(r): Json<UssdRequest>) -> Response {
    match h.inject_ussd(r).await {
        Ok(t) => Json(t).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

async fn handset(State(h): State<SimHandle>, Path(number): Path<String>) -> impl IntoResponse {
    Json(h.handset(&number))
}

async fn call(
    State(h): State<SimHandle>,
    Path(number): Path<String>,
    Query(q): Query<CallQuery>,
) -> impl IntoResponse {
    Json(h.call(&number, &q.from))
}

async fn avatar(
    State(h): State<SimHandle>,
    Path(number): Path<String>,
    Query(q): Query<CallQuery>,
) -> Response {
    match h.avatar(&number, &q.from) {
        Some(a) => (
            [(
                header::CONTENT_TYPE,
                a.content_type
                    .unwrap_or_else(|| "application/octet-stream".to_string()),
            )],
            a.bytes.as_ref().clone(),
        )
            .into_response(),
        None => error(StatusCode::NOT_FOUND, "no avatar for that contact"),
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn console(State(h): State<SimHandle>) -> Html<String> {
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>smsc-sim</title>\
         <style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:2px 6px}\
         table{border-collapse:collapse}</style></head><body><h1>smsc-sim</h1>",
    );
    let stats = h.stats();
    html.push_str(&format!(
        "<p>uptime {} s &middot; MT accepted {} &middot; refused {} &middot; connections {}</p>",
        stats.uptime_ms / 1000,
        stats.mt_accepted,
        stats.mt_refused,
        stats.connections
    ));
    html.push_str("<h2>Binds</h2><table><tr><th>id</th><th>system_id</th><th>mode</th><th>peer</th><th>outstanding</th><th>deliver in flight</th></tr>");
    for b in h.binds() {
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}/{}</td><td>{}/{}</td></tr>",
            b.id,
            esc(b.system_id.as_deref().unwrap_or("")),
            b.mode,
            esc(&b.peer),
            b.outstanding,
            b.window,
            b.deliver_inflight,
            b.deliver_window
        ));
    }
    html.push_str("</table><h2>Handsets</h2><table><tr><th>number</th><th>texts</th><th>pushes</th><th>contacts</th><th>last text</th></tr>");
    for n in h.handsets() {
        let v = h.handset(&n);
        html.push_str(&format!(
            "<tr><td><a href=\"/handsets/{0}\">{0}</a></td><td>{1}</td><td>{2}</td><td>{3}</td><td>{4}</td></tr>",
            esc(&n),
            v.inbox.len(),
            v.pushes.len(),
            v.contacts.len(),
            esc(v.inbox.last().map_or("", |m| m.text.as_str()))
        ));
    }
    html.push_str("</table></body></html>");
    Html(html)
}
