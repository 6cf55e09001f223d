//! Access settings: a stream's `access` mode and address lists, and the
//! top-level `tokens` section (the key signed URLs are checked with).

use serde::{Deserialize, Serialize};

use super::token::MIN_KEY_BYTES;

/// Who may watch a stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessMode {
    /// Anyone (a `USER_NEW` trigger, if configured, still decides).
    #[default]
    Public,
    /// Only viewers with a valid signed URL (`?tkn=`).
    Token,
    /// Only viewers a blocking `USER_NEW` trigger admits; refused when none is configured.
    Trigger,
}

impl AccessMode {
    pub fn is_public(&self) -> bool {
        *self == AccessMode::Public
    }
}

/// The `tokens` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensConfig {
    /// The HMAC-SHA256 key of signed URLs (at least 16 bytes; a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl TokensConfig {
    pub fn is_default(&self) -> bool {
        self.key.is_none()
    }
}

/// Checks a stream's access settings (`(key suffix, message)` on error).
pub fn check_stream(
    mode: AccessMode,
    ip_allow: &[String],
    ip_deny: &[String],
    tokens: &TokensConfig,
) -> Result<(), (String, String)> {
    for (field, list) in [("ip_allow", ip_allow), ("ip_deny", ip_deny)] {
        for (i, cidr) in list.iter().enumerate() {
            crate::net::Cidr::parse(cidr).map_err(|e| (format!("{field}[{i}]"), e.to_string()))?;
        }
    }
    if mode == AccessMode::Token && tokens.key.is_none() {
        return Err((
            "access".to_owned(),
            "token access needs a key in the top-level `tokens` section".to_owned(),
        ));
    }
    Ok(())
}

/// Why the `tokens` section is refused.
#[derive(Debug, thiserror::Error)]
pub enum TokensError {
    #[error("the key must be at least {MIN_KEY_BYTES} bytes")]
    KeyTooShort,
}

/// Checks the `tokens` section.
pub fn check_tokens(tokens: &TokensConfig) -> Result<(), TokensError> {
    match &tokens.key {
        Some(key) if key.len() < MIN_KEY_BYTES => Err(TokensError::KeyTooShort),
        _ => Ok(()),
    }
}
