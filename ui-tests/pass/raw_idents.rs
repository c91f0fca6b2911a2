//! Raw identifiers as method and argument names.
use secret_stack::plugin;

pub struct Raw;

#[plugin(name = "raw")]
impl Raw {
    fn r#type(&self, r#in: String, r#match: Option<u8>) -> String {
        format!("{}{:?}", r#in, r#match)
    }
    async fn r#async(&self, r#ref: u8) -> u8 {
        r#ref
    }
}

fn main() {
    use secret_stack::plugin::PluginDescription;
    assert_eq!(
        std::sync::Arc::new(Raw).manifest().to_json(),
        serde_json::json!({"type": "sync", "async": "async"})
    );
    let _ = RawClient::<()>::new(());
}
