//! Mount names: how a plugin's name becomes the key it is mounted under and its config section.
//!
//! JS secret-stack uses `to-camel-case`: separators (`-`, `_`, `.`, `:`, spaces) vanish and the next
//! letter is upper-cased, the first letter is lower-cased, and words in capitals are lower-cased
//! (`foo-bar` → `fooBar`, `ssb-db2` → `ssbDb2`, `ABC` → `abc`, `FooBar` → `fooBar`).

/// The camelCase mount name of a plugin called `name`, as JS computes it.
pub fn mount_name(name: &str) -> String {
    // Split into words at separators and at lower→upper boundaries, as to-space-case does.
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut prev: Option<char> = None;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.' | ':' | ' ' | '/' | '\\') || c.is_whitespace() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            prev = None;
            continue;
        }
        if let Some(p) = prev
            && c.is_uppercase()
            && (p.is_lowercase() || p.is_ascii_digit())
            && !current.is_empty()
        {
            words.push(std::mem::take(&mut current));
        }
        current.push(c);
        prev = Some(c);
    }
    if !current.is_empty() {
        words.push(current);
    }
    let mut out = String::with_capacity(name.len());
    for (i, word) in words.iter().enumerate() {
        let lower = word.to_lowercase();
        if i == 0 {
            out.push_str(&lower);
        } else {
            let mut chars = lower.chars();
            if let Some(first) = chars.next() {
                out.extend(first.to_uppercase());
                out.push_str(chars.as_str());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::mount_name;

    #[test]
    fn examples_from_the_spec() {
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
