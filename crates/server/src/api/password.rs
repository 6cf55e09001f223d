//! Account passwords: argon2id hashing (random salt) and verification, and the
//! rules for account names and stored hashes. Used by the API's account routes,
//! the auth layer, `brume passwd` and config validation. Never logs anything.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;

/// Longest password accepted (argon2 hashes any length; this bounds the work).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Why a password or hash was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password is empty")]
    Empty,
    #[error("the password is longer than {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("cannot hash the password: {0}")]
    Hash(argon2::password_hash::Error),
}

/// Why a stored account value is not a usable password hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoredHashError {
    #[error("not a password hash in PHC form ($argon2id$…): {0}")]
    NotPhc(argon2::password_hash::Error),
    #[error("unsupported password hash algorithm `{0}` (set the password with `brume passwd`)")]
    Algorithm(String),
    #[error("the password hash has no hash value")]
    NoHash,
}

/// Why an account name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountNameError {
    #[error("the account name is empty")]
    Empty,
    #[error("the account name is longer than 64 characters")]
    TooLong,
    #[error("the account name contains {0:?} (use letters, digits, '-', '_', '.', '@')")]
    BadCharacter(char),
}

/// Hashes `password` with argon2id and a fresh random salt, as a PHC string
/// (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
pub fn hash(password: &str) -> Result<String, PasswordError> {
    check(password)?;
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(PasswordError::Hash)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(PasswordError::Hash)
}

/// Whether `password` matches the stored PHC `hash` (false for a malformed hash).
/// Slow on purpose: call it off the async threads.
pub fn verify(hash: &str, password: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Whether `a` equals `b`, taking a time that depends only on their lengths (for
/// secrets compared against what a client sent: setup token, stream passwords).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Refuses empty and oversized passwords.
pub fn check(password: &str) -> Result<(), PasswordError> {
    if password.is_empty() {
        return Err(PasswordError::Empty);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    Ok(())
}

/// Checks that a stored account value is an argon2 PHC hash string.
pub fn check_stored_hash(hash: &str) -> Result<(), StoredHashError> {
    let parsed = PasswordHash::new(hash).map_err(StoredHashError::NotPhc)?;
    if !parsed.algorithm.as_str().starts_with("argon2") {
        return Err(StoredHashError::Algorithm(parsed.algorithm.to_string()));
    }
    if parsed.hash.is_none() {
        return Err(StoredHashError::NoHash);
    }
    Ok(())
}

/// Account names: 1–64 characters from letters, digits, `-`, `_`, `.` and `@`
/// (never `:`, which HTTP Basic auth uses as its separator).
pub fn check_account_name(name: &str) -> Result<(), AccountNameError> {
    if name.is_empty() {
        return Err(AccountNameError::Empty);
    }
    if name.chars().count() > 64 {
        return Err(AccountNameError::TooLong);
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '@')))
    {
        return Err(AccountNameError::BadCharacter(bad));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_salts_differ() {
        let a = hash("correct horse").unwrap();
        let b = hash("correct horse").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b);
        assert!(verify(&a, "correct horse"));
        assert!(!verify(&a, "correct horsE"));
        assert!(!verify("garbage", "correct horse"));
        assert_eq!(check_stored_hash(&a), Ok(()));
        assert!(check_stored_hash("hunter2").is_err());
        assert_eq!(hash(""), Err(PasswordError::Empty));
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn account_names() {
        assert!(check_account_name("admin").is_ok());
        assert!(check_account_name("ops.team-1@site").is_ok());
        assert!(check_account_name("").is_err());
        assert_eq!(
            check_account_name("a:b"),
            Err(AccountNameError::BadCharacter(':'))
        );
        assert!(check_account_name("a b").is_err());
        assert!(check_account_name(&"x".repeat(65)).is_err());
    }
}
