//! Suite `latency` (issue #5 "Bench", issue #9): STATUS command to first fan-out submit_sm,
//! at a fixed offered load.
//!
//! Set-up as in [`crate::mo`] (owners with a FAMILY each, not timed). Then `rate` STATUS
//! commands per second for `seconds` seconds, paced on the simulator's runtime (each command
//! injected at `t0 + n / rate`), round-robin over the owners; command `n` sets the text
//! `lat<nnnnnn>`. For each command, latency = `received_at_ms` of the first submit_sm the
//! simulator accepted carrying that token to a FAMILY member − the wall-clock ms just before
//! its injection (the simulator queues the deliver_sm at once). Millisecond resolution on
//! both ends. A command whose update never arrives (coalesced or lost) is counted as missing.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use presence_gw::service::ServiceConfig;
use serde::{Deserialize, Serialize};
use smsc_sim::MoRequest;

use crate::mo::setup_script;
use crate::procstat;
use crate::world::{self, is_owner, percentile, World, WorldSpec, SERVICE_NUMBER};

/// Token prefix planted in the status texts.
const TOKEN: &str = "lat";
/// Digits of the token.
const DIGITS: usize = 6;

/// What to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LatencyParams {
    /// Owners.
    pub subscribers: usize,
    /// FAMILY members per owner.
    pub family: usize,
    /// STATUS commands per second offered.
    pub rate: u32,
    /// Seconds of load.
    pub seconds: u32,
    /// smsc-sim deliver_sm window.
    pub deliver_window: usize,
}

/// What one run measured (latencies in ms).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LatencyResult {
    /// The parameters.
    pub params: LatencyParams,
    /// Commands injected.
    pub commands: usize,
    /// Commands per second actually injected (first to last injection).
    pub offered_rate: f64,
    /// Commands whose first update reached the simulator.
    pub matched: usize,
    /// Commands whose update never arrived within the timeout.
    pub missing: usize,
    /// Median latency.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// Smallest.
    pub min_ms: f64,
    /// Gateway CPU (process minus simulator threads) per command, µs.
    pub gw_cpu_us_per_command: f64,
    /// Gateway CPU share of one core over the load, %.
    pub gw_cpu_percent: f64,
    /// The gateway's own view (`/metrics` histograms, over its whole run): deliver_sm read to
    /// resp queued, p99 and largest, ms (bucket resolution for the p99).
    pub ack_p99_ms: f64,
    /// Largest deliver_sm hold, ms.
    pub ack_max_ms: f64,
    /// Store write transactions, p99 and largest, ms.
    pub txn_p99_ms: f64,
    /// Largest write transaction, ms.
    pub txn_max_ms: f64,
    /// The machine over the load: CPU time in iowait and stolen by the hypervisor, % of all
    /// CPUs (what makes a run on a shared VM slow without the gateway changing).
    pub host_iowait_percent: f64,
    /// See `host_iowait_percent`.
    pub host_steal_percent: f64,
}

/// Run once over `db`.
pub async fn run(db: std::path::PathBuf, p: &LatencyParams) -> anyhow::Result<LatencyResult> {
    let service = ServiceConfig::default();
    {
        let db = db.clone();
        let script = setup_script(p.subscribers, p.family);
        let svc = service.clone();
        tokio::task::spawn_blocking(move || world::prepare(&db, &svc, script)).await??;
    }
    let mut spec = WorldSpec::new(db);
    spec.deliver_window = p.deliver_window;
    spec.service = service;
    let w = World::start(&spec).await?;
    let total = (p.rate as usize) * (p.seconds as usize);
    let subs = p.subscribers.max(1);
    let rate = f64::from(p.rate.max(1));
    let sim = w.sim.clone();
    let cpu0 = World::process_cpu();
    let sim0 = World::sim_cpu_s();
    let host0 = procstat::host_ticks().unwrap_or_default();
    let t_load = Instant::now();
    let injector = w.sim_runtime().spawn(async move {
        let start = tokio::time::Instant::now();
        let mut sent = Vec::with_capacity(total);
        for n in 0..total {
            tokio::time::sleep_until(start + Duration::from_secs_f64(n as f64 / rate)).await;
            let text = format!("STATUS FAMILY \"{TOKEN}{n:06}\"");
            let at = world::wall_ms();
            sim.inject_mo(MoRequest::new(
                &world::owner(n % subs),
                SERVICE_NUMBER,
                &text,
            ))
            .await
            .map_err(|e| e.to_string())?;
            sent.push(at);
        }
        Ok::<_, String>((sent, start.elapsed().as_secs_f64()))
    });
    let (sent, inject_s) = injector.await?.map_err(anyhow::Error::msg)?;
    let load_s = t_load.elapsed().as_secs_f64();
    // Collect the first update per token (the load is over; allow the tail to drain).
    let mut first: HashMap<u64, u64> = HashMap::new();
    let mut last_id = 0u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for r in w.mt_since(last_id) {
            last_id = r.id;
            if is_owner(&r.dest) {
                continue;
            }
            if let Some(t) = world::token(&r.text, TOKEN, DIGITS) {
                first
                    .entry(t)
                    .and_modify(|v| *v = (*v).min(r.received_at_ms))
                    .or_insert(r.received_at_ms);
            }
        }
        if first.len() >= total || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu = World::process_cpu().since(&cpu0).total_s();
    let gw_cpu = cpu - (World::sim_cpu_s() - sim0);
    let (host_iowait_percent, host_steal_percent) = procstat::host_ticks()
        .unwrap_or_default()
        .iowait_steal_percent(&host0);
    let gw = w.gw();
    let ack = gw.link.stats().inbound_ack.snapshot();
    let txn = gw.store.stats().transaction;
    w.shutdown().await;
    let mut lat: Vec<f64> = sent
        .iter()
        .enumerate()
        .filter_map(|(n, at)| {
            first
                .get(&(n as u64))
                .map(|got| got.saturating_sub(*at) as f64)
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    Ok(LatencyResult {
        params: p.clone(),
        commands: total,
        offered_rate: total as f64 / inject_s.max(1e-9),
        matched: lat.len(),
        missing: total - lat.len(),
        p50_ms: percentile(&lat, 0.5),
        p90_ms: percentile(&lat, 0.9),
        p99_ms: percentile(&lat, 0.99),
        max_ms: lat.last().copied().unwrap_or(f64::NAN),
        min_ms: lat.first().copied().unwrap_or(f64::NAN),
        gw_cpu_us_per_command: gw_cpu * 1e6 / total.max(1) as f64,
        gw_cpu_percent: gw_cpu * 100.0 / load_s.max(1e-9),
        ack_p99_ms: ms(ack.quantile_us(0.99)),
        ack_max_ms: ack.max_us as f64 / 1e3,
        txn_p99_ms: ms(txn.quantile_us(0.99)),
        txn_max_ms: txn.max_us as f64 / 1e3,
        host_iowait_percent,
        host_steal_percent,
    })
}

fn ms(us: Option<u64>) -> f64 {
    us.map_or(f64::NAN, |v| v as f64 / 1e3)
}

/// Markdown table.
pub fn render(rows: &[LatencyResult]) -> String {
    let mut s = String::from(
        "| offered STATUS/s | s | deliver window | senders × family | matched / sent | p50 ms | p90 ms | **p99 ms** | max ms | gw CPU % (of one core) | gw CPU µs/command | deliver_sm held p99 / max ms | store txn p99 / max ms | host iowait / steal % |\n|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {:.0} | {} | {} | {} × {} | {} / {} | {:.0} | {:.0} | **{:.0}** | {:.0} | {:.0} | {:.0} | {:.1} / {:.0} | {:.1} / {:.0} | {:.1} / {:.1} |\n",
            r.offered_rate,
            r.params.seconds,
            r.params.deliver_window,
            r.params.subscribers,
            r.params.family,
            r.matched,
            r.commands,
            r.p50_ms,
            r.p90_ms,
            r.p99_ms,
            r.max_ms,
            r.gw_cpu_percent,
            r.gw_cpu_us_per_command,
            r.ack_p99_ms,
            r.ack_max_ms,
            r.txn_p99_ms,
            r.txn_max_ms,
            r.host_iowait_percent,
            r.host_steal_percent
        ));
    }
    s
}
