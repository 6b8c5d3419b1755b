//! Check digits that separate real card and account numbers from random digit runs.

/// The Luhn (mod 10) check used by payment cards. Non-digits are ignored; fewer than two
/// digits never pass.
pub(super) fn luhn_valid(number: &str) -> bool {
    let mut sum = 0;
    let mut count = 0;
    for (i, d) in number
        .chars()
        .rev()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
    {
        let v = if i % 2 == 1 { d * 2 } else { d };
        sum += if v > 9 { v - 9 } else { v };
        count += 1;
    }
    count >= 2 && sum % 10 == 0
}

/// Length of an IBAN for each country that issues them (SWIFT IBAN registry). An IBAN
/// from a country missing here is not recognised: precision over recall.
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("SA", 24),
    ("SC", 31),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
];

/// An IBAN without spaces: known country, that country's length, and the ISO 13616
/// mod-97 check (country and check digits moved to the end, letters as 10..35, rest 1).
pub(super) fn iban_valid(compact: &str) -> bool {
    let Some(country) = compact.get(..2) else {
        return false;
    };
    let length_ok = IBAN_LENGTHS
        .iter()
        .any(|&(c, len)| c == country && len == compact.len());
    if !length_ok
        || !compact
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut rem: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let Some(v) = c.to_digit(36) else {
            return false;
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_known_test_cards_and_rejects_a_changed_digit() {
        for ok in [
            "4111111111111111",
            "4012888888881881",
            "378282246310005",
            "5500 0000 0000 0004",
        ] {
            assert!(luhn_valid(ok), "{ok}");
        }
        for bad in ["4111111111111112", "1234567812345678", "0", ""] {
            assert!(!luhn_valid(bad), "{bad}");
        }
    }

    #[test]
    fn iban_mod97_accepts_registry_examples_and_rejects_a_changed_digit() {
        for ok in [
            "GB82WEST12345698765432",
            "DE89370400440532013000",
            "NL91ABNA0417164300",
            "FR1420041010050500013M02606",
        ] {
            assert!(iban_valid(ok), "{ok}");
        }
        for bad in [
            "GB82WEST12345698765433",
            "DE8937040044053201300",
            "XX89370400440532013000",
            "gb82west12345698765432",
        ] {
            assert!(!iban_valid(bad), "{bad}");
        }
    }
}
