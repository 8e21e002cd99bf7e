//! Avatar pages and downloads, for feature-phone browsers (XHTML Mobile Profile 1.0, which
//! every WAP 2.0 browser renders; the upload form 1.2, for its file input): `/a/<token>` (a contact's per-viewer avatar link),
//! `/p/<id>` (a preset picture), `/gallery` (the preset catalogue with thumbnails), and
//! `/u/<token>` (the one-time upload form and its POST, the one file part of a multipart form
//! whatever its field name, or a raw body).
//!
//! A link names an (owner, viewer) pair, not a picture: it always serves the owner's CURRENT
//! avatar (after a change, the new version with a new ETag, so a cached copy revalidates to the
//! new one); after `AVATAR OFF` it answers 404; once the viewer may no longer see the owner
//! (PRIVACY, or removed from every group) it answers 403.
//!
//! A contact link's downloads are dated (`Last-Modified`, [`modified_secs`]) and answer an
//! `If-Modified-Since` sent without `If-None-Match` with 304 while no newer picture was
//! chosen.
//!
//! Downloads carry the variant's SHA-256 as a strong ETag and answer `If-None-Match` with 304,
//! and one byte range (`Range: bytes=a-b`, `a-`, `-n`) with 206 and `Content-Range` (416 when
//! no byte of it exists; several ranges, or an `If-Range` of another version, the whole; of
//! several ranges only one of which has bytes in the picture, that one). The `Range` value is
//! read by the `http-range-header` crate; one that is not valid is ignored (200), and so is
//! any `Range` on a HEAD (RFC 9110 14.2: range handling is defined for GET only).
//! The format follows `?f=jpeg|png|gif|wbmp` or the `Accept` header (JPEG when anything goes;
//! WBMP, for WAP 1.x handsets, when it is preferred or named without JPEG, PNG and GIF), the
//! size `?s=` (the closest rendered size at least as big; a WBMP is always the smallest).
//! Queries are read leniently: a value that cannot be read (`?s=abc`, `?page=x`) is that
//! parameter's default, never a 400.

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use super::HttpState;
use crate::command::Lang;
use crate::images::OutputFormat;
use crate::service::avatar::{self, Served, UploadToken};
use crate::service::replies::{upload_formats, Rejected, Text};
use crate::service::state;
use crate::store::{now_ms, StoreError};

/// A download's `?s=96&f=png`, read leniently as the gallery's query is ([`query_pairs`]): a
/// size that is no number (`?s=abc`, `?s=-1`) is the configured default size, a format that
/// is none of `jpeg`, `png`, `gif`, `wbmp` follows `Accept`, and anything else is ignored, so a
/// mistyped link still shows the picture instead of a framework error.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct ImageQuery {
    s: Option<u32>,
    f: Option<String>,
}

impl ImageQuery {
    fn parse(raw: Option<&str>) -> ImageQuery {
        let mut q = ImageQuery::default();
        for (key, value) in query_pairs(raw) {
            match key.as_ref() {
                "s" => q.s = value.trim().parse().ok(),
                "f" => q.f = Some(value.trim().to_string()),
                _ => {}
            }
        }
        q
    }
}

/// The `key=value` pairs of a raw query string, in order, decoded as a browser encodes a form
/// (`application/x-www-form-urlencoded`: `%31` is `1`, `+` a space; `form_urlencoded`, what
/// axum's `Query` reads with); a pair without `=` has an empty value. Every avatar route reads
/// its query through this, each parameter leniently (a value it cannot read is the
/// parameter's default), so no route answers a bad value with a framework error.
fn query_pairs(raw: Option<&str>) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(raw.unwrap_or("").as_bytes())
}

/// The gallery's `?page=2&lang=zh`, read leniently: a page that is no positive number is the
/// first page, a language other than `zh` is English, and anything else is ignored, so a
/// mistyped link still opens a page instead of a framework error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct GalleryQuery {
    page: u32,
    lang: Lang,
}

impl GalleryQuery {
    fn parse(raw: Option<&str>) -> GalleryQuery {
        let mut q = GalleryQuery {
            page: 1,
            lang: Lang::En,
        };
        for (key, value) in query_pairs(raw) {
            match key.as_ref() {
                "page" => q.page = value.trim().parse().ok().filter(|&p| p > 0).unwrap_or(1),
                "lang" => {
                    q.lang = if value.trim().to_ascii_lowercase().starts_with("zh") {
                        Lang::Zh
                    } else {
                        Lang::En
                    }
                }
                _ => {}
            }
        }
        q
    }
}

const XHTML_MP: &str = "application/vnd.wap.xhtml+xml; charset=utf-8";

/// Escape text for XHTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The document type of XHTML-MP 1.0, which every WAP 2.0 browser renders.
const MP_1_0: &str = "<!DOCTYPE html PUBLIC \"-//WAPFORUM//DTD XHTML Mobile 1.0//EN\" \
                      \"http://www.wapforum.org/DTD/xhtml-mobile10.dtd\">";

/// The document type of XHTML-MP 1.2 (OMA), for the upload form: 1.0 has XHTML Basic's
/// forms, whose `input` has no `type="file"`; 1.2's forms module has it.
const MP_1_2: &str = "<!DOCTYPE html PUBLIC \"-//WAPFORUM//DTD XHTML Mobile 1.2//EN\" \
                      \"http://www.openmobilealliance.org/tech/DTD/xhtml-mobile12.dtd\">";

/// A complete XHTML-MP 1.0 page.
pub(super) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    page_of(MP_1_0, status, title, body)
}

/// A complete page of document type `doctype` ([`MP_1_0`], [`MP_1_2`]).
fn page_of(doctype: &str, status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{doctype}\n\
         <html xmlns=\"http://www.w3.org/1999/xhtml\"><head><title>{}</title></head>\
         <body>{body}</body></html>\n",
        esc(title)
    );
    (status, [(header::CONTENT_TYPE, XHTML_MP)], html).into_response()
}

/// The format to send: `?f=` (any case) when it names one, else what `Accept` prefers.
fn format_for(q: &ImageQuery, headers: &HeaderMap) -> &'static str {
    if let Some(f) = q.f.as_deref().and_then(OutputFormat::parse) {
        return f.as_str();
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*/*");
    negotiate(accept).as_str()
}

/// The output format `accept` (an HTTP `Accept` value) prefers (RFC 9110 section 12.5.1):
/// each format takes the quality of the most specific range that matches it (`image/png`
/// before `image/*` before `*/*`), the highest quality above 0 wins, and ties go to JPEG, then
/// PNG, then GIF (JPEG is what every camera phone shows). When nothing listed is acceptable
/// the answer is JPEG anyway: a handset that gets a picture it may not show loses less than
/// one that gets a 406 page.
/// WBMP (`image/vnd.wap.wbmp`) is for WAP 1.x handsets: it wins when it has the highest
/// quality, and a tie when `accept` names it and none of JPEG, PNG and GIF (a WAP 1.x
/// browser lists `image/vnd.wap.wbmp` and often `*/*`, which does not mean it shows a JPEG);
/// `image/*` or `*/*` alone never chooses it.
fn negotiate(accept: &str) -> OutputFormat {
    let ranges: Vec<(&str, &str, f32)> = accept
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let range = parts.next()?.trim();
            let (kind, sub) = range.split_once('/')?;
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
                .find_map(|v| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            Some((kind.trim(), sub.trim(), q))
        })
        .collect();
    let quality = |f: OutputFormat| -> f32 {
        let (kind, sub) = f.content_type().split_once('/').unwrap_or(("image", ""));
        ranges
            .iter()
            .filter_map(|&(k, s, q)| {
                let specificity = match (k, s) {
                    _ if k.eq_ignore_ascii_case(kind) && s.eq_ignore_ascii_case(sub) => 2,
                    _ if k.eq_ignore_ascii_case(kind) && s == "*" => 1,
                    ("*", "*") => 0,
                    _ => return None,
                };
                Some((specificity, q))
            })
            .max_by_key(|&(specificity, _)| specificity)
            .map_or(0.0, |(_, q)| q)
    };
    let mut best = (OutputFormat::Jpeg, 0.0f32);
    for f in OutputFormat::ALL {
        let q = quality(f);
        if q > best.1 {
            best = (f, q);
        }
    }
    // Named with a quality above 0: its own type, not a wildcard.
    let named = |f: OutputFormat| {
        ranges
            .iter()
            .any(|&(k, s, q)| q > 0.0 && format!("{k}/{s}").eq_ignore_ascii_case(f.content_type()))
    };
    let wbmp = quality(OutputFormat::Wbmp);
    if wbmp > best.1
        || (wbmp > 0.0
            && wbmp >= best.1
            && named(OutputFormat::Wbmp)
            && !OutputFormat::ALL.into_iter().any(named))
    {
        return OutputFormat::Wbmp;
    }
    best.0
}

/// `Cache-Control` of a contact's avatar link. The link names an (owner, viewer) pair and its
/// URL never changes, while the picture behind it does (a new avatar, `AVATAR OFF`, PRIVACY):
/// a copy may be kept but must be revalidated each time, which the ETag makes a 304.
const LINK_CACHE: &str = "private, no-cache";

/// `Cache-Control` of a preset picture: public, and an hour is short enough for a catalogue
/// re-import that puts a new picture behind an id.
const PRESET_CACHE: &str = "public, max-age=3600";

/// The headers every download and its 304 carry: the ETag, the caching rule, and `Vary:
/// Accept` (the format follows `Accept`, so a shared cache must not give one handset's format
/// to another).
fn image_headers(sha256: &str, cache: &'static str) -> [(header::HeaderName, String); 4] {
    [
        (header::ETAG, format!("\"{sha256}\"")),
        (header::CACHE_CONTROL, cache.to_string()),
        (header::VARY, "Accept".to_string()),
        (header::ACCEPT_RANGES, "bytes".to_string()),
    ]
}

/// A contact link's `Last-Modified`, in Unix seconds: the second after the owner chose the
/// picture ([`avatar::chosen_at`], ms). A second late, never early: a handset served in the
/// second of a choice may take that response's `Date` for its `If-Modified-Since`, and a
/// second choice within that same second must still read as newer than it.
fn modified_secs(chosen_at_ms: i64) -> i64 {
    chosen_at_ms.div_euclid(1000) + 1
}

/// The `If-Modified-Since` of a download, in Unix seconds, as RFC 9110 13.1.3 has it read:
/// not when `If-None-Match` is there (the ETag decides), nor a date that is not a valid
/// HTTP-date or is later than `now_secs` (a handset's clock, not a copy).
fn modified_since(headers: &HeaderMap, now_secs: i64) -> Option<i64> {
    if headers.contains_key(header::IF_NONE_MATCH) {
        return None;
    }
    let value = headers.get(header::IF_MODIFIED_SINCE)?.to_str().ok()?;
    let at = httpdate::parse_http_date(value.trim()).ok()?;
    let secs = i64::try_from(at.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs()).ok()?;
    (secs <= now_secs).then_some(secs)
}

/// Add `Last-Modified` (the link's picture chosen at `chosen_at_ms`, [`modified_secs`]) to a
/// download's 200, 206 or 304, when that second is over by `now_secs`: a date later than the
/// response's own is not sent (RFC 9110 8.8.2.1).
fn date_download(response: &mut Response, chosen_at_ms: i64, now_secs: i64) {
    let modified = modified_secs(chosen_at_ms);
    let dated = matches!(
        response.status(),
        StatusCode::OK | StatusCode::PARTIAL_CONTENT | StatusCode::NOT_MODIFIED
    );
    let Ok(secs) = u64::try_from(modified) else {
        return;
    };
    if !dated || modified > now_secs {
        return;
    }
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    if let Ok(v) = header::HeaderValue::from_str(&httpdate::fmt_http_date(at)) {
        response.headers_mut().insert(header::LAST_MODIFIED, v);
    }
}

/// What a `Range` header asks of a body of `len` bytes (RFC 9110 section 14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeAsk {
    /// The whole body, 200: no `Range`, one that is not `bytes=`, one that is not a valid
    /// range set or that the parser will not take (too many or overlapping ranges), several
    /// satisfiable ranges (a server may answer those with the whole body, RFC 9110 14.2,
    /// rather than `multipart/byteranges`), or a suffix range of an empty body.
    Whole,
    /// Bytes `start..=end`, 206: the one satisfiable range (others in the set may be past the
    /// end).
    Part(usize, usize),
    /// No range of the set has a byte in the body, 416.
    Unsatisfiable,
}

/// Read a `Range` value (`bytes=0-99`, `bytes=100-`, `bytes=-50`, or a set of them) against a
/// body of `len` bytes with `http_range_header`: a last position past the end is the end, a
/// range whose first one is past it is left out, a set with none left unsatisfiable.
fn range_ask(value: &str, len: usize) -> RangeAsk {
    use http_range_header::{parse_range_header, RangeUnsatisfiableError};
    let ranges = parse_range_header(value)
        .and_then(|set| set.validate(u64::try_from(len).unwrap_or(u64::MAX)));
    match ranges.as_deref() {
        Ok([one]) => match (usize::try_from(*one.start()), usize::try_from(*one.end())) {
            (Ok(start), Ok(end)) => RangeAsk::Part(start, end),
            _ => RangeAsk::Whole,
        },
        Ok(_) => RangeAsk::Whole,
        Err(RangeUnsatisfiableError::Unsatisfiable) => RangeAsk::Unsatisfiable,
        // Not valid, or not taken: ignored, as RFC 9110 14.2 allows.
        Err(_) => RangeAsk::Whole,
    }
}

/// The answer to a download of `served` (`method` is GET or HEAD, which axum runs through the
/// GET handler and answers without the body): 304 when `If-None-Match` holds its ETag, else
/// the picture, or the one byte range of it a GET asks for (206, 416). `Range` on a HEAD is
/// ignored, as RFC 9110 14.2 says a server MUST for every method but GET: a HEAD answers as
/// the GET without a range would (200, the whole picture's length).
fn serve_image(
    served: Served,
    method: &Method,
    headers: &HeaderMap,
    cache: &'static str,
) -> Response {
    let fresh = held_etags(headers)
        .iter()
        .any(|h| h == "*" || *h == served.sha256);
    if fresh {
        return (
            StatusCode::NOT_MODIFIED,
            image_headers(&served.sha256, cache),
        )
            .into_response();
    }
    // `If-Range` other than this version's ETag (another version, or a date): the whole
    // picture, so that a resumed download never joins two versions.
    let if_range_holds = headers.get(header::IF_RANGE).is_none_or(|v| {
        v.to_str()
            .is_ok_and(|v| v.trim() == format!("\"{}\"", served.sha256))
    });
    let ask = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(v) if if_range_holds && method == Method::GET => range_ask(v, served.bytes.len()),
        _ => RangeAsk::Whole,
    };
    let total = served.bytes.len();
    match ask {
        RangeAsk::Whole => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, served.content_type)],
            image_headers(&served.sha256, cache),
            served.bytes,
        )
            .into_response(),
        RangeAsk::Part(start, end) => (
            StatusCode::PARTIAL_CONTENT,
            [
                (header::CONTENT_TYPE, served.content_type),
                (
                    header::CONTENT_RANGE,
                    format!("bytes {start}-{end}/{total}"),
                ),
            ],
            image_headers(&served.sha256, cache),
            served.bytes[start..=end].to_vec(),
        )
            .into_response(),
        RangeAsk::Unsatisfiable => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            [(header::CONTENT_RANGE, format!("bytes */{total}"))],
            image_headers(&served.sha256, cache),
        )
            .into_response(),
    }
}

/// The page for a store that failed under a download; the reason goes to the log, not to an
/// anonymous client.
fn store_failed(e: &StoreError) -> Response {
    tracing::warn!(error = %e, "avatar download failed in the store");
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Avatar",
        "<p>Try again later.</p>",
    )
}

fn unavailable() -> Response {
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Unavailable",
        "<p>The avatar service is not running.</p>",
    )
}

/// What a download found.
enum Found {
    /// The variant to send.
    Image(Served),
    /// The client's copy is current: the ETag, and whether its `If-Modified-Since` said so
    /// (not an ETag it sent).
    Fresh(String, bool),
}

/// The ETags an `If-None-Match` header lists, unquoted (`W/` weak prefixes dropped).
fn held_etags(headers: &HeaderMap) -> Vec<String> {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',')
                .map(|t| {
                    t.trim()
                        .trim_start_matches("W/")
                        .trim_matches('"')
                        .to_string()
                })
                .filter(|t| !t.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Why a contact's avatar link shows no picture: the page's status and text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NoPicture {
    /// No link has this token.
    UnknownLink,
    /// The owner is no subscriber (any more).
    NoOwner,
    /// The owner's PRIVACY or groups do not let the viewer see it.
    NotShared,
    /// The owner has no avatar.
    NotSet,
    /// No variant in the format asked for.
    NoFormat,
}

impl NoPicture {
    fn status(self) -> StatusCode {
        match self {
            NoPicture::NotShared => StatusCode::FORBIDDEN,
            _ => StatusCode::NOT_FOUND,
        }
    }

    /// The page's text in `lang`.
    fn text(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (NoPicture::UnknownLink, Lang::En) => "This link is not known.",
            (NoPicture::UnknownLink, Lang::Zh) => "此链接无效。",
            (NoPicture::NoOwner, Lang::En) => "No picture here.",
            (NoPicture::NoOwner, Lang::Zh) => "这里没有头像。",
            (NoPicture::NotShared, Lang::En) => "This picture is not shared with you.",
            (NoPicture::NotShared, Lang::Zh) => "此头像未对你公开。",
            (NoPicture::NotSet, Lang::En) => "No picture is set.",
            (NoPicture::NotSet, Lang::Zh) => "对方没有设置头像。",
            (NoPicture::NoFormat, Lang::En) => "No picture in that format.",
            (NoPicture::NoFormat, Lang::Zh) => "没有该格式的头像。",
        }
    }
}

/// An avatar download refused (403) to a handset counted as having the picture
/// ([`avatar::sent_current`]): the (owner, viewer) whose refusal to record.
type Refused = Option<(String, String)>;

/// A download of a picture not yet recorded as that handset's ([`avatar::downloaded`]): the
/// owner, the viewer and the picture (`avatar_id`), recorded once it is served whole or
/// found held ([`avatar::note_download`]).
type Download = Option<(String, String, i64)>;

/// What the store says of a contact's link: the picture to serve with the time it was chosen
/// ([`avatar::shown_chosen`]) and the download to record once it is served, or why there is
/// none (and the refusal to record).
type LinkFound = Result<((Found, i64), Download), (NoPicture, Lang, Refused)>;

/// Whether `response`, the answer to a download by `method` whose `If-None-Match` listed
/// `held`, leaves the handset with the picture it names: a GET served it whole (200, or 206 to
/// a range of every byte, `bytes=0-` as some browsers ask for a first download), or answered
/// 304 to an ETag the handset sent, the version it holds, or (`by_date`) to an
/// `If-Modified-Since` no earlier than the picture's choice. Not a HEAD (no body), a part of the
/// picture, nor a 304 to `If-None-Match: *` (RFC 9110 13.1.2: the handset holds some version,
/// not necessarily this one).
fn handset_has_it(method: &Method, response: &Response, held: &[String], by_date: bool) -> bool {
    let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok());
    let etag = header(header::ETAG).map(|v| v.trim_matches('"'));
    // `bytes 0-<last>/<length>`, as `serve_image` writes it.
    let every_byte = || {
        header(header::CONTENT_RANGE)
            .and_then(|v| v.strip_prefix("bytes 0-"))
            .and_then(|v| v.split_once('/'))
            .and_then(|(last, len)| Some((last.parse::<u64>().ok()?, len.parse::<u64>().ok()?)))
            .is_some_and(|(last, len)| last.checked_add(1) == Some(len))
    };
    method == Method::GET
        && match response.status() {
            StatusCode::OK => true,
            StatusCode::PARTIAL_CONTENT => every_byte(),
            StatusCode::NOT_MODIFIED => {
                by_date || etag.is_some_and(|e| held.iter().any(|h| h == e))
            }
            _ => false,
        }
}

/// `GET /a/{token}`: the owner's avatar, for the viewer the link was made for. A link that
/// shows no picture says why in the viewer's language (the configured default for a token
/// nobody was given). A refusal (403) is recorded ([`avatar::note_refused`]): that handset
/// does not have the picture, and gets it pushed again once it may see it. So is a download
/// (200, or a 304 for the version it holds: [`avatar::note_download`]): that handset has this
/// picture, and is not pushed it again, even after a refusal (so is a 206 of every byte). A
/// part of it, a HEAD and a 304 to `If-None-Match: *` are not ([`handset_has_it`]), nor a 200
/// whose body did not all go out ([`WhenSent`]): the download is recorded once it has.
pub(super) async fn avatar_link(
    State(st): State<HttpState>,
    Path(token): Path<String>,
    RawQuery(raw): RawQuery,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let Some(service) = &st.service else {
        return unavailable();
    };
    let q = ImageQuery::parse(raw.as_deref());
    let size = q.s.unwrap_or(service.config().avatar.default_size);
    let format = format_for(&q, &headers);
    let held = held_etags(&headers);
    let held_now = held.clone();
    let now_secs = now_ms().div_euclid(1000);
    let since = modified_since(&headers, now_secs);
    let fallback = service.config().default_lang;
    let found = st
        .store
        .read(move |c| -> Result<LinkFound, StoreError> {
            let Some((owner, viewer)) = avatar::resolve_link(c, &token)? else {
                return Ok(Err((NoPicture::UnknownLink, fallback, None)));
            };
            let lang = state::subscriber(c, &viewer)?.map_or(fallback, |v| v.lang);
            let Some(owner) = state::subscriber(c, &owner)? else {
                return Ok(Err((NoPicture::NoOwner, lang, None)));
            };
            let (id, chosen_at) = match avatar::shown_chosen(c, &owner.msisdn, &viewer)? {
                Ok(shown) => shown,
                Err(veto) if veto.refuses_viewer() => {
                    // The handset asked for the picture and did not get it: unless that is
                    // known already, it no longer counts as one that has it.
                    let refused = avatar::sent_current(c, &owner.msisdn, &viewer)?
                        .then(|| (owner.msisdn.clone(), viewer.clone()));
                    return Ok(Err((NoPicture::NotShared, lang, refused)));
                }
                Err(_) => return Ok(Err((NoPicture::NotSet, lang, None))),
            };
            let download = (avatar::downloaded(c, &owner.msisdn, &viewer)? != Some(id))
                .then(|| (owner.msisdn.clone(), viewer.clone(), id));
            // A client that holds this version gets its 304 without the bytes being read: by
            // its ETag, or, sending none, by a date no earlier than the choice's.
            if let Some(etag) = avatar::variant_etag(c, id, size, format)? {
                if held.iter().any(|h| h == "*" || *h == etag) {
                    return Ok(Ok(((Found::Fresh(etag, false), chosen_at), download)));
                }
                if since.is_some_and(|since| modified_secs(chosen_at) <= since) {
                    return Ok(Ok(((Found::Fresh(etag, true), chosen_at), download)));
                }
            }
            Ok(avatar::variant(c, id, size, format)?
                .map(|v| ((Found::Image(v), chosen_at), download))
                .ok_or((NoPicture::NoFormat, lang, None)))
        })
        .await;
    match found {
        Ok(Ok(((found, chosen_at), download))) => {
            let mut by_date = false;
            let mut response = match found {
                Found::Image(served) => serve_image(served, &method, &headers, LINK_CACHE),
                Found::Fresh(etag, dated) => {
                    by_date = dated;
                    (StatusCode::NOT_MODIFIED, image_headers(&etag, LINK_CACHE)).into_response()
                }
            };
            date_download(&mut response, chosen_at, now_secs);
            let has_it = handset_has_it(&method, &response, &held_now, by_date);
            let Some((owner, viewer, id)) = download.filter(|_| has_it) else {
                return response;
            };
            let store = st.store.clone();
            let note = move || async move {
                let noted = store
                    .write(move |tx| avatar::note_download(tx, &owner, &viewer, id, now_ms()))
                    .await;
                if let Err(e) = noted {
                    tracing::warn!(error = %e, "could not record an avatar download");
                }
            };
            if response.status() == StatusCode::NOT_MODIFIED {
                // No body: the handset showed it holds the picture.
                note().await;
                return response;
            }
            // The picture counts as the handset's only once its last byte went out: a
            // download that breaks off (the handset lost its data connection, the browser was
            // closed) leaves it without one. It was recorded before the body was sent.
            let (parts, body) = response.into_parts();
            let body = WhenSent::new(body, move || {
                tokio::spawn(note());
            });
            Response::from_parts(parts, axum::body::Body::new(body))
        }
        Ok(Err((why, lang, refused))) => {
            if let Some((owner, viewer)) = refused {
                let noted = st
                    .store
                    .write(move |tx| avatar::note_refused(tx, &owner, &viewer, now_ms()))
                    .await;
                if let Err(e) = noted {
                    tracing::warn!(error = %e, "could not record a refused avatar download");
                }
            }
            let title = if lang == Lang::Zh { "头像" } else { "Avatar" };
            page(why.status(), title, &format!("<p>{}</p>", why.text(lang)))
        }
        Err(e) => store_failed(&e),
    }
}

/// Bytes a [`WhenSent`] body hands the connection at a time: the connection takes the next
/// piece only once it has room for it, so the end of the body is reached when the picture has
/// (nearly) all been written, not when the first write began.
const SENT_PIECE: usize = 16 * 1024;

/// A response body that runs `done` once its last byte has been handed to the connection
/// (at most the connection's write buffer and the socket's send buffer behind), and never
/// when the response is dropped before that (the client closed the connection, a write
/// failed, the server stopped). The body is given out in pieces of [`SENT_PIECE`].
struct WhenSent<B> {
    inner: B,
    /// What the inner body gave and was not handed on yet.
    pending: Bytes,
    done: Option<Box<dyn FnOnce() + Send>>,
}

impl<B> WhenSent<B> {
    fn new(inner: B, done: impl FnOnce() + Send + 'static) -> Self {
        WhenSent {
            inner,
            pending: Bytes::new(),
            done: Some(Box::new(done)),
        }
    }

    fn finish(&mut self) {
        if let Some(done) = self.done.take() {
            done();
        }
    }
}

impl<B> hyper::body::Body for WhenSent<B>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, B::Error>>> {
        use std::task::Poll;
        let this = self.get_mut();
        if this.pending.is_empty() {
            match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => this.pending = data,
                    Err(other) => return Poll::Ready(Some(Ok(other))),
                },
            }
        }
        let piece = this.pending.split_to(this.pending.len().min(SENT_PIECE));
        // The connection polls no more once the body says it is at its end.
        if this.pending.is_empty() && this.inner.is_end_stream() {
            this.finish();
        }
        Poll::Ready(Some(Ok(hyper::body::Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        let inner = self.inner.size_hint();
        let pending = self.pending.len() as u64;
        let mut hint = hyper::body::SizeHint::new();
        hint.set_lower(inner.lower() + pending);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + pending);
        }
        hint
    }
}

/// `GET /p/{id}`: a preset picture (public). A path that is no preset number (`/p/abc`,
/// `/p/3.jpg`) is the "No such preset." page, as an unknown number is, not a framework error.
pub(super) async fn preset_image(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let Some(service) = &st.service else {
        return unavailable();
    };
    let Ok(id) = id.parse::<i64>() else {
        return no_such_preset();
    };
    let q = ImageQuery::parse(raw.as_deref());
    let size = q.s.unwrap_or(service.config().avatar.default_size);
    let format = format_for(&q, &headers);
    let found = st
        .store
        .read(move |c| match avatar::preset(c, id)? {
            Some((avatar_id, _)) => avatar::variant(c, avatar_id, size, format),
            None => Ok(None),
        })
        .await;
    match found {
        Ok(Some(served)) => serve_image(served, &method, &headers, PRESET_CACHE),
        Ok(None) => no_such_preset(),
        Err(e) => store_failed(&e),
    }
}

/// The page for a preset that does not exist.
fn no_such_preset() -> Response {
    page(StatusCode::NOT_FOUND, "Avatar", "<p>No such preset.</p>")
}

/// `GET /gallery?page=n&lang=zh`: the preset catalogue with 48-pixel GIF thumbnails, paged as
/// the `AVATARS` reply pages it (`[avatar] presets_per_page`), so the link in `AVATARS 2`
/// shows the avatars that reply lists; in Chinese (titles and text) with `lang=zh`, the link a
/// Chinese reply carries. A page past the last is the last; one that is no number, the first.
pub(super) async fn gallery(State(st): State<HttpState>, RawQuery(raw): RawQuery) -> Response {
    let Some(service) = &st.service else {
        return unavailable();
    };
    let q = GalleryQuery::parse(raw.as_deref());
    let per = service.config().avatar.presets_per_page.max(1);
    let listed = st
        .store
        .read(move |c| {
            let total = avatar::preset_count(c)?;
            let pages = total.div_ceil(per).max(1) as u32;
            let page = q.page.clamp(1, pages);
            let items = avatar::presets(c, (page as usize - 1) * per, per)?;
            Ok::<_, StoreError>((page, pages, items))
        })
        .await;
    let Ok((page_no, pages, items)) = listed else {
        return page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Avatars",
            "<p>Try again later.</p>",
        );
    };
    let (title, body) = gallery_page(page_no, pages, &items, q.lang);
    page(StatusCode::OK, title, &body)
}

/// The gallery page's title and body: page `page_no` of `pages`, holding `items`, in `lang`.
fn gallery_page(
    page_no: u32,
    pages: u32,
    items: &[(i64, avatar::PresetTitle)],
    lang: Lang,
) -> (&'static str, String) {
    let zh = lang == Lang::Zh;
    let mut body = if zh {
        format!("<p>头像库 第{page_no}/{pages}页</p>")
    } else {
        format!("<p>Avatars, page {page_no}/{pages}</p>")
    };
    for (id, title) in items {
        body.push_str(&format!(
            "<p><img src=\"/p/{id}?s=48&amp;f=gif\" width=\"48\" height=\"48\" alt=\"{t}\"/> \
             {id} {t}</p>",
            t = esc(title.in_lang(lang))
        ));
    }
    if items.is_empty() {
        body.push_str(if zh {
            "<p>头像库暂时为空。</p>"
        } else {
            "<p>The catalogue is empty.</p>"
        });
    }
    body.push_str(if zh {
        "<p>发送“头像 编号”选择头像。</p>"
    } else {
        "<p>Text AVATAR and the number to choose one.</p>"
    });
    let link = |n: u32, text: &str| {
        let lang = if zh { "&amp;lang=zh" } else { "" };
        format!("<a href=\"/gallery?page={n}{lang}\">{text}</a>")
    };
    // The links in a paragraph of their own: XHTML-MP's body holds only blocks (`Block.mix`),
    // so an `<a>` right in it makes the page invalid, which a strict handset browser refuses.
    let mut nav = Vec::new();
    if page_no > 1 {
        nav.push(link(page_no - 1, if zh { "上一页" } else { "Previous" }));
    }
    if page_no < pages {
        nav.push(link(page_no + 1, if zh { "下一页" } else { "Next" }));
    }
    if !nav.is_empty() {
        body.push_str(&format!("<p>{}</p>", nav.join(" ")));
    }
    (if zh { "头像库" } else { "Avatars" }, body)
}

/// The title of every upload page (the form, the answer to an upload, a dead link's page) in
/// `lang`, the language of the subscriber the link was issued to.
fn upload_title(lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => "上传头像",
        Lang::En => "Upload",
    }
}

/// An upload page in `lang` whose body is `text` (a sentence, escaped here).
fn upload_page(code: StatusCode, lang: Lang, text: &str) -> Response {
    page(code, upload_title(lang), &format!("<p>{}</p>", esc(text)))
}

/// The upload page for a store that cannot answer now, in `lang`.
fn upload_later(lang: Lang) -> Response {
    let text = match lang {
        Lang::Zh => "请稍后再试。",
        Lang::En => "Try again later.",
    };
    upload_page(StatusCode::SERVICE_UNAVAILABLE, lang, text)
}

/// The page for an upload link that cannot take a picture (or the empty page of one that can),
/// in `lang`, the language of the subscriber the link was issued to.
fn token_page(t: &UploadToken, lang: Lang) -> Response {
    let zh = lang == Lang::Zh;
    let (code, why) = match t {
        UploadToken::Valid(_) => return page(StatusCode::OK, upload_title(lang), ""),
        UploadToken::Unknown if zh => (StatusCode::NOT_FOUND, "上传链接无效"),
        UploadToken::Unknown => (StatusCode::NOT_FOUND, "This upload link is not known"),
        UploadToken::Expired if zh => (StatusCode::GONE, "上传链接已过期"),
        UploadToken::Expired => (StatusCode::GONE, "This upload link has expired"),
        UploadToken::Used if zh => (StatusCode::GONE, "上传链接已使用过"),
        UploadToken::Used => (StatusCode::GONE, "This upload link was already used"),
    };
    let body = if zh {
        format!("<p>{why}。请发送“头像 上传”获取新链接。</p>")
    } else {
        format!("<p>{why}. Text AVATAR UPLOAD for a new one.</p>")
    };
    page(code, upload_title(lang), &body)
}

/// The state of upload `token` and the language of its pages: that of the subscriber it was
/// issued to, else the service's default (`fallback`).
async fn upload_token(
    st: &HttpState,
    token: &str,
    fallback: Lang,
) -> Result<(UploadToken, Lang), StoreError> {
    let t = token.to_string();
    st.store
        .read(move |c| {
            let state = avatar::check_upload(c, &t, now_ms())?;
            let lang = avatar::upload_lang(c, &t)?.unwrap_or(fallback);
            Ok((state, lang))
        })
        .await
}

/// `GET /u/{token}`: the upload form, while the link is valid, in the language of the
/// subscriber the link was issued to.
pub(super) async fn upload_form(
    State(st): State<HttpState>,
    Path(token): Path<String>,
) -> Response {
    let fallback = st
        .service
        .as_ref()
        .map_or(Lang::En, |s| s.config().default_lang);
    match upload_token(&st, &token, fallback).await {
        Ok((UploadToken::Valid(_), lang)) => {
            let kb = st
                .service
                .as_ref()
                .map_or(100, |s| s.config().avatar.max_upload_bytes / 1024);
            let (title, prompt, button) = match lang {
                Lang::Zh => (
                    "上传头像",
                    format!("你的来电头像（{}，最大{kb}KB）：", upload_formats(lang)),
                    "上传",
                ),
                Lang::En => (
                    "Upload your picture",
                    format!(
                        "Your caller picture ({}, up to {kb} KB):",
                        upload_formats(lang)
                    ),
                    "Upload",
                ),
            };
            // A file input: XHTML-MP 1.2 (which every browser that uploads files renders).
            page_of(
                MP_1_2,
                StatusCode::OK,
                title,
                &format!(
                    "<form method=\"post\" enctype=\"multipart/form-data\" action=\"/u/{}\">\
                     <p>{prompt}</p>\
                     <p><input type=\"file\" name=\"avatar\"/></p>\
                     <p><input type=\"submit\" value=\"{button}\"/></p></form>",
                    esc(&token),
                ),
            )
        }
        Ok((other, lang)) => token_page(&other, lang),
        Err(_) => upload_later(fallback),
    }
}

/// Reads the uploaded picture: the one file part of a multipart form (whatever its field name;
/// `Err(SeveralFiles)` for two with bytes, `Err(Empty)` for none), or the raw body, whatever
/// content type it declares (the image pipeline reads the format from the bytes). A body that
/// declares more than `max` bytes is refused before any of it is read, and reading stops past
/// `max` bytes (`Err(TooLarge)`), so a refused upload never costs more than `max` of memory.
/// A body that breaks off (the client went away, a malformed multipart) is `Err(Corrupt)`.
pub(super) async fn read_upload(req: Request, max: usize) -> Result<Vec<u8>, Rejected> {
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let too_large = Rejected::TooLarge(max / 1024);
    // Multipart framing adds a few hundred bytes around the picture.
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64 + MULTIPART_OVERHEAD) {
        return Err(too_large);
    }
    let mut out = Vec::new();
    let mut take = |chunk: Bytes| {
        if out.len() + chunk.len() > max {
            return Err(too_large);
        }
        out.extend_from_slice(&chunk);
        Ok(())
    };
    // A read error that is the router's body limit is a size refusal; any other is a body
    // that broke off.
    let broken = |status: StatusCode| {
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            too_large
        } else {
            Rejected::Corrupt
        }
    };
    if ctype.starts_with("multipart/form-data") {
        let mut mp = Multipart::from_request(req, &())
            .await
            .map_err(|_| Rejected::Corrupt)?;
        // The picture is the one file part, whatever its field is called (a form's own
        // `avatar`, a client's `file` or `image`); a part named `avatar` without a file name
        // counts too. Other fields are skipped. A file part left empty (a second file input
        // nobody chose a file for) is no file; a second one with bytes is refused, unread.
        let mut any_file = false;
        let mut have_picture = false;
        loop {
            let mut field = match mp.next_field().await {
                Ok(Some(field)) => field,
                Ok(None) if any_file => return Ok(out),
                Ok(None) => return Err(Rejected::Empty),
                Err(e) => return Err(broken(e.status())),
            };
            if field.file_name().is_none() && field.name() != Some("avatar") {
                continue;
            }
            any_file = true;
            let mut got = false;
            loop {
                match field.chunk().await {
                    Ok(Some(chunk)) if chunk.is_empty() => {}
                    Ok(Some(_)) if have_picture => return Err(Rejected::SeveralFiles),
                    Ok(Some(chunk)) => {
                        got = true;
                        take(chunk)?;
                    }
                    Ok(None) => break,
                    Err(e) => return Err(broken(e.status())),
                }
            }
            have_picture |= got;
        }
    } else {
        // Any other body is the picture itself, whatever type it declares (`text/plain`, a
        // form's type, none): the pipeline reads the format from the bytes, so a JPEG is
        // taken and text is refused as what it is.
        let mut body = req.into_body().into_data_stream();
        while let Some(chunk) = body.next().await {
            take(chunk.map_err(|_| Rejected::Corrupt)?)?;
        }
        Ok(out)
    }
}

/// Room for a multipart body's boundaries and part headers around a picture of the
/// configured size, in the `Content-Length` check of [`read_upload`].
const MULTIPART_OVERHEAD: u64 = 16 * 1024;

/// `POST /u/{token}`: take the picture (the multipart form's file part, or the raw body), check
/// its size and header before decoding, render the variants, and make it the owner's avatar.
/// Every refusal is a page here and an SMS to the owner saying why.
pub(super) async fn upload_post(
    State(st): State<HttpState>,
    Path(token): Path<String>,
    req: Request,
) -> Response {
    let Some(service) = st.service.clone() else {
        return unavailable();
    };
    let cfg = service.config().avatar.clone();
    let fallback = service.config().default_lang;
    // A dead link costs no decoding.
    let lang = match upload_token(&st, &token, fallback).await {
        Ok((UploadToken::Valid(_), lang)) => lang,
        Ok((other, lang)) => return token_page(&other, lang),
        Err(_) => return upload_later(fallback),
    };
    let refuse = |why: Rejected| {
        let service = service.clone();
        let token = token.clone();
        async move {
            let _ = service.reject_upload(token.clone(), why).await;
            let code = match why {
                Rejected::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                Rejected::Format => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            // The link still takes a picture until it expires: the page leads back to its form
            // (a handset's browser may have no way back to it but the SMS).
            let again = match lang {
                Lang::Zh => "重新选择图片",
                Lang::En => "Choose another picture",
            };
            page(
                code,
                upload_title(lang),
                &format!(
                    "<p>{}</p><p><a href=\"/u/{}\">{again}</a></p>",
                    esc(&Text::UploadRejected(why).render(lang)),
                    esc(&token)
                ),
            )
        }
    };
    let bytes = match read_upload(req, cfg.max_upload_bytes).await {
        Ok(b) => b,
        Err(why) => return refuse(why).await,
    };
    let Ok(_slot) = st.image_slots.clone().acquire_owned().await else {
        return upload_later(lang);
    };
    let limits = cfg.upload_limits();
    let sizes = cfg.sizes.clone();
    let processed =
        tokio::task::spawn_blocking(move || crate::images::process(&bytes, &limits, &sizes)).await;
    let processed = match processed {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return refuse(avatar::rejection(&e, cfg.max_upload_bytes)).await,
        Err(_) => return refuse(Rejected::Corrupt).await,
    };
    match service.complete_upload(token, processed).await {
        // What the owner was told by SMS.
        Ok(Ok(told)) => upload_page(StatusCode::OK, lang, &told.render(lang)),
        Ok(Err(state)) => token_page(&state, lang),
        Err(_) => upload_later(lang),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_is_read_against_the_length() {
        use RangeAsk::*;
        for (value, want) in [
            ("bytes=0-9", Part(0, 9)),
            ("bytes=5-5", Part(5, 5)),
            ("bytes=90-200", Part(90, 99)),
            ("bytes=90-", Part(90, 99)),
            ("bytes=0-", Part(0, 99)),
            ("bytes=-10", Part(90, 99)),
            ("bytes=-500", Part(0, 99)),
            ("bytes=100-", Unsatisfiable),
            ("bytes=100-200", Unsatisfiable),
            ("bytes=99999999999999999999999-", Unsatisfiable),
            ("bytes=-0", Unsatisfiable),
            // Several ranges: the one satisfiable, else the whole body (no multipart), else
            // 416 when none is.
            ("bytes=0-9, 200-300", Part(0, 9)),
            ("bytes=200-300,-5", Part(95, 99)),
            ("bytes=200-300, 100-", Unsatisfiable),
            ("bytes=0-1,5-6", Whole),
            ("bytes=0-50, 10-60, 20-70", Whole),
            // Not a valid range set (RFC 9110 14.1.1: no spaces around `=`, digits only, the
            // first position not after the last): ignored.
            ("BYTES = 1-2", Whole),
            ("bytes=0-9,abc", Whole),
            ("bytes=+1-2", Whole),
            ("bytes=9-1", Whole),
            ("bytes=a-b", Whole),
            ("bytes=-", Whole),
            ("bytes=1", Whole),
            ("items=0-9", Whole),
            ("", Whole),
        ] {
            assert_eq!(range_ask(value, 100), want, "{value}");
        }
        assert_eq!(range_ask("bytes=1-2", 100), Part(1, 2));
        assert_eq!(range_ask("bytes=0-", 0), Unsatisfiable);
        assert_eq!(range_ask("bytes=-0", 0), Unsatisfiable);
        // The only range an empty body satisfies (RFC 9110 14.1.2) selects no byte: all of it.
        assert_eq!(range_ask("bytes=-5", 0), Whole);
    }

    /// A `multipart/form-data` request of `parts`: (field name, file name, bytes).
    fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> Request {
        let boundary = "b0undary-7Xq";
        let mut body = Vec::new();
        for (name, file, bytes) in parts {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            let file = file
                .map(|f| format!("; filename=\"{f}\""))
                .unwrap_or_default();
            body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"{file}\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        Request::builder()
            .method("POST")
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(axum::body::Body::from(body))
            .unwrap()
    }

    /// The picture is the form's one file part whatever its field is called (it had to be
    /// `avatar`: a client's `file` was refused as the wrong format); text fields beside it
    /// and an empty file input do not count; two files are refused as such, and a form
    /// without a file as one without a picture.
    #[tokio::test]
    async fn the_one_file_part_is_the_picture_whatever_its_name() {
        let pic: &[u8] = b"\xFF\xD8picture";
        let other: &[u8] = b"GIF89a other";
        for (parts, want) in [
            (vec![("avatar", Some("me.jpg"), pic)], Ok(pic.to_vec())),
            (vec![("file", Some("me.jpg"), pic)], Ok(pic.to_vec())),
            (
                vec![
                    ("note", None, &b"hello"[..]),
                    ("image", Some("me.jpg"), pic),
                    ("submit", None, &b"Send"[..]),
                ],
                Ok(pic.to_vec()),
            ),
            (vec![("avatar", None, pic)], Ok(pic.to_vec())),
            (
                vec![("a", Some(""), &b""[..]), ("b", Some("me.jpg"), pic)],
                Ok(pic.to_vec()),
            ),
            (
                vec![("a", Some("me.jpg"), pic), ("b", Some(""), &b""[..])],
                Ok(pic.to_vec()),
            ),
            (vec![("file", Some(""), &b""[..])], Ok(vec![])),
            (
                vec![("a", Some("1.jpg"), pic), ("b", Some("2.gif"), other)],
                Err(Rejected::SeveralFiles),
            ),
            (
                vec![
                    ("avatar", Some("1.jpg"), pic),
                    ("avatar", Some("2.gif"), other),
                ],
                Err(Rejected::SeveralFiles),
            ),
            (vec![("note", None, &b"hello"[..])], Err(Rejected::Empty)),
        ] {
            let names: Vec<&str> = parts.iter().map(|p| p.0).collect();
            assert_eq!(
                read_upload(multipart(&parts), 1024).await,
                want,
                "{names:?}"
            );
        }
    }

    #[test]
    fn accept_picks_the_listed_format_with_the_highest_quality() {
        let cases = [
            ("*/*", OutputFormat::Jpeg),
            ("image/*", OutputFormat::Jpeg),
            ("", OutputFormat::Jpeg),
            ("text/html", OutputFormat::Jpeg),
            ("image/png", OutputFormat::Png),
            (
                "image/gif, image/vnd.wap.wbmp, */*;q=0.1",
                OutputFormat::Gif,
            ),
            ("image/png, image/jpeg;q=0", OutputFormat::Png),
            (
                "image/jpeg;q=0.5, image/png;q=0.8, image/gif",
                OutputFormat::Gif,
            ),
            ("image/*;q=0.2, image/png;q=0.9", OutputFormat::Png),
            ("IMAGE/GIF", OutputFormat::Gif),
            (
                "image/jpeg;q=0, image/png;q=0, image/gif;q=0",
                OutputFormat::Jpeg,
            ),
            ("image/jpeg; q=bogus, image/gif;q=0.5", OutputFormat::Jpeg),
            ("*/*;q=0.5, image/gif;q=0.4", OutputFormat::Jpeg),
            // WBMP: preferred, or named without JPEG, PNG or GIF (a WAP 1.x browser).
            ("image/vnd.wap.wbmp", OutputFormat::Wbmp),
            ("IMAGE/VND.WAP.WBMP", OutputFormat::Wbmp),
            (
                "text/vnd.wap.wml, image/vnd.wap.wbmp, */*",
                OutputFormat::Wbmp,
            ),
            ("image/vnd.wap.wbmp, image/*;q=0.5", OutputFormat::Wbmp),
            ("image/png;q=0.5, image/vnd.wap.wbmp", OutputFormat::Wbmp),
            ("image/vnd.wap.wbmp, image/png", OutputFormat::Png),
            ("image/vnd.wap.wbmp;q=0.5, image/*", OutputFormat::Jpeg),
            ("image/vnd.wap.wbmp;q=0, */*", OutputFormat::Jpeg),
        ];
        for (accept, want) in cases {
            assert_eq!(negotiate(accept), want, "Accept: {accept}");
        }
    }

    #[test]
    fn a_gallery_query_that_is_no_number_opens_the_first_page() {
        let q = |raw: Option<&str>| GalleryQuery::parse(raw);
        let page = |page, lang| GalleryQuery { page, lang };
        assert_eq!(q(None), page(1, Lang::En));
        assert_eq!(q(Some("page=2")), page(2, Lang::En));
        assert_eq!(q(Some("page=2&lang=zh")), page(2, Lang::Zh));
        assert_eq!(q(Some("lang=ZH&page=3")), page(3, Lang::Zh));
        for bad in [
            "page=abc",
            "page=",
            "page=0",
            "page=-1",
            "page=99999999999",
            "page",
        ] {
            assert_eq!(q(Some(bad)), page(1, Lang::En), "{bad}");
        }
        assert_eq!(q(Some("page=2&lang=fr&x=%%")), page(2, Lang::En));
        assert_eq!(q(Some("page=%32&lang=%7A%68")), page(2, Lang::Zh));
    }

    #[test]
    fn a_chinese_gallery_page_has_chinese_titles_and_keeps_its_language_in_links() {
        let items = vec![
            (6, avatar::PresetTitle::new("Sunset", Some("日落".into()))),
            (7, avatar::PresetTitle::from("Mountains")),
        ];
        let (title, zh) = gallery_page(2, 3, &items, Lang::Zh);
        assert_eq!(title, "头像库");
        assert!(zh.contains("第2/3页") && zh.contains("6 日落"), "{zh}");
        assert!(
            zh.contains("7 Mountains"),
            "no Chinese title: the English one: {zh}"
        );
        assert!(zh.contains("头像 编号"), "{zh}");
        assert!(
            zh.contains("href=\"/gallery?page=1&amp;lang=zh\"")
                && zh.contains("href=\"/gallery?page=3&amp;lang=zh\""),
            "{zh}"
        );
        let (title, en) = gallery_page(2, 3, &items, Lang::En);
        assert_eq!(title, "Avatars");
        assert!(en.contains("page 2/3") && en.contains("6 Sunset") && !en.contains("日落"));
        assert!(en.contains("href=\"/gallery?page=3\">Next"), "{en}");
    }

    /// Every element right in a gallery page's body is a block (XHTML-MP's `Block.mix`): the
    /// links to the next and previous pages were bare `<a>`s in the body, which the DTD does
    /// not allow (a strict handset browser refuses such a page).
    #[test]
    fn a_gallery_pages_body_holds_only_blocks() {
        let items = vec![(6, avatar::PresetTitle::from("Sunset"))];
        for (page_no, pages) in [(1, 1), (1, 3), (2, 3), (3, 3)] {
            for lang in [Lang::En, Lang::Zh] {
                let (_, body) = gallery_page(page_no, pages, &items, lang);
                // The top-level elements: a depth walk over the tags.
                let mut depth = 0usize;
                let mut top = Vec::new();
                for tag in body.split('<').skip(1) {
                    let name: String = tag
                        .trim_start_matches('/')
                        .chars()
                        .take_while(char::is_ascii_alphanumeric)
                        .collect();
                    if tag.starts_with('/') {
                        depth -= 1;
                    } else if !tag.split('>').next().is_some_and(|t| t.ends_with('/')) {
                        if depth == 0 {
                            top.push(name);
                        }
                        depth += 1;
                    } else if depth == 0 {
                        top.push(name);
                    }
                }
                assert_eq!(depth, 0, "{body}");
                assert!(
                    top.iter().all(|t| t == "p"),
                    "{page_no}/{pages} {lang:?}: {top:?} in {body}"
                );
                let text_outside = body
                    .split("</p>")
                    .filter_map(|rest| rest.split("<p>").next())
                    .any(|between| !between.trim().is_empty());
                assert!(!text_outside, "text outside a block: {body}");
            }
        }
    }

    #[test]
    fn an_image_query_that_cannot_be_read_is_the_default() {
        let q = |raw: Option<&str>| ImageQuery::parse(raw);
        let want = |s: Option<u32>, f: Option<&str>| ImageQuery {
            s,
            f: f.map(str::to_string),
        };
        assert_eq!(q(None), want(None, None));
        assert_eq!(q(Some("s=48&f=gif")), want(Some(48), Some("gif")));
        for bad in ["s=abc", "s=", "s=-1", "s=99999999999", "s", "s=4 8", "x=%%"] {
            assert_eq!(q(Some(bad)), want(None, None), "{bad}");
        }
        assert_eq!(q(Some("s=abc&f=png")), want(None, Some("png")));
        // Percent-encoded (and `+` for a space) reads as the plain value.
        assert_eq!(q(Some("s=%34%38&f=%67if")), want(Some(48), Some("gif")));
        assert_eq!(q(Some("%73=+96+")), want(Some(96), None));
        assert_eq!(q(Some("s=%ZZ")), want(None, None));
    }

    #[test]
    fn the_query_names_a_format_in_any_case() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, "image/gif".parse().unwrap());
        let q = |f: &str| ImageQuery {
            s: None,
            f: Some(f.to_string()),
        };
        assert_eq!(format_for(&q("PNG"), &headers), "png");
        assert_eq!(format_for(&q("Jpg"), &headers), "jpeg");
        assert_eq!(format_for(&q("tiff"), &headers), "gif");
    }
}
