//! The third-party side of every comparison: `../shared/peers/bench.py` (node-smpp client,
//! python-smpplib, Kannel end to end) run in the same session as our suites.
//!
//! The peers folder is read-only and `bench.py` writes `run/` and `results/` next to itself,
//! so it cannot run in place. [`prepare`] copies its files (not its installs) into a writable
//! folder and links the installs that already exist in the repository instead:
//! `node_modules -> tests/interop/node_modules` (npm `smpp` 0.5.1, the version the peers pin)
//! and `.venv -> tests/interop/.venv` (smpplib 2.2.4; smpp34 is not installed there, so that
//! peer is left out). Kannel runs from Debian's `/usr/sbin`. [`summarise`] reads its JSON.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::stats::{median, Summary};

/// Why the peers harness could not run or be read.
#[derive(Debug, thiserror::Error)]
pub enum PeersError {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A prerequisite is missing.
    #[error("missing {what}: {path}")]
    Missing {
        /// What.
        what: &'static str,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The results file is not what bench.py writes.
    #[error("results {path}: {reason}")]
    Results {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> PeersError + 'a {
    move |source| PeersError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Where things are.
#[derive(Debug, Clone)]
pub struct PeersPaths {
    /// The read-only peers folder.
    pub source: PathBuf,
    /// The writable copy.
    pub work: PathBuf,
    /// node_modules holding npm `smpp`.
    pub node_modules: PathBuf,
    /// A Python venv with smpplib.
    pub venv: PathBuf,
}

/// Entries of the peers folder that are not copied (installs and outputs).
const SKIP: [&str; 5] = ["node_modules", ".venv", "run", "results", "__pycache__"];

fn copy_tree(from: &Path, to: &Path) -> Result<usize, PeersError> {
    std::fs::create_dir_all(to).map_err(io("create", to))?;
    let mut n = 0;
    for entry in std::fs::read_dir(from).map_err(io("read dir", from))? {
        let entry = entry.map_err(io("read dir", from))?;
        let name = entry.file_name();
        if SKIP.iter().any(|s| name == *s) {
            continue;
        }
        let src = entry.path();
        let dst = to.join(&name);
        let ft = entry.file_type().map_err(io("stat", &src))?;
        if ft.is_dir() {
            n += copy_tree(&src, &dst)?;
        } else if ft.is_file() {
            if dst.exists() {
                std::fs::remove_file(&dst).map_err(io("remove", &dst))?;
            }
            std::fs::copy(&src, &dst).map_err(io("copy", &src))?;
            n += 1;
        }
    }
    Ok(n)
}

fn link(target: &Path, at: &Path) -> Result<(), PeersError> {
    if std::fs::symlink_metadata(at).is_ok() {
        std::fs::remove_file(at).map_err(io("remove", at))?;
    }
    std::os::unix::fs::symlink(target, at).map_err(io("symlink", at))
}

/// Copy the harness into `paths.work` and link the installs; returns the number of files copied.
pub fn prepare(paths: &PeersPaths) -> Result<usize, PeersError> {
    for (what, p) in [
        ("peers bench.py", paths.source.join("bench.py")),
        ("npm smpp", paths.node_modules.join("smpp")),
        ("venv python", paths.venv.join("bin/python")),
    ] {
        if !p.exists() {
            return Err(PeersError::Missing { what, path: p });
        }
    }
    let n = copy_tree(&paths.source, &paths.work)?;
    link(&paths.node_modules, &paths.work.join("node_modules"))?;
    link(&paths.venv, &paths.work.join(".venv"))?;
    Ok(n)
}

/// Run `bench.py` in the copy with `args` (stdout/stderr inherited so its progress shows);
/// returns its exit status code and the path of its JSON results for `tag`.
pub fn run(paths: &PeersPaths, tag: &str, args: &[String]) -> Result<(i32, PathBuf), PeersError> {
    let py = paths.work.join(".venv/bin/python");
    let status = Command::new(&py)
        .arg(paths.work.join("bench.py"))
        .args(["--tag", tag])
        .args(args)
        .current_dir(&paths.work)
        .stdin(Stdio::null())
        .status()
        .map_err(io("run", &py))?;
    Ok((
        status.code().unwrap_or(-1),
        paths.work.join("results").join(format!("{tag}.json")),
    ))
}

/// One peer configuration summarised over its rounds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerRow {
    /// `node`, `smpplib`, `smpp34` or `kannel`.
    pub peer: String,
    /// Window (SMPP clients) or HTTP connections (Kannel).
    pub param: u64,
    /// msg/s over the rounds.
    pub mps: Summary,
    /// Median CPU us per message of the peer itself (client; for Kannel both boxes).
    pub peer_us_per_msg: f64,
    /// Median CPU us per message of the node SMSC.
    pub smsc_us_per_msg: f64,
    /// Rounds that were clean.
    pub good: usize,
    /// Rounds run.
    pub runs: usize,
}

fn num(v: &serde_json::Value, path: &[&str]) -> f64 {
    let mut cur = v;
    for k in path {
        match cur.get(k) {
            Some(x) => cur = x,
            None => return f64::NAN,
        }
    }
    cur.as_f64().unwrap_or(f64::NAN)
}

/// Summarise the `runs` of a bench.py results document, in first-seen order.
pub fn summarise(doc: &serde_json::Value) -> Vec<PeerRow> {
    let runs = doc
        .get("runs")
        .and_then(|r| r.as_array())
        .cloned()
        .unwrap_or_default();
    let mut keys: Vec<(String, u64)> = Vec::new();
    for r in &runs {
        let k = (
            r.get("peer")
                .and_then(|p| p.as_str())
                .unwrap_or("?")
                .to_string(),
            r.get("param").and_then(|p| p.as_u64()).unwrap_or(0),
        );
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .filter_map(|(peer, param)| {
            let rs: Vec<&serde_json::Value> = runs
                .iter()
                .filter(|r| {
                    r.get("peer").and_then(|p| p.as_str()) == Some(peer.as_str())
                        && r.get("param").and_then(|p| p.as_u64()) == Some(param)
                })
                .collect();
            let per_msg = |f: &dyn Fn(&serde_json::Value) -> f64| -> f64 {
                median(
                    &rs.iter()
                        .map(|r| 1e6 * f(r) / num(r, &["n"]))
                        .collect::<Vec<_>>(),
                )
            };
            let peer_us = if peer == "kannel" {
                per_msg(&|r| num(r, &["cpu_s", "smsbox"]) + num(r, &["cpu_s", "bearerbox"]))
            } else {
                per_msg(&|r| num(r, &["cpu_s", "client"]))
            };
            Some(PeerRow {
                mps: Summary::of(&rs.iter().map(|r| num(r, &["mps"])).collect::<Vec<_>>())?,
                peer_us_per_msg: peer_us,
                smsc_us_per_msg: per_msg(&|r| num(r, &["cpu_s", "smsc"])),
                good: rs
                    .iter()
                    .filter(|r| r.get("good").and_then(|g| g.as_bool()) == Some(true))
                    .count(),
                runs: rs.len(),
                peer,
                param,
            })
        })
        .collect()
}

/// Read and summarise a bench.py results file.
pub fn load(path: &Path) -> Result<(serde_json::Value, Vec<PeerRow>), PeersError> {
    let text = std::fs::read_to_string(path).map_err(io("read", path))?;
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| PeersError::Results {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if doc.get("runs").and_then(|r| r.as_array()).is_none() {
        return Err(PeersError::Results {
            path: path.to_path_buf(),
            reason: "no `runs` array".into(),
        });
    }
    let rows = summarise(&doc);
    Ok((doc, rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn summarises_clients_and_kannel() {
        let doc = json!({"runs": [
            {"peer": "node", "param": 10, "n": 1000, "mps": 100.0, "good": true,
             "cpu_s": {"client": 0.02, "smsc": 0.01}},
            {"peer": "node", "param": 10, "n": 1000, "mps": 300.0, "good": true,
             "cpu_s": {"client": 0.04, "smsc": 0.01}},
            {"peer": "node", "param": 10, "n": 1000, "mps": 200.0, "good": false,
             "cpu_s": {"client": 0.03, "smsc": 0.01}},
            {"peer": "kannel", "param": 50, "n": 1000, "mps": 50.0, "good": true,
             "cpu_s": {"client": 0.5, "smsc": 0.02, "smsbox": 0.05, "bearerbox": 0.04}}
        ]});
        let rows = summarise(&doc);
        assert_eq!(rows.len(), 2);
        let node = &rows[0];
        assert_eq!((node.peer.as_str(), node.param), ("node", 10));
        assert_eq!(node.mps.median, 200.0);
        assert!((node.peer_us_per_msg - 30.0).abs() < 1e-9);
        assert!((node.smsc_us_per_msg - 10.0).abs() < 1e-9);
        assert_eq!((node.good, node.runs), (2, 3));
        let k = &rows[1];
        assert!((k.peer_us_per_msg - 90.0).abs() < 1e-9);
    }

    #[test]
    fn bad_documents_do_not_panic() {
        assert!(summarise(&json!({})).is_empty());
        assert!(summarise(&json!({"runs": [{"peer": 3}]})).is_empty());
        let dir = std::env::temp_dir().join(format!("gw-bench-peers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.json");
        std::fs::write(&p, "{\"no\": 1}").unwrap();
        assert!(matches!(load(&p), Err(PeersError::Results { .. })));
        std::fs::write(&p, "not json").unwrap();
        assert!(matches!(load(&p), Err(PeersError::Results { .. })));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn prepare_copies_without_installs_and_links_them() {
        let base = std::env::temp_dir().join(format!("gw-bench-prep-{}", std::process::id()));
        let src = base.join("peers");
        std::fs::create_dir_all(src.join("node")).unwrap();
        std::fs::create_dir_all(src.join("node_modules/x")).unwrap();
        std::fs::write(src.join("bench.py"), "print(1)").unwrap();
        std::fs::write(src.join("node/a.js"), "1").unwrap();
        let nm = base.join("nm");
        std::fs::create_dir_all(nm.join("smpp")).unwrap();
        let venv = base.join("venv");
        std::fs::create_dir_all(venv.join("bin")).unwrap();
        std::fs::write(venv.join("bin/python"), "").unwrap();
        let paths = PeersPaths {
            source: src,
            work: base.join("work"),
            node_modules: nm.clone(),
            venv,
        };
        assert_eq!(prepare(&paths).unwrap(), 2);
        // twice is fine (files replaced, links renewed)
        assert_eq!(prepare(&paths).unwrap(), 2);
        assert!(paths.work.join("node/a.js").is_file());
        assert_eq!(
            std::fs::read_link(paths.work.join("node_modules")).unwrap(),
            nm
        );
        let missing = PeersPaths {
            venv: base.join("nope"),
            ..paths
        };
        assert!(matches!(prepare(&missing), Err(PeersError::Missing { .. })));
        let _ = std::fs::remove_dir_all(&base);
    }
}
