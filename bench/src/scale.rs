//! Suite `scale` (issue #9): the store at 1M subscribers / 10M group memberships.
//!
//! Generation: a fresh SQLite file is opened once with [`presence_gw::store::Store`] (so the
//! gateway's migrations create the schema), closed, then filled over one raw rusqlite
//! connection with the gateway's pragmas (`journal_mode=WAL`, `synchronous=NORMAL`,
//! `foreign_keys=ON`), in transactions of `chunk` subscribers: per subscriber one `subscriber`
//! row, five `audience` rows (FAMILY, COLLEAGUES, CLASSMATES, FRIENDS, OTHERS, as
//! `service::state::ensure_subscriber` creates them) and `per_subscriber` `membership` rows
//! spread over the four groups (members are other subscribers, pseudo-random, distinct per
//! group). Generation stops early (between chunks) when `budget_s` is spent; the report says
//! what was generated.
//!
//! Then, on the gateway's own [`Store`] over that file, `who_queries` WHO commands through
//! [`presence_gw::service::Service::handle_mo`], each in its own `write_blocking` (parse,
//! look-ups, reply enqueued, commit): half from a member of one of the target's groups, half
//! from a random subscriber. p50/p99 of the wall time of each write. Peak RSS = `VmHWM` of
//! this process (generation included).

use std::path::Path;
use std::time::Instant;

use presence_gw::service::{Service, ServiceConfig};
use presence_gw::store::{now_ms, Store, StoreError, StoreOptions};
use rusqlite::params;
use serde::{Deserialize, Serialize};

use crate::procstat;
use crate::world::{self, percentile};

/// The four built-in groups, then OTHERS (`ensure_subscriber`'s order).
const GROUPS: [&str; 4] = ["FAMILY", "COLLEAGUES", "CLASSMATES", "FRIENDS"];

/// What to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScaleParams {
    /// Subscribers to generate.
    pub subscribers: usize,
    /// Memberships per subscriber (spread over the four groups).
    pub per_subscriber: usize,
    /// Subscribers per transaction.
    pub chunk: usize,
    /// Stop generating after this many seconds (between chunks).
    pub budget_s: f64,
    /// WHO commands timed.
    pub who_queries: usize,
}

/// What was measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScaleResult {
    /// The parameters.
    pub params: ScaleParams,
    /// Subscribers actually generated.
    pub subscribers: u64,
    /// Audience rows.
    pub audiences: u64,
    /// Membership rows.
    pub memberships: u64,
    /// Whether the budget cut generation short.
    pub cut_short: bool,
    /// Seconds of generation.
    pub generate_s: f64,
    /// Membership rows per second of generation.
    pub memberships_per_s: f64,
    /// Database + WAL bytes after generation (WAL checkpointed on close).
    pub store_bytes: u64,
    /// Bytes per membership (whole store / memberships).
    pub bytes_per_membership: f64,
    /// WHO write p50, ms.
    pub who_p50_ms: f64,
    /// WHO write p99, ms.
    pub who_p99_ms: f64,
    /// WHO write max, ms.
    pub who_max_ms: f64,
    /// WHO answered with a reply.
    pub who_replied: usize,
    /// A sample WHO reply.
    pub who_sample: String,
    /// Peak RSS of the process, kB.
    pub peak_rss_kb: u64,
}

/// xorshift64*: deterministic pseudo-random numbers without a dependency on `rand`'s API.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator (0 is replaced).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// Next value below `n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// How many of `per` memberships go to group `g` (0..4): as even as possible, FAMILY first.
pub fn group_share(per: usize, g: usize) -> usize {
    per / 4 + usize::from(g < per % 4)
}

/// Members of subscriber `i`'s group `g`: distinct, never `i` itself.
pub fn members_of(rng: &mut Rng, i: u64, n: u64, count: usize) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::with_capacity(count);
    if n < 2 {
        return out;
    }
    while out.len() < count.min(n as usize - 1) {
        let m = rng.below(n);
        if m != i && !out.contains(&m) {
            out.push(m);
        }
    }
    out
}

fn gen_err(e: rusqlite::Error) -> anyhow::Error {
    anyhow::anyhow!("generation: {e}")
}

/// Generate into `db` (created afresh). Returns (subscribers, audiences, memberships, cut short).
pub fn generate(db: &Path, p: &ScaleParams) -> anyhow::Result<(u64, u64, u64, bool)> {
    world::remove_db(db);
    let store = Store::open(db, StoreOptions::default())?;
    store.close_blocking();
    let mut conn = rusqlite::Connection::open(db)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    let n = p.subscribers as u64;
    let now = now_ms();
    let t0 = Instant::now();
    let mut rng = Rng::new(0x5ca1e);
    let (mut subs, mut auds, mut mems) = (0u64, 0u64, 0u64);
    let mut cut = false;
    let mut start = 0u64;
    while start < n {
        if t0.elapsed().as_secs_f64() > p.budget_s {
            cut = true;
            break;
        }
        let end = (start + p.chunk.max(1) as u64).min(n);
        let tx = conn.transaction()?;
        {
            let mut sub = tx.prepare_cached(
                "INSERT INTO subscriber (msisdn, lang, created_at, updated_at) VALUES (?1, 'en', ?2, ?2)",
            )?;
            let mut aud = tx.prepare_cached(
                "INSERT INTO audience (id, owner, kind, name, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut mem = tx.prepare_cached(
                "INSERT INTO membership (audience_id, owner, member, added_at) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for i in start..end {
                let owner = world::owner(i as usize);
                sub.execute(params![owner, now]).map_err(gen_err)?;
                subs += 1;
                for (g, name) in GROUPS.iter().enumerate() {
                    let id = (i * 5 + g as u64 + 1) as i64;
                    aud.execute(params![id, owner, "builtin", name, now])
                        .map_err(gen_err)?;
                    for m in members_of(&mut rng, i, n, group_share(p.per_subscriber, g)) {
                        mem.execute(params![id, owner, world::owner(m as usize), now])
                            .map_err(gen_err)?;
                        mems += 1;
                    }
                }
                aud.execute(params![(i * 5 + 5) as i64, owner, "others", "OTHERS", now])
                    .map_err(gen_err)?;
                auds += 5;
            }
        }
        tx.commit()?;
        start = end;
        eprintln!(
            "[gw-bench] scale: {subs} subscribers, {mems} memberships, {:.0} s",
            t0.elapsed().as_secs_f64()
        );
    }
    drop(conn);
    Ok((subs, auds, mems, cut))
}

/// Time `p.who_queries` WHO commands on the gateway's store over `db` holding `subs`
/// subscribers. Returns (sorted ms, replies, a sample reply).
pub fn who(db: &Path, subs: u64, queries: usize) -> anyhow::Result<(Vec<f64>, usize, String)> {
    let store = Store::open(db, StoreOptions::default())?;
    let svc = Service::new(ServiceConfig::default());
    let mut rng = Rng::new(0xbeef);
    let mut ms = Vec::with_capacity(queries);
    let (mut replied, mut sample) = (0usize, String::new());
    for q in 0..queries {
        let target = rng.below(subs);
        // Half the askers are in one of the target's groups, half random.
        let asker = if q % 2 == 0 {
            let t = world::owner(target as usize);
            store
                .read_blocking(move |c| {
                    c.query_row(
                        "SELECT member FROM membership WHERE owner = ?1 LIMIT 1",
                        [t],
                        |r| r.get::<_, String>(0),
                    )
                    .map_err(StoreError::from)
                })
                .unwrap_or_else(|_| world::owner(rng.below(subs) as usize))
        } else {
            world::owner(rng.below(subs) as usize)
        };
        let text = format!("WHO {}", world::national(&world::owner(target as usize)));
        let svc = svc.clone();
        let t = Instant::now();
        let out = store.write_blocking(move |tx| {
            svc.handle_mo(tx, now_ms(), &asker, &text)
                .map_err(StoreError::from)
        })?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        if let Some(r) = out.reply {
            replied += 1;
            if sample.is_empty() {
                sample = r;
            }
        }
    }
    store.close_blocking();
    ms.sort_by(f64::total_cmp);
    Ok((ms, replied, sample))
}

/// Generate, measure the size, time WHO.
pub fn run(db: &Path, p: &ScaleParams) -> anyhow::Result<ScaleResult> {
    let t = Instant::now();
    let (subscribers, audiences, memberships, cut_short) = generate(db, p)?;
    let generate_s = t.elapsed().as_secs_f64();
    let store_bytes = world::db_size(db);
    eprintln!(
        "[gw-bench] scale: generated in {generate_s:.0} s, {:.0} MB; timing WHO",
        store_bytes as f64 / 1e6
    );
    let (ms, who_replied, who_sample) = who(db, subscribers, p.who_queries)?;
    let (peak_rss_kb, _) = procstat::memory_kb(std::process::id()).unwrap_or((0, 0));
    Ok(ScaleResult {
        params: p.clone(),
        subscribers,
        audiences,
        memberships,
        cut_short,
        generate_s,
        memberships_per_s: memberships as f64 / generate_s,
        store_bytes,
        bytes_per_membership: store_bytes as f64 / memberships.max(1) as f64,
        who_p50_ms: percentile(&ms, 0.5),
        who_p99_ms: percentile(&ms, 0.99),
        who_max_ms: ms.last().copied().unwrap_or(f64::NAN),
        who_replied,
        who_sample,
        peak_rss_kb,
    })
}

/// Markdown table.
pub fn render(rows: &[ScaleResult]) -> String {
    let mut s = String::from(
        "| subscribers | audiences | memberships | generation s | memberships/s | store MB (db+wal) | bytes/membership | WHO p50 ms | **WHO p99 ms** | WHO max ms | WHO replied | peak RSS MB |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {:.0}{} | {:.0} | {:.0} | {:.0} | {:.3} | **{:.3}** | {:.2} | {}/{} | {:.0} |\n",
            r.subscribers,
            r.audiences,
            r.memberships,
            r.generate_s,
            if r.cut_short { " (cut short by the budget)" } else { "" },
            r.memberships_per_s,
            r.store_bytes as f64 / 1e6,
            r.bytes_per_membership,
            r.who_p50_ms,
            r.who_p99_ms,
            r.who_max_ms,
            r.who_replied,
            r.params.who_queries,
            r.peak_rss_kb as f64 / 1024.0
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_sum_and_members_are_distinct() {
        for per in 0..13 {
            assert_eq!((0..4).map(|g| group_share(per, g)).sum::<usize>(), per);
        }
        let mut rng = Rng::new(7);
        let m = members_of(&mut rng, 3, 10, 5);
        assert_eq!(m.len(), 5);
        assert!(!m.contains(&3));
        let set: std::collections::HashSet<_> = m.iter().collect();
        assert_eq!(set.len(), 5);
        assert_eq!(members_of(&mut rng, 0, 3, 5).len(), 2);
    }

    #[test]
    fn small_store_has_the_service_shape_and_answers_who() {
        let dir = std::env::temp_dir().join(format!("gw-bench-scale-{}", std::process::id()));
        let db = dir.join("scale.db");
        std::fs::create_dir_all(&dir).unwrap();
        let p = ScaleParams {
            subscribers: 300,
            per_subscriber: 10,
            chunk: 100,
            budget_s: 60.0,
            who_queries: 20,
        };
        let r = run(&db, &p).unwrap();
        assert_eq!(
            (r.subscribers, r.audiences, r.memberships),
            (300, 1500, 3000)
        );
        assert!(!r.cut_short && r.store_bytes > 0);
        assert_eq!(r.who_replied, 20);
        assert!(r.who_sample.contains("STANDBY"), "{}", r.who_sample);
        // The service sees the generated groups as its own.
        let store = Store::open(&db, StoreOptions::default()).unwrap();
        let auds = store
            .read_blocking(|c| presence_gw::service::state::audiences(c, "+8613800000007"))
            .unwrap();
        assert_eq!(auds.len(), 5);
        store.close_blocking();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
