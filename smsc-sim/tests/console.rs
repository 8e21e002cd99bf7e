//! The console pages over real HTTP, walked like a person with a browser would: the phones
//! page draws each handset (inbox, pushes, contacts with thumbnails and call buttons, text and
//! USSD boxes) and links to a phone's page, the phone lists its contacts with a call link, the call screen
//! shows the caller's name, status and avatar `<img>` whose src the simulator itself serves
//! (also after the server the picture came from is gone).

mod common;

use std::time::Duration;

use common::{submit, text, Client, Mode};
use rusmpp::CommandStatus;
use sms_wire::wap_push::{push_segments, PushContent, ServiceIndication, WspOptions};
use smsc_sim::{FetchState, SimConfig, SimHandle, Simulator};

const T: Duration = Duration::from_secs(5);
const PHONE: &str = "8613900139000";
const CALLER: &str = "+8613800138000";
static PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDRnot-really-an-image";

async fn sim() -> SimHandle {
    Simulator::start(SimConfig::local().with_account("esme", "secret"))
        .await
        .expect("start")
}

/// Every value of `attr="..."` in `html`, entities `&amp;` undone.
fn attr_values(html: &str, attr: &str) -> Vec<String> {
    let needle = format!("{attr}=\"");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(&needle) {
        rest = &rest[i + needle.len()..];
        let Some(end) = rest.find('"') else { break };
        out.push(rest[..end].replace("&amp;", "&"));
        rest = &rest[end..];
    }
    out
}

async fn get(url: &str) -> reqwest::Response {
    let r = reqwest::get(url).await.unwrap();
    assert!(r.status().is_success(), "GET {url}: {}", r.status());
    r
}

async fn page(url: &str) -> String {
    let r = get(url).await;
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/html"), "{url}: {ct}");
    r.text().await.unwrap()
}

/// A one-route server standing in for the gateway's avatar link; the handle stops it.
async fn avatar_server() -> (String, tokio::task::JoinHandle<()>) {
    let app = axum::Router::new().route(
        "/a/{id}",
        axum::routing::get(|| async { ([(axum::http::header::CONTENT_TYPE, "image/png")], PNG) }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let task = tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (base, task)
}

#[tokio::test]
async fn console_walk_from_list_to_call_screen_with_avatar() {
    let h = sim().await;
    let base = h.http_url().unwrap();
    let mut c = Client::bound(h.smpp_addr(), Mode::Tx).await;

    // A status update naming the caller, then an avatar push whose link the phone follows.
    let r = c
        .submit(text(PHONE, "Demo (+8613800138000): BUSY until 15:00", 0))
        .await;
    assert_eq!(r.status(), CommandStatus::EsmeRok);
    let (srv, srv_task) = avatar_server().await;
    let href = format!("{srv}/a/0123456789abcdef");
    let si = ServiceIndication::new(href.clone(), "Demo (+8613800138000) has a new photo");
    for s in push_segments(&PushContent::Si(si), &WspOptions::default(), 3, false).unwrap() {
        let r = c
            .submit(submit(
                PHONE,
                s.esm_class,
                s.data_coding,
                &s.short_message,
                0,
            ))
            .await;
        assert_eq!(r.status(), CommandStatus::EsmeRok);
    }
    h.wait_until("avatar fetched", T, |h| {
        h.handset(PHONE)
            .pushes
            .first()
            .filter(|p| matches!(p.fetch, FetchState::Fetched { .. }))
            .map(|_| ())
    })
    .await
    .unwrap();
    // The gateway is gone: the phone still shows the picture it holds.
    srv_task.abort();
    let _ = srv_task.await;
    assert!(reqwest::get(&href).await.is_err(), "avatar server still up");

    // The list links each handset row to its page.
    let list = page(&format!("{base}/")).await;
    let phone_link = attr_values(&list, "href")
        .into_iter()
        .find(|l| l.starts_with("/console/handsets/") && l.contains(PHONE))
        .unwrap_or_else(|| panic!("no link to the handset page in {list}"));

    // The list draws every handset as a phone: the decoded push and the status in its inbox,
    // the contact with its avatar thumbnail (served by the simulator) and a call button, a
    // box to text the service (the short number that texted it) and a USSD box; the call
    // screen and the polling script are on the page.
    let card = list
        .split("<div class=\"phone\" ")
        .find(|c| c.starts_with(&format!("id=\"phone-{PHONE}\" data-number=\"{PHONE}\"")))
        .unwrap_or_else(|| panic!("no phone card for {PHONE} in {list}"));
    assert!(
        card.contains("Demo (+8613800138000) has a new photo"),
        "{card}"
    );
    assert!(
        card.contains("Demo (+8613800138000): BUSY until 15:00"),
        "{card}"
    );
    assert!(card.contains("200 image/png"), "fetch state shown: {card}");
    assert!(
        card.contains(
            "<button class=\"call\" type=\"button\" data-from=\"+8613800138000\">call</button>"
        ),
        "{card}"
    );
    let thumb = attr_values(card, "src")
        .into_iter()
        .find(|s| s.starts_with("/handsets/8613900139000/avatar?from=%2B8613800138000&v="))
        .unwrap_or_else(|| panic!("no avatar thumbnail in {card}"));
    assert_eq!(
        &get(&format!("{base}{thumb}")).await.bytes().await.unwrap()[..],
        PNG
    );
    assert!(
        card.contains("<input class=\"svc\" name=\"to\" value=\"10086\""),
        "service number from the MT source: {card}"
    );
    assert!(card.contains("<form class=\"sms\">") && card.contains("<form class=\"ussd\">"));
    assert!(list.contains("<div id=\"call-screen\" hidden"), "{list}");
    assert!(
        list.contains("fetch('/handsets')") && list.contains("'/handsets/'+enc(num)+'/call?from='")
    );

    // The phone's page: inbox, push, contacts with a call link.
    let phone = page(&format!("{base}{phone_link}")).await;
    assert!(phone.contains("<h1>Handset 8613900139000</h1>"), "{phone}");
    assert!(
        phone.contains("Demo (+8613800138000): BUSY until 15:00"),
        "{phone}"
    );
    assert!(phone.contains("Demo (+8613800138000) has a new photo"));
    assert!(phone.contains(&href), "push href shown");
    assert!(phone.contains("200 image/png"), "fetch state shown");
    assert!(phone.contains("call from this contact"));
    let call_link = attr_values(&phone, "href")
        .into_iter()
        .find(|l| l.contains("/call?from="))
        .unwrap();
    // The plus sign survives the query string.
    assert_eq!(
        call_link,
        "/console/handsets/8613900139000/call?from=%2B8613800138000"
    );

    // The call screen: name, number, status, and the avatar image.
    let call = page(&format!("{base}{call_link}")).await;
    assert!(call.contains("<h2 id=\"name\">Demo</h2>"), "{call}");
    assert!(
        call.contains(&format!("<p id=\"number\">{CALLER}</p>")),
        "{call}"
    );
    assert!(
        call.contains("<p id=\"status\">Demo (+8613800138000): BUSY until 15:00</p>"),
        "{call}"
    );
    let img = attr_values(&call, "src");
    assert_eq!(img.len(), 1, "{call}");
    assert_eq!(
        img[0],
        "/handsets/8613900139000/avatar?from=%2B8613800138000"
    );
    let resp = get(&format!("{base}{}", img[0])).await;
    assert_eq!(resp.headers()["content-type"], "image/png");
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(&bytes[..], PNG);
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    h.shutdown().await;
}

#[tokio::test]
async fn console_pages_for_unknown_callers_and_hostile_text() {
    let h = sim().await;
    let base = h.http_url().unwrap();
    let mut c = Client::bound(h.smpp_addr(), Mode::Tx).await;
    c.submit(text(PHONE, "<script>alert(1)</script> & co", 0))
        .await;
    h.wait_for_inbox(PHONE, 1, T).await.unwrap();

    // Message text is escaped, never markup, on the phones page and the phone's page.
    let list = page(&format!("{base}/")).await;
    assert!(!list.contains("<script>alert"), "{list}");
    assert!(list.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"));
    let phone = page(&format!("{base}/console/handsets/{PHONE}")).await;
    assert!(!phone.contains("<script>alert"), "{phone}");
    assert!(phone.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"));
    assert!(phone.contains("no pushes"));

    // A caller the phone knows nothing about: the number, no status, no picture.
    let call = page(&format!(
        "{base}/console/handsets/{PHONE}/call?from=%2B8613500135000"
    ))
    .await;
    assert!(
        call.contains("<h2 id=\"name\">+8613500135000</h2>"),
        "{call}"
    );
    assert!(call.contains("id=\"no-avatar\""), "{call}");
    assert!(attr_values(&call, "src").is_empty());
    let r = reqwest::get(format!(
        "{base}/handsets/{PHONE}/avatar?from=%2B8613500135000"
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 404);

    // A handset that never received anything still has a (empty) page.
    let empty = page(&format!("{base}/console/handsets/%2B8613000000000")).await;
    assert!(empty.contains("<h1>Handset +8613000000000</h1>"), "{empty}");
    assert!(empty.contains("no contacts yet") && empty.contains("no messages"));
    // The number is quoted for the script, and cannot close it.
    let hostile = page(&format!("{base}/console/handsets/%3C%2Fscript%3E")).await;
    assert!(!hostile.contains("</script>\"") && hostile.contains("\\u003c/script>"));
    h.shutdown().await;
}
