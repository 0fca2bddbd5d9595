//! CPU time, read from `/proc`: what a measurement cost the machine, split between the server
//! process(es) under test, PostgreSQL (every `postgres` process) and the benchmark's own clients. On a
//! machine whose cores all of them share, the cost per command says more than commands per
//! second, which move with whatever else the machine runs.

use std::collections::HashMap;

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`, 100 on every Linux we run on).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds used so far, per process.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    server: Option<f64>,
    bench: f64,
    postgres: HashMap<u32, f64>,
}

/// CPU seconds used between two snapshots.
#[derive(Debug, Clone, Copy, Default)]
pub struct Used {
    /// Every server process together; `None` when the server runs inside the benchmark's
    /// process (then it is part of `bench`).
    pub server: Option<f64>,
    pub postgres: f64,
    pub bench: f64,
}

/// User + system CPU seconds of process `pid`, and its command name.
fn process(pid: &str) -> Option<(String, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`: comm may hold spaces, so split after its closing parenthesis.
    let (head, rest) = stat.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_owned();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the state.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some((comm, ticks / TICKS_PER_SECOND))
}

impl Snapshot {
    /// Now, for the server processes `servers` together (none: the server runs in this process).
    pub fn take(servers: &[u32]) -> Self {
        let mut postgres = HashMap::new();
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(pid) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else { continue };
                if let Some((comm, seconds)) = process(pid)
                    && comm == "postgres"
                    && let Ok(pid) = pid.parse()
                {
                    postgres.insert(pid, seconds);
                }
            }
        }
        Self {
            server: (!servers.is_empty())
                .then(|| servers.iter().filter_map(|pid| process(&pid.to_string())).map(|(_, s)| s).sum()),
            bench: process("self").map_or(0.0, |(_, s)| s),
            postgres,
        }
    }

    /// What was used since `earlier`. A PostgreSQL process that started meanwhile counts whole;
    /// one that ended meanwhile is missed (connections live as long as a measurement here).
    pub fn since(&self, earlier: &Snapshot) -> Used {
        let postgres = self.postgres.iter().map(|(pid, now)| now - earlier.postgres.get(pid).copied().unwrap_or(0.0));
        Used {
            server: self.server.zip(earlier.server).map(|(now, then)| now - then),
            postgres: postgres.sum(),
            bench: self.bench - earlier.bench,
        }
    }
}

impl Used {
    /// Microseconds per operation: server, PostgreSQL, clients (`–` for the server when it ran
    /// in the benchmark's process).
    pub fn per_operation(&self, operations: usize) -> String {
        let per = |seconds: f64| 1e6 * seconds / operations.max(1) as f64;
        let server = self.server.map_or_else(|| "–".to_owned(), |s| format!("{:.0}", per(s)));
        format!("{server} / {:.0} / {:.0}", per(self.postgres), per(self.bench))
    }
}
