//! Watches the plugins directory and reconciles the registry after each burst of changes.
//!
//! Editors and `cp` write a file in several steps, and a deploy may touch many files: events
//! are debounced (the registry reconciles once the directory has been quiet for the debounce
//! period). Every pass rescans the whole directory, so atomic renames, partial writes followed
//! by more writes, and missed events all converge on the directory's state.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Registry;

/// Default quiet period before a reload.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(100);

/// A running watcher; dropping it stops watching.
pub struct WatchHandle {
    task: JoinHandle<()>,
    _watcher: Option<RecommendedWatcher>,
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts watching `registry`'s directory: with the kernel's notifications (inotify), or, given
/// `poll`, by reconciling every `poll` (network file systems such as NFS or EFS notify no one
/// of changes made by other machines). A reconcile that finds nothing changed costs a `stat`
/// per module and publishes nothing, and it compares size, nanosecond mtime, inode and ctime,
/// so it sees what a second-granularity mtime poll misses (a file replaced twice within a
/// second, or copied in with its mtime kept).
pub fn watch(
    registry: Arc<Registry>,
    debounce: Duration,
    poll: Option<Duration>,
) -> anyhow::Result<WatchHandle> {
    if let Some(every) = poll {
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(err) = registry.reconcile().await {
                    tracing::error!(error = %format!("{err:#}"), "reloading the plugins directory failed");
                }
            }
        });
        return Ok(WatchHandle {
            task,
            _watcher: None,
        });
    }
    let (tx, rx) = mpsc::unbounded_channel::<()>();
    let handler = move |event: notify::Result<notify::Event>| {
        let relevant = match &event {
            Ok(event) => {
                !matches!(event.kind, EventKind::Access(_))
                    && (event.paths.is_empty()
                        || event
                            .paths
                            .iter()
                            .any(|p| p.extension().is_some_and(|e| e == "wasm" || e == "toml")))
            }
            // An error (e.g. a queue overflow) means events may be lost: rescan.
            Err(_) => true,
        };
        if relevant {
            let _ = tx.send(());
        }
    };
    let mut watcher = notify::recommended_watcher(handler).context("starting the file watcher")?;
    watcher
        .watch(registry.dir(), RecursiveMode::NonRecursive)
        .with_context(|| format!("watching {}", registry.dir().display()))?;
    let task = tokio::spawn(run(registry, rx, debounce));
    Ok(WatchHandle {
        task,
        _watcher: Some(watcher),
    })
}

async fn run(registry: Arc<Registry>, mut rx: mpsc::UnboundedReceiver<()>, debounce: Duration) {
    while settle(&mut rx, debounce).await {
        if let Err(err) = registry.reconcile().await {
            tracing::error!(error = %format!("{err:#}"), "reloading the plugins directory failed");
        }
    }
}

/// Waits for an event, then until no event arrives for `quiet`. False when the channel closed.
async fn settle(rx: &mut mpsc::UnboundedReceiver<()>, quiet: Duration) -> bool {
    if rx.recv().await.is_none() {
        return false;
    }
    loop {
        match tokio::time::timeout(quiet, rx.recv()).await {
            Ok(Some(())) => continue,
            Ok(None) => return false,
            Err(_elapsed) => return true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_events_settles_once_the_directory_is_quiet() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let quiet = Duration::from_millis(100);
        let writer = tokio::spawn(async move {
            for _ in 0..5 {
                tx.send(()).unwrap();
                tokio::time::sleep(Duration::from_millis(60)).await;
            }
            tx
        });
        let started = tokio::time::Instant::now();
        assert!(settle(&mut rx, quiet).await);
        // The last event came at 240 ms; settling waits a quiet period after it.
        assert_eq!(started.elapsed(), Duration::from_millis(340));
        let tx = writer.await.unwrap();
        drop(tx);
        assert!(
            !settle(&mut rx, quiet).await,
            "a closed channel ends the watcher"
        );
    }
}
