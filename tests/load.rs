//! Load and faults (placeholder while hostile.rs is built).
