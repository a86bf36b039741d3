//! The typed call-center definition: one struct per known section, one typed field per known
//! item, each with the label and sortOrder it had in the file. Unknown sections and items are
//! kept as text so that rendering gives them back.

use std::num::NonZeroU32;

use super::values::{
    CampaignEntity, CompatibilityMode, ContactRelease, DialPrefix, DisplayName, FieldMappings, HttpsUrl,
    InternalName, SearchTypePriority,
};

/// A known item: its typed value and how the file presents it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item<T> {
    pub value: T,
    pub label: String,
    pub sort_order: u32,
}

impl<T> Item<T> {
    pub fn new(value: T, label: impl Into<String>, sort_order: u32) -> Self {
        Self {
            value,
            label: label.into(),
            sort_order,
        }
    }
}

/// The `label` and `sortOrder` of a known section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionInfo {
    pub label: String,
    pub sort_order: u32,
}

/// An item ctibridge does not know, kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherItem {
    pub name: String,
    pub label: String,
    pub sort_order: u32,
    pub value: String,
}

/// A section ctibridge does not know, kept verbatim. Its items are in sortOrder order (stable
/// for equal sortOrders), the order rendering writes them in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherSection {
    pub name: String,
    pub label: String,
    pub sort_order: u32,
    pub items: Vec<OtherItem>,
}

/// A whole call-center definition file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallCenter {
    /// `reqGeneralInfo` (required).
    pub general: GeneralInfo,
    /// `reqDialingOptions` (optional).
    pub dialing: Option<DialingOptions>,
    /// `neotelConfigOptions`: what the softphone adapter reads with `getCallCenterSettings()`.
    pub options: NeotelConfigOptions,
    /// Unknown sections, in sortOrder order.
    pub other_sections: Vec<OtherSection>,
}

/// Section `reqGeneralInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneralInfo {
    pub section: SectionInfo,
    pub internal_name: Item<InternalName>,
    pub display_name: Item<DisplayName>,
    pub adapter_url: Item<HttpsUrl>,
    pub use_api: Item<bool>,
    pub softphone_height: Item<NonZeroU32>,
    pub softphone_width: Item<NonZeroU32>,
    pub compatibility_mode: Item<CompatibilityMode>,
    /// `reqStandbyUrl` and `reqTimeout` come together or not at all.
    pub standby: Option<Standby>,
    /// Unknown items, in sortOrder order.
    pub other_items: Vec<OtherItem>,
}

/// The standby softphone Salesforce switches to when the adapter does not answer in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standby {
    pub url: Item<HttpsUrl>,
    /// `reqTimeout`, in milliseconds.
    pub timeout_ms: Item<NonZeroU32>,
}

/// Section `reqDialingOptions`; each prefix is optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialingOptions {
    pub section: SectionInfo,
    pub outside_prefix: Option<Item<DialPrefix>>,
    pub long_distance_prefix: Option<Item<DialPrefix>>,
    pub international_prefix: Option<Item<DialPrefix>>,
    pub other_items: Vec<OtherItem>,
}

/// Section `neotelConfigOptions` (meanings in DESIGN.md); every item is required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeotelConfigOptions {
    pub section: SectionInfo,
    pub search_type_priority: Item<SearchTypePriority>,
    pub external_data: Item<FieldMappings>,
    pub default_new_row_data: Item<FieldMappings>,
    pub allow_categorization: Item<bool>,
    pub allow_click_to_dial_search: Item<bool>,
    pub use_task_description_field: Item<bool>,
    pub allow_contact_release: Item<bool>,
    pub automatic_contact_release: Item<ContactRelease>,
    pub save_activity_log: Item<bool>,
    pub allow_text_message: Item<bool>,
    pub campaign_entity_name: Item<CampaignEntity>,
    pub other_items: Vec<OtherItem>,
}

/// Names, the labels ctibridge renders and the sortOrders of the known sections and items.
pub mod names {
    /// `(name, label, sortOrder)`.
    pub type Known = (&'static str, &'static str, u32);

    pub const GENERAL_INFO: Known = ("reqGeneralInfo", "General Information", 0);
    pub const DIALING_OPTIONS: Known = ("reqDialingOptions", "Dialing Options", 1);
    pub const NEOTEL_OPTIONS: Known = ("neotelConfigOptions", "Softphone Options", 2);
    pub const SECTIONS: [&str; 3] = [GENERAL_INFO.0, DIALING_OPTIONS.0, NEOTEL_OPTIONS.0];

    pub const INTERNAL_NAME: Known = ("reqInternalName", "InternalName", 0);
    pub const DISPLAY_NAME: Known = ("reqDisplayName", "Display Name", 1);
    pub const ADAPTER_URL: Known = ("reqAdapterUrl", "CTI Adapter URL", 2);
    pub const USE_API: Known = ("reqUseApi", "Use CTI API", 3);
    pub const SOFTPHONE_HEIGHT: Known = ("reqSoftphoneHeight", "Softphone Height", 4);
    pub const SOFTPHONE_WIDTH: Known = ("reqSoftphoneWidth", "Softphone Width", 5);
    pub const COMPATIBILITY_MODE: Known = (
        "reqSalesforceCompatibilityMode",
        "Salesforce Compatibility Mode",
        6,
    );
    pub const STANDBY_URL: Known = ("reqStandbyUrl", "Standby URL", 7);
    pub const TIMEOUT: Known = ("reqTimeout", "Timeout (ms)", 8);
    pub const GENERAL_ITEMS: [&str; 9] = [
        INTERNAL_NAME.0,
        DISPLAY_NAME.0,
        ADAPTER_URL.0,
        USE_API.0,
        SOFTPHONE_HEIGHT.0,
        SOFTPHONE_WIDTH.0,
        COMPATIBILITY_MODE.0,
        STANDBY_URL.0,
        TIMEOUT.0,
    ];

    pub const OUTSIDE_PREFIX: Known = ("reqOutsidePrefix", "Outside Prefix", 0);
    pub const LONG_DIST_PREFIX: Known = ("reqLongDistPrefix", "Long Distance Prefix", 1);
    pub const INTERNATIONAL_PREFIX: Known = ("reqInternationalPrefix", "International Prefix", 2);
    pub const DIALING_ITEMS: [&str; 3] = [OUTSIDE_PREFIX.0, LONG_DIST_PREFIX.0, INTERNATIONAL_PREFIX.0];

    pub const SEARCH_TYPE_PRIORITY: Known = (
        "searchTypePriority",
        "Search priority when several records match (Contact|Account|Lead|Opportunity|Company)",
        0,
    );
    pub const EXTERNAL_DATA: Known = (
        "externalData",
        "Neotel data written to the popped record (SfField-neotelName|...)",
        1,
    );
    pub const DEFAULT_NEW_ROW_DATA: Known = (
        "defaultNewRowData",
        "Default values of new records (SfField-neotelName|...)",
        2,
    );
    pub const ALLOW_CATEGORIZATION: Known = (
        "allowCategorization",
        "Allow categorizing contacts (true/false)",
        3,
    );
    pub const ALLOW_CLICK_TO_DIAL_SEARCH: Known = (
        "allowClickToDialSearch",
        "Click-to-dial takes a Salesforce record and manages it (true/false)",
        4,
    );
    pub const USE_TASK_DESCRIPTION_FIELD: Known = (
        "useTaskDescriptionField",
        "Write the management information into the Task description (true/false)",
        5,
    );
    pub const ALLOW_CONTACT_RELEASE: Known = (
        "allowContactRelease",
        "Allow releasing a contact without categorizing it (true/false)",
        6,
    );
    pub const AUTOMATIC_CONTACT_RELEASE: Known = (
        "automaticContactRelease",
        "Release the contact automatically after the call (seconds, -1 = never)",
        7,
    );
    pub const SAVE_ACTIVITY_LOG: Known = (
        "saveActivityLog",
        "Save the call log (Task) automatically (true/false)",
        8,
    );
    pub const ALLOW_TEXT_MESSAGE: Known = (
        "allowTextMessage",
        "Allow messaging the customer by SMS or WhatsApp (true/false)",
        9,
    );
    pub const CAMPAIGN_ENTITY_NAME: Known = (
        "campaignEntityName",
        "Salesforce object the campaign id is associated with (false = none)",
        10,
    );
    pub const NEOTEL_ITEMS: [&str; 11] = [
        SEARCH_TYPE_PRIORITY.0,
        EXTERNAL_DATA.0,
        DEFAULT_NEW_ROW_DATA.0,
        ALLOW_CATEGORIZATION.0,
        ALLOW_CLICK_TO_DIAL_SEARCH.0,
        USE_TASK_DESCRIPTION_FIELD.0,
        ALLOW_CONTACT_RELEASE.0,
        AUTOMATIC_CONTACT_RELEASE.0,
        SAVE_ACTIVITY_LOG.0,
        ALLOW_TEXT_MESSAGE.0,
        CAMPAIGN_ENTITY_NAME.0,
    ];
}

impl<T> Item<T> {
    /// An item with ctibridge's label and sortOrder for `known`.
    pub fn standard(value: T, known: names::Known) -> Self {
        Self::new(value, known.1, known.2)
    }
}

impl SectionInfo {
    /// ctibridge's label and sortOrder for the section `known`.
    pub fn standard(known: names::Known) -> Self {
        Self {
            label: known.1.to_owned(),
            sort_order: known.2,
        }
    }
}
