//! The mount-name rule lives twice, once on each side of the proc-macro boundary: the macros
//! compute a plugin's mount name at compile time (for the generated client's paths), the library
//! at run time (for the app's method table and config sections). This test holds the two to the
//! same answers over names that exercise every part of the rule.

#![allow(dead_code)] // each client exists for its MOUNT constant only

use secret_stack::remote;
use secret_stack::stack::mount_name;

/// Declares one `#[remote]` client per name and returns `(name, the macro's mount name)` pairs.
macro_rules! macro_mounts {
    ($($module:ident => $name:literal),* $(,)?) => {{
        $(
            mod $module {
                use super::remote;
                #[remote(name = $name)]
                pub trait Api {
                    async fn ping(&self) -> String;
                }
            }
        )*
        vec![$(($name, $module::ApiClient::<()>::MOUNT)),*]
    }};
}

#[test]
fn the_macros_and_the_library_mount_every_name_alike() {
    let pairs = macro_mounts!(
        plain => "foo",
        dash => "foo-bar",
        underscore => "foo_bar",
        space => "foo bar",
        camel => "fooBar",
        pascal => "FooBar",
        digit => "ssb-db2",
        capitals => "ABC",
        dot => "a.b",
        digits_and_dash => "x1-y2",
        colon => "ssb:ebt",
        slash => "a/b\\c",
        repeated => "--a__b  c--",
        mixed => "HTTPServer-v2",
        digit_boundary => "db2Index",
    );
    assert_eq!(pairs.len(), 15);
    for (name, from_macro) in pairs {
        assert_eq!(from_macro, mount_name(name), "mount name of {name:?}");
    }
    // And both give JS's answers where JS's are known.
    assert_eq!(mount_name("ssb-db2"), "ssbDb2");
    assert_eq!(mount_name("FooBar"), "fooBar");
}
