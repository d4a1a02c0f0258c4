//! Keys and values on the command line: parsing (UTF-8 or hex) and printing.

use super::error::{CliError, Result};
use clap::ValueEnum;
use std::borrow::Cow;

/// How keys and values are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// UTF-8 when the bytes are valid UTF-8 without control characters, else `0x` + hex.
    Auto,
    /// Always UTF-8 (invalid sequences become U+FFFD).
    Utf8,
    /// Always lowercase hex, no prefix.
    Hex,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex of `bytes`.
pub fn hex_encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes hex (either case, even length); `None` if malformed.
pub fn hex_decode(s: &[u8]) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.chunks_exact(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

/// A key or value given on the command line: UTF-8 bytes, or hex (an optional `0x` prefix
/// is accepted) when `hex` is set.
pub fn parse_arg(s: &str, hex: bool, what: &str) -> Result<Vec<u8>> {
    if !hex {
        return Ok(s.as_bytes().to_vec());
    }
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    hex_decode(digits.as_bytes()).ok_or_else(|| {
        CliError::Usage(format!(
            "{what} {s:?} is not valid hex (an even number of 0-9a-f digits)"
        ))
    })
}

/// True when `s` prints as itself on one line.
fn printable(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

/// `bytes` for output in `format`.
pub fn show(bytes: &[u8], format: Format) -> Cow<'_, str> {
    match format {
        Format::Hex => Cow::Owned(hex_encode(bytes)),
        Format::Utf8 => String::from_utf8_lossy(bytes),
        Format::Auto => match std::str::from_utf8(bytes) {
            Ok(s) if printable(s) => Cow::Borrowed(s),
            _ => Cow::Owned(format!("0x{}", hex_encode(bytes))),
        },
    }
}

/// Human-readable byte count.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(hex_decode(hex_encode(&all).as_bytes()), Some(all));
        assert_eq!(hex_decode(b"ABcd"), Some(vec![0xab, 0xcd]));
        assert_eq!(hex_decode(b"abc"), None);
        assert_eq!(hex_decode(b"zz"), None);
        assert_eq!(parse_arg("0x00ff", true, "key").ok(), Some(vec![0, 255]));
        assert!(parse_arg("0x0", true, "key").is_err());
        assert_eq!(parse_arg("0x0", false, "key").ok(), Some(b"0x0".to_vec()));
    }

    #[test]
    fn auto_format_prints_text_as_text_and_binary_as_hex() {
        assert_eq!(show(b"hello world", Format::Auto), "hello world");
        assert_eq!(show(b"tab\there", Format::Auto), "0x7461620968657265");
        assert_eq!(show(&[0xff, 0x00], Format::Auto), "0xff00");
        assert_eq!(show(&[0xff, 0x00], Format::Hex), "ff00");
        assert_eq!(show(b"abc", Format::Hex), "616263");
        assert_eq!(show(&[b'a', 0xff], Format::Utf8), "a\u{fffd}");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }
}
