//! A host-wide bound on the memory held by results in flight: every response body holds its
//! size from a shared budget (`--max-result-memory-bytes`) until it has been written to the
//! client. A call whose result does not fit waits for room, up to what is left of its
//! deadline, then answers 503 `host_busy`; the host does not grow with slow readers (a client
//! that does not read its 60 MB answer holds 60 MB of the budget, not of unbounded memory).
//!
//! Each result is also bounded while it is produced: a guest cannot hand the host more than
//! its `max_response_bytes` (+ slack) at all, see `runtime::call`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{ApiError, SandboxError};

/// Default budget: 1 GiB of results in flight.
pub const DEFAULT_MAX_RESULT_MEMORY_BYTES: u64 = 1 << 30;

/// The budget is counted in KiB, so a `u32` of permits covers 4 TiB.
const UNIT: u64 = 1024;

/// The shared budget.
#[derive(Debug, Clone)]
pub struct ResultBudget {
    permits: Arc<Semaphore>,
    total_units: u32,
    total_bytes: u64,
}

impl ResultBudget {
    /// A budget of `bytes`.
    pub fn new(bytes: u64) -> Self {
        let total_units = u32::try_from(bytes.div_ceil(UNIT).max(1)).unwrap_or(u32::MAX);
        Self {
            permits: Arc::new(Semaphore::new(total_units as usize)),
            total_units,
            total_bytes: bytes,
        }
    }

    /// Holds room for a result of `len` bytes, waiting until `deadline` at most. A result
    /// larger than the whole budget waits for all of it.
    pub async fn hold(&self, len: usize, deadline: Instant) -> Result<Held, ApiError> {
        let units = u32::try_from((len as u64).div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .min(self.total_units);
        let waited = tokio::time::timeout_at(
            deadline.into(),
            self.permits.clone().acquire_many_owned(units),
        )
        .await;
        match waited {
            Ok(Ok(permit)) => Ok(Held { _permit: permit }),
            _ => Err(ApiError::Sandbox(SandboxError::HostBusy {
                limit: self.total_bytes,
            })),
        }
    }

    /// Bytes held now.
    pub fn held_bytes(&self) -> u64 {
        u64::from(self.total_units - self.permits.available_permits() as u32) * UNIT
    }
}

/// Room held in the budget; released when dropped.
#[derive(Debug)]
pub struct Held {
    _permit: OwnedSemaphorePermit,
}

/// Bytes handed to the connection per frame: the connection asks for the next frame only when
/// it has written the previous one, so the body (and its room in the budget) lives until the
/// client has taken all but the last frame and what the kernel buffers.
const FRAME_BYTES: usize = 64 * 1024;

/// A response body that keeps its room in the budget until it is written out (or the
/// connection is gone).
pub struct HeldBody {
    data: Bytes,
    _held: Held,
}

impl HeldBody {
    /// `data`, holding `held`.
    pub fn new(data: impl Into<Bytes>, held: Held) -> Self {
        Self {
            data: data.into(),
            _held: held,
        }
    }
}

impl Body for HeldBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.data.is_empty() {
            return Poll::Ready(None);
        }
        let len = self.data.len().min(FRAME_BYTES);
        Poll::Ready(Some(Ok(Frame::data(self.data.split_to(len)))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.len() as u64)
    }
}
