//! From the [`Document`] as read to the typed [`CallCenter`]: required sections and items,
//! duplicates, each known item's value; unknown sections and items become warnings and are
//! kept.

use std::collections::HashMap;

use super::diagnostic::{Diagnostic, Hint, Problem};
use super::document::{Document, RawItem, RawSection};
use super::model::names::{self, Known};
use super::model::{
    CallCenter, DialingOptions, GeneralInfo, Item, NeotelConfigOptions, OtherItem, OtherSection, SectionInfo,
    Standby,
};
use super::position::Position;
use super::values::{ValueError, parse_bool, parse_positive};

/// Types the document. Returns `None` when a required section or item is missing or invalid;
/// every problem, errors and warnings, goes to `diagnostics`.
pub(crate) fn to_call_center(document: &Document, diagnostics: &mut Vec<Diagnostic>) -> Option<CallCenter> {
    let mut first_seen: HashMap<&str, Position> = HashMap::new();
    let mut general = None;
    let mut dialing = None;
    let mut options = None;
    let mut other_sections = Vec::new();
    for section in &document.sections {
        if section.name.is_empty() {
            continue; // reported while reading
        }
        if let Some(&first) = first_seen.get(section.name.as_str()) {
            diagnostics.push(Diagnostic::error(
                section.position,
                Problem::DuplicateSection {
                    name: section.name.clone(),
                    first,
                },
            ));
            continue;
        }
        first_seen.insert(&section.name, section.position);
        match section.name.as_str() {
            "reqGeneralInfo" => general = Some(general_info(section, diagnostics)),
            "reqDialingOptions" => dialing = Some(dialing_options(section, diagnostics)),
            "neotelConfigOptions" => options = Some(neotel_options(section, diagnostics)),
            name => {
                diagnostics.push(Diagnostic::warning(
                    section.position,
                    Problem::UnknownSection {
                        name: name.to_owned(),
                        hint: Hint::for_name(name, &names::SECTIONS),
                    },
                ));
                other_sections.push(OtherSection {
                    name: section.name.clone(),
                    label: section.label.clone(),
                    sort_order: section.sort_order.unwrap_or_default(),
                    items: section.items.iter().map(other_item).collect(),
                });
            }
        }
    }
    let mut missing = |name: &'static str| {
        diagnostics.push(Diagnostic::error(
            document.position,
            Problem::MissingSection(name),
        ));
    };
    if general.is_none() {
        missing(names::GENERAL_INFO.0);
    }
    if options.is_none() {
        missing(names::NEOTEL_OPTIONS.0);
    }
    sort_by_order(&mut other_sections, |s| s.sort_order);
    for section in &mut other_sections {
        sort_by_order(&mut section.items, |i| i.sort_order);
    }
    Some(CallCenter {
        general: general??,
        dialing: dialing.flatten(),
        options: options??,
        other_sections,
    })
}

fn sort_by_order<T>(items: &mut [T], key: impl Fn(&T) -> u32) {
    items.sort_by_key(key); // stable: equal sortOrders keep the file's order
}

fn other_item(item: &RawItem) -> OtherItem {
    OtherItem {
        name: item.name.clone(),
        label: item.label.clone(),
        sort_order: item.sort_order.unwrap_or_default(),
        value: item.value.clone(),
    }
}

/// The items of one known section, looked up by name as the typed fields are filled.
struct Items<'d, 'g> {
    section: &'d RawSection,
    section_name: &'static str,
    known: HashMap<&'d str, &'d RawItem>,
    others: Vec<OtherItem>,
    diagnostics: &'g mut Vec<Diagnostic>,
    complete: bool,
}

impl<'d, 'g> Items<'d, 'g> {
    fn new(
        section: &'d RawSection,
        known: (&'static str, &[&'static str]),
        diagnostics: &'g mut Vec<Diagnostic>,
    ) -> Self {
        let (section_name, known_names) = known;
        let mut found: HashMap<&'d str, &'d RawItem> = HashMap::new();
        let mut others = Vec::new();
        let mut first_seen: HashMap<&str, Position> = HashMap::new();
        for item in &section.items {
            if item.name.is_empty() {
                continue; // reported while reading
            }
            if let Some(&first) = first_seen.get(item.name.as_str()) {
                diagnostics.push(Diagnostic::error(
                    item.position,
                    Problem::DuplicateItem {
                        section: section_name.to_owned(),
                        name: item.name.clone(),
                        first,
                    },
                ));
                continue;
            }
            first_seen.insert(&item.name, item.position);
            if known_names.contains(&item.name.as_str()) {
                found.insert(&item.name, item);
            } else {
                diagnostics.push(Diagnostic::warning(
                    item.position,
                    Problem::UnknownItem {
                        section: section_name.to_owned(),
                        name: item.name.clone(),
                        hint: Hint::for_name(&item.name, known_names),
                    },
                ));
                others.push(other_item(item));
            }
        }
        sort_by_order(&mut others, |i| i.sort_order);
        Self {
            section,
            section_name,
            known: found,
            others,
            diagnostics,
            complete: true,
        }
    }

    fn info(&self) -> SectionInfo {
        SectionInfo {
            label: self.section.label.clone(),
            sort_order: self.section.sort_order.unwrap_or_default(),
        }
    }

    /// The item `known` if present, typed with `parse`; an invalid value is reported.
    fn optional<T>(
        &mut self,
        known: Known,
        parse: impl Fn(&str) -> Result<T, ValueError>,
    ) -> Option<Item<T>> {
        let item = self.known.get(known.0)?;
        // Typed values ignore surrounding whitespace, as when an editor wraps a long line.
        match parse(item.value.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))) {
            Ok(value) => Some(Item::new(
                value,
                item.label.clone(),
                item.sort_order.unwrap_or_default(),
            )),
            Err(error) => {
                self.diagnostics.push(Diagnostic::error(
                    item.position,
                    Problem::InvalidValue { item: known.0, error },
                ));
                self.complete = false;
                None
            }
        }
    }

    /// As [`Items::optional`], and a missing item is reported.
    fn required<T>(
        &mut self,
        known: Known,
        parse: impl Fn(&str) -> Result<T, ValueError>,
    ) -> Option<Item<T>> {
        if !self.known.contains_key(known.0) {
            self.diagnostics.push(Diagnostic::error(
                self.section.position,
                Problem::MissingItem {
                    section: self.section_name,
                    item: known.0,
                },
            ));
            self.complete = false;
            return None;
        }
        self.optional(known, parse)
    }

    fn error(&mut self, at: Position, problem: Problem) {
        self.diagnostics.push(Diagnostic::error(at, problem));
        self.complete = false;
    }
}

fn parse_str<T: std::str::FromStr<Err = ValueError>>(s: &str) -> Result<T, ValueError> {
    s.parse()
}

fn general_info(section: &RawSection, diagnostics: &mut Vec<Diagnostic>) -> Option<GeneralInfo> {
    use names::*;
    let mut items = Items::new(section, (GENERAL_INFO.0, &GENERAL_ITEMS), diagnostics);
    if let Some(order) = section.sort_order
        && order != 0
    {
        items.error(section.position, Problem::GeneralInfoNotFirst(order));
    }
    let internal_name = items.required(INTERNAL_NAME, parse_str);
    let display_name = items.required(DISPLAY_NAME, parse_str);
    let adapter_url = items.required(ADAPTER_URL, parse_str);
    let use_api = items.required(USE_API, parse_bool);
    let softphone_height = items.required(SOFTPHONE_HEIGHT, parse_positive);
    let softphone_width = items.required(SOFTPHONE_WIDTH, parse_positive);
    let compatibility_mode = items.required(COMPATIBILITY_MODE, parse_str);
    let has_url = items.known.contains_key(STANDBY_URL.0);
    let has_timeout = items.known.contains_key(TIMEOUT.0);
    let standby_url = items.optional(STANDBY_URL, parse_str);
    let timeout_ms = items.optional(TIMEOUT, parse_positive);
    if has_url != has_timeout {
        let (present, missing) = if has_url {
            (STANDBY_URL.0, TIMEOUT.0)
        } else {
            (TIMEOUT.0, STANDBY_URL.0)
        };
        let at = items.known.get(present).map_or(section.position, |i| i.position);
        items.error(at, Problem::Unpaired { present, missing });
    }
    let standby = match (standby_url, timeout_ms) {
        (Some(url), Some(timeout_ms)) => Some(Standby { url, timeout_ms }),
        _ => None,
    };
    let info = items.info();
    let complete = items.complete;
    let general = GeneralInfo {
        section: info,
        internal_name: internal_name?,
        display_name: display_name?,
        adapter_url: adapter_url?,
        use_api: use_api?,
        softphone_height: softphone_height?,
        softphone_width: softphone_width?,
        compatibility_mode: compatibility_mode?,
        standby,
        other_items: items.others,
    };
    complete.then_some(general)
}

fn dialing_options(section: &RawSection, diagnostics: &mut Vec<Diagnostic>) -> Option<DialingOptions> {
    use names::*;
    let mut items = Items::new(section, (DIALING_OPTIONS.0, &DIALING_ITEMS), diagnostics);
    let outside_prefix = items.optional(OUTSIDE_PREFIX, parse_str);
    let long_distance_prefix = items.optional(LONG_DIST_PREFIX, parse_str);
    let international_prefix = items.optional(INTERNATIONAL_PREFIX, parse_str);
    let dialing = DialingOptions {
        section: items.info(),
        outside_prefix,
        long_distance_prefix,
        international_prefix,
        other_items: std::mem::take(&mut items.others),
    };
    items.complete.then_some(dialing)
}

fn neotel_options(section: &RawSection, diagnostics: &mut Vec<Diagnostic>) -> Option<NeotelConfigOptions> {
    use names::*;
    let mut items = Items::new(section, (NEOTEL_OPTIONS.0, &NEOTEL_ITEMS), diagnostics);
    let search_type_priority = items.required(SEARCH_TYPE_PRIORITY, parse_str);
    let external_data = items.required(EXTERNAL_DATA, parse_str);
    let default_new_row_data = items.required(DEFAULT_NEW_ROW_DATA, parse_str);
    let allow_categorization = items.required(ALLOW_CATEGORIZATION, parse_bool);
    let allow_click_to_dial_search = items.required(ALLOW_CLICK_TO_DIAL_SEARCH, parse_bool);
    let use_task_description_field = items.required(USE_TASK_DESCRIPTION_FIELD, parse_bool);
    let allow_contact_release = items.required(ALLOW_CONTACT_RELEASE, parse_bool);
    let automatic_contact_release = items.required(AUTOMATIC_CONTACT_RELEASE, parse_str);
    let save_activity_log = items.required(SAVE_ACTIVITY_LOG, parse_bool);
    let allow_text_message = items.required(ALLOW_TEXT_MESSAGE, parse_bool);
    let campaign_entity_name = items.required(CAMPAIGN_ENTITY_NAME, parse_str);
    Some(NeotelConfigOptions {
        section: items.info(),
        search_type_priority: search_type_priority?,
        external_data: external_data?,
        default_new_row_data: default_new_row_data?,
        allow_categorization: allow_categorization?,
        allow_click_to_dial_search: allow_click_to_dial_search?,
        use_task_description_field: use_task_description_field?,
        allow_contact_release: allow_contact_release?,
        automatic_contact_release: automatic_contact_release?,
        save_activity_log: save_activity_log?,
        allow_text_message: allow_text_message?,
        campaign_entity_name: campaign_entity_name?,
        other_items: items.others,
    })
}
