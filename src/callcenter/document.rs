//! The file as read, before typing: sections and items with their attributes, text values and
//! positions. The validator turns it into a [`CallCenter`](super::CallCenter); the `validate`
//! command prints it.

use super::position::Position;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Where `<callCenter>` starts.
    pub position: Position,
    pub sections: Vec<RawSection>,
}

/// A `<section>`. A missing or malformed attribute has already been reported; `name` and
/// `label` are then empty and `sort_order` is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSection {
    pub position: Position,
    pub name: String,
    pub label: String,
    pub sort_order: Option<u32>,
    pub items: Vec<RawItem>,
}

/// An `<item>` with its text, entities resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawItem {
    pub position: Position,
    pub name: String,
    pub label: String,
    pub sort_order: Option<u32>,
    pub value: String,
}
