//! The multiserver address grammar: `;`-separated alternatives, each a transport
//! section followed by `~`-separated transform sections, each section a name and `:`-separated data,
//! with `!` escaping the next `!`, `~`, `:` or `;` inside data.
//!
//! Parsing is strict: names are a lower-case letter then at least one of `a-z`, `0-9`, `-`; data may
//! only hold the printable ASCII characters the grammar allows. Every error says what was wrong and
//! at which byte. [`Protocol`], [`Address`] and [`Multiaddress`] print back to the text they were
//! parsed from (escapes included), and can only be built valid, so printing always round-trips.
//!
//! The JS runtime (multiserver 3.8.2) does not use this grammar: it splits alternatives on every
//! `;`, and each plugin splits its own section on `:` without unescaping. The typed views
//! ([`super::net::NetAddress`] and friends) rejoin the data fields with `:` where a field may
//! legitimately hold colons (IPv6 hosts, URLs, paths), which gives the same result for every address
//! the two readings agree on.

use std::fmt;
use std::str::FromStr;

/// Why an address string (or one of its parts) was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The input was empty.
    #[error("empty multiserver address")]
    Empty,
    /// A section had no name: an empty alternative, a leading or doubled `~`, a trailing `~` or `;`.
    #[error(
        "missing protocol name at byte {at} (empty section: leading, doubled or trailing '~' or ';'?)"
    )]
    MissingName {
        /// Byte offset of the missing name.
        at: usize,
    },
    /// A protocol name broke the rule "lower-case letter, then one or more of a-z, 0-9, -".
    #[error(
        "bad protocol name {name:?} at byte {at}: a name is a lower-case letter followed by at least one of a-z, 0-9, '-'"
    )]
    BadName {
        /// The offending name (up to the first `:`, `~` or `;`).
        name: String,
        /// Byte offset where the name starts.
        at: usize,
    },
    /// A character that the grammar does not allow in data (space, control, non-ASCII, `!` alone...).
    #[error("character {ch:?} at byte {at} is not allowed in address data")]
    BadChar {
        /// The character.
        ch: char,
        /// Its byte offset.
        at: usize,
    },
    /// `!` was not followed by one of `!`, `~`, `:`, `;`.
    #[error("'!' at byte {at} must be followed by one of ! ~ : ;")]
    BadEscape {
        /// Byte offset of the `!`.
        at: usize,
    },
    /// A `~` or `;` where a single section or a single address was expected.
    #[error("unexpected {ch:?} at byte {at}: expected a single {expected}")]
    Unexpected {
        /// The separator found.
        ch: char,
        /// Its byte offset.
        at: usize,
        /// What was being parsed ("section" or "address").
        expected: &'static str,
    },
    /// A section named another protocol than the one its typed view reads.
    #[error("expected a {expected} section, got {got:?}")]
    WrongProtocol {
        /// The protocol name(s) the view accepts.
        expected: &'static str,
        /// The name found.
        got: String,
    },
    /// The section named the right protocol but its data is not acceptable to it.
    #[error("bad {protocol} address {section:?}: {reason}")]
    Invalid {
        /// Protocol name.
        protocol: String,
        /// The section as text.
        section: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An address had a different number of sections than the transport~transform suite reading it.
    #[error("address {address:?} has {got} sections, suite {suite} takes {expected}")]
    SectionCount {
        /// The address.
        address: String,
        /// The suite name, e.g. `net~shs`.
        suite: String,
        /// Sections the suite takes.
        expected: usize,
        /// Sections found.
        got: usize,
    },
}

impl AddressError {
    /// Shorthand for [`AddressError::Invalid`].
    pub fn invalid(protocol: &str, section: &Protocol, reason: impl Into<String>) -> Self {
        AddressError::Invalid {
            protocol: protocol.to_owned(),
            section: section.to_string(),
            reason: reason.into(),
        }
    }
}

/// One section: a protocol name and its `:`-separated data fields (unescaped).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Protocol {
    name: String,
    data: Vec<String>,
}

impl Protocol {
    /// Builds a section, checking the name against the grammar and every data character.
    /// `!`, `~`, `:` and `;` are allowed in data (they are escaped when printed).
    pub fn new<N, I, S>(name: N, data: I) -> Result<Protocol, AddressError>
    where
        N: Into<String>,
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let name = name.into();
        check_name(&name, 0)?;
        let data: Vec<String> = data.into_iter().map(Into::into).collect();
        let mut at = name.len();
        for field in &data {
            at += 1;
            for (i, ch) in field.char_indices() {
                if !is_data_char(ch) && !is_escapable(ch) {
                    return Err(AddressError::BadChar { ch, at: at + i });
                }
            }
            at += field.len();
        }
        Ok(Protocol { name, data })
    }

    /// Builds a section from parts known to be valid (a literal name, base64 data).
    pub(crate) fn trusted(name: &str, data: Vec<String>) -> Protocol {
        debug_assert!(Protocol::new(name, data.clone()).is_ok());
        Protocol {
            name: name.to_owned(),
            data,
        }
    }

    /// The protocol name, e.g. `net`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The data fields, unescaped.
    pub fn data(&self) -> &[String] {
        &self.data
    }

    /// The data fields joined back with `:`, as a JS plugin sees its section after the name.
    pub fn joined_data(&self) -> String {
        self.data.join(":")
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for field in &self.data {
            f.write_str(":")?;
            for ch in field.chars() {
                if is_escapable(ch) {
                    write!(f, "!{ch}")?;
                } else {
                    write!(f, "{ch}")?;
                }
            }
        }
        Ok(())
    }
}

impl FromStr for Protocol {
    type Err = AddressError;

    /// Parses one section; `~` and `;` must be escaped.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parser = Parser::new(s)?;
        let protocol = parser.protocol()?;
        match parser.peek() {
            None => Ok(protocol),
            Some(b) => Err(AddressError::Unexpected {
                ch: char::from(b),
                at: parser.pos,
                expected: "section",
            }),
        }
    }
}

/// One way to reach a peer: a transport section, then zero or more transform sections.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    sections: Vec<Protocol>,
}

impl Address {
    /// Builds an address from its sections; `None` if there are none.
    pub fn new(sections: Vec<Protocol>) -> Option<Address> {
        if sections.is_empty() {
            None
        } else {
            Some(Address { sections })
        }
    }

    /// All sections, the transport first.
    pub fn sections(&self) -> &[Protocol] {
        &self.sections
    }

    /// The transport section.
    pub fn transport(&self) -> &Protocol {
        // `new` and the parser never build an empty address.
        &self.sections[0]
    }

    /// The transform sections, in order.
    pub fn transforms(&self) -> &[Protocol] {
        self.sections.get(1..).unwrap_or(&[])
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, section) in self.sections.iter().enumerate() {
            if i > 0 {
                f.write_str("~")?;
            }
            write!(f, "{section}")?;
        }
        Ok(())
    }
}

impl FromStr for Address {
    type Err = AddressError;

    /// Parses one address; a `;` (another alternative) is an error.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parser = Parser::new(s)?;
        let address = parser.address()?;
        match parser.peek() {
            None => Ok(address),
            Some(b) => Err(AddressError::Unexpected {
                ch: char::from(b),
                at: parser.pos,
                expected: "address",
            }),
        }
    }
}

/// A full multiserver address: one or more alternatives, separated by `;`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Multiaddress {
    alternatives: Vec<Address>,
}

impl Multiaddress {
    /// Splits a multiaddress text on its unescaped `;`, checking nothing else, so that each
    /// alternative can be parsed (and rejected) on its own, as dialling does. Empty text gives no
    /// alternative.
    pub fn split_alternatives(text: &str) -> Vec<&str> {
        split_alternatives(text)
    }

    /// Builds a multiaddress from its alternatives; `None` if there are none.
    pub fn new(alternatives: Vec<Address>) -> Option<Multiaddress> {
        if alternatives.is_empty() {
            None
        } else {
            Some(Multiaddress { alternatives })
        }
    }

    /// The alternatives, in order of preference.
    pub fn alternatives(&self) -> &[Address] {
        &self.alternatives
    }
}

impl fmt::Display for Multiaddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, address) in self.alternatives.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            write!(f, "{address}")?;
        }
        Ok(())
    }
}

impl FromStr for Multiaddress {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parser = Parser::new(s)?;
        let mut alternatives = vec![parser.address()?];
        while parser.eat(b';') {
            alternatives.push(parser.address()?);
        }
        Ok(Multiaddress { alternatives })
    }
}

/// Splits a multiaddress string on its unescaped `;`, without checking anything else, so that each
/// alternative can be parsed (and rejected) on its own. Empty input gives no alternative.
pub(crate) fn split_alternatives(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let bytes = s.as_bytes();
    let mut parts = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'!' => i += 2,
            b';' => {
                parts.push(&s[start..i]);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Characters allowed unescaped in data: 0x22–0x39 and 0x3C–0x7D.
fn is_data_char(ch: char) -> bool {
    matches!(ch, '\u{22}'..='\u{39}' | '\u{3C}'..='\u{7D}')
}

/// Characters that must be written `!x` inside data.
fn is_escapable(ch: char) -> bool {
    matches!(ch, '!' | '~' | ':' | ';')
}

fn check_name(name: &str, at: usize) -> Result<(), AddressError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok =
        name.len() >= 2 && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if name.is_empty() {
        Err(AddressError::MissingName { at })
    } else if first_ok && rest_ok {
        Ok(())
    } else {
        Err(AddressError::BadName {
            name: name.to_owned(),
            at,
        })
    }
}

/// A cursor over the input; the grammar is ASCII, so it works on bytes and reports non-ASCII
/// characters as they are.
struct Parser<'a> {
    input: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Result<Self, AddressError> {
        if input.is_empty() {
            return Err(AddressError::Empty);
        }
        Ok(Parser { input, pos: 0 })
    }

    fn peek(&self) -> Option<u8> {
        self.input.as_bytes().get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn char_at(&self, at: usize) -> char {
        self.input
            .get(at..)
            .and_then(|rest| rest.chars().next())
            .unwrap_or('\u{FFFD}')
    }

    fn address(&mut self) -> Result<Address, AddressError> {
        let mut sections = vec![self.protocol()?];
        while self.eat(b'~') {
            sections.push(self.protocol()?);
        }
        Ok(Address { sections })
    }

    fn protocol(&mut self) -> Result<Protocol, AddressError> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if matches!(b, b':' | b'~' | b';') {
                break;
            }
            self.pos += 1;
        }
        let name = self.input.get(start..self.pos).unwrap_or_default();
        check_name(name, start)?;
        let mut data = Vec::new();
        while self.eat(b':') {
            data.push(self.data_field()?);
        }
        Ok(Protocol {
            name: name.to_owned(),
            data,
        })
    }

    fn data_field(&mut self) -> Result<String, AddressError> {
        let mut field = String::new();
        while let Some(b) = self.peek() {
            match b {
                b':' | b'~' | b';' => break,
                b'!' => {
                    let at = self.pos;
                    match self.input.as_bytes().get(at + 1) {
                        Some(&e @ (b'!' | b'~' | b':' | b';')) => {
                            field.push(char::from(e));
                            self.pos += 2;
                        }
                        _ => return Err(AddressError::BadEscape { at }),
                    }
                }
                _ => {
                    let ch = self.char_at(self.pos);
                    if !is_data_char(ch) {
                        return Err(AddressError::BadChar { ch, at: self.pos });
                    }
                    field.push(ch);
                    self.pos += 1;
                }
            }
        }
        Ok(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_round_trip() {
        let text = "net:a!:b:1~shs:x!~y!!z;ws://h:80";
        let parsed: Multiaddress = text.parse().unwrap();
        assert_eq!(parsed.alternatives()[0].transport().data(), ["a:b", "1"]);
        assert_eq!(parsed.alternatives()[0].transforms()[0].data(), ["x~y!z"]);
        assert_eq!(parsed.to_string(), text);
    }

    #[test]
    fn errors_say_where() {
        assert_eq!(
            "net:host com:1".parse::<Multiaddress>(),
            Err(AddressError::BadChar { ch: ' ', at: 8 })
        );
        assert_eq!(
            "net:a~~b".parse::<Multiaddress>(),
            Err(AddressError::MissingName { at: 6 })
        );
        assert_eq!(
            "net:a!x".parse::<Multiaddress>(),
            Err(AddressError::BadEscape { at: 5 })
        );
        assert_eq!(
            "net:é".parse::<Multiaddress>(),
            Err(AddressError::BadChar { ch: 'é', at: 4 })
        );
        assert!(matches!(
            "net:a;net:b".parse::<Address>(),
            Err(AddressError::Unexpected { ch: ';', at: 5, .. })
        ));
    }

    #[test]
    fn built_protocols_are_checked() {
        assert!(Protocol::new("net", ["a b"]).is_err());
        assert!(Protocol::new("N", Vec::<String>::new()).is_err());
        let p = Protocol::new("unix", ["/tmp/a:b"]).unwrap();
        assert_eq!(p.to_string(), "unix:/tmp/a!:b");
    }

    #[test]
    fn split_honours_escapes() {
        assert_eq!(split_alternatives("a:x!;y;b:z"), ["a:x!;y", "b:z"]);
        assert!(split_alternatives("").is_empty());
    }
}
