//! Names on the wire: a Rust method name becomes camelCase (`create_history_stream` →
//! `createHistoryStream`), and a plugin name becomes its mount name the way JS's `to-camel-case`
//! does it (`friends-graph` → `friendsGraph`), so that generated clients call the right path.

/// `snake_case` → `camelCase`; leading underscores are dropped, other characters kept.
pub fn method_name(ident: &str) -> String {
    let mut out = String::with_capacity(ident.len());
    let mut upper_next = false;
    for c in ident.trim_start_matches('_').chars() {
        if c == '_' {
            upper_next = !out.is_empty();
        } else if upper_next {
            out.extend(c.to_uppercase());
            upper_next = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The mount name of a plugin called `name`, as JS secret-stack computes it.
pub fn mount_name(name: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut prev: Option<char> = None;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.' | ':' | '/' | '\\') || c.is_whitespace() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            prev = None;
            continue;
        }
        let boundary = prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit());
        if c.is_uppercase() && boundary && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        word.push(c);
        prev = Some(c);
    }
    if !word.is_empty() {
        words.push(word);
    }
    let mut out = String::with_capacity(name.len());
    for (i, w) in words.iter().enumerate() {
        let lower = w.to_lowercase();
        let mut chars = lower.chars();
        match chars.next() {
            Some(first) if i > 0 => {
                out.extend(first.to_uppercase());
                out.push_str(chars.as_str());
            }
            _ => out.push_str(&lower),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names() {
        assert_eq!(method_name("create_history_stream"), "createHistoryStream");
        assert_eq!(method_name("hello"), "hello");
        assert_eq!(method_name("_private_thing"), "privateThing");
        assert_eq!(method_name("get2_x"), "get2X");
    }

    #[test]
    fn mount_names_match_js() {
        for (name, mount) in [
            ("foo", "foo"),
            ("foo-bar", "fooBar"),
            ("foo_bar", "fooBar"),
            ("foo bar", "fooBar"),
            ("fooBar", "fooBar"),
            ("FooBar", "fooBar"),
            ("ssb-db2", "ssbDb2"),
            ("ABC", "abc"),
            ("a.b", "aB"),
            ("x1-y2", "x1Y2"),
        ] {
            assert_eq!(mount_name(name), mount, "{name}");
        }
    }
}
