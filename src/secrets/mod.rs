//! Provider keys: a `Secret` that never prints, read from an environment variable the config
//! names or from the OS keychain, never from the config file.

use std::collections::HashMap;
use std::fmt;

use parking_lot::Mutex;

/// The keychain service name Hearth files its provider keys under.
const KEYCHAIN_SERVICE: &str = "hearth";

/// A credential. Debug and Display print `***`, so it cannot reach a log, an error message
/// or a panic by accident; `expose` is the one way to read it, at the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a key, trimming the newline a pipe or terminal adds.
    pub fn new(value: &str) -> Option<Secret> {
        let v = value.trim();
        (!v.is_empty()).then(|| Secret(v.to_owned()))
    }

    /// The key itself, for the one header that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Why the keychain could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeychainError {
    /// No keychain service answers here (a headless server, CI, a container).
    #[error("no OS keychain service is running here ({0}); put the key in the environment variable the provider names with --api-key-env instead")]
    Unavailable(String),
    /// The keychain answered but refused the operation.
    #[error("the OS keychain refused: {0}")]
    Refused(String),
}

/// The OS keychain (Secret Service on Linux, Keychain on macOS, Credential Manager on
/// Windows), one entry per provider under the service `hearth`.
#[derive(Default)]
pub struct Keychain {
    // An entry is kept once made: the keyring crate's mock store (used by tests) keeps a
    // password only in the entry object that set it.
    entries: Mutex<HashMap<String, keyring::Entry>>,
}

impl Keychain {
    /// A handle on the OS keychain; nothing is contacted until a key is read or written.
    pub fn new() -> Keychain {
        Keychain::default()
    }

    fn with_entry<T>(
        &self,
        provider: &str,
        f: impl FnOnce(&keyring::Entry) -> keyring::Result<T>,
    ) -> Result<T, KeychainError> {
        let mut entries = self.entries.lock();
        let entry = match entries.get(provider) {
            Some(e) => e,
            None => {
                let e = keyring::Entry::new(KEYCHAIN_SERVICE, provider).map_err(classify)?;
                entries.entry(provider.to_owned()).or_insert(e)
            }
        };
        f(entry).map_err(classify)
    }

    /// The provider's key, or None when the keychain holds none.
    pub fn get(&self, provider: &str) -> Result<Option<Secret>, KeychainError> {
        match self.with_entry(provider, |e| e.get_password().map(Some)) {
            Ok(v) => Ok(v.and_then(|p| Secret::new(&p))),
            Err(KeychainError::Refused(m)) if m == NO_ENTRY => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores the provider's key, replacing any earlier one.
    pub fn set(&self, provider: &str, key: &Secret) -> Result<(), KeychainError> {
        self.with_entry(provider, |e| e.set_password(key.expose()))
    }

    /// Removes the provider's key; no key is not an error.
    pub fn delete(&self, provider: &str) -> Result<(), KeychainError> {
        match self.with_entry(provider, keyring::Entry::delete_credential) {
            Err(KeychainError::Refused(m)) if m == NO_ENTRY => Ok(()),
            other => other,
        }
    }
}

const NO_ENTRY: &str = "no entry";

fn classify(e: keyring::Error) -> KeychainError {
    match e {
        keyring::Error::NoEntry => KeychainError::Refused(NO_ENTRY.to_owned()),
        keyring::Error::PlatformFailure(inner) | keyring::Error::NoStorageAccess(inner) => {
            KeychainError::Unavailable(first_line(&inner.to_string()))
        }
        other => KeychainError::Refused(first_line(&other.to_string())),
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_owned()
}

/// Where a provider's key was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// The environment variable the config names.
    Env,
    /// The OS keychain.
    Keychain,
}

impl KeySource {
    /// Its name as shown by `providers list`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeySource::Env => "env",
            KeySource::Keychain => "keychain",
        }
    }
}

/// The provider's key: the named environment variable wins, then the keychain. A keychain
/// that cannot be reached counts as holding no key.
pub fn resolve(
    keychain: &Keychain,
    provider: &str,
    api_key_env: Option<&str>,
) -> Option<(Secret, KeySource)> {
    if let Some(s) = api_key_env
        .and_then(|var| std::env::var(var).ok())
        .and_then(|v| Secret::new(&v))
    {
        return Some((s, KeySource::Env));
    }
    match keychain.get(provider) {
        Ok(Some(s)) => Some((s, KeySource::Keychain)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_prints_as_stars_in_debug_display_and_errors() {
        let s = Secret::new("sk-live-123\n").unwrap();
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(***)");
        assert_eq!(s.expose(), "sk-live-123");
        assert!(Secret::new("  \n").is_none());
    }

    #[test]
    fn a_key_set_in_the_keychain_is_found_and_the_env_var_wins_over_it() {
        keyring::set_default_credential_builder(keyring::mock::default_credential_builder());
        let kc = Keychain::new();
        assert!(resolve(&kc, "acme", None).is_none());
        kc.set("acme", &Secret::new("from-keychain").unwrap())
            .unwrap();
        let (s, src) = resolve(&kc, "acme", None).unwrap();
        assert_eq!((s.expose(), src), ("from-keychain", KeySource::Keychain));

        std::env::set_var("HEARTH_TEST_ACME_KEY", "from-env");
        let (s, src) = resolve(&kc, "acme", Some("HEARTH_TEST_ACME_KEY")).unwrap();
        assert_eq!((s.expose(), src), ("from-env", KeySource::Env));
        std::env::remove_var("HEARTH_TEST_ACME_KEY");

        kc.delete("acme").unwrap();
        assert!(resolve(&kc, "acme", None).is_none());
        kc.delete("acme").unwrap();
    }
}
