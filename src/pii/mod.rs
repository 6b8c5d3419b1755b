//! Personal data (PII) in prompt text: the detector and the redactor. Before a prompt goes
//! to a hosted provider the orchestrator scans the rendered text and, by workspace policy,
//! blocks it, reroutes it to an on-device model, or sends [`PiiDetector::redact`]'s output.
//!
//! Pure functions, no I/O. Detection favours precision: each built-in pairs a regex with a
//! check in code (Luhn, IBAN mod 97, octet ranges, a cue word before identity numbers,
//! no neighbouring digits), because a false positive on ordinary text blocks a real user.

mod checksum;
mod detectors;
#[cfg(test)]
mod tests;

use std::collections::btree_map::{BTreeMap, Entry};
use std::collections::HashMap;

use regex::{Regex, RegexBuilder};

/// The most patterns a workspace may define.
pub const MAX_CUSTOM_PATTERNS: usize = 32;
/// The longest pattern a workspace may define, in characters.
pub const MAX_PATTERN_CHARS: usize = 512;
/// Compiled-size cap for one user pattern, so a short pattern cannot blow up memory.
const CUSTOM_REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Text a pattern must not match emptily anywhere in (beside the empty string itself).
const EMPTY_MATCH_PROBE: &str = "Ab 12 -_.: é\n";

/// The kinds of personal data found; `as_str` gives the audit label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    /// An email address.
    Email,
    /// A phone number (international, North-American or Vietnamese mobile).
    Phone,
    /// A payment card number that passes the Luhn check.
    PaymentCard,
    /// An IBAN that passes the mod-97 check.
    Iban,
    /// An IPv4 or IPv6 address.
    IpAddress,
    /// A US SSN, or a Vietnamese CCCD/CMND number after a cue word.
    NationalId,
    /// A match of one of the workspace's own patterns.
    Custom,
}

impl PiiKind {
    /// The audit label: `"email"`, `"phone"`, `"payment_card"`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            PiiKind::Email => "email",
            PiiKind::Phone => "phone",
            PiiKind::PaymentCard => "payment_card",
            PiiKind::Iban => "iban",
            PiiKind::IpAddress => "ip_address",
            PiiKind::NationalId => "national_id",
            PiiKind::Custom => "custom",
        }
    }

    /// The placeholder stem: `"EMAIL"`, `"PAYMENT_CARD"`, ...
    fn placeholder_stem(self) -> &'static str {
        match self {
            PiiKind::Email => "EMAIL",
            PiiKind::Phone => "PHONE",
            PiiKind::PaymentCard => "PAYMENT_CARD",
            PiiKind::Iban => "IBAN",
            PiiKind::IpAddress => "IP_ADDRESS",
            PiiKind::NationalId => "NATIONAL_ID",
            PiiKind::Custom => "CUSTOM",
        }
    }

    /// What makes two findings "the same value" for redaction: `0912 345 678` and
    /// `0912345678` are one number, `An@Example.vn` and `an@example.vn` one address.
    fn identity(self, matched: &str) -> String {
        match self {
            PiiKind::Email | PiiKind::IpAddress => matched.to_lowercase(),
            PiiKind::Phone | PiiKind::PaymentCard | PiiKind::NationalId => {
                matched.chars().filter(char::is_ascii_digit).collect()
            }
            PiiKind::Iban => matched.chars().filter(|c| !c.is_whitespace()).collect(),
            PiiKind::Custom => matched.to_owned(),
        }
    }
}

/// One match: byte range in the scanned text and its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What was found.
    pub kind: PiiKind,
    /// Byte offset of the first character (always a char boundary).
    pub start: usize,
    /// Byte offset just past the last character (always a char boundary).
    pub end: usize,
}

/// The output of [`PiiDetector::redact`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    /// The text with every finding replaced by a placeholder such as `[EMAIL_1]`.
    pub text: String,
    /// The kinds found, sorted and deduplicated.
    pub kinds: Vec<PiiKind>,
}

/// The detector: the built-in patterns plus a workspace's own regexes.
#[derive(Debug, Clone, Default)]
pub struct PiiDetector {
    custom: Vec<Regex>,
}

impl PiiDetector {
    /// Built-ins only. Cheap: the built-in regexes are compiled once per process and shared.
    pub fn builtin() -> PiiDetector {
        PiiDetector::default()
    }

    /// Compiles the built-in regexes now rather than on the first scan: their Unicode
    /// classes take tens of milliseconds, which the first request would otherwise wait for
    /// (with every request queued behind it).
    pub fn warm() {
        std::sync::LazyLock::force(&detectors::BUILTINS);
    }

    /// Built-ins plus user-defined regexes; `Err` names the bad pattern and why (for a 400
    /// error message).
    ///
    /// # Errors
    /// The first pattern that breaks a rule of [`validate_patterns`], by position.
    pub fn with_custom(patterns: &[String]) -> Result<PiiDetector, String> {
        Ok(PiiDetector {
            custom: compile_custom(patterns)?,
        })
    }

    /// All findings, sorted by start, non-overlapping. When two overlap the longer one is
    /// kept; at equal length the earlier one; at the same span the kind listed first in
    /// [`PiiKind`] (so a built-in wins over `Custom`).
    #[must_use]
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        let mut candidates = Vec::new();
        detectors::scan_builtins(text, &mut candidates);
        for regex in &self.custom {
            detectors::find_all(
                regex,
                PiiKind::Custom,
                detectors::accept_any,
                text,
                &mut candidates,
            );
        }
        resolve_overlaps(candidates)
    }

    /// The text with each finding replaced by a placeholder `[EMAIL_1]`, `[PHONE_1]`,
    /// `[PAYMENT_CARD_1]`, ... numbered per kind in order of appearance, the same value
    /// getting the same placeholder within one call; plus the sorted, deduplicated kinds.
    /// Text outside the findings is copied byte for byte.
    #[must_use]
    pub fn redact(&self, text: &str) -> Redacted {
        let findings = self.scan(text);
        let mut out = String::with_capacity(text.len());
        let mut placeholders: HashMap<(PiiKind, String), String> = HashMap::new();
        let mut counts: HashMap<PiiKind, usize> = HashMap::new();
        let mut kinds = Vec::new();
        let mut copied = 0;
        for Finding { kind, start, end } in findings {
            out.push_str(&text[copied..start]);
            let placeholder = placeholders
                .entry((kind, kind.identity(&text[start..end])))
                .or_insert_with(|| {
                    let n = counts.entry(kind).or_insert(0);
                    *n += 1;
                    format!("[{}_{}]", kind.placeholder_stem(), n)
                });
            out.push_str(placeholder);
            kinds.push(kind);
            copied = end;
        }
        out.push_str(&text[copied..]);
        kinds.sort_unstable();
        kinds.dedup();
        Redacted { text: out, kinds }
    }
}

/// Checks a workspace's patterns before they are saved: at most [`MAX_CUSTOM_PATTERNS`],
/// each non-empty, at most [`MAX_PATTERN_CHARS`] characters, compiling, and not matching
/// the empty string (it would redact everywhere).
///
/// # Errors
/// A message naming the first bad pattern (1-based position and text) and the reason.
pub fn validate_patterns(patterns: &[String]) -> Result<(), String> {
    compile_custom(patterns).map(drop)
}

fn compile_custom(patterns: &[String]) -> Result<Vec<Regex>, String> {
    if patterns.len() > MAX_CUSTOM_PATTERNS {
        return Err(format!(
            "{} patterns given; at most {MAX_CUSTOM_PATTERNS} are allowed",
            patterns.len()
        ));
    }
    patterns
        .iter()
        .enumerate()
        .map(|(i, pattern)| {
            let n = i + 1;
            if pattern.is_empty() {
                return Err(format!("pattern {n} is empty"));
            }
            let chars = pattern.chars().count();
            if chars > MAX_PATTERN_CHARS {
                return Err(format!(
                    "pattern {n} is {chars} characters long; at most {MAX_PATTERN_CHARS} are allowed"
                ));
            }
            let regex = RegexBuilder::new(pattern)
                .size_limit(CUSTOM_REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| format!("pattern {n} (`{pattern}`) does not compile: {e}"))?;
            let matches_empty = regex.is_match("") || regex.find_iter(EMPTY_MATCH_PROBE).any(|m| m.is_empty());
            if matches_empty {
                return Err(format!(
                    "pattern {n} (`{pattern}`) matches the empty string, so it would redact everywhere"
                ));
            }
            Ok(regex)
        })
        .collect()
}

/// Keeps a non-overlapping subset: longest first, then earliest, then by kind; returned
/// sorted by start.
fn resolve_overlaps(mut candidates: Vec<Finding>) -> Vec<Finding> {
    candidates.sort_by_key(|f| (std::cmp::Reverse(f.end - f.start), f.start, f.kind));
    // Kept findings by start. They never overlap, so only the last one starting before a
    // candidate's end can overlap it.
    let mut kept: BTreeMap<usize, Finding> = BTreeMap::new();
    for f in candidates {
        let overlaps = kept
            .range(..f.end)
            .next_back()
            .is_some_and(|(_, k)| k.end > f.start);
        if !overlaps {
            if let Entry::Vacant(slot) = kept.entry(f.start) {
                slot.insert(f);
            }
        }
    }
    kept.into_values().collect()
}
