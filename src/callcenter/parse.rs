//! Reading the call-center XML with quick-xml into a [`Document`]: size and encoding checks,
//! well-formedness, the `callCenter > section > item` shape, attributes and entities. Every
//! problem is reported with its line and column; input never makes this panic.

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use super::diagnostic::{Diagnostic, Problem};
use super::document::{Document, RawItem, RawSection};
use super::position::{LineIndex, Position};
use super::values::is_xml_char;

/// Largest file accepted. Real definitions are a few kilobytes; the limit keeps a wrong file
/// (a log, a dump) from being loaded whole.
pub const MAX_FILE_SIZE: usize = 1024 * 1024;

/// Reads `input` into a document. Returns `None` when the file cannot be read as a whole
/// (too large, not UTF-8, malformed XML); `diagnostics` then says why. Shape problems that
/// leave the rest readable (a bad attribute, a stray element) are reported and reading goes on.
pub(crate) fn read_document(input: &[u8], diagnostics: &mut Vec<Diagnostic>) -> Option<Document> {
    if input.len() > MAX_FILE_SIZE {
        diagnostics.push(Diagnostic::error(
            None,
            Problem::TooLarge {
                size: input.len() as u64,
                limit: MAX_FILE_SIZE,
            },
        ));
        return None;
    }
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let text = match std::str::from_utf8(input) {
        Ok(text) => text,
        Err(e) => {
            // Positions of the valid prefix are exact; the bad byte is right after it.
            let valid = std::str::from_utf8(&input[..e.valid_up_to()]).unwrap_or_default();
            let position = LineIndex::new(valid).position(valid.len());
            diagnostics.push(Diagnostic::error(position, Problem::NotUtf8));
            return None;
        }
    };
    let lines = LineIndex::new(text);
    if let Some((offset, c)) = text.char_indices().find(|(_, c)| !is_xml_char(*c)) {
        diagnostics.push(Diagnostic::error(
            lines.position(offset),
            Problem::IllegalCharacter(c as u32),
        ));
        return None;
    }
    DocumentReader {
        reader: Reader::from_str(text),
        lines,
        diagnostics,
    }
    .read()
}

struct DocumentReader<'a, 'd> {
    reader: Reader<&'a [u8]>,
    lines: LineIndex<'a>,
    diagnostics: &'d mut Vec<Diagnostic>,
}

/// Where the reader is in the `callCenter > section > item` shape.
enum State {
    BeforeRoot,
    InRoot(Document),
    InSection(Document, RawSection),
    InItem(Document, RawSection, RawItem),
    AfterRoot(Document),
}

/// Why reading stopped early.
struct Fatal;

impl<'a> DocumentReader<'a, '_> {
    fn read(mut self) -> Option<Document> {
        let mut state = State::BeforeRoot;
        loop {
            let start = self.reader.buffer_position() as usize;
            let position = self.lines.position(start);
            let event = match self.reader.read_event() {
                Ok(event) => event,
                Err(e) => {
                    let at = self.lines.position(self.reader.error_position() as usize);
                    self.error(at, Problem::Malformed(e.to_string()));
                    return None;
                }
            };
            state = match self.step(state, event, position) {
                Ok(State::AfterRoot(document)) => {
                    self.check_trailing();
                    return Some(document);
                }
                Ok(state) => state,
                Err(Fatal) => return None,
            };
        }
    }

    /// Only whitespace, comments or processing instructions may follow the root element;
    /// reports anything else.
    fn check_trailing(&mut self) {
        loop {
            let position = self.lines.position(self.reader.buffer_position() as usize);
            match self.reader.read_event() {
                Ok(Event::Eof) => return,
                Ok(Event::Comment(_) | Event::PI(_)) => {}
                Ok(Event::Text(t)) if is_blank(&t) => {}
                Ok(Event::Start(e) | Event::Empty(e)) => {
                    let found = name_of(&e);
                    self.error(position, Problem::AfterRoot { found });
                    return;
                }
                Ok(Event::DocType(_)) => {
                    self.error(position, Problem::Doctype);
                    return;
                }
                Ok(other) => {
                    self.text_outside_item(&other, position);
                    return;
                }
                Err(e) => {
                    let at = self.lines.position(self.reader.error_position() as usize);
                    self.error(at, Problem::Malformed(e.to_string()));
                    return;
                }
            }
        }
    }

    /// Advances the state by one event; `Err(Fatal)` stops reading (already reported).
    fn step(&mut self, state: State, event: Event<'a>, at: Position) -> Result<State, Fatal> {
        // Events every state treats alike.
        match &event {
            Event::Comment(_) | Event::PI(_) => return Ok(state),
            Event::DocType(_) => {
                self.error(at, Problem::Doctype);
                return Err(Fatal);
            }
            Event::Decl(decl) => {
                if let Some(Ok(encoding)) = decl.encoding()
                    && !encoding.eq_ignore_ascii_case("utf-8")
                {
                    self.error(at, Problem::NotUtf8Declared(encoding.into_owned()));
                    return Err(Fatal);
                }
                return Ok(state);
            }
            _ => {}
        }
        let next = match state {
            State::BeforeRoot => match event {
                Event::Start(e) | Event::Empty(e) if name_of(&e) != "callCenter" => {
                    self.error(at, Problem::WrongRoot(name_of(&e)));
                    return Err(Fatal);
                }
                Event::Start(e) => {
                    self.attributes_none(&e, at);
                    State::InRoot(Document {
                        position: at,
                        sections: Vec::new(),
                    })
                }
                Event::Empty(e) => {
                    self.attributes_none(&e, at);
                    State::AfterRoot(Document {
                        position: at,
                        sections: Vec::new(),
                    })
                }
                Event::Eof => {
                    self.error(at, Problem::NoRoot);
                    return Err(Fatal);
                }
                other => {
                    self.text_outside_item(&other, at);
                    State::BeforeRoot
                }
            },
            State::InRoot(mut document) => match event {
                Event::Start(e) if name_of(&e) == "section" => {
                    let section = self.section(&e, at);
                    State::InSection(document, section)
                }
                Event::Empty(e) if name_of(&e) == "section" => {
                    let section = self.section(&e, at);
                    document.sections.push(section);
                    State::InRoot(document)
                }
                Event::Start(e) => {
                    self.unexpected(&e, at, "callCenter", "<section>", true)?;
                    State::InRoot(document)
                }
                Event::Empty(e) => {
                    self.unexpected(&e, at, "callCenter", "<section>", false)?;
                    State::InRoot(document)
                }
                Event::End(_) => State::AfterRoot(document),
                Event::Eof => return self.unclosed("callCenter", document.position),
                other => {
                    self.text_outside_item(&other, at);
                    State::InRoot(document)
                }
            },
            State::InSection(mut document, mut section) => match event {
                Event::Start(e) if name_of(&e) == "item" => {
                    let item = self.item(&e, at);
                    State::InItem(document, section, item)
                }
                Event::Empty(e) if name_of(&e) == "item" => {
                    let item = self.item(&e, at);
                    section.items.push(item);
                    State::InSection(document, section)
                }
                Event::Start(e) => {
                    self.unexpected(&e, at, "section", "<item>", true)?;
                    State::InSection(document, section)
                }
                Event::Empty(e) => {
                    self.unexpected(&e, at, "section", "<item>", false)?;
                    State::InSection(document, section)
                }
                Event::End(_) => {
                    document.sections.push(section);
                    State::InRoot(document)
                }
                Event::Eof => return self.unclosed("section", section.position),
                other => {
                    self.text_outside_item(&other, at);
                    State::InSection(document, section)
                }
            },
            State::InItem(document, mut section, mut item) => match event {
                Event::Text(t) => {
                    item.value.push_str(&t.xml10_content());
                    State::InItem(document, section, item)
                }
                Event::CData(c) => {
                    item.value.push_str(&c.xml10_content());
                    State::InItem(document, section, item)
                }
                Event::GeneralRef(r) => {
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(c)) if is_xml_char(c) => c.to_string(),
                        Ok(Some(c)) => {
                            self.error(at, Problem::IllegalCharacter(c as u32));
                            return Err(Fatal);
                        }
                        Ok(None) => match predefined_entity(&r) {
                            Some(s) => s.to_owned(),
                            None => {
                                self.error(at, Problem::UnknownEntity(r.as_ref().to_owned()));
                                return Err(Fatal);
                            }
                        },
                        Err(e) => {
                            self.error(at, Problem::Malformed(e.to_string()));
                            return Err(Fatal);
                        }
                    };
                    item.value.push_str(&resolved);
                    State::InItem(document, section, item)
                }
                Event::Start(e) => {
                    self.unexpected(&e, at, "item", "text only", true)?;
                    State::InItem(document, section, item)
                }
                Event::Empty(e) => {
                    self.unexpected(&e, at, "item", "text only", false)?;
                    State::InItem(document, section, item)
                }
                Event::End(_) => {
                    section.items.push(item);
                    State::InSection(document, section)
                }
                Event::Eof => return self.unclosed("item", item.position),
                _ => State::InItem(document, section, item),
            },
            State::AfterRoot(document) => State::AfterRoot(document),
        };
        Ok(next)
    }

    fn error(&mut self, at: Position, problem: Problem) {
        self.diagnostics.push(Diagnostic::error(at, problem));
    }

    fn unclosed(&mut self, element: &str, opened: Position) -> Result<State, Fatal> {
        let end = self.lines.position(usize::MAX);
        self.error(
            end,
            Problem::Unclosed {
                element: element.to_owned(),
                opened,
            },
        );
        Err(Fatal)
    }

    /// Reports an element out of place and skips it with its content.
    fn unexpected(
        &mut self,
        e: &BytesStart<'_>,
        at: Position,
        parent: &str,
        expected: &'static str,
        has_content: bool,
    ) -> Result<(), Fatal> {
        self.error(
            at,
            Problem::UnexpectedElement {
                found: name_of(e),
                parent: parent.to_owned(),
                expected,
            },
        );
        if has_content && let Err(err) = self.reader.read_to_end(e.name()) {
            let at = self.lines.position(self.reader.error_position() as usize);
            self.error(at, Problem::Malformed(err.to_string()));
            return Err(Fatal);
        }
        Ok(())
    }

    fn text_outside_item(&mut self, event: &Event<'_>, at: Position) {
        let text = match event {
            Event::Text(t) if is_blank(t) => return,
            Event::Text(t) => t.trim().to_owned(),
            Event::CData(c) => c.xml10_content().into_owned(),
            Event::GeneralRef(r) => format!("&{};", r.as_ref()),
            _ => return,
        };
        let text: String = text.chars().take(40).collect();
        self.error(at, Problem::UnexpectedText(text));
    }

    fn attributes_none(&mut self, e: &BytesStart<'_>, at: Position) {
        if let Some(attribute) = e.attributes().flatten().next() {
            let attribute = attribute.key.as_ref().to_owned();
            self.error(
                at,
                Problem::UnexpectedAttribute {
                    element: "callCenter".to_owned(),
                    attribute,
                },
            );
        }
    }

    fn section(&mut self, e: &BytesStart<'_>, at: Position) -> RawSection {
        let (name, label, sort_order) = self.naming_attributes(e, "section", at);
        RawSection {
            position: at,
            name,
            label,
            sort_order,
            items: Vec::new(),
        }
    }

    fn item(&mut self, e: &BytesStart<'_>, at: Position) -> RawItem {
        let (name, label, sort_order) = self.naming_attributes(e, "item", at);
        RawItem {
            position: at,
            name,
            label,
            sort_order,
            value: String::new(),
        }
    }

    /// `name`, `label` and `sortOrder`, each required; reports what is missing or malformed.
    fn naming_attributes(
        &mut self,
        e: &BytesStart<'_>,
        element: &str,
        at: Position,
    ) -> (String, String, Option<u32>) {
        let mut name = None;
        let mut label = None;
        let mut sort_order = None;
        for attribute in e.attributes() {
            let attribute = match attribute {
                Ok(a) => a,
                Err(err) => {
                    self.error(
                        at,
                        Problem::BadAttribute {
                            element: element.to_owned(),
                            reason: err.to_string(),
                        },
                    );
                    break;
                }
            };
            let value = match attribute.normalized_value(XmlVersion::Implicit1_0) {
                Ok(v) => v.into_owned(),
                Err(err) => {
                    self.error(
                        at,
                        Problem::BadAttribute {
                            element: element.to_owned(),
                            reason: err.to_string(),
                        },
                    );
                    continue;
                }
            };
            match attribute.key.as_ref() {
                "name" => name = Some(value),
                "label" => label = Some(value),
                "sortOrder" => sort_order = Some(value),
                other => self.error(
                    at,
                    Problem::UnexpectedAttribute {
                        element: element.to_owned(),
                        attribute: other.to_owned(),
                    },
                ),
            }
        }
        let mut required = |value: Option<String>, attribute: &'static str| match value {
            Some(v) if !(attribute == "name" && v.is_empty()) => v,
            _ => {
                self.diagnostics.push(Diagnostic::error(
                    at,
                    Problem::MissingAttribute {
                        element: element.to_owned(),
                        attribute,
                    },
                ));
                String::new()
            }
        };
        let name = required(name, "name");
        let label = required(label, "label");
        let sort_order = match sort_order {
            Some(text) => match text.trim().parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) => {
                    self.error(
                        at,
                        Problem::BadSortOrder {
                            element: element.to_owned(),
                            value: text,
                        },
                    );
                    None
                }
            },
            None => {
                self.error(
                    at,
                    Problem::MissingAttribute {
                        element: element.to_owned(),
                        attribute: "sortOrder",
                    },
                );
                None
            }
        };
        (name, label, sort_order)
    }
}

fn name_of(e: &BytesStart<'_>) -> String {
    e.name().as_ref().to_owned()
}

/// Whitespace between elements carries nothing. Unicode whitespace, not only XML's: files
/// copied out of documents (the Neotel manual's among them) have no-break spaces there.
fn is_blank(text: &str) -> bool {
    text.chars().all(char::is_whitespace)
}

fn predefined_entity(name: &str) -> Option<&'static str> {
    match name {
        "lt" => Some("<"),
        "gt" => Some(">"),
        "amp" => Some("&"),
        "apos" => Some("'"),
        "quot" => Some("\""),
        _ => None,
    }
}
