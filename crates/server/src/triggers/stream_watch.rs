//! STREAM_BUFFER and STREAM_END for a live push: a task per publisher that
//! watches its stream's state and input.
//!
//! * `FULL`: the stream went online (its first keyframe arrived);
//! * `DRY`: online, but no media from the publisher for [`DRY_AFTER`];
//! * `RECOVER`: media flows again after `DRY`;
//! * `EMPTY`, then `STREAM_END`: the stream went offline (its publisher left and
//!   the grace period passed, or it was removed).
//!
//! A publisher that reconnects within the grace period continues the same
//! stream: its watcher fires no new `FULL`, and the earlier one bows out.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{payload, Event, Triggers};
use crate::stream::{StreamEntry, StreamState};

/// Input silence after which an online stream is `DRY`.
pub const DRY_AFTER: Duration = Duration::from_secs(3);
/// How often the input is looked at.
const TICK: Duration = Duration::from_millis(250);

/// The publisher's side: it reports media and, dropped, says it left.
#[derive(Debug)]
pub struct BufferWatch {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    epoch: Instant,
    /// Milliseconds after `epoch` of the last media message.
    last_media_ms: AtomicU64,
    publishing: AtomicBool,
}

impl BufferWatch {
    /// Starts watching `entry` for its new publisher; `None` when no handler
    /// listens to STREAM_BUFFER or STREAM_END for it.
    pub fn start(triggers: &Arc<Triggers>, entry: &Arc<StreamEntry>) -> Option<BufferWatch> {
        let name = entry.name.as_str();
        if !triggers.listens(Event::StreamBuffer, Some(name))
            && !triggers.listens(Event::StreamEnd, Some(name))
        {
            return None;
        }
        let shared = Arc::new(Shared {
            epoch: Instant::now(),
            last_media_ms: AtomicU64::new(0),
            publishing: AtomicBool::new(true),
        });
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        runtime.spawn(watch(triggers.clone(), entry.clone(), shared.clone()));
        Some(BufferWatch { shared })
    }

    /// A media message arrived.
    pub fn media(&self) {
        let ms = self.shared.epoch.elapsed().as_millis() as u64;
        self.shared.last_media_ms.store(ms, Ordering::Relaxed);
    }
}

impl Drop for BufferWatch {
    fn drop(&mut self) {
        self.shared.publishing.store(false, Ordering::Relaxed);
    }
}

async fn watch(triggers: Arc<Triggers>, entry: Arc<StreamEntry>, shared: Arc<Shared>) {
    let name = entry.name.clone();
    let buffer = |state: &str| {
        triggers.notify(Event::StreamBuffer, Some(&name), &payload(&[&name, state]));
    };
    let mut states = entry.watch();
    let mut online = matches!(*states.borrow_and_update(), StreamState::Live(_));
    let mut dry = false;
    let mut left_at: Option<Instant> = None;
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            changed = states.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            _ = tick.tick() => {}
            () = entry.stopped() => break,
        }
        let live = matches!(*states.borrow_and_update(), StreamState::Live(_));
        if live && !online {
            online = true;
            buffer("FULL");
        } else if !live && online {
            break;
        }
        let publishing = shared.publishing.load(Ordering::Relaxed);
        if !publishing {
            // Gone: wait for the stream to go offline, unless another publisher
            // carries it on past the grace period (its watcher takes over).
            let since = *left_at.get_or_insert_with(Instant::now);
            if since.elapsed() > crate::stream::publish::GRACE_PERIOD + Duration::from_secs(2) {
                return;
            }
            continue;
        }
        if online {
            let last =
                shared.epoch + Duration::from_millis(shared.last_media_ms.load(Ordering::Relaxed));
            let silent = last.elapsed() >= DRY_AFTER;
            if silent && !dry {
                dry = true;
                buffer("DRY");
            } else if !silent && dry {
                dry = false;
                buffer("RECOVER");
            }
        }
    }
    if online {
        buffer("EMPTY");
        triggers.notify(Event::StreamEnd, Some(&name), &payload(&[&name]));
    }
}
