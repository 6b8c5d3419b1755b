use super::detectors::{specs, BUILTINS};
use super::*;

use PiiKind::{Custom, Email, Iban, IpAddress, NationalId, PaymentCard, Phone};

/// The findings of the built-in detector as `(kind, matched text)`.
fn found(text: &str) -> Vec<(PiiKind, &str)> {
    PiiDetector::builtin()
        .scan(text)
        .into_iter()
        .map(|f| (f.kind, &text[f.start..f.end]))
        .collect()
}

#[test]
fn every_builtin_pattern_compiles() {
    assert_eq!(BUILTINS.len(), specs().len());
}

#[test]
fn audit_labels_are_snake_case_and_match_serde() {
    for kind in [
        Email,
        Phone,
        PaymentCard,
        Iban,
        IpAddress,
        NationalId,
        Custom,
    ] {
        let json = serde_json::to_string(&kind).unwrap();
        assert_eq!(json, format!("\"{}\"", kind.as_str()));
    }
    assert_eq!(PaymentCard.as_str(), "payment_card");
    assert_eq!(IpAddress.as_str(), "ip_address");
}

#[test]
fn each_kind_is_found_in_its_usual_formats_in_english_and_vietnamese_text() {
    let table: &[(&str, &[(PiiKind, &str)])] = &[
        // Email
        (
            "Contact me at an.nguyen@example.vn please.",
            &[(Email, "an.nguyen@example.vn")],
        ),
        (
            "mail: first+tag@sub.domain.co.uk.",
            &[(Email, "first+tag@sub.domain.co.uk")],
        ),
        (
            "Liên hệ nguyễn.văn.an@công-ty.vn để biết thêm.",
            &[(Email, "nguyễn.văn.an@công-ty.vn")],
        ),
        (
            "Số điện thoại của tôi là 0912 345 678, email an.nguyen@example.vn",
            &[(Phone, "0912 345 678"), (Email, "an.nguyen@example.vn")],
        ),
        // Phone
        ("Gọi 0912345678 nhé 📞", &[(Phone, "0912345678")]),
        ("SĐT:0987.654.321.", &[(Phone, "0987.654.321")]),
        (
            "Hotline 091 234 5678 (miễn phí)",
            &[(Phone, "091 234 5678")],
        ),
        (
            "Call +84 912 345 678 tomorrow",
            &[(Phone, "+84 912 345 678")],
        ),
        ("Zalo +84912345678", &[(Phone, "+84912345678")]),
        ("Liên hệ (+84) 912 345 678", &[(Phone, "(+84) 912 345 678")]),
        (
            "London office: +44 20 7946 0958.",
            &[(Phone, "+44 20 7946 0958")],
        ),
        (
            "Call (555) 123-4567 or 555-123-4567.",
            &[(Phone, "(555) 123-4567"), (Phone, "555-123-4567")],
        ),
        ("US: +1 (555) 123-4567", &[(Phone, "+1 (555) 123-4567")]),
        (
            "Phone +84 912 345 678 2024-05-01",
            &[(Phone, "+84 912 345 678")],
        ),
        // Payment card
        (
            "Card 4111 1111 1111 1111 exp 12/26",
            &[(PaymentCard, "4111 1111 1111 1111")],
        ),
        (
            "Thẻ 4111-1111-1111-1111 của tôi",
            &[(PaymentCard, "4111-1111-1111-1111")],
        ),
        (
            "visa 4012888888881881.",
            &[(PaymentCard, "4012888888881881")],
        ),
        (
            "Amex 3782 822463 10005",
            &[(PaymentCard, "3782 822463 10005")],
        ),
        (
            "MC: 5500 0000 0000 0004",
            &[(PaymentCard, "5500 0000 0000 0004")],
        ),
        // IBAN
        (
            "Pay to GB82 WEST 1234 5698 7654 32 today",
            &[(Iban, "GB82 WEST 1234 5698 7654 32")],
        ),
        (
            "IBAN DE89370400440532013000.",
            &[(Iban, "DE89370400440532013000")],
        ),
        (
            "Chuyển khoản tới FR14 2004 1010 0505 0001 3M02 606 nhé",
            &[(Iban, "FR14 2004 1010 0505 0001 3M02 606")],
        ),
        ("NL91ABNA0417164300", &[(Iban, "NL91ABNA0417164300")]),
        // IP address
        (
            "Máy chủ 192.168.1.20 bị lỗi",
            &[(IpAddress, "192.168.1.20")],
        ),
        ("connect to 10.0.0.1:8080 now", &[(IpAddress, "10.0.0.1")]),
        ("DNS is 8.8.8.8.", &[(IpAddress, "8.8.8.8")]),
        ("net 10.1.2.0/24", &[(IpAddress, "10.1.2.0")]),
        (
            "host 2001:0db8:85a3:0000:0000:8a2e:0370:7334 up",
            &[(IpAddress, "2001:0db8:85a3:0000:0000:8a2e:0370:7334")],
        ),
        (
            "địa chỉ 2001:db8::8a2e:370:7334.",
            &[(IpAddress, "2001:db8::8a2e:370:7334")],
        ),
        (
            "link-local fe80::1ff:fe23:4567:890a",
            &[(IpAddress, "fe80::1ff:fe23:4567:890a")],
        ),
        (
            "mapped ::ffff:192.0.2.1 here",
            &[(IpAddress, "::ffff:192.0.2.1")],
        ),
        // National id
        ("My SSN is 123-45-6789.", &[(NationalId, "123-45-6789")]),
        ("123-45-6789", &[(NationalId, "123-45-6789")]),
        ("Số CCCD: 001203004567", &[(NationalId, "001203004567")]),
        (
            "Căn cước công dân 079203004567 cấp tại Hà Nội",
            &[(NationalId, "079203004567")],
        ),
        (
            "Số định danh cá nhân: 001203004567",
            &[(NationalId, "001203004567")],
        ),
        ("CMND 123456789 cấp năm 2010", &[(NationalId, "123456789")]),
        ("passport id 012345678901", &[(NationalId, "012345678901")]),
        ("SSN 123456789", &[(NationalId, "123456789")]),
    ];
    for (text, expected) in table {
        assert_eq!(found(text), expected.to_vec(), "in {text:?}");
    }
}

#[test]
fn ordinary_text_numbers_and_code_yield_no_findings() {
    let table = [
        "Năm 2024 doanh thu tăng 15% so với 2023.",
        "Hẹn gặp lúc 12:30:45 ngày 2024-05-01, hoặc 23:59:59.999.",
        "Meeting at 10:30 on 01/05/2024 or 05.01.2024.",
        "Upgrade from version 1.2.3 to v1.2.3.4 (build 2.0.1).",
        "Giá chỉ 1.500.000 đồng, giảm còn 15.000.000đ.",
        "Tổng 100.200.150.250 đồng.",
        "It costs 1,000,000 VND or $1,299.99.",
        "Mã đơn hàng 001203004567 đã được giao.",
        "Order 20240501123 and tracking 1234567890 shipped.",
        "Tôi rất thích phở bò và cà phê sữa đá ở Hà Nội, nhất là vào mùa thu.",
        "let x = a.b.c; let y = a::b::c; use std::collections::HashMap;",
        "fn main() { let v = vec![1, 2, 3]; println!(\"{}\", v.len()); }",
        "See https://example.com/products/12345?ref=home&page=2 for details.",
        "id 550e8400-e29b-41d4-a716-446655440000",
        "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "md5 D41D8CD98F00B204E9800998ECF8427E",
        "Subnet prefix 192.168 only.",
        "Not an address: 999.1.1.1 or 256.0.0.1.",
        "Random 4111 1111 1111 1112 fails Luhn.",
        "A 20-digit run 12345678901234567890 is one number.",
        "Epoch millis 1714557600000.",
        "Room 305, ext. 1234, call 555-0123.",
        "ISBN 978-3-16-148410-0",
        "MAC 00:1A:2B:3C:4D:5E",
        "Bad SSNs 000-12-3456 666-12-3456 912-34-5678 123-00-4567 123-45-0000",
        "icon@2x.png and @types/node and lodash@4.17.21",
        "score +5 and 1+1=2",
        "IPv6 prefix fe80 alone, and ::1 is loopback",
    ];
    for text in table {
        assert_eq!(found(text), vec![], "in {text:?}");
    }
}

#[test]
fn a_luhn_valid_card_number_is_found_and_an_invalid_one_is_not() {
    assert_eq!(
        found("4111111111111111"),
        vec![(PaymentCard, "4111111111111111")]
    );
    assert_eq!(found("4111111111111112"), vec![]);
}

#[test]
fn digits_inside_a_longer_run_do_not_match_partially() {
    // A Luhn-valid card inside longer runs of digits or letters.
    for text in [
        "94111111111111111",
        "41111111111111119",
        "x4111111111111111",
        "4111111111111111x",
        "1.4111111111111111",
        "ĐH0912345678",
        "00912345678",
        "1-123-45-6789",
    ] {
        assert_eq!(found(text), vec![], "in {text:?}");
    }
}

#[test]
fn a_twelve_digit_number_is_a_national_id_only_after_a_cue_word() {
    assert_eq!(found("Mã số 001203004567"), vec![]);
    assert_eq!(
        found("CCCD 001203004567"),
        vec![(NationalId, "001203004567")]
    );
    assert_eq!(
        found("số cmnd/cccd của tôi là 001203004567"),
        vec![(NationalId, "001203004567")]
    );
    // "id" must be a whole word: "valid" is not a cue.
    assert_eq!(found("valid 001203004567"), vec![]);
    // The cue must be close.
    assert_eq!(
        found("CCCD đã nộp; còn mã hồ sơ rất dài là 001203004567"),
        vec![]
    );
}

#[test]
fn findings_are_sorted_non_overlapping_and_on_char_boundaries() {
    let text = "📞 +84 912 345 678 🙂 an@ví-dụ.vn, ::ffff:10.0.0.1 và thẻ 4111 1111 1111 1111 ✅";
    let findings = PiiDetector::builtin().scan(text);
    assert_eq!(findings.len(), 4, "{findings:?}");
    for pair in findings.windows(2) {
        assert!(pair[0].end <= pair[1].start, "{pair:?}");
    }
    for f in &findings {
        assert!(
            text.is_char_boundary(f.start) && text.is_char_boundary(f.end),
            "{f:?}"
        );
    }
    // The embedded IPv4 is part of the longer IPv6 finding, not a second one.
    assert!(findings
        .iter()
        .any(|f| &text[f.start..f.end] == "::ffff:10.0.0.1"));
}

#[test]
fn redaction_numbers_placeholders_per_kind_and_reuses_them_for_the_same_value() {
    let text = "Khách hàng Nguyễn Văn An, email an.nguyen@example.vn, SĐT 0912 345 678; \
                gửi lại cho an.nguyen@example.vn hoặc bình@example.com. Thẻ 4111 1111 1111 1111. \
                Gọi lại 0912345678 hay 0987 654 321 nhé!";
    let redacted = PiiDetector::builtin().redact(text);
    assert_eq!(
        redacted.text,
        "Khách hàng Nguyễn Văn An, email [EMAIL_1], SĐT [PHONE_1]; \
         gửi lại cho [EMAIL_1] hoặc [EMAIL_2]. Thẻ [PAYMENT_CARD_1]. \
         Gọi lại [PHONE_1] hay [PHONE_2] nhé!"
    );
    assert_eq!(redacted.kinds, vec![Email, Phone, PaymentCard]);
}

#[test]
fn redaction_copies_text_outside_findings_byte_for_byte() {
    let text = "Xin chào 👋🏽 — tôi là An.\tIP: 192.168.1.20\r\nCảm ơn bạn rất nhiều!  ";
    let redacted = PiiDetector::builtin().redact(text);
    assert_eq!(
        redacted.text,
        "Xin chào 👋🏽 — tôi là An.\tIP: [IP_ADDRESS_1]\r\nCảm ơn bạn rất nhiều!  "
    );
    assert_eq!(redacted.kinds, vec![IpAddress]);

    let clean = "Không có dữ liệu cá nhân ở đây: phiên bản 1.2.3, năm 2024.";
    let redacted = PiiDetector::builtin().redact(clean);
    assert_eq!(redacted.text, clean);
    assert!(redacted.kinds.is_empty());
}

#[test]
fn custom_patterns_yield_custom_findings_and_placeholders() {
    let detector = PiiDetector::with_custom(&[r"EMP-\d{6}".to_owned()]).unwrap();
    let text = "Nhân viên EMP-123456 (an@example.vn) thay EMP-654321 và EMP-123456.";
    let kinds: Vec<PiiKind> = detector.scan(text).iter().map(|f| f.kind).collect();
    assert_eq!(kinds, vec![Custom, Email, Custom, Custom]);
    let redacted = detector.redact(text);
    assert_eq!(
        redacted.text,
        "Nhân viên [CUSTOM_1] ([EMAIL_1]) thay [CUSTOM_2] và [CUSTOM_1]."
    );
    assert_eq!(redacted.kinds, vec![Email, Custom]);
    // The built-in detector knows nothing of it.
    assert_eq!(found("EMP-123456"), vec![]);
}

#[test]
fn validate_patterns_accepts_good_patterns_and_names_the_bad_one() {
    assert_eq!(validate_patterns(&[]), Ok(()));
    assert_eq!(
        validate_patterns(&[r"EMP-\d{6}".to_owned(), r"(?i)project\s+falcon".to_owned()]),
        Ok(())
    );

    let err = |patterns: &[&str]| {
        let owned: Vec<String> = patterns.iter().map(|p| (*p).to_owned()).collect();
        let validated = validate_patterns(&owned).unwrap_err();
        // with_custom applies the same rules with the same message.
        assert_eq!(PiiDetector::with_custom(&owned).unwrap_err(), validated);
        validated
    };
    assert_eq!(err(&["EMP-1", ""]), "pattern 2 is empty");
    assert!(err(&["EMP-(\\d"]).starts_with("pattern 1 (`EMP-(\\d`) does not compile"));
    assert!(err(&[&"a".repeat(513)]).contains("513 characters long; at most 512"));
    assert!(err(&["a"; 33]).contains("33 patterns given; at most 32"));
    for empty in [r"\d*", "x?", "^", r"\b", "a|"] {
        assert!(
            err(&[empty]).contains("matches the empty string"),
            "{empty}"
        );
    }
    assert!(err(&["(?:a{100}){100}{100}"]).contains("does not compile"));
}
