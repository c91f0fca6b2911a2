//! Method paths as hash-map keys that a borrowed path can look up without building an owned one.
//!
//! The table owns its keys as [`PathKey`] (`Vec<String>`); a request names its method as a slice
//! of string slices borrowed from the packet. Both sides are seen through [`Segments`] and hashed
//! and compared the same way, and `PathKey: Borrow<dyn Segments>`, so
//! `HashMap<PathKey, _>::get(&path as &dyn Segments)` finds the entry with no allocation.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

/// A method path seen segment by segment.
pub(crate) trait Segments {
    /// How many segments there are.
    fn count(&self) -> usize;
    /// Segment `i` (`i < count()`); an out-of-range index reads as empty.
    fn segment(&self, i: usize) -> &str;
}

/// The owned path a table keys its methods by.
#[derive(Debug, Clone)]
pub(crate) struct PathKey(pub Vec<String>);

impl Segments for PathKey {
    fn count(&self) -> usize {
        self.0.len()
    }

    fn segment(&self, i: usize) -> &str {
        self.0.get(i).map_or("", String::as_str)
    }
}

/// A borrowed path, as a request names it.
pub(crate) struct PathRef<'a, S>(pub &'a [S]);

impl<S: AsRef<str>> Segments for PathRef<'_, S> {
    fn count(&self) -> usize {
        self.0.len()
    }

    fn segment(&self, i: usize) -> &str {
        self.0.get(i).map_or("", AsRef::as_ref)
    }
}

impl Hash for dyn Segments + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let n = self.count();
        state.write_usize(n);
        for i in 0..n {
            self.segment(i).hash(state);
        }
    }
}

impl PartialEq for dyn Segments + '_ {
    fn eq(&self, other: &Self) -> bool {
        let n = self.count();
        n == other.count() && (0..n).all(|i| self.segment(i) == other.segment(i))
    }
}

impl Eq for dyn Segments + '_ {}

// The key hashes and compares exactly as its `dyn Segments` view, as `Borrow` requires.
impl Hash for PathKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self as &dyn Segments).hash(state);
    }
}

impl PartialEq for PathKey {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for PathKey {}

impl<'a> Borrow<dyn Segments + 'a> for PathKey {
    fn borrow(&self) -> &(dyn Segments + 'a) {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn borrowed_paths_find_owned_keys() {
        let mut map = HashMap::new();
        map.insert(PathKey(vec!["test".into(), "hello".into()]), 1);
        map.insert(PathKey(vec!["test.hello".into()]), 2);
        map.insert(PathKey(vec!["test".into()]), 3);
        let get = |p: &[&str]| map.get(&PathRef(p) as &dyn Segments).copied();
        assert_eq!(get(&["test", "hello"]), Some(1));
        assert_eq!(get(&["test.hello"]), Some(2));
        assert_eq!(get(&["test"]), Some(3));
        assert_eq!(get(&["test", "hello", ""]), None);
        assert_eq!(get(&["testhello"]), None);
        assert_eq!(get(&[]), None);
        let owned = [String::from("test"), String::from("hello")];
        assert_eq!(map.get(&PathRef(&owned) as &dyn Segments), Some(&1));
    }
}
