//! Suite `http` (issue #6 "Bench", issue #9): avatar requests per second over HTTP, and the
//! upload pipeline's time per image.
//!
//! HTTP: the gateway (status service on, smsc-sim bound) serves its router
//! ([`presence_gw::http::serve`] over [`presence_gw::app::Gateway::http_router`]) on
//! 127.0.0.1. One owner with a preset-quality avatar (`fixtures/presets/01-cat.png` through the
//! real pipeline and `service::avatar::store_avatar`) and one viewer in its FAMILY; the
//! viewer's per-viewer link `/a/<token>` is the URL. `connections` clients, each a
//! `reqwest::Client` with its own keep-alive connection, loop for `seconds`: the 200 path
//! (plain GET, the 96-pixel JPEG by default) and the 304 path (`If-None-Match` with the ETag
//! the 200 path returned). The clients run on their own runtime (threads `load`) in this
//! process, so the server's CPU is the process's minus `load` and `sim` threads.
//!
//! Pipeline: [`presence_gw::images::process`] at sizes 48/96/128/176 (every size as JPEG, PNG
//! and GIF) on each file of `fixtures/images/good`, one preset, and a generated ~100 KB JPEG
//! (the upload limit), median of `iterations` runs each, on one thread.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use presence_gw::images;
use presence_gw::service::avatar::{self as av, AvatarConfig};
use presence_gw::service::ServiceConfig;
use presence_gw::store::{now_ms, StoreError};
use serde::{Deserialize, Serialize};

use crate::stats::Summary;
use crate::world::{self, percentile, World, WorldSpec};

/// Sizes rendered by the pipeline (the gateway's defaults).
pub const SIZES: [u32; 4] = [48, 96, 128, 176];

/// One HTTP load run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpRun {
    /// `200` or `304`.
    pub path: String,
    /// Concurrent keep-alive clients.
    pub connections: usize,
    /// Seconds of load.
    pub seconds: f64,
    /// Requests answered with the expected status.
    pub ok: u64,
    /// Requests answered otherwise or failed.
    pub errors: u64,
    /// ok / seconds.
    pub requests_per_s: f64,
    /// Median request latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Server CPU (process minus `load` and `sim` threads) per request, µs.
    pub server_cpu_us_per_request: f64,
    /// Load generator CPU per request, µs.
    pub client_cpu_us_per_request: f64,
    /// Bytes in one 200 body.
    pub body_bytes: usize,
}

/// Pipeline time of one input.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PipelineRow {
    /// File name.
    pub file: String,
    /// Input bytes.
    pub bytes: usize,
    /// Source width × height.
    pub dims: String,
    /// Variants produced.
    pub variants: usize,
    /// ms per run.
    pub ms: Summary,
}

/// A JPEG of about (at most) `max_bytes`: a deterministic textured picture, the highest quality
/// that fits.
pub fn jpeg_near(max_bytes: usize) -> Vec<u8> {
    let (w, h) = (640u32, 480u32);
    let mut seed = 0x2545_f491_u32;
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let n = (seed & 0x3f) as u8;
        image::Rgb([
            ((x * 255 / w) as u8).wrapping_add(n),
            ((y * 255 / h) as u8).wrapping_add(n / 2),
            (((x + y) * 127 / (w + h)) as u8).wrapping_add(n),
        ])
    });
    let mut best = Vec::new();
    for q in (20..=95).rev().step_by(5) {
        let mut out = Vec::new();
        let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, q);
        if img.write_with_encoder(enc).is_err() {
            continue;
        }
        if out.len() <= max_bytes {
            best = out;
            break;
        }
    }
    best
}

/// Time the pipeline on every input, `iterations` runs each.
pub fn pipeline(inputs: &[(String, Vec<u8>)], iterations: usize) -> Vec<PipelineRow> {
    let limits = AvatarConfig::default().upload_limits();
    inputs
        .iter()
        .filter_map(|(name, bytes)| {
            let mut ms = Vec::new();
            let mut last = None;
            for _ in 0..iterations.max(1) {
                let t = Instant::now();
                let r = images::process(bytes, &limits, &SIZES);
                ms.push(t.elapsed().as_secs_f64() * 1e3);
                last = Some(r);
            }
            let p = match last? {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("[gw-bench] http: {name} refused by the pipeline: {e}");
                    return None;
                }
            };
            Some(PipelineRow {
                file: name.clone(),
                bytes: bytes.len(),
                dims: format!("{}×{}", p.width, p.height),
                variants: p.variants.len(),
                ms: Summary::of(&ms)?,
            })
        })
        .collect()
}

/// The inputs: `good_dir`'s files, `preset`, and a generated JPEG near 100 KB.
pub fn inputs(good_dir: &Path, preset: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(good_dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.push(preset.to_path_buf());
    files.sort();
    let mut out: Vec<(String, Vec<u8>)> = files
        .iter()
        .filter_map(|p| {
            let name = p.file_name()?.to_string_lossy().to_string();
            Some((name, std::fs::read(p).ok()?))
        })
        .collect();
    out.push((
        "generated-640x480.jpg (≈100 KB)".into(),
        jpeg_near(100 * 1024),
    ));
    out
}

/// Set up the owner, the viewer and the avatar; returns the viewer's link path.
async fn setup(w: &World, picture: Vec<u8>) -> anyhow::Result<String> {
    let processed = tokio::task::spawn_blocking(move || {
        images::process(
            &picture,
            &AvatarConfig::default().upload_limits(),
            &AvatarConfig::default().sizes,
        )
    })
    .await??;
    let owner = world::owner(0);
    let viewer = world::member(0, 0, 1);
    let token = w
        .gw()
        .store
        .write(move |tx| {
            let now = now_ms();
            let id = av::store_avatar(
                tx,
                &processed.source_sha256,
                &av::variants_of(&processed),
                now,
            )?;
            av::set_avatar(tx, &owner, id, None, now)?;
            av::link_token(tx, &owner, &viewer, now)
        })
        .await
        .map_err(|e: StoreError| e)?;
    Ok(format!("/a/{token}"))
}

fn thread_cpu_s(group: &str) -> f64 {
    crate::procstat::self_threads_cpu_ns()
        .get(group)
        .copied()
        .unwrap_or(0) as f64
        / 1e9
}

/// Load `url` with `connections` clients for `seconds`; `etag` set = the 304 path.
fn load(
    load_rt: &tokio::runtime::Runtime,
    url: &str,
    etag: Option<String>,
    connections: usize,
    seconds: f64,
) -> anyhow::Result<HttpRun> {
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let want = if etag.is_some() { 304u16 } else { 200 };
    let cpu0 = World::process_cpu();
    let (load0, sim0) = (thread_cpu_s("load"), World::sim_cpu_s());
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (stop, ok, errors) = (stop.clone(), ok.clone(), errors.clone());
        let (url, etag) = (url.to_string(), etag.clone());
        tasks.push(load_rt.spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .map_err(|e| e.to_string())?;
            let mut lat = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let mut req = client.get(&url);
                if let Some(e) = &etag {
                    req = req.header("If-None-Match", e);
                }
                match req.send().await {
                    Ok(r) if r.status().as_u16() == want => {
                        let _ = r.bytes().await;
                        ok.fetch_add(1, Ordering::Relaxed);
                        lat.push(t.elapsed().as_secs_f64() * 1e3);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Ok::<_, String>(lat)
        }));
    }
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(load_rt.block_on(t)?.map_err(anyhow::Error::msg)?);
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = World::process_cpu().since(&cpu0).total_s();
    let client = thread_cpu_s("load") - load0;
    let sim = World::sim_cpu_s() - sim0;
    lat.sort_by(f64::total_cmp);
    let n = ok.load(Ordering::Relaxed);
    Ok(HttpRun {
        path: want.to_string(),
        connections,
        seconds: secs,
        ok: n,
        errors: errors.load(Ordering::Relaxed),
        requests_per_s: n as f64 / secs,
        p50_ms: percentile(&lat, 0.5),
        p99_ms: percentile(&lat, 0.99),
        server_cpu_us_per_request: (cpu - client - sim) * 1e6 / n.max(1) as f64,
        client_cpu_us_per_request: client * 1e6 / n.max(1) as f64,
        body_bytes: 0,
    })
}

/// Run the HTTP part: returns (200 run, 304 run).
pub fn run_http(
    rt: &tokio::runtime::Runtime,
    db: PathBuf,
    picture: Vec<u8>,
    connections: usize,
    seconds: f64,
    query: &str,
) -> anyhow::Result<Vec<HttpRun>> {
    let load_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("load")
        .enable_all()
        .build()?;
    let service = ServiceConfig::default();
    world::prepare(
        &db,
        &service,
        vec![(
            world::owner(0),
            format!(
                "GROUP FAMILY ADD {}",
                world::national(&world::member(0, 0, 1))
            ),
        )],
    )?;
    let mut spec = WorldSpec::new(db);
    spec.service = service;
    let (w, base, stop, server) = rt.block_on(async {
        let w = World::start(&spec).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let stop = tokio_util::sync::CancellationToken::new();
        let server = tokio::spawn(presence_gw::http::serve(
            listener,
            w.gw().http_router(None),
            stop.clone(),
        ));
        Ok::<_, anyhow::Error>((w, base, stop, server))
    })?;
    let path = rt.block_on(setup(&w, picture))?;
    let url = format!("{base}{path}{query}");
    // One request first: the ETag and the body size.
    let (etag, body) = load_rt.block_on(async {
        let r = reqwest::get(&url).await?;
        anyhow::ensure!(r.status() == 200, "GET {url}: {}", r.status());
        let etag = r
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("no ETag on {url}"))?;
        Ok::<_, anyhow::Error>((etag, r.bytes().await?.len()))
    })?;
    let mut runs = Vec::new();
    let mut r200 = load(&load_rt, &url, None, connections, seconds)?;
    r200.body_bytes = body;
    runs.push(r200);
    runs.push(load(&load_rt, &url, Some(etag), connections, seconds)?);
    stop.cancel();
    rt.block_on(async {
        let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        w.shutdown().await;
    });
    load_rt.shutdown_timeout(Duration::from_secs(2));
    Ok(runs)
}

/// Markdown tables.
pub fn render(runs: &[HttpRun], pipe: &[PipelineRow]) -> String {
    let mut s = String::from(
        "| path | connections | s | **requests/s** | p50 ms | p99 ms | errors | server CPU µs/request | client CPU µs/request | body bytes |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in runs {
        s.push_str(&format!(
            "| {} | {} | {:.1} | **{:.0}** | {:.2} | {:.2} | {} | {:.0} | {:.0} | {} |\n",
            r.path,
            r.connections,
            r.seconds,
            r.requests_per_s,
            r.p50_ms,
            r.p99_ms,
            r.errors,
            r.server_cpu_us_per_request,
            r.client_cpu_us_per_request,
            if r.path == "200" {
                r.body_bytes.to_string()
            } else {
                "0".into()
            }
        ));
    }
    s.push_str("\nUpload pipeline (`images::process`, sizes 48/96/128/176 × JPEG/PNG/GIF):\n\n| input | bytes | source | variants | **median ms** | min - max |\n|---|---:|---|---:|---:|---:|\n");
    for p in pipe {
        s.push_str(&format!(
            "| {} | {} | {} | {} | **{:.1}** | {:.1} - {:.1} |\n",
            p.file, p.bytes, p.dims, p.variants, p.ms.median, p.ms.min, p.ms.max
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_jpeg_fits_the_upload_limit_and_decodes() {
        let j = jpeg_near(100 * 1024);
        assert!(j.len() <= 100 * 1024 && j.len() > 50 * 1024, "{}", j.len());
        let p = images::process(&j, &AvatarConfig::default().upload_limits(), &SIZES).unwrap();
        assert_eq!((p.width, p.height), (640, 480));
        assert_eq!(p.variants.len(), 12);
    }
}
