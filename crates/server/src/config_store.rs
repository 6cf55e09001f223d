//! The configuration the server runs with, shared and editable while it runs.
//!
//! [`ConfigStore`] holds the current [`Config`] as an `Arc` (readers take a cheap
//! snapshot per request), the file it came from, and a watch channel announcing every
//! new version. [`ConfigStore::update`] is the only way to change it: edits are
//! serialised, validated, saved atomically (temp file, fsync, rename) and only then
//! made current, so the file on disk never holds a configuration the server refused,
//! and a crash at any moment leaves either the old or the new document.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::watch;

use crate::config::{Config, ConfigError};
use crate::net::Cidr;

/// Warns when the configuration file at `path` can be read by its group or by
/// everyone: it holds stream passwords and password hashes.
pub fn warn_if_readable_by_others(path: &Path) {
    if let Some(mode) = readable_by_others(path) {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{mode:o}"),
            "the configuration file is readable by other users and holds password hashes and \
             stream passwords: run chmod 600 on it (or 640 if Brume's group must read it)"
        );
    }
}

/// The file's permission bits when its group or others may read it.
fn readable_by_others(path: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let mode = std::fs::metadata(path).ok()?.mode() & 0o777;
    (mode & 0o044 != 0).then_some(mode)
}

/// Creates `tmp` (the next version of the file at `like`) with `like`'s mode and,
/// where the process may, its owner; `0600` when `like` does not exist yet. The
/// file holds stream passwords and password hashes: it is never created readable
/// by others, and an operator's `chmod`/`chown` survives every save.
pub fn create_like(tmp: &Path, like: &Path) -> std::io::Result<std::fs::File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
        let existing = std::fs::metadata(like).ok();
        let mode = existing.as_ref().map_or(0o600, |m| m.mode() & 0o7777);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(tmp)?;
        if let Some(meta) = &existing {
            // Ownership first (it can clear set-id bits), then the exact mode
            // (the umask applied at creation is not the operator's choice).
            let _ = std::os::unix::fs::fchown(&file, Some(meta.uid()), Some(meta.gid()));
        }
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    {
        let _ = like;
        std::fs::File::create(tmp)
    }
}

/// The parsed `trusted_proxies` (entries were validated with the document).
fn parse_trusted(config: &Config) -> Arc<[Cidr]> {
    config
        .trusted_proxies
        .iter()
        .filter_map(|text| Cidr::parse(text).ok())
        .collect()
}

/// The live configuration and where it is saved.
#[derive(Debug)]
pub struct ConfigStore {
    /// The file the configuration is saved to; `None` runs the built-in default
    /// without saving (changes then last until the process exits).
    path: Option<PathBuf>,
    current: RwLock<Arc<Config>>,
    /// `trusted_proxies` of the current document, parsed once per version (read on
    /// every media request).
    trusted: RwLock<Arc<[Cidr]>>,
    changes: watch::Sender<Arc<Config>>,
    /// Held across read-modify-save-swap so concurrent edits never interleave.
    edit: Mutex<()>,
    /// The file's text as last loaded, saved or seen, to notice edits made to the
    /// file by someone else (`brume passwd`, an editor).
    known_text: Mutex<Option<String>>,
}

/// Why an edit was not applied.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError<E> {
    /// The edit itself refused (its own error type).
    #[error(transparent)]
    Edit(E),
    /// The edited document is not a valid configuration.
    #[error("at `{key}`: {message}")]
    Invalid { key: String, message: String },
    /// The server cannot run the new document (e.g. a new listen address cannot be
    /// bound); `key` is the offending key path.
    #[error("{message}")]
    Refused { key: String, message: String },
    /// The file could not be written; the old file and configuration are intact.
    #[error("{0}")]
    Save(ConfigError),
}

/// Why the server cannot run a new configuration (see [`ConfigStore::update`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    /// The key path at fault, e.g. `http.listen`.
    pub key: String,
    pub message: String,
}

impl ConfigStore {
    pub fn new(config: Config, path: Option<PathBuf>) -> ConfigStore {
        let config = Arc::new(config);
        let (changes, _) = watch::channel(config.clone());
        let known_text = path
            .as_deref()
            .and_then(|path| std::fs::read_to_string(path).ok());
        ConfigStore {
            path,
            trusted: RwLock::new(parse_trusted(&config)),
            current: RwLock::new(config),
            changes,
            edit: Mutex::new(()),
            known_text: Mutex::new(known_text),
        }
    }

    /// The file's new contents if someone other than this store changed it since
    /// it was last loaded, saved or looked at: `None` when unchanged (or
    /// unreadable, or there is no file), else the parsed document or why it does
    /// not parse. Each distinct text is reported once.
    pub fn changed_on_disk(&self) -> Option<Result<Config, ConfigError>> {
        let path = self.path.as_deref()?;
        let text = std::fs::read_to_string(path).ok()?;
        let mut known = self.known_text.lock().unwrap_or_else(|p| p.into_inner());
        if known.as_deref() == Some(text.as_str()) {
            return None;
        }
        let parsed = Config::from_json(&text, path);
        *known = Some(text);
        Some(parsed)
    }

    /// A snapshot of the configuration now in force.
    pub fn current(&self) -> Arc<Config> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The trusted proxy blocks of the configuration now in force.
    pub fn trusted_proxies(&self) -> Arc<[Cidr]> {
        self.trusted
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Wakes on every applied change.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Config>> {
        self.changes.subscribe()
    }

    /// The file the configuration is saved to, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The folder relative paths in the configuration are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        self.path
            .as_deref()
            .and_then(Path::parent)
            .filter(|dir| !dir.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// Applies `edit` to a copy of the current configuration, validates the result,
    /// runs `commit` (which may refuse, e.g. when a new port cannot be bound), saves
    /// the file and makes the result current. Nothing changes if any step fails.
    pub fn update<E>(
        &self,
        edit: impl FnOnce(&mut Config) -> Result<(), E>,
        commit: impl FnOnce(&Config, &Config) -> Result<(), Refusal>,
    ) -> Result<Arc<Config>, UpdateError<E>> {
        let _guard = self.edit.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.current();
        let mut new = (*old).clone();
        edit(&mut new).map_err(UpdateError::Edit)?;
        let name_path = self
            .path
            .clone()
            .unwrap_or_else(|| self.base_dir().join("(built-in configuration)"));
        new.validate(&name_path).map_err(|err| match err {
            ConfigError::Invalid { key, message, .. } => UpdateError::Invalid { key, message },
            other => UpdateError::Invalid {
                key: "(top level)".to_owned(),
                message: other.to_string(),
            },
        })?;
        commit(&old, &new)
            .map_err(|Refusal { key, message }| UpdateError::Refused { key, message })?;
        if let Some(path) = &self.path {
            new.save(path).map_err(UpdateError::Save)?;
            *self.known_text.lock().unwrap_or_else(|p| p.into_inner()) = new.render().ok();
        }
        let new = Arc::new(new);
        *self.trusted.write().unwrap_or_else(|p| p.into_inner()) = parse_trusted(&new);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = new.clone();
        self.changes.send_replace(new.clone());
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_is_saved_then_current() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("brume.json");
        let store = ConfigStore::new(Config::default(), Some(path.clone()));
        let changes = store.subscribe();
        store
            .update(
                |c| {
                    c.http.public_address = vec!["https://example.com/video/".to_owned()];
                    Ok::<(), String>(())
                },
                |_, _| Ok(()),
            )
            .unwrap();
        assert!(changes.has_changed().unwrap());
        let on_disk = Config::from_json(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
        assert_eq!(on_disk, *store.current());
        assert_eq!(
            store.current().http.public_address,
            ["https://example.com/video/"]
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_can_read_is_noticed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("brume.json");
        std::fs::write(&path, "{}").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(readable_by_others(&path), None);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(readable_by_others(&path), Some(0o644));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(readable_by_others(&path), Some(0o640));
    }

    #[test]
    fn the_file_is_private_and_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("brume.json");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        Config::default().save(&path).unwrap();
        assert_eq!(mode(&path), 0o600, "a new file is private");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        Config::default().save(&path).unwrap();
        assert_eq!(mode(&path), 0o640, "the operator's mode is kept");
    }

    #[test]
    fn edits_by_others_are_noticed_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("brume.json");
        Config::default().save(&path).unwrap();
        let store = ConfigStore::new(Config::default(), Some(path.clone()));
        assert!(store.changed_on_disk().is_none());
        // Our own save is not someone else's edit.
        store
            .update(
                |c| {
                    c.trusted_proxies.clear();
                    Ok::<(), String>(())
                },
                |_, _| Ok(()),
            )
            .unwrap();
        assert!(store.changed_on_disk().is_none());
        std::fs::write(&path, r#"{"streams": {}}"#).unwrap();
        let seen = store.changed_on_disk().unwrap().unwrap();
        assert!(seen.streams.is_empty());
        assert!(store.changed_on_disk().is_none());
        std::fs::write(&path, r#"{"streams": "#).unwrap();
        assert!(store.changed_on_disk().unwrap().is_err());
        assert!(store.changed_on_disk().is_none());
    }

    #[test]
    fn an_invalid_or_refused_edit_changes_nothing() {
        let store = ConfigStore::new(Config::default(), None);
        let err = store
            .update(
                |c| {
                    c.trusted_proxies.push("10.0.0.0/99".to_owned());
                    Ok::<(), String>(())
                },
                |_, _| Ok(()),
            )
            .unwrap_err();
        assert!(matches!(err, UpdateError::Invalid { ref key, .. } if key == "trusted_proxies[2]"));
        let err = store
            .update(
                |c| {
                    c.streams.clear();
                    Ok::<(), String>(())
                },
                |_, _| {
                    Err(Refusal {
                        key: "http.listen".to_owned(),
                        message: "port busy".to_owned(),
                    })
                },
            )
            .unwrap_err();
        assert!(matches!(err, UpdateError::Refused { ref key, .. } if key == "http.listen"));
        assert_eq!(*store.current(), Config::default());
    }
}
