//! The positional `args` array of a call: read one argument at a time on the callee side
//! ([`ArgsReader`]), written one at a time on the caller side ([`ArgsBuilder`]).
//!
//! Every error names the method and the argument, e.g.
//! `test.add: argument 2 (b): invalid type: string "x", expected i64`, so a peer that calls with
//! the wrong arguments gets an answer it can act on, never a panic.

use serde_json::Value;

use crate::rpc::error::{RemoteError, RpcError};

/// Reads a request's arguments in order.
#[derive(Debug)]
pub struct ArgsReader {
    method: &'static str,
    values: std::vec::IntoIter<Value>,
    given: usize,
    position: usize,
}

impl ArgsReader {
    /// Starts reading the `args` of a call to `method` (the dotted path used in messages).
    pub fn new(method: &'static str, args: Vec<Value>) -> Self {
        ArgsReader {
            method,
            given: args.len(),
            values: args.into_iter(),
            position: 0,
        }
    }

    /// The next argument, which must be present.
    pub fn required<T>(
        &mut self,
        name: &str,
        decode: fn(Value) -> Result<T, String>,
    ) -> Result<T, RemoteError> {
        self.position += 1;
        let Some(value) = self.values.next() else {
            return Err(RemoteError::new(format!(
                "{}: argument {} ({name}) is missing",
                self.method, self.position
            )));
        };
        self.decode(name, value, decode)
    }

    /// The next argument of an `Option<T>` parameter: `None` when missing or `null`.
    pub fn optional<T>(
        &mut self,
        name: &str,
        decode: fn(Value) -> Result<T, String>,
    ) -> Result<Option<T>, RemoteError> {
        self.position += 1;
        match self.values.next() {
            None | Some(Value::Null) => Ok(None),
            Some(value) => self.decode(name, value, decode).map(Some),
        }
    }

    /// Checks that no argument is left over.
    pub fn finish(self) -> Result<(), RemoteError> {
        if self.given > self.position {
            let plural = if self.position == 1 { "" } else { "s" };
            return Err(RemoteError::new(format!(
                "{}: takes {} argument{plural}, got {}",
                self.method, self.position, self.given
            )));
        }
        Ok(())
    }

    fn decode<T>(
        &self,
        name: &str,
        value: Value,
        decode: fn(Value) -> Result<T, String>,
    ) -> Result<T, RemoteError> {
        decode(value).map_err(|e| {
            RemoteError::new(format!(
                "{}: argument {} ({name}): {e}",
                self.method, self.position
            ))
        })
    }
}

/// Collects a call's arguments in order, remembering the first that failed to encode.
#[derive(Debug)]
pub struct ArgsBuilder {
    method: &'static str,
    values: Vec<Value>,
    /// `None`s of optional arguments not yet written: sent as `null` only if an argument follows.
    pending_nones: usize,
    error: Option<RpcError>,
}

impl ArgsBuilder {
    /// Starts the arguments of a call to `method` (the dotted path used in messages).
    pub fn new(method: &'static str) -> Self {
        ArgsBuilder {
            method,
            values: Vec::new(),
            pending_nones: 0,
            error: None,
        }
    }

    /// Appends an argument.
    pub fn push<T>(&mut self, name: &str, value: T, encode: fn(T) -> Result<Value, String>) {
        for _ in 0..std::mem::take(&mut self.pending_nones) {
            self.values.push(Value::Null);
        }
        let position = self.values.len() + 1;
        match encode(value) {
            Ok(v) => self.values.push(v),
            Err(e) => {
                self.values.push(Value::Null);
                if self.error.is_none() {
                    self.error = Some(RpcError::InvalidValue(format!(
                        "{}: argument {position} ({name}): {e}",
                        self.method
                    )));
                }
            }
        }
    }

    /// Appends an `Option<T>` argument: `None` travels as `null`, and trailing `None`s are left
    /// out, as a JS caller would leave them out.
    pub fn push_optional<T>(
        &mut self,
        name: &str,
        value: Option<T>,
        encode: fn(T) -> Result<Value, String>,
    ) {
        match value {
            Some(v) => self.push(name, v, encode),
            None => self.pending_nones += 1,
        }
    }

    /// The encoded arguments, or the first encoding error.
    pub fn finish(self) -> Result<Vec<Value>, RpcError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.values),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::typed::codec::value_to_json;
    use serde_json::json;

    #[test]
    fn errors_name_method_and_argument() {
        let mut args = ArgsReader::new("test.add", vec![json!(1), json!("x")]);
        assert_eq!(args.required("a", value_to_json::<i64>).unwrap(), 1);
        let e = args.required("b", value_to_json::<i64>).unwrap_err();
        assert_eq!(
            e.message,
            "test.add: argument 2 (b): invalid type: string \"x\", expected i64"
        );

        let mut args = ArgsReader::new("test.add", vec![json!(1)]);
        args.required("a", value_to_json::<i64>).unwrap();
        let e = args.required("b", value_to_json::<i64>).unwrap_err();
        assert_eq!(e.message, "test.add: argument 2 (b) is missing");

        let mut args = ArgsReader::new("test.hello", vec![json!("a"), json!("b")]);
        args.required("name", value_to_json::<String>).unwrap();
        assert_eq!(
            args.finish().unwrap_err().message,
            "test.hello: takes 1 argument, got 2"
        );
    }

    #[test]
    fn optional_arguments_may_be_missing_or_null() {
        let mut args = ArgsReader::new("m", vec![json!(5), json!(null)]);
        assert_eq!(args.optional("a", value_to_json::<u32>).unwrap(), Some(5));
        assert_eq!(args.optional("b", value_to_json::<u32>).unwrap(), None);
        assert_eq!(args.optional("c", value_to_json::<u32>).unwrap(), None);
        args.finish().unwrap();
    }

    #[test]
    fn builder_drops_trailing_nones() {
        let mut b = ArgsBuilder::new("m");
        b.push("a", 1, crate::rpc::typed::codec::value_json::<i32>);
        b.push_optional("b", None, crate::rpc::typed::codec::value_json::<i32>);
        b.push_optional("c", None, crate::rpc::typed::codec::value_json::<i32>);
        assert_eq!(b.finish().unwrap(), vec![json!(1)]);
        let mut b = ArgsBuilder::new("m");
        b.push_optional("a", None, crate::rpc::typed::codec::value_json::<i32>);
        b.push(
            "b",
            serde_json::Value::Null,
            crate::rpc::typed::codec::value_json,
        );
        assert_eq!(b.finish().unwrap(), vec![json!(null), json!(null)]);
    }
}
