//! The HTTP control API (axum, JSON) and the console page, over [`SimHandle`].
//!
//! | method | path | does |
//! |---|---|---|
//! | GET | `/` | HTML console: every handset as a phone (inbox, pushes, contacts, text/USSD boxes, call screen), polling this API; binds |
//! | GET | `/mt?dest=&since=&accepted_only=` | MT received ([`crate::MtRecord`]; one per destination of a submit_multi) |
//! | GET | `/receipts` | receipts sent, with the ESME's answer |
//! | GET | `/deliveries` | every simulator-originated deliver_sm |
//! | GET | `/binds` | connections and window occupancy |
//! | GET | `/stats` | PDUs by type, rates, window occupancy |
//! | POST | `/reset` | forget records and handsets, drop pending receipts and MO; answers what it forgot ([`crate::ResetSummary`]) |
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
//! Numbers in links are percent-encoded (`+` in a query string would read as a space); a
//! number parameter (`from`, `dest`) given with an unencoded `+` is still read with its `+`
//! ([`crate::util::plus_from_query`]).
//!
//! Every error answer, on every endpoint, is JSON `{"error": "..."}` with a fitting status:
//! 400 for a body that is not JSON or a value that makes no sense, 415 for a body without
//! `content-type: application/json`, 422 for JSON of the wrong shape (an unknown key, a
//! missing field, a wrong type), 404 for an unknown path, 405 for a wrong method.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::faults::{Faults, MalformedKind};
use crate::recorder::{DeliveryFilter, MtFilter};
use crate::sim::{MoRequest, SimHandle, UssdRequest};

/// A JSON body as [`Json`] reads it, whose rejection (not JSON, no JSON content type, wrong
/// shape) is answered like every other error of the API: `{"error": "..."}` with the
/// rejection's status.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(r) => Err(json_rejection(r)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> Response {
    let why = match &r {
        JsonRejection::MissingJsonContentType(_) => {
            "the body must be JSON sent with content-type: application/json".to_string()
        }
        _ => r.body_text(),
    };
    error(r.status(), why)
}

/// A query string as [`axum::extract::Query`] reads it, whose rejection is answered as JSON
/// `{"error": "..."}` (400).
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(r) => Err(query_rejection(r)),
        }
    }
}

fn query_rejection(r: QueryRejection) -> Response {
    error(r.status(), r.body_text())
}

/// A path parameter as [`Path`] reads it, whose rejection (a bad percent-encoding) is
/// answered as JSON `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(ApiPath(v)),
            Err(r) => Err(error(r.status(), r.body_text())),
        }
    }
}

/// The keys of `POST /faults` that are one-shot actions ([`FaultActions`]), not faults.
const FAULT_ACTIONS: [&str; 4] = ["clear", "drop_now", "send_malformed", "system_id"];

/// The one-shot actions of `POST /faults`, beside the fault keys.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultActions {
    /// Start from a well-behaved SMSC (every fault off) before applying the keys given.
    #[serde(default)]
    pub clear: bool,
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

/// `POST /faults` body `body` applied to `current`: the fault keys given replace those
/// values (`null` turns any fault off: its well-behaved default, `false` for the switches and
/// no rules for `more_errors`), the others keep theirs (or their defaults with
/// `"clear": true`); the action keys are returned apart (`null` for one is as if absent).
/// A key that is neither a fault nor an action is an error naming it, so a typo (`throttle`
/// for `throttle_per_sec`) is not taken for "no faults".
pub fn apply_faults_body(
    current: &Faults,
    body: serde_json::Value,
) -> Result<(Faults, FaultActions), String> {
    let serde_json::Value::Object(body) = body else {
        return Err("the body must be a JSON object".into());
    };
    let mut actions = serde_json::Map::new();
    let mut keys = serde_json::Map::new();
    for (k, v) in body {
        if FAULT_ACTIONS.contains(&k.as_str()) {
            if v.is_null() {
                continue;
            }
            // Each on its own first, so that an error names the key.
            let one = serde_json::Map::from_iter([(k.clone(), v.clone())]);
            serde_json::from_value::<FaultActions>(serde_json::Value::Object(one))
                .map_err(|e| format!("{k}: {e}"))?;
            actions.insert(k, v);
        } else {
            keys.insert(k, v);
        }
    }
    let actions: FaultActions =
        serde_json::from_value(serde_json::Value::Object(actions)).map_err(|e| e.to_string())?;
    let base = if actions.clear {
        Faults::default()
    } else {
        current.clone()
    };
    let serde_json::Value::Object(mut merged) =
        serde_json::to_value(&base).map_err(|e| e.to_string())?
    else {
        return Err("faults do not serialise as an object".into());
    };
    let serde_json::Value::Object(defaults) =
        serde_json::to_value(Faults::default()).map_err(|e| e.to_string())?
    else {
        return Err("faults do not serialise as an object".into());
    };
    for (k, v) in keys {
        if !merged.contains_key(&k) {
            let known: Vec<&String> = merged.keys().collect();
            return Err(format!(
                "unknown fault {k:?}; known: {known:?}, and the one-shot actions \
                 {FAULT_ACTIONS:?}"
            ));
        }
        // `null` turns the fault off, whatever its type (a switch is `false`, `more_errors`
        // none), as the README says of every key.
        let v = match (&v, defaults.get(&k)) {
            (serde_json::Value::Null, Some(off)) => off.clone(),
            _ => v,
        };
        // Each key on its own first, so that an error names it and says what it accepts.
        let one = serde_json::Map::from_iter([(k.clone(), v.clone())]);
        serde_json::from_value::<Faults>(serde_json::Value::Object(one))
            .map_err(|e| format!("{k}: {e}"))?;
        merged.insert(k, v);
    }
    // (Whether they make sense is `SimHandle::try_set_faults`'s to say.)
    let faults =
        serde_json::from_value(serde_json::Value::Object(merged)).map_err(|e| e.to_string())?;
    Ok((faults, actions))
}

#[derive(Debug, Deserialize)]
struct CallQuery {
    /// The caller; `?from=+86...` unencoded reads as `+86...` ([`crate::util::plus_from_query`]).
    #[serde(deserialize_with = "crate::util::query_number")]
    from: String,
}

/// The control API router.
pub fn router(h: SimHandle) -> Router {
    Router::new()
        .route("/", get(console))
        .route("/mt", get(mt))
        .route(
            "/receipts",
            get(
                |State(h): State<SimHandle>, ApiQuery(f): ApiQuery<DeliveryFilter>| async move {
                    Json(h.deliveries_matching(&f, true))
                },
            ),
        )
        .route(
            "/deliveries",
            get(
                |State(h): State<SimHandle>, ApiQuery(f): ApiQuery<DeliveryFilter>| async move {
                    Json(h.deliveries_matching(&f, false))
                },
            ),
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
            post(|State(h): State<SimHandle>| async move { Json(h.reset()) }),
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
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "no such endpoint (see the table in smsc-sim/README.md, section Control API)",
            )
        })
        .method_not_allowed_fallback(|| async {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this endpoint",
            )
        })
        .with_state(h)
}

async fn mt(State(h): State<SimHandle>, ApiQuery(f): ApiQuery<MtFilter>) -> impl IntoResponse {
    Json(h.mt_messages(&f))
}

async fn get_faults(State(h): State<SimHandle>) -> impl IntoResponse {
    Json(h.faults())
}

async fn set_faults(
    State(h): State<SimHandle>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Response {
    let (faults, r) = match apply_faults_body(&h.faults(), body) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    // Connections an outage closes count as dropped, as drop_now's do.
    let by_outage = match h.set_faults_closing(faults) {
        Ok(n) => n,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let sys = r.system_id.as_deref();
    let dropped = by_outage
        + if r.drop_now {
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
    .into_response()
}

fn error(status: StatusCode, e: impl std::fmt::Display) -> Response {
    (status, Json(serde_json::json!({ "error": e.to_string() }))).into_response()
}

async fn mo(State(h): State<SimHandle>, ApiJson(r): ApiJson<MoRequest>) -> Response {
    match h.inject_mo(r).await {
        Ok(t) => Json(t).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

async fn ussd(State(h): State<SimHandle>, ApiJson(r): ApiJson<UssdRequest>) -> Response {
    match h.inject_ussd(r).await {
        Ok(t) => Json(t).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

async fn handset(
    State(h): State<SimHandle>,
    ApiPath(number): ApiPath<String>,
) -> impl IntoResponse {
    Json(h.handset(&number))
}

async fn call(
    State(h): State<SimHandle>,
    ApiPath(number): ApiPath<String>,
    ApiQuery(q): ApiQuery<CallQuery>,
) -> impl IntoResponse {
    Json(h.call(&number, &q.from))
}

async fn avatar(
    State(h): State<SimHandle>,
    ApiPath(number): ApiPath<String>,
    ApiQuery(q): ApiQuery<CallQuery>,
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

/// Style of the phones page: phone-shaped cards side by side, the call screen over a card.
const PHONES_CSS: &str = "body{font-family:sans-serif;margin:1em;background:#eef1f4}\
td,th{border:1px solid #ccc;padding:2px 6px}table{border-collapse:collapse}\
#phones{display:flex;flex-wrap:wrap;gap:1.2em;align-items:flex-start}\
.phone{position:relative;box-sizing:border-box;width:270px;min-height:520px;background:#fff;\
border:10px solid #222;border-radius:28px;padding:0.6em 0.7em;font-size:13px;\
box-shadow:0 4px 12px rgba(0,0,0,.25)}\
.phone-number{display:block;text-align:center;font-weight:bold;background:#222;color:#fff;\
margin:-0.6em -0.7em 0.5em;padding:0.3em 0 0.5em;border-radius:0 0 12px 12px;text-decoration:none}\
.phone h3{font-size:11px;text-transform:uppercase;color:#667;margin:0.6em 0 0.2em}\
.msg,.push,.contact{border-bottom:1px solid #eee;padding:2px 0;overflow-wrap:anywhere}\
.msg .from,.push .from{color:#667;font-size:11px;display:block}\
.push{background:#fff8e0}.contact{display:flex;gap:0.4em;align-items:center}\
.contact .who{flex:1;min-width:0}.contact .st{color:#445;font-size:11px;display:block}\
.thumb{width:36px;height:36px;border-radius:50%;object-fit:cover;background:#ccd;flex:none}\
.nopic{display:inline-block;text-align:center;line-height:36px;color:#fff;font-weight:bold}\
.phone form{display:flex;gap:0.3em;margin-top:0.4em}.phone input{min-width:0;flex:1}\
.phone input.svc{flex:0 0 4.5em}.ussd-screen{white-space:pre-wrap;background:#111;color:#7f7;\
padding:0.3em;font-family:monospace;font-size:12px}.none{color:#888}.result{color:#667;font-size:11px}\
#call-screen{position:absolute;inset:0;background:linear-gradient(#1b3a57,#0b1a27);color:#fff;\
border-radius:18px;text-align:center;padding-top:2.5em;z-index:2}\
#call-screen[hidden]{display:none}\
#call-screen img{width:128px;height:128px;border-radius:50%;object-fit:cover;border:3px solid #fff;\
display:block;margin:1em auto}#call-screen .call-name{font-size:22px;margin:0.3em}\
#call-screen .call-status{padding:0 1em}#call-screen button{margin-top:2em;background:#d33;color:#fff;\
border:0;border-radius:2em;padding:0.6em 1.6em;font-size:14px}";

/// The script of the phones page: polls `/handsets` and `/handsets/{n}` (the control API),
/// redraws a phone whose JSON changed, sends texts (`POST /mo`) and USSD (`POST /ussd`), and
/// opens the call screen (filled from `/handsets/{n}/call?from=`) when a call button is
/// clicked. Query parameters act as a person would once the phones are drawn (for tests):
/// `?call=NUMBER:CALLER` clicks that phone's call button for that contact, `?sms=NUMBER:TEXT`
/// and `?ussd=NUMBER:TEXT` fill that phone's box and submit it (the card then carries
/// `data-sent-mo` / `data-sent-ussd` = `ok` or `error`).
const PHONES_JS: &str = r#"(function(){
var seen={}, auto={}, openCall=null;
function esc(s){return String(s==null?'':s).replace(/[&<>"']/g,function(c){return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c];});}
function enc(s){return encodeURIComponent(s);}
function digits(s){return String(s).replace(/\D/g,'');}
function clock(ms){return new Date(ms).toISOString().substr(11,8);}
function service(v){var all=v.inbox.concat(v.pushes).sort(function(a,b){return a.received_at_ms-b.received_at_ms;});
 for(var i=all.length-1;i>=0;i--){if(all[i].from.length<7)return all[i].from;}return null;}
function fetchState(f){if(f.state==='fetched')return f.status+' '+(f.content_type||'?')+' '+f.len+' B';
 if(f.state==='failed')return 'failed: '+f.error;return f.state.replace('_',' ');}
function body(v){var n=enc(v.number),h='<h3>Contacts</h3>',cs=Object.keys(v.contacts).map(function(k){return v.contacts[k];});
 if(!cs.length)h+='<p class="none">no contacts yet</p>';
 cs.forEach(function(c){var name=c.name||c.number;
  h+='<div class="contact" data-number="'+esc(c.number)+'">'+(c.avatar?'<img class="thumb" src="/handsets/'+n+'/avatar?from='+enc(c.number)+'&amp;v='+esc(c.avatar.sha256.substr(0,12))+'" alt="avatar of '+esc(name)+'">':'<span class="thumb nopic">'+esc(name.charAt(0))+'</span>')
   +'<span class="who">'+esc(name)+(c.name?' <small>'+esc(c.number)+'</small>':'')+'<span class="st">'+(c.last_status?esc(c.last_status):'<span class="none">no status</span>')+'</span></span>'
   +'<button class="call" type="button" data-from="'+esc(c.number)+'">call</button></div>';});
 var items=v.inbox.map(function(m){return {t:m.received_at_ms,h:'<div class="msg"><span class="from">'+esc(m.from)+' &middot; '+clock(m.received_at_ms)+'</span>'+esc(m.text)+'</div>'};})
  .concat(v.pushes.map(function(p){return {t:p.received_at_ms,h:'<div class="push"><span class="from">WAP Push ('+esc(p.kind)+') from '+esc(p.from)+' &middot; '+clock(p.received_at_ms)+'</span>'+esc(p.text||'')+' <small>'+esc(p.href)+' &middot; '+esc(fetchState(p.fetch))+'</small></div>'};}))
  .sort(function(a,b){return b.t-a.t;}).slice(0,6);
 h+='<h3>Inbox</h3>'+(items.length?items.map(function(i){return i.h;}).join(''):'<p class="none">no messages</p>');
 if(v.ussd.length){var u=v.ussd[v.ussd.length-1];h+='<h3>USSD</h3><div class="ussd-screen">'+esc(u.text)+'</div>';}
 return h;}
function card(num){var id='phone-'+digits(num),el=document.getElementById(id);if(el)return el;
 el=document.createElement('div');el.className='phone';el.id=id;el.setAttribute('data-number',num);
 el.innerHTML='<a class="phone-number" href="/console/handsets/'+enc(num)+'">'+esc(num)+'</a><div class="screen"></div>'
  +'<form class="sms"><input class="svc" name="to" value="10658" title="service number"><input name="text" placeholder="text the service"><button>Send</button></form>'
  +'<form class="ussd"><input name="text" value="*123#" title="USSD"><button>Dial</button></form><div class="result"></div>';
 document.getElementById('phones').appendChild(el);return el;}
function post(el,path,body){var r=el.querySelector('.result');r.textContent='sending...';
 fetch(path,{method:'POST',headers:{'content-type':'application/json'},body:JSON.stringify(body)})
  .then(function(x){return x.json().then(function(j){r.textContent=x.ok?'sent':'error: '+(j.error||x.status);el.setAttribute('data-sent'+path.replace('/','-'),x.ok?'ok':'error');});})
  .catch(function(e){r.textContent='error: '+e;el.setAttribute('data-sent'+path.replace('/','-'),'error');}).then(function(){setTimeout(tick,800);});}
function wire(el){if(el.wired)return;el.wired=true;var num=el.getAttribute('data-number');
 auto[num]=el.querySelector('form.sms input.svc').value;
 el.querySelector('form.sms').onsubmit=function(e){e.preventDefault();var f=e.target;
  post(el,'/mo',{from:num,to:f.elements.to.value,text:f.elements.text.value});f.elements.text.value='';};
 el.querySelector('form.ussd').onsubmit=function(e){e.preventDefault();var t=e.target.elements.text.value,s=el.ussdSession;
  var code=/^\*.*#$/.test(t);post(el,'/ussd',{from:num,to:code?t:(s?s.service:'*123#'),text:t,new_session:code});
  if(!code)e.target.elements.text.value='';};
 el.addEventListener('click',function(e){var b=e.target.closest('button.call');if(b)call(num,b.getAttribute('data-from'));});}
function call(num,from){openCall={number:num,from:from};var cs=document.getElementById('call-screen');
 var el=card(num);el.appendChild(cs);cs.setAttribute('data-number',num);cs.setAttribute('data-from',from);
 return fetch('/handsets/'+enc(num)+'/call?from='+enc(from)).then(function(r){return r.json();}).then(function(c){
  if(!openCall||openCall.number!==num||openCall.from!==from)return;
  var img=cs.querySelector('img'),np=cs.querySelector('.no-avatar');
  if(c.avatar_sha256){img.src='/handsets/'+enc(num)+'/avatar?from='+enc(from)+'&v='+c.avatar_sha256.substr(0,12);img.alt='avatar of '+(c.name||c.from);img.hidden=false;np.hidden=true;}
  else{img.removeAttribute('src');cs.removeAttribute('data-img');img.hidden=true;np.hidden=false;}
  cs.querySelector('.call-name').textContent=c.name||c.from;cs.querySelector('.call-number').textContent=c.from;
  cs.querySelector('.call-status').textContent=c.last_status||'';cs.hidden=false;cs.setAttribute('data-state','ringing');});}
function hangup(){openCall=null;var cs=document.getElementById('call-screen');cs.hidden=true;cs.setAttribute('data-state','idle');}
function draw(v){var el=card(v.number);wire(el);el.ussdSession=v.ussd_session;var s=JSON.stringify(v);
 var svc=service(v),to=el.querySelector('form.sms input.svc');
 if(svc&&to.value===(auto[v.number]||'10658')&&document.activeElement!==to){to.value=svc;auto[v.number]=svc;}
 if(seen[v.number]===s&&el.getAttribute('data-rendered')==='js')return;seen[v.number]=s;
 el.querySelector('.screen').innerHTML=body(v);el.setAttribute('data-rendered','js');}
var actions=[];location.search.replace(/^\?/,'').split('&').forEach(function(kv){var i=kv.indexOf('='),v,j;if(i<0)return;
 try{v=decodeURIComponent(kv.slice(i+1));}catch(e){return;}j=v.indexOf(':');var k=kv.slice(0,i);
 if(j>0&&(k==='call'||k==='sms'||k==='ussd'))actions.push({kind:k,number:v.slice(0,j),arg:v.slice(j+1),tries:0});});
function phoneEl(num){var el=null;Array.prototype.forEach.call(document.querySelectorAll('.phone'),function(x){if(digits(x.getAttribute('data-number'))===digits(num))el=x;});return el;}
function runActions(){actions=actions.filter(function(a){var el=phoneEl(a.number),b=null;
  if(el&&a.kind==='call')Array.prototype.forEach.call(el.querySelectorAll('button.call'),function(x){if(digits(x.getAttribute('data-from'))===digits(a.arg))b=x;});
  if(b){b.click();return false;}
  if(el&&a.kind!=='call'){var f=el.querySelector('form.'+a.kind);f.elements.text.value=a.arg;f.requestSubmit();return false;}
  if(++a.tries>20){document.body.setAttribute('data-action-error',a.kind+' '+a.arg+' on '+a.number+': not found');return false;}
  return true;});}
function tick(){return fetch('/handsets').then(function(r){return r.json();}).then(function(ns){
  return Promise.all(ns.map(function(n){return fetch('/handsets/'+enc(n)).then(function(r){return r.json();});}));})
 .then(function(vs){vs.forEach(draw);document.body.setAttribute('data-polled',String(Date.now()));runActions();
  if(openCall)call(openCall.number,openCall.from);})
 .catch(function(e){document.body.setAttribute('data-poll-error',String(e));});}
document.getElementById('hangup').onclick=hangup;
(function(img,cs){img.onload=function(){cs.setAttribute('data-img',img.naturalWidth+'x'+img.naturalHeight);};
 img.onerror=function(){cs.setAttribute('data-img','error');};})(document.querySelector('#call-screen img'),document.getElementById('call-screen'));
Array.prototype.forEach.call(document.querySelectorAll('.phone'),wire);
tick();setInterval(tick,1500);
})();"#;

/// The service number a handset would text: the short source of its latest SMS or push
/// (a long number is a person), else the demo default.
fn service_of(v: &crate::handset::HandsetView) -> &str {
    let sms = v.inbox.iter().map(|m| (m.received_at_ms, m.from.as_str()));
    let push = v.pushes.iter().map(|p| (p.received_at_ms, p.from.as_str()));
    sms.chain(push)
        .filter(|(_, f)| f.len() < 7)
        .max_by_key(|(t, _)| *t)
        .map_or("10658", |(_, f)| f)
}

/// Human form of a push's fetch state.
fn fetch_state(f: &crate::handset::FetchState) -> String {
    match f {
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
    }
}

/// The changing part of a phone card (contacts, latest texts and pushes, last USSD screen);
/// the page's script redraws the same markup from `/handsets/{n}`.
fn phone_screen(v: &crate::handset::HandsetView) -> String {
    let n = enc(&v.number);
    let mut html = String::from("<h3>Contacts</h3>");
    if v.contacts.is_empty() {
        html.push_str("<p class=\"none\">no contacts yet</p>");
    }
    for c in v.contacts.values() {
        let name = c.name.as_deref().unwrap_or(&c.number);
        let pic = match &c.avatar {
            Some(a) => format!(
                "<img class=\"thumb\" src=\"/handsets/{n}/avatar?from={}&amp;v={}\" alt=\"avatar of {}\">",
                enc(&c.number),
                esc(a.sha256.get(..12).unwrap_or(&a.sha256)),
                esc(name)
            ),
            None => format!(
                "<span class=\"thumb nopic\">{}</span>",
                esc(&name.chars().next().map(String::from).unwrap_or_default())
            ),
        };
        html.push_str(&format!(
            "<div class=\"contact\" data-number=\"{num}\">{pic}<span class=\"who\">{}{}<span class=\"st\">{}</span></span>\
             <button class=\"call\" type=\"button\" data-from=\"{num}\">call</button></div>",
            esc(name),
            if c.name.is_some() {
                format!(" <small>{}</small>", esc(&c.number))
            } else {
                String::new()
            },
            match &c.last_status {
                Some(s) => esc(s),
                None => "<span class=\"none\">no status</span>".to_string(),
            },
            num = esc(&c.number),
        ));
    }
    // Latest six of texts and pushes together, newest first.
    let mut items: Vec<(u64, String)> = v
        .inbox
        .iter()
        .map(|m| {
            (
                m.received_at_ms,
                format!(
                    "<div class=\"msg\"><span class=\"from\">{} &middot; {}</span>{}</div>",
                    esc(&m.from),
                    clock(m.received_at_ms),
                    esc(&m.text)
                ),
            )
        })
        .chain(v.pushes.iter().map(|p| {
            (
                p.received_at_ms,
                format!(
                    "<div class=\"push\"><span class=\"from\">WAP Push ({}) from {} &middot; {}</span>{} \
                     <small>{} &middot; {}</small></div>",
                    p.kind,
                    esc(&p.from),
                    clock(p.received_at_ms),
                    esc(p.text.as_deref().unwrap_or("")),
                    esc(&p.href),
                    esc(&fetch_state(&p.fetch))
                ),
            )
        }))
        .collect();
    items.sort_by_key(|i| std::cmp::Reverse(i.0));
    html.push_str("<h3>Inbox</h3>");
    if items.is_empty() {
        html.push_str("<p class=\"none\">no messages</p>");
    }
    for (_, item) in items.into_iter().take(6) {
        html.push_str(&item);
    }
    if let Some(u) = v.ussd.last() {
        html.push_str(&format!(
            "<h3>USSD</h3><div class=\"ussd-screen\">{}</div>",
            esc(&u.text)
        ));
    }
    html
}

/// One phone card: number (linking to its page), the screen, a box to text the service and a
/// USSD dial box.
fn phone_card(v: &crate::handset::HandsetView) -> String {
    let digits: String = v.number.chars().filter(char::is_ascii_digit).collect();
    format!(
        "<div class=\"phone\" id=\"phone-{digits}\" data-number=\"{num}\">\
         <a class=\"phone-number\" href=\"/console/handsets/{n}\">{num}</a>\
         <div class=\"screen\">{}</div>\
         <form class=\"sms\"><input class=\"svc\" name=\"to\" value=\"{}\" title=\"service number\">\
         <input name=\"text\" placeholder=\"text the service\"><button>Send</button></form>\
         <form class=\"ussd\"><input name=\"text\" value=\"*123#\" title=\"USSD\"><button>Dial</button></form>\
         <div class=\"result\"></div></div>",
        phone_screen(v),
        esc(service_of(v)),
        num = esc(&v.number),
        n = enc(&v.number),
    )
}

/// `GET /`: every handset as a phone, side by side (inbox with decoded pushes, contacts with
/// avatar and status, text and USSD boxes, a call button per contact that opens the call
/// screen over the phone); a script polls the control API to keep them current. Below: binds.
async fn console(State(h): State<SimHandle>) -> Html<String> {
    let mut html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>smsc-sim</title>\
         <style>{PHONES_CSS}</style></head><body><h1>smsc-sim</h1>"
    );
    let stats = h.stats();
    html.push_str(&format!(
        "<p>uptime {} s &middot; MT accepted {} &middot; refused {} &middot; connections {}</p>",
        stats.uptime_ms / 1000,
        stats.mt_accepted,
        stats.mt_refused,
        stats.connections
    ));
    html.push_str("<div id=\"phones\">");
    let numbers = h.handsets();
    for n in &numbers {
        html.push_str(&phone_card(&h.handset(n)));
    }
    html.push_str("</div>");
    if numbers.is_empty() {
        html.push_str("<p class=\"none\" id=\"no-phones\">no handsets yet: a handset appears when an MT reaches it or it dials USSD (an SMS it sends, send-mo, does not make one)</p>");
    }
    html.push_str(
        "<div id=\"call-screen\" hidden data-state=\"idle\"><p>Incoming call</p>\
         <img alt=\"\" hidden><p class=\"no-avatar none\" hidden>(no picture)</p>\
         <h2 class=\"call-name\"></h2><p class=\"call-number\"></p><p class=\"call-status\"></p>\
         <button id=\"hangup\" type=\"button\">hang up</button></div>",
    );
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
    html.push_str("</table>");
    html.push_str(&format!("<script>{PHONES_JS}</script></body></html>"));
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
async fn console_handset(
    State(h): State<SimHandle>,
    ApiPath(number): ApiPath<String>,
) -> Html<String> {
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
            let fetch = fetch_state(&p.fetch);
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
    ApiPath(number): ApiPath<String>,
    ApiQuery(q): ApiQuery<CallQuery>,
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

    fn msg(from: &str, at: u64) -> crate::handset::InboxMessage {
        crate::handset::InboxMessage {
            from: from.to_string(),
            text: format!("from {from}"),
            data_coding: 0,
            parts: 1,
            contact: from.to_string(),
            received_at_ms: at,
            push_error: None,
        }
    }

    #[test]
    fn service_is_the_latest_short_sender_else_the_default() {
        let mut v = crate::handset::HandsetView::default();
        assert_eq!(service_of(&v), "10658");
        v.inbox.push(msg("+8613800138000", 1));
        assert_eq!(service_of(&v), "10658", "a person is not the service");
        v.inbox.push(msg("10086", 2));
        v.inbox.push(msg("+8613700137000", 3));
        assert_eq!(service_of(&v), "10086");
        v.inbox.insert(0, msg("1234", 5));
        assert_eq!(service_of(&v), "1234", "latest by time, not by position");
    }

    #[test]
    fn phone_card_escapes_and_names_the_service() {
        let mut v = crate::handset::HandsetView {
            number: "86139<b>".to_string(),
            ..Default::default()
        };
        v.inbox.push(msg("10086", 1));
        v.inbox[0].text = "<i>hi</i>".to_string();
        let card = phone_card(&v);
        assert!(
            card.starts_with(
                "<div class=\"phone\" id=\"phone-86139\" data-number=\"86139&lt;b&gt;\">"
            ),
            "{card}"
        );
        assert!(
            card.contains("href=\"/console/handsets/86139%3Cb%3E\""),
            "{card}"
        );
        assert!(
            card.contains("&lt;i&gt;hi&lt;/i&gt;") && !card.contains("<i>"),
            "{card}"
        );
        assert!(card.contains("value=\"10086\""), "{card}");
        assert!(card.contains("no contacts yet"), "{card}");
    }

    #[test]
    fn clock_formats_utc() {
        assert_eq!(clock(0), "00:00:00");
        assert_eq!(clock(3_723_000), "01:02:03");
    }
}
