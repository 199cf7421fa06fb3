//! Paths as text. A file name on Linux is bytes; CSV cells and messages are UTF-8. The
//! usual lossy conversion turns every invalid byte into U+FFFD, so two different names can
//! read the same and the text no longer names the real file. Here each invalid byte is
//! written as `\xNN` instead, so distinct names stay distinct and the bytes can be typed
//! back (`$'...'` in bash).

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::Path;

/// A path as text, [`escaped`]: for messages, where `Path::display` would replace the
/// invalid bytes with U+FFFD.
pub fn shown(path: &Path) -> Cow<'_, str> {
    escaped(path.as_os_str())
}

/// `name` as text: unchanged when it is valid UTF-8, else each byte of an invalid sequence
/// as `\xNN` (two lowercase hex digits), e.g. `bad\xffname`.
pub fn escaped(name: &OsStr) -> Cow<'_, str> {
    if let Some(text) = name.to_str() {
        return Cow::Borrowed(text);
    }
    let mut text = String::new();
    for chunk in name.as_encoded_bytes().utf8_chunks() {
        text.push_str(chunk.valid());
        for byte in chunk.invalid() {
            let _ = write!(text, "\\x{byte:02x}");
        }
    }
    Cow::Owned(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn invalid_bytes_are_escaped_and_names_stay_distinct() {
        use std::os::unix::ffi::OsStrExt;
        let ff = OsStr::from_bytes(b"bad\xffname");
        let fe = OsStr::from_bytes(b"bad\xfename");
        assert_eq!(escaped(ff), "bad\\xffname");
        assert_eq!(escaped(fe), "bad\\xfename");
        // A cut multi-byte sequence: `é` is c3 a9.
        assert_eq!(escaped(OsStr::from_bytes(b"caf\xc3")), "caf\\xc3");
        assert_eq!(escaped(OsStr::from_bytes("café/ü".as_bytes())), "café/ü");
        assert!(matches!(
            escaped(OsStr::new("tier0")),
            Cow::Borrowed("tier0")
        ));
    }
}
