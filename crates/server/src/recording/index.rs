//! A recording's folder on disk: its segments and `index.jsonl`, one JSON line
//! per finished segment, appended and fsync'd after the segment itself was
//! written to a temporary name, fsync'd and renamed.
//!
//! So after a crash the folder holds only complete segments, and the index lists
//! them (a torn last line is ignored when reading). [`parse`] reads an index
//! from untrusted bytes: a line that does not parse, or names a file outside the
//! folder, ends the reading there.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::settings::RecordFormat;

/// The index's file name inside a recording folder.
pub const INDEX_NAME: &str = "index.jsonl";
/// Most index lines read from one index.
pub const MAX_INDEX_ENTRIES: usize = 1_000_000;
/// Longest index line read.
const MAX_LINE_BYTES: usize = 4096;

/// One finished segment, as its index line says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentEntry {
    pub stream: String,
    pub format: RecordFormat,
    /// File name inside the recording folder.
    pub file: String,
    pub sequence: u64,
    /// Wall-clock time of the segment's first frame (unix ms).
    pub start_unix_ms: i64,
    /// Media time of the segment's first frame (ms).
    pub media_start_ms: i64,
    pub duration_ms: u64,
    pub bytes: u64,
    /// Length of the segment's header (init segment / PAT+PMT) at its start.
    pub header_bytes: u64,
}

impl SegmentEntry {
    pub fn end_unix_ms(&self) -> i64 {
        self.start_unix_ms + self.duration_ms as i64
    }
}

/// Why writing a recording failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot create the recording folder {}: {source}", path.display())]
    CreateFolder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A segment's name for `sequence`.
pub fn segment_name(sequence: u64, format: RecordFormat) -> String {
    format!("{sequence:06}.{}", format.extension())
}

fn valid_name(name: &str) -> bool {
    let Some((digits, ext)) = name.split_once('.') else {
        return false;
    };
    !digits.is_empty()
        && digits.len() <= 20
        && digits.bytes().all(|b| b.is_ascii_digit())
        && matches!(ext, "mp4" | "ts")
}

/// Reads index lines until the first one that is not a valid entry.
pub fn parse(data: &[u8]) -> Vec<SegmentEntry> {
    let mut entries = Vec::new();
    for line in data.split(|b| *b == b'\n') {
        if line.is_empty() || line.len() > MAX_LINE_BYTES || entries.len() >= MAX_INDEX_ENTRIES {
            break;
        }
        match serde_json::from_slice::<SegmentEntry>(line) {
            Ok(entry) if valid_name(&entry.file) && entry.duration_ms <= i64::MAX as u64 => {
                entries.push(entry)
            }
            _ => break,
        }
    }
    entries
}

/// Reads a recording folder's index (missing or unreadable: empty).
pub fn read(folder: &Path) -> Vec<SegmentEntry> {
    std::fs::read(folder.join(INDEX_NAME))
        .map(|data| parse(&data))
        .unwrap_or_default()
}

/// The folder of a recording being written.
#[derive(Debug)]
pub struct RecordingFolder {
    pub path: PathBuf,
    index: File,
    next_sequence: u64,
}

impl RecordingFolder {
    /// Creates `path` — or, when a recording is already there, `path-2`,
    /// `path-3`… — with an empty index.
    pub fn create(path: &Path) -> Result<RecordingFolder, WriteError> {
        let mut candidate = path.to_path_buf();
        let mut n = 1;
        while candidate.join(INDEX_NAME).exists() {
            n += 1;
            let mut name = path.as_os_str().to_owned();
            name.push(format!("-{n}"));
            candidate = PathBuf::from(name);
        }
        std::fs::create_dir_all(&candidate).map_err(|source| WriteError::CreateFolder {
            path: candidate.clone(),
            source,
        })?;
        let index_path = candidate.join(INDEX_NAME);
        let index = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&index_path)
            .map_err(|source| WriteError::Write {
                path: index_path,
                source,
            })?;
        sync_folder(&candidate);
        Ok(RecordingFolder {
            path: candidate,
            index,
            next_sequence: 1,
        })
    }

    /// Writes one finished segment crash-safely (temporary name, fsync, rename,
    /// folder fsync) and then appends its index line (fsync'd). `entry`'s file
    /// and sequence are filled in here.
    pub fn write_segment(
        &mut self,
        data: &[u8],
        mut entry: SegmentEntry,
    ) -> Result<SegmentEntry, WriteError> {
        entry.sequence = self.next_sequence;
        entry.file = segment_name(entry.sequence, entry.format);
        entry.bytes = data.len() as u64;
        let final_path = self.path.join(&entry.file);
        let temp_path = self.path.join(format!(".{}.part", entry.file));
        let failed = |path: &Path| {
            let path = path.to_path_buf();
            move |source| WriteError::Write { path, source }
        };
        let written = (|| {
            let mut file = File::create(&temp_path)?;
            file.write_all(data)?;
            file.sync_all()
        })();
        if let Err(err) = written {
            let _ = std::fs::remove_file(&temp_path);
            return Err(failed(&temp_path)(err));
        }
        std::fs::rename(&temp_path, &final_path).map_err(failed(&final_path))?;
        sync_folder(&self.path);
        let mut line = serde_json::to_vec(&entry).unwrap_or_default();
        line.push(b'\n');
        let index_path = self.path.join(INDEX_NAME);
        self.index
            .write_all(&line)
            .and_then(|()| self.index.sync_data())
            .map_err(failed(&index_path))?;
        self.next_sequence += 1;
        Ok(entry)
    }
}

fn sync_folder(path: &Path) {
    if let Ok(folder) = File::open(path) {
        let _ = folder.sync_all();
    }
}

/// Every recording folder under `root` (at most `depth` levels down), with
/// the segments its index lists that are still on disk.
pub fn scan(root: &Path, depth: usize) -> Vec<(PathBuf, Vec<SegmentEntry>)> {
    let mut found = Vec::new();
    let mut pending = vec![(root.to_path_buf(), 0)];
    while let Some((folder, level)) = pending.pop() {
        if folder.join(INDEX_NAME).is_file() {
            let entries: Vec<SegmentEntry> = read(&folder)
                .into_iter()
                .filter(|e| folder.join(&e.file).is_file())
                .collect();
            found.push((folder.clone(), entries));
        }
        if level >= depth {
            continue;
        }
        let Ok(children) = std::fs::read_dir(&folder) else {
            continue;
        };
        for child in children.flatten() {
            if child.file_type().is_ok_and(|t| t.is_dir()) {
                pending.push((child.path(), level + 1));
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> SegmentEntry {
        SegmentEntry {
            stream: "s".into(),
            format: RecordFormat::Ts,
            file: String::new(),
            sequence: 0,
            start_unix_ms: 1000,
            media_start_ms: 0,
            duration_ms: 2000,
            bytes: 0,
            header_bytes: 10,
        }
    }

    #[test]
    fn segments_are_indexed_and_a_torn_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut folder = RecordingFolder::create(&dir.path().join("r")).unwrap();
        folder.write_segment(b"one", entry()).unwrap();
        folder.write_segment(b"two!", entry()).unwrap();
        let index = dir.path().join("r").join(INDEX_NAME);
        let mut f = OpenOptions::new().append(true).open(&index).unwrap();
        f.write_all(b"{\"stream\":\"s\",\"form").unwrap();
        let entries = read(&dir.path().join("r"));
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].file, "000002.ts");
        assert_eq!(entries[1].bytes, 4);
        // A second recording into the same path gets a folder of its own.
        let again = RecordingFolder::create(&dir.path().join("r")).unwrap();
        assert!(again.path.ends_with("r-2"));
        assert_eq!(scan(dir.path(), 2).len(), 2);
    }

    #[test]
    fn names_outside_the_folder_end_the_index() {
        let mut e = entry();
        e.file = "../../etc/passwd".into();
        let line = serde_json::to_vec(&e).unwrap();
        assert!(parse(&line).is_empty());
    }
}
