//! Where guest code runs: a tokio runtime of its own, apart from the one that accepts and
//! answers HTTP requests, and the long-call lane that keeps runaway guests from taking every
//! core of it.
//!
//! Why both. Guests yield to their executor every epoch tick, but yielding only helps tasks of
//! the same executor: with guests on the server's runtime, two spinning guests on two cores
//! made every accept, probe and neighbour call wait behind them (p50 0.45 ms → 52 ms). On a
//! runtime of their own, guests never occupy the threads that answer requests. Within the
//! guest runtime, a call that has run wasm for [`LONG_CALL_AFTER`] becomes a *long
//! call* and needs one of `cores − 1` (at least one) lane permits to go on running; long calls take turns holding
//! them for [`LANE_SLICE`] each (tokio's semaphore is fair), so however many runaways are
//! in flight they occupy at most `lane permits` workers, and the rest serve short calls at
//! full speed. A long call waiting for its turn burns no CPU, and its deadline keeps running.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Running time of wasm after which a call is a long call.
pub const LONG_CALL_AFTER: Duration = Duration::from_millis(20);

/// Running time a long call gets before handing its lane permit to the next one in line.
pub const LANE_SLICE: Duration = Duration::from_millis(10);

/// Workers beyond one per core: a short call that arrives while long calls hold their
/// workers finds an idle worker at once instead of queueing behind a long call's next yield;
/// the OS then shares the cores, and long calls give theirs back at every tick.
pub const SPARE_WORKERS: usize = 2;

/// The guests' own runtime and the long-call lane.
pub struct GuestPool {
    runtime: Option<tokio::runtime::Runtime>,
    lane: Arc<Semaphore>,
    long_calls: Arc<AtomicUsize>,
}

impl GuestPool {
    /// A pool with [`SPARE_WORKERS`] more workers than cores, and one lane permit fewer than
    /// cores (at least one).
    pub fn new() -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let workers = cores + SPARE_WORKERS;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("guest")
            .enable_all()
            .build()?;
        Ok(Self {
            runtime: Some(runtime),
            lane: Arc::new(Semaphore::new(cores.saturating_sub(1).max(1))),
            long_calls: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Runs `future` on the guest runtime and waits for it from the caller's runtime.
    pub async fn run<F>(&self, future: F) -> Result<F::Output, tokio::task::JoinError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.runtime {
            Some(runtime) => runtime.spawn(future).await,
            None => Ok(future.await),
        }
    }

    /// Long calls in flight (the epoch ticker ticks faster while there are any).
    pub fn long_calls(&self) -> Arc<AtomicUsize> {
        self.long_calls.clone()
    }

    /// A seat in the long-call lane for one call.
    pub fn seat(&self) -> LaneSeat {
        LaneSeat {
            lane: self.lane.clone(),
            held: Arc::new(Mutex::new(None)),
            ran: Duration::ZERO,
            slice: Duration::ZERO,
            last_tick: None,
            long_calls: self.long_calls.clone(),
            long: false,
        }
    }
}

impl Drop for GuestPool {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which tokio forbids inside another runtime (tests and
        // `serve` drop the host from async code); in-flight guest tasks are cancelled.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// What the epoch callback should do at a tick.
pub enum Tick {
    /// Keep running after an ordinary yield.
    Yield,
    /// Wait for this future (a lane permit) before running on.
    Wait(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>),
}

/// One call's place in the long-call lane.
pub struct LaneSeat {
    lane: Arc<Semaphore>,
    held: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
    /// Running time of wasm so far: the time between ticks, each counted for at most one
    /// (slow) tick, so time blocked in host calls does not count.
    ran: Duration,
    slice: Duration,
    last_tick: Option<Instant>,
    long_calls: Arc<AtomicUsize>,
    long: bool,
}

impl Drop for LaneSeat {
    fn drop(&mut self) {
        if self.long {
            self.long_calls.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl LaneSeat {
    /// Called at every epoch tick while the call's wasm runs.
    pub fn tick(&mut self) -> Tick {
        let now = Instant::now();
        let step = self.last_tick.map_or(Duration::ZERO, |last| {
            (now - last).min(super::engine::EPOCH_TICK)
        });
        self.last_tick = Some(now);
        self.ran += step;
        if self.ran < LONG_CALL_AFTER {
            return Tick::Yield;
        }
        if !self.long {
            self.long = true;
            self.long_calls.fetch_add(1, Ordering::Relaxed);
        }
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.is_some() {
            // A long call also hands its core back to the OS at every tick: otherwise a short
            // call's threads that wake on this core wait out the scheduler's whole time slice
            // (several ms) behind it.
            std::thread::yield_now();
            self.slice += step;
            if self.slice < LANE_SLICE {
                return Tick::Yield;
            }
            // Slice over: back of the line (others waiting get the permit first).
            *held = None;
        }
        self.slice = Duration::ZERO;
        let (lane, slot) = (self.lane.clone(), self.held.clone());
        Tick::Wait(Box::pin(async move {
            if let Ok(permit) = lane.acquire_owned().await {
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(permit);
            }
        }))
    }
}
