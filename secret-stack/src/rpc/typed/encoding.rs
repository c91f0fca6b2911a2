//! How a value travels, chosen by its type: [`WireFormat`] types travel in their own form
//! (binary, UTF-8 text, a raw body, nothing), every other type through serde JSON.
//!
//! `bytes::Bytes`, and any type that opts in with [`BinaryValue`] (a newtype of `Bytes`), travel
//! as binary; a type alias travels like the type it names, because the choice is made by the
//! type, never by how it is spelled. The generated code picks the codec with
//! [`Encoding::pick`]-style method resolution: the [`WireFormat`] impl when the type has one,
//! JSON otherwise, so serde types need nothing beyond their `Serialize`/`Deserialize` derives.

use std::marker::PhantomData;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Body;
use super::codec::{
    buffer_json, decode_bytes, decode_json, encode_json, value_json, value_to_body, value_to_bytes,
    value_to_json,
};

/// A type that travels in its own form rather than as JSON.
///
/// Implemented for `bytes::Bytes` and every [`BinaryValue`] (binary bodies; inside the `args`
/// array, JS's `{"type":"Buffer","data":[…]}`), [`Body`] (passed through as it is), `String` (a
/// UTF-8 body, moved rather than copied) and `()` (nothing to decode). Every other argument,
/// result or stream item type travels through serde JSON. Implement [`BinaryValue`] rather than
/// this trait to make a newtype of `Bytes` travel as binary.
pub trait WireFormat: Sized {
    /// The value as a result or stream item.
    fn into_body(self) -> Result<Body, String>;
    /// The value from a result or stream item.
    fn from_body(body: Body) -> Result<Self, String>;
    /// The value as an element of a call's `args` array.
    fn into_arg(self) -> Result<Value, String>;
    /// The value from an element of a call's `args` array.
    fn from_arg(value: Value) -> Result<Self, String>;
}

/// A type that travels as binary: a newtype (or any type convertible to and from `Bytes`) opts in
/// with `impl BinaryValue for MyBlob {}`.
///
/// ```
/// use bytes::Bytes;
/// use secret_stack::rpc::{BinaryValue, WireFormat};
///
/// pub struct Blob(Bytes);
/// impl From<Bytes> for Blob {
///     fn from(bytes: Bytes) -> Self {
///         Blob(bytes)
///     }
/// }
/// impl From<Blob> for Bytes {
///     fn from(blob: Blob) -> Self {
///         blob.0
///     }
/// }
/// impl BinaryValue for Blob {}
///
/// let body = Blob(Bytes::from_static(b"\x00\x01")).into_body().unwrap();
/// assert_eq!(body, secret_stack::rpc::Body::Binary(Bytes::from_static(b"\x00\x01")));
/// ```
pub trait BinaryValue: From<Bytes> + Into<Bytes> {}

impl BinaryValue for Bytes {}

impl<T: BinaryValue> WireFormat for T {
    fn into_body(self) -> Result<Body, String> {
        Ok(Body::Binary(self.into()))
    }
    fn from_body(body: Body) -> Result<Self, String> {
        decode_bytes(body).map(T::from)
    }
    fn into_arg(self) -> Result<Value, String> {
        Ok(buffer_json(&self.into()))
    }
    fn from_arg(value: Value) -> Result<Self, String> {
        value_to_bytes(value).map(T::from)
    }
}

impl WireFormat for Body {
    fn into_body(self) -> Result<Body, String> {
        Ok(self)
    }
    fn from_body(body: Body) -> Result<Self, String> {
        Ok(body)
    }
    /// Binary as a JS `Buffer`, text as a string, JSON as it is.
    fn into_arg(self) -> Result<Value, String> {
        Ok(match self {
            Body::Binary(b) => buffer_json(&b),
            other => other.into_json(),
        })
    }
    /// A JS `Buffer` object becomes binary, anything else [`Body::from_json`].
    fn from_arg(value: Value) -> Result<Self, String> {
        value_to_body(value)
    }
}

impl WireFormat for String {
    /// A UTF-8 body, moved (what JSON would send too, without the copy).
    fn into_body(self) -> Result<Body, String> {
        Ok(Body::Text(self))
    }
    fn from_body(body: Body) -> Result<Self, String> {
        decode_json(body)
    }
    fn into_arg(self) -> Result<Value, String> {
        Ok(Value::String(self))
    }
    fn from_arg(value: Value) -> Result<Self, String> {
        value_to_json(value)
    }
}

impl WireFormat for () {
    fn into_body(self) -> Result<Body, String> {
        encode_json(())
    }
    /// Whatever the answer, nothing to decode.
    fn from_body(_body: Body) -> Result<Self, String> {
        Ok(())
    }
    fn into_arg(self) -> Result<Value, String> {
        Ok(Value::Null)
    }
    fn from_arg(value: Value) -> Result<Self, String> {
        value_to_json(value)
    }
}

/// The type whose codec generated code asks for: `Encoding::<T>::PICK.pick()` resolves to
/// [`PickWire::pick`] when `T: WireFormat` (the method is found one reference earlier) and to
/// [`PickJson::pick`] otherwise. Both traits must be in scope.
pub struct Encoding<T>(PhantomData<fn() -> T>);

impl<T: 'static> Encoding<T> {
    /// The marker behind the two references the method lookup starts from:
    /// `Encoding::<T>::PICK.pick()`.
    pub const PICK: &'static &'static Encoding<T> = &&Encoding(PhantomData);
}

/// Picks [`WireCodec`] for a [`WireFormat`] type.
pub trait PickWire<T> {
    /// The codec of `T`.
    fn pick(&self) -> WireCodec<T>;
}

impl<T: WireFormat> PickWire<T> for &Encoding<T> {
    fn pick(&self) -> WireCodec<T> {
        WireCodec(PhantomData)
    }
}

/// Picks [`JsonCodec`] for any other type.
pub trait PickJson<T> {
    /// The codec of `T`.
    fn pick(&self) -> JsonCodec<T>;
}

impl<T> PickJson<T> for Encoding<T> {
    fn pick(&self) -> JsonCodec<T> {
        JsonCodec(PhantomData)
    }
}

/// The conversions of a [`WireFormat`] type, as `fn` pointers.
pub struct WireCodec<T>(PhantomData<fn() -> T>);

impl<T: WireFormat> WireCodec<T> {
    /// Result or stream item → body.
    pub fn encode_body(self) -> fn(T) -> Result<Body, String> {
        T::into_body
    }
    /// Body → result or stream item.
    pub fn decode_body(self) -> fn(Body) -> Result<T, String> {
        T::from_body
    }
    /// Argument → JSON.
    pub fn encode_arg(self) -> fn(T) -> Result<Value, String> {
        T::into_arg
    }
    /// JSON → argument.
    pub fn decode_arg(self) -> fn(Value) -> Result<T, String> {
        T::from_arg
    }
}

/// The serde JSON conversions, as `fn` pointers. Each method asks only for the serde trait it
/// needs, so a type that lacks it is reported as "`T: Serialize` is not satisfied" at the type.
pub struct JsonCodec<T>(PhantomData<fn() -> T>);

impl<T> JsonCodec<T> {
    /// Result or stream item → body (a JSON string becomes a UTF-8 body, as in JS).
    pub fn encode_body(self) -> fn(T) -> Result<Body, String>
    where
        T: Serialize,
    {
        encode_json::<T>
    }
    /// Body → result or stream item.
    pub fn decode_body(self) -> fn(Body) -> Result<T, String>
    where
        T: DeserializeOwned,
    {
        decode_json::<T>
    }
    /// Argument → JSON.
    pub fn encode_arg(self) -> fn(T) -> Result<Value, String>
    where
        T: Serialize,
    {
        value_json::<T>
    }
    /// JSON → argument.
    pub fn decode_arg(self) -> fn(Value) -> Result<T, String>
    where
        T: DeserializeOwned,
    {
        value_to_json::<T>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    type Alias = Bytes;

    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Point {
        x: i32,
    }

    #[test]
    fn the_type_picks_the_codec() {
        let bin = Bytes::from_static(&[0, 255]);
        let encode = Encoding::<Alias>::PICK.pick().encode_body();
        assert_eq!(encode(bin.clone()).unwrap(), Body::Binary(bin.clone()));
        let to_arg = Encoding::<Alias>::PICK.pick().encode_arg();
        assert_eq!(
            to_arg(bin).unwrap(),
            json!({"type": "Buffer", "data": [0, 255]})
        );
        let encode = Encoding::<Point>::PICK.pick().encode_body();
        assert_eq!(encode(Point { x: 1 }).unwrap(), Body::Json(json!({"x": 1})));
        let decode = Encoding::<Point>::PICK.pick().decode_arg();
        assert_eq!(decode(json!({"x": 2})).unwrap(), Point { x: 2 });
    }

    #[test]
    fn strings_move_into_bodies_and_arguments() {
        let s = String::from("hi");
        let at = s.as_ptr();
        let Body::Text(moved) = s.into_body().unwrap() else {
            panic!("a string travels as text");
        };
        assert_eq!(moved.as_ptr(), at, "the string was copied");
        let s = String::from("hi");
        let at = s.as_ptr();
        let Value::String(moved) = s.into_arg().unwrap() else {
            panic!("a string argument is a JSON string");
        };
        assert_eq!(moved.as_ptr(), at, "the string was copied");
        // A type that is not `std`'s `String` goes through JSON.
        mod other {
            #[derive(serde::Serialize)]
            pub struct String {
                pub a: u8,
            }
        }
        let encode = Encoding::<other::String>::PICK.pick().encode_body();
        assert_eq!(
            encode(other::String { a: 1 }).unwrap(),
            Body::Json(json!({"a": 1}))
        );
        let to_arg = Encoding::<other::String>::PICK.pick().encode_arg();
        assert_eq!(to_arg(other::String { a: 2 }).unwrap(), json!({"a": 2}));
    }

    #[test]
    fn unit_accepts_any_answer() {
        assert_eq!(<()>::from_body(Body::Text("x".into())), Ok(()));
        assert_eq!(().into_arg().unwrap(), Value::Null);
    }
}
