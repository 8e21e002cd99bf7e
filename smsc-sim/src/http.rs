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
//! | GET | `/console/handsets/{number}` | HTML: one phone (inbox, pushes, contacts, text and USSD boxes) |
//! | GET | `/console/handsets/{number}/call?from=` | HTML: the incoming-call screen (name, status, avatar) |
//!
//! Numbers in links are percent-encoded (`+` in a query string would read as a space).

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
        .route("/console/handsets/{number}", get(console_handset))
        .route("/console/handsets/{number}/call", get(console_call))
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
            [
                (
                    header::CONTENT_TYPE,
                    a.content_type
                        .unwrap_or_else(|| "application/octet-stream".to_string()),
                ),
                // A newer push replaces the picture under the same URL.
                (header::CACHE_CONTROL, "no-cache".to_string()),
            ],
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
            "<tr><td><a href=\"/console/handsets/{5}\">{0}</a> <small>(<a href=\"/handsets/{5}\">json</a>)</small></td><td>{1}</td><td>{2}</td><td>{3}</td><td>{4}</td></tr>",
            esc(&n),
            v.inbox.len(),
            v.pushes.len(),
            v.contacts.len(),
            esc(v.inbox.last().map_or("", |m| m.text.as_str())),
            enc(&n)
        ));
    }
    html.push_str("</table></body></html>");
    Html(html)
}

/// Percent-encodes `s` for a URL path segment or query value: everything but RFC 3986
/// unreserved characters, so `+8613800138000` stays a plus sign in a query string.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `HH:MM:SS` (UTC) of a time in ms since the epoch.
fn clock(ms: u64) -> String {
    let (_, _, _, h, m, s) = crate::util::civil(ms);
    format!("{h:02}:{m:02}:{s:02}")
}

/// Opening of every console page.
fn page_head(title: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>body{{font-family:sans-serif;max-width:60em}}td,th{{border:1px solid #ccc;padding:2px 6px;vertical-align:top}}\
         table{{border-collapse:collapse}}.phone{{border:2px solid #333;border-radius:1em;padding:1em;width:16em}}\
         .phone img{{display:block;margin:0.5em auto;width:128px;height:128px;object-fit:cover}}\
         .none{{color:#888}}</style></head><body><p><a href=\"/\">&larr; all handsets</a></p>",
        esc(title)
    )
}

/// `GET /console/handsets/{number}`: one phone as a page (inbox, pushes, contacts with their
/// avatars and a call link each, USSD screens, boxes to text or dial as this handset).
async fn console_handset(State(h): State<SimHandle>, Path(number): Path<String>) -> Html<String> {
    let v = h.handset(&number);
    let n = enc(&v.number);
    let mut html = page_head(&format!("handset {}", v.number));
    html.push_str(&format!(
        "<h1>Handset {}</h1><p><a href=\"/handsets/{n}\">json</a></p>",
        esc(&v.number)
    ));

    // Whom to text: whoever texts this phone most recently (the service), else a guess.
    let service = v
        .inbox
        .iter()
        .rev()
        .map(|m| m.from.as_str())
        .find(|f| f.len() < 7)
        .unwrap_or("10658");
    html.push_str(&format!(
        "<h2>Send</h2><form id=\"mo\">to <input name=\"to\" value=\"{}\" size=\"8\"> \
         <input name=\"text\" placeholder=\"STATUS ALL BUSY\" size=\"30\"> <button>Send SMS</button></form>\
         <form id=\"ussd\">service <input name=\"to\" value=\"*123#\" size=\"8\"> \
         <input name=\"text\" value=\"*123#\" size=\"12\"> <button>Dial / answer USSD</button></form>\
         <script>\
         ['mo','ussd'].forEach(function(id){{document.getElementById(id).onsubmit=function(e){{\
         e.preventDefault();var f=e.target;\
         fetch('/'+id,{{method:'POST',headers:{{'content-type':'application/json'}},\
         body:JSON.stringify({{from:{},to:f.elements.to.value,text:f.elements.text.value}})}})\
         .then(function(){{setTimeout(function(){{location.reload()}},1500)}});}}}});\
         </script>",
        esc(service),
        // A JSON string inside <script>: HTML entities are not decoded there, so only `<` is
        // escaped (no `</script>` can close the block early).
        serde_json::Value::String(v.number.clone())
            .to_string()
            .replace('<', "\\u003c")
    ));

    html.push_str("<h2>Contacts</h2>");
    if v.contacts.is_empty() {
        html.push_str("<p class=\"none\">no contacts yet</p>");
    } else {
        html.push_str("<table><tr><th>number</th><th>name</th><th>last status</th><th>avatar</th><th></th></tr>");
        for c in v.contacts.values() {
            let avatar = match &c.avatar {
                Some(a) => format!(
                    "<img src=\"/handsets/{n}/avatar?from={}\" width=\"48\" height=\"48\" alt=\"avatar\"> {} B",
                    enc(&c.number),
                    a.len
                ),
                None => "<span class=\"none\">none</span>".to_string(),
            };
            html.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{avatar}</td>\
                 <td><a class=\"call\" href=\"/console/handsets/{n}/call?from={}\">call from this contact</a></td></tr>",
                esc(&c.number),
                esc(c.name.as_deref().unwrap_or("")),
                esc(c.last_status.as_deref().unwrap_or("")),
                enc(&c.number)
            ));
        }
        html.push_str("</table>");
    }

    html.push_str("<h2>Inbox</h2>");
    if v.inbox.is_empty() {
        html.push_str("<p class=\"none\">no messages</p>");
    } else {
        html.push_str(
            "<table><tr><th>time (UTC)</th><th>from</th><th>text</th><th>parts</th></tr>",
        );
        for m in v.inbox.iter().rev() {
            html.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                clock(m.received_at_ms),
                esc(&m.from),
                esc(&m.text),
                m.parts
            ));
        }
        html.push_str("</table>");
    }

    html.push_str("<h2>WAP Push</h2>");
    if v.pushes.is_empty() {
        html.push_str("<p class=\"none\">no pushes</p>");
    } else {
        html.push_str("<table><tr><th>time (UTC)</th><th>kind</th><th>text</th><th>href</th><th>fetched</th></tr>");
        for p in v.pushes.iter().rev() {
            let fetch = match &p.fetch {
                crate::handset::FetchState::NotFollowed => "not followed".to_string(),
                crate::handset::FetchState::Pending => "pending".to_string(),
                crate::handset::FetchState::Fetched {
                    status,
                    content_type,
                    len,
                    ..
                } => format!(
                    "{status} {} {len} B",
                    content_type.as_deref().unwrap_or("?")
                ),
                crate::handset::FetchState::Failed { error } => format!("failed: {error}"),
            };
            html.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                clock(p.received_at_ms),
                p.kind,
                esc(p.text.as_deref().unwrap_or("")),
                esc(&p.href),
                esc(&fetch)
            ));
        }
        html.push_str("</table>");
    }

    if !v.ussd.is_empty() {
        html.push_str(
            "<h2>USSD</h2><table><tr><th>time (UTC)</th><th>screen</th><th>awaits answer</th></tr>",
        );
        for u in v.ussd.iter().rev() {
            html.push_str(&format!(
                "<tr><td>{}</td><td><pre>{}</pre></td><td>{}</td></tr>",
                clock(u.received_at_ms),
                esc(&u.text),
                if u.expects_reply { "yes" } else { "no" }
            ));
        }
        html.push_str("</table>");
    }
    html.push_str("</body></html>");
    Html(html)
}

/// `GET /console/handsets/{number}/call?from=X`: what the phone shows while X calls: the name
/// it holds for X (else the number), X's last status, and X's avatar as an `<img>` served by
/// the simulator from the bytes the handset fetched (so it shows even if the gateway is gone).
async fn console_call(
    State(h): State<SimHandle>,
    Path(number): Path<String>,
    Query(q): Query<CallQuery>,
) -> Html<String> {
    let c = h.call(&number, &q.from);
    let mut html = page_head(&format!("{} calling {}", c.from, c.number));
    html.push_str(&format!(
        "<p><a href=\"/console/handsets/{}\">&larr; handset {}</a></p><div class=\"phone\" id=\"call\">\
         <p>Incoming call</p>",
        enc(&c.number),
        esc(&c.number)
    ));
    match &c.avatar_sha256 {
        Some(_) => html.push_str(&format!(
            "<img id=\"avatar\" src=\"/handsets/{}/avatar?from={}\" alt=\"avatar of {}\">",
            enc(&c.number),
            enc(&c.from),
            esc(c.name.as_deref().unwrap_or(&c.from))
        )),
        None => {
            html.push_str("<p class=\"none\" id=\"no-avatar\">(no picture: the phone's own)</p>")
        }
    }
    html.push_str(&format!(
        "<h2 id=\"name\">{}</h2><p id=\"number\">{}</p><p id=\"status\">{}</p></div>",
        esc(c.name.as_deref().unwrap_or(&c.from)),
        esc(&c.from),
        match &c.last_status {
            Some(s) => esc(s),
            None => "<span class=\"none\">no status</span>".to_string(),
        }
    ));
    if let (Some(ct), Some(len), Some(href)) =
        (&c.avatar_content_type, c.avatar_len, &c.avatar_href)
    {
        html.push_str(&format!(
            "<p><small>{} &middot; {len} B &middot; from {}</small></p>",
            esc(ct),
            esc(href)
        ));
    }
    html.push_str("</body></html>");
    Html(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enc_keeps_plus_signs_and_escapes_reserved() {
        assert_eq!(enc("+8613800138000"), "%2B8613800138000");
        assert_eq!(enc("a b&c/d?"), "a%20b%26c%2Fd%3F");
        assert_eq!(enc("ok-._~9"), "ok-._~9");
        assert_eq!(enc("张"), "%E5%BC%A0");
    }

    #[test]
    fn esc_escapes_markup() {
        assert_eq!(
            esc("<b>\"x\" & y</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; y&lt;/b&gt;"
        );
    }

    #[test]
    fn clock_formats_utc() {
        assert_eq!(clock(0), "00:00:00");
        assert_eq!(clock(3_723_000), "01:02:03");
    }
}
