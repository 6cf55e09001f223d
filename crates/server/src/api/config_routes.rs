//! Protocol settings: `GET /api/v1/config` and `PATCH /api/v1/config`.
//!
//! The document is the configuration without streams and accounts: the HTTP,
//! HTTPS, RTMP and API listeners, public addresses, trusted proxies and limits. A PATCH is
//! an RFC 7396 JSON merge patch over that document; the merged result is read with
//! unknown keys refused (the key path is the answer's `field`) and applied through
//! `update_config`, which rebinds changed listeners (a bind failure answers 409 and
//! changes nothing) and saves the file atomically (a write failure answers 500, or
//! 507 when the disk is full, and
//! changes nothing).

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{from_value, parse_json, ApiError};
use super::ApiState;
use crate::config::{Config, HttpConfig, HttpsConfig, ListenConfig};
use crate::config_limits::LimitsConfig;
use crate::http::public_base::PublicBase;
use crate::http::Scheme;

/// The document `GET /api/v1/config` answers and `PATCH` edits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigDoc {
    pub http: HttpDoc,
    #[serde(default)]
    pub https: Option<HttpsDoc>,
    pub rtmp: ListenDoc,
    pub api: ListenDoc,
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Connection caps and buffer budget (keys left out take their defaults).
    #[serde(default)]
    pub limits: LimitsConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpDoc {
    pub listen: SocketAddr,
    #[serde(default)]
    pub public_address: Vec<String>,
    #[serde(default)]
    pub unix_socket: Option<PathBuf>,
    #[serde(default = "default_write_timeout_ms")]
    pub write_timeout_ms: u64,
    #[serde(default = "default_head_timeout_ms")]
    pub head_timeout_ms: u64,
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
}

fn default_write_timeout_ms() -> u64 {
    crate::config::DEFAULT_WRITE_TIMEOUT_MS
}

fn default_head_timeout_ms() -> u64 {
    crate::config::DEFAULT_HEAD_TIMEOUT_MS
}

fn default_idle_timeout_ms() -> u64 {
    crate::config::DEFAULT_IDLE_TIMEOUT_MS
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpsDoc {
    pub listen: SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
    #[serde(default)]
    pub public_address: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenDoc {
    pub listen: SocketAddr,
}

impl ConfigDoc {
    /// The protocol part of `config`.
    pub fn of(config: &Config) -> ConfigDoc {
        ConfigDoc {
            http: HttpDoc {
                listen: config.http.listen,
                public_address: config.http.public_address.clone(),
                unix_socket: config.http.unix_socket.clone(),
                write_timeout_ms: config.http.write_timeout_ms,
                head_timeout_ms: config.http.head_timeout_ms,
                idle_timeout_ms: config.http.idle_timeout_ms,
            },
            https: config.https.as_ref().map(|https| HttpsDoc {
                listen: https.listen,
                cert: https.cert.clone(),
                key: https.key.clone(),
                public_address: https.public_address.clone(),
            }),
            rtmp: ListenDoc {
                listen: config.rtmp.listen,
            },
            api: ListenDoc {
                listen: config.api.listen,
            },
            trusted_proxies: config.trusted_proxies.clone(),
            limits: config.limits.clone(),
        }
    }

    /// Writes this document into `config` (streams and accounts untouched).
    pub fn apply(self, config: &mut Config) {
        config.http = HttpConfig {
            listen: self.http.listen,
            public_address: self.http.public_address,
            unix_socket: self.http.unix_socket,
            write_timeout_ms: self.http.write_timeout_ms,
            head_timeout_ms: self.http.head_timeout_ms,
            idle_timeout_ms: self.http.idle_timeout_ms,
        };
        config.https = self.https.map(|https| HttpsConfig {
            listen: https.listen,
            cert: https.cert,
            key: https.key,
            public_address: https.public_address,
        });
        config.rtmp = ListenConfig {
            listen: self.rtmp.listen,
        };
        config.api.listen = self.api.listen;
        config.trusted_proxies = self.trusted_proxies;
        config.limits = self.limits;
    }

    /// Refuses public addresses the URL builder could not use.
    fn check_public_addresses(&self) -> Result<(), ApiError> {
        let https = self.https.iter().flat_map(|h| {
            h.public_address
                .iter()
                .enumerate()
                .map(|(i, a)| (format!("https.public_address[{i}]"), a, Scheme::Https))
        });
        let http = self
            .http
            .public_address
            .iter()
            .enumerate()
            .map(|(i, a)| (format!("http.public_address[{i}]"), a, Scheme::Http));
        for (field, address, scheme) in http.chain(https) {
            PublicBase::parse(address, Some(scheme)).map_err(|err| {
                ApiError::bad_field(
                    field.clone(),
                    format!("{field}: {address:?} is not a usable public address: {err}"),
                )
            })?;
        }
        Ok(())
    }
}

/// `GET /api/v1/config`.
pub async fn get(State(api): State<ApiState>) -> Json<ConfigDoc> {
    Json(ConfigDoc::of(&api.server.config()))
}

/// `PATCH /api/v1/config`: merge patch, validate, apply, answer the new document.
pub async fn patch(State(api): State<ApiState>, body: Bytes) -> Result<Json<ConfigDoc>, ApiError> {
    let patch: Value = parse_json(&body)?;
    if !patch.is_object() {
        return Err(ApiError::bad_field(
            "(top level)",
            "the patch must be a JSON object (RFC 7396 merge patch)",
        ));
    }
    let server = api.server.clone();
    let config = super::blocking(move || {
        server.apply_config(Box::new(|config| {
            let mut doc = serde_json::to_value(ConfigDoc::of(config))
                .map_err(|e| ApiError::internal(format!("cannot show the configuration: {e}")))?;
            merge_patch(&mut doc, &patch);
            let doc: ConfigDoc = from_value(doc)?;
            doc.check_public_addresses()?;
            doc.apply(config);
            Ok(())
        }))
    })
    .await?
    .map_err(|e| ApiError::from_update(e, str::to_owned))?;
    tracing::info!("protocol settings changed through the API");
    Ok(Json(ConfigDoc::of(&config)))
}

/// RFC 7396: objects merge key by key, `null` removes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut doc, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}}));
        let mut doc = json!({"a": [1, 2]});
        merge_patch(&mut doc, &json!({"a": [3], "b": {"x": null, "y": 1}}));
        assert_eq!(doc, json!({"a": [3], "b": {"y": 1}}));
    }

    #[test]
    fn the_document_round_trips_and_refuses_unknown_keys() {
        let config = Config::default();
        let doc = ConfigDoc::of(&config);
        let mut value = serde_json::to_value(&doc).unwrap();
        assert_eq!(value["https"], Value::Null);
        assert_eq!(value["http"]["unix_socket"], Value::Null);
        assert!(value.get("streams").is_none());
        let mut again = config.clone();
        from_value::<ConfigDoc>(value.clone())
            .unwrap()
            .apply(&mut again);
        assert_eq!(again, config);
        merge_patch(&mut value, &json!({"http": {"lisen": "1.2.3.4:5"}}));
        let err = from_value::<ConfigDoc>(value).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("http.lisen"));
    }
}
