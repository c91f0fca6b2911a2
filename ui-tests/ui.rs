//! Compile-pass and compile-fail cases of the `#[plugin]` and `#[remote]` macros.
#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("pass/*.rs");
    t.compile_fail("fail/*.rs");
}
