//! How a config is laid over the defaults, as JS secret-stack does it (`deep-extend`): objects
//! merge recursively, while arrays and scalars — `null` included — are replaced wholesale.

use serde_json::Value;

/// Lays `over` on top of `base` the way JS merges a config over the factory defaults.
pub(crate) fn deep_merge(base: &mut Value, over: &Value) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
