//! The status service end to end: subscribers text commands from smsc-sim handsets, the gateway
//! (real SQLite file, SMPP link, service, outbox) answers and fans out, and each handset's inbox
//! is checked for exactly the updates it should hold. Scripted from COMMANDS.md, in English and
//! Chinese.

use std::time::Duration;

use presence_gw::app::{Gateway, GatewayOptions};
use presence_gw::command::Msisdn;
use presence_gw::service::{NetworkEvent, ServiceConfig};
use presence_gw::smpp::LinkConfig;
use presence_gw::store::now_ms;
use smsc_sim::{MoRequest, MoStyle, SimConfig, SimHandle, Simulator};

const SYSTEM_ID: &str = "presence";
const PASSWORD: &str = "pw123";
const SERVICE: &str = "10658";
const WAIT: Duration = Duration::from_secs(20);

const OWNER: &str = "+8613800138000";
const MUM: &str = "+8613900139000";
const DAD: &str = "+8613700137000";
const BOSS: &str = "+8613600136000";
const STRANGER: &str = "+8613500135000";

/// The body of a GET, as text.
async fn get_text(http: &reqwest::Client, url: String) -> String {
    let r = http.get(url).send().await.expect("HTTP request");
    r.text().await.expect("HTTP body")
}

/// POST `body` as JSON to the operator API at `url` with bearer `key`.
async fn api<U: reqwest::IntoUrl>(
    http: &reqwest::Client,
    url: U,
    key: &str,
    body: &serde_json::Value,
) -> reqwest::Response {
    http.post(url)
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .expect("HTTP request")
}

struct World {
    sim: SimHandle,
    gw: Gateway,
    _dir: tempfile::TempDir,
}

impl World {
    async fn start() -> World {
        World::start_with(ServiceConfig::default()).await
    }

    async fn start_with(service: ServiceConfig) -> World {
        World::start_on(SimConfig::local(), service).await
    }

    /// A world on a simulator set up as `sim`.
    async fn start_on(sim: SimConfig, service: ServiceConfig) -> World {
        let sim = Simulator::start(sim.with_account(SYSTEM_ID, PASSWORD))
            .await
            .expect("simulator starts");
        let dir = tempfile::tempdir().unwrap();
        let gw = World::gateway(&sim, &dir, service).await;
        World { sim, gw, _dir: dir }
    }

    /// A world on a simulator set up as `sim`, its gateway's options changed by `tune`.
    async fn start_tuned(
        sim: SimConfig,
        service: ServiceConfig,
        tune: impl FnOnce(&mut GatewayOptions),
    ) -> World {
        let sim = Simulator::start(sim.with_account(SYSTEM_ID, PASSWORD))
            .await
            .expect("simulator starts");
        let dir = tempfile::tempdir().unwrap();
        let gw = World::gateway_tuned(&sim, &dir, service, tune).await;
        World { sim, gw, _dir: dir }
    }

    /// A gateway bound to `sim`, on the database in `dir` (created, or reopened as it was).
    async fn gateway(sim: &SimHandle, dir: &tempfile::TempDir, service: ServiceConfig) -> Gateway {
        World::gateway_tuned(sim, dir, service, |_| {}).await
    }

    /// [`World::gateway`] with its options changed by `tune`.
    async fn gateway_tuned(
        sim: &SimHandle,
        dir: &tempfile::TempDir,
        service: ServiceConfig,
        tune: impl FnOnce(&mut GatewayOptions),
    ) -> Gateway {
        let link = LinkConfig {
            smsc: sim.smpp_addr().to_string(),
            system_id: SYSTEM_ID.into(),
            password: presence_gw::config::Secret::new(PASSWORD),
            ..LinkConfig::default()
        };
        let mut opts = GatewayOptions::new(World::db(dir), link, SERVICE);
        tune(&mut opts);
        let gw = Gateway::start_with_service(opts, service)
            .await
            .expect("gateway starts");
        assert!(gw.link.wait_bound(WAIT).await, "gateway binds");
        gw
    }

    fn db(dir: &tempfile::TempDir) -> std::path::PathBuf {
        dir.path().join("gw.db")
    }

    /// Stop the gateway, run `offline` on its database file while nothing is running, and
    /// start a new gateway on the same file (the simulator and its handsets carry on).
    async fn restart(self, offline: impl FnOnce(&rusqlite::Connection)) -> World {
        let World { sim, gw, _dir: dir } = self;
        gw.shutdown().await;
        {
            let conn = rusqlite::Connection::open(World::db(&dir)).unwrap();
            offline(&conn);
        }
        let gw = World::gateway(&sim, &dir, ServiceConfig::default()).await;
        World { sim, gw, _dir: dir }
    }

    /// Give `who` account activity enough for `AVATAR UPLOAD`.
    async fn qualify(&self, who: &str) {
        let who = who.to_string();
        self.gw
            .store
            .write(move |tx| {
                presence_gw::service::avatar::import_activity(
                    tx,
                    &who,
                    &presence_gw::service::avatar::Activity {
                        call_minutes: 10_000,
                        ..Default::default()
                    },
                    0,
                )
            })
            .await
            .unwrap();
    }

    fn texts(&self, number: &str) -> Vec<String> {
        self.sim
            .handset(number)
            .texts()
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    /// `from` texts `body`; returns the reply (the next text on `from`'s handset).
    async fn say(&self, from: &str, body: &str) -> String {
        self.say_styled(from, body, MoStyle::Udh8).await
    }

    async fn say_styled(&self, from: &str, body: &str, style: MoStyle) -> String {
        self.say_req(MoRequest::new(from, SERVICE, body).style(style))
            .await
    }

    /// [`World::say`] to number `to` instead of the service number.
    async fn say_to(&self, from: &str, to: &str, body: &str) -> String {
        self.say_req(MoRequest::new(from, to, body)).await
    }

    /// Inject `req`; returns the reply (the next text on its sender's handset).
    async fn say_req(&self, req: MoRequest) -> String {
        let (from, body) = (req.from.clone(), req.text.clone());
        let from = from.as_str();
        let before = self.texts(from).len();
        self.sim.inject_mo(req).await.expect("MO injected");
        let view = self
            .sim
            .wait_for_inbox(from, before + 1, WAIT)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "no reply to {body:?} from {from}: {e}; inbox {:?}; deliveries {:#?}",
                    self.texts(from),
                    self.sim.deliveries()
                )
            });
        view.texts()[before].to_string()
    }

    /// `from` dials or answers on USSD; returns the screen that comes back and whether the
    /// network awaits an answer.
    async fn dial(&self, from: &str, text: &str) -> (String, bool) {
        self.dial_op(from, text, None).await
    }

    /// [`World::dial`] with an explicit `ussd_service_op` (an abort, say).
    async fn dial_op(&self, from: &str, text: &str, op: Option<u8>) -> (String, bool) {
        let before = self.sim.handset(from).ussd.len();
        self.sim
            .inject_ussd(smsc_sim::UssdRequest {
                from: from.into(),
                to: "*123#".into(),
                text: text.into(),
                new_session: false,
                op,
            })
            .await
            .expect("USSD injected");
        let screen = self
            .sim
            .wait_until("USSD screen", WAIT, |h| {
                h.handset(from).ussd.get(before).cloned()
            })
            .await
            .unwrap_or_else(|e| panic!("no USSD screen after {text:?}: {e}"));
        (screen.text, screen.expects_reply)
    }

    /// Wait until `number` holds `count` texts; returns them all.
    async fn inbox(&self, number: &str, count: usize) -> Vec<String> {
        self.sim
            .wait_for_inbox(number, count, WAIT)
            .await
            .unwrap_or_else(|e| panic!("{number}: {e}; has {:?}", self.texts(number)));
        self.texts(number)
    }

    /// Wait until the preset catalogue (loaded in the background on first start) holds `n`.
    async fn wait_presets(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self
            .gw
            .store
            .read(presence_gw::service::avatar::preset_count)
            .await
            .unwrap()
            < n
        {
            assert!(tokio::time::Instant::now() < deadline, "presets not loaded");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Wait until the outbox has nothing queued or in flight: every submit_sm written has
    /// had its response read.
    async fn outbox_answered(&self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let c = self
                .gw
                .store
                .read(presence_gw::store::outbox::counts_by_state)
                .await
                .unwrap();
            if c.queued + c.in_flight == 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "outbox not answered: {c:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Drop the SMPP connection (no unbind) and wait for the gateway to bind again.
    async fn drop_link(&self) {
        assert_eq!(self.sim.drop_connections(None), 1);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            self.gw.link.wait_bound(WAIT).await,
            "the gateway binds again"
        );
    }

    /// Let in-flight messages land, then check nothing else arrived for `number`.
    async fn settle_and_count(&self, number: &str, want: usize) {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let t = self.texts(number);
        assert_eq!(t.len(), want, "{number} holds {t:?}");
    }
}

/// A handset that texts in national form (`13500135000`, as a Chinese subscriber's phone
/// shows its own number) is the subscriber `+8613500135000`: the simulated network presents
/// it internationally, the reply reaches that same handset, and WHO finds it by either form.
#[tokio::test]
async fn a_handset_known_by_its_national_number_is_one_subscriber() {
    let w = World::start().await;
    let r = w.say("13500135000", "STATUS ALL DRIVING").await;
    assert!(r.starts_with("Set: "), "{r}");
    assert_eq!(
        w.say(MUM, "WHO 13500135000").await,
        "+8613500135000: DRIVING."
    );
    assert_eq!(
        w.texts(STRANGER).len(),
        1,
        "the reply went to the handset that texted"
    );
}

/// A subscriber sends the same text twice, and the link drops in between (no unbind). The
/// SMSC had answered a request the gateway wrote after the first copy's deliver_sm_resp (the
/// reply's submit_sm): it had read that resp, so it resends nothing, and the second copy is
/// the subscriber's, with a reply of its own (it was taken for a resend and dropped).
#[tokio::test]
async fn the_same_text_after_a_drop_is_a_new_command_once_the_smsc_had_read_the_answer() {
    let w = World::start().await;
    let text = "WHO 13900139000";
    let first = w.say(OWNER, text).await;
    w.outbox_answered().await;
    w.drop_link().await;
    assert_eq!(
        w.say(OWNER, text).await,
        first,
        "the second copy is answered"
    );
    assert_eq!(w.gw.store.stats().mo_duplicates, 0);
    w.settle_and_count(OWNER, 2).await;
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// The SMSC's own resend after a link drop is still taken once. It stops reading right after
/// it delivered a command (the gateway's deliver_sm_resp and the reply's submit_sm stay
/// unread), then the link drops and it sends the deliver_sm again on the next session. The
/// only response that came after the resp was written answered a submit_sm written BEFORE it,
/// which says nothing of the resp: the resend is a duplicate, run once, answered once.
#[tokio::test]
async fn a_resend_whose_answer_the_smsc_was_not_known_to_have_read_is_run_once() {
    let mut sim = SimConfig::local();
    // The simulator sends the deliver_sm again only when the link drops, not on its own
    // timeout on the stalled session (a copy on the same session is the subscriber's).
    sim.deliver_timeout = Duration::from_secs(120);
    let w = World::start_on(sim, ServiceConfig::default()).await;
    // A submit the SMSC reads now and answers 1.5 s later.
    w.sim.set_faults(smsc_sim::Faults {
        response_delay: Some(smsc_sim::Delay::fixed(1500)),
        ..smsc_sim::Faults::default()
    });
    w.gw.enqueue(presence_gw::store::outbox::NewMessage::sms(MUM, "hello"))
        .await
        .unwrap();
    w.sim.wait_for_mt_to(MUM, 1, WAIT).await.unwrap();
    assert_eq!(w.sim.stop_reading(None), 1);
    let text = "WHO 13900139000";
    let ticket = w
        .sim
        .inject_mo(MoRequest::new(OWNER, SERVICE, text))
        .await
        .unwrap();
    // The gateway answers the command while the submit is still unanswered...
    let acks = || w.gw.link.stats().inbound_ack.snapshot().count();
    let deadline = tokio::time::Instant::now() + WAIT;
    while acks() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the MO was never answered"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let c =
        w.gw.store
            .read(presence_gw::store::outbox::counts_by_state)
            .await
            .unwrap();
    assert_eq!(
        c.submitted + c.delivered,
        0,
        "the submit was answered before the MO's resp: the test proves nothing"
    );
    // ...and reads the submit's response after it.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let c =
            w.gw.store
                .read(presence_gw::store::outbox::counts_by_state)
                .await
                .unwrap();
        if c.submitted + c.delivered >= 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the submit never answered: {c:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    w.sim.set_faults(smsc_sim::Faults::default());
    w.drop_link().await;
    // The SMSC sends the command again on the next session, and it is answered there.
    let id = ticket.record_ids[0];
    w.sim
        .wait_until("the MO sent again and answered", WAIT, |h| {
            h.deliveries().into_iter().find(|d| {
                d.id == id && d.attempts == 2 && d.state == smsc_sim::DeliveryState::Answered(0)
            })
        })
        .await
        .unwrap_or_else(|e| panic!("{e}: {:#?}", w.sim.deliveries()));
    assert_eq!(
        w.gw.store.stats().mo_duplicates,
        1,
        "taken for the resend it is"
    );
    // The reply (its submit_sm never read) goes out on the new session: one reply.
    w.inbox(OWNER, 1).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    w.settle_and_count(OWNER, 1).await;
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

#[tokio::test]
async fn a_long_command_that_lost_a_part_is_answered_after_the_parts_timeout() {
    let w = World::start_with(ServiceConfig {
        parts_timeout: Duration::from_secs(1),
        ..ServiceConfig::default()
    })
    .await;
    let numbers: Vec<String> = (0..15).map(|i| format!("139001390{i:02}")).collect();
    let long = format!("GROUP FAMILY ADD {}", numbers.join(" "));
    assert!(long.len() > 160, "two parts");
    let sent = w
        .sim
        .inject_mo(MoRequest::new(OWNER, SERVICE, &long).lose_part(2))
        .await
        .unwrap();
    assert_eq!(sent.parts, 1, "the network lost part 2");
    let reply = w.inbox(OWNER, 1).await;
    assert_eq!(
        reply[0],
        "Part of your long message did not arrive, so it was not read. Please send it again."
    );
    // Nothing of it was applied; its part is kept, marked expired, and sending the whole
    // message again works.
    let groups = w.say(OWNER, "GROUPS").await;
    assert!(groups.contains("FAMILY(0)"), "{groups}");
    let expired =
        w.gw.store
            .read(|c| {
                c.query_row(
                    "SELECT count(*) FROM inbox_pdu WHERE state = 'expired'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(presence_gw::store::StoreError::from)
            })
            .await
            .unwrap();
    assert_eq!(expired, 1);
    assert!(w
        .say(OWNER, &long)
        .await
        .starts_with("FAMILY now has 15 members"));
    w.settle_and_count(OWNER, 3).await;
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// An MO to another number than the service's was run as a command and answered from the
/// service number. It is acknowledged and kept, but not run, not answered (nor asked for again
/// when a part is lost) and counted on /metrics; the service number written internationally
/// and a configured alias are the service's and answered.
#[tokio::test]
async fn an_mo_to_another_number_is_kept_not_run_and_an_alias_is_answered() {
    let w = World::start_with(ServiceConfig {
        service_aliases: vec!["1065800001".into()],
        parts_timeout: Duration::from_secs(1),
        ..ServiceConfig::default()
    })
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = format!("http://{}/metrics", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(presence_gw::http::serve(
        listener,
        w.gw.http_router(None),
        stop.clone(),
    ));
    // To another number: a command, and a long one whose second part the network lost.
    w.sim
        .inject_mo(MoRequest::new(
            OWNER,
            "10086",
            "GROUP FAMILY ADD 13900139000",
        ))
        .await
        .unwrap();
    let numbers: Vec<String> = (0..15).map(|i| format!("139001390{i:02}")).collect();
    let long = format!("GROUP FRIENDS ADD {}", numbers.join(" "));
    let sent = w
        .sim
        .inject_mo(MoRequest::new(OWNER, "10086", &long).lose_part(2))
        .await
        .unwrap();
    assert_eq!(sent.parts, 1);
    // The same sender to the alias, then to the service number written internationally:
    // answered, in order after the first (one subscriber's messages keep their order), and
    // the ADD sent to 10086 was not run.
    let groups = w.say_to(OWNER, "1065800001", "GROUPS").await;
    assert!(groups.contains("FAMILY(0)"), "{groups}");
    let added = w
        .say_to(OWNER, "+8610658", "GROUP FAMILY ADD 13900139000")
        .await;
    assert!(added.starts_with("FAMILY now has 1 member"), "{added}");
    // Past the parts timeout (looked for every second): the lost part is not asked for.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        w.texts(OWNER),
        vec![groups, added],
        "no reply to what went to 10086"
    );
    // Kept in the inbox, done with.
    let kept =
        w.gw.store
            .read(|c| {
                c.query_row(
                    "SELECT count(*) FROM inbox_message
                     WHERE destination = '10086' AND state = 'processed'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(presence_gw::store::StoreError::from)
            })
            .await
            .unwrap();
    assert_eq!(kept, 1);
    let text = get_text(&reqwest::Client::new(), metrics).await;
    assert!(
        text.contains("\npresence_gw_inbox_misaddressed_total 1\n"),
        "{text}"
    );
    stop.cancel();
    let _ = server.await;
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// `STOP 10086` and `GROUP FAMILY ADD 10086` were answered "looks mistyped"; over the SMSC
/// they now get the service-number answer `WHO 10086` gets, in the sender's language, and
/// change nothing.
#[tokio::test]
async fn a_service_number_given_to_stop_or_group_add_is_called_one() {
    let w = World::start().await;
    let r = w.say(OWNER, "STOP 10086").await;
    assert!(
        r.starts_with(
            "\"10086\" is not a subscriber's phone number (a service number?). \
             STOP and START take a mobile number."
        ),
        "{r}"
    );
    let r = w.say(OWNER, "GROUP FAMILY ADD 10086").await;
    assert!(
        r.starts_with(
            "\"10086\" is not a subscriber's phone number (a service number?). \
             Group members are mobile numbers."
        ),
        "{r}"
    );
    let r = w.say(OWNER, "分组 家人 加 10086").await;
    assert!(
        r.starts_with("“10086”不是用户的手机号码（可能是服务号码）。分组成员请用手机号码。"),
        "{r}"
    );
    let groups = w.say(OWNER, "GROUPS").await;
    assert!(groups.contains("FAMILY(0)"), "{groups}");
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

#[tokio::test]
async fn a_command_that_fails_is_set_aside_and_blocks_nothing() {
    let w = World::start().await;
    w.say(OWNER, "NAME Zhang San").await;
    // A fault in the database: any reply to MUM's number fails (a trigger aborts it), so her
    // command cannot be applied.
    w.gw.store
        .write(|tx| {
            tx.execute_batch(
                "CREATE TRIGGER poison BEFORE INSERT ON outbox
                 WHEN NEW.destination = '+8613900139000'
                 BEGIN SELECT RAISE(ABORT, 'poisoned for the test'); END;",
            )
            .map_err(presence_gw::store::StoreError::from)
        })
        .await
        .unwrap();
    let before = w.texts(OWNER).len();
    for (from, text) in [
        (MUM, "NAME Mum"),
        (OWNER, "GROUP FAMILY ADD 13700137000"),
        (MUM, "WHO 13800138000"),
        (OWNER, "GROUPS"),
    ] {
        w.sim
            .inject_mo(MoRequest::new(from, SERVICE, text))
            .await
            .unwrap();
    }
    // The owner's commands are applied in order, and nobody waits for a restart.
    let owner = w.inbox(OWNER, before + 2).await;
    assert!(
        owner[before].starts_with("FAMILY now has 1 member"),
        "{owner:?}"
    );
    assert!(owner[before + 1].contains("FAMILY(1)"), "{owner:?}");
    // Mum's commands are set aside: processed (not pending for the next start), their PDUs
    // kept.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let pending =
            w.gw.store
                .read(|c| presence_gw::store::inbox::pending_messages(c, 100))
                .await
                .unwrap();
        if pending.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still pending: {pending:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let kept: i64 =
        w.gw.store
            .read(|c| {
                c.query_row(
                    "SELECT count(*) FROM inbox_message WHERE source LIKE '%13900139000'",
                    [],
                    |r| r.get(0),
                )
                .map_err(presence_gw::store::StoreError::from)
            })
            .await
            .unwrap();
    assert_eq!(kept, 2);
    assert!(w.texts(MUM).is_empty());
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

#[tokio::test]
async fn a_failed_push_whose_receipt_came_before_its_response_still_falls_back_to_sms() {
    let mut cfg = ServiceConfig::default();
    cfg.avatar.presets_dir =
        Some(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/presets"));
    let w = World::start_with(cfg).await;
    // Dad's handset refuses the push, and the SMSC writes each receipt before its response.
    w.sim
        .set_receipt_plan(smsc_sim::ReceiptPlan::push_refused_by(DAD));
    let mut faults = w.sim.faults();
    faults.receipt_before_resp = true;
    w.sim.set_faults(faults);
    w.wait_presets(3).await;
    w.say(OWNER, "GROUP FAMILY ADD 13700137000").await;
    w.say(OWNER, "AVATAR 2").await;
    let dad = w.inbox(DAD, 1).await;
    assert!(dad[0].contains("/a/"), "{dad:?}");
    w.settle_and_count(DAD, 1).await;
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// The shipped catalogue carries Chinese titles (`fixtures/presets/titles.csv`): a Chinese
/// subscriber reads them, an English one the English titles.
#[tokio::test]
async fn the_shipped_presets_have_chinese_titles_for_chinese_subscribers() {
    let mut cfg = ServiceConfig::default();
    cfg.avatar.sizes = vec![48];
    cfg.avatar.presets_dir =
        Some(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/presets"));
    let w = World::start_with(cfg).await;
    w.wait_presets(14).await;
    let list = w.say(OWNER, "头像库").await;
    assert!(
        list.starts_with("头像库1/3：1 猫、2 狗、3 猫头鹰、4 鱼、5 花。"),
        "{list}"
    );
    let chosen = w.say(OWNER, "头像 3").await;
    assert_eq!(chosen, "头像已设为3 猫头鹰。将发送给0位联系人。");
    let list = w.say(OWNER, "AVATARS 3").await;
    assert!(
        list.starts_with("Avatars 3/3: 11 Robot, 12 Smile,"),
        "{list}"
    );
    assert_eq!(
        w.say(OWNER, "AVATAR 14").await,
        "Your avatar is now 14 Heart. 0 contacts will get it."
    );
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// A malformed titles file does not keep the gateway from starting with its presets: the
/// pictures load with the titles their file names give, and the rows that could be read
/// still apply.
#[tokio::test]
async fn a_malformed_titles_file_leaves_the_file_name_titles_and_the_gateway_up() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/presets");
    for (titles, first) in [
        // Not a titles file at all (a wrong header): every title from the file names.
        (&b"id;english;chinese\n1;Kitty;\xe5\xb0\x8f\xe7\x8c\xab\n"[..], "1 Cat"),
        // GBK (what a Chinese Excel saves), a row with too many fields, an unknown preset:
        // those rows skipped, the good one applied.
        (
            &b"preset,title,title_zh\n01-cat,Cat,\xb9\xb7\n02-dog,Dog,\xe7\x8b\x97,x\n99-none,No,\xe6\x97\xa0\n03-owl,Owl,\xe7\x8c\xab\xe5\xa4\xb4\xe9\xb9\xb0\n"[..],
            "1 Cat、2 Dog、3 猫头鹰",
        ),
        // Binary rubbish.
        (&[0u8, 0xff, 0xfe, b'"', b'\n', 0x80][..], "1 Cat"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        for name in ["01-cat.png", "02-dog.jpg", "03-owl.png"] {
            std::fs::copy(src.join(name), dir.path().join(name)).unwrap();
        }
        std::fs::write(dir.path().join("titles.csv"), titles).unwrap();
        let mut cfg = ServiceConfig::default();
        cfg.avatar.sizes = vec![48];
        cfg.avatar.presets_dir = Some(dir.path().to_path_buf());
        let w = World::start_with(cfg).await;
        w.wait_presets(3).await;
        let list = w.say(OWNER, "头像库").await;
        assert!(list.starts_with(&format!("头像库1/1：{first}")), "{list}");
        w.gw.shutdown().await;
        w.sim.shutdown().await;
    }
}

#[tokio::test]
async fn english_conversation_from_commands_md() {
    let w = World::start().await;
    assert_eq!(
        w.say(OWNER, "NAME Zhang San").await,
        "Your contacts will see you as \"Zhang San\"."
    );
    let r = w
        .say(OWNER, "GROUP FAMILY ADD 13900139000 13700137000")
        .await;
    assert_eq!(
        r,
        "FAMILY now has 2 members. Set what they see: STATUS FAMILY FREE"
    );
    w.say(OWNER, "group colleagues add +86 136-0013-6000").await;
    let r = w
        .say(OWNER, "STATUS FAMILY FREE, COLLEAGUES MEETING UNTIL 15:00")
        .await;
    assert!(
        r.starts_with("Set: FAMILY sees FREE; COLLEAGUES sees MEETING until "),
        "{r}"
    );
    assert!(r.ends_with("3 contacts will be told."), "{r}");

    // Each member got exactly their group's status, naming the owner; nobody else got anything.
    for m in [MUM, DAD] {
        let t = w.inbox(m, 1).await;
        assert_eq!(
            t[0],
            "Zhang San (+8613800138000): FREE. Reply STOP 8613800138000 to stop these updates."
        );
    }
    let boss = w.inbox(BOSS, 1).await;
    assert!(
        boss[0].starts_with("Zhang San (+8613800138000): MEETING until "),
        "{boss:?}"
    );
    // The handset files the update under the owner, by name (what a phone would show).
    let view = w.sim.handset(MUM);
    let contact = view
        .contact(OWNER)
        .expect("owner is a contact on mum's phone");
    assert_eq!(contact.name.as_deref(), Some("Zhang San"));

    // WHO answers per group.
    let r = w.say(BOSS, "WHO 13800138000").await;
    assert!(
        r.starts_with("Zhang San (+8613800138000): MEETING until "),
        "{r}"
    );
    assert_eq!(
        w.say(MUM, "who 13800138000").await,
        "Zhang San (+8613800138000): FREE."
    );
    assert_eq!(
        w.say(STRANGER, "WHO 13800138000").await,
        "Zhang San (+8613800138000): STANDBY."
    );

    // Mum opts out; the next FAMILY change reaches Dad only.
    let r = w.say(MUM, "TD13800138000").await;
    assert!(
        r.starts_with("You will get no more updates about +8613800138000."),
        "{r}"
    );
    let mum_before = w.texts(MUM).len();
    w.say(OWNER, "STATUS FAMILY BUSY").await;
    let dad = w.inbox(DAD, 2).await;
    assert!(dad[1].contains(": BUSY."), "{dad:?}");
    w.settle_and_count(MUM, mum_before).await;
    w.settle_and_count(BOSS, 2).await; // the update + the WHO reply

    // A timed status reverts when it expires, and the contacts who saw it are told.
    w.say(OWNER, "STATUS FAMILY DRIVING FOR 2H").await;
    let dad = w.inbox(DAD, 3).await;
    assert!(dad[2].contains(": DRIVING until "), "{dad:?}");
    // Bring the expiry forward instead of waiting two hours; the scheduler does the rest.
    let soon = now_ms() + 300;
    w.gw
        .store
        .write(move |tx| {
            tx.execute(
                "UPDATE audience SET expires_at = ?1 WHERE expires_at IS NOT NULL AND name = 'FAMILY'",
                [soon],
            )
            .map_err(presence_gw::store::StoreError::from)
        })
        .await
        .unwrap();
    w.gw.service().unwrap().wake_expiry();
    let dad = w.inbox(DAD, 4).await;
    assert!(
        dad[3].ends_with("(+8613800138000): BUSY. Reply STOP 8613800138000 to stop these updates."),
        "{dad:?}"
    );

    // Network events: INCALL for everyone, then each group's own status back.
    let owner = Msisdn::parse(OWNER, "86").unwrap();
    let service = w.gw.service().unwrap();
    let o = service
        .network_event(owner.clone(), NetworkEvent::CallStarted)
        .await
        .unwrap();
    assert_eq!(o.notified, 2, "Dad and the boss (Mum opted out)");
    assert!(w.inbox(DAD, 5).await[4].contains(": INCALL."));
    assert!(w.inbox(BOSS, 3).await[2].contains(": INCALL."));
    // The same text again a moment later, on the same SMPP session: a second question, not
    // an SMSC resend, so it gets its own answer.
    assert!(w
        .say(STRANGER, "WHO 13800138000")
        .await
        .ends_with("INCALL."));
    service
        .network_event(owner, NetworkEvent::CallEnded)
        .await
        .unwrap();
    assert!(w.inbox(DAD, 6).await[5].contains(": BUSY."));
    assert!(w.inbox(BOSS, 4).await[3].contains(": MEETING until "));
    w.settle_and_count(MUM, mum_before).await;

    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

#[tokio::test]
async fn chinese_conversation_and_long_commands() {
    let w = World::start().await;
    let owner = "+8613800138001";
    let member = "+8613900139001";
    assert_eq!(
        w.say(owner, "名字 李四").await,
        "联系人将看到你的名字：李四。"
    );
    let r = w.say(owner, "分组 同事 加 １３９００１３９００１").await;
    assert_eq!(r, "同事现有1人。设置他们看到的状态：状态 同事 空闲");
    let r = w.say(owner, "状态 同事 开会 到15:00").await;
    assert!(r.starts_with("已设置：同事看到“开会”至"), "{r}");
    assert!(r.ends_with("将通知1位联系人。"), "{r}");
    // The member is not a subscriber: the update is in the owner's language.
    let t = w.inbox(member, 1).await;
    assert!(t[0].starts_with("李四(+8613800138001)：“开会”至"), "{t:?}");
    assert!(t[0].ends_with("回复TD8613800138001退订。"), "{t:?}");
    let r = w.say(member, "查13800138001").await;
    assert!(r.starts_with("李四(+8613800138001)：“开会”至"), "{r}");

    // A free-text status in a command long enough for two UCS-2 parts, sent as SAR and then
    // as UDH-16 (random references, so the second is no resend).
    let status = "在北京出差，下周一回来，急事请发短信给我的助理王小姐谢谢大家";
    // Quoted, the text keeps its full-width commas (outside quotes NFKC folds them).
    let cmd = format!("状态 同事 \"{status}\"；家人 \"{status}\"");
    assert!(cmd.chars().count() > 70);
    let r = w.say_styled(owner, &cmd, MoStyle::Sar).await;
    assert!(
        r.contains(status) && r.ends_with("将通知1位联系人。"),
        "{r}"
    );
    let t = w.inbox(member, 3).await; // first update, the WHO reply, this update
    assert!(t[2].contains(status), "{t:?}");
    // The same command again changes nothing anyone sees: nobody is told.
    let r = w.say_styled(owner, &cmd, MoStyle::Udh16).await;
    assert!(r.ends_with("将通知0位联系人。"), "{r}");
    w.settle_and_count(member, 3).await;

    // A burst of changes to a family of two, sent without waiting for the replies: each member
    // ends with the latest status (those in between may be coalesced away), in Chinese.
    let (mum, dad) = ("+8613900139011", "+8613700137011");
    let r = w.say(owner, "分组 家人 加 13900139011 13700137011").await;
    assert!(r.starts_with("家人现有2人。"), "{r}");
    let before = w.texts(owner).len();
    for s in ["忙", "开车", "空闲"] {
        w.sim
            .inject_mo(MoRequest::new(owner, SERVICE, &format!("状态 家人 {s}")))
            .await
            .expect("MO injected");
    }
    w.inbox(owner, before + 3).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    for m in [mum, dad] {
        let t = w.texts(m);
        assert!((1..=3).contains(&t.len()), "{m}: {t:?}");
        assert!(t.last().unwrap().contains("：“空闲”。"), "{m}: {t:?}");
    }
    // 退订 in Chinese: the next change reaches only the other member.
    let (mum_had, dad_had) = (w.texts(mum).len(), w.texts(dad).len());
    let r = w.say(dad, "退订 13800138001").await;
    assert!(r.contains("+8613800138001"), "{r}");
    let r = w.say(owner, "状态 家人 开会").await;
    assert!(r.ends_with("将通知1位联系人。"), "{r}");
    assert!(w.inbox(mum, mum_had + 1).await[mum_had].contains("：“开会”。"));
    w.settle_and_count(dad, dad_had + 1).await; // only the 退订 reply

    // Garbage gets help, never silence.
    // (One SMS where it can be: the quote and the help did not fit one, the help alone does.)
    let r = w.say(owner, "😀😀").await;
    assert!(r.starts_with("命令：") || r.starts_with("Commands:"), "{r}");
    assert_eq!(presence_gw::service::replies::segments(&r), 1, "{r}");
    let r = w.say(STRANGER, "").await;
    assert!(r.starts_with("Commands:"), "{r}");

    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// What an owner's contacts can see of them: the subscriber row, every audience (status,
/// expiry, what it reverts to), every membership and opt-out, and how many outbox rows are
/// addressed to the owner's members.
async fn owner_state(w: &World, owner: &'static str) -> String {
    w.gw.store
        .read(move |c| {
            let q =
                |sql: &str| -> rusqlite::Result<String> { c.query_row(sql, [owner], |r| r.get(0)) };
            let parts = [
                q(
                    "SELECT coalesce(display_name, '') || '/' || lang || '/' || stop_all || '/' ||
                          privacy || '/' || coalesce(net_state, '') FROM subscriber
                   WHERE msisdn = ?1",
                )?,
                q(
                    "SELECT coalesce(group_concat(a, ';'), '') FROM (SELECT name || '=' ||
                          status_code || ':' || coalesce(status_text, '') || ':' ||
                          coalesce(expires_at, '') || ':' || coalesce(prev_code, '') || ':' ||
                          set_seq AS a FROM audience WHERE owner = ?1 ORDER BY name)",
                )?,
                q(
                    "SELECT coalesce(group_concat(m, ';'), '') FROM (SELECT audience_id ||
                          '>' || member AS m FROM membership WHERE owner = ?1
                          ORDER BY audience_id, member)",
                )?,
                q("SELECT count(*) || ' opt-outs' FROM optout WHERE owner = ?1")?,
                q(
                    "SELECT count(*) || ' messages to members' FROM outbox WHERE destination IN
                   (SELECT member FROM membership WHERE owner = ?1)",
                )?,
            ];
            Ok::<_, presence_gw::store::StoreError>(parts.join("\n"))
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn malformed_input_over_smpp_gets_helpful_replies_and_changes_nothing() {
    let w = World::start().await;
    w.say(OWNER, "GROUP FAMILY ADD 13900139000 13700137000")
        .await;
    w.say(OWNER, "STATUS FAMILY FREE").await;
    w.inbox(MUM, 1).await;
    w.inbox(DAD, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = owner_state(&w, OWNER).await;

    // Over the real wire: the control characters and the Chinese travel as UCS-2, the emoji as
    // UTF-16 surrogate pairs, the 500 characters as four concatenated parts (UDH-8, SAR,
    // message_payload and UDH-16 in turn). Each gets a reply and none changes what the
    // owner's contacts see.
    let corpus: Vec<String> = vec![
        String::new(),
        "   ".into(),
        "😀😀😀".into(),
        "x".repeat(500),
        "WHO 123456789012345678901234567890".into(),
        "'; DROP TABLE subscriber; --".into(),
        "GROUP FAMILY ADD 12".into(),
        "GROUP FAMILY DEL 123456789012345678901234567890".into(),
        "STATUS FAMILY".into(),
        "STATUS FAMILY INCALL".into(),
        "STATUS NOSUCHGROUP FREE".into(),
        "STATUS FAMILY FREE UNTIL 25:00".into(),
        "状态 家人".into(),
        "\u{0}\u{1b}\u{7f}".into(),
        // Mixed scripts that are no valid command.
        "WHO １３８abc００一二三".into(),
        "分组 FAMILY 加 ＋86 一三九".into(),
        "状态 FAMILY 空闲 到25:00".into(),
        // A typo: the corrected command is offered, not carried out.
        "STAUTS FAMILY BUSY".into(),
        "STOP 12".into(), // last in English: the reply language follows the last command
    ];
    let styles = [
        MoStyle::Udh8,
        MoStyle::Sar,
        MoStyle::Payload,
        MoStyle::Udh16,
    ];
    let mut owner_replies = std::collections::HashMap::new();
    for (i, text) in corpus.iter().enumerate() {
        for from in [OWNER, STRANGER] {
            let reply = w.say_styled(from, text, styles[i % styles.len()]).await;
            assert!(!reply.trim().is_empty(), "{from} {text:?}: empty reply");
            assert!(
                presence_gw::service::replies::segments(&reply) <= 3,
                "{from} {text:?}: a reply of {} segments: {reply}",
                presence_gw::service::replies::segments(&reply)
            );
            assert!(
                !reply.contains("DROP TABLE") && !reply.to_lowercase().contains("sql"),
                "{from} {text:?}: the reply leaks internals: {reply}"
            );
            if from == OWNER {
                owner_replies.insert(text.as_str(), reply);
            }
        }
    }
    // The reply names what was wrong (a repeat of the same text within the inbox's dedup window
    // would be taken for an SMSC resend, so these are the corpus's own replies).
    let reply = |text: &str| owner_replies[text].clone();
    assert!(reply("").starts_with("Commands: "), "{}", reply(""));
    // Unknown input: the short help, in one SMS (the quote of the input took a second).
    assert!(
        reply("😀😀😀").starts_with("Commands: "),
        "{}",
        reply("😀😀😀")
    );
    let r = reply("WHO 123456789012345678901234567890");
    assert!(
        r.contains("is not a phone number: too many digits (15 at most with the country code)"),
        "{r}"
    );
    let r = reply("GROUP FAMILY ADD 12");
    assert!(
        r.starts_with("\"12\" is not a phone number: too few digits."),
        "{r}"
    );
    let r = reply("STATUS FAMILY");
    assert!(r.starts_with("Which status should \"FAMILY\" see?"), "{r}");
    let r = reply("STATUS FAMILY INCALL");
    assert!(r.contains("set by the network"), "{r}");
    let r = reply("STATUS NOSUCHGROUP FREE");
    assert_eq!(r, "You have no group NOSUCHGROUP. GROUPS lists yours.");
    let r = reply("STATUS FAMILY FREE UNTIL 25:00");
    assert!(r.starts_with("\"UNTIL 25:00\" is not a time of day"), "{r}");
    let r = reply("状态 家人");
    assert!(r.starts_with("“家人”要看到什么状态？"), "{r}");
    let r = reply("状态 FAMILY 空闲 到25:00");
    assert!(r.contains("25:00"), "{r}");
    let r = reply("STAUTS FAMILY BUSY");
    // The suggestion at the end (so it can be sent back as it is), in one SMS: the short
    // help after it would have made two.
    assert_eq!(
        r,
        "Sorry, \"STAUTS\" is not a command. Did you mean: STATUS FAMILY BUSY"
    );
    let r = reply("WHO １３８abc００一二三");
    assert!(r.contains("138abc00"), "{r}");

    // Nothing the owner's contacts see has changed, no update was queued for them, and the
    // gateway still works: the members' inboxes hold only the first update, and WHO answers.
    assert_eq!(owner_state(&w, OWNER).await, before);
    w.settle_and_count(MUM, 1).await;
    w.settle_and_count(DAD, 1).await;
    assert!(w.say(MUM, "WHO 13800138000").await.ends_with(": FREE."));
    assert_eq!(
        w.gw.link
            .stats()
            .malformed
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "every MO was a well-formed PDU"
    );
}

/// Three assignments texted without the commas between them are asked about (every comma
/// shown, in English and Chinese), never stored as one group's text naming the others; the
/// command as offered sets all three; a group word inside a text stays text.
#[tokio::test]
async fn assignments_run_together_are_asked_about_and_a_group_word_in_a_text_is_text() {
    let w = World::start().await;
    w.say(OWNER, "GROUP FAMILY ADD 13900139000").await;
    w.say(OWNER, "GROUP COLLEAGUES ADD 13600136000").await;
    let before = owner_state(&w, OWNER).await;
    let r = w
        .say(
            OWNER,
            "STATUS FAMILY free COLLEAGUES in a meeting OTHERS busy",
        )
        .await;
    assert_eq!(
        r,
        "3 statuses? Put a comma before \"COLLEAGUES\" and \"OTHERS\": STATUS FAMILY free, \
         COLLEAGUES in a meeting, OTHERS busy. One text? Put it in quotes."
    );
    let r = w.say(OWNER, "状态 家人 空闲 同事 在开会 其他 忙").await;
    assert_eq!(
        r,
        "是3个状态吗？请在“同事”和“其他”前加逗号：状态 家人 空闲，同事 在开会，其他 忙。\
         如是一句话，请加引号。"
    );
    // Nothing was set (only the reply language followed the Chinese keywords).
    assert_eq!(
        owner_state(&w, OWNER).await,
        before.replacen("/en/", "/zh/", 1)
    );
    w.settle_and_count(MUM, 0).await;
    w.settle_and_count(BOSS, 0).await;

    // The command as offered: each group its own status.
    let r = w
        .say(
            OWNER,
            "STATUS FAMILY free, COLLEAGUES in a meeting, OTHERS busy",
        )
        .await;
    assert!(
        r.starts_with("Set: FAMILY sees FREE; COLLEAGUES sees "),
        "{r}"
    );
    assert!(w.inbox(MUM, 1).await[0].contains(": FREE."));
    assert!(w.inbox(BOSS, 1).await[0].contains("in a meeting"));
    assert!(w
        .say(STRANGER, "WHO 13800138000")
        .await
        .ends_with(": BUSY."));

    // "family" inside a text is the text.
    let r = w.say(OWNER, "STATUS OTHERS with family").await;
    assert!(r.starts_with("Set: OTHERS sees "), "{r}");
    let r = w.say(STRANGER, "WHO 13800138000").await;
    assert!(r.contains("with family"), "{r}");

    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// `半天` after a built-in status says no definite length: refused, in Chinese, with the forms
/// that say how long, and nothing is set; after free text (`等了半天`, "waited ages") it is part
/// of the text and lasts.
#[tokio::test]
async fn ban_tian_after_a_built_in_status_is_refused_and_after_text_is_text() {
    let w = World::start().await;
    w.say(OWNER, "分组 家人 加 13900139000").await;
    let r = w.say(OWNER, "状态 家人 忙半天").await;
    assert!(
        r.starts_with("“半天”说不准是多久。") && r.contains("4小时") && r.contains("到12:00"),
        "{r}"
    );
    // Nothing was set: the family still sees the default, with no end.
    let r = w.say(MUM, "WHO 13800138000").await;
    assert!(r.contains("STANDBY") && !r.contains("until"), "{r}");

    let r = w.say(OWNER, "状态 其他 等了半天").await;
    assert!(r.starts_with("已设置：其他看到“等了半天”。"), "{r}");
    let r = w.say(STRANGER, "WHO 13800138000").await;
    assert!(r.contains("等了半天") && !r.contains(" until "), "{r}");

    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// A Chinese keyword a character away gets the command meant offered back in Chinese (not
/// carried out), as an English typo gets it in English.
#[tokio::test]
async fn a_chinese_keyword_typo_gets_the_command_offered_in_chinese() {
    let w = World::start().await;
    w.say(OWNER, "分组 家人 加 13900139000").await;
    let before = owner_state(&w, OWNER).await;
    let r = w.say(OWNER, "状太 家人 忙").await;
    assert_eq!(r, "“状太”不是命令。你是不是想发：状态 家人 忙");
    let r = w.say(OWNER, "退定13900139000").await;
    assert_eq!(r, "“退定”不是命令。你是不是想发：退订13900139000");
    assert_eq!(
        owner_state(&w, OWNER).await,
        before,
        "nothing was carried out"
    );
    w.settle_and_count(MUM, 0).await;
    // The command as offered works.
    let r = w.say(OWNER, "状态 家人 忙").await;
    assert!(r.starts_with("已设置：家人看到“忙碌”"), "{r}");

    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

#[tokio::test]
async fn a_timed_status_that_expires_while_the_gateway_is_down_reverts_at_restart() {
    let w = World::start().await;
    w.say(OWNER, "NAME Zhang San").await;
    w.say(OWNER, "GROUP FAMILY ADD 13900139000 13700137000")
        .await;
    w.say(OWNER, "STATUS FAMILY BUSY").await;
    let r = w.say(OWNER, "STATUS FAMILY DRIVING FOR 2H").await;
    assert!(r.starts_with("Set: FAMILY sees DRIVING until "), "{r}");
    for member in [MUM, DAD] {
        let t = w.inbox(member, 2).await;
        assert!(t[1].contains(": DRIVING until "), "{t:?}");
    }

    // The gateway is down when the two hours end (here: the expiry is moved into the past
    // while it is stopped). The expiry lives in SQLite, not in a timer, so the next start
    // reverts it and tells the contacts who saw it.
    let w = w
        .restart(|db| {
            let past = now_ms() - 60_000;
            let n = db
                .execute(
                    "UPDATE audience SET expires_at = ?1 WHERE owner = ?2 AND name = 'FAMILY'",
                    rusqlite::params![past, OWNER],
                )
                .unwrap();
            assert_eq!(n, 1, "one timed audience");
        })
        .await;
    for member in [MUM, DAD] {
        let t = w.inbox(member, 3).await;
        assert_eq!(
            t[2],
            "Zhang San (+8613800138000): BUSY. Reply STOP 8613800138000 to stop these updates.",
            "{member}: {t:?}"
        );
    }
    assert_eq!(
        w.say(MUM, "WHO 13800138000").await,
        "Zhang San (+8613800138000): BUSY."
    );
    // Reverted once: nothing more arrives.
    w.settle_and_count(DAD, 3).await;
}

#[tokio::test]
async fn operator_api_events_health_and_metrics_over_http() {
    let w = World::start().await;
    let key = "k3y-for-the-operator-api";
    let (base, stop, server) = serve_api(&w, key).await;
    let http = reqwest::Client::new();

    let health = http.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["store"], "ok");
    assert!(
        body["smsc_address"]
            .as_str()
            .is_some_and(|a| a.contains(':')),
        "the bound SMSC address: {body}"
    );
    // A first scrape before any message: the store writer counts the outbox now, and keeps
    // the gauges from then on (checked at the end against the table).
    let first = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(first.status(), 200);

    w.say(OWNER, "GROUP FAMILY ADD 13900139000").await;
    let events = format!("{base}/api/v1/events");
    let call = serde_json::json!({"msisdn": "+8613800138000", "event": "call_started"});
    // Missing, wrong and right keys.
    let r = http.post(&events).json(&call).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = api(&http, &events, "wrong-key-wrong-key", &call).await;
    assert_eq!(r.status(), 403);
    // The scheme name is case-insensitive; a lower-case `bearer` with a wrong key is a 403,
    // not a missing key.
    let r = http
        .post(&events)
        .header("authorization", "bearer wrong-key-wrong-key")
        .json(&call)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // The key is checked before the body is read, on every operator route.
    for route in ["activity", "handsets", "avatars/sync"] {
        let r = http
            .post(format!("{base}/api/v1/{route}"))
            .header("content-type", "application/json")
            .body("{ not json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{route}");
    }
    let r = api(
        &http,
        &events,
        key,
        &serde_json::json!({"msisdn": "+8613800138000", "event": "dancing"}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = api(
        &http,
        &events,
        key,
        &serde_json::json!({"msisdn": "12", "event": "power_off"}),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(w.texts(MUM).len(), 0, "rejected requests changed nothing");
    let r = api(&http, &events, key, &call).await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["notified"], 1);
    assert!(w.inbox(MUM, 1).await[0].contains(": INCALL."));

    let text = get_text(&http, format!("{base}/metrics")).await;
    for want in [
        "presence_gw_smpp_bound 1",
        "presence_gw_commands_total{command=\"group_add\"} 1",
        "presence_gw_commands_total{command=\"network_event\"} 1",
        "presence_gw_fanout_notifications_total 1",
        "presence_gw_http_requests_total{route=\"/api/v1/events\",status=\"401\"} 1",
        "presence_gw_http_requests_total{route=\"/api/v1/events\",status=\"403\"} 2",
        "presence_gw_outbox_messages{state=\"queued\"}",
        "presence_gw_store_retried_writes_total 0",
        "presence_gw_receipt_gate_gave_up_total 0",
        "presence_gw_receipt_gate_wait_seconds_count",
    ] {
        assert!(text.contains(want), "metrics lack {want:?}:\n{text}");
    }
    // The latency histograms: every inbound PDU (the GROUP command at least) and every write
    // transaction is counted, and the +Inf bucket holds them all.
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("metrics lack {name}:\n{text}"))
    };
    for h in [
        "presence_gw_smpp_inbound_ack_seconds",
        "presence_gw_store_transaction_seconds",
    ] {
        let count = value(&format!("{h}_count"));
        assert!(count >= 1.0, "{h}: {count}");
        assert_eq!(value(&format!("{h}_bucket{{le=\"+Inf\"}}")), count, "{h}");
        assert!(value(&format!("{h}_sum")) > 0.0, "{h}");
    }
    assert!(
        value("presence_gw_store_requests_total") >= value("presence_gw_store_commits_total"),
        "a commit holds one request or more"
    );
    assert!(
        value("presence_gw_store_transaction_seconds_count")
            >= value("presence_gw_store_commits_total")
    );
    // No max_rate and no throttling: the rate limit is described but has no sample (it
    // showed the limiter's stand-in 1e6); the dispatcher's working rate is the window over
    // the smoothed response time of the submits answered so far (below 1e6 a second).
    assert!(
        text.contains("# HELP presence_gw_smpp_submit_rate_limit "),
        "{text}"
    );
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("presence_gw_smpp_submit_rate_limit")),
        "a rate limit sample with no limit:\n{text}"
    );
    let response = value("presence_gw_smpp_submit_response_seconds");
    let expected = value("presence_gw_smpp_submit_rate_expected");
    assert!(response > 0.0 && response < 5.0, "{response}");
    let by_window = presence_gw::smpp::LinkConfig::default().window as f64 / response;
    assert!(
        (expected - by_window.min(1e6)).abs() <= expected * 0.01,
        "expected rate {expected}, window over response time {by_window}"
    );
    assert!(!text.contains("8613800138000"), "no MSISDN in metrics");
    assert!(!text.contains(key));
    // The cancels' HELP says how long an SMSC without cancel_sm is left alone, as the
    // gateway does it (it said "until the next bind", which has not been so since
    // `[smsc] no_cancel_memory_hours`).
    let cancels_help = text
        .lines()
        .find(|l| l.starts_with("# HELP presence_gw_smpp_cancels_total "))
        .unwrap_or_default();
    assert!(
        cancels_help.contains("[smsc] no_cancel_memory_hours")
            && !cancels_help.contains("until the next bind"),
        "{cancels_help}"
    );

    // The outbox gauges (kept by the store writer, not counted per scrape) equal a count of
    // the table once nothing moves: messages went out and receipts came back meanwhile.
    let states = presence_gw::store::outbox::OutboxState::ALL;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = get_text(&http, format!("{base}/metrics")).await;
        let scraped: Vec<u64> = states
            .iter()
            .map(|s| {
                let name = format!("presence_gw_outbox_messages{{state=\"{}\"}} ", s.as_str());
                text.lines()
                    .find_map(|l| l.strip_prefix(name.as_str())?.parse().ok())
                    .unwrap_or_else(|| panic!("metrics lack {name}:\n{text}"))
            })
            .collect();
        let counts =
            w.gw.store
                .read(presence_gw::store::outbox::counts_by_state)
                .await
                .unwrap();
        let table: Vec<u64> = states.iter().map(|&s| counts.get(s)).collect();
        // The running total of outcomes: in this fresh database every delivered row is one
        // the gateway took there (and a purge would not lower it).
        let delivered_total: Option<u64> = text.lines().find_map(|l| {
            l.strip_prefix("presence_gw_outbox_outcomes_total{state=\"delivered\"} ")?
                .parse()
                .ok()
        });
        if scraped == table && counts.delivered >= 1 && delivered_total == Some(counts.delivered) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "scraped {scraped:?}, table {table:?} (states {states:?}), \
             delivered total {delivered_total:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Malformed bodies: a clear 400 naming what is wrong, and nothing changes.
    for (bad, names) in [
        (serde_json::json!({"msisdn": "+8613800138000"}), "event"),
        (
            serde_json::json!({"msisdn": 8613800138000u64, "event": "call_ended"}),
            "msisdn",
        ),
        (
            serde_json::json!({"msisdn": "+8613800138000", "event": "call_ended", "x": 1}),
            "x",
        ),
    ] {
        let r = api(&http, &events, key, &bad).await;
        assert_eq!(r.status(), 400, "{bad}");
        let body: serde_json::Value = r.json().await.unwrap();
        let why = body["error"].as_str().unwrap_or_default();
        assert!(why.contains(names), "{bad}: {why}");
    }
    let r = http
        .post(&events)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Too big (5 MB of activity rows): 413 naming the limit, not a 400 "length limit
    // exceeded" (from the exploratory tester).
    let row =
        r#"{"msisdn":"+8613800138000","call_minutes":1,"sms_sent":1,"tenure_days":1,"level":1},"#;
    let mut big = String::from("[");
    while big.len() < 5 * 1024 * 1024 {
        big.push_str(row);
    }
    big.pop();
    big.push(']');
    let r = http
        .post(format!("{base}/api/v1/activity"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let body: serde_json::Value = r.json().await.unwrap();
    let why = body["error"].as_str().unwrap_or_default();
    assert!(why.contains("2 MiB"), "{why}");
    // Declared far over the limit, then silent: refused at once, before any of the body is
    // read (it was waited for).
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let host = base.strip_prefix("http://").unwrap();
        let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
        let head = format!(
            "POST /api/v1/activity HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n\
             Content-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n[{{"
        );
        s.write_all(head.as_bytes()).await.unwrap();
        let mut answer = vec![0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut answer))
            .await
            .expect("answered at once, not after the body timeout")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer[..n]);
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains("2 MiB"), "{answer}");
    }
    assert_eq!(w.texts(MUM).len(), 1, "malformed requests changed nothing");
    // The other three events, and the order rules: OFF outranks a call; a call that starts
    // or ends while the phone is off changes nothing; power_on restores the statuses.
    let ev = |event: &str| serde_json::json!({"msisdn": "+8613800138000", "event": event});
    let mut told = Vec::new();
    for event in [
        "call_ended",
        "power_off",
        "call_started",
        "call_ended",
        "power_on",
    ] {
        let r = api(&http, &events, key, &ev(event)).await;
        assert_eq!(r.status(), 200, "{event}");
        let body: serde_json::Value = r.json().await.unwrap();
        told.push(body["notified"].as_u64().unwrap());
    }
    assert_eq!(told, [1, 1, 0, 0, 1]);
    let mum = w.inbox(MUM, 4).await;
    assert!(mum[1].contains(": STANDBY."), "{mum:?}");
    assert!(mum[2].contains(": OFF."), "{mum:?}");
    assert!(mum[3].contains(": STANDBY."), "{mum:?}");
    w.settle_and_count(MUM, 4).await;

    // Activity rows for the upload thresholds; a bad number is reported, the rest kept.
    let r = api(&http, format!("{base}/api/v1/activity"), key, &serde_json::json!([
            {"msisdn": "13800138000", "call_minutes": 900, "sms_sent": 1, "tenure_days": 2, "level": 0},
            {"msisdn": "abc", "call_minutes": 1, "sms_sent": 1, "tenure_days": 1, "level": 1}
        ])).await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["imported"], 1);
    assert_eq!(body["skipped"][0]["index"], 1);
    let upload = w.say(OWNER, "AVATAR UPLOAD").await;
    assert!(upload.starts_with("Upload your picture"), "{upload}");
    let r = api(
        &http,
        format!("{base}/api/v1/handsets"),
        key,
        &serde_json::json!({"msisdn": "+8613900139000", "wap_push": false}),
    )
    .await;
    assert_eq!(r.status(), 200);

    // With no key configured the API is off.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let off = format!("http://{}/api/v1/events", listener.local_addr().unwrap());
    tokio::spawn(presence_gw::http::serve(
        listener,
        w.gw.http_router(None),
        stop.clone(),
    ));
    let r = api(&http, &off, key, &call).await;
    assert_eq!(r.status(), 403);

    // Not bound: not ready.
    w.sim.shutdown().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let r = http.get(format!("{base}/health")).send().await.unwrap();
        if r.status() == 503 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "health still ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    server.await.unwrap().unwrap();
    w.gw.shutdown().await;
}

#[tokio::test]
async fn ussd_session_sets_a_status_with_the_same_fan_out_as_sms() {
    let mut cfg = ServiceConfig::default();
    cfg.ussd.timeout_ms = 1500;
    let w = World::start_with(cfg).await;
    w.say(OWNER, "NAME Zhang San").await;
    w.say(OWNER, "GROUP FAMILY ADD 13900139000 13700137000")
        .await;

    let (menu, open) = w.dial(OWNER, "*123#").await;
    assert!(open, "the main menu waits for an answer");
    assert!(
        menu.contains("1 Set my status") && menu.contains("00 Exit"),
        "{menu}"
    );
    let (targets, _) = w.dial(OWNER, "1").await;
    assert!(targets.starts_with("Who sees it?\n1 FAMILY"), "{targets}");
    let (bad, open) = w.dial(OWNER, "x").await;
    assert!(
        open && bad.starts_with("Invalid choice.\n1 FAMILY"),
        "{bad}"
    );
    let (statuses, _) = w.dial(OWNER, "1").await;
    assert!(statuses.starts_with("Status for FAMILY:"), "{statuses}");
    let (how_long, _) = w.dial(OWNER, "1").await;
    assert!(how_long.starts_with("For how long?"), "{how_long}");
    let (done, open) = w.dial(OWNER, "3").await;
    assert!(!open, "the last screen closes the session");
    assert!(
        done.starts_with("Set: FAMILY sees FREE until ")
            && done.ends_with("2 contacts will be told."),
        "{done}"
    );
    // Exactly what the SMS command sends: same text, same members.
    for m in [MUM, DAD] {
        let t = w.inbox(m, 1).await;
        assert!(
            t[0].starts_with("Zhang San (+8613800138000): FREE until ")
                && t[0].ends_with(". Reply STOP 8613800138000 to stop these updates."),
            "{t:?}"
        );
    }
    w.settle_and_count(BOSS, 0).await;
    // Chinese subscriber, direct string to WHO.
    let other = "+8613800138009";
    w.say(other, "语言 中文").await;
    let (prompt, open) = w.dial(other, "*123*4#").await;
    assert!(open && prompt.starts_with("请输入号码"), "{prompt}");
    let (who, open) = w.dial(other, "13800138000").await;
    assert!(!open);
    assert!(who.starts_with("Zhang San(+8613800138000)："), "{who}");
    // The user aborts (the vendor's op 0x81): no screen comes back, the session is over.
    w.dial(OWNER, "*123#").await;
    let screens = w.sim.handset(OWNER).ussd.len();
    w.sim
        .inject_ussd(smsc_sim::UssdRequest {
            from: OWNER.into(),
            to: "*123#".into(),
            text: String::new(),
            new_session: false,
            op: Some(0x81),
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        w.sim.handset(OWNER).ussd.len(),
        screens,
        "no answer to an abort"
    );
    let (ended, open) = w.dial_op(OWNER, "1", Some(18)).await;
    assert!(
        !open && ended.starts_with("Your session has ended."),
        "{ended}"
    );
    // A session left idle times out: the next answer is told to dial again.
    w.dial(OWNER, "*123#").await;
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let (ended, open) = w.dial(OWNER, "1").await;
    assert!(
        !open && ended.starts_with("Your session has ended. Dial *123# again."),
        "{ended}"
    );
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// POST `body` to `url` with chunked transfer encoding (no `Content-Length`), over a plain
/// TCP stream as a handset's browser might; returns the raw answer. Stops sending once the
/// server answers.
async fn post_chunked(url: &str, content_type: &str, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(8 * 1024) {
        let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
        frame.extend_from_slice(chunk);
        frame.extend_from_slice(b"\r\n");
        if s.write_all(&frame).await.is_err() {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// The avatar routes over real HTTP at sizes 48 and 96 (96 the default), the preset catalogue
/// loaded, Mum in the owner's FAMILY and the owner's avatar preset 3, with Mum's link token.
struct AvatarHttp {
    w: World,
    base: String,
    stop: tokio_util::sync::CancellationToken,
    http: reqwest::Client,
    token: String,
}

impl AvatarHttp {
    async fn start() -> AvatarHttp {
        AvatarHttp::start_on(SimConfig::local()).await
    }

    /// [`AvatarHttp::start`] on a simulator configured as `sim`.
    async fn start_on(sim: SimConfig) -> AvatarHttp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut cfg = ServiceConfig::default();
        cfg.avatar.public_url = base.clone();
        cfg.avatar.sizes = vec![48, 96];
        cfg.avatar.default_size = 96;
        cfg.avatar.presets_dir =
            Some(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/presets"));
        let w = World::start_on(sim, cfg).await;
        let stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn(presence_gw::http::serve(
            listener,
            w.gw.http_router(None),
            stop.clone(),
        ));
        let http = reqwest::Client::new();
        w.wait_presets(14).await;
        w.say(OWNER, "GROUP FAMILY ADD 13900139000").await;
        let r = w.say(OWNER, "AVATAR 3").await;
        assert!(r.starts_with("Your avatar is now 3 Owl."), "{r}");
        let token =
            w.gw.store
                .write(|tx| presence_gw::service::avatar::link_token(tx, OWNER, MUM, 0))
                .await
                .unwrap();
        AvatarHttp {
            w,
            base,
            stop,
            http,
            token,
        }
    }
}

/// A query value the avatar routes cannot read is that parameter's default, over real HTTP:
/// `?s=abc` on a preset or a contact's link is the default size (the same picture, the same
/// ETag), never axum's "Failed to deserialize query string" 400; the gallery's `?page=abc`
/// was already the first page.
#[tokio::test]
async fn an_unreadable_query_value_is_the_default_on_every_avatar_route() {
    let AvatarHttp {
        w,
        base,
        stop,
        http,
        token,
    } = AvatarHttp::start().await;
    for url in [format!("{base}/p/3"), format!("{base}/a/{token}")] {
        let plain = http.get(&url).send().await.unwrap();
        assert_eq!(plain.status(), 200, "{url}");
        let etag = plain.headers()["etag"].clone();
        for bad in [
            "s=abc",
            "s=-1",
            "s=",
            "s=1e3",
            "s=99999999999",
            "s=abc&page=x",
        ] {
            let r = http.get(format!("{url}?{bad}")).send().await.unwrap();
            assert_eq!(r.status(), 200, "{url}?{bad}");
            assert_eq!(r.headers()["content-type"], "image/jpeg", "{url}?{bad}");
            assert_eq!(r.headers()["etag"], etag, "{url}?{bad}: the default size");
        }
        // The format is still read beside a size that is not.
        let gif = http.get(format!("{url}?f=gif")).send().await.unwrap();
        let r = http.get(format!("{url}?s=abc&f=gif")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        assert_eq!(r.headers()["content-type"], "image/gif", "{url}");
        assert_eq!(r.headers()["etag"], gif.headers()["etag"], "{url}");
        // A size that is a number is still the size asked for.
        let small = http.get(format!("{url}?s=48")).send().await.unwrap();
        assert_eq!(small.status(), 200, "{url}");
        assert_ne!(small.headers()["etag"], etag, "{url}");
    }
    let page = http
        .get(format!("{base}/gallery?page=abc&s=abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    stop.cancel();
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// Avatar downloads honour one byte range over real HTTP, on a preset and on a contact's link:
/// 206 with `Content-Range` and just those bytes (`a-b`, `a-`, `-n`, or the one range of a set
/// that has bytes in the picture), 416 with `bytes */len` when no range has any, the whole
/// picture (200) for several ranges in it, a range that is not valid or an `If-Range` of
/// another version; every answer says `Accept-Ranges: bytes`. They answered 200 with
/// everything.
#[tokio::test]
async fn avatar_downloads_answer_a_single_byte_range() {
    let AvatarHttp {
        w,
        base,
        stop,
        http,
        token,
    } = AvatarHttp::start().await;
    for url in [format!("{base}/p/3"), format!("{base}/a/{token}")] {
        let whole = http.get(&url).send().await.unwrap();
        assert_eq!(whole.status(), 200, "{url}");
        assert_eq!(whole.headers()["accept-ranges"], "bytes", "{url}");
        let etag = whole.headers()["etag"].to_str().unwrap().to_string();
        let full = whole.bytes().await.unwrap().to_vec();
        let len = full.len();
        assert!(len > 20, "{url}");
        let get = |range: String, if_range: Option<&str>| {
            let mut req = http.get(&url).header("range", range);
            if let Some(v) = if_range {
                req = req.header("if-range", v);
            }
            req.send()
        };
        for (range, start, end) in [
            ("bytes=0-9".to_string(), 0, 9),
            (format!("bytes=10-{}", len + 100), 10, len - 1),
            ("bytes=5-".to_string(), 5, len - 1),
            ("bytes=-7".to_string(), len - 7, len - 1),
            ("bytes=-100000".to_string(), 0, len - 1),
            // Several ranges, one of them in the picture: that one.
            (format!("bytes=0-9, {}-{}", len + 10, len + 20), 0, 9),
            (format!("bytes={len}-,-3"), len - 3, len - 1),
        ] {
            let r = get(range.clone(), None).await.unwrap();
            assert_eq!(r.status(), 206, "{url} {range}");
            assert_eq!(
                r.headers()["content-range"],
                format!("bytes {start}-{end}/{len}").as_str(),
                "{url} {range}"
            );
            assert_eq!(r.headers()["content-type"], "image/jpeg", "{url} {range}");
            assert_eq!(r.headers()["accept-ranges"], "bytes", "{url} {range}");
            assert_eq!(r.headers()["etag"], etag.as_str(), "{url} {range}");
            assert_eq!(r.bytes().await.unwrap(), full[start..=end], "{url} {range}");
        }
        // No byte of the range, or of any range of the set, in the picture: 416.
        for range in [
            format!("bytes={len}-"),
            format!("bytes={len}-, {}-{}", len + 5, len + 9),
            "bytes=-0".to_string(),
        ] {
            let r = get(range.clone(), None).await.unwrap();
            assert_eq!(r.status(), 416, "{url} {range}");
            assert_eq!(
                r.headers()["content-range"],
                format!("bytes */{len}").as_str(),
                "{url} {range}"
            );
        }
        // Several ranges in the picture (no multipart answer), a range that is not valid
        // (RFC 9110 14.1.1), another unit: ignored, the whole picture.
        for (range, if_range) in [
            ("bytes=0-1,4-5", None),
            ("bytes=9-1", None),
            ("bytes=0-x", None),
            ("bytes=1-2,abc", None),
            ("lines=0-9", None),
            ("bytes=0-9", Some("\"another-version\"")),
            ("bytes=0-9", Some("Tue, 01 Dec 2026 00:00:00 GMT")),
        ] {
            let r = get(range.to_string(), if_range).await.unwrap();
            assert_eq!(r.status(), 200, "{url} {range} {if_range:?}");
            assert_eq!(r.bytes().await.unwrap(), full, "{url} {range}");
        }
        let r = get("bytes=0-9".into(), Some(&etag)).await.unwrap();
        assert_eq!(r.status(), 206, "{url} If-Range {etag}");
    }
    stop.cancel();
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// The picture Mum's handset last downloaded of the owner's through its link, and the owner's
/// current one.
async fn mums_download(w: &World) -> (Option<i64>, Option<i64>) {
    w.gw.store
        .read(|c| {
            Ok::<_, presence_gw::store::StoreError>((
                presence_gw::service::avatar::downloaded(c, OWNER, MUM)?,
                presence_gw::service::avatar::current(c, OWNER)?,
            ))
        })
        .await
        .unwrap()
}

/// [`mums_download`] once Mum's download is `want` (a download is recorded once its body has
/// gone out, just after the client read its last byte), or as it is after [`WAIT`].
async fn wait_mums_download(w: &World, want: Option<i64>) -> (Option<i64>, Option<i64>) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let got = mums_download(w).await;
        if got.0 == want || tokio::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A download is recorded only once its body has gone out: a handset that read the headers of
/// the 200 and dropped the connection before the rest of the picture came (a lost data
/// connection, a closed browser) has no picture and is not recorded as having it; one that
/// read it all is. The picture is made 8 MiB here (the stored variant's bytes), more than the
/// connection's and both sockets' buffers hold, so the break is seen by the server. The
/// download was recorded as soon as the 200 was built, before a byte of its body was sent.
#[tokio::test]
async fn a_download_that_breaks_off_before_its_body_ends_is_not_recorded() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const BIG: i64 = 8 * 1024 * 1024;
    let mut sim = SimConfig::local();
    sim.handsets.follow_push_links = false;
    let AvatarHttp {
        w,
        base,
        stop,
        http,
        token,
    } = AvatarHttp::start_on(sim).await;
    let db = rusqlite::Connection::open(World::db(&w._dir)).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    let changed = db
        .execute_batch(&format!(
            "INSERT INTO image_blob (sha256, content_type, bytes, created_at)
                 VALUES ('big', 'image/jpeg', randomblob({BIG}), 0);
             UPDATE avatar_variant SET blob_sha256 = 'big'
                 WHERE avatar_id = (SELECT avatar_id FROM subscriber_avatar WHERE msisdn = '{OWNER}')
                   AND size = 96 AND format = 'jpeg';"
        ))
        .map(|()| db.changes());
    assert_eq!(changed.unwrap(), 1, "the default variant is the big one");
    let (none, first) = mums_download(&w).await;
    assert_eq!(none, None);
    let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    // A small receive buffer: the server cannot hand the whole picture to the kernel.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut conn = socket.connect(addr).await.unwrap();
    conn.write_all(format!("GET /a/{token} HTTP/1.1\r\nHost: gw\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(WAIT, conn.read(&mut buf))
            .await
            .expect("the headers in time")
            .unwrap();
        assert!(n > 0, "closed before the headers");
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains(&format!("content-length: {BIG}")), "{head}");
    // Gone with most of the picture unread (the kernel resets the connection).
    drop(conn);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        mums_download(&w).await.0,
        None,
        "a download that broke off is not recorded"
    );
    // Read to the end: recorded.
    let got = http.get(format!("{base}/a/{token}")).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().len() as i64, BIG);
    assert_eq!(wait_mums_download(&w, first).await, (first, first));
    stop.cancel();
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// A download is recorded only when the handset got the picture or showed it holds it: a GET
/// served whole (200, or 206 to a range of every byte), or answered 304 to the ETag it sent. A
/// HEAD (axum runs the GET handler and drops the body: the handset got no picture),
/// `If-None-Match: *` (it holds some version, not necessarily this one: RFC 9110 13.1.2) and a
/// part (206) are not; the first two were recorded as downloads, so a handset that never had the
/// picture was not pushed it again after a refusal.
#[tokio::test]
async fn only_a_picture_served_or_held_counts_as_downloaded() {
    // The handset does not follow its pushes: the test fetches the link for it.
    let mut sim = SimConfig::local();
    sim.handsets.follow_push_links = false;
    let AvatarHttp {
        w,
        base,
        stop,
        http,
        token,
    } = AvatarHttp::start_on(sim).await;
    let url = format!("{base}/a/{token}");
    let (none, first) = mums_download(&w).await;
    assert_eq!(none, None);
    let head = http.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    let etag = head.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(mums_download(&w).await.0, None, "a HEAD");
    let star = http.get(&url).header("if-none-match", "*").send().await;
    assert_eq!(star.unwrap().status(), 304);
    assert_eq!(mums_download(&w).await.0, None, "If-None-Match: *");
    let part = http.get(&url).header("range", "bytes=0-9").send().await;
    assert_eq!(part.unwrap().status(), 206);
    assert_eq!(mums_download(&w).await.0, None, "a part");
    // The whole picture: recorded, whether served whole (200) or as a range that holds every
    // byte of it (206 to `bytes=0-`, as some browsers ask for a first download).
    let got = http
        .get(&url)
        .header("range", "bytes=0-")
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 206);
    assert!(!got.bytes().await.unwrap().is_empty());
    assert_eq!(
        wait_mums_download(&w, first).await,
        (first, first),
        "bytes=0-"
    );
    let got = http.get(&url).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert!(!got.bytes().await.unwrap().is_empty());
    assert_eq!(wait_mums_download(&w, first).await, (first, first));
    // A new picture: the handset's 304 to the ETag it holds of it counts, `*` does not.
    let r = w.say(OWNER, "AVATAR 5").await;
    assert!(r.starts_with("Your avatar is now 5"), "{r}");
    let (old, now) = mums_download(&w).await;
    assert!(old == first && now != first, "{old:?} {now:?}");
    let head = http.head(&url).send().await.unwrap();
    let new_etag = head.headers()["etag"].to_str().unwrap().to_string();
    assert_ne!(new_etag, etag);
    let star = http.get(&url).header("if-none-match", "*").send().await;
    assert_eq!(star.unwrap().status(), 304);
    assert_eq!(mums_download(&w).await.0, first, "If-None-Match: *");
    let held = http
        .get(&url)
        .header("if-none-match", &new_etag)
        .send()
        .await;
    assert_eq!(held.unwrap().status(), 304);
    assert_eq!(mums_download(&w).await, (now, now));
    stop.cancel();
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// A contact's link dates its picture: `Last-Modified` is the second after the owner chose it
/// (sent once that second is over), and a handset that revalidates by date alone
/// (`If-Modified-Since`, no `If-None-Match`, as many WAP caches do) gets 304 while no newer
/// picture was chosen, and the picture when one was, even in the second it was served. The
/// ETag decides when both come; a date later than now is no copy's. A 304 by date counts as
/// the handset holding the picture. Before, a date got the whole picture every time.
#[tokio::test]
async fn a_link_is_dated_and_revalidates_by_date() {
    let mut sim = SimConfig::local();
    sim.handsets.follow_push_links = false;
    let AvatarHttp {
        w,
        base,
        stop,
        http,
        token,
    } = AvatarHttp::start_on(sim).await;
    let url = format!("{base}/a/{token}");
    let get_since = |since: String| http.get(&url).header("if-modified-since", since).send();
    // Served, then a new picture chosen at once: the response's Date, taken as a date the
    // handset holds, does not hide the new picture, though both fall in one second.
    let first = http.get(&url).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let date = first.headers()["date"].to_str().unwrap().to_string();
    let r = w.say(OWNER, "AVATAR 5").await;
    assert!(r.starts_with("Your avatar is now 5"), "{r}");
    // (A HEAD: a GET served whole would count as a download of the new picture.)
    let head = http.head(&url).header("if-modified-since", date).send();
    assert_eq!(head.await.unwrap().status(), 200);
    // Dated once the second of the choice is over (polled by HEAD: no download).
    let deadline = tokio::time::Instant::now() + WAIT;
    let modified = loop {
        let head = http.head(&url).send().await.unwrap();
        if let Some(v) = head.headers().get("last-modified") {
            break v.to_str().unwrap().to_string();
        }
        assert!(tokio::time::Instant::now() < deadline, "never dated");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (_, now) = mums_download(&w).await;
    assert_ne!(mums_download(&w).await.0, now, "not downloaded yet");
    let held = get_since(modified.clone()).await.unwrap();
    assert_eq!(held.status(), 304);
    assert_eq!(held.headers()["last-modified"].to_str().unwrap(), modified);
    assert!(held.headers().contains_key("etag"));
    assert_eq!(mums_download(&w).await, (now, now), "a 304 by date counts");
    // An ETag of another version beside the date: the ETag decides.
    let both = http
        .get(&url)
        .header("if-modified-since", &modified)
        .header("if-none-match", "\"0000\"")
        .send()
        .await
        .unwrap();
    assert_eq!(both.status(), 200);
    // A date later than now is no copy's.
    let later = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(86_400));
    assert_eq!(get_since(later).await.unwrap().status(), 200);
    // Another picture: the date the handset holds is older than it.
    let r = w.say(OWNER, "AVATAR 3").await;
    assert!(r.starts_with("Your avatar is now 3"), "{r}");
    assert_eq!(get_since(modified).await.unwrap().status(), 200);
    stop.cancel();
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// RFC 9110 14.2: range handling is defined for GET only, and a server MUST ignore `Range` on
/// any other method. A HEAD of a picture or a contact's link with a `Range` answers as its
/// GET without one would (200, the whole picture's `Content-Length`, no `Content-Range`),
/// whether the range has bytes in the picture or none; it answered 206 or 416, as to a GET.
#[tokio::test]
async fn a_head_request_ignores_range() {
    let AvatarHttp {
        w,
        base,
        stop,
        http,
        token,
    } = AvatarHttp::start().await;
    for url in [format!("{base}/p/3"), format!("{base}/a/{token}")] {
        let whole = http.get(&url).send().await.unwrap();
        assert_eq!(whole.status(), 200, "{url}");
        let etag = whole.headers()["etag"].to_str().unwrap().to_string();
        let len = whole.bytes().await.unwrap().len();
        for (range, if_range) in [
            ("bytes=0-9".to_string(), None),
            ("bytes=0-9".to_string(), Some(etag.as_str())),
            (format!("bytes={len}-"), None),
        ] {
            let mut req = http.head(&url).header("range", &range);
            if let Some(v) = if_range {
                req = req.header("if-range", v);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 200, "HEAD {url} {range} {if_range:?}");
            assert!(
                r.headers().get("content-range").is_none(),
                "HEAD {url} {range}: {:?}",
                r.headers()
            );
            assert_eq!(
                r.headers()["content-length"],
                len.to_string().as_str(),
                "HEAD {url} {range}"
            );
            assert_eq!(r.headers()["etag"], etag.as_str(), "HEAD {url} {range}");
        }
        // A GET with the same range still gets its part.
        let r = http.get(&url).header("range", "bytes=0-9").send().await;
        assert_eq!(r.unwrap().status(), 206, "{url}");
    }
    stop.cancel();
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// A WAP 1.x handset (its `Accept` names `image/vnd.wap.wbmp` and no JPEG, PNG or GIF, or
/// prefers it) gets the picture as a type 0 WBMP, over real HTTP, on a contact's link and on a
/// preset: `Content-Type: image/vnd.wap.wbmp`, the header `00 00`, 48 x 48 (the smallest size
/// rendered), one bit a pixel in rows of whole octets, an ETag that answers a 304. `?f=wbmp`
/// asks for it too. Every other client gets what it got: JPEG for `*/*`, PNG for `image/png`.
/// There was no WBMP: such a handset got a JPEG it cannot show.
#[tokio::test]
async fn a_wap_1_handset_gets_the_picture_as_a_wbmp() {
    let AvatarHttp {
        w,
        base,
        stop,
        http,
        token,
    } = AvatarHttp::start().await;
    let get = |url: String, accept: &'static str| {
        let http = http.clone();
        async move {
            let r = http.get(url).header("accept", accept).send().await.unwrap();
            let status = r.status().as_u16();
            let ctype = r.headers()["content-type"].to_str().unwrap().to_string();
            let etag = r
                .headers()
                .get("etag")
                .map(|v| v.to_str().unwrap().to_string());
            (status, ctype, etag, r.bytes().await.unwrap().to_vec())
        }
    };
    for url in [format!("{base}/a/{token}"), format!("{base}/p/3")] {
        for accept in [
            "image/vnd.wap.wbmp",
            "text/vnd.wap.wml, image/vnd.wap.wbmp, */*",
            "image/vnd.wap.wbmp, image/*;q=0.5",
        ] {
            let (status, ctype, etag, body) = get(url.clone(), accept).await;
            assert_eq!(
                (status, ctype.as_str()),
                (200, "image/vnd.wap.wbmp"),
                "{url} {accept}"
            );
            // Type 0, fixed header, 48 x 48, six octets a row.
            assert_eq!(body[..4], [0x00, 0x00, 48, 48], "{url} {accept}");
            assert_eq!(body.len(), 4 + 6 * 48);
            // Black and white both: a picture, not a blank.
            assert!(body[4..].iter().any(|&b| b != 0) && body[4..].iter().any(|&b| b != 0xFF));
            let etag = etag.expect("an ETag");
            let r = http
                .get(&url)
                .header("accept", accept)
                .header("if-none-match", &etag)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 304, "{url}");
        }
        let (_, ctype, _, wbmp) = get(format!("{url}?f=wbmp"), "*/*").await;
        assert_eq!(ctype, "image/vnd.wap.wbmp");
        assert_eq!(wbmp[..4], [0x00, 0x00, 48, 48]);
        // Everyone else as before.
        let (status, ctype, _, jpeg) = get(url.clone(), "*/*").await;
        assert_eq!((status, ctype.as_str()), (200, "image/jpeg"));
        assert_eq!(jpeg[..2], [0xFF, 0xD8]);
        let (_, ctype, _, _) = get(url.clone(), "image/png, image/vnd.wap.wbmp").await;
        assert_eq!(ctype, "image/png");
        let (_, ctype, _, _) = get(url.clone(), "image/gif, image/vnd.wap.wbmp, */*;q=0.1").await;
        assert_eq!(ctype, "image/gif");
    }
    stop.cancel();
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// A preset path that is no number (`/p/abc`, `/p/3.jpg`, a number past 64 bits) is the
/// XHTML page a handset shows, "No such preset." (404), as `/p/99` is: axum's plain-text
/// "Invalid URL: Cannot parse" 400 was answered before.
#[tokio::test]
async fn a_preset_path_that_is_no_number_is_the_no_such_preset_page() {
    let AvatarHttp {
        w,
        base,
        stop,
        http,
        token: _,
    } = AvatarHttp::start().await;
    for id in [
        "99",
        "abc",
        "3.jpg",
        "-",
        "99999999999999999999",
        "%E4%B8%89",
    ] {
        let r = http.get(format!("{base}/p/{id}")).send().await.unwrap();
        assert_eq!(r.status(), 404, "/p/{id}");
        assert_eq!(
            r.headers()["content-type"],
            "application/vnd.wap.xhtml+xml; charset=utf-8",
            "/p/{id}"
        );
        let page = r.text().await.unwrap();
        assert!(page.contains("No such preset."), "/p/{id}: {page}");
    }
    stop.cancel();
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// A contact's avatar link that shows no picture says why in the viewer's language: a Chinese
/// viewer opening it after the owner's AVATAR OFF, or after being taken out of the owner's
/// groups, got English pages ("No picture is set.", "This picture is not shared with you.").
#[tokio::test]
async fn a_link_that_shows_no_picture_says_why_in_the_viewers_language() {
    let AvatarHttp {
        w,
        base,
        stop,
        http,
        token,
    } = AvatarHttp::start().await;
    let url = format!("{base}/a/{token}");
    w.say(MUM, "语言 中文").await;
    w.say(OWNER, "AVATAR OFF").await;
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let page = r.text().await.unwrap();
    assert!(page.contains("没有设置头像"), "{page}");
    w.say(OWNER, "AVATAR 3").await;
    w.say(OWNER, "GROUP FAMILY DEL 13900139000").await;
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let page = r.text().await.unwrap();
    assert!(page.contains("未对你公开"), "{page}");
    // A link nobody was given has no viewer: the configured language (English).
    let r = http.get(format!("{base}/a/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("This link is not known."));
    stop.cancel();
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// The time `owner` set their avatar (Unix ms), as the database holds it.
async fn avatar_set_at(w: &World, owner: &str) -> i64 {
    let owner = owner.to_string();
    w.gw.store
        .read(move |c| {
            c.query_row(
                "SELECT updated_at FROM subscriber_avatar WHERE msisdn = ?1",
                [owner],
                |r| r.get(0),
            )
            .map_err(presence_gw::store::StoreError::from)
        })
        .await
        .unwrap()
}

/// An avatar push says when the owner set the avatar (the SI's `created`, WAP-167, to the
/// second), as the contact's handset decodes it: a handset holding an older push for the same
/// link replaces it with the newer one, and a late push never replaces a newer one. The
/// pushes had no `created`.
#[tokio::test]
async fn an_avatar_push_says_when_the_owner_set_the_avatar() {
    let AvatarHttp { w, stop, .. } = AvatarHttp::start().await;
    let created = |n: usize| -> Option<sms_wire::wap_push::WapDate> {
        let pushes = w.sim.handset(MUM).pushes;
        pushes[n]
            .created
            .as_deref()
            .and_then(sms_wire::wap_push::WapDate::parse_iso)
    };
    let date_of = |at: i64| {
        let (y, mo, d, h, mi, s) = presence_gw::service::clock::utc_fields(at);
        sms_wire::wap_push::WapDate::new(y as u16, mo as u8, d as u8, h as u8, mi as u8, s as u8)
    };
    wait_pushes(&w.sim, MUM, 1).await;
    let first = avatar_set_at(&w, OWNER).await;
    assert_eq!(
        created(0),
        Some(date_of(first)),
        "{:?}",
        w.sim.handset(MUM).pushes
    );
    // A second apart, so the dates differ: the newer picture's push says the newer time.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    w.say(OWNER, "AVATAR 5").await;
    wait_pushes(&w.sim, MUM, 2).await;
    let second = avatar_set_at(&w, OWNER).await;
    assert!(second / 1000 > first / 1000);
    assert_eq!(created(1), Some(date_of(second)));
    stop.cancel();
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// A query value written percent-encoded (`?s=%34%38`, as some WAP gateways and link
/// shorteners pass a link on) reads as the plain one, over real HTTP: the avatar routes split
/// the query by hand and took `%34%38` for no number, so the picture came at the default size
/// (and `f=%67%69%66` as no format, `page=%32` as the first page).
#[tokio::test]
async fn a_percent_encoded_query_value_reads_as_the_plain_one() {
    let AvatarHttp {
        w,
        base,
        stop,
        http,
        token,
    } = AvatarHttp::start().await;
    for url in [format!("{base}/p/3"), format!("{base}/a/{token}")] {
        for (plain, encoded) in [
            ("s=48", "s=%34%38"),
            ("f=gif", "f=%67%69%66"),
            ("s=48&f=png", "%73=%34%38&f=%70%6E%67"),
            ("s=48&f=gif", "s=+48+&f=GIF%20"),
        ] {
            let want = http.get(format!("{url}?{plain}")).send().await.unwrap();
            let got = http.get(format!("{url}?{encoded}")).send().await.unwrap();
            assert_eq!(got.status(), 200, "{url}?{encoded}");
            assert_eq!(
                got.headers()["content-type"],
                want.headers()["content-type"],
                "{url}?{encoded}"
            );
            assert_eq!(
                got.headers()["etag"],
                want.headers()["etag"],
                "{url}?{encoded} is not {plain}"
            );
        }
        // Still lenient: what decodes to no number is the default size.
        let default = http.get(&url).send().await.unwrap();
        let r = http.get(format!("{url}?s=%ZZ&f=%")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        assert_eq!(r.headers()["etag"], default.headers()["etag"], "{url}");
    }
    let page = |q: &'static str| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let r = http
                .get(format!("{base}/gallery?{q}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{q}");
            r.text().await.unwrap()
        }
    };
    let two = page("page=%32").await;
    assert!(
        two.contains("page 2/3") && two.contains("6 Sunset"),
        "{two}"
    );
    let zh = page("page=%32&lang=%7A%68").await;
    assert!(zh.contains("第2/3页") && zh.contains("6 日落"), "{zh}");
    let bad = page("page=%ZZ").await;
    assert!(bad.contains("page 1/3"), "{bad}");
    stop.cancel();
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

#[tokio::test]
async fn avatars_presets_pushes_downloads_and_uploads_end_to_end() {
    // HTTP first: the public URL goes into the links the gateway sends.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut cfg = ServiceConfig::default();
    cfg.avatar.public_url = base.clone();
    cfg.avatar.sizes = vec![48, 96];
    cfg.avatar.default_size = 96;
    cfg.avatar.presets_dir =
        Some(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/presets"));
    let w = World::start_with(cfg).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let key = "avatar-test-operator-key";
    tokio::spawn(presence_gw::http::serve(
        listener,
        w.gw.http_router(Some(presence_gw::config::Secret::new(key))),
        stop.clone(),
    ));
    let http = reqwest::Client::new();
    // Dad's handset refuses WAP Push (the SMSC reports it undeliverable).
    w.sim
        .set_receipt_plan(smsc_sim::ReceiptPlan::push_refused_by(DAD));
    // The shipped catalogue loads in the background on first start.
    w.wait_presets(12).await;

    w.say(OWNER, "NAME Zhang San").await;
    w.say(OWNER, "GROUP FAMILY ADD 13900139000").await;
    w.say(OWNER, "GROUP FRIENDS ADD 13700137000").await;
    let list = w.say(OWNER, "AVATARS").await;
    assert!(
        list.starts_with("Avatars 1/") && list.contains("1 Cat"),
        "{list}"
    );
    let gallery = http.get(format!("{base}/gallery")).send().await.unwrap();
    assert_eq!(gallery.status(), 200);
    assert!(gallery
        .text()
        .await
        .unwrap()
        .contains("/p/1?s=48&amp;f=gif"));
    // The link in an AVATARS page opens the web page of the avatars that reply lists.
    w.wait_presets(14).await;
    let two = w.say(OWNER, "AVATARS 2").await;
    assert!(two.starts_with("Avatars 2/3: 6 Sunset,"), "{two}");
    let link = two.rsplit(' ').next().unwrap();
    assert_eq!(link, format!("{base}/gallery?page=2"));
    let page = http.get(link).send().await.unwrap().text().await.unwrap();
    for id in 6..=10 {
        assert!(page.contains(&format!("/p/{id}?")), "{id}: {page}");
    }
    for id in [5, 11] {
        assert!(!page.contains(&format!("/p/{id}?")), "{id}: {page}");
    }
    assert!(
        page.contains("6 Sunset") && page.contains("page 2/3"),
        "{page}"
    );
    // A Chinese reply's link opens the page in Chinese.
    let zh = w.say("+8613800138009", "头像库 2").await;
    let (_, link) = zh.split_once("预览：").unwrap();
    assert_eq!(link, format!("{base}/gallery?page=2&lang=zh"));
    let page = http.get(link).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("6 日落") && page.contains("第2/3页") && !page.contains("Sunset"),
        "{page}"
    );
    // A page that is no number is the first page, not a framework error.
    let bad = http
        .get(format!("{base}/gallery?page=abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 200);
    let bad = bad.text().await.unwrap();
    assert!(bad.contains("page 1/3") && bad.contains("1 Cat"), "{bad}");
    let thumb = http
        .get(format!("{base}/p/1?s=48&f=gif"))
        .send()
        .await
        .unwrap();
    assert_eq!(thumb.headers()["content-type"], "image/gif");
    // A shared cache (a WAP gateway's) keeps one copy per format and not for long: a catalogue
    // re-import may put a new picture behind the id.
    assert_eq!(thumb.headers()["vary"], "Accept");
    assert_eq!(thumb.headers()["cache-control"], "public, max-age=3600");

    let r = w.say(OWNER, "AVATAR 3").await;
    assert_eq!(r, "Your avatar is now 3 Owl. 2 contacts will get it.");
    // Dad's push failed: the same link comes again as a plain SMS.
    let dad = w.inbox(DAD, 1).await;
    assert!(
        dad[0].starts_with("Zhang San (+8613800138000) has a new caller picture: http"),
        "{dad:?}"
    );
    // Mum's phone gets the WAP Push, follows the link over HTTP like a handset, and shows the
    // picture when Zhang San calls.
    let call = w
        .sim
        .wait_until("avatar on mum's phone", WAIT, |h| {
            let c = h.call(MUM, OWNER);
            c.avatar_sha256.is_some().then_some(c)
        })
        .await
        .unwrap();
    assert_eq!(call.avatar_content_type.as_deref(), Some("image/jpeg"));
    let href = call.avatar_href.clone().unwrap();
    assert!(href.starts_with(&format!("{base}/a/")), "{href}");
    // Conditional GET.
    let first = http.get(&href).send().await.unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    let again = http
        .get(&href)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    // The link's URL never changes while the picture behind it does: every use revalidates.
    for r in [&first, &again] {
        assert_eq!(r.headers()["cache-control"], "private, no-cache");
        assert_eq!(r.headers()["vary"], "Accept");
    }
    // The handset's own preference order decides the format.
    let gif = http
        .get(&href)
        .header("accept", "image/gif, image/vnd.wap.wbmp, */*;q=0.1")
        .send()
        .await
        .unwrap();
    assert_eq!(gif.headers()["content-type"], "image/gif");
    let png = http.get(format!("{href}?f=png&s=48")).send().await.unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    let png = png.bytes().await.unwrap();
    assert_eq!(&png[1..4], b"PNG");

    // A phonebook client syncs: what changed among the numbers it holds, for this viewer.
    let sync = format!("{base}/api/v1/avatars/sync");
    let r: serde_json::Value = api(
        &http,
        &sync,
        key,
        &serde_json::json!({
            "viewer": MUM,
            "have": {"+8613800138000": null, "+8613500135000": "stale"},
            "size": 48, "format": "gif"
        }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(r["changed"][0]["msisdn"], OWNER, "{r}");
    let sync_etag = r["changed"][0]["etag"].as_str().unwrap().to_string();
    assert!(r["changed"][0]["url"]
        .as_str()
        .unwrap()
        .ends_with("?s=48&f=gif"));
    assert_eq!(r["removed"][0], "+8613500135000");
    let r: serde_json::Value = api(&http, &sync, key, &serde_json::json!({"viewer": MUM, "have": {"+8613800138000": sync_etag}, "size": 48, "format": "gif"})).await
        .json()
        .await
        .unwrap();
    assert_eq!(r["changed"].as_array().unwrap().len(), 0, "unchanged: {r}");
    // A stranger sees nothing of it.
    let r: serde_json::Value = api(
        &http,
        &sync,
        key,
        &serde_json::json!({"viewer": STRANGER, "have": {"+8613800138000": null}}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(r["changed"].as_array().unwrap().len(), 0, "{r}");
    // A format it does not serve is refused naming every one it does: WBMP (for WAP 1.x
    // phonebooks) is taken, and the refusal said "jpeg, png or gif".
    let bad = api(
        &http,
        &sync,
        key,
        &serde_json::json!({"viewer": MUM, "have": {}, "format": "bmp"}),
    )
    .await;
    assert_eq!(bad.status(), 400);
    let bad = bad.text().await.unwrap();
    assert!(bad.contains("jpeg, png, gif or wbmp"), "{bad}");
    let r: serde_json::Value = api(
        &http,
        &sync,
        key,
        &serde_json::json!({"viewer": MUM, "have": {"+8613800138000": null}, "format": "wbmp"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(
        r["changed"][0]["url"]
            .as_str()
            .is_some_and(|u| u.ends_with("&f=wbmp")),
        "{r}"
    );

    // Upload: an eligible subscriber gets a one-time link.
    w.qualify(OWNER).await;
    let r = w.say(OWNER, "AVATAR UPLOAD").await;
    let url = upload_link_in(&r);
    let form = http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(
        form.contains("name=\"avatar\"") && form.contains("multipart/form-data"),
        "{form}"
    );
    // Its file input is XHTML-MP 1.2's (1.0, which it declared, has XHTML Basic's forms, whose
    // input has no type "file").
    assert!(
        form.contains("<input type=\"file\"")
            && form.contains(
                "<!DOCTYPE html PUBLIC \"-//WAPFORUM//DTD XHTML Mobile 1.2//EN\" \
                 \"http://www.openmobilealliance.org/tech/DTD/xhtml-mobile12.dtd\">"
            ),
        "{form}"
    );
    // The SMS and the page name the same formats: those the pipeline takes.
    let formats = "JPEG, PNG, GIF, BMP or WebP";
    assert!(r.contains(formats) && r.contains("max 100 KB"), "{r}");
    assert!(
        form.contains(&format!("({formats}, up to 100 KB)")),
        "{form}"
    );
    // Hostile files: refused with a page and an SMS saying why; the link stays usable.
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/images");
    for (file, status, why) in [
        ("hostile/text-renamed.jpg", 415, "JPEG, PNG, GIF"),
        // The limit is named: "too large" alone left the subscriber guessing how large goes.
        (
            "hostile/bomb-100000x100000.png",
            422,
            "too large in pixels (at most 4096 x 4096)",
        ),
        ("hostile/too-big-200k.bmp", 413, "over 100 KB"),
        ("hostile/truncated.jpg", 422, "damaged"),
    ] {
        let before = w.texts(OWNER).len();
        let resp = http
            .post(&url)
            .header("content-type", "image/jpeg")
            .body(std::fs::read(fixtures.join(file)).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status, "{file}");
        let sms = w.inbox(OWNER, before + 1).await;
        assert!(sms[before].contains(why), "{file}: {}", sms[before]);
    }
    // A 5 MB picture: refused while reading, long before decoding.
    let before = w.texts(OWNER).len();
    let resp = http
        .post(&url)
        .header("content-type", "image/png")
        .body(vec![0x89u8; 5 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    assert!(w.inbox(OWNER, before + 1).await[before].contains("over 100 KB"));
    // That was the link's fifth refusal, the last one told by SMS: a client posting bad files
    // in a loop gets its pages, and the owner no more messages. This one is chunked (no
    // length declared), so it is refused while streaming.
    let owner_rows = || async {
        w.gw.store
            .read(|c| {
                c.query_row(
                    "SELECT count(*) FROM outbox WHERE destination = ?1",
                    [OWNER],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(presence_gw::store::StoreError::from)
            })
            .await
            .unwrap()
    };
    let rows_before = owner_rows().await;
    let answer = post_chunked(&url, "image/png", &vec![0x89u8; 300 * 1024]).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("over 100 KB"), "{answer}");
    let resp = http
        .post(&url)
        .header("content-type", "text/plain")
        .body("not a picture")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 415);
    assert_eq!(
        owner_rows().await,
        rows_before,
        "refusals past the fifth are not texted"
    );
    // The previous avatar stays: same picture, same ETag.
    let still = http.get(&href).send().await.unwrap();
    assert_eq!(still.status(), 200);
    assert_eq!(still.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(w.sim.call(MUM, OWNER).avatar_sha256, call.avatar_sha256);
    // A good upload, as a raw body.
    let good = std::fs::read(fixtures.join("good/exif-orientation-6.jpg")).unwrap();
    let resp = http
        .post(&url)
        .header("content-type", "image/jpeg")
        .body(good)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("Your new picture is set. 2 contacts will get it."));
    let new_call = w
        .sim
        .wait_until("new avatar on mum's phone", WAIT, |h| {
            let c = h.call(MUM, OWNER);
            (c.avatar_sha256 != call.avatar_sha256).then_some(c)
        })
        .await
        .unwrap();
    assert!(new_call.avatar_len.unwrap() > 0);
    // A multipart form (what a WAP browser posts) works too, on a fresh link.
    // (The same text as before: sent again on the same session, it is a new command.)
    let url2 = upload_link(&w, OWNER).await;
    let webp = std::fs::read(fixtures.join("good/photo-lossless.webp")).unwrap();
    let form = reqwest::multipart::Form::new().part(
        "avatar",
        reqwest::multipart::Part::bytes(webp)
            .file_name("me.webp")
            .mime_str("image/webp")
            .unwrap(),
    );
    let resp = http.post(&url2).multipart(form).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    // The link worked once.
    let reuse = http
        .post(&url)
        .header("content-type", "image/jpeg")
        .body(vec![0xFF, 0xD8])
        .send()
        .await
        .unwrap();
    assert_eq!(reuse.status(), 410);
    // Mum removed from FAMILY: her link stops working. (The owner's inbox may still be getting
    // the upload's SMS, so wait for the DEL reply itself.)
    let before = w.texts(OWNER).len();
    w.sim
        .inject_mo(MoRequest::new(
            OWNER,
            SERVICE,
            "GROUP FAMILY DEL 13900139000",
        ))
        .await
        .unwrap();
    w.sim
        .wait_until("DEL reply", WAIT, |h| {
            h.handset(OWNER).texts()[before..]
                .iter()
                .any(|t| t.starts_with("Removed 1 from FAMILY"))
                .then_some(())
        })
        .await
        .unwrap();
    assert_eq!(http.get(&href).send().await.unwrap().status(), 403);

    stop.cancel();
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// A world serving HTTP (its links name that server), pictures at one size (48), and OWNER
/// qualified for uploads; with the token that stops the server.
async fn upload_world() -> (World, tokio_util::sync::CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut cfg = ServiceConfig::default();
    cfg.avatar.public_url = base.clone();
    cfg.avatar.sizes = vec![48];
    cfg.avatar.default_size = 48;
    let w = World::start_with(cfg).await;
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(presence_gw::http::serve(
        listener,
        w.gw.http_router(None),
        stop.clone(),
    ));
    w.qualify(OWNER).await;
    (w, stop)
}

/// A Chinese subscriber's upload link opens Chinese pages, as the SMS about it are Chinese: the
/// form, the page that refuses a file, the one that takes the picture and the one a used link
/// opens (they were English whatever the subscriber's language), titles included (the page
/// refusing a file and the one taking it were titled "Upload", which a handset's title bar
/// shows above the Chinese text).
#[tokio::test]
async fn a_chinese_subscribers_upload_pages_are_in_chinese() {
    let (w, stop) = upload_world().await;
    let r = w.say(OWNER, "头像 上传").await;
    // The link as a handset's link finder takes it: up to a space or a non-ASCII character.
    let url = r
        .split(|c: char| c.is_whitespace() || !c.is_ascii())
        .find(|t| t.contains("/u/"))
        .unwrap_or_else(|| panic!("no link in {r}"))
        .to_string();
    let http = reqwest::Client::new();
    let form = http.get(&url).send().await.unwrap();
    assert_eq!(form.status(), 200);
    let form = form.text().await.unwrap();
    assert!(
        form.contains("上传") && form.contains("JPEG、PNG") && form.contains("name=\"avatar\""),
        "{form}"
    );
    let refused = http
        .post(&url)
        .header("content-type", "image/jpeg")
        .body(b"eggs, milk".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 415);
    let page = refused.text().await.unwrap();
    assert!(page.contains("头像未设置"), "{page}");
    assert!(page.contains("<title>上传头像</title>"), "{page}");
    // The link still takes a picture: the refusal leads back to its form (it was a dead end).
    let path = &url[url.find("/u/").unwrap()..];
    assert!(
        page.contains(&format!("<a href=\"{path}\">重新选择图片</a>")),
        "{page}"
    );
    let again = http.get(&url).send().await.unwrap();
    assert_eq!(again.status(), 200);
    assert!(again.text().await.unwrap().contains("<form"));
    let good = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/images/good/exif-orientation-6.jpg"),
    )
    .unwrap();
    let taken = http
        .post(&url)
        .header("content-type", "image/jpeg")
        .body(good)
        .send()
        .await
        .unwrap();
    assert_eq!(taken.status(), 200);
    let page = taken.text().await.unwrap();
    assert!(page.contains("新头像已设置"), "{page}");
    assert!(page.contains("<title>上传头像</title>"), "{page}");
    let used = http.get(&url).send().await.unwrap();
    assert_eq!(used.status(), 410);
    let page = used.text().await.unwrap();
    assert!(page.contains("头像 上传"), "{page}");
    assert!(page.contains("<title>上传头像</title>"), "{page}");
    stop.cancel();
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// An upload's format is read from its bytes, never from the declared content type: a JPEG
/// posted raw as `text/plain` or `application/x-www-form-urlencoded` (what some handset
/// browsers and upload apps send) is taken, and text posted as `image/jpeg` is not.
#[tokio::test]
async fn a_raw_upload_is_judged_by_its_bytes_not_its_declared_type() {
    let (w, stop) = upload_world().await;
    let http = reqwest::Client::new();
    let jpeg = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/images/good/exif-orientation-6.jpg"),
    )
    .unwrap();
    // The second time it is the same picture: the reply says it is the avatar already.
    for (declared, said) in [
        ("text/plain", "Your new picture is set."),
        (
            "application/x-www-form-urlencoded",
            "That picture is your avatar already: nothing is sent again.",
        ),
    ] {
        let url = upload_link(&w, OWNER).await;
        let before = w.texts(OWNER).len();
        let text = http
            .post(&url)
            .header("content-type", "image/jpeg")
            .body(b"eggs, milk".to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(text.status(), 415, "text declared as a JPEG");
        let path = &url[url.find("/u/").unwrap()..];
        let page = text.text().await.unwrap();
        assert!(
            page.contains(&format!("<a href=\"{path}\">Choose another picture</a>")),
            "{page}"
        );
        let taken = http
            .post(&url)
            .header("content-type", declared)
            .body(jpeg.clone())
            .send()
            .await
            .unwrap();
        let status = taken.status();
        let page = taken.text().await.unwrap();
        assert_eq!(status, 200, "{declared}: {page}");
        assert!(page.contains(said), "{page}");
        // The refusal's SMS and the new picture's, before the next AVATAR UPLOAD's reply.
        let sms = w.inbox(OWNER, before + 2).await;
        assert!(sms[before..].iter().any(|t| t.starts_with(said)), "{sms:?}");
    }
    stop.cancel();
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// GROUP ADD / DEL / DROP tell the contacts whose view they change through the same fan-out as
/// a STATUS, hourly quota included: past it, the updates are held and the reply says so, in
/// the owner's language, as a STATUS reply does; a change that tells nobody says nothing of it.
#[tokio::test]
async fn a_membership_change_past_the_hourly_quota_says_its_updates_are_held() {
    const LIMIT: &str = "Hourly update limit reached: they get your latest status ";
    let w = World::start_with(ServiceConfig {
        hourly_change_quota: 1,
        ..ServiceConfig::default()
    })
    .await;
    w.say(OWNER, "GROUP FAMILY ADD 13900139000").await;
    w.say(OWNER, "GROUP COLLEAGUES ADD 13900139000").await;
    let r = w.say(OWNER, "STATUS FAMILY FREE").await;
    assert_eq!(r, "Set: FAMILY sees FREE. 1 contact will be told.");
    assert_eq!(w.inbox(MUM, 1).await.len(), 1);
    // The quota is spent: Dad's first update (FREE, where he saw OTHERS' STANDBY) is held.
    let r = w.say(OWNER, "GROUP FAMILY ADD 13700137000").await;
    assert!(
        r.starts_with(&format!("FAMILY now has 2 members. {LIMIT}")),
        "{r}"
    );
    assert!(r.ends_with(". FAMILY sees FREE."), "{r}");
    // Mum out of FAMILY sees COLLEAGUES' STANDBY: held, said in Chinese.
    let r = w.say(OWNER, "分组 家人 删 13900139000").await;
    assert!(
        r.starts_with("已从家人删除1人，现有1人。已达每小时通知上限，"),
        "{r}"
    );
    assert!(r.ends_with("发送最新状态。"), "{r}");
    // Dad out of every group is OTHERS, not told (what was held for him is withdrawn): nothing
    // held by this change, nothing said.
    let r = w.say(OWNER, "分组 家人 解散").await;
    assert!(r.starts_with("分组家人已清空并恢复为“待机”"), "{r}");
    assert!(!r.contains("上限"), "{r}");
    // Held, not sent: Mum has her first update only, Dad nothing.
    w.settle_and_count(MUM, 1).await;
    w.settle_and_count(DAD, 0).await;
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// `[service] update_delay_secs`: five changes in quick succession, each replied to at once,
/// reach Mum as one SMS with the last status, the delay after the first change. Without it,
/// an SMSC that delivers at once gives her five.
#[tokio::test]
async fn an_update_delay_gives_a_contact_one_sms_for_a_burst_of_changes() {
    let w = World::start_with(ServiceConfig {
        update_delay: Duration::from_secs(5),
        ..ServiceConfig::default()
    })
    .await;
    w.say(OWNER, "GROUP FAMILY ADD 13900139000").await;
    let started = std::time::Instant::now();
    for status in ["BUSY", "DRIVING", "MEETING", "DND", "FREE"] {
        let r = w.say(OWNER, &format!("STATUS FAMILY {status}")).await;
        assert_eq!(
            r,
            format!("Set: FAMILY sees {status}. 1 contact will be told.")
        );
    }
    let sms = w.inbox(MUM, 1).await;
    assert!(started.elapsed() >= Duration::from_secs(5), "{sms:?}");
    assert!(sms[0].contains(": FREE."), "{sms:?}");
    w.settle_and_count(MUM, 1).await;
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// Wait until `number`'s handset has received `want` WAP pushes.
async fn wait_pushes(sim: &SimHandle, number: &str, want: usize) {
    sim.wait_until("pushes", WAIT, |h| {
        (h.handset(number).pushes.len() >= want).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{number}: {e}; has {:?}", sim.handset(number).pushes));
}

/// A contact who sent `STOP <owner>` is pushed nothing while stopped, so an avatar chosen
/// then never reached their handset: after `START <owner>` it showed the old picture on every
/// call until the owner changed it again. `START` now pushes the current picture to a
/// contact whose handset does not have it: the handset follows the link and shows it.
#[tokio::test]
async fn start_brings_the_avatar_chosen_while_stopped_to_the_handset() {
    let AvatarHttp { w, stop, .. } = AvatarHttp::start().await;
    let shown = |w: &World| w.sim.call(MUM, OWNER).avatar_sha256;
    let owl = w
        .sim
        .wait_until("the owl on mum's phone", WAIT, |h| {
            h.call(MUM, OWNER).avatar_sha256
        })
        .await
        .unwrap();
    w.say(MUM, "STOP 13800138000").await;
    let r = w.say(OWNER, "AVATAR 5").await;
    assert_eq!(r, "Your avatar is now 5 Flower. 0 contacts will get it.");
    w.outbox_answered().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(shown(&w).as_ref(), Some(&owl), "stopped: still the owl");
    let r = w.say(MUM, "START 13800138000").await;
    assert_eq!(r, "You will get updates about +8613800138000 again.");
    wait_pushes(&w.sim, MUM, 2).await;
    let flower = w
        .sim
        .wait_until("the flower on mum's phone", WAIT, |h| {
            h.call(MUM, OWNER).avatar_sha256.filter(|s| *s != owl)
        })
        .await
        .unwrap();
    assert_ne!(flower, owl);
    stop.cancel();
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// PRIVACY NOBODY takes no picture off a handset (a push cannot), so opening it again pushes
/// the avatar only where it is missing: to a contact added meanwhile, not to the contacts who
/// got it before (by WAP Push, or by the SMS link that replaced a refused push); a picture
/// chosen under NOBODY went to nobody, and goes to every contact on opening.
#[tokio::test]
async fn reopening_privacy_pushes_the_avatar_only_to_handsets_without_it() {
    let mut cfg = ServiceConfig::default();
    cfg.avatar.presets_dir =
        Some(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/presets"));
    let w = World::start_with(cfg).await;
    // Dad's handset refuses WAP Push: he gets the link by SMS instead.
    w.sim
        .set_receipt_plan(smsc_sim::ReceiptPlan::push_refused_by(DAD));
    w.wait_presets(3).await;
    let pushes = |n: &str| w.sim.handset(n).pushes.len();
    w.say(OWNER, "GROUP FAMILY ADD 13900139000 13700137000")
        .await;
    let r = w.say(OWNER, "AVATAR 2").await;
    assert!(r.ends_with("2 contacts will get it."), "{r}");
    wait_pushes(&w.sim, MUM, 1).await;
    let dad = w.inbox(DAD, 1).await;
    assert!(dad[0].contains("/a/"), "{dad:?}");
    w.outbox_answered().await;

    // Closed, a contact added, opened: only the new contact gets the picture.
    w.say(OWNER, "PRIVACY NOBODY").await;
    w.say(OWNER, "GROUP FRIENDS ADD 13600136000").await;
    w.say(OWNER, "PRIVACY CONTACTS").await;
    wait_pushes(&w.sim, BOSS, 1).await;
    w.outbox_answered().await;
    w.settle_and_count(DAD, 1).await;
    assert_eq!(pushes(MUM), 1, "Mum's phone has it already");
    assert_eq!(pushes(BOSS), 1);

    // A picture chosen while closed went to nobody: on opening, all three get it.
    w.say(OWNER, "PRIVACY NOBODY").await;
    let r = w.say(OWNER, "AVATAR 3").await;
    assert_eq!(
        r,
        "Your avatar is now 3 Owl. Nobody sees it while your PRIVACY is NOBODY: \
         PRIVACY CONTACTS shares it with your contacts."
    );
    w.say(OWNER, "PRIVACY CONTACTS").await;
    wait_pushes(&w.sim, MUM, 2).await;
    wait_pushes(&w.sim, BOSS, 2).await;
    let dad = w.inbox(DAD, 2).await;
    assert!(dad[1].contains("/a/"), "{dad:?}");
    w.outbox_answered().await;
    w.settle_and_count(DAD, 2).await;
    assert_eq!((pushes(MUM), pushes(BOSS)), (2, 2));
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// A contact whose download of the picture was refused (403: taken out of every group, then
/// opening the push) has no picture, though the push reached the handset: added back, they get
/// it pushed again (the outbox queues a second push, the handset receives it) and the link
/// serves it. The refused download counted as having the picture, so adding them back pushed
/// nothing. Taken out and added back without a download, the handset keeps the picture it has
/// and gets nothing again. One that downloaded the picture (200) has it, whatever a refusal
/// after that says: taken out, refused, added back, it is not pushed the same picture again
/// (downloads were not recorded, and it was); a new picture it is.
#[tokio::test]
async fn a_contact_refused_the_picture_gets_it_pushed_again_when_added_back() {
    // The handset does not follow its pushes: the test fetches the link for it.
    let mut sim = SimConfig::local();
    sim.handsets.follow_push_links = false;
    let AvatarHttp { w, stop, http, .. } = AvatarHttp::start_on(sim).await;
    let pushes_queued = |rows: &[(String, String, Option<String>)]| {
        rows.iter().filter(|r| r.0 == "wap_push").count()
    };
    wait_pushes(&w.sim, MUM, 1).await;
    w.outbox_answered().await;
    let href = w.sim.handset(MUM).pushes[0].href.clone();

    // Out and back, no download meanwhile: nothing pushed.
    w.say(OWNER, "GROUP FAMILY DEL 13900139000").await;
    let r = w.say(OWNER, "GROUP FAMILY ADD 13900139000").await;
    assert!(r.starts_with("FAMILY now has 1 member"), "{r}");
    w.outbox_answered().await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(pushes_queued(&outbox_rows_to(&w, MUM).await), 1);
    assert_eq!(w.sim.handset(MUM).pushes.len(), 1);

    // Out, the handset asks for the picture (never downloaded) and is refused, back: pushed
    // again.
    w.say(OWNER, "GROUP FAMILY DEL 13900139000").await;
    assert_eq!(http.get(&href).send().await.unwrap().status(), 403);
    assert_eq!(http.get(&href).send().await.unwrap().status(), 403);
    w.say(OWNER, "GROUP FAMILY ADD 13900139000").await;
    assert_eq!(pushes_queued(&outbox_rows_to(&w, MUM).await), 2);
    wait_pushes(&w.sim, MUM, 2).await;
    let again = w.sim.handset(MUM).pushes[1].href.clone();
    assert_eq!(again, href, "the same per-viewer link");
    w.outbox_answered().await;
    // That push counts: out and back once more without a download pushes nothing.
    w.say(OWNER, "GROUP FAMILY DEL 13900139000").await;
    w.say(OWNER, "GROUP FAMILY ADD 13900139000").await;
    w.outbox_answered().await;
    assert_eq!(pushes_queued(&outbox_rows_to(&w, MUM).await), 2);

    // Now the handset downloads the picture; then out, refused, back: it has the picture,
    // and nothing is pushed.
    let got = http.get(&href).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert!(!got.bytes().await.unwrap().is_empty());
    w.say(OWNER, "GROUP FAMILY DEL 13900139000").await;
    assert_eq!(http.get(&href).send().await.unwrap().status(), 403);
    w.say(OWNER, "GROUP FAMILY ADD 13900139000").await;
    w.outbox_answered().await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(pushes_queued(&outbox_rows_to(&w, MUM).await), 2);
    assert_eq!(w.sim.handset(MUM).pushes.len(), 2);
    // A new picture is pushed as ever.
    let r = w.say(OWNER, "AVATAR 5").await;
    assert!(r.ends_with("1 contact will get it."), "{r}");
    wait_pushes(&w.sim, MUM, 3).await;
    stop.cancel();
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// `count` MT to `number` the simulator refused (any status but 0).
fn refused_to(sim: &SimHandle, number: &str) -> usize {
    let filter = smsc_sim::MtFilter {
        dest: Some(number.into()),
        ..smsc_sim::MtFilter::all()
    };
    sim.mt_messages(&filter)
        .iter()
        .filter(|m| !m.accepted())
        .count()
}

/// The SMSC answers every submit to `numbers` with `ESME_RTHROTTLED` (busy): the messages
/// stay in the gateway's queue, tried again after their back-off.
fn busy_for(sim: &SimHandle, numbers: &[&str]) {
    sim.set_faults(smsc_sim::Faults {
        error: Some(smsc_sim::ErrorFault {
            status: 0x58,
            percent: 0.0,
            destinations: numbers.iter().map(|n| n.to_string()).collect(),
        }),
        ..smsc_sim::Faults::default()
    });
}

/// The outbox rows to `number` as (kind, state, last error), oldest first.
async fn outbox_rows_to(w: &World, number: &str) -> Vec<(String, String, Option<String>)> {
    let number = number.to_string();
    w.gw.store
        .read(move |c| {
            presence_gw::store::outbox::list(c, None, usize::MAX).map(|rows| {
                rows.into_iter()
                    .rev()
                    .filter(|r| r.destination == number)
                    .map(|r| {
                        (
                            r.kind.as_str().to_string(),
                            r.state.as_str().to_string(),
                            r.last_error,
                        )
                    })
                    .collect()
            })
        })
        .await
        .unwrap()
}

/// PRIVACY NOBODY withdraws the avatar pushes not yet sent: while the SMSC is too busy to
/// take anything for Mum (WAP Push) and Dad (a handset without WAP Push: an SMS link), the
/// owner chooses an avatar and then closes PRIVACY. Once the SMSC takes messages again,
/// neither handset gets the push, and the outbox says why. Opened again, both get it.
#[tokio::test]
async fn privacy_nobody_withdraws_the_avatar_pushes_not_yet_sent() {
    let mut cfg = ServiceConfig::default();
    cfg.avatar.presets_dir =
        Some(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/presets"));
    cfg.avatar.sms_link_handsets = vec![DAD.to_string()];
    let w = World::start_with(cfg).await;
    w.wait_presets(3).await;
    w.say(OWNER, "GROUP FAMILY ADD 13900139000 13700137000")
        .await;
    busy_for(&w.sim, &[MUM, DAD]);
    let r = w.say(OWNER, "AVATAR 2").await;
    assert!(r.ends_with("2 contacts will get it."), "{r}");
    // Both were tried, and refused: they wait in the queue.
    w.sim
        .wait_until("refused pushes", WAIT, |h| {
            (refused_to(h, MUM) > 0 && refused_to(h, DAD) > 0).then_some(())
        })
        .await
        .unwrap();
    let r = w.say(OWNER, "PRIVACY NOBODY").await;
    assert_eq!(r, "Your avatar can be seen by nobody.");
    w.sim.set_faults(smsc_sim::Faults::default());
    // Past the back-off of the refused ones: nothing is left to send.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    w.outbox_answered().await;
    w.settle_and_count(DAD, 0).await;
    assert!(w.sim.handset(MUM).pushes.is_empty());
    for n in [MUM, DAD] {
        assert!(
            w.sim.mt_messages(&smsc_sim::MtFilter::to(n)).is_empty(),
            "{n} was sent {:?}",
            w.sim.mt_messages(&smsc_sim::MtFilter::to(n))
        );
        let rows = outbox_rows_to(&w, n).await;
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].1, "superseded", "{rows:?}");
        let why = rows[0].2.as_deref().unwrap_or_default();
        assert!(why.contains("PRIVACY NOBODY"), "{rows:?}");
    }
    assert_eq!(outbox_rows_to(&w, MUM).await[0].0, "wap_push");
    assert_eq!(outbox_rows_to(&w, DAD).await[0].0, "sms");

    // Opened again: no handset has the picture, so both get it.
    let r = w.say(OWNER, "PRIVACY CONTACTS").await;
    assert!(r.contains("contacts"), "{r}");
    wait_pushes(&w.sim, MUM, 1).await;
    let dad = w.inbox(DAD, 1).await;
    assert!(dad[0].contains("/a/"), "{dad:?}");
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// The SMS that replaces a refused WAP Push is keyed as the push was: while the SMSC is too
/// busy to take it, a newer avatar change replaces it, and Dad gets one SMS with the link,
/// not one for each picture.
#[tokio::test]
async fn a_newer_avatar_replaces_the_unsent_sms_that_replaced_a_refused_push() {
    let mut cfg = ServiceConfig::default();
    cfg.avatar.presets_dir =
        Some(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/presets"));
    let w = World::start_with(cfg).await;
    // Dad's handset refuses WAP Push; the receipt saying so comes a second after the submit.
    let mut plan = smsc_sim::ReceiptPlan::push_refused_by(DAD);
    plan.rules[0].delay_ms = 1000;
    w.sim.set_receipt_plan(plan);
    w.wait_presets(3).await;
    w.say(OWNER, "GROUP FAMILY ADD 13700137000").await;
    let r = w.say(OWNER, "AVATAR 2").await;
    assert!(r.ends_with("1 contact will get it."), "{r}");
    // The push reached the SMSC; from now on the SMSC is too busy to take anything for Dad,
    // so the SMS that replaces the refused push waits in the queue.
    w.sim
        .wait_until("the push to Dad", WAIT, |h| {
            (!h.mt_messages(&smsc_sim::MtFilter::to(DAD)).is_empty()).then_some(())
        })
        .await
        .unwrap();
    busy_for(&w.sim, &[DAD]);
    w.sim
        .wait_until("the SMS link refused", WAIT, |h| {
            (refused_to(h, DAD) > 0).then_some(())
        })
        .await
        .unwrap();
    let r = w.say(OWNER, "AVATAR 3").await;
    assert!(r.ends_with("1 contact will get it."), "{r}");
    w.sim.set_faults(smsc_sim::Faults::default());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    w.outbox_answered().await;
    let dad = w.inbox(DAD, 1).await;
    assert!(dad[0].contains("/a/"), "{dad:?}");
    w.settle_and_count(DAD, 1).await;
    let rows = outbox_rows_to(&w, DAD).await;
    // (One that came back from flight behind the newer change is superseded by it.)
    let sms: Vec<_> = rows
        .iter()
        .filter(|r| r.0 == "sms" && r.1 != "superseded")
        .collect();
    assert_eq!(sms.len(), 1, "{rows:?}");
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// A push in flight (submitted, its answer not back yet) when PRIVACY opens again counts as
/// sent: Mum gets the picture once, not a second push beside the first.
#[tokio::test]
async fn a_push_in_flight_when_privacy_reopens_is_not_sent_again() {
    let mut cfg = ServiceConfig::default();
    cfg.avatar.presets_dir =
        Some(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/presets"));
    let w = World::start_with(cfg).await;
    w.wait_presets(3).await;
    w.say(OWNER, "GROUP FAMILY ADD 13900139000").await;
    // The SMSC answers every submit 8 s late (inside the link's 10 s response timeout): the
    // push stays in flight that long, ample for the two commands below on a loaded machine.
    w.sim.set_faults(smsc_sim::Faults {
        response_delay: Some(smsc_sim::Delay::fixed(8000)),
        ..smsc_sim::Faults::default()
    });
    let before = w.texts(OWNER).len();
    w.sim
        .inject_mo(MoRequest::new(OWNER, SERVICE, "AVATAR 2"))
        .await
        .unwrap();
    w.sim
        .wait_until("the push to Mum", WAIT, |h| {
            (!h.mt_messages(&smsc_sim::MtFilter::to(MUM)).is_empty()).then_some(())
        })
        .await
        .unwrap();
    let sent = std::time::Instant::now();
    for text in ["PRIVACY NOBODY", "PRIVACY CONTACTS"] {
        w.sim
            .inject_mo(MoRequest::new(OWNER, SERVICE, text))
            .await
            .unwrap();
    }
    // Both commands were applied while the push waited for its answer: the reply to the
    // last one was submitted (the SMSC records a submit when it arrives) within the delay.
    w.sim
        .wait_until("the replies submitted", WAIT, |h| {
            (h.mt_messages(&smsc_sim::MtFilter::to(OWNER)).len() >= before + 3).then_some(())
        })
        .await
        .unwrap();
    assert!(
        sent.elapsed() < Duration::from_millis(7000),
        "too slow to test this: {:?}",
        sent.elapsed()
    );
    w.inbox(OWNER, before + 3).await;
    w.sim.set_faults(smsc_sim::Faults::default());
    w.outbox_answered().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(w.sim.handset(MUM).pushes.len(), 1);
    let rows = outbox_rows_to(&w, MUM).await;
    assert_eq!(rows.len(), 1, "one push: {rows:?}");
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// What each handset got outlives retention: once the delivered pushes' outbox rows are
/// purged, opening PRIVACY from NOBODY still pushes nothing to the contacts who have the
/// picture (by WAP Push, or by the SMS link that replaced Dad's refused push).
#[tokio::test]
async fn reopening_privacy_after_retention_pushes_only_to_handsets_without_the_picture() {
    let mut cfg = ServiceConfig::default();
    cfg.avatar.presets_dir =
        Some(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/presets"));
    let w = World::start_with(cfg).await;
    w.sim
        .set_receipt_plan(smsc_sim::ReceiptPlan::push_refused_by(DAD));
    w.wait_presets(3).await;
    w.say(OWNER, "GROUP FAMILY ADD 13900139000 13700137000")
        .await;
    let r = w.say(OWNER, "AVATAR 2").await;
    assert!(r.ends_with("2 contacts will get it."), "{r}");
    wait_pushes(&w.sim, MUM, 1).await;
    assert!(w.inbox(DAD, 1).await[0].contains("/a/"));
    // A later message: a purge never takes the newest row (its id would be given again).
    w.say(OWNER, "HELP").await;
    w.outbox_answered().await;
    // Every row final (its receipt in), so that the purge takes them all.
    let deadline = tokio::time::Instant::now() + WAIT;
    while w
        .gw
        .store
        .read(presence_gw::store::outbox::counts_by_state)
        .await
        .unwrap()
        .submitted
        > 0
    {
        assert!(tokio::time::Instant::now() < deadline, "receipts missing");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let w = w
        .restart(|conn| {
            conn.pragma_update(None, "foreign_keys", true).unwrap();
            let tx = conn.unchecked_transaction().unwrap();
            presence_gw::store::outbox::purge_finished(&tx, i64::MAX, None).unwrap();
            tx.commit().unwrap();
            let left: i64 = conn
                .query_row("SELECT count(*) FROM avatar_push", [], |r| r.get(0))
                .unwrap();
            assert_eq!(left, 0, "the pushes' rows are gone");
        })
        .await;
    w.say(OWNER, "PRIVACY NOBODY").await;
    w.say(OWNER, "PRIVACY CONTACTS").await;
    w.outbox_answered().await;
    w.settle_and_count(DAD, 1).await;
    assert_eq!(w.sim.handset(MUM).pushes.len(), 1);
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// cancel_sm: accepted messages something newer made wrong to deliver

/// Mum's handset is off: the SMSC holds what it accepts for her `ms` milliseconds before it
/// reaches her handset (and its receipt comes).
fn mum_off_for(ms: u64) -> SimConfig {
    let rule: smsc_sim::ReceiptRule = format!("8613900139000=DELIVRD@{ms}")
        .parse()
        .expect("receipt rule");
    SimConfig::local().with_receipt_rule(rule)
}

/// A world where Mum's handset is off for `ms` and the owner's first update for her (FAMILY
/// FREE) has been accepted by the SMSC, which holds it; returns the world and that message's
/// SMSC id.
async fn first_update_held_for_mum(ms: u64) -> (World, String) {
    let w = World::start_on(mum_off_for(ms), ServiceConfig::default()).await;
    w.say(OWNER, "GROUP FAMILY ADD 13900139000").await;
    w.say(OWNER, "STATUS FAMILY FREE").await;
    wait_row_to(&w, MUM, 0, "submitted").await;
    let first = accepted_id(&w.sim, MUM, 0);
    (w, first)
}

/// `w`'s HTTP routes with the operator API under `key`, served on a free port until the
/// token is cancelled: the base URL, the token and the server task.
async fn serve_api(
    w: &World,
    key: &str,
) -> (
    String,
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(presence_gw::http::serve(
        listener,
        w.gw.http_router(Some(presence_gw::config::Secret::new(key))),
        stop.clone(),
    ));
    (base, stop, server)
}

/// An activity figure no real count reaches (a broken export) is refused with its row by
/// `POST /api/v1/activity`, not stored wrapped round to a negative number (read as 0); and a
/// figure at the top of the store's integers, left by an import before that check, no
/// longer makes the subscriber's `AVATAR UPLOAD` fail: its sum with the messages counted
/// live was past SQLite's integers, a REAL no figure read as, and the command was set aside
/// unanswered.
#[tokio::test]
async fn activity_figures_too_large_are_refused_and_an_old_one_does_not_break_upload() {
    use presence_gw::service::avatar::MAX_ACTIVITY_FIGURE;
    let w = World::start().await;
    let key = "k3y-for-the-activity-api";
    let (base, stop, _server) = serve_api(&w, key).await;
    let http = reqwest::Client::new();
    let r = api(&http, format!("{base}/api/v1/activity"), key, &serde_json::json!([
            {"msisdn": "13700137000", "call_minutes": u64::MAX, "sms_sent": 1, "tenure_days": 1, "level": 1},
            {"msisdn": "13600136000", "call_minutes": 1, "sms_sent": 1, "tenure_days": 1, "level": MAX_ACTIVITY_FIGURE + 1},
            {"msisdn": "13500135000", "call_minutes": MAX_ACTIVITY_FIGURE, "sms_sent": 0, "tenure_days": 0, "level": 0}
        ])).await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["imported"], 1, "{body}");
    let skipped: Vec<(u64, String)> = body["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let why = s["error"].as_str().unwrap_or_default().to_string();
            (s["index"].as_u64().unwrap(), why)
        })
        .collect();
    assert_eq!(skipped.len(), 2, "{body}");
    assert_eq!((skipped[0].0, skipped[1].0), (0, 1), "{body}");
    assert!(
        skipped[0]
            .1
            .starts_with("call_minutes: 18446744073709551615 is over the largest")
            && skipped[1]
                .1
                .starts_with("level: 1000000000001 is over the largest"),
        "{body}"
    );
    let stored =
        w.gw.store
            .read(|c| {
                ["+8613700137000", "+8613500135000"]
                    .map(|m| presence_gw::service::avatar::activity(c, m))
                    .into_iter()
                    .collect::<Result<Vec<_>, _>>()
            })
            .await
            .unwrap();
    assert_eq!(stored[0].call_minutes, 0, "the refused row is not stored");
    assert_eq!(stored[1].call_minutes, MAX_ACTIVITY_FIGURE);
    stop.cancel();

    // A figure an older import stored unchecked, at the top of SQLite's integers.
    w.gw.store
        .write(|tx| {
            tx.execute(
                "INSERT INTO activity (msisdn, sms_sent, updated_at) VALUES (?1, ?2, 0)",
                rusqlite::params![OWNER, i64::MAX],
            )
            .map(drop)
            .map_err(presence_gw::store::StoreError::from)
        })
        .await
        .unwrap();
    // The command counts itself live (sms_live 1), then reads the sum.
    let upload = w.say(OWNER, "AVATAR UPLOAD").await;
    assert!(upload.starts_with("Upload your picture"), "{upload}");
}

/// `GET /api/v1/outbox` for a customer-care tool: mum's update found by her number in any
/// form and by the id the SMSC gave it (in the other base too), with its text, its segment's
/// SMSC id and receipt; one row by id; bad filters refused by name; the key required.
#[tokio::test]
async fn the_operator_api_finds_a_message_by_number_or_smsc_id() {
    let w = World::start().await;
    let key = "k3y-for-the-outbox-api";
    let (base, stop, _server) = serve_api(&w, key).await;
    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let r = http
                .get(format!("{base}{path}"))
                .bearer_auth(key)
                .send()
                .await
                .unwrap();
            let code = r.status().as_u16();
            (code, r.json::<serde_json::Value>().await.unwrap())
        }
    };
    w.say(OWNER, "GROUP FAMILY ADD 13900139000").await;
    w.say(OWNER, "STATUS FAMILY BUSY").await;
    wait_row_to(&w, MUM, 0, "delivered").await;
    let smsc_id = accepted_id(&w.sim, MUM, 0);

    let (code, body) = get("/api/v1/outbox?to=%2B86%20139-0013-9000".into()).await;
    assert_eq!(code, 200, "{body}");
    let rows = body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{body}");
    let row = &rows[0];
    assert_eq!(row["destination"], MUM);
    assert_eq!(row["state"], "delivered");
    assert!(row["text"].as_str().unwrap().contains("BUSY"), "{row}");
    assert_eq!(row["segments"][0]["smsc_message_id"], smsc_id.as_str());
    assert_eq!(row["segments"][0]["receipt_stat"], "DELIVRD");
    let id = row["id"].as_i64().unwrap();

    // The SMSC's id as it wrote it, and read in the other base (its ids are hex).
    let decimal = u64::from_str_radix(&smsc_id, 16).unwrap().to_string();
    for asked in [smsc_id.clone(), decimal] {
        let (code, body) = get(format!("/api/v1/outbox?smsc_id={asked}")).await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["rows"][0]["id"], id, "{asked}: {body}");
    }
    let (code, body) = get(format!("/api/v1/outbox/{id}")).await;
    assert_eq!((code, &body["id"]), (200, &serde_json::json!(id)), "{body}");
    let (code, body) = get("/api/v1/outbox/999999".into()).await;
    assert_eq!(code, 404, "{body}");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("no outbox row 999999"));
    // Nothing to a number with no message; filters that mean nothing are refused by name.
    let (code, body) = get("/api/v1/outbox?to=13500135000".into()).await;
    assert_eq!((code, body["rows"].as_array().unwrap().len()), (200, 0));
    for (query, named) in [
        ("to=12", "to"),
        ("state=sent", "state"),
        ("limit=0", "limit"),
        ("colour=red", "colour"),
    ] {
        let (code, body) = get(format!("/api/v1/outbox?{query}")).await;
        assert_eq!(code, 400, "{query}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(named),
            "{query}: {body}"
        );
    }
    let r = http
        .get(format!("{base}/api/v1/outbox?to=13900139000"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    stop.cancel();
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// Wait until outbox row `index` (oldest first) to `number` is in `state`; returns it.
async fn wait_row_to(
    w: &World,
    number: &str,
    index: usize,
    state: &str,
) -> (String, String, Option<String>) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let rows = outbox_rows_to(w, number).await;
        if let Some(row) = rows.get(index).filter(|r| r.1 == state) {
            return row.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{number}'s row {index} never became {state}: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The SMSC's message id of the `index`th message it accepted for `number`.
fn accepted_id(sim: &SimHandle, number: &str, index: usize) -> String {
    let mts = sim.mt_messages(&smsc_sim::MtFilter::to(number));
    mts.get(index)
        .unwrap_or_else(|| panic!("no accepted message {index} for {number}: {mts:?}"))
        .message_id
        .clone()
}

/// Wait until the simulator has voided the receipt of `message_id` because a cancel_sm
/// deleted the message before it reached its handset.
async fn wait_cancelled_at_sim(sim: &SimHandle, message_id: &str) {
    let cancelled = smsc_sim::DeliveryState::Failed("cancelled".into());
    sim.wait_until("cancelled at the SMSC", WAIT, |h| {
        h.receipts()
            .iter()
            .any(|r| r.message_id.as_deref() == Some(message_id) && r.state == cancelled)
            .then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{message_id}: {e}; receipts {:#?}", sim.receipts()));
}

/// Cancel intents still waiting in `w`'s store (`delivery::cancel::pending`).
async fn cancels_pending(w: &World) -> usize {
    w.gw.store
        .read(presence_gw::delivery::cancel::pending)
        .await
        .unwrap()
}

/// The count of `cancel_sm` answers with `outcome` (`presence_gw_smpp_cancels_total`).
fn cancels(w: &World, outcome: &str) -> u64 {
    w.gw.metrics.cancel_counts().get(outcome)
}

/// The owner changes STATUS twice while Mum's handset is off: the first update, which the
/// SMSC had accepted, is cancelled there (cancel_sm) and Mum's handset gets only the second,
/// not the stale one first. Before, the SMSC delivered both when her handset came back.
#[tokio::test]
async fn a_status_update_the_smsc_holds_is_cancelled_when_a_newer_one_comes() {
    let (w, first) = first_update_held_for_mum(4_000).await;
    w.say(OWNER, "STATUS FAMILY BUSY").await;
    let (_, _, why) = wait_row_to(&w, MUM, 0, "superseded").await;
    let why = why.unwrap_or_default();
    assert!(
        why.starts_with("cancelled at the SMSC: superseded by outbox row "),
        "{why}"
    );
    wait_cancelled_at_sim(&w.sim, &first).await;
    let texts = w.inbox(MUM, 1).await;
    assert!(texts[0].contains(": BUSY."), "{texts:?}");
    w.settle_and_count(MUM, 1).await;
    wait_row_to(&w, MUM, 1, "delivered").await;
    assert_eq!(cancels(&w, "cancelled"), 1);
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// Many SMSCs send a `DELETED` receipt for a message cancel_sm deleted, and it can come
/// before the cancel_sm_resp (here the SMSC answers the cancel a second late). The row ends
/// `superseded` as the answer makes it, and is not failed by that receipt: before, it became
/// `failed` ("receipt DELETED"), counted and logged as a failed delivery, an operator's
/// `outbox retry` would have sent the stale update again, and a push would have been taken
/// for one the handset refused.
#[tokio::test]
async fn a_deleted_receipt_for_our_cancel_does_not_fail_the_row() {
    let mut sim = mum_off_for(8_000);
    sim.receipts.deleted_on_cancel = true;
    let w = World::start_on(sim, ServiceConfig::default()).await;
    w.say(OWNER, "GROUP FAMILY ADD 13900139000").await;
    w.say(OWNER, "STATUS FAMILY FREE").await;
    wait_row_to(&w, MUM, 0, "submitted").await;
    let first = accepted_id(&w.sim, MUM, 0);
    w.sim.set_faults(smsc_sim::Faults {
        response_delay: Some(smsc_sim::Delay {
            min_ms: 1_000,
            max_ms: 1_000,
        }),
        ..smsc_sim::Faults::default()
    });
    w.say(OWNER, "STATUS FAMILY BUSY").await;
    // The receipt comes at once, the answer a second later.
    w.sim
        .wait_until("the DELETED receipt sent", WAIT, |h| {
            h.receipts()
                .iter()
                .any(|r| {
                    r.message_id.as_deref() == Some(first.as_str())
                        && r.stat == Some(smsc_sim::ReceiptStat::Deleted)
                        && r.state == smsc_sim::DeliveryState::Answered(0)
                })
                .then_some(())
        })
        .await
        .unwrap_or_else(|e| panic!("{e}: {:#?}", w.sim.receipts()));
    let deadline = tokio::time::Instant::now() + WAIT;
    let row = loop {
        let rows = outbox_rows_to(&w, MUM).await;
        if rows[0].1 != "submitted" {
            break rows[0].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "{rows:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(row.1, "superseded", "{row:?}");
    assert!(
        row.2
            .as_deref()
            .unwrap_or_default()
            .starts_with("cancelled at the SMSC: superseded by outbox row "),
        "{row:?}"
    );
    let texts = w.inbox(MUM, 1).await;
    assert!(texts[0].contains(": BUSY."), "{texts:?}");
    wait_row_to(&w, MUM, 1, "delivered").await;
    assert_eq!(wait_row_to(&w, MUM, 0, "superseded").await.1, "superseded");
    let deadline = tokio::time::Instant::now() + WAIT;
    while cancels(&w, "cancelled") == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the answer is counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pending = cancels_pending(&w).await;
    assert_eq!(pending, 0);
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// The owner changes STATUS again while the first update is in flight (the SMSC is slow to
/// answer its submit_sm): `enqueue` found it neither queued (to replace) nor `submitted` (to
/// cancel). Once its acceptance is recorded it is cancelled all the same, and Mum's handset
/// gets only the newer update. Before, the stale one reached her first.
#[tokio::test]
async fn an_update_in_flight_when_a_newer_one_comes_is_cancelled_once_accepted() {
    let w = World::start_on(mum_off_for(8_000), ServiceConfig::default()).await;
    w.say(OWNER, "GROUP FAMILY ADD 13900139000").await;
    w.sim.set_faults(smsc_sim::Faults {
        response_delay: Some(smsc_sim::Delay {
            min_ms: 1_500,
            max_ms: 1_500,
        }),
        ..smsc_sim::Faults::default()
    });
    w.say(OWNER, "STATUS FAMILY FREE").await;
    wait_row_to(&w, MUM, 0, "in_flight").await;
    w.say(OWNER, "STATUS FAMILY BUSY").await;
    let rows = outbox_rows_to(&w, MUM).await;
    assert_eq!(
        rows.len(),
        2,
        "a new row, the first being in flight: {rows:?}"
    );
    let (_, _, why) = wait_row_to(&w, MUM, 0, "superseded").await;
    let why = why.unwrap_or_default();
    assert!(
        why.starts_with("cancelled at the SMSC: superseded by outbox row "),
        "{why}"
    );
    let first = accepted_id(&w.sim, MUM, 0);
    wait_cancelled_at_sim(&w.sim, &first).await;
    let texts = w.inbox(MUM, 1).await;
    assert!(texts[0].contains(": BUSY."), "{texts:?}");
    w.settle_and_count(MUM, 1).await;
    wait_row_to(&w, MUM, 1, "delivered").await;
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// Mum sends STOP for the owner while an update to her is in flight, and the SMSC then
/// answers that submit "queue full" (ESME_RMSGQFUL: try later): the update is withdrawn, not
/// queued again, and her handset never gets it; she gets only the answer to her STOP. Before,
/// the update went back to the queue and reached her once the SMSC took it.
#[tokio::test]
async fn an_update_in_flight_at_stop_that_comes_back_unsent_is_withdrawn() {
    let w = World::start().await;
    w.say(OWNER, "GROUP FAMILY ADD 13900139000").await;
    w.sim.set_faults(smsc_sim::Faults {
        response_delay: Some(smsc_sim::Delay {
            min_ms: 1_500,
            max_ms: 1_500,
        }),
        error: Some(smsc_sim::ErrorFault {
            status: 0x14,
            percent: 0.0,
            destinations: vec!["8613900139000".into()],
        }),
        ..smsc_sim::Faults::default()
    });
    w.say(OWNER, "STATUS FAMILY FREE").await;
    wait_row_to(&w, MUM, 0, "in_flight").await;
    w.sim
        .inject_mo(MoRequest::new(MUM, SERVICE, "STOP 13800138000"))
        .await
        .expect("MO injected");
    let (_, _, why) = wait_row_to(&w, MUM, 0, "superseded").await;
    assert_eq!(why.as_deref(), Some("recipient sent STOP"));
    w.sim.set_faults(smsc_sim::Faults::default());
    let texts = w.inbox(MUM, 1).await;
    assert!(!texts[0].contains("FREE"), "{texts:?}");
    w.settle_and_count(MUM, 1).await;
    let rows = outbox_rows_to(&w, MUM).await;
    assert_eq!(rows[0].1, "superseded", "{rows:?}");
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// A three-part update to Mum is in flight, its parts going out one at a time (a window of
/// one, the SMSC two seconds to answer each), when she sends STOP for the owner: the
/// SMSC has the first part, the other two are not sent, and the part it took is cancelled
/// there (her handset is off meanwhile), so nothing of the update reaches her; the row ends
/// `superseded`, saying so. Before, the two other parts went out after the STOP, the cancel
/// of the whole message waited until the SMSC had accepted all three, and here came too late
/// (`ESME_RCANCELFAIL` for each part): her handset got the update she had stopped.
#[tokio::test]
async fn a_long_update_in_flight_at_stop_sends_no_more_parts_and_the_taken_ones_are_cancelled() {
    let w = World::start_tuned(mum_off_for(8_000), ServiceConfig::default(), |o| {
        o.link.window = 1;
    })
    .await;
    w.say(OWNER, "GROUP FAMILY ADD 13900139000").await;
    w.sim.set_faults(smsc_sim::Faults {
        response_delay: Some(smsc_sim::Delay {
            min_ms: 2_000,
            max_ms: 2_000,
        }),
        ..smsc_sim::Faults::default()
    });
    let before = w.sim.mt_messages(&smsc_sim::MtFilter::to(MUM)).len();
    // A long update for Mum, as the service writes one (three parts of GSM text).
    let long = presence_gw::store::outbox::NewMessage {
        coalesce_key: Some(format!("status:{OWNER}:{MUM}")),
        ..presence_gw::store::outbox::NewMessage::sms(MUM, "Owner: AWAY. ".repeat(32))
    };
    w.gw.store
        .write(move |tx| presence_gw::store::outbox::enqueue(tx, &long, now_ms()))
        .await
        .unwrap();
    w.gw.wake_dispatcher();
    // The SMSC has the first part (its answer due in two seconds): Mum sends STOP.
    w.sim
        .wait_until("the first part at the SMSC", WAIT, |h| {
            (h.mt_messages(&smsc_sim::MtFilter::to(MUM)).len() > before).then_some(())
        })
        .await
        .unwrap();
    w.sim
        .inject_mo(MoRequest::new(MUM, SERVICE, "STOP 13800138000"))
        .await
        .expect("MO injected");
    let (_, _, why) = wait_row_to(&w, MUM, 0, "superseded").await;
    let why = why.unwrap_or_default();
    assert!(why.contains("recipient sent STOP"), "{why}");
    let first = accepted_id(&w.sim, MUM, before);
    wait_cancelled_at_sim(&w.sim, &first).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let why = loop {
        let rows = outbox_rows_to(&w, MUM).await;
        let why = rows[0].2.clone().unwrap_or_default();
        if why.starts_with("cancelled at the SMSC") {
            break why;
        }
        assert!(tokio::time::Instant::now() < deadline, "{rows:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        why,
        "cancelled at the SMSC: recipient sent STOP; 2 of its 3 parts never sent"
    );
    w.sim.set_faults(smsc_sim::Faults::default());
    // Mum gets the answer to her STOP, nothing of the update.
    let texts = w.inbox(MUM, 1).await;
    assert!(!texts[0].contains("AWAY"), "{texts:?}");
    w.settle_and_count(MUM, 1).await;
    // The SMSC got the first part and the answer, never the other two parts.
    let mts = w.sim.mt_messages(&smsc_sim::MtFilter::to(MUM));
    let parts = mts[before..]
        .iter()
        .filter(|m| m.text.contains("AWAY"))
        .count();
    assert_eq!(parts, 1, "{mts:#?}");
    assert_eq!(cancels(&w, "cancelled"), 1);
    let pending = cancels_pending(&w).await;
    assert_eq!(pending, 0);
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// An avatar push the SMSC accepted while Mum's handset is off is cancelled there when the
/// owner sets AVATAR OFF: her handset never gets a link that would open no picture.
#[tokio::test]
async fn an_accepted_avatar_push_is_cancelled_when_the_owner_sets_avatar_off() {
    let mut cfg = ServiceConfig::default();
    cfg.avatar.presets_dir =
        Some(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/presets"));
    let w = World::start_on(mum_off_for(4_000), cfg).await;
    w.wait_presets(3).await;
    w.say(OWNER, "GROUP FAMILY ADD 13900139000").await;
    w.say(OWNER, "AVATAR 2").await;
    let (kind, _, _) = wait_row_to(&w, MUM, 0, "submitted").await;
    assert_eq!(kind, "wap_push");
    let push = accepted_id(&w.sim, MUM, 0);
    w.say(OWNER, "AVATAR OFF").await;
    let (_, _, why) = wait_row_to(&w, MUM, 0, "superseded").await;
    assert_eq!(
        why.as_deref(),
        Some("cancelled at the SMSC: withdrawn: the owner set AVATAR OFF")
    );
    wait_cancelled_at_sim(&w.sim, &push).await;
    assert!(
        w.sim.handset(MUM).pushes.is_empty(),
        "{:?}",
        w.sim.handset(MUM).pushes
    );
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// A world whose gateway asks for no receipts (an accepted update stays `submitted`), Mum in
/// the owner's FAMILY.
async fn mum_in_family_without_receipts() -> World {
    let w = World::start_tuned(SimConfig::local(), ServiceConfig::default(), |o| {
        o.dispatcher.template.registered_delivery = false;
    })
    .await;
    w.say(OWNER, "GROUP FAMILY ADD 13900139000").await;
    w
}

/// A cancel that comes too late (the SMSC delivered the message, the gateway did not know:
/// no receipts asked) is refused with ESME_RCANCELFAIL: the row stays as it was, its last
/// error saying why, and the cancel is not sent again.
#[tokio::test]
async fn a_cancel_refused_as_too_late_leaves_the_row_and_is_not_repeated() {
    let w = mum_in_family_without_receipts().await;
    w.say(OWNER, "STATUS FAMILY FREE").await;
    w.inbox(MUM, 1).await;
    wait_row_to(&w, MUM, 0, "submitted").await;
    w.say(OWNER, "STATUS FAMILY BUSY").await;
    let texts = w.inbox(MUM, 2).await;
    assert!(texts[1].contains(": BUSY."), "{texts:?}");
    let deadline = tokio::time::Instant::now() + WAIT;
    let why = loop {
        let rows = outbox_rows_to(&w, MUM).await;
        if let Some(why) = rows[0].2.clone() {
            assert_eq!(rows[0].1, "submitted", "{rows:?}");
            break why;
        }
        assert!(tokio::time::Instant::now() < deadline, "{rows:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(why.contains("ESME_RCANCELFAIL (0x00000011)"), "{why}");
    // No loop: one cancel_sm, answered once, nothing left to send.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(cancels(&w, "too_late"), 1);
    assert_eq!(cancels(&w, "failed") + cancels(&w, "cancelled"), 0);
    let pending = cancels_pending(&w).await;
    assert_eq!(pending, 0);
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// Without receipts an update the SMSC accepted stays `submitted`: each is asked to be
/// cancelled once, when the next one comes, not again at every later one (the third update
/// used to send a second cancel_sm for the first, refused as too late like the first).
#[tokio::test]
async fn each_accepted_update_is_asked_to_be_cancelled_once_however_many_follow() {
    let w = mum_in_family_without_receipts().await;
    let updates = ["FREE", "BUSY", "FREE", "BUSY"];
    for (n, status) in updates.iter().enumerate() {
        w.say(OWNER, &format!("STATUS FAMILY {status}")).await;
        let texts = w.inbox(MUM, n + 1).await;
        assert!(texts[n].contains(&format!(": {status}.")), "{texts:?}");
        wait_row_to(&w, MUM, n, "submitted").await;
        // Every older update's cancel answered (each kept, its last error saying why).
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let rows = outbox_rows_to(&w, MUM).await;
            let answered = rows.iter().filter(|r| r.2.is_some()).count();
            if answered == n && cancels_pending(&w).await == 0 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{rows:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(cancels(&w, "too_late"), updates.len() as u64 - 1);
    assert_eq!(cancels_pending(&w).await, 0);
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// The cancel of a superseded update is written with the update that supersedes it, so a
/// link drop does not lose it: while the SMSC is out of reach it waits, and once the link is
/// bound again it goes out and the stale update never reaches the handset.
#[tokio::test]
async fn a_cancel_asked_while_the_link_is_down_goes_out_after_the_reconnect() {
    let (w, first) = first_update_held_for_mum(8_000).await;
    w.sim.set_faults(smsc_sim::Faults {
        outage: true,
        ..smsc_sim::Faults::default()
    });
    let deadline = tokio::time::Instant::now() + WAIT;
    while w.gw.link.is_bound() {
        assert!(tokio::time::Instant::now() < deadline, "the link stays up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A newer update for Mum, as the service writes one.
    let newer = presence_gw::store::outbox::NewMessage {
        coalesce_key: Some(format!("status:{OWNER}:{MUM}")),
        ..presence_gw::store::outbox::NewMessage::sms(MUM, "Owner: BUSY.")
    };
    w.gw.store
        .write(move |tx| presence_gw::store::outbox::enqueue(tx, &newer, now_ms()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let pending = || cancels_pending(&w);
    assert_eq!(pending().await, 1, "the cancel waits for the link");
    assert_eq!(outbox_rows_to(&w, MUM).await[0].1, "submitted");
    w.sim.set_faults(smsc_sim::Faults::default());
    assert!(w.gw.link.wait_bound(WAIT).await, "the gateway binds again");
    w.gw.wake_dispatcher();
    let (_, _, why) = wait_row_to(&w, MUM, 0, "superseded").await;
    assert!(
        why.unwrap_or_default().starts_with("cancelled at the SMSC"),
        "cancelled after the reconnect"
    );
    assert_eq!(pending().await, 0);
    wait_cancelled_at_sim(&w.sim, &first).await;
    let texts = w.inbox(MUM, 1).await;
    assert_eq!(texts, ["Owner: BUSY."]);
    w.settle_and_count(MUM, 1).await;
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// While the operator has paused outbound sending (`PUT /api/v1/outbound`), no `cancel_sm`
/// goes either (a carrier's maintenance window means no traffic): the intent waits, and is
/// sent once sending resumes, with the newer update after it.
#[tokio::test]
async fn a_cancel_waits_while_outbound_is_paused_and_goes_on_resume() {
    let (w, first) = first_update_held_for_mum(8_000).await;
    w.gw.pause()
        .set(&w.gw.store, true, "maintenance".into(), now_ms())
        .await
        .unwrap();
    // A newer update for Mum, as the service writes one (a command would wait for its reply,
    // which the pause holds too).
    let newer = presence_gw::store::outbox::NewMessage {
        coalesce_key: Some(format!("status:{OWNER}:{MUM}")),
        ..presence_gw::store::outbox::NewMessage::sms(MUM, "Owner: BUSY.")
    };
    w.gw.store
        .write(move |tx| presence_gw::store::outbox::enqueue(tx, &newer, now_ms()))
        .await
        .unwrap();
    w.gw.wake_dispatcher();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let pending = || cancels_pending(&w);
    assert_eq!(pending().await, 1, "the cancel waits for the resume");
    assert_eq!(cancels(&w, "cancelled"), 0);
    assert_eq!(w.sim.mt_messages(&smsc_sim::MtFilter::to(MUM)).len(), 1);
    w.gw.pause()
        .set(&w.gw.store, false, String::new(), now_ms())
        .await
        .unwrap();
    let (_, _, why) = wait_row_to(&w, MUM, 0, "superseded").await;
    assert!(
        why.unwrap_or_default().starts_with("cancelled at the SMSC"),
        "cancelled after the resume"
    );
    wait_cancelled_at_sim(&w.sim, &first).await;
    let texts = w.inbox(MUM, 1).await;
    assert_eq!(texts, ["Owner: BUSY."]);
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// A USSD dialogue is answered while outbound sending is paused (`PUT /api/v1/outbound`): the
/// network holds the session open for the gateway's screen and ends it within minutes, so a
/// screen held until the resume could never be shown. The SMS the dialogue's choice queues
/// (the members' status updates) wait for the resume as every other submit does.
#[tokio::test]
async fn ussd_screens_are_answered_while_outbound_is_paused_and_the_updates_wait() {
    let w = World::start_with(ServiceConfig::default()).await;
    w.say(OWNER, "NAME Zhang San").await;
    w.say(OWNER, "GROUP FAMILY ADD 13900139000 13700137000")
        .await;
    let mum_before = w.texts(MUM).len();
    w.gw.pause()
        .set(&w.gw.store, true, "maintenance".into(), now_ms())
        .await
        .unwrap();
    let (menu, open) = w.dial(OWNER, "*123#").await;
    assert!(open && menu.contains("1 Set my status"), "{menu}");
    for choice in ["1", "1", "1"] {
        let (_, open) = w.dial(OWNER, choice).await;
        assert!(open);
    }
    let (done, open) = w.dial(OWNER, "3").await;
    assert!(
        !open && done.starts_with("Set: FAMILY sees FREE until "),
        "{done}"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        w.texts(MUM).len(),
        mum_before,
        "an update went out while paused"
    );
    w.gw.pause()
        .set(&w.gw.store, false, String::new(), now_ms())
        .await
        .unwrap();
    let t = w.inbox(MUM, mum_before + 1).await;
    assert!(
        t[mum_before].starts_with("Zhang San (+8613800138000): FREE until "),
        "{t:?}"
    );
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// With `[smsc] cancel_superseded = false` (a carrier without cancel_sm) nothing is sent to
/// cancel: the SMSC delivers both updates when Mum's handset is back, as before, and the
/// intents are dropped unsent.
#[tokio::test]
async fn with_cancel_superseded_off_the_smsc_delivers_both_updates() {
    let w = World::start_tuned(mum_off_for(2_000), ServiceConfig::default(), |o| {
        o.dispatcher.cancel_superseded = false;
    })
    .await;
    w.say(OWNER, "GROUP FAMILY ADD 13900139000").await;
    w.say(OWNER, "STATUS FAMILY FREE").await;
    wait_row_to(&w, MUM, 0, "submitted").await;
    w.say(OWNER, "STATUS FAMILY BUSY").await;
    let texts = w.inbox(MUM, 2).await;
    assert!(
        texts[0].contains(": FREE.") && texts[1].contains(": BUSY."),
        "{texts:?}"
    );
    wait_row_to(&w, MUM, 0, "delivered").await;
    let answers: u64 = presence_gw::delivery::cancel::CancelCounts::LABELS
        .iter()
        .map(|l| cancels(&w, l))
        .sum();
    assert_eq!(answers, 0, "no cancel_sm sent");
    let pending = cancels_pending(&w).await;
    assert_eq!(pending, 0, "the intent was dropped");
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// Wait until `what` holds (checked every 20 ms), at most [`WAIT`].
async fn wait_for(what: &str, mut holds: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !holds() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `cancel_sm`s the simulator has received.
fn cancels_received(sim: &SimHandle) -> u64 {
    sim.stats().received.get("cancel_sm").copied().unwrap_or(0)
}

/// An SMSC without cancel_sm (it answers `generic_nack` ESME_RINVCMDID: `serve
/// --no-cancel`): the first cancel tells the gateway so, counted as `unsupported`; it sends
/// no more on that bind, and the next supersession's intent is dropped unsent: the row stays
/// `submitted`, its last error says why, and its receipt decides (the SMSC delivers it). A
/// new bind tries once again, with `[smsc] no_cancel_memory_hours = 0` (no memory across
/// binds). Before, every supersession sent another cancel_sm to be refused.
#[tokio::test]
async fn an_smsc_without_cancel_sm_gets_one_cancel_a_bind() {
    let mut sim = mum_off_for(6_000);
    sim.cancel_sm = false;
    let w = World::start_tuned(sim, ServiceConfig::default(), |o| {
        o.dispatcher.no_cancel_memory = Duration::ZERO;
    })
    .await;
    w.say(OWNER, "GROUP FAMILY ADD 13900139000").await;
    w.say(OWNER, "STATUS FAMILY FREE").await;
    wait_row_to(&w, MUM, 0, "submitted").await;
    w.say(OWNER, "STATUS FAMILY BUSY").await;
    wait_for("the refusal counted", || cancels(&w, "unsupported") == 1).await;
    wait_row_to(&w, MUM, 1, "submitted").await;
    w.say(OWNER, "STATUS FAMILY DRIVING").await;
    wait_row_to(&w, MUM, 2, "submitted").await;
    let pending = || cancels_pending(&w);
    let deadline = tokio::time::Instant::now() + WAIT;
    while pending().await > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the intent stays");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(cancels_received(&w.sim), 1, "one cancel_sm on this bind");
    assert_eq!(cancels(&w, "unsupported"), 1);
    assert_eq!(cancels(&w, "refused") + cancels(&w, "cancelled"), 0);
    let rows = outbox_rows_to(&w, MUM).await;
    for row in &rows[..2] {
        assert!(
            row.2
                .as_deref()
                .unwrap_or_default()
                .contains("the SMSC does not support cancel_sm"),
            "{rows:?}"
        );
        assert_ne!(row.1, "superseded", "{rows:?}");
    }
    // A new bind tries once more.
    let binds =
        w.gw.link
            .stats()
            .binds
            .load(std::sync::atomic::Ordering::Relaxed);
    w.sim.drop_connections(None);
    wait_for("the gateway binds again", || {
        w.gw.link.is_bound()
            && w.gw
                .link
                .stats()
                .binds
                .load(std::sync::atomic::Ordering::Relaxed)
                > binds
    })
    .await;
    w.say(OWNER, "STATUS FAMILY FREE").await;
    wait_for("the new bind's refusal counted", || {
        cancels(&w, "unsupported") == 2
    })
    .await;
    assert_eq!(cancels_received(&w.sim), 2);
    // Left to the SMSC, which delivers them.
    wait_row_to(&w, MUM, 0, "delivered").await;
    wait_row_to(&w, MUM, 1, "delivered").await;
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// Wait until `w` has no cancel intent left and the simulator has received `n` cancel_sms.
async fn settled_with_cancels(w: &World, n: u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while cancels_pending(w).await > 0 || cancels_received(&w.sim) < n {
        assert!(tokio::time::Instant::now() < deadline, "the intent stays");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(cancels_received(&w.sim), n, "cancel_sms sent");
}

/// Mum's `index`th update was left to the SMSC as one without cancel_sm: its last error says
/// so.
async fn left_as_no_cancel(w: &World, index: usize) {
    let rows = outbox_rows_to(w, MUM).await;
    let why = rows[index].2.as_deref().unwrap_or_default();
    assert!(
        why.contains("the SMSC does not support cancel_sm (it answered generic_nack"),
        "{rows:?}"
    );
    assert_eq!(rows[index].1, "submitted", "{rows:?}");
}

/// An SMSC without cancel_sm (`serve --no-cancel`) is remembered in the database by its
/// address and the bind's system_id (`[smsc] no_cancel_memory_hours`, 24 by default): after
/// its one refused cancel_sm, neither a new bind to it nor a restart of the gateway sends
/// another (the rows are left to it, their last error says why). Once the operator forgets
/// it (`presence-gw smsc no-cancel --forget`, `store::cancel::forget_no_cancel`), the next
/// supersession tries a cancel_sm again, with the gateway running. Before, each new bind and
/// each restart spent a refused cancel_sm to learn it again.
#[tokio::test]
async fn an_smsc_without_cancel_sm_is_remembered_across_binds_and_restarts() {
    use presence_gw::store::cancel::{forget_no_cancel, no_cancel_list};
    let mut sim = mum_off_for(120_000);
    sim.cancel_sm = false;
    let w = World::start_on(sim, ServiceConfig::default()).await;
    w.say(OWNER, "GROUP FAMILY ADD 13900139000").await;
    w.say(OWNER, "STATUS FAMILY FREE").await;
    wait_row_to(&w, MUM, 0, "submitted").await;
    w.say(OWNER, "STATUS FAMILY BUSY").await;
    wait_row_to(&w, MUM, 1, "submitted").await;
    settled_with_cancels(&w, 1).await;
    left_as_no_cancel(&w, 0).await;
    let known = w.gw.store.read(no_cancel_list).await.unwrap();
    assert_eq!(
        known
            .iter()
            .map(|n| (n.smsc.clone(), n.system_id.as_str()))
            .collect::<Vec<_>>(),
        [(w.sim.smpp_addr().to_string(), SYSTEM_ID)]
    );
    // A new bind to the same SMSC.
    let binds = || {
        w.gw.link
            .stats()
            .binds
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let before = binds();
    w.sim.drop_connections(None);
    wait_for("the gateway binds again", || {
        w.gw.link.is_bound() && binds() > before
    })
    .await;
    w.say(OWNER, "STATUS FAMILY DRIVING").await;
    wait_row_to(&w, MUM, 2, "submitted").await;
    settled_with_cancels(&w, 1).await;
    left_as_no_cancel(&w, 1).await;
    // A restart.
    let w = w.restart(|_| {}).await;
    w.say(OWNER, "STATUS FAMILY FREE").await;
    wait_row_to(&w, MUM, 3, "submitted").await;
    settled_with_cancels(&w, 1).await;
    left_as_no_cancel(&w, 2).await;
    // The operator forgets it: the next supersession tries again.
    let forgotten =
        w.gw.store
            .write(|tx| forget_no_cancel(tx, None))
            .await
            .unwrap();
    assert_eq!(forgotten, 1);
    w.say(OWNER, "STATUS FAMILY BUSY").await;
    wait_row_to(&w, MUM, 4, "submitted").await;
    settled_with_cancels(&w, 2).await;
    left_as_no_cancel(&w, 3).await;
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// What is remembered of an SMSC without cancel_sm lasts `no_cancel_memory_hours`: once it
/// is older, the next supersession tries a cancel_sm again (here a memory of a second).
#[tokio::test]
async fn an_smsc_without_cancel_sm_is_tried_again_once_its_memory_is_old() {
    let mut sim = mum_off_for(120_000);
    sim.cancel_sm = false;
    let w = World::start_tuned(sim, ServiceConfig::default(), |o| {
        o.dispatcher.no_cancel_memory = Duration::from_secs(1);
    })
    .await;
    w.say(OWNER, "GROUP FAMILY ADD 13900139000").await;
    w.say(OWNER, "STATUS FAMILY FREE").await;
    wait_row_to(&w, MUM, 0, "submitted").await;
    w.say(OWNER, "STATUS FAMILY BUSY").await;
    wait_row_to(&w, MUM, 1, "submitted").await;
    settled_with_cancels(&w, 1).await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    w.say(OWNER, "STATUS FAMILY DRIVING").await;
    wait_row_to(&w, MUM, 2, "submitted").await;
    settled_with_cancels(&w, 2).await;
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// A cancel_sm the SMSC answers ESME_RTHROTTLED (busy) slows the link down as a throttled
/// submit does: the adaptive rate every submit and cancel takes its token from is cut. The
/// cancel is tried again after its back-off and goes through once the SMSC takes it. Before,
/// a throttled cancel left the rate as it was, and the link went on at full speed into an
/// SMSC that was refusing for load.
#[tokio::test]
async fn a_throttled_cancel_slows_the_link_down_as_a_throttled_submit_does() {
    let (w, _) = first_update_held_for_mum(8_000).await;
    assert_eq!(
        w.gw.link.rate_limit(),
        None,
        "no max_rate, no push-back yet"
    );
    w.sim.set_faults(smsc_sim::Faults {
        refuse_cancels: Some(0x58),
        ..smsc_sim::Faults::default()
    });
    w.say(OWNER, "STATUS FAMILY BUSY").await;
    wait_for("the throttled cancel answered", || {
        cancels(&w, "failed") >= 1
    })
    .await;
    let limit = w.gw.link.rate_limit();
    assert!(
        limit.is_some_and(|r| r < 1_000.0),
        "the rate was cut: {limit:?}"
    );
    let throttled_submits =
        w.gw.link
            .stats()
            .submits_throttled
            .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(throttled_submits, 0, "only the cancel was refused");
    cancelled_once_the_smsc_takes_it(w).await;
}

/// The end of the cancel-retry tests: the SMSC takes cancels again (faults cleared), mum's
/// first update ends `superseded`, cancelled at the SMSC, one cancel counted; both stopped.
async fn cancelled_once_the_smsc_takes_it(w: World) {
    w.sim.set_faults(smsc_sim::Faults::default());
    let (_, _, why) = wait_row_to(&w, MUM, 0, "superseded").await;
    assert!(
        why.unwrap_or_default()
            .starts_with("cancelled at the SMSC: superseded by outbox row "),
        "cancelled once the SMSC took it"
    );
    assert_eq!(cancels(&w, "cancelled"), 1);
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// A cancel_sm the SMSC answers with a vendor code the operator listed in `[smsc]
/// temporary_statuses` (0x401, "busy now") is tried again after its back-off, as a submit
/// refused with it is, and the message is cancelled once the SMSC takes the cancel. Before,
/// the canceller read only the standard codes: the answer was a refusal for good, the row
/// kept `submitted` with "the SMSC refused cancel_sm", and the stale update delivered.
#[tokio::test]
async fn a_cancel_refused_with_a_status_listed_as_temporary_is_tried_again() {
    let w = World::start_tuned(mum_off_for(8_000), ServiceConfig::default(), |o| {
        o.link.temporary_statuses = vec![0x401];
    })
    .await;
    w.say(OWNER, "GROUP FAMILY ADD 13900139000").await;
    w.say(OWNER, "STATUS FAMILY FREE").await;
    wait_row_to(&w, MUM, 0, "submitted").await;
    w.sim.set_faults(smsc_sim::Faults {
        refuse_cancels: Some(0x401),
        ..smsc_sim::Faults::default()
    });
    w.say(OWNER, "STATUS FAMILY BUSY").await;
    wait_for("the cancel answered 0x401", || {
        cancels_received(&w.sim) >= 1
    })
    .await;
    wait_for("the answer counted", || {
        cancels(&w, "failed") + cancels(&w, "refused") >= 1
    })
    .await;
    assert_eq!(cancels(&w, "refused"), 0, "a listed status is no refusal");
    let rows = outbox_rows_to(&w, MUM).await;
    assert_eq!(rows[0].1, "submitted", "{rows:?}");
    assert_eq!(
        cancels_pending(&w).await,
        1,
        "the intent waits for its retry"
    );
    cancelled_once_the_smsc_takes_it(w).await;
}

/// A world whose database holds, as the gateway that died left it, a keyed three-part update
/// to Mum of which the SMSC took part 1 (message id `m-part-1`), claimed again for the rest
/// and marked by her STOP while in flight; the gateway, its options changed by `tune`, then
/// starts on it (and withdraws the row: `superseded`, "(cancel_sm asked for)"). The simulator
/// answers every cancel_sm `refuse_cancels`. Returns the world and the row's id.
async fn withdrawn_in_flight_at_start(
    refuse_cancels: Option<u32>,
    tune: impl FnOnce(&mut GatewayOptions),
) -> (World, i64) {
    use presence_gw::store::outbox::{self, AcceptedSegment, Attempt, AttemptEnd, NewMessage};
    let sim = Simulator::start(SimConfig::local().with_account(SYSTEM_ID, PASSWORD))
        .await
        .expect("simulator starts");
    sim.set_faults(smsc_sim::Faults {
        refuse_cancels,
        ..smsc_sim::Faults::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let key = format!("status:{OWNER}:{MUM}");
    let store = presence_gw::store::Store::open(&World::db(&dir), Default::default()).unwrap();
    let msg = NewMessage {
        coalesce_key: Some(key.clone()),
        ..NewMessage::sms(MUM, "three parts")
    };
    let t = now_ms();
    let id = store
        .write(move |tx| {
            let id = outbox::enqueue(tx, &msg, t)?.id;
            outbox::claim_due(tx, t, 1)?;
            let attempts = [Attempt {
                outbox_id: id,
                attempt: 1,
                accepted: vec![AcceptedSegment {
                    seq: 1,
                    total: 3,
                    message_id: "m-part-1".into(),
                }],
                end: AttemptEnd::Retry {
                    at: t,
                    error: "ESME_RSYSERR".into(),
                },
            }];
            for r in outbox::record_attempts(tx, &attempts, None, t)? {
                r?;
            }
            outbox::claim_due(tx, t, 1)?;
            outbox::withdraw_queued(tx, &key, "recipient sent STOP", None, t)?;
            Ok::<_, presence_gw::store::StoreError>(id)
        })
        .await
        .unwrap();
    store.close().await;
    let gw = World::gateway_tuned(&sim, &dir, ServiceConfig::default(), tune).await;
    (World { sim, gw, _dir: dir }, id)
}

/// Wait until `w` has no cancel intent left; then outbox row `id`'s state and last error.
async fn row_once_no_cancel_waits(w: &World, id: i64) -> (String, Option<String>) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while cancels_pending(w).await > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the intent stays");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let row =
        w.gw.store
            .read(move |c| presence_gw::store::outbox::get(c, id))
            .await
            .unwrap()
            .expect("the row is there");
    (row.state.as_str().to_string(), row.last_error)
}

/// A row withdrawn in flight with part 1 taken ([`withdrawn_in_flight_at_start`]) whose
/// cancel_sm the SMSC refuses (ESME_RINVMSGID): its last error then says the cancel was
/// refused, with the status. Before, it kept saying "cancel_sm asked for" for good (the
/// refusal was written only to `submitted` rows), and `outbox show` readers took the part
/// for cancelled or still being cancelled.
#[tokio::test]
async fn a_row_withdrawn_in_flight_whose_cancel_is_refused_says_so() {
    let (w, id) = withdrawn_in_flight_at_start(Some(0x0C), |_| {}).await;
    wait_for("the cancel refused", || cancels(&w, "refused") == 1).await;
    assert_eq!(cancels_received(&w.sim), 1);
    let (state, why) = row_once_no_cancel_waits(&w, id).await;
    assert_eq!(state, "superseded");
    assert_eq!(
        why.as_deref(),
        Some(
            "withdrawn in flight (recipient sent STOP): the SMSC had taken 1 of its 3 parts \
             (not cancelled: the SMSC refused cancel_sm with ESME_RINVMSGID (0x0000000C)), \
             the other 2 were never sent"
        )
    );
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// The same row with `[smsc] cancel_superseded = false`: no cancel_sm goes, and its last
/// error says the cancels are off instead of "cancel_sm asked for".
#[tokio::test]
async fn a_row_withdrawn_in_flight_with_cancels_off_says_no_cancel_went() {
    let (w, id) =
        withdrawn_in_flight_at_start(None, |o| o.dispatcher.cancel_superseded = false).await;
    let (state, why) = row_once_no_cancel_waits(&w, id).await;
    assert_eq!(state, "superseded");
    assert_eq!(
        why.as_deref(),
        Some(
            "withdrawn in flight (recipient sent STOP): the SMSC had taken 1 of its 3 parts \
             (not cancelled: cancel_sm is turned off ([smsc] cancel_superseded = false)), \
             the other 2 were never sent"
        )
    );
    assert_eq!(cancels_received(&w.sim), 0);
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// The canceller wakes when an intent is written, not on a timer: idle, it does not read the
/// store (before, it looked twice a second whether or not anything was asked), and a newer
/// update written to the store is acted on at once (before, it waited for the next look, up to
/// half a second).
#[tokio::test]
async fn the_canceller_reads_nothing_while_idle_and_wakes_for_an_intent() {
    let (w, _) = first_update_held_for_mum(8_000).await;
    let counts = w.gw.metrics.cancel_counts();
    let looks = counts.looks();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(counts.looks(), looks, "no look in 2 s idle");
    // A newer update for Mum, as the service writes one.
    let newer = presence_gw::store::outbox::NewMessage {
        coalesce_key: Some(format!("status:{OWNER}:{MUM}")),
        ..presence_gw::store::outbox::NewMessage::sms(MUM, "Owner: BUSY.")
    };
    let written = std::time::Instant::now();
    w.gw.store
        .write(move |tx| presence_gw::store::outbox::enqueue(tx, &newer, now_ms()))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while outbox_rows_to(&w, MUM).await[0].1 != "superseded" {
        assert!(tokio::time::Instant::now() < deadline, "never cancelled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = written.elapsed();
    assert!(
        took < Duration::from_millis(300),
        "cancelled {took:?} after"
    );
    assert_eq!(counts.looks(), looks + 1, "one look for the one intent");
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// A 64 x 64 PNG whose pixels are set by `seed`, compressed fast or best: the two
/// compressions of one seed are different files (different uploads) of the same picture
/// (the same variants, so the same blobs).
fn seeded_png(seed: u8, best: bool) -> Vec<u8> {
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    use image::ImageEncoder;
    let img = image::RgbImage::from_fn(64, 64, |x, y| {
        image::Rgb([
            (x as u8).wrapping_mul(4) ^ seed,
            (y as u8).wrapping_mul(4),
            seed,
        ])
    });
    let compression = if best {
        CompressionType::Best
    } else {
        CompressionType::Fast
    };
    let mut out = Vec::new();
    PngEncoder::new_with_quality(&mut out, compression, FilterType::Adaptive)
        .write_image(img.as_raw(), 64, 64, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

/// The one-time upload link in reply `r` to AVATAR UPLOAD.
fn upload_link_in(r: &str) -> String {
    r.split_whitespace()
        .find(|t| t.contains("/u/"))
        .unwrap_or_else(|| panic!("no link in {r}"))
        .to_string()
}

/// `who` texts AVATAR UPLOAD; the one-time upload link of the reply.
async fn upload_link(w: &World, who: &str) -> String {
    upload_link_in(&w.say(who, "AVATAR UPLOAD").await)
}

/// `who` asks for an upload link and posts `png` to it over HTTP; returns the page that
/// answers, once the SMS that confirms it reached `who`'s handset (so that the next
/// [`World::say`] reads its own reply).
async fn upload_picture(w: &World, http: &reqwest::Client, who: &str, png: Vec<u8>) -> String {
    let url = upload_link(w, who).await;
    let before = w.texts(who).len();
    let resp = http
        .post(&url)
        .header("content-type", "image/png")
        .body(png)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    let page = resp.text().await.unwrap();
    w.inbox(who, before + 1).await;
    page
}

/// `owner`'s avatar id (they have one).
async fn avatar_of(w: &World, owner: &'static str) -> i64 {
    w.gw.store
        .read(move |c| presence_gw::service::avatar::current(c, owner))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{owner} has no avatar"))
}

/// Mum's link to `owner`'s avatar (its token).
async fn mums_link(w: &World, owner: &'static str) -> String {
    w.gw.store
        .write(move |tx| presence_gw::service::avatar::link_token(tx, owner, MUM, 0))
        .await
        .unwrap()
}

/// Retention as the gateway runs it (`store::retention::step`, rounds of 500 until one
/// deletes less) with every change made so far older than the keep period (the cut just
/// after now); the rows it deleted.
async fn retention_now(w: &World) -> presence_gw::store::retention::Purged {
    use presence_gw::store::retention;
    let cut = now_ms() + 1;
    let mut total = retention::Purged::default();
    loop {
        let p =
            w.gw.store
                .write(move |tx| retention::step(tx, cut, 500))
                .await
                .unwrap();
        total += p;
        if !p.more(500) {
            return total;
        }
    }
}

/// A GET of `url` over HTTP: the status, the ETag and the body.
async fn fetch_picture(http: &reqwest::Client, url: &str) -> (u16, String, Vec<u8>) {
    let r = http.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let etag = r
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, etag, r.bytes().await.unwrap().to_vec())
}

/// Pictures nobody shows any more go once they have been unused longer than the keep period
/// (the cut just after every change here), over the gateway's real HTTP and database: the
/// owner's upload they changed away from goes with its variants and blobs, and its bytes are
/// in no table of the file any more. What stays and still downloads: the owner's current
/// upload (through Mum's link), the preset the owner left (`/p/3`), Dad's upload of a picture
/// he uploaded before as another file (the same variants: the blobs the deleted one shared
/// with it stay), and the Boss's upload he picked again (the same file) after a preset, which
/// came off the list of unused pictures then. Pictures were never deleted.
#[tokio::test]
async fn pictures_nobody_shows_go_after_the_keep_period_and_the_rest_still_download() {
    let AvatarHttp {
        w,
        base,
        stop,
        http,
        token,
    } = AvatarHttp::start().await;
    for who in [OWNER, DAD, BOSS] {
        w.qualify(who).await;
    }
    w.say(DAD, "GROUP FAMILY ADD 13900139000").await;
    w.say(BOSS, "GROUP FAMILY ADD 13900139000").await;
    let (dads, boss) = (mums_link(&w, DAD).await, mums_link(&w, BOSS).await);
    let current = |owner: &'static str| avatar_of(&w, owner);

    // The owner: preset 3 (AvatarHttp), then an upload, then another.
    upload_picture(&w, &http, OWNER, seeded_png(1, false)).await;
    let changed = current(OWNER).await;
    let mut changed_bytes = Vec::new();
    for q in ["", "?f=png", "?f=gif&s=48"] {
        let (status, _, bytes) = fetch_picture(&http, &format!("{base}/a/{token}{q}")).await;
        assert_eq!(status, 200);
        changed_bytes.push(bytes);
    }
    let changed_blobs: Vec<String> = w
        .gw
        .store
        .read(move |c| {
            let mut s = c.prepare("SELECT blob_sha256 FROM avatar_variant WHERE avatar_id = ?1")?;
            let v = s
                .query_map([changed], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok::<_, presence_gw::store::StoreError>(v)
        })
        .await
        .unwrap();
    assert_eq!(changed_blobs.len(), 6, "two sizes, three formats");
    upload_picture(&w, &http, OWNER, seeded_png(2, false)).await;
    let owners = fetch_picture(&http, &format!("{base}/a/{token}")).await;
    assert_eq!(owners.0, 200);
    let preset = fetch_picture(&http, &format!("{base}/p/3")).await;
    assert_eq!(preset.0, 200);

    // Dad: one picture, then the same picture as another file.
    let (fast, best) = (seeded_png(3, false), seeded_png(3, true));
    assert_ne!(fast, best, "two files");
    upload_picture(&w, &http, DAD, fast).await;
    let dads_first = current(DAD).await;
    let dad_before = fetch_picture(&http, &format!("{base}/a/{dads}")).await;
    upload_picture(&w, &http, DAD, best).await;
    assert_ne!(current(DAD).await, dads_first, "another upload");
    let dad_after = fetch_picture(&http, &format!("{base}/a/{dads}")).await;
    assert_eq!(dad_after, dad_before, "the same variant, blob and ETag");

    // The Boss: an upload, a preset, the same upload again.
    upload_picture(&w, &http, BOSS, seeded_png(4, false)).await;
    let again = current(BOSS).await;
    let r = w.say(BOSS, "AVATAR 5").await;
    assert!(r.starts_with("Your avatar is now 5"), "{r}");
    upload_picture(&w, &http, BOSS, seeded_png(4, false)).await;
    assert_eq!(current(BOSS).await, again, "the same picture");
    let listed: Vec<i64> =
        w.gw.store
            .read(|c| {
                let mut s = c.prepare("SELECT avatar_id FROM avatar_orphan ORDER BY avatar_id")?;
                let v = s.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
                Ok::<_, presence_gw::store::StoreError>(v)
            })
            .await
            .unwrap();
    assert_eq!(
        listed,
        [changed, dads_first],
        "the pictures nobody shows; the one picked again came off"
    );
    let boss_before = fetch_picture(&http, &format!("{base}/a/{boss}")).await;
    assert_eq!(boss_before.0, 200);

    let purged = retention_now(&w).await;
    assert_eq!(
        (purged.avatars, purged.avatar_variants, purged.image_blobs),
        (2, 12, 6),
        "the owner's first upload with its blobs, Dad's first without (shared): {purged:?}"
    );
    let db = rusqlite::Connection::open(World::db(&w._dir)).unwrap();
    let rows = |sql: &str, p: &dyn rusqlite::ToSql| -> i64 {
        db.query_row(sql, [p], |r| r.get(0)).unwrap()
    };
    for id in [changed, dads_first] {
        assert_eq!(rows("SELECT count(*) FROM avatar WHERE id = ?1", &id), 0);
        assert_eq!(
            rows(
                "SELECT count(*) FROM avatar_variant WHERE avatar_id = ?1",
                &id
            ),
            0
        );
    }
    for sha in &changed_blobs {
        assert_eq!(
            rows("SELECT count(*) FROM image_blob WHERE sha256 = ?1", sha),
            0
        );
    }
    for bytes in &changed_bytes {
        assert_eq!(
            rows("SELECT count(*) FROM image_blob WHERE bytes = ?1", bytes),
            0,
            "the old picture's bytes are gone"
        );
    }
    // What stays still downloads, the same.
    for (url, before) in [
        (format!("{base}/a/{token}"), &owners),
        (format!("{base}/p/3"), &preset),
        (format!("{base}/a/{dads}"), &dad_before),
        (format!("{base}/a/{boss}"), &boss_before),
    ] {
        assert_eq!(&fetch_picture(&http, &url).await, before, "{url}");
    }
    assert_eq!(fetch_picture(&http, &format!("{base}/p/5")).await.0, 200);
    stop.cancel();
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// A deleted picture's id is never given to a new one: SQLite gives a new row the highest id
/// plus one, and rows that outlive a picture (the push Mum got, her download) still name
/// it. The owner uploads a picture (the newest), Mum's handset gets and downloads it, the
/// owner turns it off and retention runs past the keep period; under PRIVACY NOBODY the
/// owner uploads another picture, and opening PRIVACY again pushes it to Mum. Had retention
/// deleted the first picture, the second would have taken its id, and the gateway, taking
/// Mum's handset for one that holds it, would have pushed her nothing. Once a newer picture
/// exists, the first goes.
#[tokio::test]
async fn a_new_picture_never_takes_a_deleted_pictures_id() {
    let AvatarHttp { w, stop, http, .. } = AvatarHttp::start().await;
    w.qualify(OWNER).await;
    let current = || async { avatar_of(&w, OWNER).await };
    let pushes = |n: &str| w.sim.handset(n).pushes.len();
    wait_pushes(&w.sim, MUM, 1).await;
    let page = upload_picture(&w, &http, OWNER, seeded_png(7, false)).await;
    assert!(page.contains("1 contact will get it"), "{page}");
    let first = current().await;
    wait_pushes(&w.sim, MUM, 2).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while mums_download(&w).await.0 != Some(first) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Mum never downloaded it"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    w.outbox_answered().await;
    let r = w.say(OWNER, "AVATAR OFF").await;
    assert!(!r.is_empty());
    retention_now(&w).await;

    w.say(OWNER, "PRIVACY NOBODY").await;
    let page = upload_picture(&w, &http, OWNER, seeded_png(8, false)).await;
    assert!(
        page.contains("Your new picture is set. Nobody sees it while your PRIVACY is NOBODY"),
        "{page}"
    );
    let second = current().await;
    w.say(OWNER, "PRIVACY CONTACTS").await;
    wait_pushes(&w.sim, MUM, 3).await;
    w.outbox_answered().await;
    assert_eq!(pushes(MUM), 3);
    assert!(second > first, "a new id: {second} after {first}");

    // A newer picture exists: the first goes now.
    let purged = retention_now(&w).await;
    assert_eq!(purged.avatars, 1, "{purged:?}");
    let left: i64 =
        w.gw.store
            .read(move |c| {
                Ok::<_, presence_gw::store::StoreError>(c.query_row(
                    "SELECT count(*) FROM avatar WHERE id = ?1",
                    [first],
                    |r| r.get(0),
                )?)
            })
            .await
            .unwrap();
    assert_eq!(left, 0);
    stop.cancel();
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// `HELP STATUS` tells a subscriber which statuses there are and whom a status can be set
/// for, in one SMS, in English and in Chinese; HELP WHO and HELP STOP say what the command
/// does. Before, each topic answered only with its usage line ("Usage: STATUS FAMILY FREE /
/// ..."), and nothing sent by SMS named MEETING, DRIVING, DND or OFF.
#[tokio::test]
async fn help_on_a_topic_says_what_the_command_does() {
    let w = World::start().await;
    let r = w.say(OWNER, "HELP STATUS").await;
    for word in ["MEETING", "DRIVING", "DND", "OFF", "ALL", "OTHERS", "UNTIL"] {
        assert!(r.contains(word), "{word}: {r}");
    }
    assert!(r.len() <= 160, "{r}");
    let r = w.say(MUM, "帮助 状态").await;
    for word in ["开会", "开车", "勿扰", "关机", "全部", "其他"] {
        assert!(r.contains(word), "{word}: {r}");
    }
    assert!(r.chars().count() <= 70, "{r}");
    let r = w.say(OWNER, "HELP WHO").await;
    assert!(r.contains("shows you"), "{r}");
    let r = w.say(OWNER, "HELP STOP").await;
    assert!(r.contains("no more updates"), "{r}");
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// A Chinese reply is Chinese in its punctuation too: the GROUPS and STATUS lists put `：`
/// after each group (they put an ASCII `:` before a Chinese quote: `家人(2):“空闲”`) and a
/// group's members are listed with `、`, as the avatar catalogue's pictures are.
#[tokio::test]
async fn chinese_lists_use_chinese_punctuation() {
    let w = World::start().await;
    w.say(OWNER, "分组 家人 加 13900139000 13700137000").await;
    w.say(OWNER, "状态 家人 空闲").await;
    let groups = w.say(OWNER, "分组").await;
    assert!(
        groups.contains("家人(2)：“空闲”；同事(0)：“待机”"),
        "{groups}"
    );
    let status = w.say(OWNER, "状态").await;
    assert!(status.contains("家人：“空闲”；同事：“待机”"), "{status}");
    let members = w.say(OWNER, "分组 家人").await;
    assert!(
        members.contains("+8613700137000、+8613900139000"),
        "{members}"
    );
    for r in [&groups, &status, &members] {
        assert!(!r.contains(':') && !r.contains(", "), "{r}");
    }
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// `GROUP g ADD` to a group whose status is set says what the group sees, rather than
/// suggesting `STATUS g FREE` as if the numbers added saw nothing yet (they see the status
/// at once, and are told it). A group still on STANDBY keeps the suggestion.
#[tokio::test]
async fn adding_to_a_group_with_a_status_says_what_it_sees() {
    let w = World::start().await;
    let r = w.say(OWNER, "GROUP FAMILY ADD 13900139000").await;
    assert_eq!(
        r,
        "FAMILY now has 1 member. Set what they see: STATUS FAMILY FREE"
    );
    w.say(OWNER, "STATUS FAMILY DRIVING FOR 2H").await;
    let r = w.say(OWNER, "GROUP FAMILY ADD 13700137000").await;
    assert!(
        r.starts_with("FAMILY now has 2 members. FAMILY sees DRIVING until "),
        "{r}"
    );
    assert!(!r.contains("STATUS FAMILY FREE"), "{r}");
    assert!(w.inbox(DAD, 1).await[0].contains("DRIVING until"));
    let r = w.say(OWNER, "分组 家人 加 13600136000").await;
    assert!(r.starts_with("家人现有3人。家人看到“开车”至"), "{r}");
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// Dropping a group that has no members says so plainly, without "its 0 members now see your
/// OTHERS status".
#[tokio::test]
async fn dropping_an_empty_group_names_no_members() {
    let w = World::start().await;
    assert_eq!(
        w.say(OWNER, "GROUP FRIENDS DROP").await,
        "FRIENDS emptied and back to STANDBY (built-in groups stay)."
    );
    assert_eq!(
        w.say(OWNER, "分组 朋友 解散").await,
        "分组朋友已清空并恢复为“待机”（内置分组保留）。"
    );
    w.say(OWNER, "GROUP TEAM ADD 13900139000").await;
    assert_eq!(
        w.say(OWNER, "GROUP TEAM DROP").await,
        "Group TEAM dropped; its 1 member now sees your OTHERS status (or another group's)."
    );
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// Two numbers sent to WHO or STOP are answered with the command for one of them, in the
/// subscriber's language, and nothing is stopped; before, the reply said the two were one
/// number with "too many digits".
#[tokio::test]
async fn two_numbers_to_who_or_stop_are_asked_for_one_at_a_time() {
    let w = World::start().await;
    w.say(OWNER, "GROUP FAMILY ADD 13900139000").await;
    assert_eq!(
        w.say(MUM, "STOP 13800138000 13700137000").await,
        "One number at a time, please: STOP +8613800138000 (then the next)."
    );
    assert_eq!(
        w.say(MUM, "查 13800138000，13700137000").await,
        "请一次发一个号码：查 +8613800138000（再发下一个）。"
    );
    // Nothing was stopped: the update comes.
    w.say(OWNER, "STATUS FAMILY BUSY").await;
    assert!(w.inbox(MUM, 3).await[2].contains("忙碌"));
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// A subscriber with a group named in Chinese gets the USSD screens that list it: "Who sees
/// it?" with 老同学 is 77 UCS-2 characters, within a USSD string's 80, and the SMSC takes it
/// (smsc-sim refused every USSD screen over an SMS's 70, so the menu died there). The WHO
/// answer about an owner with a Chinese name and a photo is shown without the link that
/// would not fit whole, not with the link cut.
#[tokio::test]
async fn ussd_screens_with_chinese_up_to_a_ussd_string_are_shown_and_no_link_is_cut() {
    let mut cfg = ServiceConfig::default();
    cfg.avatar.presets_dir =
        Some(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/presets"));
    let w = World::start_with(cfg).await;
    w.wait_presets(3).await;
    w.say(OWNER, "GROUP 老同学 ADD 13700137000").await;
    w.say(OWNER, "GROUP GOLF ADD 13600136000").await;
    let (menu, open) = w.dial(OWNER, "*123#").await;
    assert!(open && menu.starts_with("Presence"), "{menu}");
    let (targets, open) = w.dial(OWNER, "1").await;
    assert!(open, "{targets}");
    assert!(
        targets.starts_with("Who sees it?\n1 FAMILY") && targets.contains("老同学"),
        "{targets}"
    );
    assert!(targets.encode_utf16().count() > 70, "{targets}");
    w.dial(OWNER, "00").await;

    w.say(MUM, "名字 妈妈").await;
    w.say(MUM, "GROUP FAMILY ADD 13800138000").await;
    w.say(MUM, "AVATAR 3").await;
    w.dial(OWNER, "*123#").await;
    w.dial(OWNER, "4").await;
    let (who, open) = w.dial(OWNER, "13900139000").await;
    assert!(!open);
    assert_eq!(who, "妈妈 (+8613900139000): STANDBY.");
    // By SMS the link is there, whole.
    let r = w.say(OWNER, "WHO 13900139000").await;
    assert!(r.contains("Photo: http://"), "{r}");
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// An owner named in Chinese sets a status with an expiry: an English-reading contact's
/// update (UCS-2 for the name, 70 characters an SMS) arrives as one SMS, with the shortest
/// stop hint; it took two ("Reply STOP … to stop." was two characters too many).
#[tokio::test]
async fn an_update_with_a_chinese_name_and_an_expiry_is_one_sms() {
    let w = World::start().await;
    w.say(DAD, "HELP").await;
    w.say(OWNER, "名字 妈妈").await;
    w.say(OWNER, "分组 家人 加 13700137000").await;
    // A minute: "until HH:MM" today, but within a minute of midnight.
    w.say(OWNER, "状态 家人 忙 1分钟").await;
    let got = w.inbox(DAD, 2).await;
    assert!(
        got[1].starts_with("妈妈 (+8613800138000): BUSY until ")
            && got[1].ends_with(". STOP 8613800138000 to stop."),
        "{}",
        got[1]
    );
    assert_eq!(w.sim.handset(DAD).inbox[1].parts, 1);
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// A status for OTHERS alone tells no one (OTHERS are never sent updates): the reply says who
/// sees it, numbers in none of the groups when they ask WHO, instead of "0 contacts will be
/// told", which read as if the status reached nobody.
#[tokio::test]
async fn a_status_for_others_says_who_sees_it() {
    let w = World::start().await;
    w.say(OWNER, "GROUP FAMILY ADD 13900139000").await;
    assert_eq!(
        w.say(OWNER, "STATUS OTHERS BUSY").await,
        "Set: OTHERS sees BUSY. Numbers in none of your groups see it when they ask WHO."
    );
    assert_eq!(
        w.say(STRANGER, "WHO 13800138000").await,
        "+8613800138000: BUSY."
    );
    assert_eq!(
        w.say(OWNER, "状态 其他 开会").await,
        "已设置：其他看到“开会”。不在你任何分组里的号码查询你时会看到。"
    );
    // With a group set too, the count of contacts told.
    assert_eq!(
        w.say(OWNER, "STATUS OTHERS BUSY, FAMILY FREE").await,
        "Set: OTHERS sees BUSY; FAMILY sees FREE. 1 contact will be told."
    );
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}

/// `START <n>` from one who had not stopped updates about n says there was nothing to undo;
/// it said "You will get updates about n again", which a number in none of n's groups (who
/// gets none) read as a subscription. After STOP n or STOP ALL it is "again", as before.
#[tokio::test]
async fn start_without_a_stop_says_there_was_nothing_to_undo() {
    let w = World::start().await;
    w.say(OWNER, "GROUP FAMILY ADD 13900139000").await;
    assert_eq!(
        w.say(STRANGER, "START 13800138000").await,
        "You had not stopped updates about +8613800138000: nothing to undo."
    );
    assert_eq!(
        w.say(STRANGER, "订阅 13800138000").await,
        "你没有退订+8613800138000的状态通知，无需恢复。"
    );
    w.say(MUM, "STOP 13800138000").await;
    assert_eq!(
        w.say(MUM, "START 13800138000").await,
        "You will get updates about +8613800138000 again."
    );
    assert_eq!(
        w.say(MUM, "START 13800138000").await,
        "You had not stopped updates about +8613800138000: nothing to undo."
    );
    w.say(MUM, "STOP ALL").await;
    assert_eq!(
        w.say(MUM, "START 13800138000").await,
        "You will get updates about +8613800138000 again."
    );
    w.say(OWNER, "STATUS FAMILY BUSY").await;
    assert!(w.inbox(MUM, 6).await[5].contains("BUSY"));
    w.gw.shutdown().await;
    w.sim.shutdown().await;
}
