//! The call-center XML: the Neotel manual's file parses with every option typed, broken files
//! give errors at the right line and column, unknown items are warnings that survive render,
//! render → parse is the identity, and the `callcenter validate` / `render` commands behave as
//! documented when run as real processes.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ctibridge::callcenter::values::{
    CampaignEntity, CompatibilityMode, ContactRelease, FieldMappings, NeotelData, SearchEntity,
};
use ctibridge::callcenter::{self, Position, Problem, Severity};
use ctibridge::config::{Config, FlagOverrides};
use figment::providers::Env;

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo_path(&format!("tests/fixtures/callcenter/{name}"))).unwrap()
}

fn at(line: usize, column: usize) -> Option<Position> {
    Some(Position { line, column })
}

/// Loads a configuration file with no environment variables in play.
fn load_config(path: &Path) -> Result<Config, String> {
    Config::load_from(
        Some(path),
        Env::prefixed("CTIBRIDGE_CALLCENTER_TESTS_NOTHING_"),
        &FlagOverrides::default(),
    )
    .map_err(|e| e.to_string())
}

fn toml_file(content: &str) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    std::fs::write(file.path(), content).unwrap();
    file
}

#[test]
fn the_manual_xml_parses_with_every_option_typed() {
    let parsed = callcenter::parse(&fixture("neotel-manual.xml")).unwrap();
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let cc = parsed.call_center;

    let g = &cc.general;
    assert_eq!(g.section.label, "General Information");
    assert_eq!(g.section.sort_order, 0);
    assert_eq!(g.internal_name.value.as_str(), "NeotelCTI");
    assert_eq!(g.internal_name.label, "InternalName");
    assert_eq!(g.display_name.value.as_str(), "Neotel CTI");
    assert_eq!(
        g.adapter_url.value.as_url().as_str(),
        "https://demo.neotel.us/Callcenter/OpenCTI/SFOpenCTI.html"
    );
    assert!(g.use_api.value);
    assert_eq!(g.softphone_height.value.get(), 420);
    assert_eq!(g.softphone_width.value.get(), 620);
    assert_eq!(g.compatibility_mode.value, CompatibilityMode::Lightning);
    assert_eq!(g.compatibility_mode.sort_order, 6);
    assert!(g.standby.is_none());
    assert!(cc.dialing.is_none());
    assert!(cc.other_sections.is_empty());

    let o = &cc.options;
    assert_eq!(o.section.label, "Opciones");
    assert_eq!(o.section.sort_order, 1);
    assert!(o.search_type_priority.value.order().is_empty());
    assert_eq!(o.search_type_priority.label, "Prioridad de búsqueda");
    let pairs = |m: &FieldMappings| -> Vec<(String, NeotelData)> {
        m.mappings
            .iter()
            .map(|m| (m.field.as_str().to_owned(), m.data))
            .collect()
    };
    let manual_pairs = vec![
        ("neoContactId__c".to_owned(), NeotelData::ContactId),
        ("neoBaseId__c".to_owned(), NeotelData::ContactBaseId),
        ("neoCrmId__c".to_owned(), NeotelData::CrmId),
    ];
    assert_eq!(pairs(&o.external_data.value), manual_pairs);
    assert!(!o.external_data.value.trailing_separator);
    let mut new_row = manual_pairs.clone();
    new_row.push(("Phone".to_owned(), NeotelData::PhoneNumber));
    assert_eq!(pairs(&o.default_new_row_data.value), new_row);
    assert!(o.default_new_row_data.value.trailing_separator);
    assert!(o.allow_categorization.value);
    assert!(o.allow_click_to_dial_search.value);
    assert!(o.use_task_description_field.value);
    assert!(o.allow_contact_release.value);
    assert_eq!(o.automatic_contact_release.value, ContactRelease::Never);
    assert!(o.save_activity_log.value);
    assert!(!o.allow_text_message.value);
    assert_eq!(o.campaign_entity_name.value, CampaignEntity::Disabled);
    assert_eq!(o.campaign_entity_name.sort_order, 10);
    assert_eq!(
        o.campaign_entity_name.label,
        "Permite asociar un id de campaña a un objeto de Salesforce."
    );
    assert!(o.other_items.is_empty());
}

#[test]
fn rendering_the_manual_xml_keeps_its_labels_values_and_sort_orders() {
    let cc = callcenter::parse(&fixture("neotel-manual.xml"))
        .unwrap()
        .call_center;
    let xml = callcenter::render(&cc);
    assert!(xml.contains(
        r#"<item sortOrder="2" name="defaultNewRowData" label="Datos default para nuevos Registros">neoContactId__c-contactId|neoBaseId__c-contactBaseId|neoCrmId__c-crmId|Phone-phoneNumber|</item>"#
    ), "{xml}");
    assert!(
        xml.contains(
            r#"<item sortOrder="0" name="searchTypePriority" label="Prioridad de búsqueda"></item>"#
        )
    );
    assert_eq!(callcenter::parse(xml.as_bytes()).unwrap().call_center, cc);
}

#[test]
fn the_shipped_file_is_valid_and_is_what_render_produces_from_the_shipped_config() {
    let shipped = std::fs::read_to_string(repo_path("callcenter-xml/ctibridge.xml")).unwrap();
    let parsed = callcenter::parse(shipped.as_bytes()).unwrap();
    assert!(parsed.warnings.is_empty());
    let cc = &parsed.call_center;
    assert_eq!(cc.general.internal_name.value.as_str(), "ctibridge");
    assert_eq!(
        cc.general.adapter_url.value.as_url().as_str(),
        "https://ctibridge.example.com/softphone/"
    );
    let config = load_config(&repo_path("callcenter-xml/ctibridge.toml")).unwrap();
    let rendered = callcenter::render(
        &config
            .callcenter
            .call_center(config.server.public_url.as_ref())
            .unwrap(),
    );
    assert_eq!(rendered, shipped);
}

/// `(fixture, position, words the message must contain)` for each broken variant.
const BROKEN: &[(&str, (usize, usize), &str)] = &[
    (
        "http-adapter-url.xml",
        (5, 9),
        r#"item reqAdapterUrl must be an https URL, got "http://ctibridge.example.com/softphone/""#,
    ),
    (
        "truncated.xml",
        (14, 1),
        "<section> is not closed (opened at line 11, column 5)",
    ),
    ("mismatched-end-tag.xml", (10, 5), "malformed XML"),
    (
        "wrong-root.xml",
        (1, 1),
        "the root element must be <callCenter>, got <callCentre>",
    ),
    (
        "duplicate-item.xml",
        (5, 9),
        "item reqDisplayName appears twice in section reqGeneralInfo (first at line 4, column 9)",
    ),
    (
        "duplicate-section.xml",
        (24, 5),
        "section reqGeneralInfo appears twice (first at line 2, column 5)",
    ),
    (
        "non-numeric-size.xml",
        (7, 9),
        r#"item reqSoftphoneHeight must be a whole number greater than 0, got "420px""#,
    ),
    (
        "unknown-neotel-name.xml",
        (13, 9),
        r#"item externalData has unknown Neotel data "phone""#,
    ),
    (
        "missing-items.xml",
        (2, 5),
        "section reqGeneralInfo is missing item reqAdapterUrl",
    ),
    ("doctype.xml", (2, 1), "DOCTYPE declarations are not accepted"),
    ("unknown-entity.xml", (4, 81), "unknown entity &nbsp;"),
    (
        "unpaired-standby.xml",
        (10, 9),
        "item reqStandbyUrl is set without reqTimeout",
    ),
    (
        "bad-sort-order.xml",
        (6, 9),
        r#"<item> attribute sortOrder must be a whole number ≥ 0, got "third""#,
    ),
];

#[test]
fn each_broken_variant_gives_its_error_at_the_right_line_and_column() {
    for &(name, (line, column), words) in BROKEN {
        let err = callcenter::parse(&fixture(name)).expect_err(name);
        let first = err.errors().next().expect(name);
        assert_eq!(first.position, at(line, column), "{name}: {first}");
        let message = first.to_string();
        assert!(
            message.starts_with(&format!("line {line}, column {column}: ")),
            "{name}: {message}"
        );
        assert!(message.contains(words), "{name}: {message}");
    }
}

#[test]
fn every_missing_item_is_reported_not_only_the_first() {
    let err = callcenter::parse(&fixture("missing-items.xml")).unwrap_err();
    let messages: Vec<String> = err.errors().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            "line 2, column 5: section reqGeneralInfo is missing item reqAdapterUrl",
            "line 10, column 5: section neotelConfigOptions is missing item allowTextMessage",
        ]
    );
}

#[test]
fn unknown_sections_and_items_are_warnings_and_survive_render() {
    let parsed = callcenter::parse(&fixture("unknown-items.xml")).unwrap();
    let warnings: Vec<String> = parsed.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "line 23, column 9: unknown item vendorHint in section neotelConfigOptions; it is kept as it is",
            "line 25, column 5: unknown section customSettings; it is kept as it is",
        ]
    );
    assert!(parsed.warnings.iter().all(|w| w.severity == Severity::Warning));
    let cc = parsed.call_center;
    assert_eq!(cc.options.other_items[0].value, "keep & me");
    assert_eq!(cc.other_sections[0].items[0].name, "colour");

    let xml = callcenter::render(&cc);
    assert!(
        xml.contains(r#"<item sortOrder="11" name="vendorHint" label="Vendor hint">keep &amp; me</item>"#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<section sortOrder="2" name="customSettings" label="Custom">"#),
        "{xml}"
    );
    let again = callcenter::parse(xml.as_bytes()).unwrap();
    assert_eq!(again.call_center, cc);
    assert_eq!(again.warnings.len(), 2);
}

#[test]
fn a_name_that_differs_only_in_case_gets_a_hint() {
    let xml = String::from_utf8(fixture("unknown-items.xml"))
        .unwrap()
        .replace("vendorHint", "allowtextmessage");
    let parsed = callcenter::parse(xml.as_bytes()).unwrap();
    assert!(parsed.warnings.iter().any(|d| d.to_string().contains(
        "unknown item allowtextmessage in section neotelConfigOptions (did you mean allowTextMessage?)"
    )));
}

#[test]
fn entities_character_references_and_cdata_are_decoded_and_escaped_back() {
    let cc = callcenter::parse(&fixture("entities.xml")).unwrap().call_center;
    assert_eq!(
        cc.general.display_name.value.as_str(),
        r#"Acme & Sons <CTI> é中 "q" 'a' <raw & cdata>"#
    );
    assert_eq!(cc.general.display_name.label, r#"Display "Name" & co"#);
    let xml = callcenter::render(&cc);
    assert!(xml.contains(
        r#"label="Display &quot;Name&quot; &amp; co">Acme &amp; Sons &lt;CTI&gt; é中 "q" 'a' &lt;raw &amp; cdata&gt;</item>"#
    ), "{xml}");
    assert_eq!(callcenter::parse(xml.as_bytes()).unwrap().call_center, cc);
}

/// The first error of `input`.
fn first_error(input: &[u8]) -> (Option<Position>, Problem) {
    let err = callcenter::parse(input).unwrap_err();
    let first = err.errors().next().unwrap().clone();
    (first.position, first.problem)
}

fn shipped() -> String {
    std::fs::read_to_string(repo_path("callcenter-xml/ctibridge.xml")).unwrap()
}

/// The shipped file with one item's value replaced.
fn with_value(item: &str, value: &str) -> String {
    let xml = shipped();
    let start = xml.find(&format!("name=\"{item}\"")).unwrap();
    let open = start + xml[start..].find('>').unwrap() + 1;
    let close = open + xml[open..].find("</item>").unwrap();
    format!("{}{value}{}", &xml[..open], &xml[close..])
}

#[test]
fn item_values_are_checked_against_their_type() {
    let cases = [
        (
            "reqInternalName",
            "cti_bridge",
            "must be 1 to 40 letters and digits starting with a letter",
        ),
        ("reqInternalName", &"a".repeat(41), "must be 1 to 40 letters"),
        ("reqDisplayName", "   ", "must not be empty"),
        ("reqUseApi", "yes", "must be true or false"),
        ("reqSoftphoneWidth", "0", "must be a whole number greater than 0"),
        ("reqSoftphoneWidth", "-5", "must be a whole number greater than 0"),
        (
            "reqSalesforceCompatibilityMode",
            "Classic",
            "must be Lightning or Classic_and_Lightning",
        ),
        ("searchTypePriority", "Contact|Contact", "must not repeat Contact"),
        ("searchTypePriority", "Contact|Case", "\"Case\" is not one"),
        ("externalData", "Phone", "\"Phone\" has no -"),
        (
            "externalData",
            "9Phone-phoneNumber",
            "not a Salesforce field API name",
        ),
        ("defaultNewRowData", "Phone-phoneNumber||", "\"\" has no -"),
        ("allowCategorization", "TRUE", "must be true or false"),
        (
            "automaticContactRelease",
            "-2",
            "must be -1 (never) or a number of seconds",
        ),
        (
            "automaticContactRelease",
            "ten",
            "must be -1 (never) or a number of seconds",
        ),
        (
            "campaignEntityName",
            "true",
            "must be false or an sObject API name",
        ),
    ];
    for (item, value, words) in cases {
        let (position, problem) = first_error(with_value(item, value).as_bytes());
        let message = problem.to_string();
        assert!(
            message.starts_with(&format!("item {item} ")),
            "{item}={value}: {message}"
        );
        assert!(message.contains(words), "{item}={value}: {message}");
        assert_eq!(
            position.unwrap().column,
            9,
            "{item}={value}: errors point at the <item>"
        );
    }
}

#[test]
fn typed_values_ignore_surrounding_whitespace() {
    let xml = with_value("reqSoftphoneHeight", "\n   500\n  ");
    let cc = callcenter::parse(xml.as_bytes()).unwrap().call_center;
    assert_eq!(cc.general.softphone_height.value.get(), 500);
}

#[test]
fn optional_items_are_typed_when_present() {
    let xml = shipped()
        .replace(
            "Lightning</item>\n",
            "Classic_and_Lightning</item>\n        <item sortOrder=\"7\" name=\"reqStandbyUrl\" label=\"Standby URL\">https://standby.example.com/</item>\n        <item sortOrder=\"8\" name=\"reqTimeout\" label=\"Timeout\">5000</item>\n",
        )
        .replace(
            "    <section sortOrder=\"1\" name=\"neotelConfigOptions\"",
            "    <section sortOrder=\"2\" name=\"reqDialingOptions\" label=\"Dialing Options\">\n        <item sortOrder=\"0\" name=\"reqOutsidePrefix\" label=\"Outside Prefix\">9</item>\n        <item sortOrder=\"2\" name=\"reqInternationalPrefix\" label=\"International Prefix\">00</item>\n    </section>\n    <section sortOrder=\"1\" name=\"neotelConfigOptions\"",
        )
        .replace(">-1<", ">30<")
        .replace(r#"label="Search priority when several records match (Contact|Account|Lead|Opportunity|Company)"></item>"#, r#"label="p">Lead|Contact</item>"#)
        .replace(">false</item>\n    </section>\n</callCenter>", ">Campaign__c</item>\n    </section>\n</callCenter>");
    let cc = callcenter::parse(xml.as_bytes()).unwrap().call_center;
    assert_eq!(
        cc.general.compatibility_mode.value,
        CompatibilityMode::ClassicAndLightning
    );
    let standby = cc.general.standby.as_ref().unwrap();
    assert_eq!(
        standby.url.value.as_url().as_str(),
        "https://standby.example.com/"
    );
    assert_eq!(standby.timeout_ms.value, NonZeroU32::new(5000).unwrap());
    let dialing = cc.dialing.as_ref().unwrap();
    assert_eq!(dialing.outside_prefix.as_ref().unwrap().value.as_str(), "9");
    assert!(dialing.long_distance_prefix.is_none());
    assert_eq!(
        dialing.international_prefix.as_ref().unwrap().value.as_str(),
        "00"
    );
    assert_eq!(
        cc.options.automatic_contact_release.value,
        ContactRelease::AfterSeconds(30)
    );
    assert_eq!(
        cc.options.search_type_priority.value.order(),
        [SearchEntity::Lead, SearchEntity::Contact]
    );
    assert_eq!(
        cc.options.campaign_entity_name.value,
        CampaignEntity::SObject("Campaign__c".into())
    );
    // Sections come back in sortOrder order.
    let xml = callcenter::render(&cc);
    let neotel = xml.find("neotelConfigOptions").unwrap();
    assert!(neotel < xml.find("reqDialingOptions").unwrap(), "{xml}");
    assert_eq!(callcenter::parse(xml.as_bytes()).unwrap().call_center, cc);
}

#[test]
fn bad_input_is_reported_never_a_panic() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (Vec::new(), "the file has no <callCenter> element"),
        (b"   \n  ".to_vec(), "the file has no <callCenter> element"),
        (b"\x00\x01\x02\xff\xfe garbage".to_vec(), "not UTF-8"),
        (b"<callCenter>\x01</callCenter>".to_vec(), "character U+0001 is not allowed"),
        (b"<callCenter><section".to_vec(), "malformed XML"),
        (b"<callCenter><section sortOrder=\"0\" name=\"x\" label=\"y\">".to_vec(), "<section> is not closed"),
        (b"<callCenter>".to_vec(), "<callCenter> is not closed"),
        (b"<callCenter/>".to_vec(), "section reqGeneralInfo is missing"),
        (b"<callCenter></callCenter><callCenter/>".to_vec(), "after the end of <callCenter>"),
        (b"<callCenter>hello</callCenter>".to_vec(), "text \"hello\" is not expected here"),
        (b"<callCenter><item/></callCenter>".to_vec(), "<item> is not expected inside <callCenter>"),
        (
            b"<callCenter><section sortOrder=\"0\" name=\"reqGeneralInfo\" label=\"g\"><item sortOrder=\"0\" name=\"reqInternalName\" label=\"n\"><b>x</b></item></section></callCenter>".to_vec(),
            "<b> is not expected inside <item>",
        ),
        (b"<callCenter><section name=\"x\" label=\"y\"/></callCenter>".to_vec(), "<section> is missing the attribute sortOrder"),
        (b"<callCenter><section sortOrder=\"0\" label=\"y\"/></callCenter>".to_vec(), "<section> is missing the attribute name"),
        (b"<callCenter><section sortOrder=\"0\" name=\"x\" label=\"y\" colour=\"red\"/></callCenter>".to_vec(), "unexpected attribute colour"),
        (b"<callCenter><section sortOrder=\"0\" sortOrder=\"1\" name=\"x\" label=\"y\"/></callCenter>".to_vec(), "malformed attribute"),
        (b"<callCenter><section sortOrder=\"0\" name=\"x&bogus;\" label=\"y\"/></callCenter>".to_vec(), "malformed attribute"),
        (b"<callCenter>&amp</callCenter>".to_vec(), "malformed XML"),
        (b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><callCenter/>".to_vec(), "only UTF-8 files are accepted"),
        (b"<callCenter><section sortOrder=\"1\" name=\"reqGeneralInfo\" label=\"g\"/></callCenter>".to_vec(), "section reqGeneralInfo must have sortOrder 0"),
    ];
    for (input, words) in cases {
        let err = callcenter::parse(&input).unwrap_err();
        let messages: Vec<String> = err.errors().map(ToString::to_string).collect();
        assert!(
            messages.iter().any(|m| m.contains(words)),
            "{:?}: expected {words:?} in {messages:?}",
            String::from_utf8_lossy(&input)
        );
    }
}

#[test]
fn invalid_utf8_is_located() {
    let (position, problem) = first_error(b"<callCenter>\n  <section>\xC3(</section>");
    assert_eq!(problem, Problem::NotUtf8);
    assert_eq!(position, at(2, 12));
}

#[test]
fn a_byte_order_mark_and_an_xml_declaration_are_accepted() {
    let xml = format!(
        "\u{FEFF}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}",
        shipped()
    );
    assert!(callcenter::parse(xml.as_bytes()).is_ok());
}

#[test]
fn files_over_the_size_limit_are_refused_before_parsing() {
    let mut huge = shipped().into_bytes();
    huge.resize(10 * 1024 * 1024, b' ');
    let err = callcenter::parse(&huge).unwrap_err();
    assert_eq!(err.diagnostics.len(), 1);
    assert_eq!(
        err.diagnostics[0].problem,
        Problem::TooLarge {
            size: 10 * 1024 * 1024,
            limit: callcenter::MAX_FILE_SIZE
        }
    );
    assert!(err.to_string().contains("limited to 1048576 bytes"));
}

#[test]
fn random_bytes_never_panic() {
    use proptest::prelude::*;
    let mut runner = proptest::test_runner::TestRunner::default();
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..400), |bytes| {
            let _ = callcenter::check(&bytes);
            Ok(())
        })
        .unwrap();
    // Mutations of a valid file hit the deeper states.
    let base = shipped().into_bytes();
    runner
        .run(&(0..base.len(), 0..base.len(), any::<u8>()), |(cut, at, byte)| {
            let mut bytes = base.clone();
            bytes[at] = byte;
            bytes.truncate(cut.max(at));
            let _ = callcenter::check(&bytes);
            Ok(())
        })
        .unwrap();
}

mod config {
    use super::*;

    #[test]
    fn callcenter_keys_load_from_the_configuration_file() {
        let file = toml_file(
            "[callcenter]\ninternal_name = \"acme\"\nadapter_url = \"https://cti.acme.com/adapter/\"\nsoftphone_height = 500\nsearch_type_priority = \"Account|Contact\"\nexternal_data = \"Origin__c-callCampaing|\"\nautomatic_contact_release = 15\ncampaign_entity_name = \"Campaign\"\nstandby_url = \"https://standby.acme.com/\"\nstandby_timeout_ms = 3000\noutside_prefix = \"0\"\n",
        );
        let config = load_config(file.path()).unwrap();
        let cc = config.callcenter.call_center(None).unwrap();
        assert_eq!(cc.general.internal_name.value.as_str(), "acme");
        assert_eq!(
            cc.general.adapter_url.value.as_url().as_str(),
            "https://cti.acme.com/adapter/"
        );
        assert_eq!(cc.general.softphone_height.value.get(), 500);
        assert_eq!(cc.general.softphone_width.value.get(), 620, "default");
        assert_eq!(
            cc.options.search_type_priority.value.order(),
            [SearchEntity::Account, SearchEntity::Contact]
        );
        assert_eq!(
            cc.options.external_data.value.to_string(),
            "Origin__c-callCampaing|"
        );
        assert_eq!(
            cc.options.automatic_contact_release.value,
            ContactRelease::AfterSeconds(15)
        );
        assert_eq!(
            cc.options.campaign_entity_name.value,
            CampaignEntity::SObject("Campaign".into())
        );
        assert_eq!(cc.general.standby.as_ref().unwrap().timeout_ms.value.get(), 3000);
        assert_eq!(cc.dialing.as_ref().unwrap().section.sort_order, 1);
        assert_eq!(cc.options.section.sort_order, 2);
        // What render writes parses back to the same model.
        let xml = callcenter::render(&cc);
        assert_eq!(callcenter::parse(xml.as_bytes()).unwrap().call_center, cc);
    }

    #[test]
    fn a_bad_callcenter_value_fails_loading_and_names_the_key() {
        let cases = [
            (
                "adapter_url = \"http://cti.acme.com/\"",
                "callcenter.adapter_url",
                "https",
            ),
            (
                "internal_name = \"acme corp\"",
                "callcenter.internal_name",
                "letters and digits",
            ),
            (
                "external_data = \"Phone-phone\"",
                "callcenter.external_data",
                "unknown Neotel data",
            ),
            (
                "search_type_priority = \"Case\"",
                "callcenter.search_type_priority",
                "Contact|Account",
            ),
            ("softphone_width = 0", "callcenter.softphone_width", ""),
            (
                "automatic_contact_release = -7",
                "callcenter.automatic_contact_release",
                "-1 (never)",
            ),
            (
                "campaign_entity_name = true",
                "callcenter.campaign_entity_name",
                "sObject",
            ),
            (
                "compatibility_mode = \"Classic\"",
                "callcenter.compatibility_mode",
                "Lightning",
            ),
            ("colour = \"blue\"", "colour", "unknown field"),
        ];
        for (line, key, words) in cases {
            let file = toml_file(&format!("[callcenter]\n{line}\n"));
            let err = load_config(file.path()).unwrap_err();
            assert!(err.contains(key), "{line}: {err}");
            assert!(err.contains(words), "{line}: {err}");
        }
    }

    #[test]
    fn campaign_entity_name_accepts_false_as_a_boolean_or_a_string() {
        for value in ["false", "\"false\""] {
            let file = toml_file(&format!("[callcenter]\ncampaign_entity_name = {value}\n"));
            let config = load_config(file.path()).unwrap();
            assert_eq!(config.callcenter.campaign_entity_name, CampaignEntity::Disabled);
        }
    }

    #[test]
    fn the_example_configuration_documents_the_defaults() {
        let config = load_config(&repo_path("ctibridge.example.toml")).unwrap();
        let defaults = ctibridge::callcenter::DeploymentConfig::default();
        let public = url::Url::parse("https://cti.example.com").unwrap();
        assert_eq!(
            config.callcenter.call_center(Some(&public)).unwrap(),
            defaults.call_center(Some(&public)).unwrap()
        );
    }
}

mod roundtrip {
    //! render → parse gives back the model, for arbitrary valid models.

    use std::num::NonZeroU32;

    use ctibridge::callcenter::values::{
        CampaignEntity, CompatibilityMode, ContactRelease, DialPrefix, DisplayName, FieldApiName,
        FieldMapping, FieldMappings, HttpsUrl, InternalName, NeotelData, SearchEntity, SearchTypePriority,
    };
    use ctibridge::callcenter::{
        self, CallCenter, DialingOptions, GeneralInfo, Item, NeotelConfigOptions, OtherItem, OtherSection,
        SectionInfo, Standby,
    };
    use proptest::prelude::*;

    /// Text with the characters that need escaping, non-ASCII and whitespace.
    fn tricky_text() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9 &<>\"'=/;#ñé中😀\t\n\r]{0,24}"
    }

    fn item<T: std::fmt::Debug>(value: impl Strategy<Value = T>) -> impl Strategy<Value = Item<T>> {
        (value, tricky_text(), 0u32..1000).prop_map(|(value, label, sort_order)| Item {
            value,
            label,
            sort_order,
        })
    }

    fn section_info(sort_order: impl Strategy<Value = u32>) -> impl Strategy<Value = SectionInfo> {
        (tricky_text(), sort_order).prop_map(|(label, sort_order)| SectionInfo { label, sort_order })
    }

    /// Unknown items with unique names none of which is a known item, in sortOrder order.
    fn other_items() -> impl Strategy<Value = Vec<OtherItem>> {
        proptest::collection::vec(
            ("[a-zA-Z0-9]{0,8}", tricky_text(), 0u32..1000, tricky_text()),
            0..4,
        )
        .prop_map(|items| {
            let mut items: Vec<OtherItem> = items
                .into_iter()
                .enumerate()
                .map(|(i, (name, label, sort_order, value))| OtherItem {
                    name: format!("x{i}{name}"),
                    label,
                    sort_order,
                    value,
                })
                .collect();
            items.sort_by_key(|i| i.sort_order);
            items
        })
    }

    fn url() -> impl Strategy<Value = HttpsUrl> {
        "https://[a-z]{1,10}\\.example\\.com/[a-z0-9/._-]{0,20}".prop_map(|s| s.parse().unwrap())
    }

    fn positive() -> impl Strategy<Value = NonZeroU32> {
        (1u32..=u32::MAX).prop_map(|n| NonZeroU32::new(n).unwrap())
    }

    fn mappings() -> impl Strategy<Value = FieldMappings> {
        let pair = (
            "[A-Za-z][A-Za-z0-9]{0,10}(__c)?",
            proptest::sample::select(NeotelData::ALL.to_vec()),
        );
        (proptest::collection::vec(pair, 0..5), any::<bool>()).prop_map(|(pairs, trailing)| {
            let mut mappings: Vec<FieldMapping> = Vec::new();
            for (field, data) in pairs {
                let field = FieldApiName::parse(&field).unwrap();
                if mappings.iter().all(|m| m.field != field) {
                    mappings.push(FieldMapping { field, data });
                }
            }
            FieldMappings::new(mappings, trailing).unwrap()
        })
    }

    fn general() -> impl Strategy<Value = GeneralInfo> {
        let names = (
            item("[A-Za-z][A-Za-z0-9]{0,39}".prop_map(|s| s.parse::<InternalName>().unwrap())),
            item(
                "[a-zA-Z0-9 &<>\"'ñé中😀]{0,20}"
                    .prop_filter("not blank", |s| !s.trim().is_empty())
                    .prop_map(|s| s.parse::<DisplayName>().unwrap()),
            ),
            item(url()),
            item(any::<bool>()),
        );
        let sizes = (
            item(positive()),
            item(positive()),
            item(prop_oneof![
                Just(CompatibilityMode::Lightning),
                Just(CompatibilityMode::ClassicAndLightning)
            ]),
            proptest::option::of(
                (item(url()), item(positive())).prop_map(|(url, timeout_ms)| Standby { url, timeout_ms }),
            ),
        );
        (section_info(Just(0)), names, sizes, other_items()).prop_map(
            |(
                section,
                (internal_name, display_name, adapter_url, use_api),
                (softphone_height, softphone_width, compatibility_mode, standby),
                other_items,
            )| {
                GeneralInfo {
                    section,
                    internal_name,
                    display_name,
                    adapter_url,
                    use_api,
                    softphone_height,
                    softphone_width,
                    compatibility_mode,
                    standby,
                    other_items,
                }
            },
        )
    }

    fn dialing() -> impl Strategy<Value = DialingOptions> {
        let prefix = || {
            proptest::option::of(item(
                "[0-9+*#]{0,5}".prop_map(|s| s.parse::<DialPrefix>().unwrap()),
            ))
        };
        (
            section_info(0u32..10),
            prefix(),
            prefix(),
            prefix(),
            other_items(),
        )
            .prop_map(
                |(section, outside_prefix, long_distance_prefix, international_prefix, other_items)| {
                    DialingOptions {
                        section,
                        outside_prefix,
                        long_distance_prefix,
                        international_prefix,
                        other_items,
                    }
                },
            )
    }

    fn options() -> impl Strategy<Value = NeotelConfigOptions> {
        let priority = proptest::sample::subsequence(SearchEntity::ALL.to_vec(), 0..=5)
            .prop_shuffle()
            .prop_map(|order| SearchTypePriority::new(order).unwrap());
        let release = prop_oneof![
            Just(ContactRelease::Never),
            any::<u32>().prop_map(ContactRelease::AfterSeconds)
        ];
        let campaign = prop_oneof![
            Just(CampaignEntity::Disabled),
            "[A-Z][A-Za-z0-9]{0,10}(__c)?".prop_map(CampaignEntity::SObject)
        ];
        let data = (item(priority), item(mappings()), item(mappings()));
        let flags = (
            item(any::<bool>()),
            item(any::<bool>()),
            item(any::<bool>()),
            item(any::<bool>()),
            item(any::<bool>()),
            item(any::<bool>()),
        );
        (
            section_info(0u32..10),
            data,
            flags,
            item(release),
            item(campaign),
            other_items(),
        )
            .prop_map(
                |(
                    section,
                    (search_type_priority, external_data, default_new_row_data),
                    (
                        allow_categorization,
                        allow_click_to_dial_search,
                        use_task_description_field,
                        allow_contact_release,
                        save_activity_log,
                        allow_text_message,
                    ),
                    automatic_contact_release,
                    campaign_entity_name,
                    other_items,
                )| NeotelConfigOptions {
                    section,
                    search_type_priority,
                    external_data,
                    default_new_row_data,
                    allow_categorization,
                    allow_click_to_dial_search,
                    use_task_description_field,
                    allow_contact_release,
                    automatic_contact_release,
                    save_activity_log,
                    allow_text_message,
                    campaign_entity_name,
                    other_items,
                },
            )
    }

    fn other_sections() -> impl Strategy<Value = Vec<OtherSection>> {
        proptest::collection::vec(("[a-zA-Z0-9]{0,8}", tricky_text(), 0u32..10, other_items()), 0..3)
            .prop_map(|sections| {
                let mut sections: Vec<OtherSection> = sections
                    .into_iter()
                    .enumerate()
                    .map(|(i, (name, label, sort_order, items))| OtherSection {
                        name: format!("xs{i}{name}"),
                        label,
                        sort_order,
                        items,
                    })
                    .collect();
                sections.sort_by_key(|s| s.sort_order);
                sections
            })
    }

    fn call_center() -> impl Strategy<Value = CallCenter> {
        (
            general(),
            proptest::option::of(dialing()),
            options(),
            other_sections(),
        )
            .prop_map(|(general, dialing, options, other_sections)| CallCenter {
                general,
                dialing,
                options,
                other_sections,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn render_then_parse_gives_the_same_model(cc in call_center()) {
            let xml = callcenter::render(&cc);
            let parsed = callcenter::parse(xml.as_bytes());
            prop_assert!(parsed.is_ok(), "{:?}\n{}", parsed.err(), xml);
            let parsed = parsed.unwrap();
            prop_assert_eq!(&parsed.call_center, &cc, "{}", xml);
            let unknown = cc.general.other_items.len()
                + cc.dialing.as_ref().map_or(0, |d| d.other_items.len())
                + cc.options.other_items.len()
                + cc.other_sections.len();
            prop_assert_eq!(parsed.warnings.len(), unknown);
            // Rendering is stable.
            prop_assert_eq!(callcenter::render(&parsed.call_center), xml);
        }
    }
}

mod command {
    //! `ctibridge callcenter validate` / `render` as real processes.

    use super::*;

    fn ctibridge(args: &[&str]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ctibridge"));
        command.args(args);
        // Configuration comes only from the files the tests name.
        for (key, _) in std::env::vars() {
            if key.starts_with("CTIBRIDGE_") {
                command.env_remove(key);
            }
        }
        command.output().unwrap()
    }

    fn all_output(output: &Output) -> String {
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }

    fn path_str(path: &Path) -> &str {
        path.to_str().unwrap()
    }

    #[test]
    fn validate_accepts_the_manual_xml_and_prints_its_sections_and_items() {
        let file = repo_path("tests/fixtures/callcenter/neotel-manual.xml");
        let output = ctibridge(&["callcenter", "validate", path_str(&file)]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{}", all_output(&output));
        assert!(
            stdout.contains("section neotelConfigOptions \"Opciones\""),
            "{stdout}"
        );
        assert!(
            stdout.contains("reqAdapterUrl = \"https://demo.neotel.us/Callcenter/OpenCTI/SFOpenCTI.html\""),
            "{stdout}"
        );
        assert!(stdout.contains("automaticContactRelease = \"-1\""), "{stdout}");
        assert!(stdout.trim_end().ends_with("valid (0 warnings)"), "{stdout}");
    }

    #[test]
    fn validate_passes_a_file_with_warnings_and_lists_them() {
        let file = repo_path("tests/fixtures/callcenter/unknown-items.xml");
        let output = ctibridge(&["callcenter", "validate", path_str(&file)]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{}", all_output(&output));
        assert!(
            stdout.contains("warnings:\n  line 23, column 9: unknown item vendorHint"),
            "{stdout}"
        );
        assert!(stdout.contains("valid (2 warnings)"), "{stdout}");
    }

    #[test]
    fn validate_exits_2_with_the_error_and_its_position_on_broken_files() {
        for &(name, (line, column), words) in BROKEN {
            let file = repo_path(&format!("tests/fixtures/callcenter/{name}"));
            let output = ctibridge(&["callcenter", "validate", path_str(&file)]);
            let text = all_output(&output);
            assert_eq!(output.status.code(), Some(2), "{name}: {text}");
            assert!(
                text.contains(&format!("line {line}, column {column}: ")),
                "{name}: {text}"
            );
            assert!(text.contains(words), "{name}: {text}");
            assert!(
                text.contains("is not a valid call-center definition"),
                "{name}: {text}"
            );
        }
    }

    #[test]
    fn validate_refuses_a_10_mib_file_without_reading_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("huge.xml");
        let handle = std::fs::File::create(&file).unwrap();
        handle.set_len(10 * 1024 * 1024).unwrap();
        let output = ctibridge(&["callcenter", "validate", path_str(&file)]);
        let text = all_output(&output);
        assert_eq!(output.status.code(), Some(2), "{text}");
        assert!(
            text.contains("the file is 10485760 bytes; call-center definitions are limited to 1048576 bytes"),
            "{text}"
        );
    }

    #[test]
    fn validate_refuses_a_binary_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("binary.xml");
        let bytes: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        std::fs::write(&file, bytes).unwrap();
        let output = ctibridge(&["callcenter", "validate", path_str(&file)]);
        let text = all_output(&output);
        assert_eq!(output.status.code(), Some(2), "{text}");
        assert!(text.contains("errors:\n  line 1, column "), "{text}");
    }

    #[test]
    fn validate_exits_2_when_the_file_cannot_be_read() {
        let output = ctibridge(&["callcenter", "validate", "/nonexistent/callcenter.xml"]);
        let text = all_output(&output);
        assert_eq!(output.status.code(), Some(2), "{text}");
        assert!(
            text.contains("/nonexistent/callcenter.xml: cannot read"),
            "{text}"
        );
    }

    #[test]
    fn render_writes_the_shipped_file_from_the_shipped_configuration() {
        let config = repo_path("callcenter-xml/ctibridge.toml");
        let output = ctibridge(&["--config", path_str(&config), "callcenter", "render"]);
        assert_eq!(output.status.code(), Some(0), "{}", all_output(&output));
        let shipped = std::fs::read(repo_path("callcenter-xml/ctibridge.xml")).unwrap();
        assert!(
            output.stdout == shipped,
            "render output differs from callcenter-xml/ctibridge.xml"
        );

        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.xml");
        let output = ctibridge(&[
            "--config",
            path_str(&config),
            "callcenter",
            "render",
            "--output",
            path_str(&out),
        ]);
        assert_eq!(output.status.code(), Some(0), "{}", all_output(&output));
        assert!(output.stdout.is_empty());
        assert_eq!(std::fs::read(&out).unwrap(), shipped);
    }

    #[test]
    fn render_exits_2_when_no_adapter_url_can_be_derived() {
        let file = toml_file("[callcenter]\ninternal_name = \"acme\"\n");
        let output = ctibridge(&["--config", path_str(file.path()), "callcenter", "render"]);
        let text = all_output(&output);
        assert_eq!(output.status.code(), Some(2), "{text}");
        assert!(
            text.contains("callcenter.adapter_url") && text.contains("server.public_url"),
            "{text}"
        );
        assert!(output.stdout.is_empty());
    }

    #[test]
    fn render_exits_2_on_a_bad_callcenter_key() {
        let file = toml_file(
            "[server]\npublic_url = \"https://cti.acme.com\"\n[callcenter]\nexternal_data = \"Phone-phone\"\n",
        );
        let output = ctibridge(&["--config", path_str(file.path()), "callcenter", "render"]);
        let text = all_output(&output);
        assert_eq!(output.status.code(), Some(2), "{text}");
        assert!(text.contains("callcenter.external_data"), "{text}");
        let file = toml_file(
            "[server]\npublic_url = \"https://cti.acme.com\"\n[callcenter]\nstandby_timeout_ms = 100\n",
        );
        let output = ctibridge(&["--config", path_str(file.path()), "callcenter", "render"]);
        let text = all_output(&output);
        assert_eq!(output.status.code(), Some(2), "{text}");
        assert!(
            text.contains("callcenter.standby_url and callcenter.standby_timeout_ms"),
            "{text}"
        );
    }
}
