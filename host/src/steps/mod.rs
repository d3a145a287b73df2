//! The integration step: `POST /steps/{connectorId|diy}/{function}[?type=…]`, for workflow
//! platforms that need an answer within 5 seconds or a `202` and a callback later.
//!
//! A call that ends within the answer budget (default 4.5 s) is answered at once. One that does
//! not is recorded as a job in the store (`store.rs`, durable before the `202` leaves), runs on
//! under its own limits, and its outcome is POSTed to the request's `X-Response-URL` by the
//! delivery worker ([`Steps::run`]): `X-Status-Code` when the outcome is not 200, the job id as
//! `Idempotency-Key`, retried with exponential backoff and jitter until the retry age, then
//! kept as `failed` for an operator (`GET /steps/jobs`, retry, drop). A job found running at
//! start (the host died mid-call) is run again: a wasm instance cannot be resumed, and the
//! function was never answered, so running it again is the only way to deliver at least once;
//! the same id travels with the callback, so a receiver that saw an earlier delivery can drop
//! it.
//!
//! Callback URLs are attacker-controlled input: each is checked against the connector's
//! `[steps] callback_hosts` (the egress pattern syntax) when the request arrives, and sent
//! through the egress sender, whose address rules refuse private and loopback addresses that
//! a pattern does not name.

pub mod routes;
pub mod store;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::Notify;

use crate::egress::{NetworkPolicy, NetworkSettings};
use crate::http::AppState;
use crate::runtime::Tags;
use store::{Job, JobState, Outcome, Store};

/// Default answer budget: under the platforms' 5 s, with room for the network.
pub const DEFAULT_ANSWER_BUDGET_MS: u64 = 4_500;
/// The answer budget must stay below the platforms' 5 s.
pub const MAX_ANSWER_BUDGET_MS: u64 = 4_999;
/// Default age after which a job's delivery stops being retried (and it is kept as failed).
pub const DEFAULT_RETRY_MAX_AGE_MS: u64 = 24 * 60 * 60 * 1000;
/// The first retry's delay; each next one doubles, up to [`MAX_RETRY_DELAY_MS`].
const FIRST_RETRY_DELAY_MS: u64 = 1_000;
const MAX_RETRY_DELAY_MS: u64 = 5 * 60 * 1000;
/// Deliveries attempted at once.
const DELIVERIES_AT_ONCE: usize = 32;
/// A callback request's own timeout and the most of the receiver's answer read.
const CALLBACK_TIMEOUT_MS: u64 = 10_000;
const CALLBACK_RESPONSE_BYTES: u64 = 64 * 1024;

/// The `[steps]` table of a connector's settings file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSettings {
    /// A token that authenticates step requests for this connector (besides the system token).
    pub token: Option<String>,
    /// URL patterns (as `network.allowed_hosts`) a step's `X-Response-URL` may point at.
    pub callback_hosts: Option<Vec<String>>,
    /// This connector's answer budget in ms (below 5000).
    pub answer_budget_ms: Option<u64>,
}

/// A connector's step settings, compiled when its module loads.
#[derive(Debug)]
pub struct StepPolicy {
    /// Its step token, if any.
    pub token: Option<String>,
    /// Where its callbacks may go (no patterns: nowhere).
    pub callbacks: Arc<NetworkPolicy>,
    /// How long a step request waits for the function before answering 202.
    pub answer_budget: Duration,
}

impl StepPolicy {
    /// Compiles `[steps]`; callbacks use the connector's `[network]` `resolve` and `ca_file`.
    pub fn compile(
        settings: &StepSettings,
        network: &NetworkSettings,
        default_budget: Duration,
    ) -> anyhow::Result<Self> {
        let answer_budget = match settings.answer_budget_ms {
            Some(ms) if ms > MAX_ANSWER_BUDGET_MS => {
                bail!("steps.answer_budget_ms: {ms} is not below 5000 (the platforms' limit)")
            }
            Some(ms) => Duration::from_millis(ms),
            None => default_budget,
        };
        let callbacks = NetworkPolicy::compile(&NetworkSettings {
            allowed_hosts: settings.callback_hosts.clone(),
            request_timeout_ms: Some(CALLBACK_TIMEOUT_MS),
            max_response_bytes: Some(CALLBACK_RESPONSE_BYTES),
            ca_file: network.ca_file.clone(),
            resolve: network.resolve.clone(),
            ..NetworkSettings::default()
        })
        .context("steps.callback_hosts")?;
        Ok(Self {
            token: settings.token.clone().filter(|t| !t.is_empty()),
            callbacks: Arc::new(callbacks),
            answer_budget,
        })
    }

    /// Whether `url` is a URL this connector's callbacks may go to.
    pub fn allows_callback(&self, url: &str) -> bool {
        let Ok(uri) = url.parse::<http::Uri>() else {
            return false;
        };
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return false,
        };
        let Some(host) = uri.host() else {
            return false;
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        self.callbacks.allows(https, host, port).is_some()
    }
}

/// Host-wide step settings.
#[derive(Debug, Clone, PartialEq)]
pub struct StepsConfig {
    /// Where the job store lives.
    pub state_dir: PathBuf,
    /// The default answer budget.
    pub answer_budget: Duration,
    /// How long a job's delivery is retried.
    pub retry_max_age: Duration,
}

impl StepsConfig {
    /// The defaults, with the store in `state_dir`.
    pub fn new(state_dir: PathBuf) -> Self {
        Self {
            state_dir,
            answer_budget: Duration::from_millis(DEFAULT_ANSWER_BUDGET_MS),
            retry_max_age: Duration::from_millis(DEFAULT_RETRY_MAX_AGE_MS),
        }
    }
}

/// The job store and the delivery worker's wake-up.
pub struct Steps {
    store: Arc<Store>,
    wake: Notify,
    /// The host-wide settings.
    pub config: StepsConfig,
}

/// Now, in Unix ms.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The delay before delivery attempt `attempts + 1`: doubling from 1 s up to 5 min, then a
/// random point in its upper half ("equal jitter"), so receivers that failed together are not
/// retried together.
fn retry_delay_ms(attempts: u32, id: &str) -> u64 {
    use std::hash::BuildHasher as _;
    let base = FIRST_RETRY_DELAY_MS
        .saturating_mul(1u64 << attempts.saturating_sub(1).min(20))
        .min(MAX_RETRY_DELAY_MS);
    let random = std::collections::hash_map::RandomState::new().hash_one((id, attempts));
    base / 2 + random % (base / 2 + 1)
}

impl Steps {
    /// Opens the job store in `config.state_dir`.
    pub fn open(config: StepsConfig) -> anyhow::Result<Self> {
        let store = Store::open(&config.state_dir.join("steps.redb"))?;
        Ok(Self {
            store: Arc::new(store),
            wake: Notify::new(),
            config,
        })
    }

    /// Runs a store operation off the async workers (a commit waits for the disk).
    async fn with_store<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Store) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || work(&store))
            .await
            .context("the store task failed")?
    }

    /// Records a job whose function is running.
    pub async fn record(&self, job: Job) -> anyhow::Result<()> {
        self.with_store(move |s| s.save(&job, None)).await
    }

    /// Records a job's outcome and schedules its delivery now.
    pub async fn finish(&self, id: &str, outcome: Outcome) {
        let id = id.to_string();
        let saved = self
            .with_store(move |s| {
                let Some(mut job) = s.get(&id)? else {
                    return Ok(());
                };
                let was_due = job.next_attempt_ms;
                job.outcome = Some(outcome);
                job.state = JobState::Pending;
                job.next_attempt_ms = Some(now_ms());
                s.save(&job, was_due)
            })
            .await;
        if let Err(err) = saved {
            tracing::error!(error = %format!("{err:#}"), "recording a step's outcome failed");
        }
        self.wake.notify_one();
    }

    /// Every job, for the listing.
    pub async fn jobs(&self) -> anyhow::Result<Vec<Job>> {
        self.with_store(|s| s.all()).await
    }

    /// Drops a job; whether it existed.
    pub async fn drop_job(&self, id: &str) -> anyhow::Result<bool> {
        let id = id.to_string();
        self.with_store(move |s| s.remove(&id)).await
    }

    /// Makes a pending or failed job due now, with a fresh retry age. `None`: no such job;
    /// `Some(false)`: it is still running.
    pub async fn retry(&self, id: &str) -> anyhow::Result<Option<bool>> {
        let id = id.to_string();
        let result = self
            .with_store(move |s| {
                let Some(mut job) = s.get(&id)? else {
                    return Ok(None);
                };
                if job.state == JobState::Running {
                    return Ok(Some(false));
                }
                let was_due = job.next_attempt_ms;
                job.state = JobState::Pending;
                job.created_ms = now_ms();
                job.next_attempt_ms = Some(now_ms());
                s.save(&job, was_due)?;
                Ok(Some(true))
            })
            .await?;
        self.wake.notify_one();
        Ok(result)
    }

    /// The delivery worker: re-runs the jobs found running (the host died mid-call), then
    /// delivers due outcomes until the host stops.
    pub async fn run(self: Arc<Self>, state: AppState) {
        match self.jobs().await {
            Ok(jobs) => {
                for job in jobs.into_iter().filter(|j| j.state == JobState::Running) {
                    tracing::warn!(job = %job.id, connector = %job.connector, function = %job.function,
                        "a step was running when the host stopped: running it again");
                    let (steps, state) = (self.clone(), state.clone());
                    tokio::spawn(async move {
                        let outcome =
                            routes::run_call(&state, job.envelope.clone(), job.id.clone().into())
                                .await;
                        steps.finish(&job.id, outcome).await;
                    });
                }
            }
            Err(err) => {
                tracing::error!(error = %format!("{err:#}"), "reading the step jobs failed")
            }
        }
        loop {
            let wake = self.wake.notified();
            let due = self
                .with_store(|s| s.due(now_ms(), DELIVERIES_AT_ONCE))
                .await;
            let (ids, next) = match due {
                Ok(due) => due,
                Err(err) => {
                    tracing::error!(error = %format!("{err:#}"), "reading due step jobs failed");
                    (Vec::new(), Some(now_ms() + 5_000))
                }
            };
            if !ids.is_empty() {
                let deliveries = ids.iter().map(|id| self.deliver(&state, id));
                futures_util::future::join_all(deliveries).await;
                continue;
            }
            let sleep = next
                .map(|at| Duration::from_millis(at.saturating_sub(now_ms())))
                .unwrap_or(Duration::from_secs(60));
            tokio::select! {
                () = wake => {}
                () = tokio::time::sleep(sleep) => {}
            }
        }
    }

    /// One delivery attempt of job `id`.
    async fn deliver(&self, state: &AppState, id: &str) {
        let id_owned = id.to_string();
        let job = match self.with_store(move |s| s.get(&id_owned)).await {
            Ok(Some(job)) => job,
            _ => return,
        };
        let Some(outcome) = job.outcome.clone() else {
            return;
        };
        let policy = state
            .registry
            .current()
            .plugin(&job.connector)
            .map(|p| p.steps.callbacks.clone());
        let sent = match policy {
            Some(policy) => {
                let mut request = http::Request::post(&job.response_url)
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .header("idempotency-key", &job.id)
                    .header("x-job-id", &job.id);
                if outcome.status != 200 {
                    request = request.header("x-status-code", outcome.status.to_string());
                }
                match request.body(Bytes::from(outcome.body.clone())) {
                    Ok(request) => {
                        let tags = Tags {
                            connector: job.connector.as_str().into(),
                            request_id: job.id.as_str().into(),
                        };
                        crate::egress::send::host_request(policy, request, tags).await
                    }
                    Err(err) => Err(format!("not a valid callback request: {err}")),
                }
            }
            None => Err(format!("connector {} is not loaded", job.connector)),
        };
        let result = match sent {
            Ok(status) if (200..300).contains(&status) => {
                tracing::info!(job = %job.id, connector = %job.connector, attempts = job.attempts + 1,
                    status = outcome.status, "step outcome delivered");
                self.drop_job(&job.id).await.map(|_| ())
            }
            failed => {
                let why = match failed {
                    Ok(status) => format!("the receiver answered {status}"),
                    Err(why) => why,
                };
                let mut job = job;
                let was_due = job.next_attempt_ms;
                job.attempts += 1;
                job.last_error = Some(why.clone());
                let age = now_ms().saturating_sub(job.created_ms);
                if age >= self.config.retry_max_age.as_millis() as u64 {
                    job.state = JobState::Failed;
                    job.next_attempt_ms = None;
                    tracing::error!(job = %job.id, connector = %job.connector, attempts = job.attempts,
                        error = %why, "step outcome not delivered: giving up (retry or drop it via /steps/jobs)");
                } else {
                    job.next_attempt_ms = Some(now_ms() + retry_delay_ms(job.attempts, &job.id));
                    tracing::warn!(job = %job.id, connector = %job.connector, attempts = job.attempts,
                        error = %why, "step outcome not delivered: will retry");
                }
                self.with_store(move |s| s.save(&job, was_due)).await
            }
        };
        if let Err(err) = result {
            tracing::error!(error = %format!("{err:#}"), "updating a step job failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_from_one_second_with_jitter_in_the_upper_half() {
        for (attempts, base) in [(1, 1_000), (2, 2_000), (3, 4_000), (12, MAX_RETRY_DELAY_MS)] {
            for _ in 0..50 {
                let delay = retry_delay_ms(attempts, "job");
                assert!((base / 2..=base).contains(&delay), "{attempts}: {delay}");
            }
        }
    }

    #[test]
    fn callback_urls_must_match_a_pattern_and_an_answer_budget_must_stay_below_five_seconds() {
        let settings = StepSettings {
            callback_hosts: Some(vec![
                "http://localhost:9000".into(),
                "https://*.example.com".into(),
            ]),
            ..StepSettings::default()
        };
        let policy = StepPolicy::compile(
            &settings,
            &NetworkSettings::default(),
            Duration::from_secs(4),
        )
        .unwrap();
        assert!(policy.allows_callback("http://localhost:9000/cb?x=1"));
        assert!(policy.allows_callback("https://hooks.example.com/a"));
        assert!(!policy.allows_callback("http://localhost:9001/cb"));
        assert!(!policy.allows_callback("http://127.0.0.1:9000/cb"));
        assert!(!policy.allows_callback("https://example.com/"));
        assert!(!policy.allows_callback("ftp://localhost:9000/"));
        assert!(!policy.allows_callback("not a url"));
        let too_long = StepSettings {
            answer_budget_ms: Some(5_000),
            ..StepSettings::default()
        };
        let err = StepPolicy::compile(&too_long, &NetworkSettings::default(), Duration::ZERO)
            .unwrap_err();
        assert!(format!("{err:#}").contains("answer_budget_ms"));
    }
}
