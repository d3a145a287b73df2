//! Where guest code runs: a tokio runtime of its own, apart from the one that accepts and
//! answers HTTP requests, and the long-call lane, where calls that keep running go on at the
//! OS's idle priority.
//!
//! Why both. Guests yield to their executor every epoch tick, but yielding only helps tasks of
//! the same executor: with guests on the server's runtime, two spinning guests on two cores
//! made every accept, probe and neighbour call wait behind them (p50 0.45 ms → 52 ms). On a
//! runtime of their own, guests never occupy the threads that answer requests, but they still
//! share the cores with them, and the OS shares a core fairly: a short call's thread that
//! wakes on a core a runaway holds waits out the scheduler's slice.
//!
//! So a call that has run wasm for [`LONG_CALL_AFTER`] becomes a *long call* and moves, at its
//! next yield, to the lane: `cores − 1` (at least one) threads at `SCHED_IDLE`, the policy
//! whose threads run only on cores nothing else wants and give way the moment another thread
//! wakes. Long calls take turns on those threads at every epoch tick (tokio queues a yielding
//! task behind the others), so however many runaways are in flight they keep progressing on
//! idle cores, never hold a core another thread needs, and their deadlines keep running.
//! Moving is cheap: the call is a future (wasmtime runs wasm on a fiber that suspends at each
//! yield), so the lane simply polls it from then on.
//!
//! The policy is one-way: an unprivileged thread may lower its priority but, with the usual
//! `RLIMIT_NICE` of 0, never raise it again, hence threads that stay in the lane rather than
//! threads that switch. The cost of the idle policy is priority inversion: a long call
//! preempted inside a host lock holds it until a core is free. Every call becomes long only
//! after [`LONG_CALL_AFTER`] of its own running time, so ordinary work never saturates the
//! cores for long, and the host's own locks are held only briefly.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Running time of wasm after which a call is a long call.
pub const LONG_CALL_AFTER: Duration = Duration::from_millis(20);

/// Workers beyond one per core: a short call that arrives while others run finds an idle
/// worker at once instead of queueing behind another call's next yield; the OS then shares
/// the cores.
pub const SPARE_WORKERS: usize = 2;

tokio::task_local! {
    /// Raised by a call's [`LaneSeat`] when it becomes long; [`GuestPool::run`] then moves
    /// the work to the lane.
    static BECAME_LONG: Arc<AtomicBool>;
}

/// The guests' own runtime and the long-call lane.
pub struct GuestPool {
    runtimes: Option<(tokio::runtime::Runtime, tokio::runtime::Runtime)>,
}

impl GuestPool {
    /// A pool with [`SPARE_WORKERS`] more workers than cores, and a lane of one thread fewer
    /// than cores (at least one).
    pub fn new() -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let guests = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cores + SPARE_WORKERS)
            .thread_name("guest")
            .enable_all()
            .build()?;
        let lane = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cores.saturating_sub(1).max(1))
            .thread_name("guest-lane")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()?;
        Ok(Self {
            runtimes: Some((guests, lane)),
        })
    }

    /// Runs `future` on the guest runtime, or on the lane once a call within it becomes long,
    /// and waits for it from the caller's runtime. Dropping the returned future cancels it.
    pub async fn run<F>(&self, future: F) -> Result<F::Output, tokio::task::JoinError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let Some((guests, lane)) = &self.runtimes else {
            return Ok(future.await);
        };
        let lane = lane.handle().clone();
        let long = Arc::new(AtomicBool::new(false));
        let future = BECAME_LONG.scope(long.clone(), future);
        AbortOnDrop(guests.spawn(async move {
            match (UntilLong {
                future: Some(Box::pin(future)),
                long,
            })
            .await
            {
                Turn::Done(output) => Ok(output),
                Turn::Long(rest) => AbortOnDrop(lane.spawn(rest)).await,
            }
        }))
        .await?
    }
}

impl Drop for GuestPool {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which tokio forbids inside another runtime (tests and
        // `serve` drop the host from async code); in-flight guest tasks are cancelled.
        if let Some((guests, lane)) = self.runtimes.take() {
            guests.shutdown_background();
            lane.shutdown_background();
        }
    }
}

/// A spawned task that is cancelled when whoever waits for it stops waiting: a call whose
/// client went away (its HTTP handler is dropped) stops running instead of holding an instance
/// and its connector's share until its deadline. Work that must outlive its request (a step's
/// call) is spawned as a task of its own that waits here.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Puts the calling thread under `SCHED_IDLE` (no privilege needed to lower a priority).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: sched_setscheduler only reads `param`; pid 0 is the calling thread.
        #[allow(unsafe_code)]
        let failed = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } != 0;
        if failed {
            tracing::warn!(
                error = %std::io::Error::last_os_error(),
                "could not lower the long-call lane's priority; long calls share cores fairly"
            );
        }
    }
}

/// How far [`UntilLong`] got.
enum Turn<F: Future> {
    /// The work finished on the guest runtime.
    Done(F::Output),
    /// A call within it became long: the rest, to run on the lane.
    Long(Pin<Box<F>>),
}

/// Polls the work until it finishes or, at a yield, a call within it has become long.
struct UntilLong<F> {
    future: Option<Pin<Box<F>>>,
    long: Arc<AtomicBool>,
}

impl<F: Future> Future for UntilLong<F> {
    type Output = Turn<F>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Turn<F>> {
        let Some(mut future) = self.future.take() else {
            return Poll::Pending;
        };
        match future.as_mut().poll(cx) {
            Poll::Ready(output) => Poll::Ready(Turn::Done(output)),
            Poll::Pending if self.long.load(Ordering::Relaxed) => Poll::Ready(Turn::Long(future)),
            Poll::Pending => {
                self.future = Some(future);
                Poll::Pending
            }
        }
    }
}

/// One call's running time, and the flag that moves it to the lane.
pub struct LaneSeat {
    /// None outside [`GuestPool::run`] (nothing to move).
    became_long: Option<Arc<AtomicBool>>,
    /// Running time of wasm so far: the time between ticks, each counted for at most one
    /// (slow) tick, so time blocked in host calls does not count.
    ran: Duration,
    last_tick: Option<Instant>,
}

impl Default for LaneSeat {
    fn default() -> Self {
        Self::new()
    }
}

impl LaneSeat {
    /// A seat for a call of the work [`GuestPool::run`] is running (elsewhere, a seat that
    /// never moves anything).
    pub fn new() -> Self {
        Self {
            became_long: BECAME_LONG.try_with(Arc::clone).ok(),
            ran: Duration::ZERO,
            last_tick: None,
        }
    }

    /// Called at every epoch tick while the call's wasm runs (the call then yields).
    pub fn tick(&mut self) {
        let now = Instant::now();
        let step = self.last_tick.map_or(Duration::ZERO, |last| {
            (now - last).min(super::engine::EPOCH_TICK)
        });
        self.last_tick = Some(now);
        self.ran += step;
        if self.ran >= LONG_CALL_AFTER
            && let Some(flag) = &self.became_long
        {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The calling thread's name and scheduling policy.
    fn here() -> (String, i32) {
        let name = std::thread::current().name().unwrap_or("").to_string();
        // SAFETY: sched_getscheduler only reads the calling thread's policy.
        #[allow(unsafe_code)]
        let policy = unsafe { libc::sched_getscheduler(0) };
        (name, policy)
    }

    /// Stands in for a call: ticks its seat as a guest's epoch callback does, running for
    /// `runs` between ticks, until `done(thread name)`; returns where it ended.
    async fn call(pool: &GuestPool, runs: Duration, done: fn(&str) -> bool) -> (String, i32) {
        pool.run(async move {
            let mut seat = LaneSeat::new();
            loop {
                seat.tick();
                let started = Instant::now();
                while started.elapsed() < runs {
                    std::hint::spin_loop();
                }
                let (name, policy) = here();
                if done(&name) {
                    return (name, policy);
                }
                tokio::task::yield_now().await;
            }
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_call_that_keeps_running_moves_to_the_lane_at_idle_priority() {
        let pool = GuestPool::new().unwrap();
        let ended = call(&pool, super::super::engine::EPOCH_TICK, |name| {
            name == "guest-lane"
        })
        .await;
        assert_eq!(ended, ("guest-lane".to_string(), libc::SCHED_IDLE));
    }

    #[tokio::test]
    async fn a_short_call_runs_on_the_guest_runtime_at_normal_priority() {
        let pool = GuestPool::new().unwrap();
        let ended = call(&pool, Duration::ZERO, |_| true).await;
        assert_eq!(ended, ("guest".to_string(), libc::SCHED_OTHER));
    }
}
