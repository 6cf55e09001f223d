//! How a MEWS viewer's fragments are paced.
//!
//! A [`Playback`] wraps the viewer's [`Subscription`] (the fMP4 format, its track
//! selection) with a [`PaceClock`]: a fragment is sent once it is at most
//! [`VOD_LEAD_MS`] ahead of where the player is estimated to play (from the wall
//! clock and the playback rate). That paces on-demand files and live viewers
//! catching up from the DVR window (faster than real time with `set_speed`); on
//! the live edge the shared feed comes in real time and is passed on as it comes.

use tokio::time::Instant;

use crate::stream::subscription::{Chunk, ReadError, Subscription};

/// How far (media ms) a viewer is sent ahead of its estimated position.
pub const VOD_LEAD_MS: i64 = 6_000;

/// A viewer's subscription, paced.
#[derive(Debug)]
pub struct Playback {
    pub subscription: Subscription,
    /// A chunk read but not yet due.
    ready: Option<Chunk>,
    pub clock: PaceClock,
}

impl Playback {
    /// Paces `subscription` from media time `position_ms` at `rate`.
    pub fn new(subscription: Subscription, position_ms: i64, rate: f64) -> Playback {
        Playback {
            subscription,
            ready: None,
            clock: PaceClock::new(Instant::now(), position_ms, rate),
        }
    }

    /// The next chunk once it is due; `None` at the end. Cancel-safe: a chunk
    /// waiting for its time is kept.
    pub async fn next(&mut self) -> Option<Result<Chunk, ReadError>> {
        loop {
            if let Some(chunk) = &self.ready {
                let paced = !self.subscription.at_live_edge();
                if let (Some(ms), true) = (chunk.start_ms, paced) {
                    tokio::time::sleep_until(self.clock.due(ms)).await;
                }
                return self.ready.take().map(Ok);
            }
            match self.subscription.next().await? {
                Ok(chunk) => self.ready = Some(chunk),
                Err(err) => return Some(Err(err)),
            }
        }
    }
}

/// Maps media time onto the wall clock for pacing: where the player is estimated
/// to be now.
#[derive(Debug, Clone, Copy)]
pub struct PaceClock {
    anchor: Instant,
    anchor_ms: i64,
    rate: f64,
    paused: bool,
}

impl PaceClock {
    pub fn new(now: Instant, position_ms: i64, rate: f64) -> PaceClock {
        PaceClock {
            anchor: now,
            anchor_ms: position_ms,
            rate,
            paused: false,
        }
    }

    /// The estimated playback position at `now`.
    pub fn position(&self, now: Instant) -> i64 {
        if self.paused {
            return self.anchor_ms;
        }
        let elapsed = now.saturating_duration_since(self.anchor).as_secs_f64() * 1000.0;
        self.anchor_ms
            .saturating_add((elapsed * self.rate).min(i64::MAX as f64 / 2.0) as i64)
    }

    /// When media time `start_ms` may be sent (it is then [`VOD_LEAD_MS`] ahead).
    pub fn due(&self, start_ms: i64) -> Instant {
        let ahead = start_ms
            .saturating_sub(VOD_LEAD_MS)
            .saturating_sub(self.anchor_ms);
        if ahead <= 0 || self.paused {
            return self.anchor;
        }
        let wait_ms = (ahead as f64 / self.rate).min(86_400_000.0);
        self.anchor + std::time::Duration::from_secs_f64(wait_ms / 1000.0)
    }

    pub fn pause(&mut self, now: Instant) {
        self.anchor_ms = self.position(now);
        self.anchor = now;
        self.paused = true;
    }

    /// Continues from where [`PaceClock::pause`] stopped (no-op while running).
    pub fn resume(&mut self, now: Instant) {
        if self.paused {
            self.anchor = now;
            self.paused = false;
        }
    }

    pub fn set_rate(&mut self, now: Instant, rate: f64) {
        self.anchor_ms = self.position(now);
        self.anchor = now;
        self.rate = rate;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing_keeps_a_lead_and_follows_rate_and_pause() {
        let start = Instant::now();
        let mut clock = PaceClock::new(start, 10_000, 1.0);
        assert_eq!(clock.due(12_000), start);
        assert_eq!(
            clock.due(20_000),
            start + std::time::Duration::from_millis(4_000)
        );
        let later = start + std::time::Duration::from_secs(2);
        assert_eq!(clock.position(later), 12_000);
        clock.set_rate(later, 2.0);
        assert_eq!(
            clock.position(later + std::time::Duration::from_secs(1)),
            14_000
        );
        clock.pause(later + std::time::Duration::from_secs(1));
        assert_eq!(
            clock.position(later + std::time::Duration::from_secs(30)),
            14_000
        );
        clock.resume(later + std::time::Duration::from_secs(30));
        assert_eq!(
            clock.position(later + std::time::Duration::from_secs(31)),
            16_000
        );
        // A second resume while running changes nothing.
        clock.resume(later + std::time::Duration::from_secs(31));
        assert_eq!(
            clock.position(later + std::time::Duration::from_secs(31)),
            16_000
        );
    }
}
