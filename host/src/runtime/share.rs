//! A connector's fair share of instances: at most `max_concurrent_calls` of its calls hold an
//! instance at once, at most `max_queued_calls` more wait for one, and the rest are refused at
//! once. Without it, one tenant's slow calls could hold every instance of the pool while other
//! tenants wait.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a call got no share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The queue was full on arrival.
    QueueFull {
        /// Calls running.
        running: u64,
        /// Calls waiting.
        queued: u64,
    },
}

impl From<Refusal> for crate::error::SandboxError {
    fn from(Refusal::QueueFull { running, queued }: Refusal) -> Self {
        crate::error::SandboxError::ConnectorBusy { running, queued }
    }
}

/// One connector's share.
#[derive(Debug)]
pub struct Share {
    running: Arc<Semaphore>,
    max_running: u64,
    max_queued: u64,
    queued: AtomicU64,
}

impl Share {
    /// A share of `max_running` concurrent calls and `max_queued` waiting ones.
    pub fn new(max_running: u64, max_queued: u64) -> Self {
        let max_running = max_running.clamp(1, Semaphore::MAX_PERMITS as u64);
        Self {
            running: Arc::new(Semaphore::new(max_running as usize)),
            max_running,
            max_queued,
            queued: AtomicU64::new(0),
        }
    }

    /// The refusal to give a call that waited its whole deadline for a slot.
    pub fn busy(&self) -> Refusal {
        Refusal::QueueFull {
            running: self.max_running,
            queued: self.queued.load(Ordering::Acquire),
        }
    }

    /// Calls running now.
    pub fn running(&self) -> u64 {
        self.max_running
            .saturating_sub(self.running.available_permits() as u64)
    }

    /// Calls waiting for a slot now.
    pub fn queued(&self) -> u64 {
        self.queued.load(Ordering::Acquire)
    }

    /// Calls running now, calls waiting now, and the cap (for the listing).
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "running": self.running(),
            "queued": self.queued(),
            "maxConcurrent": self.max_running,
        })
    }

    /// Waits for a running slot, or refuses at once when the queue is full.
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, Refusal> {
        if let Ok(permit) = self.running.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let queued = self.queued.fetch_add(1, Ordering::AcqRel);
        let _leave = Leave(&self.queued);
        if queued >= self.max_queued {
            return Err(Refusal::QueueFull {
                running: self.max_running,
                queued,
            });
        }
        self.running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Refusal::QueueFull {
                running: self.max_running,
                queued,
            })
    }
}

/// Leaves the queue when the waiting call gets its slot, is refused, or is dropped.
struct Leave<'a>(&'a AtomicU64);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_beyond_the_share_and_the_queue_are_refused() {
        let share = Arc::new(Share::new(1, 1));
        let first = share.enter().await.unwrap();
        let waiting = tokio::spawn({
            let share = share.clone();
            async move { share.enter().await.map(|_| ()) }
        });
        // Wait until the second call is queued, then a third is refused.
        while share.queued.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            share.enter().await.unwrap_err(),
            Refusal::QueueFull {
                running: 1,
                queued: 1
            }
        );
        drop(first);
        assert!(waiting.await.unwrap().is_ok());
        assert_eq!(share.queued.load(Ordering::Acquire), 0);
    }
}
