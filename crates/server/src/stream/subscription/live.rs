//! A live viewer's reader: the shared feed of its (format, selection), or its own
//! pass over the DVR ring until it catches up with the feed.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::Stream;

use super::{Chunk, ReadError, Start, SubscribeError};
use crate::metrics::Viewer;
use crate::stream::live::feed::{
    close_sequence, group_start_ms, select, Format, LiveChunk, ProgressiveMuxer,
};
use crate::stream::live::replay::{EdgeStart, Join, Replay, Step};
use crate::stream::live::LiveStream;
use crate::stream::selection::Selection;

/// Groups read from the ring per poll without one to hand out, before yielding.
const MAX_EMPTY_STEPS: usize = 64;

#[derive(Debug)]
enum State {
    /// On the shared feed.
    Feed {
        pending: VecDeque<LiveChunk>,
        receiver: BroadcastStream<LiveChunk>,
        /// After lagging (or starting without a backlog): chunks are dropped
        /// until the next keyframe.
        resyncing: bool,
    },
    /// Reading the ring, muxing for this viewer.
    Replay {
        replay: Replay,
        muxer: Box<ProgressiveMuxer>,
        /// Read up but not in step with the feed: wait for more frames.
        wait: Option<BroadcastStream<LiveChunk>>,
    },
    Ended,
}

/// A live viewer's position.
#[derive(Debug)]
pub struct LiveReader {
    live: Arc<LiveStream>,
    format: Format,
    selection: Arc<Selection>,
    viewer: Arc<Viewer>,
    state: State,
}

impl LiveReader {
    /// Starts at the live edge or back in the DVR window; also returns the header.
    pub fn start(
        live: Arc<LiveStream>,
        format: Format,
        selection: Arc<Selection>,
        start: Start,
        viewer: Arc<Viewer>,
    ) -> Result<(Bytes, LiveReader), SubscribeError> {
        let back = match start {
            Start::At(ms) => live.replay_from(ms),
            Start::Edge => None,
        };
        let (header, state) = match back {
            Some(replay) => {
                let (muxer, header) = ProgressiveMuxer::new(format, &selection.tracks, None)?;
                (header, replaying(replay, muxer))
            }
            None => match live.start_at_edge(format, &selection)? {
                EdgeStart::Feed { start, resync } => (
                    start.header,
                    State::Feed {
                        pending: start.backlog.into(),
                        receiver: BroadcastStream::new(start.receiver),
                        resyncing: resync,
                    },
                ),
                EdgeStart::Replay { replay, header } => {
                    let (muxer, _) = ProgressiveMuxer::new(format, &selection.tracks, None)?;
                    (header, replaying(replay, muxer))
                }
                EdgeStart::Closed => return Err(SubscribeError::Ended),
            },
        };
        let reader = LiveReader {
            live,
            format,
            selection,
            viewer,
            state,
        };
        Ok((header, reader))
    }

    /// Whether the viewer is on the shared feed.
    pub fn on_feed(&self) -> bool {
        matches!(self.state, State::Feed { .. })
    }

    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Chunk, ReadError>>> {
        let mut empty_steps = 0;
        loop {
            match &mut self.state {
                State::Ended => return Poll::Ready(None),
                State::Feed {
                    pending,
                    receiver,
                    resyncing,
                } => {
                    if let Some(chunk) = pending.pop_front() {
                        return Poll::Ready(Some(Ok(media(chunk))));
                    }
                    match Pin::new(receiver).poll_next(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(None) => self.state = State::Ended,
                        Poll::Ready(Some(Err(BroadcastStreamRecvError::Lagged(missed)))) => {
                            tracing::debug!(
                                missed,
                                "viewer fell behind; skipping to the next keyframe"
                            );
                            self.viewer.skipped();
                            *resyncing = true;
                        }
                        Poll::Ready(Some(Ok(chunk))) => {
                            if *resyncing && !chunk.keyframe {
                                continue;
                            }
                            *resyncing = false;
                            return Poll::Ready(Some(Ok(media(chunk))));
                        }
                    }
                }
                State::Replay {
                    replay,
                    muxer,
                    wait,
                } => {
                    if let Some(receiver) = wait {
                        match Pin::new(receiver).poll_next(cx) {
                            Poll::Pending => return Poll::Pending,
                            Poll::Ready(None) => {
                                self.state = State::Ended;
                                continue;
                            }
                            Poll::Ready(Some(_)) => *wait = None,
                        }
                    }
                    empty_steps += 1;
                    if empty_steps > MAX_EMPTY_STEPS {
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    match self.live.replay_next(replay) {
                        Step::Group {
                            frames,
                            keyframe,
                            close,
                        } => {
                            let selected = select(&self.selection, &frames);
                            if selected.is_empty() {
                                continue;
                            }
                            let tracks = &self.selection.tracks;
                            let keyframe = keyframe || !self.selection.has_video();
                            muxer.set_next_sequence(close_sequence(close));
                            let bytes = muxer.mux(tracks, &selected, keyframe)?;
                            return Poll::Ready(Some(Ok(Chunk {
                                bytes,
                                header: false,
                                keyframe,
                                start_ms: group_start_ms(tracks, &selected),
                            })));
                        }
                        Step::Evicted => {
                            tracing::debug!("viewer fell out of the DVR window; skipping ahead");
                            self.viewer.skipped();
                            match self.live.replay_from_oldest() {
                                Some(fresh) => *replay = fresh,
                                None => self.state = State::Ended,
                            }
                        }
                        Step::Edge => {
                            match self.live.join(self.format, &self.selection, replay)? {
                                Join::Closed => self.state = State::Ended,
                                Join::Behind => {}
                                Join::Wait(receiver) => {
                                    *wait = Some(BroadcastStream::new(receiver))
                                }
                                Join::Joined(receiver) => {
                                    tracing::debug!("caught up; on the shared feed now");
                                    self.state = State::Feed {
                                        pending: VecDeque::new(),
                                        receiver: BroadcastStream::new(receiver),
                                        resyncing: false,
                                    };
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn replaying(replay: Replay, muxer: ProgressiveMuxer) -> State {
    State::Replay {
        replay,
        muxer: Box::new(muxer),
        wait: None,
    }
}

fn media(chunk: LiveChunk) -> Chunk {
    Chunk {
        bytes: chunk.bytes,
        header: false,
        keyframe: chunk.keyframe,
        start_ms: Some(chunk.start_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::media::Media;
    use crate::stream::subscription::{test_viewer, Subscription};
    use brume_media::flv::tag::{TagHeader, PREVIOUS_TAG_SIZE_LEN, TAG_HEADER_SIZE};
    use brume_media::{AudioInfo, Codec, Frame, Track, TrackKind, VideoInfo};

    fn track(id: u32, codec: Codec) -> Track {
        Track {
            id,
            codec,
            timescale: 1000,
            init: match codec {
                Codec::Aac => Bytes::from_static(&[0x11, 0x90]),
                _ => Bytes::from_static(&[1, 66, 0, 30, 0xff, 0xe0, 0]),
            },
            codec_string: String::new(),
            video: (codec.kind() == TrackKind::Video).then_some(VideoInfo {
                width: 16,
                height: 16,
            }),
            audio: (codec.kind() == TrackKind::Audio).then_some(AudioInfo {
                sample_rate: 48_000,
                channels: 2,
                sample_size: 16,
            }),
        }
    }

    fn push_av(live: &LiveStream, from: i64, to: i64) {
        for i in from..to {
            live.push(Frame {
                track: 1,
                dts: i * 40,
                pts_offset: 0,
                keyframe: i % 25 == 0,
                data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
            });
            live.push(Frame {
                track: 2,
                dts: i * 40 + 7,
                pts_offset: 0,
                keyframe: true,
                data: Bytes::from_static(&[0x21, 0x10]),
            });
        }
    }

    /// (tag type, timestamp) of every media tag in FLV bytes without a file header.
    fn tags(mut bytes: &[u8]) -> Vec<(u8, u32)> {
        let mut out = Vec::new();
        while let Ok(header) = TagHeader::parse(bytes) {
            let total = TAG_HEADER_SIZE + header.data_size as usize + PREVIOUS_TAG_SIZE_LEN;
            out.push((header.tag_type, header.timestamp));
            bytes = &bytes[total..];
        }
        out
    }

    fn open(live: &Arc<LiveStream>, start: Start) -> Subscription {
        Subscription::open(
            &Media::Live(live.clone()),
            Format::Flv,
            Arc::new(Selection::all(live.tracks())),
            start,
            test_viewer(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_viewer_from_the_dvr_window_catches_up_and_joins_the_feed_seamlessly() {
        let live = Arc::new(
            LiveStream::new(vec![track(1, Codec::H264), track(2, Codec::Aac)], 60_000).unwrap(),
        );
        push_av(&live, 0, 250); // 10 s
        let mut viewer = open(&live, Start::At(3_100));
        let mut media = Vec::new();
        let header = viewer.next().await.unwrap().unwrap();
        assert!(header.header);
        // Read what the ring holds, then more arrives while it is on the feed.
        let mut on_feed_at = None;
        for round in 0..400 {
            if round == 100 {
                push_av(&live, 250, 300);
            }
            let next = tokio::time::timeout(std::time::Duration::from_millis(50), viewer.next());
            match next.await {
                Ok(Some(chunk)) => media.extend_from_slice(&chunk.unwrap().bytes),
                Ok(None) => break,
                Err(_) => {
                    if viewer.at_live_edge() && on_feed_at.is_none() {
                        on_feed_at = Some(round);
                    }
                    if round > 100 {
                        break;
                    }
                }
            }
        }
        assert!(on_feed_at.is_some(), "never joined the shared feed");
        let tags = tags(&media);
        let video: Vec<u32> = tags.iter().filter(|t| t.0 == 9).map(|t| t.1).collect();
        let audio: Vec<u32> = tags.iter().filter(|t| t.0 == 8).map(|t| t.1).collect();
        // From the keyframe at 3 s (at or before 3.1 s), every frame once, in
        // order, up to the frames still held back.
        assert_eq!(video.first(), Some(&3000));
        assert!(video.windows(2).all(|w| w[1] == w[0] + 40), "{video:?}");
        assert_eq!(video.last(), Some(&(298 * 40)));
        assert!(audio.windows(2).all(|w| w[1] == w[0] + 40), "{audio:?}");
        assert!(audio.first().is_some_and(|&a| a >= 3000));
    }

    #[tokio::test]
    async fn a_viewer_at_the_edge_of_a_new_selection_starts_at_a_keyframe() {
        let live = Arc::new(
            LiveStream::new(vec![track(1, Codec::H264), track(2, Codec::Aac)], 60_000).unwrap(),
        );
        push_av(&live, 0, 60);
        let audio_only = Arc::new(Selection::supported(live.tracks(), &["AAC".into()]));
        let mut viewer = Subscription::open(
            &Media::Live(live.clone()),
            Format::Flv,
            audio_only,
            Start::Edge,
            test_viewer(),
        )
        .unwrap();
        assert!(viewer.next().await.unwrap().unwrap().header);
        let first = viewer.next().await.unwrap().unwrap();
        let tags = tags(&first.bytes);
        assert!(tags.iter().all(|t| t.0 == 8), "{tags:?}");
        // Replayed from the latest keyframe (at 2 s).
        assert!(tags[0].1 >= 2000 && tags[0].1 < 2080, "{tags:?}");
    }

    #[tokio::test]
    async fn a_viewer_that_lags_resumes_at_a_keyframe_and_the_skip_is_counted() {
        let live = Arc::new(
            LiveStream::new(vec![track(1, Codec::H264), track(2, Codec::Aac)], 60_000).unwrap(),
        );
        push_av(&live, 0, 30);
        let metrics = Arc::new(crate::metrics::Metrics::default());
        let audience = crate::stream::subscription::Audience {
            metrics: metrics.clone(),
            stream: "lagging".into(),
            protocol: crate::metrics::Protocol::Flv,
            ip: std::net::IpAddr::from([192, 0, 2, 1]),
        };
        let mut viewer = Subscription::open(
            &Media::Live(live.clone()),
            Format::Flv,
            Arc::new(Selection::all(live.tracks())),
            Start::Edge,
            audience.open(),
        )
        .unwrap();
        // Drain the header and backlog, then fall far behind.
        while tokio::time::timeout(std::time::Duration::from_millis(20), viewer.next())
            .await
            .is_ok()
        {}
        push_av(
            &live,
            30,
            30 + crate::stream::live::feed::FANOUT_CAPACITY as i64 + 60,
        );
        let next = viewer.next().await.unwrap().unwrap();
        assert!(next.keyframe, "resumed mid-GOP");
        let exposition = crate::metrics::prometheus::render(&metrics, Default::default());
        assert!(
            exposition.contains("brume_viewer_skips_total{stream=\"lagging\",protocol=\"FLV\"} 1"),
            "{exposition}"
        );
    }
}
