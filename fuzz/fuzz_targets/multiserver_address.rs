//! Multiserver addresses from any text: the grammar, the typed section views and
//! the dialling plan of a registry with every built-in transport and transform.
//!
//! Whatever parses must print back to exactly the input (the grammar promises it), and every
//! alternative of a parsed multiaddress must parse on its own.

#![no_main]

use libfuzzer_sys::fuzz_target;
use secret_stack::keys::{AppKey, Keypair};
use secret_stack::multiserver::{
    Address, Multiaddress, Multiserver, Net, NetAddress, NoAuth, OnionAddress, Protocol, Shs,
    ShsAddress, Unix, UnixAddress, Ws, WsAddress,
};

thread_local! {
    static REGISTRY: Multiserver = registry();
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();

    match text.parse::<Multiaddress>() {
        Ok(multi) => {
            assert_eq!(
                multi.to_string(),
                text,
                "multiaddress prints back to its text"
            );
            let parts = Multiaddress::split_alternatives(text);
            assert_eq!(parts.len(), multi.alternatives().len());
            for (part, address) in parts.iter().zip(multi.alternatives()) {
                assert_eq!(part.parse::<Address>().as_ref(), Ok(address));
                check_address(address);
            }
        }
        Err(_) => {
            // Each alternative is judged on its own when dialling.
            for part in Multiaddress::split_alternatives(text) {
                if let Ok(address) = part.parse::<Address>() {
                    check_address(&address);
                }
            }
        }
    }
    if let Ok(section) = text.parse::<Protocol>() {
        assert_eq!(section.to_string(), text);
    }
    let _ = text.parse::<NetAddress>();
    let _ = text.parse::<UnixAddress>();
    let _ = text.parse::<WsAddress>();
    let _ = text.parse::<ShsAddress>();
    let _ = text.parse::<OnionAddress>();
    REGISTRY.with(|registry| {
        if let Ok(candidates) = registry.plan(text) {
            assert!(!candidates.is_empty(), "an Ok plan has a candidate");
        }
    });
});

fn check_address(address: &Address) {
    assert_eq!(address.to_string().parse::<Address>().as_ref(), Ok(address));
    for section in address.sections() {
        let rebuilt = Protocol::new(section.name(), section.data().to_vec());
        assert_eq!(
            rebuilt.as_ref(),
            Ok(section),
            "a parsed section is a valid section"
        );
        let _ = NetAddress::from_protocol(section);
        let _ = UnixAddress::from_protocol(section);
        let _ = WsAddress::from_protocol(section);
        let _ = ShsAddress::from_protocol(section);
        let _ = OnionAddress::from_protocol(section);
    }
}

fn registry() -> Multiserver {
    let keys = Keypair::from_seed(&[9; 32]);
    let mut ms = Multiserver::new();
    let built = (|| -> Result<(), Box<dyn std::error::Error>> {
        ms.add_transport(Net)?
            .add_transport(Unix)?
            .add_transport(Ws)?
            .add_transform(Shs::new(keys.clone(), AppKey::SSB_MAIN_NET))?
            .add_transform(NoAuth::new(keys.public()))?;
        for transport in ["net", "unix", "ws"] {
            ms.add_outgoing(transport, "shs")?
                .add_outgoing(transport, "noauth")?;
        }
        Ok(())
    })();
    built.expect("registry of the built-ins");
    ms
}
