//! The integration step's jobs, durable: one redb file (`steps.redb` in the state directory).
//!
//! Two tables: `jobs` (id → the job as JSON) and `due` (`<next attempt ms, 20 digits>-<id>` →
//! nothing), an index in time order, so finding the deliveries that are due is a range scan
//! however many jobs wait. Every change is one write transaction, durable when it returns
//! (redb's default: the commit is fsynced), so a job recorded before the 202 survives a
//! SIGKILL.

use std::path::Path;

use anyhow::Context as _;
use redb::{Database, ReadableDatabase as _, ReadableTable as _, TableDefinition};
use serde::{Deserialize, Serialize};

const JOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("jobs");
const DUE: TableDefinition<&str, ()> = TableDefinition::new("due");

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum JobState {
    /// The function is running (re-run after a restart).
    Running,
    /// The outcome is known and waits to be delivered (`next_attempt_ms`).
    Pending,
    /// Delivery gave up (older than the retry age); kept until retried or dropped.
    Failed,
}

/// The outcome to deliver: the status `/function` would have answered, and the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// 200 for a result; an error's HTTP status otherwise.
    pub status: u16,
    /// The result, or `{"errors":[…]}`.
    pub body: String,
}

/// One long-running call and its callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// Unique across restarts; also the callback's idempotency key.
    pub id: String,
    /// `diy` or the `_connectorId`.
    pub connector: String,
    /// The function's name.
    pub function: String,
    /// The `type` the request named, if any.
    pub group: Option<String>,
    /// The `/function` envelope the call runs (to re-run it after a restart).
    pub envelope: String,
    /// Where the outcome goes.
    pub response_url: String,
    /// Where the job is.
    pub state: JobState,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When the next delivery attempt is due (Unix ms), while pending.
    pub next_attempt_ms: Option<u64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the job was recorded (Unix ms).
    pub created_ms: u64,
    /// The outcome, once the function has ended.
    pub outcome: Option<Outcome>,
}

fn due_key(at_ms: u64, id: &str) -> String {
    format!("{at_ms:020}-{id}")
}

/// The job store.
pub struct Store {
    db: Database,
}

impl Store {
    /// Opens (creating it and its directory if needed) the store at `path`.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let db = Database::create(path).with_context(|| format!("opening {}", path.display()))?;
        let txn = db.begin_write()?;
        txn.open_table(JOBS)?;
        txn.open_table(DUE)?;
        txn.commit()?;
        Ok(Self { db })
    }

    /// Writes `job`, replacing the stored version (whose due entry, `was_due`, is removed).
    pub fn save(&self, job: &Job, was_due: Option<u64>) -> anyhow::Result<()> {
        let bytes = serde_json::to_vec(job)?;
        let txn = self.db.begin_write()?;
        {
            let mut jobs = txn.open_table(JOBS)?;
            jobs.insert(job.id.as_str(), bytes.as_slice())?;
            let mut due = txn.open_table(DUE)?;
            if let Some(at) = was_due {
                due.remove(due_key(at, &job.id).as_str())?;
            }
            if let (JobState::Pending, Some(at)) = (job.state, job.next_attempt_ms) {
                due.insert(due_key(at, &job.id).as_str(), ())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Removes a job (delivered or dropped); whether it existed.
    pub fn remove(&self, id: &str) -> anyhow::Result<bool> {
        let txn = self.db.begin_write()?;
        let existed = {
            let mut jobs = txn.open_table(JOBS)?;
            let old = jobs.remove(id)?.map(|v| v.value().to_vec());
            if let Some(old) = &old
                && let Ok(job) = serde_json::from_slice::<Job>(old)
                && let Some(at) = job.next_attempt_ms
            {
                txn.open_table(DUE)?.remove(due_key(at, id).as_str())?;
            }
            old.is_some()
        };
        txn.commit()?;
        Ok(existed)
    }

    /// One job.
    pub fn get(&self, id: &str) -> anyhow::Result<Option<Job>> {
        let txn = self.db.begin_read()?;
        let jobs = txn.open_table(JOBS)?;
        Ok(match jobs.get(id)? {
            Some(v) => Some(serde_json::from_slice(v.value())?),
            None => None,
        })
    }

    /// Every job, oldest id first.
    pub fn all(&self) -> anyhow::Result<Vec<Job>> {
        let txn = self.db.begin_read()?;
        let jobs = txn.open_table(JOBS)?;
        let mut out = Vec::new();
        for entry in jobs.iter()? {
            let (_, v) = entry?;
            out.push(serde_json::from_slice(v.value())?);
        }
        Ok(out)
    }

    /// Ids of up to `limit` pending jobs due at `now_ms`, earliest first, and the time the
    /// next one after them is due.
    pub fn due(&self, now_ms: u64, limit: usize) -> anyhow::Result<(Vec<String>, Option<u64>)> {
        let txn = self.db.begin_read()?;
        let due = txn.open_table(DUE)?;
        let mut ids = Vec::new();
        for entry in due.iter()? {
            let (key, _) = entry?;
            let key = key.value();
            let (at, id) = key.split_once('-').unwrap_or((key, ""));
            let at: u64 = at.parse().unwrap_or(0);
            if at > now_ms || ids.len() >= limit {
                return Ok((ids, Some(at)));
            }
            ids.push(id.to_string());
        }
        Ok((ids, None))
    }
}
