//! The two ways JS secret-stack merges JSON-like trees.
//!
//! * [`map_merge`] (the `map-merge` package) builds the registries: the merged manifest and the merged
//!   permissions. Objects merge key by key, arrays are unioned (existing items first), and a scalar
//!   leaf takes the new value unless that value is null (a null never adds a key).
//! * [`deep_merge`] (`deep-extend`) lays a config over the defaults: objects merge recursively, while
//!   arrays and scalars — `null` included — are replaced wholesale.

use serde_json::Value;

/// Merges `new` into `base` the way JS merges plugin manifests and permissions.
pub fn map_merge(base: &mut Value, new: &Value) {
    match (base, new) {
        (Value::Object(b), Value::Object(n)) => {
            for (k, v) in n {
                match b.get_mut(k) {
                    Some(existing) => map_merge(existing, v),
                    None if v.is_null() => {}
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(b), Value::Array(n)) => {
            for v in n {
                if !b.contains(v) {
                    b.push(v.clone());
                }
            }
        }
        (_, Value::Null) => {}
        (b, n) => *b = n.clone(),
    }
}

/// Lays `over` on top of `base` the way JS merges a config over the factory defaults.
pub fn deep_merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        deep_merge(existing, v)
                    }
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// Prefixes every string leaf of a named plugin's `permissions` with `<mount>.`, as JS does before
/// merging them into the registry (a `null` leaf becomes the string `"<mount>.null"`, like JS).
pub fn prefix_permissions(permissions: &Value, mount: &str) -> Value {
    match permissions {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), prefix_permissions(v, mount)))
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| prefix_permissions(v, mount)).collect())
        }
        Value::String(s) => Value::String(format!("{mount}.{s}")),
        Value::Null => Value::String(format!("{mount}.null")),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn map_merge_unions_arrays_and_keeps_scalars_over_null() {
        let mut a = json!({"anonymous": {"allow": ["manifest"]}, "x": 1});
        map_merge(
            &mut a,
            &json!({"anonymous": {"allow": ["manifest", "top"], "deny": null}, "x": null}),
        );
        assert_eq!(
            a,
            json!({"anonymous": {"allow": ["manifest", "top"]}, "x": 1})
        );
    }

    #[test]
    fn deep_merge_replaces_arrays_and_null_overwrites() {
        let mut a = json!({"global": {"a": [1, 2], "b": {"c": 1, "d": 2}, "e": 5}});
        deep_merge(
            &mut a,
            &json!({"global": {"a": [3], "b": {"c": 9}, "e": null}}),
        );
        assert_eq!(
            a,
            json!({"global": {"a": [3], "b": {"c": 9, "d": 2}, "e": null}})
        );
    }

    #[test]
    fn prefixing() {
        let p = prefix_permissions(
            &json!({"anonymous": {"allow": ["hello"], "deny": null}}),
            "fooBar",
        );
        assert_eq!(
            p,
            json!({"anonymous": {"allow": ["fooBar.hello"], "deny": "fooBar.null"}})
        );
    }
}
