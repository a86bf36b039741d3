//! [`CallCenter`] → XML: sections and items in sortOrder order, four-space indentation, text
//! and attributes escaped. Parsing the output gives the same model back.

use std::fmt::Write;

use super::model::names::{self, Known};
use super::model::{CallCenter, Item, OtherItem, SectionInfo};

/// The call-center XML of `call_center`, ready to import into Salesforce.
pub fn render(call_center: &CallCenter) -> String {
    let mut sections = sections(call_center);
    sections.sort_by_key(|s| s.sort_order); // stable: known sections first on a tie
    let mut out = String::from("<callCenter>\n");
    for section in &mut sections {
        section.items.sort_by_key(|i| i.sort_order);
        let section_attributes = attributes(section.sort_order, &section.name, &section.label);
        if section.items.is_empty() {
            let _ = writeln!(out, "    <section {section_attributes}/>");
            continue;
        }
        let _ = writeln!(out, "    <section {section_attributes}>");
        for item in &section.items {
            let _ = writeln!(
                out,
                "        <item {}>{}</item>",
                attributes(item.sort_order, &item.name, &item.label),
                escape_text(&item.value)
            );
        }
        out.push_str("    </section>\n");
    }
    out.push_str("</callCenter>\n");
    out
}

/// A section or item reduced to text, ready to write.
struct Out {
    sort_order: u32,
    name: String,
    label: String,
    value: String,
    items: Vec<Out>,
}

fn item<T>(item: &Item<T>, known: Known, value: impl FnOnce(&T) -> String) -> Out {
    Out {
        sort_order: item.sort_order,
        name: known.0.to_owned(),
        label: item.label.clone(),
        value: value(&item.value),
        items: Vec::new(),
    }
}

fn other(item: &OtherItem) -> Out {
    Out {
        sort_order: item.sort_order,
        name: item.name.clone(),
        label: item.label.clone(),
        value: item.value.clone(),
        items: Vec::new(),
    }
}

fn section(info: &SectionInfo, known: Known, items: Vec<Out>, others: &[OtherItem]) -> Out {
    Out {
        sort_order: info.sort_order,
        name: known.0.to_owned(),
        label: info.label.clone(),
        value: String::new(),
        items: items.into_iter().chain(others.iter().map(other)).collect(),
    }
}

fn sections(cc: &CallCenter) -> Vec<Out> {
    use names::*;
    let text = |s: &dyn std::fmt::Display| s.to_string();
    let g = &cc.general;
    let mut general = vec![
        item(&g.internal_name, INTERNAL_NAME, |v| v.as_str().to_owned()),
        item(&g.display_name, DISPLAY_NAME, |v| v.as_str().to_owned()),
        item(&g.adapter_url, ADAPTER_URL, |v| v.as_url().to_string()),
        item(&g.use_api, USE_API, |v| text(v)),
        item(&g.softphone_height, SOFTPHONE_HEIGHT, |v| text(v)),
        item(&g.softphone_width, SOFTPHONE_WIDTH, |v| text(v)),
        item(&g.compatibility_mode, COMPATIBILITY_MODE, |v| {
            v.as_str().to_owned()
        }),
    ];
    if let Some(standby) = &g.standby {
        general.push(item(&standby.url, STANDBY_URL, |v| v.as_url().to_string()));
        general.push(item(&standby.timeout_ms, TIMEOUT, |v| text(v)));
    }
    let mut out = vec![section(&g.section, GENERAL_INFO, general, &g.other_items)];

    if let Some(d) = &cc.dialing {
        let prefixes = [
            (&d.outside_prefix, OUTSIDE_PREFIX),
            (&d.long_distance_prefix, LONG_DIST_PREFIX),
            (&d.international_prefix, INTERNATIONAL_PREFIX),
        ];
        let items = prefixes
            .into_iter()
            .filter_map(|(p, known)| p.as_ref().map(|p| item(p, known, |v| v.as_str().to_owned())))
            .collect();
        out.push(section(&d.section, DIALING_OPTIONS, items, &d.other_items));
    }

    let o = &cc.options;
    let items = vec![
        item(&o.search_type_priority, SEARCH_TYPE_PRIORITY, |v| text(v)),
        item(&o.external_data, EXTERNAL_DATA, |v| text(v)),
        item(&o.default_new_row_data, DEFAULT_NEW_ROW_DATA, |v| text(v)),
        item(&o.allow_categorization, ALLOW_CATEGORIZATION, |v| text(v)),
        item(&o.allow_click_to_dial_search, ALLOW_CLICK_TO_DIAL_SEARCH, |v| {
            text(v)
        }),
        item(&o.use_task_description_field, USE_TASK_DESCRIPTION_FIELD, |v| {
            text(v)
        }),
        item(&o.allow_contact_release, ALLOW_CONTACT_RELEASE, |v| text(v)),
        item(&o.automatic_contact_release, AUTOMATIC_CONTACT_RELEASE, |v| {
            text(v)
        }),
        item(&o.save_activity_log, SAVE_ACTIVITY_LOG, |v| text(v)),
        item(&o.allow_text_message, ALLOW_TEXT_MESSAGE, |v| text(v)),
        item(&o.campaign_entity_name, CAMPAIGN_ENTITY_NAME, |v| text(v)),
    ];
    out.push(section(&o.section, NEOTEL_OPTIONS, items, &o.other_items));

    for s in &cc.other_sections {
        out.push(Out {
            sort_order: s.sort_order,
            name: s.name.clone(),
            label: s.label.clone(),
            value: String::new(),
            items: s.items.iter().map(other).collect(),
        });
    }
    out
}

fn attributes(sort_order: u32, name: &str, label: &str) -> String {
    format!(
        "sortOrder=\"{sort_order}\" name=\"{}\" label=\"{}\"",
        escape_attribute(name),
        escape_attribute(label)
    )
}

/// Text content: `&` and `<` must be escaped, `>` is for readers; `\r` as a reference because
/// a literal one would be normalized away.
fn escape_text(s: &str) -> String {
    escape(s, false)
}

/// Attribute values also escape `"` and the whitespace that attribute normalization would turn
/// into spaces.
fn escape_attribute(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            '"' if attribute => out.push_str("&quot;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}
