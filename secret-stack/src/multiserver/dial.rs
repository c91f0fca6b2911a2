//! Dial planning and dialling: [`Multiserver::plan`] matches each `;` alternative of an address
//! with the first outgoing suite that parses it, and [`Multiserver::connect`] dials the matches.
//!
//! JS multiserver dials only the first match; this registry dials the matches in order and **falls
//! back to the next one when a dial or transform fails**, returning every failure if none
//! succeeds. An address that no suite parses fails with the JS text
//! `could not connect to:<address>, only know:<suites>`.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use tracing::debug;

use super::address::{Address, AddressError, Multiaddress, split_alternatives};
use super::dial_error::{DialError, ParseFailures};
use super::registry::{Established, Multiserver, suite_name};
use super::transform::DynTransform;
use super::transport::DynTransport;

/// One alternative of an address matched with the suite that will dial it.
pub struct Candidate {
    /// Index of the alternative in the address.
    pub alternative: usize,
    /// The alternative.
    pub address: Address,
    /// The suite's name, e.g. `net~shs`.
    pub suite: String,
    transport: Arc<dyn DynTransport>,
    transform: Arc<dyn DynTransform>,
    transport_address: Box<dyn Any + Send + Sync>,
    transform_address: Box<dyn Any + Send + Sync>,
}

impl fmt::Debug for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Candidate")
            .field("alternative", &self.alternative)
            .field("address", &self.address)
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

impl Multiserver {
    /// Matches each alternative of `address` with the first outgoing suite that parses it, in
    /// order; alternatives no suite parses are left out. Fails with
    /// [`DialError::Unparseable`] when none is left.
    pub fn plan(&self, address: &str) -> Result<Vec<Candidate>, DialError> {
        let mut plan = Plan::default();
        for (index, text) in split_alternatives(address).into_iter().enumerate() {
            match text.parse::<Address>() {
                Ok(parsed) => self.match_suite(index, parsed, &mut plan),
                Err(e) => plan.reasons.push((text.to_owned(), e)),
            }
        }
        plan.finish(|| address.to_owned(), self)
    }

    /// [`Multiserver::plan`] for an address already parsed.
    pub fn plan_multiaddress(&self, address: &Multiaddress) -> Result<Vec<Candidate>, DialError> {
        let mut plan = Plan::default();
        for (index, alternative) in address.alternatives().iter().enumerate() {
            self.match_suite(index, alternative.clone(), &mut plan);
        }
        plan.finish(|| address.to_string(), self)
    }

    /// Adds `address` to the plan with the first outgoing suite that parses it, or the reasons
    /// none does.
    fn match_suite(&self, alternative: usize, address: Address, plan: &mut Plan) {
        for (transport, transform) in &self.outgoing {
            match parse_with(transport, transform, &address) {
                Ok((transport_address, transform_address)) => {
                    plan.candidates.push(Candidate {
                        alternative,
                        address,
                        suite: suite_name(transport.as_ref(), transform.as_ref()),
                        transport: transport.clone(),
                        transform: transform.clone(),
                        transport_address,
                        transform_address,
                    });
                    return;
                }
                Err(e) => plan.reasons.push((address.to_string(), e)),
            }
        }
    }

    /// Dials `address` (a multiserver address string) and runs the transform's client side; see
    /// the module docs for the fallback across alternatives.
    pub async fn connect(&self, address: &str) -> Result<Established, DialError> {
        dial_in_order(self.plan(address)?).await
    }

    /// [`Multiserver::connect`] for an address already parsed.
    pub async fn connect_multiaddress(
        &self,
        address: &Multiaddress,
    ) -> Result<Established, DialError> {
        dial_in_order(self.plan_multiaddress(address)?).await
    }
}

/// The candidates found so far, and why the other alternatives or suites did not match.
#[derive(Default)]
struct Plan {
    candidates: Vec<Candidate>,
    reasons: Vec<(String, AddressError)>,
}

impl Plan {
    fn finish(
        self,
        address: impl FnOnce() -> String,
        registry: &Multiserver,
    ) -> Result<Vec<Candidate>, DialError> {
        if self.candidates.is_empty() {
            return Err(DialError::Unparseable {
                address: address(),
                suites: registry.suites(),
                reasons: ParseFailures(self.reasons),
            });
        }
        Ok(self.candidates)
    }
}

/// Dials the candidates in order until one succeeds.
async fn dial_in_order(candidates: Vec<Candidate>) -> Result<Established, DialError> {
    let mut failures = Vec::new();
    for candidate in candidates {
        match dial(&candidate).await {
            Ok(established) => return Ok(established),
            Err(e) => {
                debug!(address = %candidate.address, "multiserver: dial failed: {e}");
                failures.push(e);
            }
        }
    }
    if failures.len() == 1
        && let Some(only) = failures.pop()
    {
        return Err(only);
    }
    Err(DialError::Exhausted(failures))
}

type Parsed = (Box<dyn Any + Send + Sync>, Box<dyn Any + Send + Sync>);

fn parse_with(
    transport: &Arc<dyn DynTransport>,
    transform: &Arc<dyn DynTransform>,
    address: &Address,
) -> Result<Parsed, AddressError> {
    let [first, second] = address.sections() else {
        return Err(AddressError::SectionCount {
            address: address.to_string(),
            suite: suite_name(transport.as_ref(), transform.as_ref()),
            expected: 2,
            got: address.sections().len(),
        });
    };
    Ok((transport.parse(first)?, transform.parse(second)?))
}

async fn dial(candidate: &Candidate) -> Result<Established, DialError> {
    let connection = candidate
        .transport
        .connect(candidate.transport_address.as_ref())
        .await
        .map_err(|source| DialError::Dial {
            address: candidate.address.to_string(),
            source,
        })?;
    let transport_address = connection.address.clone();
    let (mut connection, info) = candidate
        .transform
        .client(connection, candidate.transform_address.as_ref())
        .await
        .map_err(|source| DialError::Transform {
            address: candidate.address.to_string(),
            source,
        })?;
    connection.address = format!("{transport_address}~{}", info.section);
    debug!(address = %connection.address, suite = %candidate.suite, "multiserver: connected");
    Ok(Established {
        connection,
        info,
        suite: candidate.suite.clone(),
        slot: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Keypair;
    use crate::multiserver::{Net, NoAuth, Ws};

    fn summary(plan: &[Candidate]) -> Vec<(usize, String, String)> {
        plan.iter()
            .map(|c| (c.alternative, c.address.to_string(), c.suite.clone()))
            .collect()
    }

    #[test]
    fn typed_and_text_plans_agree() {
        let mut ms = Multiserver::new();
        ms.add_transport(Net)
            .and_then(|ms| ms.add_transport(Ws))
            .and_then(|ms| ms.add_transform(NoAuth::new(Keypair::generate().public())))
            .and_then(|ms| ms.add_outgoing("ws", "noauth"))
            .and_then(|ms| ms.add_outgoing("net", "noauth"))
            .unwrap();
        let text = "net:a.example:1~noauth;onion:b.onion:2~noauth;ws://c.example~noauth";
        let typed: Multiaddress = text.parse().unwrap();
        let from_text = summary(&ms.plan(text).unwrap());
        assert_eq!(from_text, summary(&ms.plan_multiaddress(&typed).unwrap()));
        assert_eq!(
            from_text,
            [
                (0, "net:a.example:1~noauth".into(), "net~noauth".into()),
                (2, "ws://c.example~noauth".into(), "ws~noauth".into()),
            ]
        );
        let none = "onion:b.onion:2~noauth";
        let from_text = ms.plan(none).unwrap_err().to_string();
        let typed = ms
            .plan_multiaddress(&none.parse().unwrap())
            .unwrap_err()
            .to_string();
        assert_eq!(from_text, typed);
        assert_eq!(
            from_text,
            "could not connect to:onion:b.onion:2~noauth, only know:ws~noauth;net~noauth"
        );
    }
}
