//! The built-in detectors. Each is a regex that proposes candidates and a check that
//! accepts, shortens or rejects them: the regex crate has no look-around, so context
//! (neighbouring digits, cue words, check digits) is judged in code.

use std::net::Ipv6Addr;
use std::sync::LazyLock;

use regex::Regex;

use super::checksum::{iban_valid, luhn_valid};
use super::{Finding, PiiKind};

/// Accepts the candidate `text[start..end]` and returns the end of the finding (possibly
/// shortened), or rejects it.
type Accept = fn(text: &str, start: usize, end: usize) -> Option<usize>;

/// A compiled built-in detector.
pub(super) struct Detector {
    kind: PiiKind,
    regex: Regex,
    accept: Accept,
}

/// The built-ins, compiled once per process. A pattern that fails to compile is left out
/// rather than panicking; `every_builtin_pattern_compiles` makes sure none is.
pub(super) static BUILTINS: LazyLock<Vec<Detector>> = LazyLock::new(|| {
    specs()
        .into_iter()
        .filter_map(|(kind, pattern, accept)| {
            Regex::new(&pattern).ok().map(|regex| Detector {
                kind,
                regex,
                accept,
            })
        })
        .collect()
});

/// Separators that, between two digits, make one number of what would otherwise be two.
const DIGIT_JOINERS: &[char] = &['.', '-', '/', ':', '+'];

/// Words that, shortly before a 9- or 12-digit number, make it an identity number.
const ID_CUES: &[&str] = &[
    "cccd",
    "cmnd",
    "cmt",
    "căn cước",
    "can cuoc",
    "định danh",
    "dinh danh",
    "id",
    "ssn",
    "passport",
    "hộ chiếu",
    "ho chieu",
    "social security",
];

/// How many characters before a number are searched for an `ID_CUES` word.
const CUE_WINDOW_CHARS: usize = 24;

/// Every built-in: kind, pattern, acceptance check.
pub(super) fn specs() -> Vec<(PiiKind, String, Accept)> {
    let mut specs: Vec<(PiiKind, String, Accept)> = vec![
        (
            PiiKind::Email,
            r"[\p{L}\p{N}._%+-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*\.\p{L}{2,24}".into(),
            accept_email,
        ),
        (
            PiiKind::Phone,
            r"(?:\(\+[1-9]\d{0,2}\)|\+[1-9]\d{0,2})(?:[ .\-]?(?:\(\d{1,4}\)|\d{1,5})){1,7}".into(),
            accept_international_phone,
        ),
        (
            PiiKind::Phone,
            r"\([2-9]\d{2}\) ?\d{3}[ .\-]\d{4}\b".into(),
            accept_digits,
        ),
        (PiiKind::Phone, r"\b0[35789]\d{8}\b".into(), accept_digits),
        (PiiKind::PaymentCard, r"\b\d{13,19}\b".into(), accept_card),
        (
            PiiKind::Iban,
            r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b".into(),
            accept_iban,
        ),
        (
            PiiKind::IpAddress,
            r"\b(?:\d{1,3}\.){3}\d{1,3}\b".into(),
            accept_ipv4,
        ),
        (
            PiiKind::IpAddress,
            r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.\d{1,3}){0,3}".into(),
            accept_ipv6,
        ),
        (
            PiiKind::NationalId,
            r"\b\d{3}-\d{2}-\d{4}\b".into(),
            accept_ssn,
        ),
        (PiiKind::NationalId, r"\b0\d{11}\b".into(), accept_cued_id),
        (PiiKind::NationalId, r"\b\d{9}\b".into(), accept_cued_id),
    ];
    // Grouped forms use one separator throughout; the regex crate has no back-references,
    // so each separator gets its own pattern.
    //
    // North-American `555-123-4567` and `555.123.4567`; a space-separated `555 123 4567`
    // is too close to ordinary numbers.
    for sep in [r"\-", r"\."] {
        specs.push((
            PiiKind::Phone,
            format!(r"\b[2-9]\d{{2}}{sep}\d{{3}}{sep}\d{{4}}\b"),
            accept_digits,
        ));
    }
    // Vietnamese mobiles grouped 4-3-3 or 3-3-4.
    for sep in [r"\-", r"\.", " "] {
        specs.push((
            PiiKind::Phone,
            format!(r"\b0[35789]\d{{2}}{sep}\d{{3}}{sep}\d{{3}}\b"),
            accept_digits,
        ));
        specs.push((
            PiiKind::Phone,
            format!(r"\b0[35789]\d{sep}\d{{3}}{sep}\d{{4}}\b"),
            accept_digits,
        ));
    }
    for sep in [r"\-", " "] {
        // 4-4-4-4 (16), 4-4-4-4-3 (19), 4-6-5 (Amex, 15), 4-6-4 (Diners, 14).
        for groups in ["4,4,4,4", "4,4,4,4,3", "4,6,5", "4,6,4"] {
            let body: Vec<String> = groups.split(',').map(|n| format!(r"\d{{{n}}}")).collect();
            specs.push((
                PiiKind::PaymentCard,
                format!(r"\b{}\b", body.join(sep)),
                accept_card,
            ));
        }
    }
    specs
}

/// Runs every built-in over `text`, appending candidates (which may overlap).
pub(super) fn scan_builtins(text: &str, out: &mut Vec<Finding>) {
    for d in BUILTINS.iter() {
        find_all(&d.regex, d.kind, d.accept, text, out);
    }
}

/// All accepted matches of one regex. A rejected candidate is retried one character
/// later, so a bad candidate cannot hide a good one that starts inside it.
pub(super) fn find_all(
    regex: &Regex,
    kind: PiiKind,
    accept: Accept,
    text: &str,
    out: &mut Vec<Finding>,
) {
    let mut pos = 0;
    while let Some(m) = regex.find_at(text, pos) {
        match accept(text, m.start(), m.end()) {
            Some(end) if end > m.start() => {
                out.push(Finding {
                    kind,
                    start: m.start(),
                    end,
                });
                pos = end;
            }
            _ => {
                let Some(c) = text[m.start()..].chars().next() else {
                    break;
                };
                pos = m.start() + c.len_utf8();
            }
        }
    }
}

/// Accepts any non-empty match (user-defined patterns).
pub(super) fn accept_any(_text: &str, start: usize, end: usize) -> Option<usize> {
    (end > start).then_some(end)
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether `(near, far)` — the character next to a match and the one beyond it — continue
/// the match into a longer token: a letter or digit, or a joiner followed by a digit.
fn continues(near: Option<char>, far: Option<char>, joiners: &[char]) -> bool {
    match near {
        Some(c) if is_word(c) => true,
        Some(c) if joiners.contains(&c) => far.is_some_and(|d| d.is_ascii_digit()),
        _ => false,
    }
}

/// The match stands alone: it is not part of a longer word or number on either side.
fn isolated(text: &str, start: usize, end: usize, joiners: &[char]) -> bool {
    let mut before = text[..start].chars().rev();
    let mut after = text[end..].chars();
    !continues(before.next(), before.next(), joiners)
        && !continues(after.next(), after.next(), joiners)
}

/// The candidate end itself, then each shorter end just before a space, longest first.
fn ends_at_spaces(text: &str, start: usize, end: usize) -> impl Iterator<Item = usize> + '_ {
    std::iter::once(end).chain(
        text[start..end]
            .rmatch_indices(' ')
            .map(move |(i, _)| start + i),
    )
}

fn accept_digits(text: &str, start: usize, end: usize) -> Option<usize> {
    isolated(text, start, end, DIGIT_JOINERS).then_some(end)
}

fn accept_email(text: &str, start: usize, end: usize) -> Option<usize> {
    let candidate = &text[start..end];
    let (local, domain) = candidate.split_once('@')?;
    let local_ok = !local.starts_with('.') && !local.ends_with('.') && !local.contains("..");
    let domain_ok = domain
        .split('.')
        .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'));
    let tld = domain.rsplit('.').next().unwrap_or_default().to_lowercase();
    // `icon@2x.png` is a file name, not an address.
    let file_like = [
        "png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "tiff",
    ]
    .contains(&tld.as_str());
    let prev_ok = text[..start]
        .chars()
        .next_back()
        .is_none_or(|c| !is_word(c) && !"._%+-@".contains(c));
    let next_ok = text[end..]
        .chars()
        .next()
        .is_none_or(|c| !is_word(c) && c != '@');
    (local_ok && domain_ok && !file_like && prev_ok && next_ok).then_some(end)
}

fn accept_international_phone(text: &str, start: usize, end: usize) -> Option<usize> {
    ends_at_spaces(text, start, end).find(|&e| {
        let candidate = &text[start..e];
        let digits = candidate.chars().filter(char::is_ascii_digit).count();
        (8..=15).contains(&digits)
            && parens_balanced(candidate)
            && isolated(text, start, e, DIGIT_JOINERS)
    })
}

fn parens_balanced(s: &str) -> bool {
    let mut open = false;
    for c in s.chars() {
        match c {
            '(' if open => return false,
            '(' => open = true,
            ')' if !open => return false,
            ')' => open = false,
            _ => {}
        }
    }
    !open
}

fn accept_card(text: &str, start: usize, end: usize) -> Option<usize> {
    let candidate = &text[start..end];
    // Issuer ranges in use start with 2-6 (Mastercard 2/5, Amex 3, Visa 4, Discover 6);
    // this also keeps 13-digit millisecond timestamps and zero runs out.
    let issuer_ok = candidate.starts_with(['2', '3', '4', '5', '6']);
    (issuer_ok && luhn_valid(candidate) && isolated(text, start, end, DIGIT_JOINERS)).then_some(end)
}

fn accept_iban(text: &str, start: usize, end: usize) -> Option<usize> {
    ends_at_spaces(text, start, end).find(|&e| {
        let compact: String = text[start..e].chars().filter(|c| *c != ' ').collect();
        iban_valid(&compact) && isolated(text, start, e, &[])
    })
}

fn accept_ipv4(text: &str, start: usize, end: usize) -> Option<usize> {
    let octets_ok = text[start..end]
        .split('.')
        .all(|o| (o.len() == 1 || !o.starts_with('0')) && o.parse::<u16>().is_ok_and(|v| v <= 255));
    // `100.200.150.250 đồng` is an amount written with dots, not an address.
    let rest: String = text[end..]
        .trim_start()
        .chars()
        .take(4)
        .collect::<String>()
        .to_lowercase();
    let amount = ["đ", "vnd", "dong", "usd"]
        .iter()
        .any(|w| rest.starts_with(w));
    (octets_ok && !amount && isolated(text, start, end, &['.'])).then_some(end)
}

fn accept_ipv6(text: &str, start: usize, end: usize) -> Option<usize> {
    let trimmed = if text[start..end].ends_with(':') && !text[start..end].ends_with("::") {
        end - 1
    } else {
        end
    };
    [end, trimmed].into_iter().find(|&e| {
        let candidate = &text[start..e];
        let parsed = candidate
            .parse::<Ipv6Addr>()
            .is_ok_and(|a| !a.is_unspecified());
        // Needs a decimal digit and two groups, so `a::b` in code is not an address.
        let groups = candidate
            .split([':', '.'])
            .filter(|g| !g.is_empty())
            .count();
        let has_digit = candidate.chars().any(|c| c.is_ascii_digit());
        let edge = |c: Option<char>| c.is_some_and(|c| is_word(c) || c == ':');
        parsed
            && groups >= 2
            && has_digit
            && !edge(text[..start].chars().next_back())
            && !edge(text[e..].chars().next())
    })
}

fn accept_ssn(text: &str, start: usize, end: usize) -> Option<usize> {
    let mut parts = text[start..end].split('-');
    let (area, group, serial) = (parts.next()?, parts.next()?, parts.next()?);
    let valid = area != "000"
        && area != "666"
        && !area.starts_with('9')
        && group != "00"
        && serial != "0000";
    (valid && isolated(text, start, end, DIGIT_JOINERS)).then_some(end)
}

fn accept_cued_id(text: &str, start: usize, end: usize) -> Option<usize> {
    (isolated(text, start, end, DIGIT_JOINERS) && has_id_cue(text, start)).then_some(end)
}

/// Whether one of `ID_CUES`, as a whole word, appears in the few characters before `at`.
fn has_id_cue(text: &str, at: usize) -> bool {
    let from = text[..at]
        .char_indices()
        .rev()
        .nth(CUE_WINDOW_CHARS - 1)
        .map_or(0, |(i, _)| i);
    let window = text[from..at].to_lowercase();
    ID_CUES.iter().any(|cue| {
        window.match_indices(cue).any(|(i, _)| {
            let before = window[..i].chars().next_back();
            let after = window[i + cue.len()..].chars().next();
            !before.is_some_and(is_word) && !after.is_some_and(is_word)
        })
    })
}
