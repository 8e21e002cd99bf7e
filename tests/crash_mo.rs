//! MO crash test: the real `presence-gw` binary, run as a child process against smsc-sim over
//! loopback TCP, is killed with SIGKILL three times, at random moments, while subscribers'
//! commands arrive (one- and two-part SMS), and restarted on the same SQLite file each time;
//! before the second kill the simulator stops reading, so the answers to the deliver_sm the
//! gateway stored in its last moments are lost.
//! The simulator, as a carrier's SMSC does, sends again every deliver_sm whose
//! deliver_sm_resp it never read. The gateway writes each deliver_sm before answering it and
//! recognises a resend of one it already has, so in the end every command has run exactly once:
//!
//! - every subscriber's group holds every number its commands added (nothing lost);
//! - every command got one reply row in the outbox, and no reply says "already in it" (a
//!   command run twice would add nothing the second time and say so);
//! - the inbox holds each part once and each command once, processed;
//! - every subscriber's handset shows the reply of each of its commands.
//!
//! A second test kills the gateway right after a command whose answer the SMSC had read (its
//! reply's `submit_sm_resp` recorded) and another whose answer it never read: after the
//! restart the subscriber's own repeat of the first runs, and the SMSC's resend of the second
//! does not.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use smsc_sim::{DeliveryState, MoRequest, SimConfig, SimHandle, Simulator};

/// Subscribers sending commands.
const SENDERS: usize = 40;
/// Commands per subscriber; command [`LONG`] adds [`LONG_ADDS`] numbers (a two-part SMS), the
/// others one each.
const COMMANDS: usize = 8;
const LONG: usize = 4;
const LONG_ADDS: usize = 14;
/// Members each subscriber's group ends with.
const MEMBERS: usize = COMMANDS - 1 + LONG_ADDS;
/// How many times the running child is killed.
const KILLS: usize = 3;
/// Pause between two injected commands, so that the commands arrive over the kills.
const PACE: Duration = Duration::from_millis(4);

fn sender(i: usize) -> String {
    format!("+86138{i:08}")
}

/// The numbers command `j` of subscriber `i` adds.
fn added(i: usize, j: usize) -> Vec<String> {
    let n = if j == LONG { LONG_ADDS } else { 1 };
    (0..n)
        .map(|k| format!("+86139{i:04}{:04}", j * 100 + k))
        .collect()
}

fn command(i: usize, j: usize) -> String {
    format!("GROUP FAMILY ADD {}", added(i, j).join(" "))
}

/// The MO parts the simulator has had answered with ESME_ROK, and how many deliver_sm it
/// wrote more than once (resends after a connection loss).
fn mo_progress(sim: &SimHandle) -> (usize, usize) {
    let records = common::mo_records(sim);
    let acked = records
        .iter()
        .filter(|d| d.state == DeliveryState::Answered(0))
        .count();
    let resent = records.iter().filter(|d| d.attempts > 1).count();
    (acked, resent)
}

/// What the stopped gateway's database says, per subscriber (digits of the E.164 number).
struct DbView {
    /// Members of each subscriber's FAMILY group.
    members: HashMap<String, BTreeSet<String>>,
    /// Reply rows to each subscriber about the group ("FAMILY now has ...").
    replies: HashMap<String, Vec<String>>,
    /// Inbox messages by state.
    inbox: HashMap<String, usize>,
    /// Inbox PDUs stored (a resend of a stored PDU is answered, not stored again).
    pdus: usize,
}

fn inspect(db: &Path) -> DbView {
    let c = rusqlite::Connection::open(db).expect("database opens");
    let mut members: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut s = c
        .prepare(
            "SELECT m.owner, m.member FROM membership m JOIN audience a ON a.id = m.audience_id
             WHERE a.name = 'FAMILY'",
        )
        .unwrap();
    for r in s
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
    {
        let (owner, member) = r.unwrap();
        members.entry(owner).or_default().insert(member);
    }
    let mut replies: HashMap<String, Vec<String>> = HashMap::new();
    let mut s = c
        .prepare("SELECT destination, body FROM outbox WHERE body LIKE '%now has%'")
        .unwrap();
    for r in s
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
    {
        let (to, body) = r.unwrap();
        replies.entry(to).or_default().push(body);
    }
    let mut inbox = HashMap::new();
    let mut s = c
        .prepare("SELECT state, count(*) FROM inbox_message GROUP BY state")
        .unwrap();
    for r in s
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, usize>(1)?)))
        .unwrap()
    {
        let (state, n) = r.unwrap();
        inbox.insert(state, n);
    }
    let pdus = c
        .query_row("SELECT count(*) FROM inbox_pdu", [], |r| r.get(0))
        .unwrap();
    DbView {
        members,
        replies,
        inbox,
        pdus,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_commands_arrive_runs_each_command_exactly_once() {
    let started = Instant::now();
    // A carrier-like SMSC: ten deliver_sm in flight per bind, resent after a lost connection
    // (enough attempts for a deliver_sm in flight at every kill).
    let mut cfg = SimConfig::local().with_account(common::SYSTEM_ID, common::PASSWORD);
    cfg.deliver_attempts = 20;
    cfg.deliver_timeout = Duration::from_secs(2);
    let sim = Simulator::start(cfg).await.expect("simulator starts");
    let (_dir, db, log) = common::workdir();

    // Commands go in round by round (every subscriber's j-th, then the (j+1)-th), paced; the
    // simulator holds them while no gateway is bound.
    let total_parts: usize = (0..COMMANDS)
        .map(|j| if j == LONG { 2 } else { 1 })
        .sum::<usize>()
        * SENDERS;
    let injector = {
        let sim = sim.clone();
        tokio::spawn(async move {
            for j in 0..COMMANDS {
                for i in 0..SENDERS {
                    let ticket = sim
                        .inject_mo(MoRequest::new(
                            &sender(i),
                            common::SERVICE_NUMBER,
                            &command(i, j),
                        ))
                        .await
                        .expect("MO injected");
                    assert_eq!(
                        ticket.parts,
                        if j == LONG { 2 } else { 1 },
                        "{}",
                        command(i, j)
                    );
                    tokio::time::sleep(PACE).await;
                }
            }
        })
    };

    // Kill points: the k-th somewhere in the k-th quarter of the MO parts acknowledged.
    let quarter = total_parts / (KILLS + 1);
    let points: Vec<usize> = (1..=KILLS)
        .map(|k| {
            k * quarter - quarter / 2 + (rand::random::<u64>() as usize) % (quarter / 2).max(1)
        })
        .collect();
    println!("kill points (MO parts acknowledged): {points:?} of {total_parts}");
    let mut mid_flow = 0;
    let mut lost_answers = 0;
    for (k, &target) in points.iter().enumerate() {
        let mut child = common::spawn_gateway(&sim, &db, &log);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (acked, _) = mo_progress(&sim);
            if acked >= target {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "gateway exited ({status}) at {acked} acknowledged MO parts\n{}",
                    common::log_tail(&log)
                );
            }
            assert!(
                Instant::now() < deadline,
                "only {acked} of {target} MO parts acknowledged in time\n{}",
                common::log_tail(&log)
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if k == 1 {
            // This time the answers are lost: the SMSC stops reading, the gateway stores and
            // answers what it has, then dies. The SMSC sends those deliver_sm again.
            sim.stop_reading(None);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let (acked, resent) = mo_progress(&sim);
        if acked < total_parts {
            mid_flow += 1;
        }
        let stored = inspect(&db).pdus;
        if k == 1 {
            assert!(
                stored > acked,
                "the gateway stored {stored} MO parts and the SMSC read {acked} answers: no \
                 stored part is left for the SMSC to send again, the resend path goes untested"
            );
            lost_answers = stored - acked;
        }
        println!(
            "killed at {acked} acknowledged MO parts, {stored} stored ({resent} deliver_sm \
             resent so far)"
        );
    }
    assert!(
        mid_flow > 0,
        "every kill came after the last command: nothing was tested"
    );

    // Last run: every command answered, then a graceful stop.
    let mut child = common::spawn_gateway(&sim, &db, &log);
    injector.await.expect("injector");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let answered = (0..SENDERS)
            .filter(|&i| {
                let texts = sim.handset(&sender(i)).texts().join("\n");
                texts.contains(&format!("FAMILY now has {MEMBERS} members"))
            })
            .count();
        if answered == SENDERS {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("gateway exited ({status})\n{}", common::log_tail(&log));
        }
        assert!(
            Instant::now() < deadline,
            "{answered} of {SENDERS} subscribers got the reply to their last command\n{}",
            common::log_tail(&log)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    common::sigterm(&child);
    let status = common::wait_exit(&mut child, Duration::from_secs(60))
        .await
        .unwrap_or_else(|| panic!("gateway ignored SIGTERM\n{}", common::log_tail(&log)));
    assert!(status.success(), "graceful stop failed: {status}");
    let (acked, resent) = mo_progress(&sim);
    assert_eq!(acked, total_parts, "every MO part ends acknowledged");

    let view = inspect(&db);
    for i in 0..SENDERS {
        let owner = sender(i);
        let want: BTreeSet<String> = (0..COMMANDS).flat_map(|j| added(i, j)).collect();
        let have = view.members.get(&owner).cloned().unwrap_or_default();
        assert_eq!(have, want, "{owner}'s FAMILY: a command was lost");
        let replies = view.replies.get(&owner).cloned().unwrap_or_default();
        assert_eq!(
            replies.len(),
            COMMANDS,
            "{owner}: one reply per command, got {replies:#?}"
        );
        assert!(
            replies.iter().all(|r| !r.contains("already in it")),
            "{owner}: a command ran twice: {replies:#?}"
        );
        // The handset shows each command's reply (a reply in flight at a kill may come twice).
        let texts: BTreeSet<String> = sim
            .handset(&owner)
            .texts()
            .into_iter()
            .map(str::to_string)
            .collect();
        for r in &replies {
            assert!(texts.contains(r), "{owner} never got {r:?}; got {texts:#?}");
        }
    }
    assert_eq!(
        view.inbox.get("processed").copied().unwrap_or(0),
        SENDERS * COMMANDS,
        "inbox messages by state: {:?}",
        view.inbox
    );
    assert_eq!(
        view.inbox.len(),
        1,
        "inbox messages by state: {:?}",
        view.inbox
    );
    assert_eq!(view.pdus, total_parts, "each MO part stored once");
    println!(
        "MO crash test: {} commands ({total_parts} parts), {KILLS} SIGKILLs ({mid_flow} mid-flow), \
         {resent} deliver_sm resent by the SMSC ({lost_answers} stored, their answers lost); \
         each command ran once; {:.1}s",
        SENDERS * COMMANDS,
        started.elapsed().as_secs_f64()
    );
    sim.shutdown().await;
}

/// Poll the child's database (read-only, as it runs) until `query` gives at least `want`.
async fn wait_db(db: &Path, query: &str, want: i64, child: &mut std::process::Child, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n: i64 =
            rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .and_then(|c| c.query_row(query, [], |r| r.get(0)))
                .unwrap_or(0);
        if n >= want {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("gateway exited ({status})\n{}", common::log_tail(log));
        }
        assert!(
            Instant::now() < deadline,
            "{query} gave {n}, not {want}, in time\n{}",
            common::log_tail(log)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Whether the inbox still holds the dedup key of its PDU `id` (column `dedup_key`).
fn key_held(db: &Path, id: i64) -> bool {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("database opens");
    c.query_row(
        "SELECT dedup_key IS NOT NULL FROM inbox_pdu WHERE id = ?1",
        [id],
        |r| r.get(0),
    )
    .expect("the PDU is stored")
}

/// A subscriber sends a command, gets its reply, and the gateway is killed (SIGKILL) a
/// moment later; after the restart they send the same text again, within the inbox's
/// 2-minute dedup window. The SMSC had read the first copy's answer (it answered the reply's
/// submit_sm, written after it), so it resends nothing: the repeat is the subscriber's and
/// runs. The gateway kept that proof in memory until the session ended, and a kill ends no
/// session: the repeat was taken for a resend, acknowledged and never run. Now the proof is
/// written with the next store write (the reply's record), before the kill.
///
/// In the same run a second subscriber's command is stored and answered while the SMSC has
/// stopped reading, so the answer is lost with the kill: its resend after the restart is
/// still a duplicate, run once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigkill_a_repeat_whose_answer_was_read_runs_and_a_lost_answers_resend_does_not() {
    let mut cfg = SimConfig::local().with_account(common::SYSTEM_ID, common::PASSWORD);
    // Resent only after the link drops (the kill), not on the stalled session.
    cfg.deliver_timeout = Duration::from_secs(60);
    cfg.deliver_attempts = 5;
    let sim = Simulator::start(cfg).await.expect("simulator starts");
    let (_dir, db, log) = common::workdir();
    let (repeater, resent) = (sender(1), sender(2));
    let repeat = command(1, 0);
    let lost = command(2, 0);

    let mut child = common::spawn_gateway(&sim, &db, &log);
    sim.inject_mo(MoRequest::new(&repeater, common::SERVICE_NUMBER, &repeat))
        .await
        .expect("MO injected");
    sim.wait_for_inbox(&repeater, 1, Duration::from_secs(20))
        .await
        .expect("the reply reaches the handset");
    // The reply's submit_sm_resp recorded: the SMSC had read the command's answer.
    wait_db(
        &db,
        "SELECT count(*) FROM outbox WHERE state IN ('submitted', 'delivered')",
        1,
        &mut child,
        &log,
    )
    .await;
    assert!(
        !key_held(&db, 1),
        "the reply's record is committed and the first copy's dedup key is still held"
    );

    // The second command's answer is lost: the SMSC reads nothing more, the gateway stores,
    // answers and runs it, then dies.
    assert_eq!(sim.stop_reading(None), 1);
    let ticket = sim
        .inject_mo(MoRequest::new(&resent, common::SERVICE_NUMBER, &lost))
        .await
        .expect("MO injected");
    wait_db(
        &db,
        "SELECT count(*) FROM inbox_message WHERE state = 'processed'",
        2,
        &mut child,
        &log,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    assert!(
        key_held(&db, 2),
        "an answer the SMSC never read keeps its key"
    );

    let mut child = common::spawn_gateway(&sim, &db, &log);
    sim.inject_mo(MoRequest::new(&repeater, common::SERVICE_NUMBER, &repeat))
        .await
        .expect("MO injected");
    sim.wait_for_inbox(&repeater, 2, Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the repeat after the restart was not run ({e})\n{}",
                common::log_tail(&log)
            )
        });
    let resend = sim
        .wait_for_deliveries(&ticket.record_ids, Duration::from_secs(20))
        .await
        .expect("the lost answer's PDU is sent again and answered");
    assert!(
        resend
            .iter()
            .all(|d| d.attempts > 1 && d.state == DeliveryState::Answered(0)),
        "{resend:?}"
    );
    sim.wait_for_inbox(&resent, 1, Duration::from_secs(20))
        .await
        .expect("the second command's reply reaches its handset");
    common::sigterm(&child);
    let status = common::wait_exit(&mut child, Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("gateway ignored SIGTERM\n{}", common::log_tail(&log)));
    assert!(status.success(), "graceful stop failed: {status}");

    let view = inspect(&db);
    let replies = |who: &str| view.replies.get(who).cloned().unwrap_or_default();
    let (first, again) = (replies(&repeater), replies(&resent));
    assert_eq!(first.len(), 2, "the repeat ran: {first:?}");
    assert_eq!(
        first.iter().filter(|r| r.contains("already in it")).count(),
        1,
        "{first:?}"
    );
    assert_eq!(again.len(), 1, "the resend ran once: {again:?}");
    assert!(!again[0].contains("already in it"), "{again:?}");
    assert_eq!(
        view.inbox.get("processed").copied(),
        Some(3),
        "the command, its repeat and the other command: {:?}",
        view.inbox
    );
    sim.shutdown().await;
}
