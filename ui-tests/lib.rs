//! Nothing here: the cases live in `pass/` and `fail/`, driven by `ui.rs`.
