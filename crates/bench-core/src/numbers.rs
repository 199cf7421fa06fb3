//! Numbers as people read them in messages and summaries: `1,514`, `3,002.8`.

/// Digits grouped by three with `,` (`"-1234567"` -> `"-1,234,567"`); a leading `-` is kept.
/// `digits` is the integer part of a number as text.
pub fn group_thousands(digits: &str) -> String {
    let (sign, digits) = digits
        .strip_prefix('-')
        .map_or(("", digits), |rest| ("-", rest));
    let mut out = String::with_capacity(sign.len() + digits.len() + digits.len() / 3);
    out.push_str(sign);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A count with thousands separators: `1514` -> `1,514`.
pub fn thousands(n: u128) -> String {
    group_thousands(&n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_grouped_by_three() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(759), "759");
        assert_eq!(thousands(1514), "1,514");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(group_thousands("-1234567"), "-1,234,567");
        assert_eq!(group_thousands("999"), "999");
    }
}
