//! Retention: deleting a stream's oldest recorded segments once they are older
//! than `max_age_h` or its recordings together pass `max_bytes`.
//!
//! Only finished segments are ever on disk under their own name (the open one
//! is still in memory), so nothing being written can be deleted. A recording
//! folder whose every segment is gone is removed with its index.

use std::path::{Path, PathBuf};

use super::index::{self, SegmentEntry, INDEX_NAME};
use super::settings::Retention;

/// How deep under the stream's root recording folders are looked for.
pub const SCAN_DEPTH: usize = 4;

/// What one pass deleted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub segments: usize,
    pub bytes: u64,
}

/// Applies `limits` to the recordings under `root` at `now_unix_ms`; `keep`
/// (the folder being recorded into) is never removed.
pub fn apply(root: &Path, limits: &Retention, now_unix_ms: i64, keep: Option<&Path>) -> Swept {
    let mut swept = Swept::default();
    if limits.is_unlimited() {
        return swept;
    }
    let recordings = index::scan(root, SCAN_DEPTH);
    let mut segments: Vec<(PathBuf, SegmentEntry)> = recordings
        .iter()
        .flat_map(|(folder, entries)| entries.iter().map(|e| (folder.clone(), e.clone())))
        .collect();
    segments.sort_by_key(|(_, e)| (e.start_unix_ms, e.sequence));
    let mut total: u64 = segments.iter().map(|(_, e)| e.bytes).sum();
    let oldest_end = limits
        .max_age_h
        .map(|h| now_unix_ms.saturating_sub((h as i64).saturating_mul(3_600_000)));
    for (folder, entry) in &segments {
        let too_old = oldest_end.is_some_and(|limit| entry.end_unix_ms() < limit);
        let too_big = limits.max_bytes.is_some_and(|max| total > max);
        if !too_old && !too_big {
            break;
        }
        if std::fs::remove_file(folder.join(&entry.file)).is_ok() {
            swept.segments += 1;
            swept.bytes += entry.bytes;
        }
        total = total.saturating_sub(entry.bytes);
    }
    for (folder, _) in &recordings {
        if keep == Some(folder.as_path()) {
            continue;
        }
        let left = index::read(folder)
            .iter()
            .any(|e| folder.join(&e.file).is_file());
        if !left {
            let _ = std::fs::remove_file(folder.join(INDEX_NAME));
            let _ = std::fs::remove_dir(folder);
        }
    }
    swept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::index::RecordingFolder;
    use crate::recording::settings::RecordFormat;

    fn entry(start: i64) -> SegmentEntry {
        SegmentEntry {
            stream: "s".into(),
            format: RecordFormat::Ts,
            file: String::new(),
            sequence: 0,
            start_unix_ms: start,
            media_start_ms: 0,
            duration_ms: 1000,
            bytes: 0,
            header_bytes: 0,
        }
    }

    #[test]
    fn the_oldest_go_first_and_empty_recordings_vanish() {
        let dir = tempfile::tempdir().unwrap();
        let mut old = RecordingFolder::create(&dir.path().join("a")).unwrap();
        old.write_segment(&[0; 100], entry(0)).unwrap();
        let mut new = RecordingFolder::create(&dir.path().join("b")).unwrap();
        for i in 1..=3 {
            new.write_segment(&[0; 100], entry(i * 1000)).unwrap();
        }
        let limits = Retention {
            max_age_h: None,
            max_bytes: Some(250),
        };
        let swept = apply(dir.path(), &limits, 10_000, Some(&new.path));
        assert_eq!(swept.segments, 2);
        assert!(!dir.path().join("a").exists());
        assert!(!new.path.join("000001.ts").exists());
        assert!(new.path.join("000002.ts").exists());
        // By age: everything that ended more than an hour before now.
        let limits = Retention {
            max_age_h: Some(1),
            max_bytes: None,
        };
        let swept = apply(dir.path(), &limits, 3_600_000 + 3_500, Some(&new.path));
        assert_eq!(swept.segments, 1);
        assert!(new.path.join("000003.ts").exists());
    }
}
