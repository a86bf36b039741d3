//! The typed values of call-center items. Each type parses an item's text (`FromStr`) and
//! prints it back (`Display`) so that rendering reproduces what was parsed; the same types
//! deserialize the `[callcenter]` configuration keys, so a bad key fails configuration loading
//! with the same wording as a bad item.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use serde::Deserialize;
use url::Url;

/// Why a value was refused: `reason` completes "item X …" ("must be an https URL").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}, got {}", quoted(got))]
pub struct ValueError {
    pub reason: String,
    pub got: String,
}

impl ValueError {
    pub(crate) fn new(reason: impl Into<String>, got: &str) -> Self {
        Self {
            reason: reason.into(),
            got: got.to_owned(),
        }
    }
}

/// The refused text, quoted and shortened so that a huge value keeps the message readable.
fn quoted(got: &str) -> String {
    const MAX_CHARS: usize = 120;
    if got.chars().count() > MAX_CHARS {
        let head: String = got.chars().take(MAX_CHARS).collect();
        format!("{head:?}…")
    } else {
        format!("{got:?}")
    }
}

/// Implements `TryFrom<String>` (for serde) on top of `FromStr`.
macro_rules! try_from_string {
    ($($t:ty),*) => {$(
        impl TryFrom<String> for $t {
            type Error = ValueError;
            fn try_from(s: String) -> Result<Self, ValueError> {
                s.parse()
            }
        }
    )*};
}

/// `true` or `false`, exactly as the adapter compares them.
pub fn parse_bool(s: &str) -> Result<bool, ValueError> {
    match s {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ValueError::new("must be true or false", s)),
    }
}

/// A whole number greater than zero (softphone sizes in pixels, the standby timeout in ms).
pub fn parse_positive(s: &str) -> Result<NonZeroU32, ValueError> {
    s.parse::<NonZeroU32>()
        .map_err(|_| ValueError::new("must be a whole number greater than 0", s))
}

/// `reqInternalName`: up to 40 ASCII letters and digits, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct InternalName(String);

impl FromStr for InternalName {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        let ok = (1..=40).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric());
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ValueError::new(
                "must be 1 to 40 letters and digits starting with a letter",
                s,
            ))
        }
    }
}

impl InternalName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `reqDisplayName`: one line of non-blank text, surrounding whitespace removed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct DisplayName(String);

impl FromStr for DisplayName {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        if s.trim().is_empty() {
            Err(ValueError::new("must not be empty", s))
        } else if let Some(c) = s.chars().find(|c| !is_xml_char(*c) || *c == '\r' || *c == '\n') {
            Err(ValueError::new(
                format!(
                    "must be one line of text without control characters (found U+{:04X})",
                    c as u32
                ),
                s,
            ))
        } else {
            Ok(Self(s.trim().to_owned()))
        }
    }
}

impl DisplayName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An absolute https URL: Lightning pages are https, so the browser refuses to frame anything
/// else (`reqAdapterUrl`, `reqStandbyUrl`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct HttpsUrl(Url);

impl FromStr for HttpsUrl {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        match Url::parse(s) {
            Ok(url) if url.scheme() == "https" && url.host().is_some() => Ok(Self(url)),
            _ => Err(ValueError::new("must be an https URL", s)),
        }
    }
}

impl HttpsUrl {
    pub fn as_url(&self) -> &Url {
        &self.0
    }
}

impl TryFrom<Url> for HttpsUrl {
    type Error = ValueError;
    fn try_from(url: Url) -> Result<Self, ValueError> {
        url.as_str().parse()
    }
}

/// `reqSalesforceCompatibilityMode`. Classic alone is refused: the ctibridge adapter runs in
/// Lightning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(try_from = "String")]
pub enum CompatibilityMode {
    #[default]
    Lightning,
    ClassicAndLightning,
}

impl FromStr for CompatibilityMode {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        match s {
            "Lightning" => Ok(Self::Lightning),
            "Classic_and_Lightning" => Ok(Self::ClassicAndLightning),
            _ => Err(ValueError::new(
                "must be Lightning or Classic_and_Lightning (the adapter runs in Lightning)",
                s,
            )),
        }
    }
}

impl CompatibilityMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lightning => "Lightning",
            Self::ClassicAndLightning => "Classic_and_Lightning",
        }
    }
}

/// A dialing prefix of `reqDialingOptions`: digits, `+`, `*`, `#`; may be empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct DialPrefix(String);

impl FromStr for DialPrefix {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        if s.len() <= 20
            && s.chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '+' | '*' | '#'))
        {
            Ok(Self(s.to_owned()))
        } else {
            Err(ValueError::new(
                "must be a dialing prefix: up to 20 digits, +, * or #",
                s,
            ))
        }
    }
}

impl DialPrefix {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The record types `searchTypePriority` orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SearchEntity {
    Contact,
    Account,
    Lead,
    Opportunity,
    Company,
}

impl SearchEntity {
    pub const ALL: [SearchEntity; 5] = [
        Self::Contact,
        Self::Account,
        Self::Lead,
        Self::Opportunity,
        Self::Company,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Contact => "Contact",
            Self::Account => "Account",
            Self::Lead => "Lead",
            Self::Opportunity => "Opportunity",
            Self::Company => "Company",
        }
    }
}

/// `searchTypePriority`: which record type wins when a search matches several. Empty: the
/// softphone layout decides (search page or nothing).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(try_from = "String")]
pub struct SearchTypePriority(Vec<SearchEntity>);

impl SearchTypePriority {
    /// Builds the order; `None` when an entity repeats.
    pub fn new(order: Vec<SearchEntity>) -> Option<Self> {
        let unique = order.iter().enumerate().all(|(i, e)| !order[..i].contains(e));
        unique.then_some(Self(order))
    }

    pub fn order(&self) -> &[SearchEntity] {
        &self.0
    }
}

impl FromStr for SearchTypePriority {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        if s.is_empty() {
            return Ok(Self::default());
        }
        let mut order = Vec::new();
        for part in s.split('|') {
            let Some(entity) = SearchEntity::ALL.into_iter().find(|e| e.as_str() == part) else {
                return Err(ValueError::new(
                    format!(
                        "must list record types from Contact|Account|Lead|Opportunity|Company separated by |; {part:?} is not one"
                    ),
                    s,
                ));
            };
            if order.contains(&entity) {
                return Err(ValueError::new(format!("must not repeat {part}"), s));
            }
            order.push(entity);
        }
        Ok(Self(order))
    }
}

impl fmt::Display for SearchTypePriority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|e| e.as_str()).collect();
        f.write_str(&names.join("|"))
    }
}

/// The Neotel data a field mapping can copy (`externalData`, `defaultNewRowData`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NeotelData {
    /// `callCampaing`: the Neotel campaign id. The misspelling is Neotel's and is what files
    /// contain.
    CallCampaign,
    CallDialer,
    CallId,
    CallQueue,
    CallReason,
    PhoneNumber,
    ContactBaseId,
    CampaignCrmId,
    CampaignBaseId,
    UserOutCampaign,
    CrmId,
    ContactId,
    CrmKey,
    SearchBy,
    SearchData,
}

impl NeotelData {
    pub const ALL: [NeotelData; 15] = [
        Self::CallCampaign,
        Self::CallDialer,
        Self::CallId,
        Self::CallQueue,
        Self::CallReason,
        Self::PhoneNumber,
        Self::ContactBaseId,
        Self::CampaignCrmId,
        Self::CampaignBaseId,
        Self::UserOutCampaign,
        Self::CrmId,
        Self::ContactId,
        Self::CrmKey,
        Self::SearchBy,
        Self::SearchData,
    ];

    /// The name used in files and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CallCampaign => "callCampaing",
            Self::CallDialer => "callDialer",
            Self::CallId => "callId",
            Self::CallQueue => "callQueue",
            Self::CallReason => "callReason",
            Self::PhoneNumber => "phoneNumber",
            Self::ContactBaseId => "contactBaseId",
            Self::CampaignCrmId => "campaignCrmId",
            Self::CampaignBaseId => "campaignBaseId",
            Self::UserOutCampaign => "userOutCampaign",
            Self::CrmId => "crmId",
            Self::ContactId => "contactId",
            Self::CrmKey => "crmKey",
            Self::SearchBy => "SearchBy",
            Self::SearchData => "SearchData",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == name)
    }
}

/// Salesforce API names: `Phone`, `neoSyncId__c`, `ns__Field__c`. Letters, digits and single
/// underscores, starting with a letter, not ending with an underscore; `__` only before a
/// suffix from `suffixes` or after a namespace prefix.
fn is_api_name(s: &str, suffixes: &[&str]) -> bool {
    fn is_part(p: &str) -> bool {
        (1..=40).contains(&p.len())
            && p.starts_with(|c: char| c.is_ascii_alphabetic())
            && !p.ends_with('_')
            && !p.contains("__")
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    }
    let parts: Vec<&str> = s.split("__").collect();
    match parts.as_slice() {
        [name] => is_part(name),
        [name, suffix] => is_part(name) && suffixes.contains(suffix),
        [namespace, name, suffix] => is_part(namespace) && is_part(name) && suffixes.contains(suffix),
        _ => false,
    }
}

/// A Salesforce field API name (`Phone`, `neoContactId__c`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldApiName(String);

impl FieldApiName {
    pub fn parse(s: &str) -> Option<Self> {
        // __pc: custom fields of person accounts.
        is_api_name(s, &["c", "pc"]).then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One `SfField-neotelName` pair: write `data` into `field`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldMapping {
    pub field: FieldApiName,
    pub data: NeotelData,
}

/// `externalData` / `defaultNewRowData`: `SfField-neotelName|…`. A trailing `|` is allowed
/// (the manual's defaultNewRowData has one) and kept so rendering reproduces the file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(try_from = "String")]
pub struct FieldMappings {
    pub mappings: Vec<FieldMapping>,
    pub trailing_separator: bool,
}

impl FieldMappings {
    /// Builds the list; `None` when a field repeats (the record would get two values).
    pub fn new(mappings: Vec<FieldMapping>, trailing_separator: bool) -> Option<Self> {
        let unique = mappings
            .iter()
            .enumerate()
            .all(|(i, m)| !mappings[..i].iter().any(|o| o.field == m.field));
        unique.then_some(Self {
            mappings,
            trailing_separator,
        })
    }
}

impl FromStr for FieldMappings {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        let (body, trailing_separator) = match s.strip_suffix('|') {
            Some(body) => (body, true),
            None => (s, false),
        };
        let mut mappings: Vec<FieldMapping> = Vec::new();
        if body.is_empty() {
            return Ok(Self {
                mappings,
                trailing_separator,
            });
        }
        for pair in body.split('|') {
            let Some((field, data)) = pair.split_once('-') else {
                return Err(ValueError::new(
                    format!("must be SfField-neotelName pairs separated by |; {pair:?} has no -"),
                    s,
                ));
            };
            let Some(field) = FieldApiName::parse(field) else {
                return Err(ValueError::new(
                    format!(
                        "has {field:?}, which is not a Salesforce field API name (e.g. Phone, neoContactId__c)"
                    ),
                    s,
                ));
            };
            let Some(data) = NeotelData::from_name(data) else {
                let names: Vec<&str> = NeotelData::ALL.iter().map(|d| d.as_str()).collect();
                let hint = NeotelData::ALL
                    .iter()
                    .find(|d| d.as_str().eq_ignore_ascii_case(data))
                    .map(|d| format!(" (did you mean {}?)", d.as_str()))
                    .unwrap_or_default();
                return Err(ValueError::new(
                    format!(
                        "has unknown Neotel data {data:?}{hint} (known: {})",
                        names.join(", ")
                    ),
                    s,
                ));
            };
            if mappings.iter().any(|m| m.field == field) {
                return Err(ValueError::new(
                    format!("must not name field {} twice", field.as_str()),
                    s,
                ));
            }
            mappings.push(FieldMapping { field, data });
        }
        Ok(Self {
            mappings,
            trailing_separator,
        })
    }
}

impl fmt::Display for FieldMappings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in self.mappings.iter().enumerate() {
            if i > 0 {
                f.write_str("|")?;
            }
            write!(f, "{}-{}", m.field.as_str(), m.data.as_str())?;
        }
        if self.trailing_separator {
            f.write_str("|")?;
        }
        Ok(())
    }
}

/// `automaticContactRelease`: release the contact by itself some seconds after hang-up, or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "i64")]
pub enum ContactRelease {
    /// `-1`: the agent releases the contact.
    Never,
    AfterSeconds(u32),
}

impl TryFrom<i64> for ContactRelease {
    type Error = ValueError;
    fn try_from(n: i64) -> Result<Self, ValueError> {
        match n {
            -1 => Ok(Self::Never),
            _ => u32::try_from(n)
                .map(Self::AfterSeconds)
                .map_err(|_| ValueError::new(CONTACT_RELEASE_RULE, &n.to_string())),
        }
    }
}

const CONTACT_RELEASE_RULE: &str = "must be -1 (never) or a number of seconds ≥ 0";

impl FromStr for ContactRelease {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        s.parse::<i64>()
            .map_err(|_| ValueError::new(CONTACT_RELEASE_RULE, s))
            .and_then(|n| Self::try_from(n).map_err(|e| ValueError::new(e.reason, s)))
    }
}

impl fmt::Display for ContactRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Never => f.write_str("-1"),
            Self::AfterSeconds(s) => write!(f, "{s}"),
        }
    }
}

/// `campaignEntityName`: `false`, or the sObject the telephony campaign id is associated with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(try_from = "BoolOrString")]
pub enum CampaignEntity {
    #[default]
    Disabled,
    SObject(String),
}

const CAMPAIGN_ENTITY_RULE: &str = "must be false or an sObject API name (e.g. Campaign, Campaign__c)";

impl FromStr for CampaignEntity {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        match s {
            "false" => Ok(Self::Disabled),
            // `true` reads like a switch, but the item needs the object's name.
            "true" => Err(ValueError::new(CAMPAIGN_ENTITY_RULE, s)),
            _ if is_api_name(s, &["c"]) => Ok(Self::SObject(s.to_owned())),
            _ => Err(ValueError::new(CAMPAIGN_ENTITY_RULE, s)),
        }
    }
}

impl fmt::Display for CampaignEntity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Disabled => f.write_str("false"),
            Self::SObject(name) => f.write_str(name),
        }
    }
}

/// TOML lets admins write `campaign_entity_name = false` as well as a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum BoolOrString {
    Bool(bool),
    String(String),
}

impl TryFrom<BoolOrString> for CampaignEntity {
    type Error = ValueError;
    fn try_from(v: BoolOrString) -> Result<Self, ValueError> {
        match v {
            BoolOrString::Bool(b) => b.to_string().parse(),
            BoolOrString::String(s) => s.parse(),
        }
    }
}

try_from_string!(
    InternalName,
    DisplayName,
    HttpsUrl,
    CompatibilityMode,
    DialPrefix,
    SearchTypePriority,
    FieldMappings
);

/// Characters XML 1.0 allows in a document (the `Char` production).
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_names() {
        assert!("ctibridge".parse::<InternalName>().is_ok());
        assert!("NeotelCTI2".parse::<InternalName>().is_ok());
        assert!("a".repeat(40).parse::<InternalName>().is_ok());
        for bad in ["", "2cti", "cti bridge", "cti_bridge", "ñandú", &"a".repeat(41)] {
            assert!(bad.parse::<InternalName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn https_urls_only() {
        assert!("https://demo.neotel.us/x.html".parse::<HttpsUrl>().is_ok());
        let err = "http://x".parse::<HttpsUrl>().unwrap_err();
        assert_eq!(err.to_string(), r#"must be an https URL, got "http://x""#);
        assert!("softphone/".parse::<HttpsUrl>().is_err());
        assert!("https://".parse::<HttpsUrl>().is_err());
        assert!("ftp://x.example.com/".parse::<HttpsUrl>().is_err());
    }

    #[test]
    fn search_type_priority_lists_unique_known_types() {
        let p: SearchTypePriority = "Contact|Lead".parse().unwrap();
        assert_eq!(p.order(), [SearchEntity::Contact, SearchEntity::Lead]);
        assert_eq!(p.to_string(), "Contact|Lead");
        assert!("".parse::<SearchTypePriority>().unwrap().order().is_empty());
        assert!("Contact|Contact".parse::<SearchTypePriority>().is_err());
        assert!("Contact|Case".parse::<SearchTypePriority>().is_err());
        assert!("Contact|".parse::<SearchTypePriority>().is_err());
        assert!("contact".parse::<SearchTypePriority>().is_err());
    }

    #[test]
    fn field_mappings_keep_the_trailing_separator() {
        let text = "neoContactId__c-contactId|Phone-phoneNumber|";
        let m: FieldMappings = text.parse().unwrap();
        assert_eq!(m.mappings.len(), 2);
        assert!(m.trailing_separator);
        assert_eq!(m.mappings[1].data, NeotelData::PhoneNumber);
        assert_eq!(m.to_string(), text);
        let m: FieldMappings = "".parse().unwrap();
        assert!(m.mappings.is_empty() && !m.trailing_separator);
        assert_eq!(
            "Origin__c-callCampaing"
                .parse::<FieldMappings>()
                .unwrap()
                .mappings[0]
                .data,
            NeotelData::CallCampaign
        );
    }

    #[test]
    fn field_mappings_refuse_unknown_data_bad_fields_and_repeats() {
        let err = "Phone-phone".parse::<FieldMappings>().unwrap_err();
        assert!(err.reason.contains("unknown Neotel data \"phone\""), "{err}");
        let err = "X__c-searchData".parse::<FieldMappings>().unwrap_err();
        assert!(err.reason.contains("did you mean SearchData?"), "{err}");
        for bad in [
            "Phone",
            "Phone-phoneNumber||X__c-crmId",
            "1Phone-phoneNumber",
            "Bad__x-crmId",
            "a___c-crmId",
            "Phone_-crmId",
            "Phone-phoneNumber|Phone-crmKey",
            "|",
        ] {
            // "|" alone is an empty list with a trailing separator.
            if bad == "|" {
                assert!(bad.parse::<FieldMappings>().is_ok());
                continue;
            }
            assert!(bad.parse::<FieldMappings>().is_err(), "{bad}");
        }
        assert!(
            "ns__Field__c-crmId|Name__pc-crmKey"
                .parse::<FieldMappings>()
                .is_ok()
        );
    }

    #[test]
    fn contact_release_and_campaign_entity() {
        assert_eq!("-1".parse::<ContactRelease>().unwrap(), ContactRelease::Never);
        assert_eq!(
            "30".parse::<ContactRelease>().unwrap(),
            ContactRelease::AfterSeconds(30)
        );
        assert!("-2".parse::<ContactRelease>().is_err());
        assert!("soon".parse::<ContactRelease>().is_err());
        assert_eq!(
            "false".parse::<CampaignEntity>().unwrap(),
            CampaignEntity::Disabled
        );
        assert_eq!(
            "Campaign__c".parse::<CampaignEntity>().unwrap(),
            CampaignEntity::SObject("Campaign__c".into())
        );
        assert!("true".parse::<CampaignEntity>().is_err());
        assert!("Camp aign".parse::<CampaignEntity>().is_err());
    }

    #[test]
    fn long_refused_values_are_shortened_in_messages() {
        let err = ValueError::new("must be short", &"x".repeat(1000));
        assert!(err.to_string().len() < 200);
    }
}
