//! The application key (`caps.shs`, "network identifier") that every handshake is bound to.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::{KeyError, b64_encode};

/// Base64 as JS `Buffer.from(s, "base64")` accepts it for keys: padding optional.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The 32-byte application key. Peers with different app keys cannot complete a handshake.
///
/// Text form: standard base64. Parsing ignores everything from the first `.` on, like JS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AppKey(pub [u8; 32]);

impl AppKey {
    /// The public main Scuttlebutt network key (`1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s=`).
    pub const SSB_MAIN_NET: AppKey = AppKey([
        0xd4, 0xa1, 0xcb, 0x88, 0xa6, 0x6f, 0x02, 0xf8, 0xdb, 0x63, 0x5c, 0xe2, 0x64, 0x41, 0xcc,
        0x5d, 0xac, 0x1b, 0x08, 0x42, 0x0c, 0xea, 0xac, 0x23, 0x08, 0x39, 0xb7, 0x55, 0x84, 0x5a,
        0x9f, 0xfb,
    ]);
}

impl fmt::Display for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&b64_encode(&self.0))
    }
}

impl FromStr for AppKey {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Self, KeyError> {
        let base = text.split('.').next().unwrap_or(text);
        let bytes = LENIENT.decode(base)?;
        let key = bytes.as_slice().try_into().map_err(|_| KeyError::Length {
            expected: 32,
            actual: bytes.len(),
        })?;
        Ok(AppKey(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn main_net_key_parses_and_prints() {
        let text = "1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s=";
        assert_eq!(text.parse::<AppKey>().unwrap(), AppKey::SSB_MAIN_NET);
        assert_eq!(AppKey::SSB_MAIN_NET.to_string(), text);
        assert_eq!(
            format!("{}.sha256", text.trim_end_matches('=')).parse::<AppKey>(),
            Ok(AppKey::SSB_MAIN_NET)
        );
    }

    #[test]
    fn wrong_sizes_and_garbage_are_refused() {
        assert_eq!(
            "AAAA".parse::<AppKey>(),
            Err(KeyError::Length {
                expected: 32,
                actual: 3
            })
        );
        assert!(matches!("%%%".parse::<AppKey>(), Err(KeyError::Base64(_))));
    }
}
