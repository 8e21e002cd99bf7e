//! Suite `fanout` (issue #9): one status change to a FAMILY of `members` contacts, time from
//! the STATUS MO's injection to the last of the updates accepted by the simulator.
//!
//! Set-up (not timed): one owner whose FAMILY holds `members` numbers (added 50 per
//! `GROUP FAMILY ADD` through the service, before the gateway opens the store). Each
//! repetition `r` injects `STATUS FAMILY "fan<rr>"` (a new text each time, so every member is
//! told), then waits until `members` submit_sm carrying that token have been accepted, and until
//! the outbox has nothing queued or in flight before the next repetition. Times are wall-clock
//! ms (injection) against the simulator's `received_at_ms`.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use presence_gw::service::ServiceConfig;
use serde::{Deserialize, Serialize};
use smsc_sim::MoRequest;

use crate::stats::Summary;
use crate::world::{self, is_owner, World, WorldSpec, SERVICE_NUMBER};

/// Token prefix planted in the status texts.
const TOKEN: &str = "fan";
/// Digits of the token.
const DIGITS: usize = 2;

/// What to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FanoutParams {
    /// FAMILY size.
    pub members: usize,
    /// Repetitions.
    pub reps: usize,
    /// Gateway SMPP window.
    pub link_window: usize,
    /// Ask for receipts on the updates.
    pub receipts: bool,
}

/// One repetition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FanoutRep {
    /// Updates accepted by the simulator.
    pub received: usize,
    /// Distinct members reached.
    pub distinct_members: usize,
    /// ms from injection to the first update.
    pub first_ms: f64,
    /// ms from injection to the last update.
    pub last_ms: f64,
}

/// What the suite measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FanoutResult {
    /// The parameters.
    pub params: FanoutParams,
    /// Every repetition.
    pub reps: Vec<FanoutRep>,
    /// Summary of `last_ms`.
    pub last_ms: Option<Summary>,
    /// Summary of `first_ms`.
    pub first_ms: Option<Summary>,
    /// Whether every repetition reached every member exactly once.
    pub ok: bool,
}

fn owner() -> String {
    world::owner(0)
}

/// The set-up script: FAMILY filled 50 numbers per command.
pub fn setup_script(members: usize) -> Vec<(String, String)> {
    let all: Vec<String> = (0..members)
        .map(|j| world::national(&world::member(0, j, members)).to_string())
        .collect();
    all.chunks(50)
        .map(|c| (owner(), format!("GROUP FAMILY ADD {}", c.join(" "))))
        .collect()
}

/// Run the suite over `db`.
pub async fn run(db: std::path::PathBuf, p: &FanoutParams) -> anyhow::Result<FanoutResult> {
    let service = ServiceConfig::default();
    {
        let db = db.clone();
        let script = setup_script(p.members);
        let svc = service.clone();
        tokio::task::spawn_blocking(move || world::prepare(&db, &svc, script)).await??;
    }
    let mut spec = WorldSpec::new(db);
    spec.link_window = p.link_window;
    spec.receipts = p.receipts;
    spec.service = service;
    let w = World::start(&spec).await?;
    let in_family = w
        .count("SELECT count(*) FROM membership WHERE owner = '+8613800000000'")
        .await?;
    anyhow::ensure!(
        in_family as usize == p.members,
        "FAMILY holds {in_family} members, not {}",
        p.members
    );
    let mut reps = Vec::new();
    let mut last_id = w.mt_since(0).last().map_or(0, |r| r.id);
    for r in 0..p.reps {
        let text = format!("STATUS FAMILY \"{TOKEN}{r:02}\"");
        let at = world::wall_ms();
        w.sim
            .inject_mo(MoRequest::new(&owner(), SERVICE_NUMBER, &text))
            .await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let (mut got, mut first, mut last) = (0usize, u64::MAX, 0u64);
        let mut dests = HashSet::new();
        while got < p.members && Instant::now() < deadline {
            for m in w.mt_since(last_id) {
                last_id = m.id;
                if is_owner(&m.dest) || world::token(&m.text, TOKEN, DIGITS) != Some(r as u64) {
                    continue;
                }
                got += 1;
                dests.insert(m.dest.clone());
                first = first.min(m.received_at_ms);
                last = last.max(m.received_at_ms);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        reps.push(FanoutRep {
            received: got,
            distinct_members: dests.len(),
            first_ms: first.saturating_sub(at) as f64,
            last_ms: last.saturating_sub(at) as f64,
        });
        // Let the reply and receipts settle before the next change.
        let settle = Instant::now() + Duration::from_secs(10);
        while Instant::now() < settle {
            let left = w
                .count("SELECT count(*) FROM outbox WHERE state IN ('queued', 'in_flight')")
                .await?;
            if left == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    w.shutdown().await;
    let ok = reps
        .iter()
        .all(|r| r.received == p.members && r.distinct_members == p.members);
    let lasts: Vec<f64> = reps.iter().map(|r| r.last_ms).collect();
    let firsts: Vec<f64> = reps.iter().map(|r| r.first_ms).collect();
    Ok(FanoutResult {
        params: p.clone(),
        last_ms: Summary::of(&lasts),
        first_ms: Summary::of(&firsts),
        reps,
        ok,
    })
}

/// Markdown table.
pub fn render(r: &FanoutResult) -> String {
    let mut s = String::from(
        "| rep | updates received | distinct members | first submit ms | **last submit ms** |\n|---:|---:|---:|---:|---:|\n",
    );
    for (i, x) in r.reps.iter().enumerate() {
        s.push_str(&format!(
            "| {} | {} | {} | {:.0} | **{:.0}** |\n",
            i + 1,
            x.received,
            x.distinct_members,
            x.first_ms,
            x.last_ms
        ));
    }
    if let Some(l) = r.last_ms {
        s.push_str(&format!(
            "\nFAMILY of {} (gateway window {}, receipts {}): time to last submit median **{:.0} ms** (min {:.0}, max {:.0}) over {} repetitions; first submit median {:.0} ms. All members reached exactly once: {}.\n",
            r.params.members,
            r.params.link_window,
            if r.params.receipts { "on" } else { "off" },
            l.median,
            l.min,
            l.max,
            l.count,
            r.first_ms.map_or(f64::NAN, |f| f.median),
            if r.ok { "yes" } else { "**no**" }
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_splits_in_fifties_with_distinct_numbers() {
        let s = setup_script(200);
        assert_eq!(s.len(), 4);
        let nums: HashSet<&str> = s.iter().flat_map(|(_, t)| t.split(' ').skip(3)).collect();
        assert_eq!(nums.len(), 200);
        assert!(s.iter().all(|(o, _)| o == "+8613800000000"));
    }
}
