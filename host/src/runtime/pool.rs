//! Where guest code runs: a tokio runtime of its own, apart from the one that accepts and
//! answers HTTP requests, and the long-call lane that keeps runaway guests from taking every
//! core of it.
//!
//! Why both. Guests yield to their executor every epoch tick, but yielding only helps tasks of
//! the same executor: with guests on the server's runtime, two spinning guests on two cores
//! made every accept, probe and neighbour call wait behind them (p50 0.45 ms → 52 ms). On a
//! runtime of their own, guests never occupy the threads that answer requests. Within the
//! guest runtime, a call that has run for [`LONG_CALL_TICKS`] ticks of wasm becomes a *long
//! call* and needs one of `cores − 1` (at least one) lane permits to go on running; long calls take turns holding
//! them for [`LANE_SLICE_TICKS`] each (tokio's semaphore is fair), so however many runaways are
//! in flight they occupy at most `lane permits` workers, and the rest serve short calls at
//! full speed. A long call waiting for its turn burns no CPU, and its deadline keeps running.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Ticks of running wasm (≈ ms of CPU) after which a call is a long call.
pub const LONG_CALL_TICKS: u32 = 20;

/// Ticks a long call runs before handing its lane permit to the next long call in line.
pub const LANE_SLICE_TICKS: u32 = 10;

/// Workers beyond one per core: a short call that arrives while long calls hold their
/// workers finds an idle worker at once instead of queueing behind a long call's next yield;
/// the OS then shares the cores, and long calls give theirs back at every tick.
pub const SPARE_WORKERS: usize = 2;

/// The guests' own runtime and the long-call lane.
pub struct GuestPool {
    runtime: Option<tokio::runtime::Runtime>,
    lane: Arc<Semaphore>,
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

    /// A seat in the long-call lane for one call.
    pub fn seat(&self) -> LaneSeat {
        LaneSeat {
            lane: self.lane.clone(),
            held: Arc::new(Mutex::new(None)),
            ran_ticks: 0,
            slice_ticks: 0,
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
    ran_ticks: u32,
    slice_ticks: u32,
}

impl LaneSeat {
    /// Called at every epoch tick while the call's wasm runs.
    pub fn tick(&mut self) -> Tick {
        self.ran_ticks = self.ran_ticks.saturating_add(1);
        if self.ran_ticks < LONG_CALL_TICKS {
            return Tick::Yield;
        }
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.is_some() {
            // A long call also hands its core back to the OS at every tick: otherwise a short
            // call's threads that wake on this core wait out the scheduler's whole time slice
            // (several ms) behind it.
            std::thread::yield_now();
            self.slice_ticks += 1;
            if self.slice_ticks < LANE_SLICE_TICKS {
                return Tick::Yield;
            }
            // Slice over: back of the line (others waiting get the permit first).
            *held = None;
        }
        self.slice_ticks = 0;
        let (lane, slot) = (self.lane.clone(), self.held.clone());
        Tick::Wait(Box::pin(async move {
            if let Ok(permit) = lane.acquire_owned().await {
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(permit);
            }
        }))
    }
}
