//! The Salesforce package in `apex/`: every Apex source parses with a real Apex parser
//! (`apex/tools/check-apex.mjs`, `@apexdevtools/apex-parser`), and every metadata XML file is
//! well formed, has the right root element and namespace, and carries what a deployment needs
//! (custom fields complete, permission sets pointing only at what exists, the call center equal
//! to the call-center definition admins import).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

const METADATA_NS: &str = "http://soap.sforce.com/2006/04/metadata";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn source_dir() -> PathBuf {
    repo().join("apex/force-app/main/default")
}

/// Files under `dir` (recursively) whose name ends with `suffix`, sorted.
fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.to_string_lossy().ends_with(suffix) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn relative(path: &Path) -> String {
    path.strip_prefix(repo()).unwrap_or(path).display().to_string()
}

// ---- the Apex parser check ----------------------------------------------------------------

/// Runs `node apex/tools/check-apex.mjs PATH`. Fails (never skips) when Node or the parser
/// package is missing: `tests/run.sh` installs both.
fn check_apex(path: &Path) -> std::process::Output {
    let tools = repo().join("apex/tools");
    assert!(
        tools.join("node_modules/@apexdevtools/apex-parser").is_dir(),
        "the Apex parser is not installed ({} is missing): run `bash tests/run.sh`, which runs \
         `npm ci` in apex/tools",
        relative(&tools.join("node_modules")),
    );
    Command::new("node")
        .arg(tools.join("check-apex.mjs"))
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `node` ({e}): run `bash tests/run.sh`, which installs Node.js")
        })
}

#[test]
fn every_apex_source_parses() {
    let classes = files_ending(&source_dir(), ".cls");
    assert!(!classes.is_empty(), "no .cls file under apex/force-app");
    let output = check_apex(&repo().join("apex/force-app"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "Apex syntax errors:\n{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let sources = classes.len() + files_ending(&source_dir(), ".trigger").len();
    assert_eq!(stdout.trim(), format!("checked {sources} Apex files"));
}

#[test]
fn an_apex_syntax_error_is_reported_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("Broken.cls");
    std::fs::write(
        &broken,
        "public with sharing class Broken {\n    public static Integer twice(Integer n) {\n        return n * ;\n    }\n}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("Fine.cls"), "public class Fine {}\n").unwrap();

    let output = check_apex(dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("{}:3:20: ", broken.display())),
        "want `Broken.cls:3:20: <parser message>`, got: {stderr}"
    );
    assert!(stderr.contains("syntax errors in 1 of 2 Apex files"), "{stderr}");
}

#[test]
fn triggers_are_parsed_as_triggers() {
    let dir = tempfile::tempdir().unwrap();
    let trigger = dir.path().join("CallLog.trigger");
    std::fs::write(
        &trigger,
        "trigger CallLog on Task (before insert) {\n    for (Task t : Trigger.new) { t.Subject = 'Call'; }\n}\n",
    )
    .unwrap();
    let output = check_apex(dir.path());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The same body is not a class: the trigger grammar was used, not the class one.
    std::fs::write(&trigger, "public class NotATrigger {}\n").unwrap();
    let output = check_apex(dir.path());
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn a_path_without_apex_sources_is_an_error_not_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let output = check_apex(dir.path());
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no .cls or .trigger file"));
}

#[test]
fn the_parser_lock_file_names_only_the_npm_registry() {
    let lock = std::fs::read_to_string(repo().join("apex/tools/package-lock.json")).unwrap();
    let lock: serde_json::Value = serde_json::from_str(&lock).unwrap();
    let packages = lock["packages"]
        .as_object()
        .expect("lockfileVersion 3 `packages`");
    assert!(packages.contains_key("node_modules/@apexdevtools/apex-parser"));
    for (name, package) in packages {
        if let Some(resolved) = package.get("resolved").and_then(|r| r.as_str()) {
            assert!(
                resolved.starts_with("https://registry.npmjs.org/"),
                "{name} resolves to {resolved}"
            );
        }
    }
}

// ---- a small XML tree (quick-xml) ---------------------------------------------------------

#[derive(Debug, Default)]
struct Element {
    name: String,
    namespace: Option<String>,
    attributes: BTreeMap<String, String>,
    children: Vec<Element>,
    text: String,
    line: usize,
}

impl Element {
    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of the child element `name`, trimmed; `None` when there is no such child.
    fn value(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }
}

fn line_column(source: &str, offset: u64) -> (usize, usize) {
    let before = &source[..(offset as usize).min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

/// Parses a whole document into its root element; errors carry `line:column`.
fn parse_xml(source: &str) -> Result<Element, String> {
    let mut reader = NsReader::from_str(source);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let at = reader.buffer_position();
        let event = reader.read_resolved_event().map(|(ns, event)| {
            let ns = match ns {
                ResolveResult::Bound(ns) => Some(ns.as_ref().to_owned()),
                _ => None,
            };
            (ns, event)
        });
        let (namespace, event) = event.map_err(|e| {
            let (line, column) = line_column(source, reader.error_position());
            format!("{line}:{column}: {e}")
        })?;
        let (line, column) = line_column(source, at);
        match event {
            Event::Start(_) | Event::Empty(_) if root.is_some() => {
                return Err(format!("{line}:{column}: content after the root element"));
            }
            Event::Start(start) => stack.push(open_element(&start, namespace, line, column)?),
            Event::Empty(start) => close(
                open_element(&start, namespace, line, column)?,
                &mut stack,
                &mut root,
            ),
            Event::End(_) => {
                let element = stack.pop().expect("quick-xml checks end tags");
                close(element, &mut stack, &mut root);
            }
            Event::Text(text) => append_text(&mut stack, &text.xml10_content(), line, column)?,
            Event::CData(cdata) => append_text(&mut stack, &cdata.xml10_content(), line, column)?,
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(ch)) => ch.to_string(),
                    Ok(None) => match &*reference {
                        "lt" => "<".into(),
                        "gt" => ">".into(),
                        "amp" => "&".into(),
                        "apos" => "'".into(),
                        "quot" => "\"".into(),
                        other => return Err(format!("{line}:{column}: unknown entity `&{other};`")),
                    },
                    Err(e) => return Err(format!("{line}:{column}: {e}")),
                };
                append_text(&mut stack, &resolved, line, column)?;
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!(
            "{}:1: element <{}> is never closed",
            open.line, open.name
        ));
    }
    root.ok_or_else(|| "1:1: no root element".to_owned())
}

fn open_element(
    start: &quick_xml::events::BytesStart<'_>,
    namespace: Option<String>,
    line: usize,
    column: usize,
) -> Result<Element, String> {
    let mut element = Element {
        name: start.local_name().as_ref().to_owned(),
        namespace,
        line,
        ..Element::default()
    };
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| format!("{line}:{column}: {e}"))?;
        let value = attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| format!("{line}:{column}: {e}"))?;
        let key = attribute.key.local_name().as_ref().to_owned();
        element.attributes.insert(key, value.into_owned());
    }
    Ok(element)
}

fn close(element: Element, stack: &mut [Element], root: &mut Option<Element>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

fn append_text(stack: &mut [Element], text: &str, line: usize, column: usize) -> Result<(), String> {
    match stack.last_mut() {
        Some(element) => {
            element.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(format!("{line}:{column}: text outside the root element")),
    }
}

// ---- metadata validation ------------------------------------------------------------------

/// The root element each metadata file suffix must have. A new kind of file in the package
/// must be added here, so nothing goes unchecked.
const ROOTS: &[(&str, &str)] = &[
    (".cls-meta.xml", "ApexClass"),
    (".trigger-meta.xml", "ApexTrigger"),
    (".field-meta.xml", "CustomField"),
    (".object-meta.xml", "CustomObject"),
    (".permissionset-meta.xml", "PermissionSet"),
    (".callCenter-meta.xml", "CallCenter"),
];

/// Problems with one metadata document; the file name decides which root is expected.
fn metadata_problems(file_name: &str, source: &str) -> Vec<String> {
    let Some((suffix, root_name)) = ROOTS.iter().find(|(suffix, _)| file_name.ends_with(suffix)) else {
        return vec!["unknown kind of metadata file (add its suffix to ROOTS)".to_owned()];
    };
    let root = match parse_xml(source) {
        Ok(root) => root,
        Err(e) => return vec![e],
    };
    let mut problems = Vec::new();
    if root.name != *root_name {
        problems.push(format!("root element is <{}>, want <{root_name}>", root.name));
    }
    if root.namespace.as_deref() != Some(METADATA_NS) {
        problems.push(format!("root element must be in the namespace {METADATA_NS}"));
    }
    let stem = file_name.strip_suffix(suffix).unwrap_or(file_name);
    match *root_name {
        "ApexClass" | "ApexTrigger" => {
            match root.value("apiVersion").map(str::parse::<f32>) {
                Some(Ok(v)) if v >= 57.0 => {}
                _ => problems.push("apiVersion must be 57.0 or later (Database.queryWithBinds)".into()),
            }
            if root.value("status") != Some("Active") {
                problems.push("status must be Active".into());
            }
        }
        "CustomField" => problems.extend(custom_field_problems(stem, &root)),
        "PermissionSet" => {
            require(&root, "label", &mut problems);
            max_len(&root, "label", 80, &mut problems);
            max_len(&root, "description", 255, &mut problems);
        }
        "CallCenter" => problems.extend(call_center_problems(&root)),
        _ => {}
    }
    problems
}

fn require(element: &Element, name: &str, problems: &mut Vec<String>) {
    if element.value(name).is_none_or(str::is_empty) {
        problems.push(format!(
            "<{}> line {}: <{name}> is required",
            element.name, element.line
        ));
    }
}

fn max_len(element: &Element, name: &str, max: usize, problems: &mut Vec<String>) {
    if let Some(value) = element.value(name)
        && value.chars().count() > max
    {
        problems.push(format!("<{name}> is longer than {max} characters"));
    }
}

fn boolean(element: &Element, name: &str, problems: &mut Vec<String>) -> bool {
    match element.value(name) {
        None => false,
        Some("true") => true,
        Some("false") => false,
        Some(other) => {
            problems.push(format!("<{name}> must be true or false, got `{other}`"));
            false
        }
    }
}

fn number(element: &Element, name: &str, problems: &mut Vec<String>) -> Option<u32> {
    match element.value(name).map(str::parse::<u32>) {
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            problems.push(format!("<{name}> must be a number"));
            None
        }
        None => {
            problems.push(format!("<{name}> is required for this field type"));
            None
        }
    }
}

fn custom_field_problems(stem: &str, field: &Element) -> Vec<String> {
    let mut problems = Vec::new();
    for name in ["fullName", "label", "type"] {
        require(field, name, &mut problems);
    }
    if let Some(full_name) = field.value("fullName")
        && full_name != stem
    {
        problems.push(format!(
            "fullName `{full_name}` differs from the file name `{stem}`"
        ));
    }
    if !stem.ends_with("__c") {
        problems.push(format!("a custom field name ends with __c, got `{stem}`"));
    }
    max_len(field, "label", 40, &mut problems);
    max_len(field, "description", 1000, &mut problems);
    max_len(field, "inlineHelpText", 510, &mut problems);
    let external_id = boolean(field, "externalId", &mut problems);
    let unique = boolean(field, "unique", &mut problems);
    boolean(field, "required", &mut problems);
    match field.value("type") {
        Some("Number") => {
            let precision = number(field, "precision", &mut problems);
            let scale = number(field, "scale", &mut problems);
            if let (Some(precision), Some(scale)) = (precision, scale)
                && (!(1..=18).contains(&precision) || scale > precision)
            {
                problems.push(format!(
                    "Number({precision},{scale}): want precision 1..=18, scale <= precision"
                ));
            }
        }
        Some("Text") => {
            if let Some(length) = number(field, "length", &mut problems)
                && !(1..=255).contains(&length)
            {
                problems.push(format!("Text length {length} is outside 1..=255"));
            }
            if unique {
                boolean(field, "caseSensitive", &mut problems);
            }
        }
        Some(other) if external_id || unique => {
            problems.push(format!(
                "external Id / unique is checked for Number and Text only, got {other}"
            ));
        }
        _ => {}
    }
    problems
}

fn call_center_problems(center: &Element) -> Vec<String> {
    let mut problems = Vec::new();
    for name in ["displayName", "displayNameLabel", "internalNameLabel"] {
        require(center, name, &mut problems);
    }
    for section in center.all("sections") {
        require(section, "label", &mut problems);
        require(section, "name", &mut problems);
        for item in section.all("items") {
            require(item, "label", &mut problems);
            require(item, "name", &mut problems);
            if item.child("value").is_none() {
                problems.push(format!(
                    "<items> line {}: <value> is required (may be empty)",
                    item.line
                ));
            }
        }
    }
    let general = CallCenterModel::from_metadata("x", center);
    let general = general.sections.get("reqGeneralInfo");
    for item in [
        "reqAdapterUrl",
        "reqUseApi",
        "reqSoftphoneHeight",
        "reqSoftphoneWidth",
        "reqSalesforceCompatibilityMode",
    ] {
        if general.is_none_or(|items| !items.contains_key(item)) {
            problems.push(format!("section reqGeneralInfo needs the item {item}"));
        }
    }
    if let Some(items) = general
        && items.get("reqAdapterUrl").map(String::as_str) != center.value("adapterUrl")
    {
        problems.push("adapterUrl differs from the reqAdapterUrl item".into());
    }
    problems
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", relative(path)))
}

fn parse_file(path: &Path) -> Element {
    parse_xml(&read(path)).unwrap_or_else(|e| panic!("{}:{e}", relative(path)))
}

fn file_name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap()
}

#[test]
fn every_metadata_file_is_valid() {
    let files = files_ending(&source_dir(), "-meta.xml");
    assert!(
        files.len() >= 20,
        "expected the whole package, found {} files",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        for problem in metadata_problems(file_name(path), &read(path)) {
            failures.push(format!("{}: {problem}", relative(path)));
        }
    }
    assert!(failures.is_empty(), "metadata problems:\n{}", failures.join("\n"));
}

#[test]
fn every_apex_source_has_its_meta_file() {
    for source in files_ending(&source_dir(), ".cls")
        .into_iter()
        .chain(files_ending(&source_dir(), ".trigger"))
    {
        let meta = PathBuf::from(format!("{}-meta.xml", source.display()));
        assert!(
            meta.is_file(),
            "{} has no {}",
            relative(&source),
            file_name(&meta)
        );
    }
}

#[test]
fn the_validator_reports_malformed_xml_with_line_and_column() {
    let problems = metadata_problems(
        "x__c.field-meta.xml",
        "<?xml version=\"1.0\"?>\n<CustomField xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n  <label>X</lable>\n</CustomField>\n",
    );
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("3:"), "{problems:?}");

    let unclosed = parse_xml("<a><b></b>").unwrap_err();
    assert!(unclosed.contains("<a>"), "{unclosed}");
}

#[test]
fn the_validator_reports_incomplete_custom_fields_and_wrong_roots() {
    let number_without_precision = "<CustomField xmlns=\"http://soap.sforce.com/2006/04/metadata\">\
        <fullName>n__c</fullName><label>N</label><type>Number</type><externalId>yes</externalId></CustomField>";
    let problems = metadata_problems("n__c.field-meta.xml", number_without_precision);
    assert!(
        problems.iter().any(|p| p.contains("<precision> is required")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("<scale> is required")),
        "{problems:?}"
    );
    assert!(problems.iter().any(|p| p.contains("externalId")), "{problems:?}");

    let no_namespace = "<CustomField><fullName>t__c</fullName><label>T</label><type>Text</type><length>10</length></CustomField>";
    let problems = metadata_problems("t__c.field-meta.xml", no_namespace);
    assert_eq!(
        problems,
        vec![format!("root element must be in the namespace {METADATA_NS}")]
    );

    let wrong_root =
        "<PermissionSet xmlns=\"http://soap.sforce.com/2006/04/metadata\"><label>P</label></PermissionSet>";
    let problems = metadata_problems("t__c.field-meta.xml", wrong_root);
    assert!(problems[0].contains("want <CustomField>"), "{problems:?}");
    assert!(
        !metadata_problems("P.permissionset-meta.xml", wrong_root)
            .iter()
            .any(|p| p.contains("root"))
    );
}

// ---- custom fields ------------------------------------------------------------------------

/// The object folder a field lives in (`Activity` for Task and Event) → its field names.
fn package_fields() -> BTreeMap<String, BTreeSet<String>> {
    let mut fields: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in files_ending(&source_dir().join("objects"), ".field-meta.xml") {
        let object = path
            .parent()
            .and_then(Path::parent)
            .map(|p| file_name(p).to_owned())
            .unwrap();
        let name = file_name(&path).trim_end_matches(".field-meta.xml").to_owned();
        fields.entry(object).or_default().insert(name);
    }
    fields
}

fn field(object: &str, name: &str) -> Element {
    parse_file(&source_dir().join(format!("objects/{object}/fields/{name}.field-meta.xml")))
}

const SCREEN_POP_OBJECTS: [&str; 4] = ["Contact", "Account", "Lead", "Opportunity"];

#[test]
fn neo_sync_id_is_a_unique_external_number_18_0_on_every_screen_pop_object() {
    for object in SCREEN_POP_OBJECTS {
        let f = field(object, "neoSyncId__c");
        let want = [
            ("type", "Number"),
            ("precision", "18"),
            ("scale", "0"),
            ("externalId", "true"),
            ("unique", "true"),
        ];
        for (name, value) in want {
            assert_eq!(f.value(name), Some(value), "{object}.neoSyncId__c <{name}>");
        }
    }
}

#[test]
fn the_neotel_data_fields_exist_on_every_screen_pop_object() {
    let fields = package_fields();
    for object in SCREEN_POP_OBJECTS {
        for name in ["neoContactId__c", "neoBaseId__c", "neoCrmId__c"] {
            assert!(
                fields.get(object).is_some_and(|f| f.contains(name)),
                "{object}.{name} is missing"
            );
            assert_eq!(field(object, name).value("type"), Some("Text"), "{object}.{name}");
        }
    }
}

#[test]
fn the_call_id_is_a_unique_external_text_on_activity() {
    let f = field("Activity", "ctiCallId__c");
    let want = [
        ("type", "Text"),
        ("length", "64"),
        ("externalId", "true"),
        ("unique", "true"),
    ];
    for (name, value) in want {
        assert_eq!(f.value(name), Some(value), "Activity.ctiCallId__c <{name}>");
    }
}

// ---- permission sets ----------------------------------------------------------------------

/// Standard fields a permission set may name (they are not in the package).
const STANDARD_FIELDS: &[&str] = &[
    "Task.ActivityDate",
    "Task.CallDisposition",
    "Task.CallDurationInSeconds",
    "Task.CallObject",
    "Task.CallType",
    "Task.Description",
    "Task.WhatId",
    "Task.WhoId",
];
const STANDARD_OBJECTS: &[&str] = &["Account", "Contact", "Lead", "Opportunity"];

fn permission_set(name: &str) -> Element {
    parse_file(&source_dir().join(format!("permissionsets/{name}.permissionset-meta.xml")))
}

#[test]
fn permission_sets_reference_only_what_exists() {
    let fields = package_fields();
    let classes: BTreeSet<String> = files_ending(&source_dir().join("classes"), ".cls")
        .iter()
        .map(|p| file_name(p).trim_end_matches(".cls").to_owned())
        .collect();
    let sets = files_ending(&source_dir().join("permissionsets"), ".permissionset-meta.xml");
    assert_eq!(sets.len(), 2, "the softphone and the integration permission sets");
    let mut failures = Vec::new();
    for path in &sets {
        let set = parse_file(path);
        for access in set.all("classAccesses") {
            let class = access.value("apexClass").unwrap_or_default();
            if !classes.contains(class) {
                failures.push(format!("{}: class {class} is not in the package", relative(path)));
            }
        }
        for permission in set.all("fieldPermissions") {
            let name = permission.value("field").unwrap_or_default();
            let (object, field) = name.split_once('.').unwrap_or((name, ""));
            // Task and Event fields are Activity fields in the package.
            let folder = if matches!(object, "Task" | "Event") {
                "Activity"
            } else {
                object
            };
            let in_package = fields.get(folder).is_some_and(|f| f.contains(field));
            if !in_package && !STANDARD_FIELDS.contains(&name) {
                failures.push(format!(
                    "{}: field {name} is neither in the package nor a known standard field",
                    relative(path)
                ));
            }
            if permission.value("readable") != Some("true") {
                failures.push(format!("{}: {name} granted without read", relative(path)));
            }
        }
        for permission in set.all("objectPermissions") {
            let object = permission.value("object").unwrap_or_default();
            if !STANDARD_OBJECTS.contains(&object) && !fields.contains_key(object) {
                failures.push(format!("{}: object {object} is unknown", relative(path)));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn granted_fields(set: &Element) -> BTreeMap<String, bool> {
    set.all("fieldPermissions")
        .map(|p| {
            (
                p.value("field").unwrap_or_default().to_owned(),
                p.value("editable") == Some("true"),
            )
        })
        .collect()
}

#[test]
fn the_softphone_permission_set_grants_the_class_and_the_neotel_fields() {
    let set = permission_set("ctibridge_Softphone_User");
    let classes: Vec<_> = set
        .all("classAccesses")
        .filter(|a| a.value("enabled") == Some("true"))
        .collect();
    assert!(
        classes
            .iter()
            .any(|a| a.value("apexClass") == Some("NeotelDataRetrieval"))
    );
    let granted = granted_fields(&set);
    for object in SCREEN_POP_OBJECTS {
        for name in ["neoSyncId__c", "neoContactId__c", "neoBaseId__c", "neoCrmId__c"] {
            // Editable: the agent saves the new record carrying these values.
            assert_eq!(
                granted.get(&format!("{object}.{name}")),
                Some(&true),
                "{object}.{name}"
            );
        }
    }
    assert_eq!(
        granted.get("Task.ctiCallId__c"),
        Some(&false),
        "agents read the call id, never write it"
    );
    assert!(
        set.child("userPermissions").is_none(),
        "agents' user permissions come from their profile"
    );
}

#[test]
fn the_integration_permission_set_can_upsert_call_tasks_through_the_api() {
    let set = permission_set("ctibridge_Integration_User");
    let enabled: BTreeSet<_> = set
        .all("userPermissions")
        .filter(|p| p.value("enabled") == Some("true"))
        .filter_map(|p| p.value("name"))
        .collect();
    assert_eq!(enabled, BTreeSet::from(["ApiEnabled", "EditTask"]));
    let granted = granted_fields(&set);
    for name in [
        "Task.ctiCallId__c",
        "Task.CallDisposition",
        "Task.CallType",
        "Task.WhoId",
        "Task.WhatId",
    ] {
        assert_eq!(granted.get(name), Some(&true), "{name} must be editable");
    }
    for object in SCREEN_POP_OBJECTS {
        assert_eq!(
            granted.get(&format!("{object}.neoSyncId__c")),
            Some(&false),
            "{object}: read to find"
        );
        assert_eq!(
            granted.get(&format!("{object}.neoContactId__c")),
            Some(&true),
            "{object}: externalData"
        );
        let objects: Vec<_> = set
            .all("objectPermissions")
            .filter(|p| p.value("object") == Some(object))
            .collect();
        assert_eq!(objects.len(), 1, "{object}");
        for (name, want) in [
            ("allowRead", "true"),
            ("allowEdit", "true"),
            ("viewAllRecords", "true"),
            ("allowDelete", "false"),
        ] {
            assert_eq!(objects[0].value(name), Some(want), "{object} <{name}>");
        }
    }
}

// ---- the call center ----------------------------------------------------------------------

/// A call center reduced to what both formats share: section name → item name → value.
/// Labels and sort orders are presentation and not compared.
#[derive(Debug, PartialEq)]
struct CallCenterModel {
    sections: BTreeMap<String, BTreeMap<String, String>>,
}

impl CallCenterModel {
    /// The call-center definition admins import: `<callCenter><section name><item name>value`.
    fn from_definition(root: &Element) -> Self {
        assert_eq!(root.name, "callCenter", "root of the call-center definition");
        let sections = root
            .all("section")
            .map(|section| {
                let items = section
                    .all("item")
                    .map(|item| (item.attributes["name"].clone(), item.text.trim().to_owned()))
                    .collect();
                (section.attributes["name"].clone(), items)
            })
            .collect();
        CallCenterModel { sections }
    }

    /// The Metadata API form. Its internal name is the file name (fullName) and its display name
    /// is `<displayName>`, so the metadata carries no reqInternalName / reqDisplayName items.
    fn from_metadata(full_name: &str, root: &Element) -> Self {
        let mut sections: BTreeMap<String, BTreeMap<String, String>> = root
            .all("sections")
            .map(|section| {
                let items = section
                    .all("items")
                    .map(|item| {
                        let name = item.value("name").unwrap_or_default().to_owned();
                        (name, item.value("value").unwrap_or_default().to_owned())
                    })
                    .collect();
                (section.value("name").unwrap_or_default().to_owned(), items)
            })
            .collect();
        let general = sections.entry("reqGeneralInfo".into()).or_default();
        general
            .entry("reqInternalName".into())
            .or_insert_with(|| full_name.to_owned());
        if let Some(display) = root.value("displayName") {
            general
                .entry("reqDisplayName".into())
                .or_insert_with(|| display.to_owned());
        }
        CallCenterModel { sections }
    }
}

/// The call-center definition admins import (`ctibridge callcenter render` produces the same
/// bytes; `tests/it/callcenter.rs` checks that).
fn call_center_definition() -> PathBuf {
    repo().join("callcenter-xml/ctibridge.xml")
}

#[test]
fn the_call_center_metadata_equals_the_call_center_definition() {
    let definition_path = call_center_definition();
    let definition = CallCenterModel::from_definition(&parse_file(&definition_path));
    let metadata = CallCenterModel::from_metadata(
        "ctibridge",
        &parse_file(&source_dir().join("callCenters/ctibridge.callCenter-meta.xml")),
    );
    let names = |m: &CallCenterModel| m.sections.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&metadata),
        names(&definition),
        "sections vs {}",
        relative(&definition_path)
    );
    for (section, want) in &definition.sections {
        let got = &metadata.sections[section];
        for (item, value) in want {
            assert_eq!(got.get(item), Some(value), "section {section}, item {item}");
        }
        let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
        assert!(
            extra.is_empty(),
            "section {section}: items not in the definition: {extra:?}"
        );
    }
}

#[test]
fn the_call_center_is_the_ctibridge_lightning_softphone() {
    let definition = CallCenterModel::from_definition(&parse_file(&call_center_definition()));
    let general = &definition.sections["reqGeneralInfo"];
    assert_eq!(general["reqInternalName"], "ctibridge");
    assert_eq!(general["reqDisplayName"], "ctibridge CTI");
    assert_eq!(
        general["reqAdapterUrl"],
        "https://ctibridge.example.com/softphone/"
    );
    assert_eq!(general["reqUseApi"], "true");
    assert_eq!(general["reqSalesforceCompatibilityMode"], "Lightning");
    let options = &definition.sections["neotelConfigOptions"];
    for item in [
        "searchTypePriority",
        "externalData",
        "defaultNewRowData",
        "allowCategorization",
        "allowClickToDialSearch",
        "useTaskDescriptionField",
        "allowContactRelease",
        "automaticContactRelease",
        "saveActivityLog",
        "allowTextMessage",
        "campaignEntityName",
    ] {
        assert!(
            options.contains_key(item),
            "neotelConfigOptions/{item} is missing"
        );
    }
}

#[test]
fn the_custom_fields_named_by_the_call_center_options_are_in_the_package() {
    let definition = CallCenterModel::from_definition(&parse_file(&call_center_definition()));
    let options = &definition.sections["neotelConfigOptions"];
    let fields = package_fields();
    for item in ["externalData", "defaultNewRowData"] {
        // `SfField-neotelName|…`, a trailing `|` allowed.
        for pair in options[item].split('|').filter(|p| !p.is_empty()) {
            let (sf_field, _) = pair.split_once('-').unwrap_or_else(|| panic!("{item}: `{pair}`"));
            if sf_field.ends_with("__c") {
                for object in SCREEN_POP_OBJECTS {
                    assert!(
                        fields.get(object).is_some_and(|f| f.contains(sf_field)),
                        "{item} writes {object}.{sf_field}, which the package does not create"
                    );
                }
            }
        }
    }
}
