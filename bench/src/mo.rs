//! Suite `mo` (issue #5 "Bench", issue #9): MO commands processed per second end to end.
//!
//! Set-up (not timed): `subscribers` owners, each with a FAMILY of `family` members, written
//! through [`presence_gw::service::Service::handle_mo`] into a fresh SQLite file before the
//! gateway opens it (the set-up's replies are deleted, so the outbox starts empty).
//!
//! Timed: `commands` MO texts (7 in 10 `STATUS FAMILY "<text>"`, 2 `WHO <other owner>`, 1
//! `GROUP FAMILY <page>`), every text distinct per sender (the inbox drops an identical text from
//! the same sender within 2 minutes as an SMSC resend), injected into smsc-sim as fast as it
//! takes them, round-robin over the senders. The simulator sends them as deliver_sm with at
//! most `deliver_window` in flight (SMPP 3.4 §4.6.1); the gateway stores each in its inbox,
//! answers deliver_sm_resp, applies it (state + reply + fan-out rows in one transaction) and
//! marks it processed.
//!
//! Clocks (all from the first injection): `t_processed` = every inbox message `processed`
//! (`SELECT count(*) FROM inbox_message WHERE state = 'processed'`, polled every 5 ms);
//! `t_replies` = every reply (one per command) accepted by the simulator; `t_drained` = no
//! outbox row left `queued` or `in_flight` (every reply and fan-out update submitted).

use std::time::{Duration, Instant};

use presence_gw::service::ServiceConfig;
use serde::{Deserialize, Serialize};
use smsc_sim::MoRequest;

use crate::procstat;
use crate::world::{self, is_owner, World, WorldSpec, SERVICE_NUMBER};

/// What to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MoParams {
    /// Owners sending commands.
    pub subscribers: usize,
    /// Members in each owner's FAMILY.
    pub family: usize,
    /// Commands in total (round-robin over the owners).
    pub commands: usize,
    /// smsc-sim deliver_sm window.
    pub deliver_window: usize,
    /// Gateway SMPP window (MT).
    pub link_window: usize,
    /// Give up after this many seconds.
    pub timeout_s: u64,
}

/// What one run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MoResult {
    /// The parameters.
    pub params: MoParams,
    /// Whether every clock stopped in time.
    pub ok: bool,
    /// Problem, if any.
    pub error: Option<String>,
    /// Seconds the set-up took (not timed).
    pub setup_s: f64,
    /// Seconds to inject all commands into the simulator's queue.
    pub t_injected_s: f64,
    /// Seconds until every command was processed.
    pub t_processed_s: f64,
    /// commands / t_processed.
    pub commands_per_s: f64,
    /// Seconds until every reply reached the simulator.
    pub t_replies_s: f64,
    /// commands / t_replies.
    pub replies_per_s: f64,
    /// Seconds until the outbox had nothing queued or in flight.
    pub t_drained_s: f64,
    /// STATUS commands sent.
    pub status_commands: usize,
    /// Fan-out updates accepted by the simulator (after coalescing).
    pub fanout_mt: u64,
    /// Replies accepted by the simulator.
    pub replies_mt: u64,
    /// Process CPU minus the simulator's threads over `t_drained` (seconds).
    pub gw_cpu_s: f64,
    /// Gateway CPU microseconds per command (everything it caused included).
    pub gw_cpu_us_per_command: f64,
    /// Simulator threads' CPU (seconds).
    pub sim_cpu_s: f64,
    /// Peak RSS of the whole process (gateway + simulator), kB.
    pub peak_rss_kb: u64,
    /// Store write transactions during the timed part.
    pub store_commits: u64,
    /// Store write requests during the timed part.
    pub store_requests: u64,
    /// The first replies seen, as a sanity check of what the commands did.
    pub sample_replies: Vec<String>,
}

/// The set-up script: owner `i` adds `family` members to FAMILY.
pub fn setup_script(subscribers: usize, family: usize) -> Vec<(String, String)> {
    (0..subscribers)
        .map(|i| {
            let members: Vec<String> = (0..family)
                .map(|j| world::national(&world::member(i, j, family)).to_string())
                .collect();
            (
                world::owner(i),
                format!("GROUP FAMILY ADD {}", members.join(" ")),
            )
        })
        .collect()
}

/// Command `k` of owner `i` (texts distinct per sender for every `k`).
pub fn command(i: usize, k: usize, subscribers: usize) -> String {
    if k % 5 == 1 {
        let other = (i + k) % subscribers.max(1);
        format!("WHO {}", world::national(&world::owner(other)))
    } else if k % 10 == 3 {
        format!("GROUP FAMILY {}", k / 10 + 1)
    } else {
        format!("STATUS FAMILY \"at desk {i} k{k}\"")
    }
}

/// Whether [`command`] `k` is a STATUS.
pub fn is_status(k: usize) -> bool {
    k % 5 != 1 && k % 10 != 3
}

/// The timed commands, round-robin over the owners: (owner, text).
pub fn commands(subscribers: usize, total: usize) -> Vec<(String, String)> {
    let subs = subscribers.max(1);
    (0..total)
        .map(|n| {
            let (k, i) = (n / subs, n % subs);
            (world::owner(i), command(i, k, subs))
        })
        .collect()
}

/// Run the suite once over `db`.
pub async fn run(db: std::path::PathBuf, p: &MoParams) -> anyhow::Result<MoResult> {
    let service = ServiceConfig::default();
    let t_setup = Instant::now();
    {
        let db = db.clone();
        let script = setup_script(p.subscribers, p.family);
        let svc = service.clone();
        tokio::task::spawn_blocking(move || world::prepare(&db, &svc, script)).await??;
    }
    let setup_s = t_setup.elapsed().as_secs_f64();
    let mut spec = WorldSpec::new(db);
    spec.deliver_window = p.deliver_window;
    spec.link_window = p.link_window;
    spec.service = service;
    let w = World::start(&spec).await?;
    let cmds = commands(p.subscribers, p.commands);
    let status_commands = (0..p.commands)
        .filter(|n| is_status(n / p.subscribers.max(1)))
        .count();
    let n = cmds.len() as u64;
    let store0 = w.gw().store.stats();
    let cpu0 = World::process_cpu();
    let sim0 = World::sim_cpu_s();
    let t0 = Instant::now();
    // Inject on the simulator's own runtime (its CPU is the simulator's).
    let sim = w.sim.clone();
    let injector = w.sim_runtime().spawn(async move {
        for (from, text) in cmds {
            sim.inject_mo(MoRequest::new(&from, SERVICE_NUMBER, &text))
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok::<_, String>(Instant::now())
    });
    let deadline = t0 + Duration::from_secs(p.timeout_s);
    let mut error = None;
    let mut t_processed = f64::NAN;
    let mut t_replies = f64::NAN;
    let mut t_drained = f64::NAN;
    let (mut replies, mut fanout, mut last_id) = (0u64, 0u64, 0u64);
    let mut sample_replies = Vec::new();
    let mut last_note = Instant::now();
    loop {
        let now = Instant::now();
        if t_processed.is_nan() {
            match w
                .count("SELECT count(*) FROM inbox_message WHERE state = 'processed'")
                .await
            {
                Ok(c) if c >= n => t_processed = t0.elapsed().as_secs_f64(),
                Ok(_) => {}
                Err(e) => error = Some(format!("store: {e}")),
            }
        }
        for r in w.mt_since(last_id) {
            last_id = r.id;
            if is_owner(&r.dest) {
                replies += 1;
                if sample_replies.len() < 6 {
                    sample_replies.push(r.text.clone());
                }
            } else {
                fanout += 1;
            }
        }
        if t_replies.is_nan() && replies >= n {
            t_replies = t0.elapsed().as_secs_f64();
        }
        if !t_processed.is_nan() && !t_replies.is_nan() {
            let left = w
                .count("SELECT count(*) FROM outbox WHERE state IN ('queued', 'in_flight')")
                .await;
            match left {
                Ok(0) => {
                    t_drained = t0.elapsed().as_secs_f64();
                    break;
                }
                Ok(_) => {}
                Err(e) => error = Some(format!("store: {e}")),
            }
        }
        if error.is_some() {
            break;
        }
        if now > deadline {
            error = Some(format!(
                "timeout: processed at {t_processed:.2}s, replies {replies}/{n}, fan-out {fanout}"
            ));
            break;
        }
        if last_note.elapsed() > Duration::from_secs(5) {
            last_note = Instant::now();
            eprintln!(
                "[gw-bench] mo: {:.0} s, replies {replies}/{n}, fan-out {fanout}",
                t0.elapsed().as_secs_f64()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let cpu = World::process_cpu().since(&cpu0).total_s();
    let sim_cpu_s = World::sim_cpu_s() - sim0;
    let store1 = w.gw().store.stats();
    let t_injected_s = match injector.await {
        Ok(Ok(t)) => t.duration_since(t0).as_secs_f64(),
        Ok(Err(e)) => {
            error.get_or_insert(format!("inject: {e}"));
            f64::NAN
        }
        Err(e) => {
            error.get_or_insert(format!("injector: {e}"));
            f64::NAN
        }
    };
    // Late fan-out records (submitted before `t_drained` was seen).
    for r in w.mt_since(last_id) {
        if !is_owner(&r.dest) {
            fanout += 1;
        }
    }
    let (peak_rss_kb, _) = procstat::memory_kb(std::process::id()).unwrap_or((0, 0));
    w.shutdown().await;
    let gw_cpu_s = cpu - sim_cpu_s;
    Ok(MoResult {
        params: p.clone(),
        ok: error.is_none(),
        error,
        setup_s,
        t_injected_s,
        t_processed_s: t_processed,
        commands_per_s: n as f64 / t_processed,
        t_replies_s: t_replies,
        replies_per_s: n as f64 / t_replies,
        t_drained_s: t_drained,
        status_commands,
        fanout_mt: fanout,
        replies_mt: replies,
        gw_cpu_s,
        gw_cpu_us_per_command: gw_cpu_s * 1e6 / n as f64,
        sim_cpu_s,
        peak_rss_kb,
        store_commits: store1.commits - store0.commits,
        store_requests: store1.requests - store0.requests,
        sample_replies,
    })
}

/// Markdown table of a set of runs.
pub fn render(rows: &[MoResult]) -> String {
    let mut s = String::from(
        "| deliver window | commands | senders × family | processed in s | **commands/s** | all replies at SMSC s | replies/s | outbox drained s | fan-out MT | gw CPU µs/command | sim CPU s | store commits | peak RSS MB (process) | ok |\n|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} × {} | {:.2} | **{:.0}** | {:.2} | {:.0} | {:.2} | {} | {:.0} | {:.2} | {} | {:.1} | {} |\n",
            r.params.deliver_window,
            r.params.commands,
            r.params.subscribers,
            r.params.family,
            r.t_processed_s,
            r.commands_per_s,
            r.t_replies_s,
            r.replies_per_s,
            r.t_drained_s,
            r.fanout_mt,
            r.gw_cpu_us_per_command,
            r.sim_cpu_s,
            r.store_commits,
            r.peak_rss_kb as f64 / 1024.0,
            if r.ok { "yes".to_string() } else { r.error.clone().unwrap_or_default() }
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_distinct_per_sender_and_mixed() {
        let c = commands(3, 30);
        assert_eq!(c.len(), 30);
        for i in 0..3 {
            let mine: Vec<&String> = c
                .iter()
                .filter(|(f, _)| *f == world::owner(i))
                .map(|(_, t)| t)
                .collect();
            assert_eq!(mine.len(), 10);
            let set: std::collections::HashSet<_> = mine.iter().collect();
            assert_eq!(set.len(), 10, "{mine:?}");
        }
        let status = (0..10).filter(|k| is_status(*k)).count();
        assert_eq!(status, 7);
        assert!(command(0, 1, 3).starts_with("WHO 138"));
        assert_eq!(command(0, 3, 3), "GROUP FAMILY 1");
    }

    #[test]
    fn setup_adds_national_numbers() {
        let s = setup_script(2, 3);
        assert_eq!(s[1].0, "+8613800000001");
        assert_eq!(
            s[1].1,
            "GROUP FAMILY ADD 13900000003 13900000004 13900000005"
        );
    }
}
