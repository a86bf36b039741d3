//! Asterisk over the Manager Interface (AMI): the wire [`codec`] (banner, `Key: value`
//! messages, actions, event lists), tested against sessions recorded from a real Asterisk 22
//! (`tests/fixtures/asterisk-ami/`). The driver behind the switch interface builds on it.

pub mod client;
pub mod codec;
