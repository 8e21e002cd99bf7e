//! `sim-bench`: how fast the simulator absorbs submit_sm.
//!
//! Starts the simulator in-process on its own runtime (threads named `sim`), binds one
//! transmitter from a fast client on another runtime (threads named `bench`), keeps `--window`
//! submit_sm in flight until `-n` are answered, and prints PDUs/s plus the CPU microseconds per
//! PDU of the simulator's threads and of the client's (from `/proc/self/task/*/schedstat`).
//! With `--addr` it blasts an external SMSC instead (only the rate is meaningful then).

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use futures::StreamExt;
use rusmpp::pdus::{BindTransmitter, SubmitSm};
use rusmpp::types::{COctetString, OctetString};
use rusmpp::values::{DataCoding, EsmClass, InterfaceVersion, Npi, RegisteredDelivery, Ton};
use rusmpp::{Command, CommandStatus};
use sms_wire::framing::{encode_command, Frame, SmppCodec};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_util::codec::FramedRead;

/// Blast submit_sm at the simulator and report throughput and CPU per PDU.
#[derive(Debug, Parser)]
#[command(name = "sim-bench", about)]
struct Args {
    /// Number of submit_sm to send.
    #[arg(short, long, default_value_t = 50_000)]
    n: u32,
    /// Requests in flight.
    #[arg(short, long, default_value_t = 100)]
    window: usize,
    /// Worker threads for the in-process simulator.
    #[arg(long, default_value_t = 1)]
    sim_threads: usize,
    /// Blast this external SMSC instead of an in-process simulator.
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// system_id / password to bind with.
    #[arg(long, default_value = "bench")]
    system_id: String,
    /// Password to bind with.
    #[arg(long, default_value = "bench")]
    password: String,
}

/// CPU time in nanoseconds of this process's threads whose name starts with `prefix`: the
/// first field of `/proc/self/task/*/schedstat` when available, else (utime + stime) from
/// `/proc/self/task/*/stat` in 10 ms clock ticks.
fn thread_cpu_ns(prefix: &str) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let open = stat.find('(')?;
            let close = stat.rfind(')')?;
            if !stat[open + 1..close].starts_with(prefix) {
                return None;
            }
            if let Some(ns) = std::fs::read_to_string(e.path().join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            {
                return Some(ns);
            }
            let f: Vec<&str> = stat[close + 2..].split(' ').collect();
            // After ")": state is index 0; utime (field 14 overall) is index 11, stime 12.
            let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
            Some(ticks * 10_000_000)
        })
        .sum()
}

fn submit_bytes(seq: u32) -> Vec<u8> {
    let sm = SubmitSm::builder()
        .source_addr_ton(Ton::Alphanumeric)
        .source_addr_npi(Npi::Unknown)
        .source_addr(COctetString::from_str("Bench").unwrap_or_default())
        .dest_addr_ton(Ton::International)
        .dest_addr_npi(Npi::Isdn)
        .destination_addr(COctetString::from_str("8613800138000").unwrap_or_default())
        .esm_class(EsmClass::from(0x00))
        .registered_delivery(RegisteredDelivery::from(0))
        .data_coding(DataCoding::from(0x00))
        .short_message(
            OctetString::from_vec(b"benchmark message body".to_vec()).unwrap_or_default(),
        )
        .build();
    encode_command(&Command::new(CommandStatus::EsmeRok, seq, sm))
}

async fn blast(addr: SocketAddr, args: &Args) -> Result<(Duration, u32)> {
    let sock = TcpStream::connect(addr).await.context("connect")?;
    sock.set_nodelay(true)?;
    let (rd, mut wr) = sock.into_split();
    let mut reader = FramedRead::new(rd, SmppCodec::new());
    let bind = BindTransmitter::builder()
        .system_id(COctetString::from_str(&args.system_id)?)
        .password(COctetString::from_str(&args.password)?)
        .interface_version(InterfaceVersion::Smpp3_4)
        .build();
    wr.write_all(&encode_command(&Command::new(
        CommandStatus::EsmeRok,
        1,
        bind,
    )))
    .await?;
    match reader.next().await {
        Some(Ok(Frame::Pdu(c))) if c.status() == CommandStatus::EsmeRok => {}
        other => bail!("bind failed: {other:?}"),
    }
    let template = submit_bytes(0);
    let window = Arc::new(Semaphore::new(args.window));
    let n = args.n;
    let start = Instant::now();
    let w = Arc::clone(&window);
    let writer = tokio::spawn(async move {
        let mut buf = Vec::with_capacity(template.len() * 128);
        let mut sent = 0u32;
        while sent < n {
            let Ok(p) = w.acquire().await else { break };
            p.forget();
            let mut batch = 1;
            while sent + batch < n {
                match w.try_acquire() {
                    Ok(p) => {
                        p.forget();
                        batch += 1;
                    }
                    Err(_) => break,
                }
            }
            buf.clear();
            for i in 0..batch {
                let seq = 2 + sent + i;
                buf.extend_from_slice(&template[..12]);
                buf.extend_from_slice(&seq.to_be_bytes());
                buf.extend_from_slice(&template[16..]);
            }
            sent += batch;
            if wr.write_all(&buf).await.is_err() {
                break;
            }
        }
        wr
    });
    let mut ok = 0u32;
    let mut answered = 0u32;
    while answered < n {
        match tokio::time::timeout(Duration::from_secs(10), reader.next()).await {
            Ok(Some(Ok(Frame::Pdu(c)))) => {
                answered += 1;
                if c.status() == CommandStatus::EsmeRok {
                    ok += 1;
                }
                window.add_permits(1);
            }
            Ok(Some(Ok(Frame::Invalid(_)))) => {
                answered += 1;
                window.add_permits(1);
            }
            other => bail!("stream ended after {answered} responses: {other:?}"),
        }
    }
    let elapsed = start.elapsed();
    let _ = writer.await;
    Ok((elapsed, ok))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let sim_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.sim_threads.max(1))
        .thread_name("sim")
        .enable_all()
        .build()?;
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench")
        .enable_all()
        .build()?;
    let (addr, sim) = match args.addr {
        Some(a) => (a, None),
        None => {
            let cfg = smsc_sim::SimConfig {
                http_addr: None,
                window: args.window.max(1) * 2,
                max_records: (args.n as usize).max(1000),
                ..smsc_sim::SimConfig::local()
            };
            let h = sim_rt.block_on(smsc_sim::Simulator::start(cfg))?;
            (h.smpp_addr(), Some(h))
        }
    };
    let sim0 = thread_cpu_ns("sim");
    let cli0 = thread_cpu_ns("bench");
    let (elapsed, ok) = client_rt.block_on(blast(addr, &args))?;
    let sim_ns = thread_cpu_ns("sim") - sim0;
    let cli_ns = thread_cpu_ns("bench") - cli0;
    let n = f64::from(args.n);
    let rate = n / elapsed.as_secs_f64();
    let us = |ns: u64| ns as f64 / 1e3 / n;
    println!(
        "sim-bench: {} submit_sm (window {}) in {:.3} s: {:.0} PDU/s, {} ok",
        args.n,
        args.window,
        elapsed.as_secs_f64(),
        rate,
        ok
    );
    if sim.is_some() {
        println!(
            "sim-bench: simulator CPU {:.2} us/PDU, client CPU {:.2} us/PDU (threads 'sim' / 'bench', /proc/self/task/*/schedstat)",
            us(sim_ns),
            us(cli_ns)
        );
    }
    if let Some(h) = sim {
        let stats = h.stats();
        println!(
            "sim-bench: simulator recorded {} accepted MT, {} submit_sm received",
            stats.mt_accepted,
            stats.received.get("submit_sm").copied().unwrap_or(0)
        );
        sim_rt.block_on(h.shutdown());
    }
    Ok(())
}
